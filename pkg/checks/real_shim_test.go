package checks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
)

// stuckShimLab starts a daemon with 50 metadata-only containers and one real
// task, then SIGSTOPs that task's shim. It returns the daemon and shim pid.
func stuckShimLab(t *testing.T, binDir, id string) (*containerdlab.Daemon, int) {
	t.Helper()
	d := startDaemon(t, binDir)
	createContainers(t, d, containerdlab.IDs("meta", 50))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.ImportImage(ctx, containerdlab.SleeperImage(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunTask(ctx, containerdlab.SleeperRef, id); err != nil {
		t.Fatal(err)
	}
	pid, err := d.StopShim(id)
	if err != nil {
		t.Fatal(err)
	}
	return d, pid
}

// wantStuckShim checks the one stuck call; its error must hold one of
// errParts.
func wantStuckShim(t *testing.T, r Result, id string, shimPID int, errParts ...string) {
	t.Helper()
	if len(r.Stuck) != 1 {
		t.Fatalf("stuck %+v, want exactly the one task", r.Stuck)
	}
	s := r.Stuck[0]
	hasPart := false
	for _, p := range errParts {
		hasPart = hasPart || strings.Contains(s.Error, p)
	}
	if s.Method != MethodTasksGet || s.ID != id || !hasPart {
		t.Errorf("stuck %+v, want Tasks/Get for %s with one of %q", s, id, errParts)
	}
	if s.Evidence == nil || s.Evidence.PID != shimPID || s.Evidence.State != "T" {
		t.Errorf("evidence %+v, want shim pid %d in state T", s.Evidence, shimPID)
	}
	if c := callStats(t, r, MethodContainersGet); c.OK != 51 || c.Timeouts != 0 {
		t.Errorf("Containers/Get %+v: want all 51 answered (a stuck shim does not block them)", c)
	}
	if r.Daemon == nil || r.Daemon.Shims != 1 {
		t.Errorf("daemon evidence %+v, want 1 shim", r.Daemon)
	}
}

// TestRealStuckShim: a real task whose shim is SIGSTOPped, with per-call
// deadlines below and above containerd's own 2 s task-state timeout.
func TestRealStuckShim(t *testing.T) {
	d, shimPID := stuckShimLab(t, "", "stuck-task")
	// Below 2s containerd's shim call inherits our deadline: whichever side
	// notices first wins, so the answer is DeadlineExceeded or, a moment
	// before our deadline, OK/UNKNOWN. Both are the stuck shim.
	t.Run("call timeout 1s: DeadlineExceeded or UNKNOWN at 1s", func(t *testing.T) {
		r, took := probeSocket(t, d.Address, func(c *Config) { c.CallTimeout = time.Second })
		wantVerdict(t, r, AtRisk, "Tasks/Get for container stuck-task", "shim pid", "state T")
		wantStuckShim(t, r, "stuck-task", shimPID, "DeadlineExceeded", "UNKNOWN")
		if s := r.Stuck[0]; s.ElapsedMs < 900 || s.ElapsedMs > 1500 {
			t.Errorf("stuck after %.0fms, want ~1000 (our deadline)", s.ElapsedMs)
		}
		within(t, "probe", took, 2*time.Second)
	})
	t.Run("call timeout 3s: containerd 1.6 answers UNKNOWN after 2s", func(t *testing.T) {
		r, took := probeSocket(t, d.Address, func(c *Config) { c.CallTimeout = 3 * time.Second })
		wantVerdict(t, r, AtRisk, "Tasks/Get for container stuck-task", "UNKNOWN", "shim pid")
		wantStuckShim(t, r, "stuck-task", shimPID, "UNKNOWN")
		if c := callStats(t, r, MethodTasksGet); c.Unknown != 1 || c.Timeouts != 0 {
			t.Errorf("Tasks/Get %+v, want 1 unknown and no timeout", c)
		}
		within(t, "probe", took, 3*time.Second)
	})
}

// TestRealStuckShimContainerd2: containerd >= 2.3 answers DeadlineExceeded
// itself after its 2 s task-state timeout, even with a longer client deadline.
func TestRealStuckShimContainerd2(t *testing.T) {
	bin := containerdlab.RequireV2(t)
	d, shimPID := stuckShimLab(t, bin, "stuck-v2")
	if d.Major != 2 {
		t.Fatalf("containerd %s, want 2.x", d.Version)
	}
	r, took := probeSocket(t, d.Address, func(c *Config) { c.CallTimeout = 5 * time.Second })
	wantVerdict(t, r, AtRisk, "Tasks/Get for container stuck-v2", "shim pid")
	wantStuckShim(t, r, "stuck-v2", shimPID, "DeadlineExceeded")
	if s := r.Stuck[0]; s.ElapsedMs > 4000 {
		t.Errorf("stuck after %.0fms: want containerd's own ~2s, not our 5s", s.ElapsedMs)
	}
	within(t, "probe", took, 3500*time.Millisecond)
}
