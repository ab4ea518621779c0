package checks

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The kubelet's socket is one daemon; cAdvisor's socket (--cadvisor-socket)
// is missing, another daemon, the same daemon through a symlink, or a
// frozen daemon. Never the host's /run/containerd: every path is private.

func TestRealCadvisorSocketMissing(t *testing.T) {
	d := startDaemon(t, "")
	cs := filepath.Join(t.TempDir(), "run", "containerd", "containerd.sock")
	r, took := probeSocket(t, d.Address, func(c *Config) { c.CadvisorSocket = cs; c.Timeout = 10 * time.Second })
	wantVerdict(t, r, Healthy, "cAdvisor dials "+cs+" (missing)", "kubelet uses "+d.Address)
	within(t, "probe with a missing cAdvisor socket", took, 2*time.Second)
	wantFindings(t, r, CodeCadvisorSocketMissing)
	if c := r.CadvisorSocket; c == nil || c.Path != cs || c.Exists || c.SameDaemon != nil || c.Error == "" {
		t.Errorf("cadvisorSocket %+v, want %s not existing, sameDaemon unknown, an error", c, cs)
	}
	if r.Containerd.UUID == "" {
		t.Errorf("containerd.uuid empty, want the daemon's introspection UUID")
	}
}

// TestRealCadvisorSocketOtherDaemon lays the sockets out as the check pod
// sees them: the host's /run/k3s/containerd and /run/containerd bind-mounted
// under --host-root.
func TestRealCadvisorSocketOtherDaemon(t *testing.T) {
	kube, other := startDaemon(t, ""), startDaemon(t, "")
	host := hostRoot(t, map[string]string{"run/k3s/containerd": kube.Dir, "run/containerd": other.Dir})
	const ks, cs = "/run/k3s/containerd/c.sock", "/run/containerd/c.sock"
	r, took := probeSocket(t, ks, func(c *Config) { c.HostRoot = host; c.CadvisorSocket = cs; c.Timeout = 10 * time.Second })
	wantVerdict(t, r, AtRisk, fmt.Sprintf("cAdvisor dials %s (another containerd, %s, pid %d); kubelet uses %s", cs, other.Version, other.PID, ks))
	within(t, "probe with another daemon on cAdvisor's socket", took, 2*time.Second)
	wantFindings(t, r, CodeCadvisorSocketOtherDaemon)
	c := r.CadvisorSocket
	if c == nil || c.Path != cs || !c.Exists || c.Type != "socket" || c.Version != other.Version || c.PeerPID != other.PID ||
		c.UUID == "" || c.SameDaemon == nil || *c.SameDaemon {
		t.Fatalf("cadvisorSocket %+v, want the other daemon (pid %d) and sameDaemon false", c, other.PID)
	}
	if r.Containerd.UUID == "" || r.Containerd.UUID == c.UUID || r.Socket.PeerPID != kube.PID {
		t.Errorf("kubelet's daemon uuid %q peer pid %d; cAdvisor's uuid %q: want two UUIDs and pid %d", r.Containerd.UUID, r.Socket.PeerPID, c.UUID, kube.PID)
	}
	b, err := EncodeCompact(r, TerminationMessageBytes)
	if err != nil || !strings.Contains(string(b), CodeCadvisorSocketOtherDaemon) || !strings.Contains(string(b), `"sameDaemon":false`) {
		t.Errorf("compact encoding lost the finding (%v):\n%s", err, b)
	}
}

