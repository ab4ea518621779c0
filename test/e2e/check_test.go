//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

// The check e2e tests run `kubectl cadvisor-doctor check` on the shared
// cluster: the binary is $KCD_PLUGIN, else the one `up` built from this
// tree (its probe image is on every node under the default reference).

// checkRunner is a fluent runner for one `check` invocation.
type checkRunner struct {
	t    *testing.T
	c    *Cluster
	args []string
}

// checkOutcome is what one invocation did.
type checkOutcome struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

func newCheck(t *testing.T, c *Cluster, args ...string) *checkRunner {
	return &checkRunner{t: t, c: c, args: append([]string{"check"}, args...)}
}

func pluginPath(c *Cluster) string {
	if p := os.Getenv("KCD_PLUGIN"); p != "" {
		return p
	}
	return c.PluginPath
}

// Run runs the command to its end, bounded by limit.
func (r *checkRunner) Run(limit time.Duration) checkOutcome {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	res := r.c.Exec(ctx, pluginPath(r.c), r.args...)
	out := checkOutcome{code: res.ExitCode, stdout: res.Stdout, stderr: res.Stderr, elapsed: time.Since(start)}
	r.t.Logf("check %s: exit %d in %s\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args[1:], " "), out.code,
		out.elapsed.Round(time.Millisecond), out.stdout, out.stderr)
	return out
}

// JSON runs with -o json and decodes the report.
func (r *checkRunner) JSON(limit time.Duration) (checkOutcome, *report.Report) {
	r.t.Helper()
	r.args = append(r.args, "-o", "json")
	res := r.Run(limit)
	var rep report.Report
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		r.t.Fatalf("stdout is not a JSON report: %v", err)
	}
	return res, &rep
}

// testNamespace creates a namespace with labels and deletes it after t.
func testNamespace(t *testing.T, c *Cluster, labels ...string) string {
	t.Helper()
	ns := fmt.Sprintf("e2e-%s-%d", strings.ToLower(strings.TrimPrefix(t.Name(), "TestE2ECheck")), time.Now().UnixNano()%100000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res := c.Kubectl(ctx, "create", "namespace", ns); res.Err != nil {
		t.Fatalf("create namespace: %s", res)
	}
	if len(labels) > 0 {
		if res := c.Kubectl(ctx, append([]string{"label", "namespace", ns}, labels...)...); res.Err != nil {
			t.Fatalf("label namespace: %s", res)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.Kubectl(ctx, "delete", "namespace", ns, "--wait=false")
	})
	return ns
}

// managedPods lists the plugin's pods in every namespace.
func managedPods(t *testing.T, c *Cluster) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := c.Kubectl(ctx, "get", "pods", "-A", "-l", "app.kubernetes.io/managed-by=kubectl-cadvisor-doctor", "-o", "name")
	if res.Err != nil {
		t.Fatalf("list pods: %s", res)
	}
	return strings.Fields(res.Stdout)
}

func assertNoPodsLeft(t *testing.T, c *Cluster) {
	t.Helper()
	if left := managedPods(t, c); len(left) > 0 {
		t.Errorf("pods left after the run: %v", left)
	}
}

func verdicts(rep *report.Report) map[string]report.Verdict {
	out := map[string]report.Verdict{}
	for _, it := range rep.Items {
		out[it.Node] = it.Verdict
	}
	return out
}

func item(rep *report.Report, node string) report.Item {
	for _, it := range rep.Items {
		if it.Node == node {
			return it
		}
	}
	return report.Item{}
}

func TestE2ECheckAllHealthy(t *testing.T) {
	c := Shared(t)
	ns := testNamespace(t, c)
	res, rep := newCheck(t, c, "-n", ns, "--node-timeout", "45s", "--timeout", "90s").JSON(2 * time.Minute)
	if res.code != 0 {
		t.Errorf("exit %d, want 0", res.code)
	}
	if len(rep.Items) != len(c.Nodes) {
		t.Fatalf("%d items for %d nodes", len(rep.Items), len(c.Nodes))
	}
	for _, n := range c.Nodes {
		it := item(rep, n)
		if it.Verdict != report.Healthy || it.Result == nil || it.Source != "terminationMessage" {
			t.Errorf("node %s: verdict %s source %q result %v, want Healthy from the termination message", n, it.Verdict, it.Source, it.Result != nil)
		}
	}
	if want := fmt.Sprintf("%d nodes: %d Healthy", len(c.Nodes), len(c.Nodes)); rep.Summary.Text != want {
		t.Errorf("summary %q, want %q", rep.Summary.Text, want)
	}
	assertNoPodsLeft(t, c)
}

func TestE2ECheckNoExecuteTaint(t *testing.T) {
	c := Shared(t)
	ns := testNamespace(t, c)
	node := c.Nodes[len(c.Nodes)-1]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if res := c.Kubectl(ctx, "taint", "node", node, "cadvisor-doctor-e2e=x:NoExecute"); res.Err != nil {
		t.Fatalf("taint: %s", res)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c.Kubectl(ctx, "taint", "node", node, "cadvisor-doctor-e2e-")
	})
	res, rep := newCheck(t, c, node, "-n", ns, "--node-timeout", "45s").JSON(time.Minute)
	if res.code != 0 || verdicts(rep)[node] != report.Healthy {
		t.Errorf("tainted node: exit %d, verdicts %v, want Healthy", res.code, verdicts(rep))
	}
	assertNoPodsLeft(t, c)
}

