package report

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/golden"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
)

func TestPrintersGolden(t *testing.T) {
	for _, format := range append([]string{FormatTable}, AllowedFormats()...) {
		name := format
		if name == "" {
			name = "table"
		}
		t.Run(name, func(t *testing.T) {
			p, err := ToPrinter(format)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := p.PrintReport(&buf, fixture()); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "report."+name, buf.Bytes())
		})
	}
}

func TestStreamMatchesColumns(t *testing.T) {
	p, _ := ToPrinter(FormatTable)
	r := fixture()
	var buf bytes.Buffer
	s := p.(StreamPrinter).NewStream(&buf, []string{"node-1", "a-much-longer-node-name"})
	for _, it := range r.Items[:2] {
		if err := s.PrintItem(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(r); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "stream.table", buf.Bytes())
}

func TestToPrinterUnknown(t *testing.T) {
	_, err := ToPrinter("xml")
	var npe *NoPrinterError
	if !errors.As(err, &npe) {
		t.Fatalf("want NoPrinterError, got %v", err)
	}
	want := `unknown output format "xml": allowed formats are wide, json, yaml, markdown (or none for a table)`
	if err.Error() != want {
		t.Errorf("error (-want +got):\n%s", cmp.Diff(want, err.Error()))
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestPrintersReportWriteErrors(t *testing.T) {
	for _, format := range append([]string{FormatTable}, AllowedFormats()...) {
		p, _ := ToPrinter(format)
		if err := p.PrintReport(errWriter{}, fixture()); err == nil {
			t.Errorf("format %q: want a write error, got nil", format)
		}
	}
}

func TestSummary(t *testing.T) {
	items := func(vs ...Verdict) []Item {
		var out []Item
		for i, v := range vs {
			out = append(out, Item{Node: string(rune('a' + i)), Verdict: v})
		}
		return out
	}
	tests := []struct {
		name  string
		items []Item
		want  string
	}{
		{"issue example", items(Healthy, Unresponsive, Healthy), "3 nodes: 2 Healthy, 1 Unresponsive"},
		{"one node", items(AtRisk), "1 node: 1 AtRisk"},
		{"none", nil, "0 nodes"},
		{"all kinds in order", items(Skipped, Inconclusive, Unreachable, Unresponsive, Stalled, AtRisk, Slow, Healthy),
			"8 nodes: 1 Healthy, 1 Slow, 1 AtRisk, 1 Stalled, 1 Unresponsive, 1 Unreachable, 1 Inconclusive, 1 Skipped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.items).Text; got != tc.want {
				t.Errorf("summary (-want +got):\n%s", cmp.Diff(tc.want, got))
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		name     string
		verdicts []Verdict
		want     int
	}{
		{"all healthy", []Verdict{Healthy, Healthy}, 0},
		{"healthy and skipped", []Verdict{Healthy, Skipped}, 0},
		{"all skipped", []Verdict{Skipped}, 0},
		{"slow", []Verdict{Healthy, Slow}, 1},
		{"at risk", []Verdict{AtRisk}, 1},
		{"stalled", []Verdict{Stalled}, 1},
		{"unresponsive", []Verdict{Unresponsive, Healthy}, 1},
		{"unreachable", []Verdict{Unreachable}, 1},
		{"inconclusive", []Verdict{Healthy, Inconclusive}, 2},
		{"finding beats inconclusive", []Verdict{Inconclusive, Unresponsive}, 1},
		{"inconclusive then finding", []Verdict{Unresponsive, Inconclusive}, 1},
		{"no nodes", nil, 2},
		{"unknown verdict", []Verdict{"Weird"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{}
			for _, v := range tc.verdicts {
				r.Items = append(r.Items, Item{Verdict: v})
			}
			if got := r.ExitCode(); got != tc.want {
				t.Errorf("ExitCode() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestItemFor(t *testing.T) {
	tests := []struct {
		name string
		in   nodeexec.NodeResult
		want Item
	}{
		{
			name: "unknown probe verdict is never healthy",
			in:   nodeexec.NodeResult{Node: "n", Result: &checks.Result{Verdict: "Sparkling", Reason: "new"}},
			want: Item{Node: "n", Verdict: Inconclusive, Reason: `unknown verdict "Sparkling" from the probe: new`,
				Result: &checks.Result{Verdict: "Sparkling", Reason: "new"}},
		},
		{
			name: "nothing at all",
			in:   nodeexec.NodeResult{Node: "n"},
			want: Item{Node: "n", Verdict: Inconclusive, Reason: "no result and no evidence for this node",
				Findings: []Finding{{Code: nodeexec.CodeRunFailed, Message: "no result and no evidence for this node"}}},
		},
		{
			name: "skip wins",
			in:   nodeexec.NodeResult{Node: "w", SkipReason: "Windows node"},
			want: Item{Node: "w", Verdict: Skipped, Reason: "Windows node"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ItemFor(tc.in)); diff != "" {
				t.Errorf("ItemFor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildSortsAndStamps(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	r := Build(now, "id", []nodeexec.NodeResult{{Node: "b", SkipReason: "s"}, {Node: "a", SkipReason: "s"}})
	if r.Items[0].Node != "a" || r.Items[1].Node != "b" {
		t.Errorf("items not sorted: %v, %v", r.Items[0].Node, r.Items[1].Node)
	}
	if !r.GeneratedAt.Equal(now) || r.GeneratedAt.Location() != time.UTC {
		t.Errorf("GeneratedAt = %v, want %v in UTC", r.GeneratedAt, now)
	}
	if r.APIVersion != APIVersion || r.Kind != Kind {
		t.Errorf("apiVersion/kind = %q/%q", r.APIVersion, r.Kind)
	}
}

func TestGlossaryCoversEveryCode(t *testing.T) {
	for _, c := range append(append(nodeexec.Codes(), KubeletCodes()...), ProbeCodes()...) {
		info, ok := Explain(c)
		if !ok || info.Summary == "" || info.NextStep == "" {
			t.Errorf("code %q has no complete glossary entry", c)
		}
	}
	if len(glossary) != len(nodeexec.Codes()) {
		t.Errorf("glossary has %d entries, nodeexec.Codes() %d: a code was dropped or not listed", len(glossary), len(nodeexec.Codes()))
	}
	if len(kubeletGlossary) != len(KubeletCodes()) || len(probeGlossary) != len(ProbeCodes()) {
		t.Errorf("kubelet glossary %d entries for %d codes, probe glossary %d for %d", len(kubeletGlossary), len(KubeletCodes()), len(probeGlossary), len(ProbeCodes()))
	}
}
