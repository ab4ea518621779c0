// Package containerdlab starts real, isolated containerd daemons for tests.
//
// Each Daemon has its own grpc/ttrpc sockets, root, state, opt, CNI and runc
// root under one short temp dir, so several run side by side with the host's
// containerd and with other engineers' daemons. Stop cleans up by PID and by
// this daemon's own address only: it never kills by name and never touches
// /run/containerd/containerd.sock or /etc/containerd.
package containerdlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Options configure one daemon.
type Options struct {
	// BinDir holds containerd and containerd-shim-runc-v2. Empty means the
	// Debian packages on PATH (containerd 1.6). For containerd 2.x pass the
	// dir printed by hack/build-containerd2.sh: it is put first in the
	// daemon's PATH, because 2.x needs its own shim.
	BinDir string
	// ReadyTimeout bounds the wait for the first answered Version call
	// (default 15s: the machine is shared and sometimes busy).
	ReadyTimeout time.Duration
}

// Daemon is one running containerd.
type Daemon struct {
	// Address is the grpc unix socket path (no unix:// prefix).
	Address string
	// Dir holds everything this daemon owns; it is removed by Stop.
	Dir string
	// RuncRoot is the runc --root for tasks this harness runs.
	RuncRoot string
	// Name is unique per daemon; it names the cgroup parent of its tasks.
	Name string
	// Version is what the Version call answered once the daemon was ready.
	Version string
	// Major is the major version (1 or 2), from Version.
	Major int
	PID   int

	binDir  string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string

	mu       sync.Mutex
	tasks    []string // ids of tasks started through RunTask
	taskPIDs []int
	stopped  bool
}

// Start starts a daemon and registers Stop with t.Cleanup. It fails t when
// the daemon does not become ready. Call Require(t) first.
func Start(t testing.TB, opts Options) *Daemon {
	t.Helper()
	d, err := start(opts)
	if err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containerd log (%s):\n%s", d.Address, d.logTail(8192))
		}
		if err := d.Stop(); err != nil {
			t.Errorf("stop containerd: %v", err)
		}
		if left := d.Leftovers(); len(left) > 0 {
			t.Errorf("containerd %s left behind:\n  %s", d.Address, strings.Join(left, "\n  "))
		}
	})
	return d
}

