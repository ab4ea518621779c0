package nodeexec

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/apiservertest"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// countingClient counts the requests a client makes, by verb and path.
type countingClient struct {
	total atomic.Int64
	mu    sync.Mutex
	calls []string
}

func (cc *countingClient) client(t testing.TB, s *apiservertest.Server) kubernetes.Interface {
	cfg := s.AdminConfig()
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			cc.total.Add(1)
			cc.mu.Lock()
			cc.calls = append(cc.calls, r.Method+" "+r.URL.Path)
			cc.mu.Unlock()
			return rt.RoundTrip(r)
		})
	}
	cfg.QPS, cfg.Burst = 50, 100 // the command's defaults
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func runOptions(ns, prefix string) Options {
	o := testOptions(func(o *Options) {
		o.Namespace, o.RunID, o.NodeTimeout = ns, NewRunID(), 3*time.Second
		o.NameSuffix = nil
	})
	return o
}

func remainingPods(t *testing.T, c kubernetes.Interface, ns string) []string {
	t.Helper()
	list, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: ManagedSelector()})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	return names
}

// TestIntegrationRun plays the kubelet of five nodes against a real API
// server: two healthy ones, a frozen runtime, an image that cannot be
// pulled and a kubelet that never syncs the pod. Every node gets exactly
// one verdict from its evidence within the node budget, and no pod is
// left.
func TestIntegrationRun(t *testing.T) {
	s := realServer(t)
	admin := s.ClientT(t)
	ns := apiservertest.Namespace(t, admin, nil)
	frozen := newNode("run-frozen").ready(corev1.ConditionFalse, "KubeletNotReady", "container runtime is down").P()
	apiservertest.Nodes(t, admin, newNode("run-ok-1").P(), newNode("run-ok-2").P(), newNode("run-atrisk").P(), frozen,
		newNode("run-image").P(), newNode("run-silent").P(), newNode("run-nomsg").P())
	apiservertest.SimulateKubelet(t, admin, ns, ManagedSelector(), map[string]apiservertest.Behavior{
		"run-ok-1":   apiservertest.FinishWith(apiservertest.ProbeResult("run-ok-1", checks.Healthy, "all calls answered"), 0),
		"run-ok-2":   apiservertest.FinishWith(apiservertest.ProbeResult("run-ok-2", checks.Healthy, "all calls answered"), 300*time.Millisecond),
		"run-atrisk": apiservertest.FinishWith(apiservertest.ProbeResult("run-atrisk", checks.AtRisk, "Tasks/Get of 1 container hit 2s"), 0),
		"run-frozen": apiservertest.SandboxTimeout,
		"run-image":  apiservertest.WaitWith("ImagePullBackOff", `Back-off pulling image "x"`),
		"run-silent": apiservertest.Silent,
		// Ends without a termination message: the log is tried (this API
		// server has no kubelet to serve it) and nothing is trusted.
		"run-nomsg": apiservertest.FinishWith(checks.Result{}, 0),
	})
	var cc countingClient
	client := cc.client(t, s)
	plan, err := NewPlan(context.Background(), client, []string{"run-ok-1", "run-ok-2", "run-atrisk", "run-frozen", "run-image", "run-silent", "run-nomsg"}, "")
	if err != nil {
		t.Fatal(err)
	}
	cc.total.Store(0)
	cc.calls = nil
	o := runOptions(ns, "run")
	var streamed []string
	r := &Runner{Client: client, Options: o, OnResult: func(nr NodeResult) { streamed = append(streamed, nr.Node) }}
	start := time.Now()
	results, err := r.Run(context.Background(), plan.Targets)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := map[string]string{}
	for _, nr := range results {
		switch {
		case nr.Result != nil:
			got[nr.Node] = string(nr.Result.Verdict) + " " + nr.Source
		case nr.Classification != nil:
			got[nr.Node] = string(nr.Classification.Verdict) + " " + string(nr.Classification.Code)
		}
	}
	want := map[string]string{
		"run-ok-1":   "Healthy terminationMessage",
		"run-ok-2":   "Healthy terminationMessage",
		"run-atrisk": "AtRisk terminationMessage",
		"run-frozen": "Unresponsive SandboxTimeout",
		"run-image":  "Inconclusive ImagePull",
		"run-silent": "Inconclusive PodStartTimeout",
		"run-nomsg":  "Inconclusive NoResult",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	if len(results) != 7 || len(streamed) != 7 {
		t.Errorf("want one result per node, got %d results, %d streamed", len(results), len(streamed))
	}
	// The node budget is 3s; evidence and cleanup take a little more.
	if elapsed > o.NodeTimeout+6*time.Second {
		t.Errorf("run took %s, budget %s", elapsed, o.NodeTimeout)
	}
	if left := remainingPods(t, admin, ns); len(left) > 0 {
		t.Errorf("pods left after the run: %v", left)
	}
	n := cc.total.Load()
	t.Logf("run took %s with %d API requests: %s", elapsed.Round(time.Millisecond), n, strings.Join(cc.calls, ", "))
	// One create per node, one delete per pod (an ended one during the
	// run, one that never ended at cleanup), and a constant rest: list+watch, one evidence round (events + a GET per
	// late node), cleanup's list/deletecollection/watch/list. Far below one
	// GET per pod per second.
	if max := int64(2*7 + 12); n > max {
		t.Errorf("%d API requests for 7 nodes, want <= %d", n, max)
	}
}

// TestIntegrationCancel interrupts a run whose pods never start (no
// kubelet confirms a graceful delete): every pod must still be gone.
func TestIntegrationCancel(t *testing.T) {
	s := realServer(t)
	admin := s.ClientT(t)
	ns := apiservertest.Namespace(t, admin, nil)
	apiservertest.Nodes(t, admin, newNode("cancel-1").P(), newNode("cancel-2").P())
	plan, err := NewPlan(context.Background(), admin, []string{"cancel-1", "cancel-2"}, "")
	if err != nil {
		t.Fatal(err)
	}
	o := runOptions(ns, "cancel")
	o.NodeTimeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{Client: admin, Options: o, OnProgress: func(p Progress) {
		if len(remainingPodsNoFail(admin, ns)) == 2 {
			cancel()
		}
	}}
	time.AfterFunc(10*time.Second, cancel) // the test's own backstop
	start := time.Now()
	results, err := r.Run(ctx, plan.Targets)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, nr := range results {
		if nr.Classification == nil || nr.Classification.Code != CodeRunTimeout ||
			!strings.Contains(nr.Classification.Reason, "interrupted") {
			t.Errorf("node %s: want an interrupted RunTimeout, got %+v", nr.Node, nr.Classification)
		}
	}
	if left := remainingPods(t, admin, ns); len(left) > 0 {
		t.Errorf("pods left after cancel: %v", left)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("cancelled run took %s", d)
	}
}

func remainingPodsNoFail(c kubernetes.Interface, ns string) []corev1.Pod {
	list, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: ManagedSelector()})
	if err != nil {
		return nil
	}
	return list.Items
}

