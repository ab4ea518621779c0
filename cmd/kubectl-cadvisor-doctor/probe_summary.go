package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// printProbeSummary writes the probe's readable summary: verdict and reason
// first, then the evidence.
func printProbeSummary(w io.Writer, r checks.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	if r.Node != "" {
		p("Node:\t%s\n", r.Node)
	}
	p("Verdict:\t%s\n", r.Verdict)
	p("Reason:\t%s\n", r.Reason)
	s := r.Socket
	sock := s.Path
	if s.Discovered {
		sock += " (discovered)"
	}
	if s.Exists {
		sock += fmt.Sprintf(" %s %s", s.Type, s.Mode)
		if s.UID != nil && s.GID != nil {
			sock += fmt.Sprintf(" uid %d gid %d", *s.UID, *s.GID)
		}
		if s.ConnectMs > 0 {
			sock += fmt.Sprintf(", connect %.1fms", s.ConnectMs)
		}
	}
	p("Socket:\t%s\n", sock)
	if r.Containerd.Version != "" {
		p("Containerd:\t%s (Version %.1fms)\n", r.Containerd.Version, r.Containerd.VersionMs)
	}
	p("Containers:\t%d in %s, %d swept\n", r.Containers, r.Namespace, r.SweptContainers)
	if c := r.CRI; c != nil {
		ready := "unknown"
		if c.Ready != nil {
			ready = fmt.Sprint(*c.Ready)
		}
		p("CRI:\t%s %s, ready %s, %d sandboxes, %d containers\n", c.RuntimeName, c.RuntimeVersion, ready, c.Sandboxes, c.Containers)
	}
	if d := r.Daemon; d != nil && d.Process != nil {
		p("Daemon:\tpid %d state %s, %d threads, %d shims\n", d.Process.PID, d.Process.State, d.Process.Threads, d.Shims)
	}
	if c := r.CadvisorSocket; c != nil {
		same := "unknown"
		if c.SameDaemon != nil {
			same = fmt.Sprint(*c.SameDaemon)
		}
		p("cAdvisor socket:\t%s, same daemon %s\n", c.Path, same)
	}
	for _, f := range r.Findings {
		p("Finding:\t%s: %s\n", f.Code, f.Message)
	}
	p("Duration:\t%dms\n", r.DurationMs)
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(r.Calls) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "METHOD\tCOUNT\tOK\tTIMEOUTS\tERRORS\tP50\tP99\tMAX\tMAX BYTES")
		for _, c := range r.Calls {
			near := ""
			if c.NearLimit != "" {
				near = " (near " + c.NearLimit + ")"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1fms\t%.1fms\t%.1fms\t%d%s\n",
				shortMethod(c.Method), c.Count, c.OK, c.Timeouts, c.Errors, c.P50Ms, c.P99Ms, c.MaxMs, c.MaxBytes, near)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Stuck) > 0 {
		fmt.Fprintf(w, "\nSTUCK CALLS (%d", len(r.Stuck))
		if r.StuckOmitted > 0 {
			fmt.Fprintf(w, ", %d more omitted", r.StuckOmitted)
		}
		fmt.Fprintln(w, ")")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "METHOD\tCONTAINER\tELAPSED\tSHIM\tERROR")
		for i, s := range r.Stuck {
			if i == 20 {
				fmt.Fprintf(tw, "...\t%d more (see -o json)\t\t\t\n", len(r.Stuck)-i)
				break
			}
			shim := "-"
			if e := s.Evidence; e != nil {
				shim = fmt.Sprintf("pid %d state %s ppid %d", e.PID, e.State, e.PPID)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0fms\t%s\t%s\n", shortMethod(s.Method), s.ID, s.ElapsedMs, shim, s.Error)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDURATION\tMESSAGE")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%.1fms\t%s\n", c.Name, c.Status, c.DurationMs, c.Message)
	}
	if r.CRI != nil {
		for _, c := range r.CRI.Calls {
			fmt.Fprintf(tw, "%s\t%s\t%.1fms\t%s\n", c.Name, c.Status, c.DurationMs, c.Message)
		}
	}
	return tw.Flush()
}

func shortMethod(m string) string {
	m = m[strings.LastIndexByte(m, '.')+1:]
	if svc, name, ok := strings.Cut(m, "/"); ok && svc == name {
		return name
	}
	return m
}
