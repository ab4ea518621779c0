//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/stall"
)

const (
	stalledNode   = "node-3"
	defaultSock   = "/run/containerd/containerd.sock"
	hangTasksGet  = `{"rules":[{"method":"/containerd.services.tasks.v1.Tasks/Get","action":"hang"}]}`
	registeredLog = "Registration of the containerd container factory successfully"
)

// TestE2EStalledCAdvisor reproduces the real cAdvisor stall of kubelet
// v1.37.2 (docs/e2e-cluster.md, "A proxy where cAdvisor dials"): node-3's
// containerd serves a k3s-style socket, a fault proxy on the default socket
// forwards to it, the kubelet restarts so that its cAdvisor registers
// through the proxy, then the proxy hangs Tasks/Get and a pod starts on
// node-3. `check` must report node-3 Stalled with the evidence while
// node-1 and node-2 stay Healthy, and `check --no-pod` must say the same
// without creating a pod.
func TestE2EStalledCAdvisor(t *testing.T) {
	c := NewCluster(t, Options{ContainerdSock: map[string]string{stalledNode: k3sSock}})
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	proxy := startFaultProxy(ctx, t, c)
	restartKubeletThroughProxy(ctx, t, c, cs)
	proxy.setRules(t, hangTasksGet)

	ns := NewNamespace(ctx, t, cs, "stall")
	pod := startPausePod(ctx, t, cs, ns, stalledNode)
	waitBlockedTaskPid(ctx, t, cs, stalledNode)
	// The metrics' corroboration leaves out containers younger than
	// stall.DefaultStartGrace: let the pod's container pass it.
	waitPast(ctx, t, pod.Status.ContainerStatuses[0].State.Running.StartedAt.Add(stall.DefaultStartGrace+2*time.Second))

	checkNS := testNamespace(t, c, "pod-security.kubernetes.io/enforce=privileged")
	t.Run("check", func(t *testing.T) {
		res, rep := newCheck(t, c, "-n", checkNS, "--node-timeout", "60s", "--timeout", "150s").JSON(3 * time.Minute)
		if res.code != report.ExitFindings {
			t.Errorf("exit %d, want %d (node-3 Stalled)", res.code, report.ExitFindings)
		}
		assertStalledReport(t, rep)
		assertNoPodsLeft(t, c)
	})
	t.Run("no-pod", func(t *testing.T) {
		w, err := cs.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, metav1.ListOptions{LabelSelector: nodeexec.ManagedSelector()})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		res, rep := newCheck(t, c, "--no-pod", "--timeout", "60s").JSON(2 * time.Minute)
		if res.code != report.ExitFindings {
			t.Errorf("exit %d, want %d", res.code, report.ExitFindings)
		}
		assertStalledReport(t, rep)
		for {
			select {
			case ev := <-w.ResultChan():
				if ev.Type == watch.Added {
					t.Errorf("--no-pod created pod %s", ev.Object.(*corev1.Pod).Name)
				}
				continue
			default:
			}
			break
		}
	})
}

func assertStalledReport(t *testing.T, rep *report.Report) {
	t.Helper()
	want := map[string]report.Verdict{"node-1": report.Healthy, "node-2": report.Healthy, stalledNode: report.Stalled}
	for n, v := range verdicts(rep) {
		if want[n] != v {
			t.Errorf("%s: verdict %s, want %s (%s)", n, v, want[n], item(rep, n).Reason)
		}
	}
	it := item(rep, stalledNode)
	k := it.Kubelet
	if k == nil || !k.Stalled || k.Goroutines == nil || k.Goroutines.Longest == nil {
		t.Fatalf("node-3 kubelet evidence %+v, want a stall", k)
	}
	if l := k.Goroutines.Longest; l.CAdvisorMethod != "TaskPid" || l.GRPCMethod != "/containerd.services.tasks.v1.Tasks/Get" ||
		k.Goroutines.LongestWait < kubeletevidence.DefaultStallThreshold || k.Goroutines.Blocked < 1 {
		t.Errorf("node-3 blocked call %+v, %d blocked, longest %s; want TaskPid/Tasks/Get past the threshold",
			l, k.Goroutines.Blocked, k.Goroutines.LongestWait)
	}
	for _, s := range []string{"goroutine(s) blocked in containerd calls", "TaskPid", "Tasks/Get"} {
		if !strings.Contains(it.Reason, s) {
			t.Errorf("node-3 reason %q lacks %q", it.Reason, s)
		}
	}
	codes := map[string]bool{}
	for _, f := range it.Findings {
		codes[string(f.Code)] = true
	}
	if !codes[string(report.CodeCAdvisorStalled)] || !codes[string(report.CodeCAdvisorMissingContainers)] {
		t.Errorf("node-3 findings %v, want %s and %s", it.Findings, report.CodeCAdvisorStalled, report.CodeCAdvisorMissingContainers)
	}
	if k.RuntimeEndpoint != "unix://"+k3sSock {
		t.Errorf("node-3 runtime endpoint %q, want unix://%s", k.RuntimeEndpoint, k3sSock)
	}
	for _, n := range []string{"node-1", "node-2"} {
		if k := item(rep, n).Kubelet; k == nil || k.Stalled || k.Goroutines == nil || k.Goroutines.Blocked != 0 {
			t.Errorf("%s kubelet evidence %+v, want a dump with nothing blocked", n, k)
		}
	}
}

// faultProxy is hack/faultproxy running in node-3's namespaces.
type faultProxy struct {
	cmd    *exec.Cmd
	rules  string
	stderr *syncBuffer
}

