package faultproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	containers "github.com/containerd/containerd/api/services/containers/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestPassThrough(t *testing.T) {
	p := startProxy(t, startFake(t, "c1", "c2", "c3"))
	cc := dial(t, p.ListenPath())
	ctx := nsCtx(t, "k8s.io", 2*time.Second)

	v, err := versionapi.NewVersionClient(cc).Version(ctx, &emptypb.Empty{})
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if diff := cmp.Diff("fake-1.0/r1", v.Version+"/"+v.Revision); diff != "" {
		t.Errorf("Version (-want +got):\n%s", diff)
	}

	cs := containers.NewContainersClient(cc)
	got, err := cs.Get(ctx, &containers.GetContainerRequest{ID: "c2"})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.Container.ID != "c2" || got.Container.Labels["namespace"] != "k8s.io" {
		t.Errorf("Get = id %q namespace %q, want c2 and k8s.io", got.Container.ID, got.Container.Labels["namespace"])
	}
	// The upstream saw the client's deadline (2 s), not none and not more.
	ms, err := strconv.Atoi(got.Container.Labels["deadline"])
	if err != nil || ms <= 0 || ms > 2000 {
		t.Errorf("deadline seen upstream = %q ms, want in (0, 2000]", got.Container.Labels["deadline"])
	}

	_, err = cs.Get(ctx, &containers.GetContainerRequest{ID: "nope"})
	if diff := cmp.Diff(`code=NotFound msg=container "nope": not found`, statusString(err)); diff != "" {
		t.Errorf("Get of a missing id (-want +got):\n%s", diff)
	}

	stream, err := cs.ListStream(ctx, &containers.ListContainersRequest{})
	if err != nil {
		t.Fatalf("ListStream: %v", err)
	}
	var ids []string
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("ListStream Recv: %v", err)
		}
		ids = append(ids, m.Container.ID+"@"+m.Container.Labels["namespace"])
	}
	if diff := cmp.Diff([]string{"c1@k8s.io", "c2@k8s.io", "c3@k8s.io"}, ids); diff != "" {
		t.Errorf("ListStream (-want +got):\n%s", diff)
	}

	counts := p.Counts()
	for _, m := range []string{methodVersion, methodGet, methodListStream} {
		c := counts[m]
		if c.Started == 0 || c.Started != c.Finished || c.Passed != c.Started {
			t.Errorf("counts[%s] = %+v, want all started calls passed and finished", m, c)
		}
	}
	if diff := cmp.Diff(map[codes.Code]int{codes.OK: 1, codes.NotFound: 1}, counts[methodGet].ByCode); diff != "" {
		t.Errorf("Get codes (-want +got):\n%s", diff)
	}
}

// statusString renders an error as its gRPC code and message.
func statusString(err error) string {
	s := status.Convert(err)
	return "code=" + s.Code().String() + " msg=" + s.Message()
}

func getCall(id string) func(context.Context, *grpc.ClientConn) error {
	return func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := containers.NewContainersClient(cc).Get(ctx, &containers.GetContainerRequest{ID: id})
		return err
	}
}

func versionCall(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := versionapi.NewVersionClient(cc).Version(ctx, &emptypb.Empty{})
	return err
}