// TestIntegrationCleanup removes leftovers of earlier runs in several
// namespaces, pending ones included (they stay Terminating without a
// kubelet until force-deleted), and nothing else.
func TestIntegrationCleanup(t *testing.T) {
	s := realServer(t)
	admin := s.ClientT(t)
	ns1, ns2 := apiservertest.Namespace(t, admin, nil), apiservertest.Namespace(t, admin, nil)
	ctx := context.Background()
	for i, ns := range []string{ns1, ns2, ns2} {
		o := runOptions(ns, "old")
		pod := PodFor("cleanup-node", o)
		if i == 2 {
			pod.Name += "-other"
		}
		if _, err := admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bystander := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bystander", Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	if _, err := admin.CoreV1().Pods(ns1).Create(ctx, bystander, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	res, err := Cleanup(cctx, admin, CleanupOptions{Selector: ManagedSelector(), Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Found != 3 || res.Forced != 3 {
		t.Errorf("Cleanup = %+v, want 3 found, 3 forced (no kubelet confirms)", res)
	}
	for _, ns := range []string{ns1, ns2} {
		if left := remainingPods(t, admin, ns); len(left) > 0 {
			t.Errorf("namespace %s: pods left: %v", ns, left)
		}
	}
	if _, err := admin.CoreV1().Pods(ns1).Get(ctx, "bystander", metav1.GetOptions{}); err != nil {
		t.Errorf("cleanup touched a pod that is not ours: %v", err)
	}
}

