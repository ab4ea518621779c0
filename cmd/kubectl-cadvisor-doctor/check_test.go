//go:build !probeonly

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/apiservertest"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

func TestCheckOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*CheckOptions)
		want string
	}{
		{"defaults", func(*CheckOptions) {}, ""},
		{"unknown output", func(o *CheckOptions) { o.Output = "xml" },
			`unknown output format "xml": allowed formats are wide, json, yaml, markdown (or none for a table)`},
		{"names and selector", func(o *CheckOptions) { o.Nodes, o.Selector = []string{"n"}, "a=b" },
			"node names and --selector are mutually exclusive"},
		{"node timeout above run timeout", func(o *CheckOptions) { o.NodeTimeout, o.Timeout = time.Minute, 30*time.Second },
			"--node-timeout 1m0s must not exceed --timeout 30s"},
		{"every problem at once", func(o *CheckOptions) { o.QPS, o.Burst, o.Concurrency, o.Socket = 0, 0, 0, "x.sock" },
			"--qps must be positive, got 0\n--burst must be at least 1, got 0\n" +
				`--socket must be a clean absolute path to a socket file, got "x.sock"` + "\n--concurrency must be at least 1, got 0"},
		{"pull policy", func(o *CheckOptions) { o.ImagePullPolicy = "Maybe" },
			`--image-pull-policy must be Always, IfNotPresent or Never, got "Maybe"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewCheckOptions(genericiooptions.NewTestIOStreamsDiscard())
			o.namespace, o.runID = "default", "r1"
			tc.mod(o)
			got := ""
			if err := o.Validate(); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate() (-want +got):\n%s", cmp.Diff(tc.want, got))
			}
		})
	}
}

func TestCheckFlagErrorsExit2WithUsageHint(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}, []string{"check", "--node-timeout", "soon"})
	if code != 2 || !strings.Contains(errOut.String(), "See 'kubectl cadvisor-doctor check --help' for usage.") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

// TestProgressPrinterAgesOldSnapshot: a hung node's pod never changes, so
// the runner sends no new snapshot; the printed age must still grow (it
// stayed at the snapshot's "3s" for a whole frozen-runtime run).
func TestProgressPrinterAgesOldSnapshot(t *testing.T) {
	created := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	p := newProgressPrinter(&out, 2)
	p.update(nodeexec.Progress{Done: 1, Total: 2, Pending: []nodeexec.PendingNode{
		{Node: "node-2", State: "pod Pending", Elapsed: 3 * time.Second, Created: created},
	}})
	p.now = func() time.Time { return created.Add(17 * time.Second) }
	p.print()
	p.now = func() time.Time { return created.Add(19 * time.Second) }
	p.print()
	want := "1/2 nodes done; waiting for node-2 (pod Pending, 17s)\n1/2 nodes done; waiting for node-2 (pod Pending, 19s)\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
}

func TestProgressLine(t *testing.T) {
	pr := nodeexec.Progress{Done: 1, Total: 6, Pending: []nodeexec.PendingNode{
		{Node: "a", State: "pod Pending, container waiting: ContainerCreating", Elapsed: 12400 * time.Millisecond},
		{Node: "b", State: "pod Running, probe still running", Elapsed: 3 * time.Second},
		{Node: "c", State: "x", Elapsed: time.Second}, {Node: "d"}, {Node: "e"},
	}}
	want := "1/6 nodes done; waiting for a (pod Pending, container waiting: ContainerCreating, 12s), b (pod Running, probe still running, 3s), c (x, 1s), and 2 more"
	if got := progressLine(pr); got != want {
		t.Errorf("progressLine (-want +got):\n%s", cmp.Diff(want, got))
	}
}

// cli runs the plugin's command line against a real API server.
type cli struct {
	t          *testing.T
	kubeconfig string
}

func newCLI(t *testing.T, s *apiservertest.Server) *cli {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := s.WriteKubeconfig(path, "admin", "system:masters"); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, kubeconfig: path}
}

func (c *cli) run(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(ctx, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		append(args, "--kubeconfig", c.kubeconfig))
	return code, out.String(), errOut.String()
}

func node(name string, mods ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/os": "linux"}}}
	n.Status.NodeInfo = corev1.NodeSystemInfo{OperatingSystem: "linux", ContainerRuntimeVersion: "containerd://1.6.20"}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
	for _, m := range mods {
		m(n)
	}
	return n
}

// TestIntegrationCheckCommand runs `check` end to end against a real API
// server whose kubelets the test plays: JSON report, exit code, skipped
// nodes, evidence verdicts, and no pod left.
func TestIntegrationCheckCommand(t *testing.T) {
	apiservertest.RequireReal(t)
	s := apiservertest.StartT(t, apiservertest.Options{})
	admin := s.ClientT(t)
	ns := apiservertest.Namespace(t, admin, nil)
	apiservertest.Nodes(t, admin, node("cmd-1"), node("cmd-2"), node("cmd-frozen"), node("cmd-silent", func(n *corev1.Node) { n.Labels["kcd-test"] = "silent" }),
		node("cmd-win", func(n *corev1.Node) { n.Labels["kubernetes.io/os"] = "windows" }),
		node("cmd-crio", func(n *corev1.Node) { n.Status.NodeInfo.ContainerRuntimeVersion = "cri-o://1.30.0" }))
	apiservertest.SimulateKubelet(t, admin, ns, nodeexec.ManagedSelector(), map[string]apiservertest.Behavior{
		"cmd-1":      apiservertest.FinishWith(apiservertest.ProbeResult("cmd-1", checks.Healthy, "ok"), 0),
		"cmd-2":      apiservertest.FinishWith(apiservertest.ProbeResult("cmd-2", checks.Healthy, "ok"), 200*time.Millisecond),
		"cmd-frozen": apiservertest.SandboxTimeout,
	})
	c := newCLI(t, s)

	t.Run("json report and exit 1", func(t *testing.T) {
		start := time.Now()
		code, out, stderr := c.run(context.Background(), "check", "-n", ns, "-l", "kcd-test!=silent", "--node-timeout", "3s", "--timeout", "20s", "-o", "json")
		if code != 1 {
			t.Fatalf("exit %d, want 1 (one node Unresponsive); stderr:\n%s", code, stderr)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("run took %s with --node-timeout 3s", d)
		}
		var rep report.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("stdout is not a JSON report: %v\n%s", err, out)
		}
		got := map[string]report.Verdict{}
		for _, it := range rep.Items {
			got[it.Node] = it.Verdict
		}
		want := map[string]report.Verdict{"cmd-1": report.Healthy, "cmd-2": report.Healthy, "cmd-frozen": report.Unresponsive,
			"cmd-win": report.Skipped, "cmd-crio": report.Skipped}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("verdicts (-want +got):\n%s", diff)
		}
		if rep.APIVersion != report.APIVersion || rep.Kind != report.Kind || rep.Summary.Text != "5 nodes: 2 Healthy, 1 Unresponsive, 2 Skipped" {
			t.Errorf("apiVersion %q kind %q summary %q", rep.APIVersion, rep.Kind, rep.Summary.Text)
		}
		assertNoPods(t, c, ns)
	})
	t.Run("run timeout bounds the run", func(t *testing.T) {
		start := time.Now()
		code, out, stderr := c.run(context.Background(), "check", "cmd-silent", "-n", ns, "--node-timeout", "4s", "--timeout", "4s", "-o", "json")
		elapsed := time.Since(start)
		var rep report.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Items) != 1 {
			t.Fatalf("exit %d, report %v (%v); stderr:\n%s", code, out, err, stderr)
		}
		it := rep.Items[0]
		if code != 2 || it.Verdict != report.Inconclusive || !strings.Contains(it.Reason, "--timeout ran out") {
			t.Errorf("exit %d, %s: %s; want 2, Inconclusive, --timeout ran out", code, it.Verdict, it.Reason)
		}
		if elapsed > 4*time.Second+2*time.Second {
			t.Errorf("run took %s, want <= --timeout 4s + 2s", elapsed)
		}
		assertNoPods(t, c, ns)
	})
	t.Run("table for two healthy nodes exits 0", func(t *testing.T) {
		code, out, stderr := c.run(context.Background(), "check", "cmd-1", "cmd-2", "-n", ns, "--node-timeout", "3s")
		if code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr)
		}
		if !strings.HasPrefix(out, "NODE ") || !strings.HasSuffix(out, "\n2 nodes: 2 Healthy\n") {
			t.Errorf("table output:\n%s", out)
		}
		assertNoPods(t, c, ns)
	})
	t.Run("rows stream in a terminal", func(t *testing.T) {
		isTerminal = func(io.Writer) bool { return true }
		defer func() { isTerminal = defaultIsTerminal }()
		code, out, stderr := c.run(context.Background(), "check", "cmd-1", "cmd-win", "-n", ns, "--node-timeout", "3s")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		// Header, the skipped node at once, the probed node when it finished,
		// a blank line and the summary.
		if code != 0 || len(lines) != 5 || !strings.HasPrefix(lines[1], "cmd-win ") || !strings.HasPrefix(lines[2], "cmd-1 ") ||
			lines[4] != "2 nodes: 1 Healthy, 1 Skipped" {
			t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, stderr)
		}
	})
	t.Run("node names complete", func(t *testing.T) {
		var buf bytes.Buffer
		run(context.Background(), genericiooptions.IOStreams{Out: &buf, ErrOut: io.Discard},
			[]string{"__complete", "check", "--kubeconfig", c.kubeconfig, "cmd-f"})
		out := buf.String()
		if !strings.HasPrefix(out, "cmd-frozen\n:4\n") {
			t.Errorf("completion output %q", out)
		}
	})
	t.Run("unknown node is an error before any pod", func(t *testing.T) {
		code, _, stderr := c.run(context.Background(), "check", "cmd-1", "nope", "-n", ns)
		if code != 2 || !strings.Contains(stderr, "error: node(s) not found: nope") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		assertNoPods(t, c, ns)
	})
	t.Run("baseline namespace fails in preflight", func(t *testing.T) {
		bns := apiservertest.Namespace(t, admin, map[string]string{nodeexec.PodSecurityEnforceLabel: "baseline"})
		code, out, stderr := c.run(context.Background(), "check", "-n", bns, "cmd-1")
		if code != 2 || !strings.Contains(stderr, `enforces PodSecurity "baseline"`) || out != "" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		assertNoPods(t, c, bns)
	})
	t.Run("cleanup removes leftovers, not a run in progress", func(t *testing.T) {
		leftover := func(runID string, deadline time.Duration) {
			t.Helper()
			o := nodeexec.Options{Namespace: ns, Image: "x", ImagePullPolicy: corev1.PullNever, Socket: nodeexec.DefaultSocket,
				RunID: runID, NodeTimeout: time.Minute}
			p := nodeexec.PodFor("cmd-gone", o)
			p.Spec.ActiveDeadlineSeconds = ptr.To(int64(deadline.Seconds()))
			if _, err := admin.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		// "over1" ended its pods' lives (1 s deadline); "live1" (90 s, what
		// check sets for --node-timeout 60s) may still be running.
		leftover("over1", time.Second)
		leftover("live1", 90*time.Second)
		time.Sleep(1500 * time.Millisecond)
		code, out, stderr := c.run(context.Background(), "cleanup", "--wait", "1s")
		if code != 0 || out != "deleted 1 pod(s) in all namespaces (1 force-deleted)\n" ||
			!strings.Contains(stderr, "skipped run live1: 1 pod(s) in "+ns) || !strings.Contains(stderr, "pass --run-id live1") {
			t.Errorf("exit %d, stdout %q, stderr %q; want over1 deleted and live1 named as skipped", code, out, stderr)
		}
		code, out, stderr = c.run(context.Background(), "cleanup", "-n", ns)
		if code != 0 || out != "deleted no pod in namespace "+ns+": 1 pod(s) of runs that may be in progress left alone\n" {
			t.Errorf("cleanup with only a live run: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		code, out, stderr = c.run(context.Background(), "cleanup", "--run-id", "live1", "--wait", "1s")
		if code != 0 || out != "deleted 1 pod(s) in all namespaces (1 force-deleted)\n" {
			t.Errorf("cleanup --run-id live1: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		assertNoPods(t, c, ns)
		code, out, _ = c.run(context.Background(), "cleanup", "-n", ns)
		if code != 0 || out != "no cadvisor-doctor pods in namespace "+ns+"\n" {
			t.Errorf("second cleanup: exit %d, stdout %q", code, out)
		}
		code, _, stderr = c.run(context.Background(), "cleanup", "-n", "nope")
		if code == 0 || !strings.Contains(stderr, `error: namespace "nope" not found`) {
			t.Errorf("cleanup -n nope: exit %d, stderr %q; want the namespace named missing", code, stderr)
		}
	})
}

func assertNoPods(t *testing.T, c *cli, ns string) {
	t.Helper()
	code, out, stderr := c.run(context.Background(), "cleanup", "-n", ns)
	if code != 0 || !strings.HasPrefix(out, "no cadvisor-doctor pods") {
		t.Errorf("pods left in %s: %s %s", ns, out, stderr)
	}
}

// TestKubeconfigErrorsNameTheFix: with no kubeconfig client-go falls back to
// localhost:8080 ("connection refused"), and a missing --kubeconfig read as
// "resolve namespace: stat ...": both now say what is wrong and the fix.
func TestKubeconfigErrorsNameTheFix(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	missing := filepath.Join(t.TempDir(), "nope")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"check, nothing configured", []string{"check"}, "error: no cluster configured: no kubeconfig found (KUBECONFIG, ~/.kube/config) and not running in a pod; pass --kubeconfig PATH, set KUBECONFIG, or pass --server URL\n"},
		{"cleanup, nothing configured", []string{"cleanup"}, "error: no cluster configured: no kubeconfig found (KUBECONFIG, ~/.kube/config) and not running in a pod; pass --kubeconfig PATH, set KUBECONFIG, or pass --server URL\n"},
		{"check, missing --kubeconfig", []string{"check", "--kubeconfig", missing},
			"error: load kubeconfig: stat " + missing + ": no such file or directory (pass --kubeconfig PATH or set KUBECONFIG; --context picks a context)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}, tt.args)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if diff := cmp.Diff(tt.want, errOut.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
