package stall

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

// Real captures of the local cluster (pkg/kubeletevidence/testdata/capture.sh).
const captures = "../kubeletevidence/testdata/"

func capture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(captures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// apiServer is a fake API server: node-proxy answers by "NODE/PATH", and a
// pod list per node (by the spec.nodeName field selector).
type apiServer struct {
	mu       sync.Mutex
	proxy    map[string]http.HandlerFunc
	pods     map[string][]corev1.Pod
	podsCode int
	requests []string
}

func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests = append(a.requests, r.Method+" "+r.URL.Path)
	a.mu.Unlock()
	if r.URL.Path == "/api/v1/pods" {
		if a.podsCode != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(a.podsCode)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}`))
			return
		}
		node := strings.TrimPrefix(r.URL.Query().Get("fieldSelector"), "spec.nodeName=")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: a.pods[node]})
		return
	}
	rest, _ := strings.CutPrefix(r.URL.Path, "/api/v1/nodes/")
	node, path, _ := strings.Cut(rest, "/proxy/")
	if h := a.proxy[node+"/"+path]; h != nil {
		h(w, r)
		return
	}
	for k := range a.proxy {
		if strings.HasPrefix(k, node+"/") {
			// A kubelet that serves some paths: the others are not there
			// (RBAC cannot tell one kubelet path from another).
			http.NotFound(w, r)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"nodes \"` + node + `\" is forbidden: User \"x\" cannot get resource \"nodes/proxy\"","reason":"Forbidden","code":403}`))
}

func body(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(b) }
}

func client(t *testing.T, a *apiServer) kubernetes.Interface {
	t.Helper()
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// fakeClock advances only when the collector sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return nil
}

var t0 = time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)

func node(name string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", ContainerRuntimeVersion: "containerd://1.6.20"}}}
}

func runningPod(name, managedBy string, started time.Time, ids ...string) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{}}}
	if managedBy != "" {
		p.Labels[nodeexec.ManagedByLabel] = managedBy
	}
	for _, id := range ids {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{ContainerID: "containerd://" + id,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}})
	}
	return p
}

const (
	stuckID   = "1111111111111111111111111111111111111111111111111111111111111111"
	seenID    = "cb20e1f0c2b120d65104d33795cbce944b09dafcfb4e689697359d0d44c20efd"
	probePods = "kubectl-cadvisor-doctor"
)