// TestIntegrationSocketPerNode: with no --socket, each node's pod mounts
// and probes the socket SocketFor gives for that node (the kubelet's
// containerRuntimeEndpoint, in check), and /run with discovery where it
// gives none.
func TestIntegrationSocketPerNode(t *testing.T) {
	s := realServer(t)
	admin := s.ClientT(t)
	ns := apiservertest.Namespace(t, admin, nil)
	apiservertest.Nodes(t, admin, newNode("sock-k3s").P(), newNode("sock-unknown").P(), newNode("sock-default").P())
	apiservertest.SimulateKubelet(t, admin, ns, ManagedSelector(), map[string]apiservertest.Behavior{
		"sock-k3s":     apiservertest.FinishWith(apiservertest.ProbeResult("sock-k3s", checks.Healthy, "ok"), 0),
		"sock-unknown": apiservertest.FinishWith(apiservertest.ProbeResult("sock-unknown", checks.Healthy, "ok"), 0),
		"sock-default": apiservertest.FinishWith(apiservertest.ProbeResult("sock-default", checks.Healthy, "ok"), 0),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The pods as the runner sends them: the create requests' bodies.
	var mu sync.Mutex
	got := map[string][]any{}
	cfg := s.AdminConfig()
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/pods") && r.GetBody != nil {
				rc, _ := r.GetBody()
				b, _ := io.ReadAll(rc)
				obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(b, nil, nil)
				if p, ok := obj.(*corev1.Pod); err == nil && ok {
					sock := ""
					for i, a := range p.Spec.Containers[0].Args {
						if a == "--socket" {
							sock = p.Spec.Containers[0].Args[i+1]
						}
					}
					mu.Lock()
					got[p.Spec.NodeName] = []any{sock, mountsOf(p)}
					mu.Unlock()
				}
			}
			return rt.RoundTrip(r)
		})
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(ctx, client, []string{"sock-k3s", "sock-unknown", "sock-default"}, "")
	if err != nil {
		t.Fatal(err)
	}
	o := runOptions(ns, "sock")
	o.Socket = ""
	var asked sync.Map
	r := &Runner{Client: client, Options: o, SocketFor: func(_ context.Context, node string) string {
		asked.Store(node, true)
		return map[string]string{"sock-k3s": "/run/k3s/containerd/containerd.sock", "sock-default": DefaultSocket}[node]
	}}
	results, err := r.Run(ctx, plan.Targets)
	if err != nil || len(results) != 3 {
		t.Fatalf("Run: %d results, %v", len(results), err)
	}
	for _, nr := range results {
		if nr.Result == nil || nr.Result.Verdict != checks.Healthy {
			t.Errorf("%s: %+v, want the simulated Healthy result", nr.Node, nr)
		}
	}
	want := map[string][]any{
		"sock-k3s":     {"/run/k3s/containerd/containerd.sock", []string{"/run -> /host/run (Directory, ro)"}},
		"sock-unknown": {"", []string{"/run -> /host/run (Directory, ro)"}},
		"sock-default": {DefaultSocket, []string{"/run/containerd -> /host/run/containerd (Directory, ro)"}},
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pods as created, [--socket mounts] (-want +got):\n%s", diff)
	}
	for _, n := range []string{"sock-k3s", "sock-unknown", "sock-default"} {
		if _, ok := asked.Load(n); !ok {
			t.Errorf("SocketFor not asked for %s", n)
		}
	}
}