func listStreamCall(ctx context.Context, cc *grpc.ClientConn) error {
	s, err := containers.NewContainersClient(cc).ListStream(ctx, &containers.ListContainersRequest{})
	if err != nil {
		return err
	}
	for {
		if _, err := s.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func TestFaults(t *testing.T) {
	const deadline = 400 * time.Millisecond
	hangGetC2 := Rule{Method: methodGet, Match: "c2", Action: Hang}
	tests := []struct {
		name  string
		rules []Rule
		call  func(context.Context, *grpc.ClientConn) error
		// want is the statusString of the outcome. For DeadlineExceeded
		// only the code is compared: grpc's text depends on whether the
		// client's timer or the server's RST_STREAM came first.
		want string
		// minElapsed is a lower bound only: the fault must have held the
		// call at least this long.
		minElapsed time.Duration
	}{
		{name: "no rules", call: getCall("c1"), want: "code=OK msg="},
		{name: "delay shorter than deadline", rules: []Rule{{Method: methodGet, Action: Delay, Delay: 150 * time.Millisecond}},
			call: getCall("c1"), want: "code=OK msg=", minElapsed: 150 * time.Millisecond},
		{name: "delay longer than deadline", rules: []Rule{{Action: Delay, Delay: time.Minute}},
			call: versionCall, want: "code=DeadlineExceeded", minElapsed: deadline},
		{name: "hang bounded by client deadline", rules: []Rule{{Method: methodGet, Action: Hang}},
			call: getCall("c1"), want: "code=DeadlineExceeded", minElapsed: deadline},
		{name: "hang streaming call", rules: []Rule{{Method: methodListStream, Action: Hang}},
			call: listStreamCall, want: "code=DeadlineExceeded", minElapsed: deadline},
		{name: "fail with code", rules: []Rule{{Method: methodVersion, Action: Fail, Code: codes.Unavailable, Message: "injected"}},
			call: versionCall, want: "code=Unavailable msg=injected"},
		{name: "fail with OK code fails Unknown", rules: []Rule{{Action: Fail}},
			call: versionCall, want: "code=Unknown msg="},
		{name: "id match hangs its container", rules: []Rule{hangGetC2},
			call: getCall("c2"), want: "code=DeadlineExceeded", minElapsed: deadline},
		{name: "id match spares other containers", rules: []Rule{hangGetC2}, call: getCall("c1"), want: "code=OK msg="},
		{name: "id match spares other methods", rules: []Rule{{Match: "c2", Action: Hang}}, call: versionCall, want: "code=OK msg="},
		{name: "method filter spares other methods", rules: []Rule{{Method: "/containerd.services.tasks.v1.Tasks/Get", Action: Hang}},
			call: getCall("c2"), want: "code=OK msg="},
		{name: "first matching rule wins", rules: []Rule{{Match: "c1", Action: Pass}, {Action: Fail, Code: codes.Internal, Message: "x"}},
			call: getCall("c1"), want: "code=OK msg="},
		{name: "later rule applies when first does not match", rules: []Rule{{Match: "c1", Action: Pass}, {Action: Fail, Code: codes.Internal, Message: "x"}},
			call: getCall("c2"), want: "code=Internal msg=x"},
	}
	upstream := startFake(t, "c1", "c2")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, upstream, tt.rules...)
			cc := dial(t, p.ListenPath())
			start := time.Now() // before the deadline is set, so it bounds the wait from below
			ctx := nsCtx(t, "k8s.io", deadline)
			err := tt.call(ctx, cc)
			elapsed := time.Since(start)
			got := statusString(err)
			if status.Code(err) == codes.DeadlineExceeded {
				got = "code=DeadlineExceeded"
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			if elapsed < tt.minElapsed {
				t.Errorf("call returned after %s, before the fault's %s", elapsed, tt.minElapsed)
			}
		})
	}
}

func TestCloseReleasesHungCalls(t *testing.T) {
	upstream := startFake(t, "c1")
	p, err := Start(filepath.Join(shortDir(t), "proxy.sock"), upstream)
	if err != nil {
		t.Fatal(err)
	}
	p.SetLogf(t.Logf)
	p.SetRules(Rule{Action: Hang})
	cc := dial(t, p.ListenPath())
	// No deadline at all, as cAdvisor calls Version: only Close ends it.
	ctx, cancel := context.WithCancel(nsCtx(t, "k8s.io", time.Minute))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- versionCall(ctx, cc) }()
	waitInFlight(t, p, methodVersion, 1)

	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-done:
		if c := status.Code(err); c != codes.Unavailable {
			t.Errorf("hung call after Close: %v, want code Unavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hung call not released 10 s after Close")
	}
	if _, err := os.Stat(p.ListenPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Close: stat err = %v, want not exist", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// waitInFlight waits until n calls of method are in flight, or fails.
func waitInFlight(t *testing.T, p *Proxy, method string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if p.Counts()[method].InFlight() == n {
			return
		}
	}
	t.Fatalf("in-flight %s calls = %d, want %d", method, p.Counts()[method].InFlight(), n)
}

