package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// Methods whose p99 the table shows: the two calls cAdvisor makes per
// container.
const (
	methodContainersGet = "/containerd.services.containers.v1.Containers/Get"
	methodTasksGet      = "/containerd.services.tasks.v1.Tasks/Get"
)

type column struct {
	header string
	// min is the width a streamed row reserves (batch output fits the data).
	min   int
	wide  bool
	value func(Item) string
}

var columns = []column{
	{header: "NODE", value: func(it Item) string { return it.Node }},
	{header: "VERDICT", min: len("Inconclusive"), value: func(it Item) string { return string(it.Verdict) }},
	{header: "CONTAINERD", min: 10, value: func(it Item) string {
		return withResult(it, func(r *checks.Result) string { return r.Containerd.Version })
	}},
	{header: "SOCKET", min: len("/run/containerd/containerd.sock"), value: func(it Item) string {
		return withResult(it, func(r *checks.Result) string { return r.Socket.Path })
	}},
	{header: "GET-P99", min: 8, value: func(it Item) string { return p99(it, methodContainersGet) }},
	{header: "TASKS-P99", min: 9, value: func(it Item) string { return p99(it, methodTasksGet) }},
	{header: "STUCK", min: 5, value: func(it Item) string {
		return withResult(it, func(r *checks.Result) string { return strconv.Itoa(len(r.Stuck) + r.StuckOmitted) })
	}},
	{header: "CONTAINERS", min: 10, wide: true, value: func(it Item) string {
		return withResult(it, func(r *checks.Result) string { return strconv.Itoa(r.Containers) })
	}},
	{header: "CRI", min: 5, wide: true, value: func(it Item) string {
		return withResult(it, func(r *checks.Result) string {
			if r.CRI == nil || r.CRI.Ready == nil {
				return ""
			}
			if *r.CRI.Ready {
				return "ready"
			}
			return "not-ready"
		})
	}},
	{header: "SOURCE", min: 18, wide: true, value: func(it Item) string { return dash(it.Source) }},
	{header: "DURATION", min: 8, wide: true, value: func(it Item) string {
		if it.DurationMs == 0 {
			return "-"
		}
		return formatMs(float64(it.DurationMs))
	}},
	{header: "FINDINGS", min: 16, wide: true, value: func(it Item) string {
		var codes []string
		for _, f := range it.Findings {
			codes = append(codes, string(f.Code))
		}
		return dash(strings.Join(codes, ","))
	}},
	// REASON is last and never padded: it is the longest and most useful.
	{header: "REASON", value: func(it Item) string { return dash(oneLine(it.Reason)) }},
}

func withResult(it Item, f func(*checks.Result) string) string {
	if it.Result == nil {
		return "-"
	}
	return dash(f(it.Result))
}

func p99(it Item, method string) string {
	return withResult(it, func(r *checks.Result) string {
		for _, c := range r.Calls {
			if c.Method == method && c.Count > 0 {
				return formatMs(c.P99Ms)
			}
		}
		return ""
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// formatMs prints a latency with a precision that suits its size.
func formatMs(ms float64) string {
	switch {
	case ms < 10:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.1fs", ms/1000)
	}
}

type tablePrinter struct{ wide bool }

func (p *tablePrinter) cols() []column {
	var out []column
	for _, c := range columns {
		if !c.wide || p.wide {
			out = append(out, c)
		}
	}
	return out
}

func (p *tablePrinter) PrintReport(w io.Writer, r *Report) error {
	cols := p.cols()
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = len(c.header)
		for _, it := range r.Items {
			widths[i] = max(widths[i], len(c.value(it)))
		}
	}
	s := &tableStream{w: w, cols: cols, widths: widths}
	for _, it := range r.Items {
		if err := s.PrintItem(it); err != nil {
			return err
		}
	}
	return s.Close(r)
}

func (p *tablePrinter) NewStream(w io.Writer, nodes []string) Stream {
	cols := p.cols()
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = max(len(c.header), c.min)
	}
	for _, n := range nodes {
		widths[0] = max(widths[0], len(n))
	}
	return &tableStream{w: w, cols: cols, widths: widths}
}

type tableStream struct {
	w          io.Writer
	cols       []column
	widths     []int
	headerDone bool
}

func (s *tableStream) row(cells []string) error {
	var b strings.Builder
	for i, c := range cells {
		if i == len(cells)-1 {
			b.WriteString(c)
			break
		}
		b.WriteString(c)
		b.WriteString(strings.Repeat(" ", max(s.widths[i]-len(c), 0)+3))
	}
	b.WriteByte('\n')
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func (s *tableStream) PrintItem(it Item) error {
	if !s.headerDone {
		s.headerDone = true
		headers := make([]string, len(s.cols))
		for i, c := range s.cols {
			headers[i] = c.header
		}
		if err := s.row(headers); err != nil {
			return err
		}
	}
	cells := make([]string, len(s.cols))
	for i, c := range s.cols {
		cells[i] = c.value(it)
	}
	return s.row(cells)
}

func (s *tableStream) Close(r *Report) error {
	if _, err := fmt.Fprintf(s.w, "\n%s\n", r.Summary.Text); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

type markdownPrinter struct{}

func (markdownPrinter) PrintReport(w io.Writer, r *Report) error {
	cols := (&tablePrinter{}).cols()
	var b strings.Builder
	fmt.Fprintf(&b, "**cadvisor-doctor check** (%s): %s\n\n", r.GeneratedAt.Format("2006-01-02 15:04:05Z07:00"), r.Summary.Text)
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + strings.ReplaceAll(c, "|", `\|`) + " |")
		}
		b.WriteString("\n")
	}
	headers, rule := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		headers[i], rule[i] = c.header, "---"
	}
	line(headers)
	line(rule)
	for _, it := range r.Items {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = c.value(it)
		}
		line(cells)
	}
	for _, it := range r.Items {
		if len(it.Evidence) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\nEvidence for `%s`:\n", it.Node)
		for _, e := range it.Evidence {
			fmt.Fprintf(&b, "- %s %s: %s\n", e.Source, e.Reason, oneLine(e.Message))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write markdown report: %w", err)
	}
	return nil
}
