// Package report turns a run's per-node results into verdicts, a summary,
// an exit code and rendered output. It makes no API calls and reads no
// clock: the caller passes the timestamp in.
package report

import "github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"

// Verdict is the answer for one node. The strings are part of the JSON
// contract: never rename one. The probe's verdicts keep their spelling.
type Verdict string

const (
	Healthy      Verdict = Verdict(checks.Healthy)
	Slow         Verdict = Verdict(checks.Slow)
	AtRisk       Verdict = Verdict(checks.AtRisk)
	Unresponsive Verdict = Verdict(checks.Unresponsive)
	Unreachable  Verdict = Verdict(checks.Unreachable)
	Inconclusive Verdict = Verdict(checks.Inconclusive)
	// Stalled: the kubelet's cAdvisor is blocked on containerd right now
	// (live evidence from the kubelet; worse than AtRisk).
	Stalled Verdict = "Stalled"
	// Skipped: the node was left out on purpose (Windows, not containerd).
	Skipped Verdict = "Skipped"
)

// verdicts lists every verdict in the order summaries show them, from
// healthy to worst, then the ones that say nothing about the node:
// "3 nodes: 2 Healthy, 1 Unresponsive".
var verdicts = []Verdict{Healthy, Slow, AtRisk, Stalled, Unresponsive, Unreachable, Inconclusive, Skipped}

// Verdicts returns every known verdict in summary order.
func Verdicts() []Verdict { return append([]Verdict(nil), verdicts...) }

// Known reports whether v is a verdict this version understands.
func (v Verdict) Known() bool {
	for _, k := range verdicts {
		if v == k {
			return true
		}
	}
	return false
}

// IsFinding is true for verdicts that say something is wrong with the node
// (exit code 1).
func (v Verdict) IsFinding() bool {
	switch v {
	case Slow, AtRisk, Stalled, Unresponsive, Unreachable:
		return true
	}
	return false
}

// IsOK is true for verdicts that need no action (exit code 0).
func (v Verdict) IsOK() bool { return v == Healthy || v == Skipped }

// Exit codes of `check`.
const (
	ExitOK           = 0 // every node Healthy or Skipped
	ExitFindings     = 1 // some node Slow, AtRisk, Stalled, Unresponsive or Unreachable
	ExitInconclusive = 2 // otherwise: some node Inconclusive (or unknown), or the run failed
)

// ExitCode maps the report to the exit status of `check`. Findings win
// over inconclusive nodes: one frozen node is worth paging for even when
// another node could not be checked. An empty report is inconclusive.
func (r *Report) ExitCode() int {
	if len(r.Items) == 0 {
		return ExitInconclusive
	}
	code := ExitOK
	for _, it := range r.Items {
		switch {
		case it.Verdict.IsFinding():
			return ExitFindings
		case !it.Verdict.IsOK():
			code = ExitInconclusive
		}
	}
	return code
}
