package scale

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/apiservertest"
)

// TestScale200 runs the whole harness at 200 nodes: the plugin binary's
// check against a real API server and the simulated kubelet. Every node
// must get the verdict the simulation made it, the plugin must stay within
// 3 API requests per node (the server's audit log counts them, the watch
// included), make no request without a deadline, and leave no pod. The
// 1,000-node run is hack/scale-bench (docs/performance.md).
func TestScale200(t *testing.T) {
	apiservertest.RequireReal(t)
	plugin := filepath.Join(t.TempDir(), "kubectl-cadvisor_doctor")
	build := exec.Command("go", "build", "-o", plugin, "github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/cmd/kubectl-cadvisor-doctor")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log strings.Builder
	// 15 s per node: the slowest simulated probe (3 s start + half the
	// budget) then has 4.5 s to spare on a loaded CI machine.
	// check's defaults, kubelet evidence included: the simulated nodes
	// have no kubelet behind the node proxy, so each targeted node costs
	// its one goroutine-dump request (refused) beside its pod's create and
	// delete (docs/performance.md, "Scale").
	res, err := Run(ctx, Config{Nodes: 200, Seed: 1, Plugin: plugin, NodeTimeout: 15 * time.Second, Timeout: 2 * time.Minute, Log: &log})
	if err != nil {
		t.Fatalf("harness: %v\n%s", err, log.String())
	}
	t.Log(res.Line())
	t.Logf("requests: %s", res.Requests)
	if res.Correct != res.Nodes {
		t.Errorf("correct=%d of %d nodes; wrong: %s", res.Correct, res.Nodes, strings.Join(res.Wrong, "; "))
	}
	if r := res.RequestsPerNode(); r > 3 {
		t.Errorf("requests_per_node=%.2f, want <= 3: %s", r, res.Requests)
	}
	if res.Requests.ByCall["watch pods"] < 1 || res.Requests.ByCall["create pods"] < res.Targets {
		t.Errorf("audit log misses the run's requests (want a pod watch and %d creates): %s", res.Targets, res.Requests)
	}
	if res.PodsLeft != 0 {
		t.Errorf("%d pods left after the run", res.PodsLeft)
	}
	if res.NoDeadline != 0 {
		t.Errorf("the plugin refused %d requests without a deadline", res.NoDeadline)
	}
	if t.Failed() {
		t.Log(log.String())
	}
}