// TestIntegrationEarlyVerdicts: evidence that already decides a node (the
// kubelet's sandbox deadline event, a node whose runtime is down, or is
// found down later, the runner's Decided hook) ends the node's wait at its
// early check, a third of --node-timeout; a node already not Ready when the
// run plans it is looked at after 5 s; a pod with nothing to say still
// waits for the whole budget. It failed before the early rounds: every
// pending node took the full budget.
func TestIntegrationEarlyVerdicts(t *testing.T) {
	s := realServer(t)
	admin := s.ClientT(t)
	ns := apiservertest.Namespace(t, admin, nil)
	down := newNode("early-down").ready(corev1.ConditionFalse, "KubeletNotReady", "container runtime is down").P()
	apiservertest.Nodes(t, admin, down, newNode("early-sandbox").P(), newNode("early-ok").P(), newNode("early-silent").P(), newNode("early-turns").P(),
		newNode("early-decided").P())
	// early-turns is Ready when the run plans it; its runtime goes down as
	// its pod arrives (the kubelet's status says so a moment later).
	turnsDown := func(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, report func(error)) {
		n, err := c.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			report(err)
			return
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady", Message: "container runtime is down"}}
		if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
			report(err)
		}
	}
	apiservertest.SimulateKubelet(t, admin, ns, ManagedSelector(), map[string]apiservertest.Behavior{
		"early-turns":   turnsDown,
		"early-decided": apiservertest.Silent,
		"early-down":    apiservertest.Silent,
		"early-sandbox": apiservertest.SandboxTimeout,
		"early-ok":      apiservertest.FinishWith(apiservertest.ProbeResult("early-ok", checks.Healthy, "ok"), 0),
		"early-silent":  apiservertest.Silent,
	})
	plan, err := NewPlan(context.Background(), admin, []string{"early-down", "early-sandbox", "early-ok", "early-silent", "early-turns", "early-decided"}, "")
	if err != nil {
		t.Fatal(err)
	}
	o := runOptions(ns, "early")
	o.NodeTimeout = 30 * time.Second // early checks every 10 s; 5 s for a node not Ready at the start
	// Evidence from outside the pod (check: the kubelet's stuck CRI reads)
	// decides early-decided at its first early round.
	decided := func(node string) *Classification {
		if node != "early-decided" {
			return nil
		}
		return &Classification{Verdict: checks.Unresponsive, Code: "KubeletCRIStuck", Reason: "kubelet's CRI reads stuck"}
	}
	results, err := (&Runner{Client: admin, Options: o, Decided: decided}).Run(context.Background(), plan.Targets)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	took := map[string]time.Duration{}
	for _, nr := range results {
		took[nr.Node] = time.Duration(nr.DurationMs) * time.Millisecond
		switch {
		case nr.Result != nil:
			got[nr.Node] = string(nr.Result.Verdict)
		case nr.Classification != nil:
			got[nr.Node] = string(nr.Classification.Verdict) + " " + string(nr.Classification.Code)
		}
	}
	want := map[string]string{
		"early-down": "Unresponsive RuntimeDown", "early-sandbox": "Unresponsive SandboxTimeout",
		"early-ok": "Healthy", "early-silent": "Inconclusive PodStartTimeout", "early-turns": "Unresponsive RuntimeDown",
		"early-decided": "Unresponsive KubeletCRIStuck",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	for n, at := range map[string]time.Duration{"early-down": 5 * time.Second, "early-sandbox": 10 * time.Second,
		"early-turns": 10 * time.Second, "early-decided": 10 * time.Second} {
		if d := took[n]; d < at-time.Second || d > at+4*time.Second {
			t.Errorf("%s decided after %s, want at its early check (~%s), not at --node-timeout %s", n, d, at, o.NodeTimeout)
		}
	}
	if d := took["early-silent"]; d < o.NodeTimeout-time.Second {
		t.Errorf("early-silent decided after %s, want the whole budget %s (nothing decides it early)", d, o.NodeTimeout)
	}
	for _, nr := range results {
		if nr.Node == "early-decided" && (nr.Classification == nil || len(nr.Classification.Evidence) == 0 || nr.Classification.Evidence[0].Source != "pod") {
			t.Errorf("early-decided: %+v, want the pod's state in the evidence beside what decided it", nr.Classification)
		}
	}
	if left := remainingPods(t, admin, ns); len(left) > 0 {
		t.Errorf("pods left: %v", left)
	}
}
