package nodeexec

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/apiservertest"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// BenchmarkIntegrationRun runs a whole check of N simulated nodes against
// the real API server (a kubelet simulation answers every pod at once) and
// reports API requests per node. Not in CI: run it with
//
//	go test ./pkg/nodeexec -run '^$' -bench IntegrationRun -benchtime 3x
func BenchmarkIntegrationRun(b *testing.B) {
	for _, n := range []int{50, 200} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			apiservertest.RequireReal(b)
			s := apiservertest.StartT(b, apiservertest.Options{})
			admin := s.ClientT(b)
			ns := apiservertest.Namespace(b, admin, nil)
			var nodes []*corev1.Node
			behaviors := map[string]apiservertest.Behavior{}
			for i := range n {
				name := fmt.Sprintf("bench-%04d", i)
				nodes = append(nodes, newNode(name).P())
				behaviors[name] = apiservertest.FinishWith(apiservertest.ProbeResult(name, checks.Healthy, "ok"), 0)
			}
			apiservertest.Nodes(b, admin, nodes...)
			apiservertest.SimulateKubelet(b, admin, ns, ManagedSelector(), behaviors)
			var cc countingClient
			client := cc.client(b, s)
			plan, err := NewPlan(context.Background(), client, nil, "")
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cc.total.Store(0)
			for range b.N {
				o := runOptions(ns, "bench")
				o.NodeTimeout, o.Concurrency = time.Minute, DefaultConcurrency
				results, err := (&Runner{Client: client, Options: o}).Run(context.Background(), plan.Targets)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range results {
					if r.Result == nil || r.Result.Verdict != checks.Healthy {
						b.Fatalf("node %s: %+v", r.Node, r.Classification)
					}
				}
			}
			b.ReportMetric(float64(cc.total.Load())/float64(b.N*n), "requests/node")
		})
	}
}
