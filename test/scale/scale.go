package scale

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/apiservertest"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

// Namespace is where the run's pods go; it allows privileged pods.
const Namespace = "cadvisor-doctor"

// Config says what to run.
type Config struct {
	// Nodes is how many Node objects to register.
	Nodes int
	// Seed picks the scenario (which node is which kind).
	Seed uint64
	// Plugin is the kubectl-cadvisor_doctor binary.
	Plugin string
	// NodeTimeout and Timeout are passed as check's --node-timeout and
	// --timeout. CheckArgs are further flags (e.g. --qps 20 to compare).
	NodeTimeout, Timeout time.Duration
	CheckArgs            []string
	// Log receives the harness's progress lines; nil discards them.
	Log io.Writer
	// KeepDir keeps the daemons' directory (logs, audit log) for a look.
	KeepDir bool
}

// Point is one sample of completion over time, from the plugin's own
// progress lines: Done of the targeted nodes had an outcome at Sec
// seconds after the plugin started.
type Point struct {
	Sec  float64 `json:"sec"`
	Done int     `json:"done"`
}

// Result is what one run measured.
type Result struct {
	Nodes, Targets int
	// Wall is the plugin's whole run, exec to exit (plan, preflight, pods,
	// cleanup).
	Wall     time.Duration
	Requests Requests
	// RSSMiB is the plugin's peak resident set (wait4's ru_maxrss);
	// CPUSeconds its user plus system time.
	RSSMiB, CPUSeconds float64
	// Correct counts nodes reported exactly once with the verdict the
	// simulation made them; Wrong describes the others.
	Correct int
	Wrong   []string
	// PodsLeft counts the run's pods in the namespace after the plugin
	// exited; NoDeadline the plugin's complaints about requests without a
	// deadline (its guard refuses those).
	PodsLeft, NoDeadline int
	ExitCode             int
	Completion           []Point
	// StderrTail is the plugin's last stderr lines, progress left out.
	StderrTail []string
	// KubeletErrors counts failed updates of the simulated kubelet.
	KubeletErrors int64
	// LoadBefore and LoadAfter are /proc/loadavg's first three fields.
	LoadBefore, LoadAfter string
}

// RequestsPerNode counts every request of the plugin, the watch included,
// per node in the cluster.
func (r Result) RequestsPerNode() float64 { return float64(r.Requests.Total) / float64(r.Nodes) }

// Line is the harness's summary line.
func (r Result) Line() string {
	return fmt.Sprintf("nodes=%d wall=%.2f requests_per_node=%.2f rss_mib=%.1f correct=%d",
		r.Nodes, r.Wall.Seconds(), r.RequestsPerNode(), r.RSSMiB, r.Correct)
}

// Run starts the daemons, registers the nodes, runs the simulated kubelet
// and the plugin's check, and measures. Everything it started is stopped
// before it returns.
func Run(ctx context.Context, cfg Config) (_ *Result, err error) {
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "scale-bench: "+format+"\n", args...)
		}
	}
	if cfg.Nodes < 1 {
		return nil, errors.New("--nodes must be at least 1")
	}
	dir, err := os.MkdirTemp("", "scale-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if cfg.KeepDir {
			logf("kept %s", dir)
			return
		}
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	policy, auditLog := filepath.Join(dir, "audit-policy.yaml"), filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "server"), 0o700); err != nil {
		return nil, err
	}
	logf("starting etcd and kube-apiserver")
	srv, err := apiservertest.Start(ctx, apiservertest.Options{
		Dir:       filepath.Join(dir, "server"),
		ExtraArgs: []string{"--audit-policy-file", policy, "--audit-log-path", auditLog, "--audit-log-mode", "blocking"},
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := srv.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop kube-apiserver: %w", serr))
		}
	}()
	// The harness and the kubelet must not be what limits the run: no
	// client-side rate limit for them (QPS < 0).
	adminCfg := srv.AdminConfig()
	adminCfg.QPS = -1
	admin, err := kubernetes.NewForConfig(adminCfg)
	if err != nil {
		return nil, err
	}
	specs := Scenario(cfg.Nodes, cfg.Seed, cfg.NodeTimeout)
	if err := setUp(ctx, admin, specs); err != nil {
		return nil, err
	}
	logf("registered %d nodes", len(specs))

	kctx, stopKubelet := context.WithCancel(ctx)
	defer stopKubelet()
	var kubeletErrs atomic.Int64
	k := &apiservertest.Kubelet{Client: admin, Namespace: Namespace, Selector: "app.kubernetes.io/managed-by=kubectl-cadvisor-doctor",
		Behaviors: Behaviors(specs), Report: func(error) { kubeletErrs.Add(1) }}
	var kwg sync.WaitGroup
	kwg.Add(1)
	go func() { defer kwg.Done(); k.Run(kctx) }()
	defer kwg.Wait()
	defer stopKubelet()

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := srv.WriteKubeconfig(kubeconfig, PluginUser, "system:masters"); err != nil {
		return nil, err
	}
	res := &Result{Nodes: cfg.Nodes, LoadBefore: loadavg()}
	for _, s := range specs {
		if s.Want != report.Skipped {
			res.Targets++
		}
	}
	out, err := runPlugin(ctx, cfg, kubeconfig, res, logf)
	if err != nil {
		return nil, err
	}
	res.LoadAfter = loadavg()
	res.KubeletErrors = kubeletErrs.Load()
	res.Correct, res.Wrong = score(specs, out)
	if res.PodsLeft, err = podsLeft(ctx, admin); err != nil {
		return nil, err
	}
	// A watch's audit record may be written as it closes: give the API
	// server a moment before reading the log.
	time.Sleep(time.Second)
	if res.Requests, err = countRequests(auditLog, PluginUser); err != nil {
		return nil, err
	}
	return res, nil
}