func TestCollectorNodeStalledFromRealCaptures(t *testing.T) {
	a := &apiServer{proxy: map[string]http.HandlerFunc{
		"node-3/debug/pprof/goroutine": body(capture(t, "captured-node-3-stalled-taskpid-goroutine.txt")),
		"node-3/metrics/cadvisor":      body(capture(t, "captured-node-3-stalled-taskpid-metrics-cadvisor.txt")),
		"node-3/stats/summary":         body([]byte(`{"node":{}}`)),
		"node-3/configz":               body(capture(t, "captured-node-3-stalled-taskpid-configz.json")),
	}, pods: map[string][]corev1.Pod{"node-3": {
		runningPod("app", "", t0.Add(-time.Minute), stuckID),
		runningPod("new", "", t0.Add(-time.Second), "2222222222222222222222222222222222222222222222222222222222222222"),
		runningPod("probe", probePods, t0.Add(-time.Minute), "3333333333333333333333333333333333333333333333333333333333333333"),
	}}}
	clk := &fakeClock{t: t0}
	c := &Collector{Client: client(t, a), Now: clk.Now, Sleep: clk.Sleep, Options: Options{IgnoreManagedBy: probePods}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ev := c.Node(ctx, node("node-3"))

	if !ev.Stalled || ev.Dumps != 2 {
		t.Fatalf("Stalled=%v Dumps=%d, want a stall decided by a second dump; reason %q", ev.Stalled, ev.Dumps, ev.Reason)
	}
	g := ev.Goroutines
	if g.Blocked < 1 || g.Longest == nil || g.Longest.CAdvisorMethod != "TaskPid" ||
		g.Longest.GRPCMethod != "/containerd.services.tasks.v1.Tasks/Get" || g.LongestWait != DefaultResampleAfter {
		t.Errorf("goroutines = %+v, longest %+v; want TaskPid blocked for the resample interval", g, g.Longest)
	}
	for _, want := range []string{"goroutine(s) blocked", ">= 6s", "TaskPid", "Tasks/Get"} {
		if !strings.Contains(ev.Reason, want) {
			t.Errorf("reason %q lacks %q", ev.Reason, want)
		}
	}
	if diff := cmp.Diff(&kubeletevidence.Coverage{Running: 1, Missing: []string{stuckID}}, ev.Metrics.Coverage); diff != "" {
		t.Errorf("coverage (-want +got):\n%s", diff)
	}
	if ev.RuntimeEndpoint != "unix:///run/k3s/containerd/containerd.sock" || ev.Summary == nil || !ev.Summary.Answered {
		t.Errorf("endpoint %q summary %+v", ev.RuntimeEndpoint, ev.Summary)
	}
	if len(ev.Unavailable) != 0 || len(ev.Advisories) == 0 {
		t.Errorf("unavailable %v, advisories %d", ev.Unavailable, len(ev.Advisories))
	}
	var codes []nodeexec.Code
	for _, f := range Findings(ev) {
		codes = append(codes, f.Code)
	}
	if diff := cmp.Diff([]nodeexec.Code{report.CodeCAdvisorStalled, report.CodeCAdvisorMissingContainers}, codes); diff != "" {
		t.Errorf("finding codes (-want +got):\n%s", diff)
	}
}

func TestCollectorNodeHealthyFromRealCaptures(t *testing.T) {
	a := &apiServer{proxy: map[string]http.HandlerFunc{
		"node-1/debug/pprof/goroutine": body(capture(t, "captured-node-1-idle-goroutine.txt")),
		"node-1/metrics/cadvisor":      body(capture(t, "captured-node-1-pod-metrics-cadvisor.txt")),
		"node-1/stats/summary":         body([]byte(`{}`)),
		"node-1/configz":               body(capture(t, "captured-node-1-idle-configz.json")),
	}, pods: map[string][]corev1.Pod{"node-1": {runningPod("app", "", t0.Add(-time.Minute), seenID)}}}
	clk := &fakeClock{t: t0}
	c := &Collector{Client: client(t, a), Now: clk.Now, Sleep: clk.Sleep}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ev := c.Collect(ctx, []corev1.Node{node("node-1")})["node-1"]
	if ev == nil || ev.Stalled || ev.Dumps != 1 || ev.Goroutines.Blocked != 0 {
		t.Fatalf("evidence %+v, want one dump with nothing blocked", ev)
	}
	// Nothing in flight: the dump, the metrics (is cAdvisor's containerd
	// factory registered: issue 8) and configz (the kubelet's socket), no
	// summary and no pod list: a healthy node stays inside the per-node
	// request budget.
	if ev.Metrics == nil || ev.Metrics.Registration.State != kubeletevidence.RegistrationRegistered || ev.Summary != nil ||
		ev.RuntimeEndpoint != "unix:///run/containerd/containerd.sock" {
		t.Errorf("metrics %+v, summary %+v, endpoint %q: want registered metrics, no summary, the default endpoint", ev.Metrics, ev.Summary, ev.RuntimeEndpoint)
	}
	a.mu.Lock()
	reqs := append([]string(nil), a.requests...)
	a.mu.Unlock()
	sort.Strings(reqs)
	if want := []string{"GET /api/v1/nodes/node-1/proxy/configz", "GET /api/v1/nodes/node-1/proxy/debug/pprof/goroutine", "GET /api/v1/nodes/node-1/proxy/metrics/cadvisor"}; !cmp.Equal(reqs, want) {
		t.Errorf("requests %v, want only %v", reqs, want)
	}
	if f := Findings(ev); len(f) != 0 {
		t.Errorf("findings %v, want none", f)
	}
	it := ItemWithoutPod(node("node-1"), ev)
	if it.Verdict != report.Healthy {
		t.Errorf("no-pod verdict %s (%s), want Healthy", it.Verdict, it.Reason)
	}
}

func TestCollectorForbiddenFallsBack(t *testing.T) {
	a := &apiServer{podsCode: http.StatusForbidden}
	c := &Collector{Client: client(t, a)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ev := c.Node(ctx, node("node-1"))
	if ev.Stalled || ev.Goroutines != nil || ev.Metrics != nil {
		t.Fatalf("evidence %+v, want nothing read", ev)
	}
	a.mu.Lock()
	listed := strings.Contains(strings.Join(a.requests, " "), "GET /api/v1/pods")
	a.mu.Unlock()
	if listed {
		t.Errorf("neither dump nor metrics, but the node's pods were listed for nothing")
	}
	// The other paths go through the same forbidden route: asked once.
	if len(ev.Unavailable) != 1 || len(a.requests) != 1 {
		t.Fatalf("unavailable %+v after requests %v, want the dump's refusal alone", ev.Unavailable, a.requests)
	}
	for _, u := range ev.Unavailable {
		if u.Code != kubeletevidence.UnavailableForbidden || !strings.Contains(u.Reason, "nodes/proxy") {
			t.Errorf("unavailable %+v, want forbidden naming nodes/proxy", u)
		}
	}
	it := ItemWithoutPod(node("node-1"), ev)
	if it.Verdict != report.Inconclusive || !strings.Contains(it.Reason, "no goroutine dump") {
		t.Errorf("no-pod item %s %q, want Inconclusive saying there is no dump", it.Verdict, it.Reason)
	}
}

func TestCollectorNoTimeForSecondDump(t *testing.T) {
	a := &apiServer{proxy: map[string]http.HandlerFunc{
		"n/debug/pprof/goroutine": body(capture(t, "captured-node-3-stalled-taskpid-goroutine.txt")),
	}}
	start := time.Now()
	clk := &fakeClock{t: start}
	c := &Collector{Client: client(t, a), Now: clk.Now, Sleep: clk.Sleep}
	// A deadline 3 s away leaves less than the 6 s pause plus a request.
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(3*time.Second))
	defer cancel()
	ev := c.Node(ctx, node("n"))
	if ev.Stalled || ev.Dumps != 1 || ev.Goroutines == nil || !ev.Goroutines.NeedsResample {
		t.Fatalf("evidence %+v, want one undecided dump", ev)
	}
	if f := Findings(ev); len(f) == 0 || f[0].Code != report.CodeCAdvisorCallInFlight {
		t.Errorf("findings %v, want %s first", f, report.CodeCAdvisorCallInFlight)
	}
	if it := ItemWithoutPod(node("n"), ev); it.Verdict != report.Inconclusive {
		t.Errorf("no-pod verdict %s, want Inconclusive", it.Verdict)
	}
}

// With debug handlers off there is no dump: the metrics' comparison is the
// only stall signal left, so the node's pods are listed for it.
func TestCollectorDebugHandlersOffComparesMetrics(t *testing.T) {
	a := &apiServer{proxy: map[string]http.HandlerFunc{
		"node-3/debug/pprof/goroutine": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_, _ = w.Write([]byte("Debug endpoints are disabled.\n"))
		},
		"node-3/metrics/cadvisor": body(capture(t, "captured-node-3-stalled-taskpid-metrics-cadvisor.txt")),
		"node-3/stats/summary":    body([]byte(`{}`)),
		// Without debugging handlers /configz is not installed at all.
		"node-3/configz": func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
	}, pods: map[string][]corev1.Pod{"node-3": {runningPod("app", "", t0.Add(-time.Minute), stuckID)}}}
	clk := &fakeClock{t: t0}
	c := &Collector{Client: client(t, a), Now: clk.Now, Sleep: clk.Sleep}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ev := c.Node(ctx, node("node-3"))
	if ev.Stalled || ev.Goroutines != nil || ev.Metrics == nil || ev.Metrics.Coverage == nil || len(ev.Metrics.Coverage.Missing) != 1 {
		t.Fatalf("evidence %+v (metrics %+v), want no dump and one running container missing from the metrics", ev, ev.Metrics)
	}
	var codes []nodeexec.Code
	for _, f := range Findings(ev) {
		codes = append(codes, f.Code)
	}
	want := []nodeexec.Code{report.CodeCAdvisorMissingContainers, kubeletevidence.UnavailableDebugHandlersOff}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("finding codes (-want +got):\n%s", diff)
	}
	if it := ItemWithoutPod(node("node-3"), ev); it.Verdict != report.Inconclusive {
		t.Errorf("no-pod verdict %s, want Inconclusive (no dump decides nothing)", it.Verdict)
	}
}