func TestHungCallIsLoggedAtStart(t *testing.T) {
	p := startProxy(t, startFake(t, "c1"), Rule{Method: methodGet, Match: "c1", Action: Hang})
	var mu sync.Mutex
	var lines []string
	p.SetLogf(func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, strings.SplitN(format, " ", 3)[1])
	})
	cc := dial(t, p.ListenPath())
	ctx, cancel := context.WithCancel(nsCtx(t, "k8s.io", time.Minute))
	done := make(chan error, 1)
	go func() { done <- getCall("c1")(ctx, cc) }()
	waitInFlight(t, p, methodGet, 1)

	calls := p.Calls()
	if len(calls) != 1 || !calls[0].InFlight() || calls[0].Action != Hang || calls[0].Namespace != "k8s.io" || calls[0].Rule != 0 {
		t.Fatalf("Calls() while hung = %+v, want one in-flight hung Get in k8s.io by rule 0", calls)
	}
	if calls[0].Deadline.IsZero() {
		t.Errorf("Calls()[0].Deadline is zero, want the client's deadline")
	}
	mu.Lock()
	if diff := cmp.Diff([]string{"start"}, lines); diff != "" {
		t.Errorf("log lines while hung (-want +got):\n%s", diff)
	}
	mu.Unlock()

	cancel()
	if c := status.Code(<-done); c != codes.Canceled {
		t.Errorf("cancelled call: code %s, want Canceled", c)
	}
	waitInFlight(t, p, methodGet, 0)
	if got := p.Counts()[methodGet]; got.Hung != 1 || got.ByCode[codes.Canceled] != 1 {
		t.Errorf("counts = %+v, want 1 hung, finished Canceled", got)
	}
}

func TestSetRulesAppliesToNewCalls(t *testing.T) {
	p := startProxy(t, startFake(t, "c1"), Rule{Action: Hang})
	cc := dial(t, p.ListenPath())
	ctx, cancel := context.WithCancel(nsCtx(t, "k8s.io", time.Minute))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- versionCall(ctx, cc) }()
	waitInFlight(t, p, methodVersion, 1)

	p.SetRules()
	if err := versionCall(nsCtx(t, "k8s.io", 2*time.Second), cc); err != nil {
		t.Errorf("new call after clearing rules: %v", err)
	}
	// The first call keeps its rule: still hung.
	select {
	case err := <-done:
		t.Fatalf("call that matched Hang returned after SetRules: %v", err)
	default:
	}
	if diff := cmp.Diff([]Rule(nil), p.Rules()); diff != "" {
		t.Errorf("Rules() (-want +got):\n%s", diff)
	}
}

func TestUpstreamDown(t *testing.T) {
	p := startProxy(t, filepath.Join(shortDir(t), "missing.sock"))
	err := versionCall(nsCtx(t, "k8s.io", 2*time.Second), dial(t, p.ListenPath()))
	if c := status.Code(err); c != codes.Unavailable {
		t.Errorf("call with no upstream: %v, want code Unavailable", err)
	}
}

func TestStartListenPath(t *testing.T) {
	upstream := startFake(t)
	dir := shortDir(t)
	stale := filepath.Join(dir, "stale.sock")
	lis, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	lis.(*net.UnixListener).SetUnlinkOnClose(false) // what a killed process leaves
	lis.Close()
	live := filepath.Join(dir, "live.sock")
	liveLis, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer liveLis.Close()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, path, wantErr string
	}{
		{name: "stale socket is replaced", path: stale},
		{name: "live socket is refused", path: live, wantErr: "is in use by a live server"},
		{name: "regular file is refused", path: regular, wantErr: "exists and is not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(tt.path, upstream)
			if err == nil {
				defer p.Close()
				err = versionCall(nsCtx(t, "k8s.io", 2*time.Second), dial(t, tt.path))
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
				t.Errorf("Start(%s) then Version: err %q, want containing %q", filepath.Base(tt.path), got, tt.wantErr)
			}
		})
	}
}