func TestRealCadvisorSocketSameDaemon(t *testing.T) {
	d := startDaemon(t, "")
	link := filepath.Join(t.TempDir(), "containerd.sock")
	if err := os.Symlink(d.Address, link); err != nil {
		t.Fatal(err)
	}
	r, took := probeSocket(t, d.Address, func(c *Config) { c.CadvisorSocket = link; c.Timeout = 10 * time.Second })
	wantVerdict(t, r, Healthy, "containers")
	within(t, "probe with the same daemon on both sockets", took, 2*time.Second)
	wantFindings(t, r)
	if strings.Contains(r.Reason, "cAdvisor") {
		t.Errorf("reason %q mentions cAdvisor's socket, want nothing to say", r.Reason)
	}
	c := r.CadvisorSocket
	if c == nil || c.SameDaemon == nil || !*c.SameDaemon || c.UUID == "" || c.UUID != r.Containerd.UUID || c.PeerPID != d.PID {
		t.Errorf("cadvisorSocket %+v, want sameDaemon true, uuid %q, pid %d", c, r.Containerd.UUID, d.PID)
	}
}

func TestRealCadvisorSocketFrozenDaemon(t *testing.T) {
	kube, other := startDaemon(t, ""), startDaemon(t, "")
	if err := other.Freeze(); err != nil {
		t.Fatal(err)
	}
	r, took := probeSocket(t, kube.Address, func(c *Config) { c.CadvisorSocket = other.Address; c.Timeout = 10 * time.Second })
	wantVerdict(t, r, AtRisk, "cAdvisor dials "+other.Address, "did not answer Version", "kubelet uses "+kube.Address)
	// Version there gets its 2s call timeout, beside the kubelet's side.
	within(t, "probe with a frozen daemon on cAdvisor's socket", took, 2*time.Second+700*time.Millisecond)
	wantFindings(t, r, CodeCadvisorSocketUnresponsive)
}

func TestRealCadvisorSocketSamePathSkipped(t *testing.T) {
	d := startDaemon(t, "")
	r, _ := probeSocket(t, d.Address, func(c *Config) { c.CadvisorSocket = d.Address })
	wantVerdict(t, r, Healthy)
	if r.CadvisorSocket != nil || len(r.Findings) != 0 {
		t.Errorf("cadvisorSocket %+v findings %+v, want no second check of the same path", r.CadvisorSocket, r.Findings)
	}
}

func wantFindings(t *testing.T, r Result, codes ...string) {
	t.Helper()
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.Code)
	}
	if strings.Join(got, ",") != strings.Join(codes, ",") {
		t.Errorf("findings %+v, want codes %v", r.Findings, codes)
	}
}

// hostRoot makes a private host root with each daemon dir bind-mounted at
// its host path, as the check pod mounts the host's socket directories.
func hostRoot(t *testing.T, mounts map[string]string) string {
	t.Helper()
	host, err := os.MkdirTemp("/tmp", "kcd-hostroot-")
	if err != nil {
		t.Fatal(err)
	}
	var mounted []string
	t.Cleanup(func() {
		for _, m := range mounted {
			if err := syscall.Unmount(m, 0); err != nil {
				t.Errorf("unmount %s: %v", m, err)
			}
		}
		os.RemoveAll(host)
	})
	for at, dir := range mounts {
		mnt := filepath.Join(host, at)
		if err := os.MkdirAll(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount(dir, mnt, "", syscall.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		mounted = append(mounted, mnt)
	}
	return host
}

// TestRealCadvisorSocketFrozenShortTimeout: a frozen daemon on cAdvisor's
// socket cannot stretch the probe past --timeout, even with a longer
// --call-timeout.
func TestRealCadvisorSocketFrozenShortTimeout(t *testing.T) {
	kube, other := startDaemon(t, ""), startDaemon(t, "")
	if err := other.Freeze(); err != nil {
		t.Fatal(err)
	}
	r, took := probeSocket(t, kube.Address, func(c *Config) {
		c.CadvisorSocket = other.Address
		c.Timeout = time.Second
		c.CallTimeout = 5 * time.Second
	})
	within(t, "probe with --timeout 1s and a frozen cAdvisor socket", took, 1500*time.Millisecond)
	wantVerdict(t, r, AtRisk, "cAdvisor dials "+other.Address, "did not answer Version")
	wantFindings(t, r, CodeCadvisorSocketUnresponsive)
}
