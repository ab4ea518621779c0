package checks

import (
	"fmt"
	"strings"
	"time"
)

// findings is what the checks established, in the terms the verdict needs.
// The probe fills it; decide turns it into a verdict and a one-line reason.
type findings struct {
	// unreachable is set when the socket is missing, refused, not a socket or
	// not permitted: the Unreachable reason.
	unreachable string
	// unresponsive is set when the socket accepts but Version does not answer.
	unresponsive string
	// daemonState is containerd's /proc state (e.g. "T", "D"), if seen.
	daemonState string
	daemonPID   int
	// inconclusive lists why the probe could not decide (its own failures).
	inconclusive []string
	// stuck are the calls that hit their deadline, and UNKNOWN tasks, worst
	// first.
	stuck []StuckCall
	// failed are cAdvisor calls that answered an error other than NotFound.
	failed []CallStats
	// criStuck are CRI calls that hit their deadline.
	criStuck []string
	// incomplete is set when the probe's --timeout cut the sweep.
	incomplete string
	// slowest is the slowest call made, and the --slow threshold.
	slowest slowCall
	slow    time.Duration
	// summary describes a healthy run ("1000 containers, ...").
	summary string
	// nearLimit names responses close to a message limit.
	nearLimit []string
	// cadvisor is what cAdvisor's socket showed, and its finding's message.
	cadvisor    cadvisorOutcome
	cadvisorMsg string
}

type slowCall struct {
	method string
	id     string
	d      time.Duration
}

// decide is the verdict logic: the stall verdict, then what cAdvisor's
// socket adds. A missing or unreachable cAdvisor socket leaves the verdict
// as it is and names itself in the reason; another daemon there, or one that
// does not answer, makes it at least AtRisk. Unreachable and Unresponsive
// keep their reason: the kubelet's own socket comes first (cAdvisor asks, and can hang on,
// a daemon Kubernetes does not use).
func decide(f findings) (Verdict, string) {
	v, r := decideStall(f)
	if f.cadvisorMsg == "" {
		return v, r
	}
	if v == Unreachable || v == Unresponsive {
		// The kubelet's own socket is the culprit: the reason stays about it;
		// cAdvisor's socket is in findings[].
		return v, r
	}
	switch f.cadvisor {
	case cadvisorOtherDaemon, cadvisorUnresponsive:
		switch v {
		case Healthy:
			return AtRisk, f.cadvisorMsg
		case Slow, Inconclusive:
			return AtRisk, f.cadvisorMsg + "; " + r
		}
	}
	return v, r + "; " + f.cadvisorMsg
}

// decideStall is the verdict of the stall checks: the first matching rule
// wins.
func decideStall(f findings) (Verdict, string) {
	switch {
	case f.unreachable != "":
		return Unreachable, f.unreachable
	case f.unresponsive != "":
		r := f.unresponsive
		if f.daemonPID > 0 && f.daemonState != "" {
			r += fmt.Sprintf(" (containerd pid %d state %s%s)", f.daemonPID, f.daemonState, stateHint(f.daemonState))
		}
		return Unresponsive, r
	case len(f.stuck) > 0 || len(f.criStuck) > 0 || len(f.failed) > 0:
		return AtRisk, atRiskReason(f)
	case f.incomplete != "" || len(f.inconclusive) > 0:
		parts := append([]string(nil), f.inconclusive...)
		if f.incomplete != "" {
			parts = append(parts, f.incomplete)
		}
		return Inconclusive, strings.Join(parts, "; ")
	case f.slowest.d > f.slow:
		r := fmt.Sprintf("%s%s took %s (over --slow %s)", short(f.slowest.method), forID(f.slowest.id), round(f.slowest.d), f.slow)
		return Slow, withNear(r, f.nearLimit)
	}
	return Healthy, withNear(f.summary, f.nearLimit)
}

// stuckText names a stuck call for a reason: "Tasks/Get for container ID
// stuck 2s".
func stuckText(w StuckCall) string {
	return fmt.Sprintf("%s%s stuck %s", short(w.Method), forID(w.ID), round(time.Duration(w.ElapsedMs*float64(time.Millisecond))))
}

func atRiskReason(f findings) string {
	var parts []string
	if len(f.stuck) > 0 {
		w := f.stuck[0]
		p := stuckText(w) + ": " + firstLine(w.Error)
		if e := w.Evidence; e != nil {
			p += fmt.Sprintf(" (shim pid %d state %s%s)", e.PID, e.State, stateHint(e.State))
		}
		if len(f.stuck) > 1 {
			p += fmt.Sprintf("; %d stuck calls in all", len(f.stuck))
		}
		parts = append(parts, p)
	}
	for _, c := range f.failed {
		parts = append(parts, fmt.Sprintf("%d %s calls failed, first%s: %s", c.Errors, short(c.Method), forID(c.FirstErrorID), firstLine(c.FirstError)))
	}
	if len(f.criStuck) > 0 {
		parts = append(parts, "CRI "+strings.Join(f.criStuck, ", ")+" hit the deadline while the native API answers")
	}
	if f.incomplete != "" {
		parts = append(parts, f.incomplete)
	}
	return strings.Join(parts, "; ")
}

func withNear(r string, near []string) string {
	if len(near) == 0 {
		return r
	}
	return r + "; " + strings.Join(near, "; ")
}

func forID(id string) string {
	if id == "" {
		return ""
	}
	return " for container " + id
}

// short turns /containerd.services.tasks.v1.Tasks/Get into Tasks/Get, and
// /containerd.services.version.v1.Version/Version into Version. Names that
// are not gRPC methods (connect, cri.Status) stay as they are.
func short(method string) string {
	if !strings.HasPrefix(method, "/") {
		return method
	}
	m := method[strings.LastIndexByte(method, '.')+1:]
	if svc, name, ok := strings.Cut(m, "/"); ok && svc == name {
		return name
	}
	return m
}

func stateHint(s string) string {
	switch s {
	case "T", "t":
		return ", stopped"
	case "D":
		return ", uninterruptible sleep"
	case "Z":
		return ", zombie"
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
