package nodeexec

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// TestExpireAppliesDeliveredEvents: a node whose budget ran out while its
// pod's final state sat unread in the watch channel (the loop was busy
// with an evidence round) gets its probe result, not a timeout. Before
// drainEvents it was classified "no result within --node-timeout" from
// the stale state (found by hack/scale-bench at 1,000 nodes).
func TestExpireAppliesDeliveredEvents(t *testing.T) {
	o := testOptions()
	msg, err := json.Marshal(checks.Result{APIVersion: checks.APIVersion, Kind: checks.Kind, Node: "node-1", Verdict: checks.Slow, Reason: "Tasks/Get p99 1.4s"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		delivered  *corev1.Pod
		wantSource string
		wantCode   Code
	}{
		{name: "result delivered", delivered: newPod("node-1").terminated(corev1.PodFailed, 1, "Error", string(msg)).P(), wantSource: SourceTerminationMessage},
		{name: "nothing delivered", wantCode: CodePodStartTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			running := newPod("node-1").running().P()
			running.ResourceVersion = "7"
			st := &nodeState{node: "node-1", pod: running, created: t0, deadline: t0.Add(o.NodeTimeout)}
			events := make(chan podEvent, 1)
			if tt.delivered != nil {
				events <- podEvent{pod: tt.delivered}
			}
			s := &runState{
				Runner: &Runner{Client: fake.NewSimpleClientset(newNode("node-1").P()), Options: o},
				clk:    clocktesting.NewFakeClock(t0.Add(o.NodeTimeout + time.Second)),
				byPod:  map[string]*nodeState{running.Name: st}, order: []*nodeState{st},
				finished: make(chan string, 1), events: events, sem: make(chan struct{}, 1),
			}
			s.expire(context.Background(), false)
			if len(s.results) != 1 {
				t.Fatalf("got %d results, want 1: %+v", len(s.results), s.results)
			}
			got := s.results[0]
			var gotCode Code
			if got.Classification != nil {
				gotCode = got.Classification.Code
			}
			if diff := cmp.Diff([]any{tt.wantSource, tt.wantCode}, []any{got.Source, gotCode}); diff != "" {
				t.Errorf("source, code (-want +got):\n%s", diff)
			}
			if tt.delivered != nil && (got.Result == nil || got.Result.Verdict != checks.Slow) {
				t.Errorf("result = %+v, want the probe's Slow", got.Result)
			}
		})
	}
}

// TestFinishOnce: a pod deleted while its log fallback was being read got
// PodDeleted from the watch, then a second result from the log; the node
// was reported twice and another node never (found trying `cleanup` during
// a run). A node's first result is its only one.
func TestFinishOnce(t *testing.T) {
	a := &nodeState{node: "node-1", pod: newPod("node-1").running().P(), created: t0}
	b := &nodeState{node: "node-2", pod: newPod("node-2").running().P(), created: t0}
	s := &runState{
		Runner: &Runner{Client: fake.NewSimpleClientset(), Options: testOptions()},
		clk:    clocktesting.NewFakeClock(t0.Add(time.Second)),
		byPod:  map[string]*nodeState{a.pod.Name: a, b.pod.Name: b}, order: []*nodeState{a, b},
		finished: make(chan string, 2),
	}
	first := Classification{Code: CodePodDeleted}
	s.finish(a, NodeResult{Classification: &first})
	s.finish(a, NodeResult{Result: &checks.Result{Verdict: checks.Healthy}, Source: SourceLog})
	if len(s.results) != 1 || s.results[0].Node != "node-1" || s.results[0].Classification == nil || s.results[0].Classification.Code != CodePodDeleted {
		t.Fatalf("results %+v, want node-1's first result only", s.results)
	}
	if b.done {
		t.Errorf("node-2 done without a result")
	}
}
