//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

// TestE2EFreshFreeze: a containerd frozen seconds before the run, on
// kubelets with the default runtimeRequestTimeout (2m), so that neither the
// node's Ready condition nor a FailedCreatePodSandBox event says anything
// within --node-timeout 30s. The kubelet's own CRI reads hang in containerd
// (its goroutine dumps, 6 s apart, show the same ListPodSandbox/ListContainers
// call): node-2 must be Unresponsive, with and without pods, and node-1
// Healthy. Before, the pod path called it Inconclusive (PodStartTimeout) and
// --no-pod called it Healthy: a hung runtime reported healthy.
func TestE2EFreshFreeze(t *testing.T) {
	const frozen = "node-2"
	c := NewCluster(t, Options{Nodes: 2, RuntimeRequestTimeout: 2 * time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	checkNS := testNamespace(t, c, "pod-security.kubernetes.io/enforce=privileged")
	assertFrozen := func(t *testing.T, rep *report.Report) {
		t.Helper()
		for _, n := range c.Nodes {
			it := item(rep, n)
			want := report.Healthy
			if n == frozen {
				want = report.Unresponsive
			}
			if it.Verdict != want {
				t.Errorf("%s: %s %q, want %s", n, it.Verdict, it.Reason, want)
			}
		}
		it := item(rep, frozen)
		if !strings.Contains(it.Reason, "the kubelet's CRI calls to containerd are stuck") || finding(it, report.CodeKubeletCRIStuck) == nil {
			t.Errorf("%s: reason %q findings %s, want the kubelet's stuck CRI reads", frozen, it.Reason, findingCodes(it))
		}
		if k := it.Kubelet; k == nil || k.Dumps != 2 || k.Goroutines == nil || k.Goroutines.CRIStuckCall == nil ||
			!strings.HasPrefix(k.Goroutines.CRIStuckCall.GRPCMethod, "/runtime.v1.RuntimeService/") {
			t.Errorf("%s: kubelet evidence %+v, want two dumps with a stuck RuntimeService read", frozen, k)
		}
	}
	// Frozen 0.3 s after the run started: the kubelet's first dump, read
	// at once, still looks calm; the node's pod does not start, and the
	// second read of its evidence, at the first early round, decides it.
	// (Found by a fresh-user trial: Inconclusive after the whole budget.)
	t.Cleanup(func() {
		if err := c.ThawRuntime(context.Background(), frozen); err != nil {
			t.Errorf("thaw %s: %v", frozen, err)
		}
	})
	t.Run("frozen as the run starts", func(t *testing.T) {
		type outcome struct {
			res checkOutcome
			rep *report.Report
		}
		done := make(chan outcome, 1)
		go func() {
			res, rep := newCheck(t, c, "-n", checkNS, "--node-timeout", "30s", "--timeout", "60s").JSON(2 * time.Minute)
			done <- outcome{res, rep}
		}()
		time.Sleep(300 * time.Millisecond)
		if err := c.FreezeRuntime(ctx, frozen); err != nil {
			t.Fatal(err)
		}
		o := <-done
		if o.res.code != report.ExitFindings {
			t.Errorf("exit %d, want %d\n%s", o.res.code, report.ExitFindings, o.res.stderr)
		}
		assertFrozen(t, o.rep)
		// Early rounds every 10 s: the second read at the first, the
		// verdict at the second, before the 30 s deadline.
		if o.res.elapsed > 28*time.Second {
			t.Errorf("check took %s, want node-2 decided before its 30 s deadline", o.res.elapsed)
		}
		assertNoPodsLeft(t, c)
	})
	// Still frozen (SIGSTOP again is harmless): a run that starts later.
	if err := c.FreezeRuntime(ctx, frozen); err != nil {
		t.Fatal(err)
	}
	// The kubelet's PLEG relists every second: give it time to be caught
	// in a call to the frozen daemon.
	time.Sleep(3 * time.Second)
	t.Run("check", func(t *testing.T) {
		res, rep := newCheck(t, c, "-n", checkNS, "--node-timeout", "30s", "--timeout", "60s").JSON(2 * time.Minute)
		if res.code != report.ExitFindings {
			t.Errorf("exit %d, want %d\n%s", res.code, report.ExitFindings, res.stderr)
		}
		assertFrozen(t, rep)
		// The kubelet's evidence decides node-2 at its first early round
		// (a third of --node-timeout), not at the 30 s deadline.
		if res.elapsed > 20*time.Second {
			t.Errorf("check took %s, want node-2 decided at its early round (~10 s), well before --node-timeout 30s", res.elapsed)
		}
		assertNoPodsLeft(t, c)
	})
	t.Run("no-pod", func(t *testing.T) {
		res, rep := newCheck(t, c, "--no-pod", "--timeout", "60s").JSON(2 * time.Minute)
		if res.code != report.ExitFindings {
			t.Errorf("exit %d, want %d\n%s", res.code, report.ExitFindings, res.stderr)
		}
		assertFrozen(t, rep)
		assertNoPodsLeft(t, c)
	})
}
