package checks

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKubeletContainerdFlag(t *testing.T) {
	type proc struct {
		pid  int
		args []string
	}
	for _, tc := range []struct {
		name  string
		procs []proc
		node  string
		want  string // "" = none
		pid   int
	}{
		{"no kubelet", []proc{{1, []string{"systemd"}}}, "n1", "", 0},
		{"kubelet without the flag (1.37)", []proc{{10, []string{"kubelet", "--config=/var/lib/kubelet/config.yaml"}}}, "n1", "", 0},
		{"flag with =", []proc{{10, []string{"/usr/bin/kubelet", "--containerd=/run/k3s/containerd/containerd.sock"}}}, "", "/run/k3s/containerd/containerd.sock", 10},
		{"flag, separate value, unix scheme", []proc{{10, []string{"kubelet", "--containerd", "unix:///run/x.sock"}}}, "n1", "/run/x.sock", 10},
		{"single dash", []proc{{10, []string{"kubelet", "-containerd=/run/y.sock"}}}, "n1", "/run/y.sock", 10},
		{"relative path ignored", []proc{{10, []string{"kubelet", "--containerd=run/y.sock"}}}, "n1", "", 0},
		{"several kubelets, ours by hostname-override", []proc{
			{10, []string{"kubelet", "--hostname-override=n1", "--containerd=/run/a.sock"}},
			{11, []string{"kubelet", "--hostname-override=n2", "--containerd=/run/b.sock"}},
		}, "n2", "/run/b.sock", 11},
		{"several kubelets, none ours", []proc{
			{10, []string{"kubelet", "--containerd=/run/a.sock"}},
			{11, []string{"kubelet", "--containerd=/run/b.sock"}},
		}, "n3", "", 0},
		{"other process with the flag", []proc{{10, []string{"cadvisor", "--containerd=/run/a.sock"}}}, "n1", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, p := range tc.procs {
				dir := filepath.Join(root, fmt.Sprint(p.pid))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				comm := filepath.Base(p.args[0])
				os.WriteFile(filepath.Join(dir, "comm"), []byte(comm+"\n"), 0o644)
				os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(p.args, "\x00")+"\x00"), 0o644)
			}
			s, ok := kubeletContainerdFlag(procFS{root: root}, tc.node)
			if got := map[bool]string{true: s.path}[ok]; got != tc.want || (ok && s.pid != tc.pid) {
				t.Fatalf("got %q (pid %d, ok %v), want %q (pid %d)", s.path, s.pid, ok, tc.want, tc.pid)
			}
			if ok {
				if want := filepath.Join(root, fmt.Sprint(tc.pid), "root", tc.want); s.openPath != want {
					t.Errorf("openPath %q, want %q (the kubelet's own root)", s.openPath, want)
				}
			}
		})
	}
}

func TestConfigRejectsRelativePaths(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Socket = "run/containerd/containerd.sock" }, "--socket must be an absolute path"},
		{func(c *Config) { c.CadvisorSocket = "containerd.sock" }, "--cadvisor-socket must be an absolute path"},
		{func(c *Config) { c.HostRoot = "host" }, "--host-root must be an absolute path"},
		{func(c *Config) { c.Socket = "/run/containerd/containerd.sock.ttrpc" },
			"--socket /run/containerd/containerd.sock.ttrpc is containerd's ttrpc socket, which neither the kubelet nor cAdvisor uses: pass the gRPC socket, /run/containerd/containerd.sock"},
	} {
		c := NewConfig()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}
	if err := NewConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
