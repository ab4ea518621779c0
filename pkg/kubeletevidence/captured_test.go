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
