package checks

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/faultproxy"
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

// TestRealCadvisorSocketOtherDaemonSwept: cAdvisor asks its own socket
// about the kubelet's containers; another daemon there answers NotFound at
// once, and the probe records that it asked.
func TestRealCadvisorSocketOtherDaemonSwept(t *testing.T) {
	kube, other := startDaemon(t, ""), startDaemon(t, "")
	ids := containerdlab.IDs("swept", 6)
	createContainers(t, kube, ids)
	r, took := probeSocket(t, kube.Address, func(c *Config) { c.CadvisorSocket = other.Address; c.Timeout = 10 * time.Second })
	wantVerdict(t, r, AtRisk, "cAdvisor dials "+other.Address+" (another containerd", "kubelet uses "+kube.Address)
	within(t, "probe sweeping another daemon on cAdvisor's socket", took, 2*time.Second)
	wantFindings(t, r, CodeCadvisorSocketOtherDaemon)
	sw := r.CadvisorSocket.Sweep
	if sw == nil || sw.Containers != len(ids) || sw.Swept != len(ids) || sw.Stuck != 0 || sw.Frozen != "" {
		t.Fatalf("sweep %+v, want %d containers asked and answered", sw, len(ids))
	}
	var cget *CallStats
	for i := range sw.Calls {
		if sw.Calls[i].Method == MethodContainersGet {
			cget = &sw.Calls[i]
		}
	}
	if cget == nil || cget.Count != len(ids) || cget.Timeouts != 0 {
		t.Errorf("Containers/Get on cAdvisor's socket %+v, want %d calls and no timeout", cget, len(ids))
	}
}

// TestRealCadvisorSocketHangsThere: the daemon on cAdvisor's socket answers
// Version but hangs cAdvisor's Containers/Get (a fault proxy in front of a
// real daemon): AtRisk, the stuck call named, the probe bounded.
func TestRealCadvisorSocketHangsThere(t *testing.T) {
	kube, other := startDaemon(t, ""), startDaemon(t, "")
	ids := containerdlab.IDs("hang", 4)
	createContainers(t, kube, ids)
	p, err := faultproxy.Start(filepath.Join(other.Dir, "proxy.sock"), other.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	p.SetRules(faultproxy.Rule{Method: MethodContainersGet, Action: faultproxy.Hang})
	r, took := probeSocket(t, kube.Address, func(c *Config) {
		c.CadvisorSocket = p.ListenPath()
		c.CallTimeout = time.Second
		c.Timeout = 10 * time.Second
	})
	wantVerdict(t, r, AtRisk, "cAdvisor dials "+p.ListenPath(), "Containers/Get for container hang-", "stuck 1", "cAdvisor's calls there hang")
	// The main sweep, then one round of hung calls and the Version check
	// that tells the daemon still answers.
	within(t, "probe with cAdvisor's calls hanging on its socket", took, 3500*time.Millisecond)
	wantFindings(t, r, CodeCadvisorSocketUnresponsive)
	if sw := r.CadvisorSocket.Sweep; sw == nil || sw.Stuck != len(ids) || sw.FirstStuck == nil || sw.FirstStuck.Method != MethodContainersGet {
		t.Errorf("sweep %+v, want %d stuck Containers/Get", sw, len(ids))
	}
}

// TestRealCadvisorSocketFromKubeletFlag: a kubelet before 1.37 pointed its
// cAdvisor elsewhere with --containerd; the probe reads the flag from the
// kubelet's command line (a /proc tree whose kubelet's root is /) and
// checks that socket instead of the default.
func TestRealCadvisorSocketFromKubeletFlag(t *testing.T) {
	kube, other := startDaemon(t, ""), startDaemon(t, "")
	proc := fakeKubeletProc(t, 4242, "kubelet", "--hostname-override=node-a", "--containerd", "unix://"+other.Address)
	r, _ := probeSocket(t, kube.Address, func(c *Config) {
		c.Proc, c.Node = proc, "node-a"
		c.CadvisorSocket, c.CadvisorFromKubelet = DefaultCadvisorSocket, true
		c.Timeout = 10 * time.Second
	})
	wantFindings(t, r, CodeCadvisorSocketOtherDaemon)
	c := r.CadvisorSocket
	if c == nil || c.Path != other.Address || c.Source != CadvisorSourceKubeletFlag || c.KubeletPID != 4242 || c.PeerPID != other.PID {
		t.Errorf("cadvisorSocket %+v, want %s from the kubelet's flag (pid 4242), served by pid %d", c, other.Address, other.PID)
	}
}

// fakeKubeletProc is a /proc with one kubelet process whose root is /.
func fakeKubeletProc(t *testing.T, pid int, args ...string) string {
	t.Helper()
	proc := t.TempDir()
	dir := filepath.Join(proc, fmt.Sprint(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"comm": args[0] + "\n", "cmdline": strings.Join(args, "\x00") + "\x00"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/", filepath.Join(dir, "root")); err != nil {
		t.Fatal(err)
	}
	return proc
}