func TestE2ECheckImagePull(t *testing.T) {
	c := Shared(t)
	ns := testNamespace(t, c)
	const image = "registry.invalid/cadvisor-doctor/probe:missing"
	node := c.Nodes[0]
	res, rep := newCheck(t, c, node, "-n", ns, "--image", image, "--node-timeout", "40s").JSON(time.Minute)
	it := item(rep, node)
	if res.code != 2 || it.Verdict != report.Inconclusive || !strings.Contains(it.Reason, image) {
		t.Errorf("exit %d, verdict %s, reason %q: want exit 2, Inconclusive naming %s", res.code, it.Verdict, it.Reason, image)
	}
	if len(it.Findings) == 0 || it.Findings[0].Code != "ImagePull" {
		t.Errorf("findings %v, want ImagePull", it.Findings)
	}
	assertNoPodsLeft(t, c)
}

func TestE2ECheckBaselineNamespace(t *testing.T) {
	c := Shared(t)
	ns := testNamespace(t, c, "pod-security.kubernetes.io/enforce=baseline")
	res := newCheck(t, c, "-n", ns).Run(time.Minute)
	if res.code != 2 || !strings.Contains(res.stderr, `enforces PodSecurity "baseline"`) ||
		!strings.Contains(res.stderr, "pod-security.kubernetes.io/enforce=privileged") || res.stdout != "" {
		t.Errorf("exit %d: want 2, a preflight error naming the fix, and no report", res.code)
	}
	assertNoPodsLeft(t, c)
}

// TestE2ECheckSIGINT interrupts a run while its pods are pending (a socket
// directory that does not exist keeps them ContainerCreating) and checks
// that none is left.
func TestE2ECheckSIGINT(t *testing.T) {
	c := Shared(t)
	ns := testNamespace(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := c.Command(ctx, pluginPath(c), "check", "-n", ns, "--socket", "/run/no-such-dir/containerd.sock", "--node-timeout", "90s", "--timeout", "100s", "-o", "json")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(managedPods(t, c)) < len(c.Nodes) && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
	}
	if n := len(managedPods(t, c)); n < len(c.Nodes) {
		t.Fatalf("only %d pods after 30s", n)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	t.Logf("after SIGINT: %v in %s\nstdout:\n%s\nstderr:\n%s", err, time.Since(start).Round(time.Millisecond), out.String(), errOut.String())
	if time.Since(start) > 15*time.Second {
		t.Errorf("took %s to stop after SIGINT", time.Since(start))
	}
	if !strings.Contains(errOut.String(), "interrupted") {
		t.Errorf("stderr does not say the run was interrupted")
	}
	// The report says so too, and our own interruption is no finding about
	// any node (it read "KUBELET_EVIDENCE_ERROR: context canceled" before).
	var rep report.Report
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v", err)
	}
	if !rep.Interrupted {
		t.Errorf("report without interrupted: true")
	}
	for _, it := range rep.Items {
		for _, f := range it.Findings {
			if strings.Contains(f.Message, "context canceled") || f.Code == "RUN_INTERRUPTED" {
				t.Errorf("%s: finding %s %q blames the node for our own interruption", it.Node, f.Code, f.Message)
			}
		}
	}
	assertNoPodsLeft(t, c)
}

// TestE2ECheckFrozenRuntime freezes one node's containerd (SIGSTOP): that
// node is Unresponsive with its evidence within --node-timeout, the others
// Healthy, the run within --timeout plus 2s, and no pod left.
func TestE2ECheckFrozenRuntime(t *testing.T) {
	c := Shared(t)
	ns := testNamespace(t, c)
	frozen := "node-2"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.FreezeRuntime(ctx, frozen); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.ThawRuntime(ctx, frozen); err != nil {
			t.Errorf("thaw %s: %v", frozen, err)
		}
		// Leave the node Ready for the next test.
		c.Kubectl(ctx, "wait", "--for=condition=Ready", "node/"+frozen, "--timeout=90s")
	})
	const timeout = 75 * time.Second
	res, rep := newCheck(t, c, "-n", ns, "--node-timeout", "50s", "--timeout", timeout.String()).JSON(2 * time.Minute)
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	for _, n := range c.Nodes {
		want := report.Healthy
		if n == frozen {
			want = report.Unresponsive
		}
		if got := verdicts(rep)[n]; got != want {
			t.Errorf("node %s: %s, want %s", n, got, want)
		}
	}
	it := item(rep, frozen)
	if len(it.Evidence) == 0 || len(it.Findings) == 0 {
		t.Errorf("frozen node without evidence: %+v", it)
	} else {
		t.Logf("frozen node: %s (%s), evidence %+v", it.Reason, it.Findings[0].Code, it.Evidence)
	}
	if res.elapsed > timeout+2*time.Second {
		t.Errorf("run took %s, want <= --timeout %s + 2s", res.elapsed, timeout)
	}
	assertNoPodsLeft(t, c)
}