// syncBuffer is a bytes.Buffer the exec copier writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startFaultProxy(ctx context.Context, t *testing.T, c *Cluster) *faultProxy {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "faultproxy")
	buildCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(buildCtx, goTool(), "build", "-o", bin, "../../hack/faultproxy").CombinedOutput(); err != nil {
		t.Fatalf("build faultproxy: %v\n%s", err, out)
	}
	p := &faultProxy{rules: filepath.Join(dir, "rules.json"), stderr: &syncBuffer{}}
	if err := os.WriteFile(p.rules, []byte(`{"rules":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Not bound to ctx: stopped by PID below, so that SIGTERM releases the
	// hung calls and removes the socket.
	p.cmd = c.NodeCommand(context.WithoutCancel(ctx), stalledNode, bin, "--listen", defaultSock, "--upstream", k3sSock, "--rules", p.rules)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start faultproxy: %v", err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
			t.Errorf("faultproxy (pid %d) ignored SIGTERM for 15s: killed", p.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("faultproxy log:\n%s", tail(p.stderr.String(), 40))
		}
	})
	poll(ctx, t, 15*time.Second, "faultproxy socket "+defaultSock+" on "+stalledNode, func() bool {
		return c.NodeExec(ctx, stalledNode, "test", "-S", defaultSock).Err == nil
	})
	return p
}

func (p *faultProxy) setRules(t *testing.T, rules string) {
	t.Helper()
	if err := os.WriteFile(p.rules, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP faultproxy: %v", err)
	}
	// The proxy logs the rules it loaded; wait until it did.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "rules set: 1 rule(s); [0] /containerd.services.tasks.v1.Tasks/Get hang") {
		if time.Now().After(deadline) {
			t.Fatalf("faultproxy did not load the new rules within 10s; log:\n%s", tail(p.stderr.String(), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// restartKubeletThroughProxy restarts node-3's kubelet and waits until its
// cAdvisor registered the containerd factory (through the proxy) and the
// node is Ready again.
func restartKubeletThroughProxy(ctx context.Context, t *testing.T, c *Cluster, cs kubernetes.Interface) {
	t.Helper()
	logPath, err := c.LogPath(ctx, stalledNode+".kubelet")
	if err != nil {
		t.Fatalf("kubelet log path: %v", err)
	}
	var before int64
	if st, err := os.Stat(logPath); err == nil {
		before = st.Size()
	}
	if err := c.StopKubelet(ctx, stalledNode); err != nil {
		t.Fatalf("stop kubelet: %v", err)
	}
	if err := c.StartKubelet(ctx, stalledNode); err != nil {
		t.Fatalf("start kubelet: %v", err)
	}
	poll(ctx, t, 60*time.Second, "kubelet log line "+registeredLog, func() bool {
		b, err := os.ReadFile(logPath)
		return err == nil && int64(len(b)) > before && bytes.Contains(b[before:], []byte(registeredLog))
	})
	poll(ctx, t, 90*time.Second, stalledNode+" Ready after the kubelet restart", func() bool {
		n, err := cs.CoreV1().Nodes().Get(ctx, stalledNode, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue && time.Since(cond.LastHeartbeatTime.Time) < 20*time.Second
			}
		}
		return false
	})
}

func startPausePod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, node string) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stall-me", Namespace: ns}, Spec: corev1.PodSpec{
		NodeName: node, Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		Containers: []corev1.Container{{Name: "pause", Image: "registry.k8s.io/pause:3.10", ImagePullPolicy: corev1.PullIfNotPresent}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	poll(ctx, t, 90*time.Second, "pod "+ns+"/stall-me Running on "+node, func() bool {
		got, err := cs.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil || len(got.Status.ContainerStatuses) == 0 || got.Status.ContainerStatuses[0].State.Running == nil {
			return false
		}
		p = got
		return true
	})
	return p
}

// waitBlockedTaskPid waits until node's goroutine dump shows cAdvisor's
// TaskPid blocked in Tasks/Get.
func waitBlockedTaskPid(ctx context.Context, t *testing.T, cs kubernetes.Interface, node string) {
	t.Helper()
	var last string
	poll(ctx, t, 60*time.Second, "a goroutine blocked in cAdvisor's TaskPid in "+node+"'s dump", func() bool {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		b, err := cs.CoreV1().RESTClient().Get().Resource("nodes").Name(node).SubResource("proxy").
			Suffix(kubeletevidence.PathGoroutines).Param("debug", "2").DoRaw(rctx)
		if err != nil {
			last = err.Error()
			return false
		}
		d, err := kubeletevidence.ParseGoroutines(bytes.NewReader(b), kubeletevidence.ParseOptions{})
		if err != nil {
			last = err.Error()
			return false
		}
		for _, bc := range d.Blocked {
			if bc.CAdvisorMethod == "TaskPid" {
				return true
			}
		}
		last = "dump parsed, nothing blocked in TaskPid"
		return false
	}, func() string { return last })
}

// poll calls cond every 500ms until it holds, failing the test after limit.
func poll(ctx context.Context, t *testing.T, limit time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			msg := ""
			for _, d := range detail {
				msg += ": " + d()
			}
			t.Fatalf("no %s within %s%s", what, limit, msg)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func waitPast(ctx context.Context, t *testing.T, at time.Time) {
	t.Helper()
	select {
	case <-time.After(time.Until(at)):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
}

// goTool is the go command: from PATH, else the toolchain that built this
// test (sudo may reset PATH).
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