func setUp(ctx context.Context, c kubernetes.Interface, specs []NodeSpec) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}}}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.CoreV1().Namespaces().Create(rctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, s := range specs {
		g.Go(func() error {
			rctx, cancel := context.WithTimeout(gctx, 30*time.Second)
			defer cancel()
			if err := apiservertest.CreateNode(rctx, c, s.Node()); err != nil {
				return fmt.Errorf("create node %s: %w", s.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

var progressRE = regexp.MustCompile(`^(\d+)/(\d+) nodes done`)

// runPlugin runs `check -o json` as a subprocess, samples its progress
// lines on stderr and takes its peak RSS from wait4.
func runPlugin(ctx context.Context, cfg Config, kubeconfig string, res *Result, logf func(string, ...any)) ([]byte, error) {
	args := append([]string{"check", "--kubeconfig", kubeconfig, "-n", Namespace, "-o", "json",
		"--node-timeout", cfg.NodeTimeout.String(), "--timeout", cfg.Timeout.String()}, cfg.CheckArgs...)
	cmd := exec.CommandContext(ctx, cfg.Plugin, args...)
	// The plugin cleans up on SIGTERM; a harness that is interrupted
	// passes that on and gives it the time its cleanup needs.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	logf("running %s %s", filepath.Base(cfg.Plugin), strings.Join(args, " "))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start plugin: %w", err)
	}
	var tail []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if m := progressRE.FindStringSubmatch(line); m != nil {
			done, _ := strconv.Atoi(m[1])
			res.Completion = append(res.Completion, Point{Sec: time.Since(start).Seconds(), Done: done})
			logf("%.1fs %s", time.Since(start).Seconds(), truncate(line, 120))
			continue
		}
		if strings.Contains(line, "no deadline") {
			res.NoDeadline++
		}
		tail = append(tail, line)
		if len(tail) > 20 {
			tail = tail[1:]
		}
	}
	res.StderrTail = tail
	werr := cmd.Wait()
	res.Wall = time.Since(start)
	res.Completion = append(res.Completion, Point{Sec: res.Wall.Seconds(), Done: res.Targets})
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.RSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
		res.CPUSeconds = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	res.ExitCode = cmd.ProcessState.ExitCode()
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		return nil, fmt.Errorf("run plugin: %w", werr)
	}
	// 1 (findings) and 2 (inconclusive nodes) are expected with this mix;
	// a run that failed prints no report, which score then shows.
	if res.ExitCode != 1 && res.ExitCode != 2 || stdout.Len() == 0 {
		logf("plugin exited %d; stderr tail:\n%s", res.ExitCode, strings.Join(tail, "\n"))
	}
	return stdout.Bytes(), nil
}

// score compares the report with the scenario: a node is correct when it
// appears exactly once, with the verdict the simulation made it.
func score(specs []NodeSpec, out []byte) (int, []string) {
	var rep struct {
		Items []struct {
			Node    string         `json:"node"`
			Verdict report.Verdict `json:"verdict"`
			Reason  string         `json:"reason"`
		} `json:"items"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return 0, []string{fmt.Sprintf("report is not JSON: %v", err)}
	}
	type seen struct {
		n       int
		verdict report.Verdict
		reason  string
	}
	got := map[string]*seen{}
	for _, it := range rep.Items {
		s := got[it.Node]
		if s == nil {
			s = &seen{}
			got[it.Node] = s
		}
		s.n++
		s.verdict, s.reason = it.Verdict, it.Reason
	}
	correct := 0
	var wrong []string
	for _, sp := range specs {
		s := got[sp.Name]
		switch {
		case s == nil:
			wrong = append(wrong, fmt.Sprintf("%s (%s): missing from the report", sp.Name, sp.Kind))
		case s.n != 1:
			wrong = append(wrong, fmt.Sprintf("%s (%s): reported %d times", sp.Name, sp.Kind, s.n))
		case s.verdict != sp.Want:
			wrong = append(wrong, fmt.Sprintf("%s (%s): %s, want %s: %s", sp.Name, sp.Kind, s.verdict, sp.Want, s.reason))
		default:
			correct++
		}
		delete(got, sp.Name)
	}
	for name := range got {
		wrong = append(wrong, fmt.Sprintf("%s: reported but not in the cluster", name))
	}
	return correct, wrong
}

func podsLeft(ctx context.Context, c kubernetes.Interface) (int, error) {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := c.CoreV1().Pods(Namespace).List(rctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list pods left: %w", err)
	}
	return len(list.Items), nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
