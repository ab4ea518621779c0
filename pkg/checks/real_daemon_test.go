package checks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
)

func TestRealHealthy1000(t *testing.T) {
	d := startDaemon(t, "")
	ids := containerdlab.IDs("healthy", 1000)
	createContainers(t, d, ids)
	r, took := probeSocket(t, d.Address, nil)
	wantVerdict(t, r, Healthy, "1000 containers")
	within(t, "probe of 1000 containers", took, 5*time.Second)
	if r.Containers != 1000 || r.SweptContainers != 1000 {
		t.Errorf("containers %d swept %d, want 1000 and 1000", r.Containers, r.SweptContainers)
	}
	for _, m := range []string{MethodContainersGet, MethodTasksGet} {
		c := callStats(t, r, m)
		if c.Count != 1000 || c.OK != 1000 || c.Timeouts != 0 || c.Errors != 0 {
			t.Errorf("%s: %+v, want 1000 calls all OK", m, c)
		}
		if c.P50Ms <= 0 || c.P50Ms > c.P99Ms || c.P99Ms > c.MaxMs {
			t.Errorf("%s: percentiles p50 %v p99 %v max %v not ordered", m, c.P50Ms, c.P99Ms, c.MaxMs)
		}
	}
	if c := callStats(t, r, MethodTasksGet); c.NotFound != 1000 {
		t.Errorf("Tasks/Get notFound %d, want 1000 (no container has a task)", c.NotFound)
	}
	if r.Containerd.Version == "" || r.Socket.Type != "socket" || !r.Socket.Exists {
		t.Errorf("containerd %+v socket %+v", r.Containerd, r.Socket)
	}
	if r.Daemon == nil || r.Daemon.Process == nil || r.Daemon.Process.PID != d.PID {
		t.Errorf("daemon evidence %+v, want pid %d", r.Daemon, d.PID)
	}
	if r.CRI == nil || r.CRI.RuntimeName != "containerd" {
		t.Errorf("CRI %+v, want runtime containerd", r.CRI)
	}
}

func TestRealFrozenDaemon(t *testing.T) {
	d := startDaemon(t, "")
	createContainers(t, d, containerdlab.IDs("frozen", 20))
	if err := d.Freeze(); err != nil {
		t.Fatal(err)
	}
	r, took := probeSocket(t, d.Address, func(c *Config) { c.Timeout = 10 * time.Second })
	wantVerdict(t, r, Unresponsive, "did not answer Version", d.Address, "state T")
	// Version gets its 2s; the sweep is skipped.
	within(t, "probe of a frozen daemon", took, 2*time.Second+500*time.Millisecond)
	if r.Containers != 0 || len(r.Calls) != 1 {
		t.Errorf("containers %d calls %+v: want the sweep skipped", r.Containers, r.Calls)
	}
}

func TestRealFrozenDaemonShortTimeout(t *testing.T) {
	d := startDaemon(t, "")
	if err := d.Freeze(); err != nil {
		t.Fatal(err)
	}
	r, took := probeSocket(t, d.Address, func(c *Config) { c.Timeout = time.Second; c.CallTimeout = 5 * time.Second })
	wantVerdict(t, r, Unresponsive, "did not answer Version")
	within(t, "probe with --timeout 1s", took, 1500*time.Millisecond)
}

func TestRealKilledDaemon(t *testing.T) {
	d := startDaemon(t, "")
	if err := d.Kill(); err != nil {
		t.Fatal(err)
	}
	r, took := probeSocket(t, d.Address, nil)
	wantVerdict(t, r, Unreachable, "connection refused", d.Address)
	within(t, "probe of a stale socket", took, 500*time.Millisecond)
}

func TestRealSocketPathProblems(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.sock")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"missing", filepath.Join(dir, "missing.sock"), []string{"does not exist"}},
		{"regular file", file, []string{"is a regular file, not a socket"}},
		{"directory", sub, []string{"is a directory, not a socket"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, took := probeSocket(t, tc.path, nil)
			wantVerdict(t, r, Unreachable, append(tc.want, tc.path)...)
			within(t, "probe", took, 200*time.Millisecond)
		})
	}
}

// TestRealLargeSpec: a container whose spec (a huge environment) makes its
// Containers/Get response ~3.5 MiB, over 75% of the 4 MiB limit older
// kubelets' cAdvisor receives. It still answers: Healthy, but flagged.
func TestRealLargeSpec(t *testing.T) {
	d := startDaemon(t, "")
	createContainers(t, d, containerdlab.IDs("small", 20))
	env := make([]string, 0, 3500)
	for i := range 3500 {
		env = append(env, fmt.Sprintf(`"VAR_%04d=%s"`, i, strings.Repeat("x", 1000)))
	}
	spec := []byte(`{"ociVersion":"1.0.2","process":{"args":["/pause"],"cwd":"/","env":[` + strings.Join(env, ",") + `]},"root":{"path":"rootfs"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.CreateContainers(ctx, []string{"huge-env"}, spec); err != nil {
		t.Fatal(err)
	}
	r, took := probeSocket(t, d.Address, nil)
	within(t, "probe", took, 3*time.Second)
	if r.Verdict != Healthy && r.Verdict != Slow {
		t.Errorf("verdict %s (%s), want Healthy or Slow: the call answered", r.Verdict, r.Reason)
	}
	wantVerdict(t, r, r.Verdict, "largest Containers/Get response 3.", "near the 4MiB message limit")
	c := callStats(t, r, MethodContainersGet)
	if c.NearLimit != "4MiB" || c.MaxBytes < len(spec) {
		t.Errorf("Containers/Get maxBytes %d nearLimit %q, want >= %d and 4MiB", c.MaxBytes, c.NearLimit, len(spec))
	}
}

// TestRealContainerd2: the same API and verdicts on containerd 2.x.
func TestRealContainerd2(t *testing.T) {
	bin := containerdlab.RequireV2(t)
	d := startDaemon(t, bin)
	createContainers(t, d, containerdlab.IDs("v2", 200))
	t.Run("healthy", func(t *testing.T) {
		r, took := probeSocket(t, d.Address, nil)
		wantVerdict(t, r, Healthy, "200 containers")
		within(t, "probe", took, 3*time.Second)
		if !strings.HasPrefix(r.Containerd.Version, "2.") || r.CRI == nil || r.CRI.RuntimeName != "containerd" {
			t.Errorf("containerd %+v CRI %+v, want 2.x with CRI", r.Containerd, r.CRI)
		}
		if c := callStats(t, r, MethodTasksGet); c.Count != 200 || c.NotFound != 200 {
			t.Errorf("Tasks/Get %+v, want 200 NotFound", c)
		}
	})
	t.Run("frozen", func(t *testing.T) {
		if err := d.Freeze(); err != nil {
			t.Fatal(err)
		}
		defer d.Thaw()
		r, took := probeSocket(t, d.Address, func(c *Config) { c.CallTimeout = time.Second })
		wantVerdict(t, r, Unresponsive, "did not answer Version", "state T")
		within(t, "probe", took, 1500*time.Millisecond)
	})
}
