package checks

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeHost builds a host root with /var/run -> /run (absolute, as on real
// hosts) and a listening socket at run/containerd/containerd.sock.
func fakeHost(t *testing.T, socketAt string) string {
	t.Helper()
	// Short: unix socket paths are limited to 108 bytes.
	root, err := os.MkdirTemp("/tmp", "kcd-host-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.MkdirAll(filepath.Join(root, "var"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/run", filepath.Join(root, "var", "run")); err != nil {
		t.Fatal(err)
	}
	if socketAt != "" {
		p := filepath.Join(root, socketAt)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
	return root
}

func TestHostPath(t *testing.T) {
	root := fakeHost(t, "")
	for _, tc := range []struct {
		hostRoot, in, want string
	}{
		{"", "/run/containerd/containerd.sock", "/run/containerd/containerd.sock"},
		{"/", "/run/x", "/run/x"},
		{root, "/run/containerd/containerd.sock", filepath.Join(root, "run/containerd/containerd.sock")},
		// The absolute link /var/run -> /run resolves inside the host root.
		{root, "/var/run/containerd/containerd.sock", filepath.Join(root, "run/containerd/containerd.sock")},
	} {
		if got := hostPath(tc.hostRoot, tc.in); got != tc.want {
			t.Errorf("hostPath(%q, %q) = %q, want %q", tc.hostRoot, tc.in, got, tc.want)
		}
	}
}

func TestDiscoverSocket(t *testing.T) {
	for _, tc := range []struct {
		name, socketAt, want string
	}{
		{"default", "run/containerd/containerd.sock", "/run/containerd/containerd.sock"},
		{"k3s", "run/k3s/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock"},
		{"microk8s", "var/snap/microk8s/common/run/containerd.sock", "/var/snap/microk8s/common/run/containerd.sock"},
		{"k0s", "run/k0s/containerd.sock", "/run/k0s/containerd.sock"},
		{"none falls back to the default", "", "/run/containerd/containerd.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeHost(t, tc.socketAt)
			if diff := cmp.Diff(tc.want, discoverSocket(root)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiscoverPrefersASocket(t *testing.T) {
	root := fakeHost(t, "run/k3s/containerd/containerd.sock")
	// A directory where the default socket should be (hostPath type ""
	// creates one) is reported only when no known location is a socket.
	if err := os.MkdirAll(filepath.Join(root, "run/containerd/containerd.sock"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := discoverSocket(root); got != "/run/k3s/containerd/containerd.sock" {
		t.Errorf("discoverSocket = %q, want the k3s socket", got)
	}
	os.RemoveAll(filepath.Join(root, "run/k3s"))
	if got := discoverSocket(root); got != "/run/containerd/containerd.sock" {
		t.Errorf("discoverSocket = %q, want the directory at the default path", got)
	}
}

func TestStatSocket(t *testing.T) {
	root := fakeHost(t, "run/containerd/containerd.sock")
	info := SocketInfo{Path: "/run/containerd/containerd.sock"}
	if p := statSocket(&info, filepath.Join(root, info.Path)); p != "" {
		t.Fatalf("problem %q for a listening socket", p)
	}
	if !info.Exists || info.Type != "socket" || info.UID == nil || info.Mode == "" {
		t.Errorf("info %+v", info)
	}
}

// TestFullBacklogIsUnresponsive: a daemon that stopped accepting (frozen
// for long, ~4096 pending connections) makes connect fail with EAGAIN at
// once. That is Unresponsive, not Unreachable: something holds the socket.
func TestFullBacklogIsUnresponsive(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "kcd-backlog-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "c.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepts
		t.Fatal(err)
	}
	// Fill the backlog (backlog 0 still admits one pending connection).
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 8 {
		c, err := net.DialTimeout("unix", sock, 100*time.Millisecond)
		if err != nil {
			break
		}
		held = append(held, c)
	}
	cfg := NewConfig()
	cfg.Socket = sock
	start := time.Now()
	r := Run(context.Background(), cfg)
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("probe took %s, want an answer at once", took)
	}
	if r.Verdict != Unresponsive || !strings.Contains(r.Reason, "listen backlog is full") {
		t.Errorf("verdict %s %q, want Unresponsive with a full backlog", r.Verdict, r.Reason)
	}
}
