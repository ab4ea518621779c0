package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

type versionServer struct {
	versionapi.UnimplementedVersionServer
}

func (versionServer) Version(context.Context, *emptypb.Empty) (*versionapi.VersionResponse, error) {
	return &versionapi.VersionResponse{Version: "up-1"}, nil
}

// TestCommandSIGHUP runs the built command, switches it to "hang Version"
// through the rules file and SIGHUP, checks a bad file keeps the old rules,
// and stops it with SIGTERM.
func TestCommandSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command: skipped under -short")
	}
	dir, err := os.MkdirTemp("", "fpcmd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "faultproxy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	upstream := filepath.Join(dir, "up.sock")
	lis, err := net.Listen("unix", upstream)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	versionapi.RegisterVersionServer(srv, versionServer{})
	go srv.Serve(lis)
	defer srv.Stop()

	listen := filepath.Join(dir, "proxy.sock")
	rules := filepath.Join(dir, "rules.json")
	cmd := exec.Command(bin, "--listen", listen, "--upstream", upstream, "--rules", rules)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // by PID, only if the test fails before SIGTERM
	logs := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	waitLog(t, logs, "serving "+listen)

	cc, err := grpc.NewClient("unix://"+listen, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := versionapi.NewVersionClient(cc).Version(ctx, &emptypb.Empty{})
		return err
	}
	if err := call(); err != nil {
		t.Fatalf("Version with no rules file: %v", err)
	}

	write := func(s string) {
		if err := os.WriteFile(rules, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"rules":[{"method":"/containerd.services.version.v1.Version/Version","action":"hang"}]}`)
	waitLog(t, logs, "rules set: 1 rule(s); [0] /containerd.services.version.v1.Version/Version hang")
	if c := status.Code(call()); c != codes.DeadlineExceeded {
		t.Errorf("Version after hang rule: code %s, want DeadlineExceeded", c)
	}
	waitLog(t, logs, "start #2 /containerd.services.version.v1.Version/Version")

	write(`{"rules":[{"action":"freeze"}]}`)
	waitLog(t, logs, `SIGHUP: keeping the old rules: `+rules+`: parse rules: unknown action "freeze"`)
	if c := status.Code(call()); c != codes.DeadlineExceeded {
		t.Errorf("Version after a bad rules file: code %s, want DeadlineExceeded (old rules kept)", c)
	}

	write(`[]`)
	waitLog(t, logs, "rules set: 0 rule(s)")
	if err := call(); err != nil {
		t.Errorf("Version after clearing rules: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
	if _, err := os.Stat(listen); !os.IsNotExist(err) {
		t.Errorf("socket left after exit: %v", err)
	}
}

// waitLog reads log lines until one contains want, failing after 10 s.
func waitLog(t *testing.T, logs <-chan string, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-logs:
			if !ok {
				t.Fatalf("command exited before logging %q", want)
			}
			if strings.Contains(line, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no log line containing %q within 10 s", want)
		}
	}
}