func start(opts Options) (*Daemon, error) {
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 15 * time.Second
	}
	// Unix socket paths are limited to 108 bytes: keep the dir short, which
	// t.TempDir() (named after the test) is not.
	dir, err := os.MkdirTemp("/tmp", "kcd-lab-")
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		Address:  filepath.Join(dir, "c.sock"),
		Dir:      dir,
		RuncRoot: filepath.Join(dir, "runc"),
		Name:     filepath.Base(dir),
		binDir:   opts.BinDir,
		done:     make(chan struct{}),
		logPath:  filepath.Join(dir, "containerd.log"),
	}
	major := 1
	if opts.BinDir != "" {
		if major, err = binaryMajor(filepath.Join(opts.BinDir, "containerd")); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	for _, sub := range []string{"root", "state", "opt", "cni", "runc"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(configFor(major, dir, d.Address)), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf, err := os.Create(d.logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()

	bin := "containerd"
	if opts.BinDir != "" {
		bin = filepath.Join(opts.BinDir, "containerd")
	}
	cmd := exec.Command(bin, "--config", cfg, "--log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = daemonEnv(opts.BinDir)
	// If the test binary dies, the daemon must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("exec %s: %w", bin, err)
	}
	d.cmd, d.PID = cmd, cmd.Process.Pid
	go func() { _ = cmd.Wait(); close(d.done) }()

	ctx, cancel := context.WithTimeout(context.Background(), opts.ReadyTimeout)
	defer cancel()
	v, err := d.waitReady(ctx)
	if err != nil {
		tail := d.logTail(4096)
		_ = d.Stop()
		return nil, fmt.Errorf("containerd on %s not ready: %w\n%s", d.Address, err, tail)
	}
	d.Version = v
	d.Major = parseMajor(v, major)
	return d, nil
}

// configFor renders the daemon config. Every path a daemon would otherwise
// share with the host's containerd is set to one of our own.
func configFor(major int, dir, addr string) string {
	common := fmt.Sprintf(`root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = ""

[metrics]
  address = ""
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), addr, addr+".ttrpc")
	opt := filepath.Join(dir, "opt")
	cni := filepath.Join(dir, "cni")
	if major >= 2 {
		// imports = [] keeps 2.x from reading /etc/containerd/conf.d; NRI
		// would otherwise share /var/run/nri/nri.sock with the host.
		return "version = 3\nimports = []\n" + common + fmt.Sprintf(`
[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.nri.v1.nri"]
  socket_path = %q

[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["/usr/lib/cni"]
  conf_dir = %q
`, opt, filepath.Join(dir, "nri.sock"), cni)
	}
	return "version = 2\n" + common + fmt.Sprintf(`
[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = %q
`, opt, cni)
}

func daemonEnv(binDir string) []string {
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if binDir != "" {
		path = binDir + ":" + path
	}
	env := []string{"PATH=" + path}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return env
}

// waitReady polls Version on a fresh connection each try: a reused
// connection backs off ~1 s after its first failed dial. It does not poll
// for the socket file, which a killed daemon leaves behind.
func (d *Daemon) waitReady(ctx context.Context) (string, error) {
	var last error
	for {
		select {
		case <-d.done:
			return "", errors.New("containerd exited")
		default:
		}
		v, err := d.versionOnce(ctx, 500*time.Millisecond)
		if err == nil {
			return v, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-d.done:
			return "", errors.New("containerd exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *Daemon) versionOnce(ctx context.Context, timeout time.Duration) (string, error) {
	conn, err := d.dial()
	if err != nil {
		return "", err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := versionapi.NewVersionClient(conn).Version(cctx, &emptypb.Empty{})
	if err != nil {
		return "", err
	}
	return resp.GetVersion(), nil
}

// Dial returns a new client connection to the daemon; the caller closes it.
func (d *Daemon) Dial() (*grpc.ClientConn, error) { return d.dial() }

func (d *Daemon) dial() (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+d.Address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
}

// Freeze SIGSTOPs the daemon and waits until every one of its threads is
// stopped (kill returns before they all are, and a thread still running
// could answer one more call): the socket still accepts, nothing answers.
func (d *Daemon) Freeze() error {
	if err := syscall.Kill(d.PID, syscall.SIGSTOP); err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if allThreadsStopped(d.PID) {
			return nil
		}
	}
	return fmt.Errorf("containerd pid %d: not every thread stopped 5s after SIGSTOP", d.PID)
}

func allThreadsStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
		if err != nil {
			return false
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 >= len(s) || (s[i+2] != 'T' && s[i+2] != 't') {
			return false
		}
	}
	return true
}

// Thaw SIGCONTs the daemon.
func (d *Daemon) Thaw() error { return syscall.Kill(d.PID, syscall.SIGCONT) }

// Kill SIGKILLs the daemon and waits for it: the socket file stays behind
// (connect is refused) and its shims keep running until Stop.
func (d *Daemon) Kill() error {
	_ = syscall.Kill(d.PID, syscall.SIGCONT)
	if err := syscall.Kill(d.PID, syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-d.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("containerd pid %d still running 10s after SIGKILL", d.PID)
	}
}

func (d *Daemon) logTail(n int64) string {
	f, err := os.Open(d.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(buf, off)
	return string(buf)
}

func binaryMajor(bin string) (int, error) {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s --version: %w: %s", bin, err, out)
	}
	// "containerd github.com/containerd/containerd/v2 2.4.2 <rev>"
	fields := strings.Fields(string(out))
	if len(fields) >= 3 {
		return parseMajor(fields[2], 1), nil
	}
	return 1, nil
}

func parseMajor(v string, def int) int {
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexByte(v, '.'); i > 0 {
		var m int
		if _, err := fmt.Sscanf(v[:i], "%d", &m); err == nil && m > 0 {
			return m
		}
	}
	return def
}
