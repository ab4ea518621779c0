package kubeletevidence

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Captures from the local cluster (hack/e2e-cluster, kubelet v1.37.2,
// containerd 1.6.20), read through the API server's node proxy with
// `kubectl get --raw /api/v1/nodes/node-1/proxy/...` while node-1 ran no pod.

func TestCapturedIdleNode(t *testing.T) {
	d := parseFixture(t, "captured-node-1-idle-goroutine.txt")
	if d.Goroutines != 161 || len(d.Blocked) != 0 || len(d.LockWaiters) != 0 || d.Truncated {
		t.Errorf("goroutine dump: %d goroutines, %d blocked, %d lock waiters, truncated %v; want 161 0 0 false",
			d.Goroutines, len(d.Blocked), len(d.LockWaiters), d.Truncated)
	}
	if a := Assess([]Sample{{d, t0}}, 0); a.Stalled || a.NeedsResample || a.Reason != "no goroutine blocked in a containerd call" {
		t.Errorf("assessment of a healthy kubelet: %+v", a)
	}

	m, err := ParseCAdvisorMetrics(bytes.NewReader(readFixture(t, "captured-node-1-idle-metrics-cadvisor.txt")), 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range m.Containers {
		ids = append(ids, c.ID)
	}
	wantIDs := []string{"/", "/kcd-e2e/daemons/node-1", "/kcd-e2e/node-1/kubepods", "/kcd-e2e/node-1/kubepods/besteffort", "/kcd-e2e/node-1/kubepods/burstable"}
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("cgroups (-want +got):\n%s", diff)
	}
	if !m.HasScrapeError || m.ScrapeError != 0 || m.Truncated || m.ParseError != "" {
		t.Errorf("scrape error %v/%v truncated %v parse %q", m.HasScrapeError, m.ScrapeError, m.Truncated, m.ParseError)
	}
	if got, want := m.NewestSample(), time.UnixMilli(1796339905621).UTC(); !got.Equal(want) {
		t.Errorf("newest sample %v, want %v", got, want)
	}
	if r := m.Registration(); r.State != RegistrationNoContainers {
		t.Errorf("registration %+v, want NoContainers on a node without pods", r)
	}

	c, err := ParseConfigz(bytes.NewReader(readFixture(t, "captured-node-1-idle-configz.json")), 0)
	if err != nil {
		t.Fatal(err)
	}
	sock, _ := c.RuntimeSocketPath()
	pprof, _ := c.ProfilingEnabled()
	got := []any{sock, c.RuntimeRequestTimeout, c.CgroupRoot, c.CgroupDriver, pprof}
	want := []any{"/run/containerd/containerd.sock", 30 * time.Second, "/kcd-e2e/node-1", "cgroupfs", true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("configz [socket timeout cgroupRoot driver pprof] (-want +got):\n%s", diff)
	}
}

// TestCapturedPodSandbox: node-1 right after a probe pod completed: its
// container's cgroup is gone, the pod sandbox's remains, labeled by cAdvisor's
// containerd handler (so the factory registered on this node).
func TestCapturedPodSandbox(t *testing.T) {
	m, err := ParseCAdvisorMetrics(bytes.NewReader(readFixture(t, "captured-node-1-pod-metrics-cadvisor.txt")), 0)
	if err != nil {
		t.Fatal(err)
	}
	const sandbox = "cb20e1f0c2b120d65104d33795cbce944b09dafcfb4e689697359d0d44c20efd"
	wantReg := Registration{State: RegistrationRegistered, ContainerCgroups: 1, Labeled: 1}
	if diff := cmp.Diff(wantReg, m.Registration()); diff != "" {
		t.Errorf("registration (-want +got):\n%s", diff)
	}
	var got *ContainerSeries
	for i := range m.Containers {
		if m.Containers[i].ContainerID == sandbox {
			got = &m.Containers[i]
		}
	}
	if got == nil {
		t.Fatalf("sandbox %s not found in %d cgroups", sandbox, len(m.Containers))
	}
	want := []any{got.Image, got.Name, got.Pod, got.Namespace, got.Container, len(m.Containers)}
	if diff := cmp.Diff([]any{"registry.k8s.io/pause:3.10", sandbox, "probe-node-1", "smoke-vlmjn", "", 7}, want); diff != "" {
		t.Errorf("sandbox [image name pod namespace container cgroups] (-want +got):\n%s", diff)
	}
	// the probe container (379dfb7b...) had exited: the CRI would not list it
	// as running; a running id absent from the metrics is reported missing
	cov := m.Coverage([]string{sandbox, "379dfb7bd287bc258cc6292d2d020646532a2aa96015fa8032a874089140d218"})
	if diff := cmp.Diff(Coverage{Running: 2, WithSeries: 1, Labeled: 1, Missing: []string{"379dfb7bd287bc258cc6292d2d020646532a2aa96015fa8032a874089140d218"}}, cov); diff != "" {
		t.Errorf("coverage (-want +got):\n%s", diff)
	}
}

// TestHarnessCAdvisorManager: dumps of a process running the real cAdvisor
// manager as the kubelet creates it (manager.New + Start, containerd factory
// registered through its plugin) against an in-process containerd API server
// whose Tasks/Get never answers; a container cgroup (64-hex name) created after
// Start under a throwaway cgroup root is discovered by watchForNewContainers,
// and a reader calls GetContainerInfoV2. The frames are cAdvisor's own:
//   - lib v0.60.5 (kubelet 1.37): the event goroutine is stuck in TaskPid, the
//     reader returned (sync.Map);
//   - v0.47.2 (kubelet 1.27.4+): the same, plus the reader parked on the
//     containers lock for as long as the call hangs (kubernetes#102481).
func TestHarnessCAdvisorManager(t *testing.T) {
	stuck := func(id int64, caller string) BlockedCall {
		return BlockedCall{GoroutineID: id, State: "select", Kind: KindCAdvisor, CAdvisorMethod: "TaskPid",
			GRPCMethod: "/containerd.services.tasks.v1.Tasks/Get", Site: "newContainerdContainerHandler",
			Caller: caller, CreatedBy: "manager.(*manager).watchForNewContainers"}
	}
	tests := []struct {
		fixture string
		want    *GoroutineDump
	}{
		{"harness-cadvisor-lib-v0.60.5-manager-goroutine.txt", &GoroutineDump{Goroutines: 19,
			Blocked: []BlockedCall{stuck(51, "(*manager).createContainer")}}},
		{"harness-cadvisor-v0.47.2-manager-goroutine.txt", &GoroutineDump{Goroutines: 23,
			Blocked:     []BlockedCall{stuck(49, "(*manager).createContainerLocked")},
			LockWaiters: []LockWaiter{{GoroutineID: 58, State: "sync.RWMutex.RLock", Function: "(*manager).getSubcontainers"}}}},
		// two container cgroups, dumped 75 s later: not one goroutine per
		// container, but the event loop (stuck on the first, now "1 minutes")
		// and global housekeeping's detectSubcontainers (after its 1 min
		// interval, on the second); the second container waits in the channel.
		{"harness-cadvisor-lib-v0.60.5-manager-2containers-75s-goroutine.txt", &GoroutineDump{Goroutines: 20,
			Blocked: []BlockedCall{
				func() BlockedCall { c := stuck(52, "(*manager).createContainer"); c.WaitMinutes = 1; return c }(),
				func() BlockedCall {
					c := stuck(53, "(*manager).createContainer")
					c.CreatedBy = "manager.(*manager).Start"
					return c
				}(),
			}}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, parseFixture(t, tc.fixture), ignoreSignature); diff != "" {
				t.Errorf("ParseGoroutines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHarnessAssess(t *testing.T) {
	a := Assess([]Sample{{parseFixture(t, "harness-cadvisor-lib-v0.60.5-manager-2containers-75s-goroutine.txt"), t0}}, 0)
	want := "2 goroutine(s) blocked in containerd calls, longest >= 1m0s in cAdvisor TaskPid (/containerd.services.tasks.v1.Tasks/Get) from newContainerdContainerHandler"
	if !a.Stalled || a.Blocked != 2 || a.Reason != want {
		t.Errorf("Assess = stalled %v blocked %d reason %q; want true 2 %q", a.Stalled, a.Blocked, a.Reason, want)
	}
	a = Assess([]Sample{{parseFixture(t, "harness-cadvisor-v0.47.2-manager-goroutine.txt"), t0}}, 0)
	if a.Stalled || !a.NeedsResample || a.LockWaiters != 1 {
		t.Errorf("3 s into the stall: stalled %v resample %v lock waiters %d; want false true 1", a.Stalled, a.NeedsResample, a.LockWaiters)
	}
}

// TestCapturedStall: node-3 of the local cluster during the issue-7
// reproduction (containerd on /run/k3s/containerd/containerd.sock for the
// CRI, a fault proxy on /run/containerd/containerd.sock hanging Tasks/Get,
// kubelet restarted, pod "stall" started), captured by the same three GETs
// (the goroutine dump went through a shell variable, which strips the final
// newline; it is restored). The node is Ready and the pod Running, but the
// kubelet's cAdvisor has its event loop stuck in TaskPid, and its metrics
// have the pod's cgroup but none of its container cgroups.
func TestCapturedStall(t *testing.T) {
	d := parseFixture(t, "captured-node-3-stalled-taskpid-goroutine.txt")
	want := &GoroutineDump{Goroutines: 168, Blocked: []BlockedCall{{
		GoroutineID: 516, State: "select", Kind: KindCAdvisor, CAdvisorMethod: "TaskPid",
		GRPCMethod: "/containerd.services.tasks.v1.Tasks/Get", Site: "newContainerdContainerHandler",
		Caller: "(*manager).createContainer", CreatedBy: "manager.(*manager).watchForNewContainers",
	}}}
	if diff := cmp.Diff(want, d, ignoreSignature); diff != "" {
		t.Errorf("ParseGoroutines (-want +got):\n%s", diff)
	}
	if a := Assess([]Sample{{d, t0}}, 0); a.Stalled || !a.NeedsResample || a.Blocked != 1 {
		t.Errorf("one dump seconds into the stall must ask for a second one: %+v", a)
	}

	m, err := ParseCAdvisorMetrics(bytes.NewReader(readFixture(t, "captured-node-3-stalled-taskpid-metrics-cadvisor.txt")), 0)
	if err != nil {
		t.Fatal(err)
	}
	const stallPod = "16f2982963521d49db228ae7bc3350a0aea76f996a52993ff46ecfeeb8c2c1dd" // pod "stall", container "sleep", running
	got := []any{m.HasScrapeError, m.ScrapeError, len(m.Containers), m.Registration().State, m.Coverage([]string{stallPod}).Missing}
	wantM := []any{true, 0.0, 6, RegistrationNoContainers, []string{stallPod}}
	if diff := cmp.Diff(wantM, got); diff != "" {
		t.Errorf("metrics [scrape_error? value cgroups registration missing] (-want +got):\n%s", diff)
	}

	c, err := ParseConfigz(bytes.NewReader(readFixture(t, "captured-node-3-stalled-taskpid-configz.json")), 0)
	if err != nil {
		t.Fatal(err)
	}
	if sock, _ := c.RuntimeSocketPath(); sock != "/run/k3s/containerd/containerd.sock" {
		t.Errorf("CRI socket %q, want the k3s-style path", sock)
	}
}

// TestCapturedRegistration: issue 8's node pair, captured in one run of the
// local cluster with one pause pod per node (kcd-i8: node-3's containerd on
// /run/k3s/containerd/containerd.sock, nothing on /run/containerd/containerd.sock
// when its kubelet started; node-1 on the default socket). node-3's
// cAdvisor never registered its containerd factory: its container cgroups
// come from the raw handler, without image and name. The running ids are
// the pods' containerStatuses[].containerID of that moment.
func TestCapturedRegistration(t *testing.T) {
	for _, tc := range []struct {
		node, label, socket string
		running             string
		state               string
		labeled, unlabeled  int
		covLabeled          int
		covUnlabeled        []string
	}{
		{"node-3", "k3s-socket-unregistered", "/run/k3s/containerd/containerd.sock",
			"53d1bef71e9a8ceac1b45595067f548e2f74f6dc0be9c00feb96a097f24810d5", RegistrationNotRegistered, 0, 2, 0,
			[]string{"53d1bef71e9a8ceac1b45595067f548e2f74f6dc0be9c00feb96a097f24810d5"}},
		{"node-1", "default-socket-registered", "/run/containerd/containerd.sock",
			"d6d3024d7d681ef2a69164e63426fcc68ca4563617e346bc3c254cecac6cb7dc", RegistrationRegistered, 2, 0, 1, nil},
	} {
		t.Run(tc.node, func(t *testing.T) {
			c, err := ParseConfigz(bytes.NewReader(readFixture(t, "captured-"+tc.node+"-"+tc.label+"-configz.json")), 0)
			if err != nil {
				t.Fatal(err)
			}
			if sock, err := c.RuntimeSocketPath(); err != nil || sock != tc.socket {
				t.Errorf("kubelet socket %q (%v), want %s", sock, err, tc.socket)
			}
			m, err := ParseCAdvisorMetrics(bytes.NewReader(readFixture(t, "captured-"+tc.node+"-"+tc.label+"-metrics-cadvisor.txt")), 0)
			if err != nil {
				t.Fatal(err)
			}
			r := m.Registration()
			if r.State != tc.state || r.Labeled != tc.labeled || r.Unlabeled != tc.unlabeled {
				t.Errorf("registration %+v, want %s with %d labeled, %d unlabeled", r, tc.state, tc.labeled, tc.unlabeled)
			}
			cov := m.Coverage([]string{tc.running})
			if cov.Running != 1 || cov.WithSeries != 1 || cov.Labeled != tc.covLabeled || len(cov.Missing) != 0 || !cmp.Equal(cov.Unlabeled, tc.covUnlabeled) {
				t.Errorf("coverage %+v, want the running container with series, labeled %d, unlabeled %v", cov, tc.covLabeled, tc.covUnlabeled)
			}
		})
	}
}
