package kubeletevidence

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseFixture(t testing.TB, name string) *GoroutineDump {
	t.Helper()
	d, err := ParseGoroutines(bytes.NewReader(readFixture(t, name)), ParseOptions{})
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return d
}

var ignoreSignature = cmp.Options{cmpopts.IgnoreUnexported(BlockedCall{}), cmpopts.EquateEmpty()}

func TestParseGoroutinesFixtures(t *testing.T) {
	taskPid := func(id int64, minutes int, caller, createdBy string) BlockedCall {
		return BlockedCall{GoroutineID: id, State: "select", WaitMinutes: minutes, Kind: KindCAdvisor,
			CAdvisorMethod: "TaskPid", GRPCMethod: "/containerd.services.tasks.v1.Tasks/Get",
			Site: "newContainerdContainerHandler", Caller: caller, CreatedBy: createdBy}
	}
	tests := []struct {
		fixture string
		want    *GoroutineDump
	}{
		{"synthetic-goroutine-stalled-taskpid.txt", &GoroutineDump{
			Goroutines: 8,
			Blocked: []BlockedCall{
				taskPid(4711, 7, "(*manager).createContainer", "manager.(*manager).watchForNewContainers"),
				taskPid(5120, 0, "(*manager).createContainer", "manager.(*manager).Start"),
				{GoroutineID: 5188, State: "select", Kind: KindCRI, GRPCMethod: "/runtime.v1.RuntimeService/ListContainers",
					CreatedBy: "pleg.(*GenericPLEG).Start"},
			},
		}},
		{"synthetic-goroutine-lockwait-v0.47.txt", &GoroutineDump{
			Goroutines: 4,
			Blocked: []BlockedCall{{GoroutineID: 388, State: "select", WaitMinutes: 219, Kind: KindCAdvisor,
				CAdvisorMethod: "LoadContainer", GRPCMethod: "/containerd.services.containers.v1.Containers/Get",
				Site: "(*containerdFactory).CanHandleAndAccept", Caller: "(*manager).createContainerLocked",
				CreatedBy: "manager.(*manager).watchForNewContainers"}},
			LockWaiters: []LockWaiter{
				{GoroutineID: 473, State: "sync.RWMutex.RLock", WaitMinutes: 219, Function: "(*manager).getContainersDiff"},
				{GoroutineID: 902, State: "sync.RWMutex.RLock", WaitMinutes: 218, Function: "(*manager).getContainer"},
			},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			got := parseFixture(t, tc.fixture)
			if diff := cmp.Diff(tc.want, got, ignoreSignature); diff != "" {
				t.Errorf("ParseGoroutines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseGoroutinesNotADump(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	noise := make([]byte, 1<<16)
	rnd.Read(noise)
	for name, in := range map[string][]byte{
		"empty":      nil,
		"html error": []byte("<html><body>404 page not found</body></html>\n"),
		"disabled":   []byte("profiling endpoint is disabled.\n"),
		"random":     noise,
		"almost":     []byte("goroutine x [running]:\ngoroutine 1 running:\n"),
	} {
		t.Run(name, func(t *testing.T) {
			d, err := ParseGoroutines(bytes.NewReader(in), ParseOptions{})
			if !errors.Is(err, ErrNotGoroutineDump) {
				t.Errorf("err = %v, want ErrNotGoroutineDump", err)
			}
			if d == nil || d.Goroutines != 0 || len(d.Blocked) != 0 {
				t.Errorf("dump = %+v, want empty", d)
			}
		})
	}
}

// TestParseGoroutinesTruncatedEverywhere cuts the fixture at every byte: the
// parser never panics, never finds more than the whole dump, marks every cut
// that ends inside a goroutine, and keeps the stuck goroutine once its
// client frame has been read.
func TestParseGoroutinesTruncatedEverywhere(t *testing.T) {
	full := readFixture(t, "synthetic-goroutine-stalled-taskpid.txt")
	clientFrame := bytes.Index(full, []byte("(*client).TaskPid(0xc000e91b60, {0x4a1e5d8, 0x6c81e40}, {0xc0021b2ac0"))
	stuckEnd := bytes.Index(full, []byte("goroutine 5120 ["))
	for cut := 0; cut <= len(full); cut++ {
		d, err := ParseGoroutines(bytes.NewReader(full[:cut]), ParseOptions{})
		if err != nil && !errors.Is(err, ErrNotGoroutineDump) {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if d.Goroutines > 8 || len(d.Blocked) > 3 {
			t.Fatalf("cut %d: %d goroutines, %d blocked", cut, d.Goroutines, len(d.Blocked))
		}
		endsClean := cut == len(full) || (cut > 0 && full[cut-1] == '\n' && (cut == len(full) || full[cut] == '\n' || bytes.HasPrefix(full[cut:], []byte("goroutine "))))
		if !d.Truncated && !endsClean && d.Goroutines > 0 {
			// a cut right after a file line is indistinguishable from a full
			// goroutine; any other cut must say so
			prevLine := full[bytes.LastIndexByte(full[:cut-1], '\n')+1 : cut]
			if !(full[cut-1] == '\n' && bytes.HasPrefix(prevLine, []byte("\t"))) {
				t.Fatalf("cut %d (%q...) not marked truncated", cut, full[max(0, cut-20):cut])
			}
		}
		if cut > clientFrame+200 && cut >= stuckEnd {
			if len(d.Blocked) == 0 || d.Blocked[0].GoroutineID != 4711 {
				t.Fatalf("cut %d: stuck goroutine 4711 lost: %+v", cut, d.Blocked)
			}
		}
	}
}

func TestParseGoroutinesLimits(t *testing.T) {
	full := readFixture(t, "synthetic-goroutine-stalled-taskpid.txt")
	t.Run("max bytes", func(t *testing.T) {
		d, err := ParseGoroutines(bytes.NewReader(full), ParseOptions{MaxBytes: 2000})
		headers := bytes.Count(full[:2000], []byte("\ngoroutine ")) + 1
		if err != nil || !d.Truncated || d.Goroutines != headers {
			t.Errorf("got %+v, %v; want %d goroutines, truncated", d, err, headers)
		}
	})
	t.Run("long garbage line and CRLF", func(t *testing.T) {
		in := strings.Repeat("x", 200<<10) + "\n" + strings.ReplaceAll(string(full), "\n", "\r\n")
		d, err := ParseGoroutines(strings.NewReader(in), ParseOptions{})
		if err != nil || d.Goroutines != 8 || len(d.Blocked) != 3 || d.Truncated {
			t.Errorf("got %d goroutines %d blocked truncated=%v err=%v", d.Goroutines, len(d.Blocked), d.Truncated, err)
		}
	})
	t.Run("max frames keeps the top", func(t *testing.T) {
		d, err := ParseGoroutines(bytes.NewReader(full), ParseOptions{MaxFrames: 4})
		if err != nil || len(d.Blocked) != 0 {
			t.Errorf("with 4 frames kept no client frame is seen; got %+v %v", d.Blocked, err)
		}
	})
}

func TestParseGoroutinesIgnoresNonCalls(t *testing.T) {
	in := `goroutine 10 [sleep]:
time.Sleep(0x5f5e100)
	/usr/local/go/src/runtime/time.go:338 +0x165
github.com/google/cadvisor/lib/container/containerd.newContainerdContainerHandler({0x4a2d9c0, 0xc000e91b60}, {0xc0021b2a40, 0x78})
	/root/go/pkg/mod/github.com/google/cadvisor/lib@v0.60.5/container/containerd/handler.go:114 +0x3ae

goroutine 11 [select, 3 minutes]:
google.golang.org/grpc/internal/transport.(*controlBuffer).get(0xc000f1e9b0, 0x1)
	/root/go/pkg/mod/google.golang.org/grpc@v1.78.0/internal/transport/controlbuf.go:418 +0x110

goroutine 12 [runnable]:
google.golang.org/grpc.invoke({0x4a1e5d8, 0xc0021a4c90})
	/root/go/pkg/mod/google.golang.org/grpc@v1.78.0/call.go:73 +0xf5
github.com/containerd/containerd/api/services/tasks/v1.(*tasksClient).Get(0xc000e91b68)
	/root/go/pkg/mod/github.com/containerd/containerd/api@v1.11.1/services/tasks/v1/tasks_grpc.pb.go:155 +0xa6
`
	d, err := ParseGoroutines(strings.NewReader(in), ParseOptions{})
	if err != nil || d.Goroutines != 3 || len(d.Blocked) != 0 || len(d.LockWaiters) != 0 {
		t.Errorf("got %+v, %v; want 3 goroutines and nothing blocked (sleeping retry, transport loop, runnable)", d, err)
	}
}

// TestLockWaitersOnlyManager: a housekeeping goroutine waiting on its own
// containerData lock is not queued behind the manager's containers lock.
func TestLockWaitersOnlyManager(t *testing.T) {
	in := `goroutine 20 [sync.Mutex.Lock, 2 minutes]:
sync.(*Mutex).Lock(...)
	/usr/local/go/src/sync/mutex.go:46
github.com/google/cadvisor/lib/manager.(*containerData).housekeepingTick(0x12ee7b02b188, 0x1?, 0x5f5e100)
	github.com/google/cadvisor/lib@v0.60.5/manager/container.go:345 +0xb7

goroutine 21 [sync.RWMutex.RLock, 2 minutes]:
sync.(*RWMutex).RLock(...)
	/usr/local/go/src/sync/rwmutex.go:70
github.com/google/cadvisor/manager.(*manager).getContainer(0xc000b6a1e0, {0xc0021e0000, 0x2f})
	/go/src/k8s.io/kubernetes/vendor/github.com/google/cadvisor/manager/manager.go:546 +0x6f
`
	d, err := ParseGoroutines(strings.NewReader(in), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []LockWaiter{{GoroutineID: 21, State: "sync.RWMutex.RLock", WaitMinutes: 2, Function: "(*manager).getContainer"}}
	if diff := cmp.Diff(want, d.LockWaiters); diff != "" {
		t.Errorf("lock waiters (-want +got):\n%s", diff)
	}
}

type failingReader struct{ data []byte }

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, errors.New("connection reset by peer")
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestParseGoroutinesReadError: what was read before a broken connection
// is kept and the error says what failed.
func TestParseGoroutinesReadError(t *testing.T) {
	full := readFixture(t, "synthetic-goroutine-stalled-taskpid.txt")
	d, err := ParseGoroutines(&failingReader{data: full[:bytes.Index(full, []byte("goroutine 5188 ["))]}, ParseOptions{})
	if err == nil || !strings.Contains(err.Error(), "read goroutine dump: connection reset by peer") {
		t.Fatalf("err = %v", err)
	}
	if d.Goroutines != 6 || len(d.Blocked) != 2 {
		t.Errorf("kept %d goroutines, %d blocked; want 6 and 2", d.Goroutines, len(d.Blocked))
	}
}
