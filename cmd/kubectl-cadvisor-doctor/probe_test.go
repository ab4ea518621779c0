package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/golden"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

func TestProbeOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*ProbeOptions)
		want string
	}{
		{"defaults", func(*ProbeOptions) {}, ""},
		{"json", func(o *ProbeOptions) { o.Output = "json" }, ""},
		{"yaml", func(o *ProbeOptions) { o.Output = "yaml" }, ""},
		{"unknown output", func(o *ProbeOptions) { o.Output = "xml" }, `unknown output format "xml" for -o: want one of json, yaml`},
		{"zero call timeout", func(o *ProbeOptions) { o.CallTimeout = 0 }, "--call-timeout must be positive, got 0s"},
		{"negative timeout", func(o *ProbeOptions) { o.Timeout = -time.Second }, "--timeout must be positive, got -1s"},
		{"zero slow", func(o *ProbeOptions) { o.Slow = 0 }, "--slow must be positive, got 0s"},
		{"zero concurrency", func(o *ProbeOptions) { o.Concurrency = 0 }, "--concurrency must be at least 1, got 0"},
		{"every problem at once", func(o *ProbeOptions) { o.Output = "table"; o.Timeout = 0; o.Proc = "" },
			"unknown output format \"table\" for -o: want one of json, yaml\n--timeout must be positive, got 0s\n--proc must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := NewProbeOptions(genericiooptions.NewTestIOStreamsDiscard())
			tc.mod(o)
			got := ""
			if err := o.Validate(); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// runProbe runs the binary's command tree in-process. Unless a test names
// --cadvisor-socket itself, it is turned off: its default is the host's
// /run/containerd/containerd.sock, and tests never touch the machine's own
// containerd (a developer's machine may run one).
func runProbe(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	code := run(context.Background(), streams, append([]string{"probe"}, withoutHostCadvisorSocket(args)...))
	return code, out.String(), errOut.String()
}

func TestProbeBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown output", []string{"-o", "xml"}, `error: unknown output format "xml" for -o: want one of json, yaml`},
		{"zero timeout", []string{"--timeout", "0s"}, "error: --timeout must be positive, got 0s"},
		{"negative call timeout", []string{"--call-timeout=-2s"}, "error: --call-timeout must be positive, got -2s"},
		{"unknown flag", []string{"--bogus"}, "error: unknown flag: --bogus"},
		{"bad duration", []string{"--slow", "fast"}, `error: invalid argument "fast" for "--slow" flag`},
		{"argument", []string{"extra"}, `error: unknown command "extra" for "kubectl cadvisor-doctor probe"`},
		{"relative socket", []string{"--socket", "containerd.sock"}, `error: --socket must be an absolute path, got "containerd.sock"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runProbe(t, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if first := strings.SplitN(errOut, "\n", 2)[0]; !strings.HasPrefix(first, tc.want) {
				t.Errorf("stderr %q, want a first line starting %q", errOut, tc.want)
			}
		})
	}
}

// TestProbeEveryUsageErrorPrefixed: several bad flags give one "error:"
// line each (only the first had the prefix before).
func TestProbeEveryUsageErrorPrefixed(t *testing.T) {
	code, _, errOut := runProbe(t, "--timeout", "0s", "--concurrency", "0", "--socket", "rel.sock")
	want := "error: --timeout must be positive, got 0s\n" +
		"error: --concurrency must be at least 1, got 0\n" +
		"error: --socket must be an absolute path, got \"rel.sock\"\n"
	if code != 2 || errOut != want {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", code, errOut, want)
	}
}

func TestProbeUnreachableJSONAndTerminationMessage(t *testing.T) {
	t.Setenv("NODE_NAME", "node-a")
	dir := t.TempDir()
	term := filepath.Join(dir, "termination-log")
	missing := filepath.Join(dir, "containerd.sock")
	code, out, errOut := runProbe(t, "--socket", "unix://"+missing, "-o", "json", "--termination-message-path", term)
	if code != 1 {
		t.Errorf("exit %d, want 1 (stderr %q)", code, errOut)
	}
	var r checks.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not a Result: %v\n%s", err, out)
	}
	want := "socket " + missing + " does not exist"
	if r.Verdict != checks.Unreachable || r.Reason != want || r.Node != "node-a" || r.APIVersion != checks.APIVersion || r.Kind != checks.Kind {
		t.Errorf("result %+v, want Unreachable %q on node-a", r, want)
	}
	b, err := os.ReadFile(term)
	if err != nil {
		t.Fatal(err)
	}
	var tr checks.Result
	if err := json.Unmarshal(b, &tr); err != nil || len(b) > checks.TerminationMessageBytes {
		t.Fatalf("termination message (%d bytes): %v", len(b), err)
	}
	if tr.Verdict != r.Verdict || tr.Reason != r.Reason || tr.Kind != checks.Kind {
		t.Errorf("termination message %+v differs from the result", tr)
	}
}

func TestProbeSummaryGolden(t *testing.T) {
	uid := uint32(0)
	ready := true
	r := checks.Result{
		APIVersion: checks.APIVersion, Kind: checks.Kind, Node: "node-1", Verdict: checks.AtRisk,
		Reason:     "Tasks/Get for container web-1 stuck 2.001s: Unknown (shim pid 4321 state T, stopped)",
		Socket:     checks.SocketInfo{Path: "/run/containerd/containerd.sock", Exists: true, Type: "socket", Mode: "0660", UID: &uid, GID: &uid, ConnectMs: 0.1},
		Containerd: checks.ContainerdInfo{Version: "1.6.20", VersionMs: 0.3},
		Namespace:  "k8s.io", Containers: 2, SweptContainers: 2,
		Calls: []checks.CallStats{
			{Method: checks.MethodVersion, Count: 1, OK: 1, P50Ms: 0.3, P99Ms: 0.3, MaxMs: 0.3},
			{Method: checks.MethodContainersGet, Count: 2, OK: 2, P50Ms: 0.2, P99Ms: 0.4, MaxMs: 0.4, MaxBytes: 900},
			{Method: checks.MethodTasksGet, Count: 2, OK: 2, Unknown: 1, P50Ms: 0.2, P99Ms: 2001, MaxMs: 2001, MaxBytes: 120},
		},
		Stuck: []checks.StuckCall{{Method: checks.MethodTasksGet, ID: "web-1", ElapsedMs: 2001, Error: "task status UNKNOWN after 2.001s",
			Evidence: &checks.ProcessInfo{PID: 4321, PPID: 1, State: "T"}}},
		CRI:        &checks.CRIInfo{RuntimeName: "containerd", RuntimeVersion: "1.6.20", Ready: &ready, Sandboxes: 1, Containers: 2},
		Daemon:     &checks.DaemonEvidence{Process: &checks.ProcessInfo{PID: 99, State: "S", Threads: 12}, Shims: 2},
		Checks:     []checks.CheckResult{{Name: "socket", Status: checks.StatusOK, Message: "socket"}, {Name: "sweep", Status: checks.StatusTimeout, DurationMs: 2002.5, Message: "2 of 2 containers, 1 stuck calls"}},
		DurationMs: 2010,
	}
	var buf bytes.Buffer
	if err := printProbeSummary(&buf, r); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "probe-summary.golden", buf.Bytes())
}

// TestProbeInPodLayout runs the probe exactly as the check pod does: the
// socket's directory mounted under --host-root, -o json and a termination
// message, against a real daemon.
func TestProbeInPodLayout(t *testing.T) {
	containerdlab.Require(t, "")
	d := containerdlab.Start(t, containerdlab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.CreateContainers(ctx, containerdlab.IDs("pod", 30), nil); err != nil {
		t.Fatal(err)
	}
	host, err := os.MkdirTemp("/tmp", "kcd-hostroot-")
	if err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(host, "run", "containerd")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(d.Dir, mnt, "", syscall.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	// The pod mounts the socket's directory read-only: connect still works.
	if err := syscall.Mount("", mnt, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Errorf("remount read-only: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
		os.RemoveAll(host)
	})
	term := filepath.Join(t.TempDir(), "termination-log")
	start := time.Now()
	code, out, errOut := runProbe(t, "--host-root", host, "--socket", "/run/containerd/c.sock", "-o", "json",
		"--termination-message-path", term, "--timeout", "10s", "--node-name", "node-b")
	took := time.Since(start)
	if code != 0 {
		t.Errorf("exit %d, want 0; stderr %q\n%s", code, errOut, out)
	}
	if took > 3*time.Second {
		t.Errorf("probe took %s", took)
	}
	var r checks.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Verdict != checks.Healthy || r.Containers != 30 || r.Socket.Path != "/run/containerd/c.sock" || r.Socket.HostRoot != host || r.Node != "node-b" {
		t.Errorf("result %+v", r)
	}
	b, err := os.ReadFile(term)
	if err != nil || len(b) > checks.TerminationMessageBytes {
		t.Fatalf("termination message: %d bytes, %v", len(b), err)
	}
}

func TestProbeYAMLHealthy(t *testing.T) {
	containerdlab.Require(t, "")
	d := containerdlab.Start(t, containerdlab.Options{})
	code, out, errOut := runProbe(t, "--socket", d.Address, "-o", "yaml")
	if code != 0 {
		t.Fatalf("exit %d; stderr %q\n%s", code, errOut, out)
	}
	var r checks.Result
	if err := yaml.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.APIVersion != checks.APIVersion || r.Kind != checks.Kind || r.Verdict != checks.Healthy || r.Containerd.Version != d.Version {
		t.Errorf("yaml result %+v", r)
	}
	if !strings.HasPrefix(out, "apiVersion: "+checks.APIVersion+"\n") {
		t.Errorf("yaml does not start with apiVersion:\n%s", out)
	}
}

// TestProbeHelperProcess is not a test: TestProbePermissionDenied re-execs
// this binary with -test.run selecting it, to run the probe command in a
// process of another user.
func TestProbeHelperProcess(t *testing.T) {
	args := os.Getenv("KCD_PROBE_HELPER_ARGS")
	if args == "" {
		t.Skip("helper process for TestProbePermissionDenied")
	}
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(run(context.Background(), streams, strings.Split(args, "\x1f")))
}

// TestProbePermissionDenied: a non-root probe on a root-only socket is
// Unreachable, saying permission denied (not "refused" or "missing").
func TestProbePermissionDenied(t *testing.T) {
	containerdlab.Require(t, "") // root, to run the probe as nobody
	dir, err := os.MkdirTemp("/tmp", "kcd-perm-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "containerd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chmod(sock, 0o660); err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a 0700 dir: copy it where nobody can run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "probe.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestProbeHelperProcess$")
	cmd.Env = append(os.Environ(), "KCD_PROBE_HELPER_ARGS="+strings.Join([]string{"probe", "--socket", sock, "-o", "json", "--timeout", "5s", "--cadvisor-socket="}, "\x1f"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, out)
	}
	var r checks.Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.Verdict != checks.Unreachable || r.Reason != "permission denied connecting to "+sock {
		t.Errorf("verdict %s %q, want Unreachable: permission denied", r.Verdict, r.Reason)
	}
	if r.Socket.Type != "socket" || r.Socket.Mode != "0660" || r.Socket.UID == nil || *r.Socket.UID != 0 {
		t.Errorf("socket %+v, want a root-owned 0660 socket", r.Socket)
	}
}

func withoutHostCadvisorSocket(args []string) []string {
	for _, a := range args {
		if a == "--cadvisor-socket" || strings.HasPrefix(a, "--cadvisor-socket=") {
			return args
		}
	}
	return append(append([]string(nil), args...), "--cadvisor-socket=")
}
