package checks

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as the kernel writes it.
	line := "1234 (my (odd) proc) T 1 1234 1234 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 17 0 100 1000 10 18446744073709551615"
	got, err := parseStat(1234, line)
	if err != nil {
		t.Fatal(err)
	}
	want := &ProcessInfo{PID: 1234, PPID: 1, State: "T", Command: "my (odd) proc", Threads: 17}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseStat(1, "1 (x) S 0"); err == nil {
		t.Error("want an error for a short stat line")
	}
}

func TestFlagValue(t *testing.T) {
	args := []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "abc", "--address=/run/c.sock"}
	for name, want := range map[string]string{"namespace": "k8s.io", "id": "abc", "address": "/run/c.sock", "missing": ""} {
		if got := flagValue(args, name); got != want {
			t.Errorf("flagValue(%s) = %q, want %q", name, got, want)
		}
	}
}

// fakeProc writes a /proc with a daemon (pid 10) listening on sock and two
// shims of it plus one of another daemon.
func fakeProc(t *testing.T, sock string) string {
	t.Helper()
	root := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1/net/unix", "Num       RefCount Protocol Flags    Type St Inode Path\n"+
		"0000000000000000: 00000002 00000000 00010000 0001 01 4242 "+sock+"\n"+
		"0000000000000000: 00000002 00000000 00000000 0001 03 4243 "+sock+"\n")
	proc := func(pid int, comm, state string, ppid int, args ...string) {
		d := filepath.Join(itoa(pid))
		write(filepath.Join(d, "comm"), comm+"\n")
		write(filepath.Join(d, "cmdline"), strings.Join(args, "\x00")+"\x00")
		write(filepath.Join(d, "stat"), itoa(pid)+" ("+comm+") "+state+" "+itoa(ppid)+" 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 9 0 0 0 0")
	}
	proc(10, "containerd", "S", 1, "/usr/bin/containerd")
	if err := os.MkdirAll(filepath.Join(root, "10", "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("socket:[4242]", filepath.Join(root, "10", "fd", "7")); err != nil {
		t.Fatal(err)
	}
	proc(20, "containerd-shim", "S", 1, "/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "sandbox1", "-address", sock)
	proc(21, "containerd-shim", "T", 1, "/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "task1", "-address", sock)
	proc(30, "containerd-shim", "S", 1, "/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "task1", "-address", "/other.sock")
	return root
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestProcEvidence(t *testing.T) {
	sock := "/run/containerd/containerd.sock"
	fs := procFS{root: fakeProc(t, sock)}
	inode, bound := fs.listener("/nope", sock)
	if inode != "4242" || bound != sock {
		t.Fatalf("listener = %q %q, want the listening socket 4242", inode, bound)
	}
	if pid := fs.socketOwner(inode); pid != 10 {
		t.Errorf("socketOwner = %d, want 10", pid)
	}
	shims := fs.shims(bound)
	if len(shims) != 2 {
		t.Fatalf("shims = %+v, want the two of this daemon", shims)
	}
	for _, tc := range []struct {
		ids  []string
		want int
	}{
		{[]string{"task1"}, 21},
		{[]string{"ctr-in-pod", "sandbox1"}, 20}, // through its pod sandbox
		{[]string{"nothing", ""}, 0},
	} {
		got := 0
		if s := shimFor(shims, "k8s.io", tc.ids...); s != nil {
			got = s.pid
		}
		if got != tc.want {
			t.Errorf("shimFor(%v) = %d, want %d", tc.ids, got, tc.want)
		}
	}
	p, err := fs.process(21)
	if err != nil || p.State != "T" || p.PPID != 1 || p.Threads != 9 {
		t.Errorf("process(21) = %+v, %v", p, err)
	}
}
