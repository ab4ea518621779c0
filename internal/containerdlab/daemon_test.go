package containerdlab

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
)

func TestStartCreateStop(t *testing.T) {
	Require(t, "")
	d := Start(t, Options{})
	if d.Major != 1 || d.Version == "" {
		t.Fatalf("version %q major %d, want a 1.x version", d.Version, d.Major)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids := IDs("lab", 50)
	if err := d.CreateContainers(ctx, ids, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := d.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := containersapi.NewContainersClient(conn).ListStream(WithNamespace(ctx, Namespace), &containersapi.ListContainersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err := stream.Recv()
		if err != nil {
			break
		}
		n++
	}
	if n != len(ids) {
		t.Errorf("ListStream returned %d containers, want %d", n, len(ids))
	}

	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := d.Leftovers(); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestFreezeThawKill(t *testing.T) {
	Require(t, "")
	d := Start(t, Options{})
	ctx := context.Background()
	if err := d.Freeze(); err != nil {
		t.Fatal(err)
	}
	if st := waitState(d.PID, "T"); st != "T" {
		t.Fatalf("frozen daemon state %q, want T", st)
	}
	if _, err := d.versionOnce(ctx, 300*time.Millisecond); err == nil {
		t.Fatal("frozen daemon answered Version")
	}
	if err := d.Thaw(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.versionOnce(ctx, 5*time.Second); err != nil {
		t.Fatalf("thawed daemon: %v", err)
	}
	if err := d.Kill(); err != nil {
		t.Fatal(err)
	}
	_, err := net.DialTimeout("unix", d.Address, time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect to killed daemon's socket: %v, want ECONNREFUSED", err)
	}
}

func TestV2(t *testing.T) {
	bin := RequireV2(t)
	d := Start(t, Options{BinDir: bin})
	if d.Major != 2 {
		t.Fatalf("version %q major %d, want 2", d.Version, d.Major)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.CreateContainers(ctx, IDs("v2", 5), nil); err != nil {
		t.Fatal(err)
	}
}

func waitState(pid int, want string) string {
	var st string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st = ProcState(pid); st == want {
			break
		}
	}
	return st
}

// TestRunTaskStopShimCleanup: a real task whose shim is SIGSTOPped is
// cleaned up completely. Regression: runc keeps state under
// <runc root>/<namespace>, and `runc delete` on the runc root itself left
// the task running and its cgroup behind.
func TestRunTaskStopShimCleanup(t *testing.T) {
	Require(t, "")
	d := Start(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.ImportImage(ctx, SleeperImage(t)); err != nil {
		t.Fatal(err)
	}
	pid, err := d.RunTask(ctx, SleeperRef, "sleepy")
	if err != nil {
		t.Fatal(err)
	}
	if st := ProcState(pid); st != "S" && st != "R" {
		t.Fatalf("task pid %d state %q, want running", pid, st)
	}
	if len(d.cgroupDirs()) == 0 {
		t.Errorf("no cgroup under %s for the task", d.CgroupParent())
	}
	shim, err := d.StopShim("sleepy")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := d.Leftovers(); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if alive(pid) || alive(shim) {
		t.Errorf("task pid %d (%s) or shim pid %d (%s) still alive", pid, ProcState(pid), shim, ProcState(shim))
	}
}
