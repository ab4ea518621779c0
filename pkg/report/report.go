package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
)

// APIVersion and Kind identify a serialized Report.
const (
	APIVersion = "cadvisor-doctor.io/v1alpha1"
	Kind       = "CheckReport"
)

// Report is the outcome of one `check` run. The struct tags are the JSON
// schema documented in docs/report.md.
type Report struct {
	APIVersion  string    `json:"apiVersion"`
	Kind        string    `json:"kind"`
	GeneratedAt time.Time `json:"generatedAt"`
	// RunID is the value of the run-id label on the run's pods.
	RunID string `json:"runID,omitempty"`
	// Interrupted: the run was interrupted (Ctrl-C, SIGTERM); the items
	// cover the nodes finished by then, the rest are RunTimeout.
	Interrupted bool    `json:"interrupted,omitempty"`
	Summary     Summary `json:"summary"`
	Items       []Item  `json:"items"`
}

// Summary counts the nodes per verdict.
type Summary struct {
	Nodes  int             `json:"nodes"`
	Counts map[Verdict]int `json:"counts"`
	// Text is the one-line summary, e.g. "3 nodes: 2 Healthy, 1 Unresponsive".
	Text string `json:"text"`
}

// Item is the answer for one node.
type Item struct {
	Node    string  `json:"node"`
	Verdict Verdict `json:"verdict"`
	// Reason is one line naming the culprit or the cause.
	Reason   string    `json:"reason"`
	Findings []Finding `json:"findings,omitempty"`
	// Evidence is what the API showed when the probe gave no result.
	Evidence []nodeexec.Evidence `json:"evidence,omitempty"`
	Pod      string              `json:"pod,omitempty"`
	// Source is where the probe result came from (terminationMessage, log).
	Source     string `json:"source,omitempty"`
	DurationMs int64  `json:"durationMs,omitempty"`
	// Result is the probe's own result for the node, when it delivered one.
	Result *checks.Result `json:"result,omitempty"`
	// Kubelet is the kubelet's live evidence read through the node proxy.
	Kubelet *KubeletEvidence `json:"kubelet,omitempty"`
}

// Finding is one coded observation about a node.
type Finding struct {
	Code    nodeexec.Code `json:"code"`
	Message string        `json:"message"`
}

// Build makes the report for a run. now is the report's timestamp; results
// holds one entry per node (planned or skipped). Items are sorted by node
// name so that output is stable.
func Build(now time.Time, runID string, results []nodeexec.NodeResult) *Report {
	r := &Report{APIVersion: APIVersion, Kind: Kind, GeneratedAt: now.UTC(), RunID: runID, Items: []Item{}}
	for _, nr := range results {
		r.Items = append(r.Items, ItemFor(nr))
	}
	sort.SliceStable(r.Items, func(i, j int) bool { return r.Items[i].Node < r.Items[j].Node })
	r.Summary = Summarize(r.Items)
	return r
}

// ItemFor turns one node's result into a report item.
func ItemFor(nr nodeexec.NodeResult) Item {
	it := Item{Node: nr.Node, Pod: nr.Pod, Source: nr.Source, DurationMs: nr.DurationMs, Result: nr.Result}
	switch {
	case nr.SkipReason != "":
		it.Verdict, it.Reason = Skipped, nr.SkipReason
	case nr.Result != nil:
		it.Verdict, it.Reason = Verdict(nr.Result.Verdict), nr.Result.Reason
		for _, f := range nr.Result.Findings {
			it.Findings = append(it.Findings, Finding{Code: nodeexec.Code(f.Code), Message: f.Message})
		}
		if nr.Source == nodeexec.SourceLog {
			it.Findings = append(it.Findings, Finding{Code: nodeexec.CodeResultFromLog,
				Message: "termination message unusable; result read from the container log"})
		}
	case nr.Classification != nil:
		c := nr.Classification
		it.Verdict, it.Reason, it.Evidence = Verdict(c.Verdict), c.Reason, c.Evidence
		it.Findings = append(it.Findings, Finding{Code: c.Code, Message: c.Reason})
	default:
		it.Verdict, it.Reason = Inconclusive, "no result and no evidence for this node"
		it.Findings = append(it.Findings, Finding{Code: nodeexec.CodeRunFailed, Message: it.Reason})
	}
	if !it.Verdict.Known() {
		// A newer probe may say something we do not know: never call it
		// healthy.
		it.Reason = fmt.Sprintf("unknown verdict %q from the probe: %s", it.Verdict, it.Reason)
		it.Verdict = Inconclusive
	}
	return it
}

// Summarize counts items per verdict and writes the summary line.
func Summarize(items []Item) Summary {
	s := Summary{Nodes: len(items), Counts: map[Verdict]int{}}
	for _, it := range items {
		s.Counts[it.Verdict]++
	}
	var parts []string
	for _, v := range verdicts {
		if n := s.Counts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	noun := "nodes"
	if s.Nodes == 1 {
		noun = "node"
	}
	if len(parts) == 0 {
		s.Text = fmt.Sprintf("0 %s", noun)
	} else {
		s.Text = fmt.Sprintf("%d %s: %s", s.Nodes, noun, strings.Join(parts, ", "))
	}
	return s
}