// TestCollectorNotRegisteredFromRealCaptures: node-3 of issue 8's capture
// (containerd on the k3s socket, nothing where cAdvisor dials): the
// registration finding names the kubelet's socket and the unlabeled
// container; the verdict the probe gave stays, and the reason says why
// container metrics lack labels.
func TestCollectorNotRegisteredFromRealCaptures(t *testing.T) {
	const app = "53d1bef71e9a8ceac1b45595067f548e2f74f6dc0be9c00feb96a097f24810d5"
	a := &apiServer{proxy: map[string]http.HandlerFunc{
		"node-3/debug/pprof/goroutine": body(capture(t, "captured-node-1-idle-goroutine.txt")),
		"node-3/metrics/cadvisor":      body(capture(t, "captured-node-3-k3s-socket-unregistered-metrics-cadvisor.txt")),
		"node-3/configz":               body(capture(t, "captured-node-3-k3s-socket-unregistered-configz.json")),
	}, pods: map[string][]corev1.Pod{"node-3": {runningPod("app-node-3", "", t0.Add(-time.Minute), app)}}}
	clk := &fakeClock{t: t0}
	c := &Collector{Client: client(t, a), Now: clk.Now, Sleep: clk.Sleep}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ev := c.Node(ctx, node("node-3"))
	if ev.RuntimeEndpoint != "unix:///run/k3s/containerd/containerd.sock" || ev.Metrics == nil ||
		ev.Metrics.Registration.State != kubeletevidence.RegistrationNotRegistered || ev.Metrics.Coverage == nil {
		t.Fatalf("evidence %+v, want the k3s endpoint and unregistered metrics compared with the pods", ev)
	}
	f := Findings(ev)
	want := report.Finding{Code: report.CodeCAdvisorNotRegistered, Message: "container metrics lack image/name labels: none of the 2 container cgroups in /metrics/cadvisor carries them " +
		"(1 of 1 running containers unlabeled): the kubelet's cAdvisor has no containerd view (its containerd factory did not register when the kubelet started); " +
		"cAdvisor dials /run/containerd/containerd.sock, kubelet uses /run/k3s/containerd/containerd.sock"}
	if len(f) == 0 || !cmp.Equal(f[0], want) {
		t.Fatalf("findings %+v, want first %+v", f, want)
	}
	it := report.Item{Node: "node-3", Verdict: report.Healthy, Reason: "4 containers: all answered"}
	Apply(&it, ev)
	if it.Verdict != report.Healthy || it.Reason != "4 containers: all answered; "+want.Message {
		t.Errorf("item %s %q, want Healthy with the registration finding in the reason", it.Verdict, it.Reason)
	}
	if it := ItemWithoutPod(node("node-3"), ev); it.Verdict != report.Healthy || !strings.HasSuffix(it.Reason, "(no probe: --no-pod); "+want.Message) {
		t.Errorf("no-pod item %s %q, want Healthy with the registration finding in the reason", it.Verdict, it.Reason)
	}
	// The probe already said why: the reason does not say it twice.
	probeSaid := "cAdvisor dials /run/containerd/containerd.sock (missing); kubelet uses /run/k3s/containerd/containerd.sock: cAdvisor has no containerd view, container metrics lack image/name labels"
	it = report.Item{Node: "node-3", Verdict: report.Healthy, Reason: probeSaid,
		Findings: []report.Finding{{Code: checks.CodeCadvisorSocketMissing, Message: probeSaid}}}
	before := it.Reason
	Apply(&it, ev)
	if it.Reason != before || len(it.Findings) < 2 || it.Findings[1].Code != report.CodeCAdvisorNotRegistered {
		t.Errorf("item %q findings %+v, want the reason unchanged and the finding kept", it.Reason, it.Findings)
	}
}

// TestConfigsOneReadWaitedForBriefly: the pod path gives up on a slow
// /configz after its own short wait, but the read goes on (bounded by its
// own timeout) and the evidence, asking later, gets its answer; the kubelet
// is asked once.
func TestConfigsOneReadWaitedForBriefly(t *testing.T) {
	release := make(chan struct{})
	a := &apiServer{proxy: map[string]http.HandlerFunc{
		"slow/configz": func(w http.ResponseWriter, r *http.Request) {
			<-release
			_, _ = w.Write(capture(t, "captured-node-3-k3s-socket-unregistered-configz.json"))
		},
	}}
	cs := &Configs{Client: client(t, a), Timeout: 10 * time.Second}
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if got := cs.Get(short, "slow"); got.RuntimeSocket() != "" || got.Unavailable == nil {
		t.Errorf("short wait: %+v, want nothing yet", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the short wait took %s", d)
	}
	close(release)
	long, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if got := cs.Get(long, "slow").RuntimeSocket(); got != "/run/k3s/containerd/containerd.sock" {
		t.Errorf("later wait: socket %q, want the k3s socket from the one read", got)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.requests) != 1 {
		t.Errorf("requests %v, want one /configz read", a.requests)
	}
}
