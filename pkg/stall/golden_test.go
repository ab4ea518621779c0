package stall

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/golden"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

// TestGoldenStalledReport renders a run where node-3's kubelet shows the
// real captured stall (the probe said AtRisk) and node-1's the real idle
// dump, in every format.
func TestGoldenStalledReport(t *testing.T) {
	a := &apiServer{proxy: map[string]http.HandlerFunc{
		"node-3/debug/pprof/goroutine": body(capture(t, "captured-node-3-stalled-taskpid-goroutine.txt")),
		"node-3/metrics/cadvisor":      body(capture(t, "captured-node-3-stalled-taskpid-metrics-cadvisor.txt")),
		"node-3/stats/summary":         body([]byte(`{}`)),
		"node-3/configz":               body(capture(t, "captured-node-3-stalled-taskpid-configz.json")),
		"node-1/debug/pprof/goroutine": body(capture(t, "captured-node-1-idle-goroutine.txt")),
		"node-1/metrics/cadvisor":      body(capture(t, "captured-node-1-idle-metrics-cadvisor.txt")),
		"node-1/stats/summary":         body([]byte(`{}`)),
		"node-1/configz":               body(capture(t, "captured-node-1-idle-configz.json")),
	}, pods: map[string][]corev1.Pod{"node-3": {runningPod("app", "", t0.Add(-time.Minute), stuckID)}}}
	clk := &fakeClock{t: t0}
	// One node at a time: the fake clock is shared, and node-3's pause
	// before its second dump must not show up in node-1's latencies.
	c := &Collector{Client: client(t, a), Now: clk.Now, Sleep: clk.Sleep, Options: Options{Concurrency: 1}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	evs := c.Collect(ctx, []corev1.Node{node("node-1"), node("node-3")})

	healthy := checks.Result{Verdict: checks.Healthy, Reason: "every call answered"}
	atRisk := checks.Result{Verdict: checks.AtRisk, Reason: "Tasks/Get for container 9abc67e9e6c4 stuck 2.001s: DeadlineExceeded"}
	rep := report.Build(t0, "run1", []nodeexec.NodeResult{
		{Node: "node-1", Result: &healthy, Pod: "p1", Source: nodeexec.SourceTerminationMessage},
		{Node: "node-3", Result: &atRisk, Pod: "p3", Source: nodeexec.SourceTerminationMessage},
	})
	for i := range rep.Items {
		Apply(&rep.Items[i], evs[rep.Items[i].Node])
	}
	rep.Summary = report.Summarize(rep.Items)
	if rep.Summary.Text != "2 nodes: 1 Healthy, 1 Stalled" || rep.ExitCode() != report.ExitFindings {
		t.Fatalf("summary %q exit %d", rep.Summary.Text, rep.ExitCode())
	}
	for _, format := range []string{"", "wide", "json"} {
		p, err := report.ToPrinter(format)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := p.PrintReport(&buf, rep); err != nil {
			t.Fatal(err)
		}
		name := format
		if name == "" {
			name = "table"
		}
		golden.Check(t, "stalled-report."+name, buf.Bytes())
	}
}
