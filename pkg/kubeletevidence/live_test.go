package kubeletevidence

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"runtime/pprof"
	"testing"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestLiveBlockedCall blocks a real containerd Tasks/Get (the generated
// client of the containerd API module in go.mod, real gRPC over a unix
// socket) on a server that never answers, then parses this process's own
// goroutine dump, as the kubelet's /debug/pprof/goroutine?debug=2 prints it.
// It pins the gRPC and containerd frame names the parser relies on to the
// versions this module builds with.
func TestLiveBlockedCall(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hang.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		<-stream.Context().Done() // never answers
		return stream.Context().Err()
	}))
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := tasks.NewTasksClient(conn).Get(ctx, &tasks.GetRequest{ContainerID: "3f2a1b"})
		done <- err
	}()

	dump := func() *GoroutineDump {
		var buf bytes.Buffer
		if err := pprof.Lookup("goroutine").WriteTo(&buf, 2); err != nil {
			t.Fatal(err)
		}
		d, err := ParseGoroutines(&buf, ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	var first *GoroutineDump
	var t1 time.Time
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if d := dump(); len(d.Blocked) == 1 {
			first, t1 = d, time.Now()
			break
		}
	}
	if first == nil {
		t.Fatal("the blocked Tasks/Get never showed in the goroutine dump")
	}
	c := first.Blocked[0]
	if c.Kind != KindContainerd || c.GRPCMethod != "/containerd.services.tasks.v1.Tasks/Get" || c.CAdvisorMethod != "" {
		t.Errorf("blocked call = %+v, want a containerd Tasks/Get", c)
	}
	if a := Assess([]Sample{{first, t1}}, 100*time.Millisecond); a.Stalled || !a.NeedsResample {
		t.Errorf("one dump without minutes must ask for a resample: %+v", a)
	}
	time.Sleep(150 * time.Millisecond)
	second, t2 := dump(), time.Now()
	a := Assess([]Sample{{first, t1}, {second, t2}}, 100*time.Millisecond)
	if !a.Stalled || a.LongestWait < 150*time.Millisecond {
		t.Errorf("the same call 150ms later must count as stalled at a 100ms threshold: %+v", a)
	}
	cancel()
	if err := <-done; err == nil {
		t.Error("Get answered: the server was meant to hang")
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(dump().Blocked) == 0 {
			return
		}
	}
	t.Error("the cancelled call is still reported blocked")
}
