//go:build !probeonly

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/version"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/stall"
)

func init() { subcommands = append(subcommands, newCheckCmd) }

// Defaults of `check`.
const (
	defaultTimeout = 3 * time.Minute
	// defaultQPS and defaultBurst: the pod path makes about two requests
	// per node (a create, and a delete once the pod has ended) plus one
	// shared watch, and the creations are on the critical path: a pod
	// created later has its --node-timeout end later, so the creation span
	// adds to the wall time of every run with a hung node. Measured on a
	// real kube-apiserver with 1,000 simulated nodes (hack/scale-bench,
	// docs/performance.md), burst 300 (what kubectl allows its discovery
	// client) lets the first 300 creates go at --concurrency and takes the
	// creation of 937 pods from 17 s (burst 100) to 13 s; 50 QPS stays
	// kubectl's own rate, which API servers already take from on-call.
	defaultQPS   = 50
	defaultBurst = 300
	// progressEvery is how often stderr says which nodes are pending.
	progressEvery = 2 * time.Second
	// socketWait bounds the wait for a kubelet's /configz before its
	// node's pod is created (a healthy kubelet answers in ~10 ms).
	socketWait = 2 * time.Second
)

// CheckOptions holds the check command's flags and derived state.
type CheckOptions struct {
	ConfigFlags *genericclioptions.ConfigFlags

	Nodes             []string
	Selector          string
	Image             string
	ImagePullPolicy   string
	ImagePullSecrets  []string
	PriorityClassName string
	Socket            string
	NodeTimeout       time.Duration
	Timeout           time.Duration
	Concurrency       int
	QPS               float32
	Burst             int
	Output            string
	CallTimeout       time.Duration
	Slow              time.Duration
	// NoPod and KubeletEvidence: check_kubelet.go.
	NoPod           bool
	KubeletEvidence bool

	// Set by Complete.
	client kubernetes.Interface
	// evidenceClient reads the kubelets (check_kubelet.go); nil: client.
	evidenceClient kubernetes.Interface
	namespace      string
	runID          string
	printer        report.Printer
	// now stamps the report; tests fix it.
	now func() time.Time

	genericiooptions.IOStreams
}

// NewCheckOptions returns options with the defaults.
func NewCheckOptions(streams genericiooptions.IOStreams) *CheckOptions {
	return &CheckOptions{
		ConfigFlags:     genericclioptions.NewConfigFlags(true),
		Image:           version.ProbeImage,
		ImagePullPolicy: string(corev1.PullIfNotPresent),
		NodeTimeout:     nodeexec.DefaultNodeTimeout,
		Timeout:         defaultTimeout,
		Concurrency:     nodeexec.DefaultConcurrency,
		QPS:             defaultQPS,
		Burst:           defaultBurst,
		KubeletEvidence: true,
		now:             time.Now,
		IOStreams:       streams,
	}
}

func newCheckCmd(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewCheckOptions(streams)
	cmd := &cobra.Command{
		Use:   "check [NODE...]",
		Short: "Probe nodes through short-lived privileged pods and report whether containerd would stall cAdvisor",
		Long: `check runs one short-lived pod pinned to each chosen node (all nodes by default)
that runs the probe against the node's containerd, collects every result
from the pods' termination messages through one shared watch, and prints
one verdict per node. A node whose pod does not finish within --node-timeout
still gets a verdict, from the pod's events, its status and the node's
conditions. Windows nodes and nodes whose runtime is not containerd are
Skipped. Every pod of the run is deleted when it ends, whatever ends it.

Before creating anything it checks the namespace's PodSecurity labels, your
permissions (docs/rbac.yaml has the minimal RBAC) and a server-side dry run
of the pod. The namespace is -n, else your kubeconfig context's, else
"default"; a namespace of its own labeled
pod-security.kubernetes.io/enforce=privileged is best (docs/rbac.yaml).

Beside the pods it reads each node's kubelet through the API server's node
proxy (/configz, goroutine dumps, /metrics/cadvisor, /stats/summary; needs
get on nodes/proxy, docs/kubelet-evidence.md). /configz names the socket the
node's pod mounts and probes (else the probe discovers it under /run); the
probe also checks /run/containerd/containerd.sock, the socket the kubelet's
cAdvisor dials whatever the kubelet uses, and the metrics tell whether
cAdvisor sees containerd at all (docs/runbook.md, "cAdvisor's socket"). A
node whose kubelet shows cAdvisor blocked in a containerd call is Stalled,
and one whose kubelet's own CRI reads hang is Unresponsive, even when no pod
can start there. --no-pod does only that: a read-only pass that creates no
pod.

Verdicts: Healthy, Slow, AtRisk, Stalled, Unresponsive, Unreachable, Inconclusive,
Skipped (docs/runbook.md says what each means and what to do).
Exit status: 0 every node Healthy or Skipped; 1 some node Slow, AtRisk,
Stalled, Unresponsive or Unreachable; 2 otherwise (Inconclusive nodes, or the run
failed).`,
		Example: `  # Every node
  kubectl cadvisor-doctor check -n cadvisor-doctor

  # Two nodes, as JSON
  kubectl cadvisor-doctor check node-1 node-2 -o json

  # A node pool, for an incident ticket
  kubectl cadvisor-doctor check -l pool=gpu -o markdown

  # Is cAdvisor stalled right now? Read-only, no pod
  kubectl cadvisor-doctor check --no-pod`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return completeNodeNames(cmd.Context(), o.ConfigFlags, toComplete), cobra.ShellCompDirectiveNoFileComp
		},
	}
	o.AddFlags(cmd.Flags())
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return report.AllowedFormats(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// AddFlags binds every flag of check to its field.
func (o *CheckOptions) AddFlags(fs *pflag.FlagSet) {
	o.ConfigFlags.AddFlags(fs)
	for _, name := range []string{"cache-dir", "disable-compression", "tls-server-name", "username", "password"} {
		_ = fs.MarkHidden(name)
	}
	fs.StringVarP(&o.Selector, "selector", "l", o.Selector, "check only the nodes matching this label selector")
	fs.StringVar(&o.Image, "image", o.Image, "probe image run on each node")
	fs.StringVar(&o.ImagePullPolicy, "image-pull-policy", o.ImagePullPolicy, "image pull policy of the probe pod: Always, IfNotPresent or Never")
	fs.StringSliceVar(&o.ImagePullSecrets, "image-pull-secret", o.ImagePullSecrets, "image pull secret(s) in the run's namespace, for a private probe image")
	fs.StringVar(&o.PriorityClassName, "priority-class-name", o.PriorityClassName, "priority class of the probe pods (e.g. system-node-critical on full nodes)")
	fs.StringVar(&o.Socket, "socket", o.Socket, "containerd socket path on every node (its directory is mounted read-only); "+
		"default: each kubelet's containerRuntimeEndpoint from its /configz, else what the probe discovers under /run")
	fs.DurationVar(&o.NodeTimeout, "node-timeout", o.NodeTimeout, "budget of one node: pod start plus probe; then the node gets a verdict from evidence")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "bound on the whole run")
	fs.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "pod creations in flight")
	fs.Float32Var(&o.QPS, "qps", o.QPS, "API requests per second the plugin may make")
	fs.IntVar(&o.Burst, "burst", o.Burst, "API request burst above --qps")
	fs.StringVarP(&o.Output, "output", "o", o.Output, "output format: one of "+strings.Join(report.AllowedFormats(), "|")+" (default: a table)")
	fs.DurationVar(&o.CallTimeout, "call-timeout", o.CallTimeout, "probe: deadline of every single containerd call (default: the probe's, 2s like cAdvisor)")
	fs.DurationVar(&o.Slow, "slow", o.Slow, "probe: a call slower than this makes the verdict Slow (default: the probe's)")
	fs.BoolVar(&o.NoPod, "no-pod", o.NoPod, "create no pod: verdicts from the kubelets' live evidence alone (read-only; needs get on nodes/proxy)")
	fs.BoolVar(&o.KubeletEvidence, "kubelet-evidence", o.KubeletEvidence, "read the kubelets' goroutine dumps and cAdvisor metrics through the node proxy (Stalled verdicts)")
}

// Complete loads the kubeconfig, builds the client and resolves defaults.
func (o *CheckOptions) Complete(args []string) error {
	o.Nodes = args
	var err error
	if o.namespace, _, err = o.ConfigFlags.ToRawKubeConfigLoader().Namespace(); err != nil {
		return kubeconfigError(err)
	}
	if o.namespace == "" {
		o.namespace = metav1.NamespaceDefault
	}
	if o.printer, err = report.ToPrinter(o.Output); err != nil {
		// Validate reports it with every other problem.
		o.printer = nil
	}
	o.runID = nodeexec.NewRunID()
	if o.client != nil {
		return nil // injected by a test
	}
	cfg, err := restConfig(o.ConfigFlags)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	cfg.Wrap(requireDeadline(o.ErrOut))
	// API warnings (e.g. a PodSecurity warn label) as kubectl prints them,
	// not as log lines.
	cfg.WarningHandler = rest.NewWarningWriter(o.ErrOut, rest.WarningWriterOptions{Deduplicate: true})
	if o.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return fmt.Errorf("build client: %w", err)
	}
	// The kubelet evidence gets a client of its own, so its own --qps
	// limiter: four node-proxy reads per node must not delay pod creation.
	if o.evidenceClient, err = kubernetes.NewForConfig(cfg); err != nil {
		return fmt.Errorf("build client: %w", err)
	}
	return nil
}

// podOptions turns flags into nodeexec's plain options.
func (o *CheckOptions) podOptions() nodeexec.Options {
	return nodeexec.Options{
		Namespace: o.namespace, Image: o.Image, ImagePullPolicy: corev1.PullPolicy(o.ImagePullPolicy),
		ImagePullSecrets: o.ImagePullSecrets, PriorityClassName: o.PriorityClassName, Socket: o.Socket,
		RunID: o.runID, NodeTimeout: o.NodeTimeout, CallTimeout: o.CallTimeout, Slow: o.Slow,
		Concurrency: o.Concurrency,
	}
}

// Validate checks the flags without I/O and reports every problem.
func (o *CheckOptions) Validate() error {
	var errs []error
	if _, err := report.ToPrinter(o.Output); err != nil {
		errs = append(errs, err)
	}
	if len(o.Nodes) > 0 && o.Selector != "" {
		errs = append(errs, errors.New("node names and --selector are mutually exclusive"))
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout must be positive, got %s", o.Timeout))
	} else if !o.NoPod && o.NodeTimeout > o.Timeout {
		errs = append(errs, fmt.Errorf("--node-timeout %s must not exceed --timeout %s", o.NodeTimeout, o.Timeout))
	}
	if o.QPS <= 0 {
		errs = append(errs, fmt.Errorf("--qps must be positive, got %v", o.QPS))
	}
	if o.Burst < 1 {
		errs = append(errs, fmt.Errorf("--burst must be at least 1, got %d", o.Burst))
	}
	if err := o.podOptions().Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.NoPod && !o.KubeletEvidence {
		errs = append(errs, errors.New("--no-pod needs --kubelet-evidence: it has nothing else to report"))
	}
	return errors.Join(errs...)
}

// Run plans, checks preconditions, runs the pods and prints the report.
func (o *CheckOptions) Run(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	plan, err := nodeexec.NewPlan(ctx, o.client, o.Nodes, o.Selector)
	if err != nil {
		return err
	}
	if o.NoPod {
		return o.runNoPod(ctx, plan)
	}
	po := o.podOptions()
	if len(plan.Targets) > 0 {
		warnings, err := nodeexec.Preflight(ctx, o.client, po, plan.Targets[0].Name)
		for _, w := range warnings {
			fmt.Fprintln(o.ErrOut, "warning:", w)
		}
		if err != nil {
			return err
		}
	}
	var stream report.Stream
	if sp, ok := o.printer.(report.StreamPrinter); ok && isTerminal(o.Out) {
		stream = sp.NewStream(o.Out, plan.Names())
		for _, s := range plan.Skipped {
			_ = stream.PrintItem(report.ItemFor(s))
		}
	}
	prog := newProgressPrinter(o.ErrOut, len(plan.Targets))
	var kubelet *kubeletRun
	var socketFor func(context.Context, string) string
	if o.KubeletEvidence {
		configs := o.configs()
		kubelet = o.startKubeletEvidence(ctx, plan.Targets, configs)
		if o.Socket == "" {
			// Each node's pod mounts and probes its kubelet's own socket.
			// A kubelet slow to answer holds its pod back socketWait at
			// most: the pod then mounts /run and the probe discovers the
			// socket (the evidence still gets /configz when it comes).
			socketFor = func(ctx context.Context, node string) string {
				ctx, cancel := context.WithTimeout(ctx, socketWait)
				defer cancel()
				return configs.Get(ctx, node).RuntimeSocket()
			}
		}
	}
	var rows sync.WaitGroup
	var rowsMu sync.Mutex
	runner := &nodeexec.Runner{
		Client: o.client, Options: po, SocketFor: socketFor, Decided: kubelet.decided,
		OnProgress: prog.update,
		OnResult: func(nr nodeexec.NodeResult) {
			if stream == nil {
				return
			}
			// The row waits for the node's kubelet evidence, off the
			// runner's goroutine.
			rows.Go(func() {
				it := report.ItemFor(nr)
				if kubelet != nil {
					stall.Apply(&it, kubelet.wait(ctx, nr.Node))
				}
				rowsMu.Lock()
				defer rowsMu.Unlock()
				_ = stream.PrintItem(it)
			})
		},
	}
	stopProgress := prog.start(progressEvery)
	results, runErr := runner.Run(ctx, plan.Targets)
	stopProgress()
	rep := report.Build(o.now(), o.runID, append(plan.Skipped, results...))
	if kubelet != nil {
		kubelet.apply(ctx, rep)
	}
	rows.Wait()
	rep.Interrupted = errors.Is(ctx.Err(), context.Canceled)
	if stream != nil {
		err = stream.Close(rep)
	} else {
		err = o.printer.PrintReport(o.Out, rep)
	}
	code := rep.ExitCode()
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
		fmt.Fprintln(o.ErrOut, "interrupted: the report covers the nodes finished so far")
	}
	if err = errors.Join(err, runErr); err != nil {
		if code != report.ExitFindings {
			code = report.ExitInconclusive
		}
		return &exitError{code: code, err: err}
	}
	if code != report.ExitOK {
		return &exitError{code: code}
	}
	return nil
}

// isTerminal says whether w is a terminal (rows then stream as nodes
// finish). A variable so tests can pretend.
var isTerminal = defaultIsTerminal

func defaultIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressPrinter writes "waiting for ..." lines to stderr while nodes are
// pending. The runner updates it; a ticker prints it.
type progressPrinter struct {
	w     io.Writer
	mu    sync.Mutex
	last  nodeexec.Progress
	total int
	now   func() time.Time
}

func newProgressPrinter(w io.Writer, total int) *progressPrinter {
	return &progressPrinter{w: w, total: total, last: nodeexec.Progress{Total: total}, now: time.Now}
}

func (p *progressPrinter) update(pr nodeexec.Progress) {
	p.mu.Lock()
	p.last = pr
	p.mu.Unlock()
}

func (p *progressPrinter) start(every time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.print()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (p *progressPrinter) print() {
	p.mu.Lock()
	pr := p.last
	p.mu.Unlock()
	// The runner sends a snapshot only when a pod changes; a hung node's pod
	// does not, so its age is brought up to date here.
	now := p.now()
	pending := make([]nodeexec.PendingNode, len(pr.Pending))
	for i, pn := range pr.Pending {
		if !pn.Created.IsZero() {
			pn.Elapsed = now.Sub(pn.Created)
		}
		pending[i] = pn
	}
	pr.Pending = pending
	if len(pr.Pending) == 0 && pr.Done > 0 {
		return
	}
	fmt.Fprintln(p.w, progressLine(pr))
}

// progressLine names up to three pending nodes and what their pods show.
func progressLine(pr nodeexec.Progress) string {
	var parts []string
	for i, pn := range pr.Pending {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(pr.Pending)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s, %s)", pn.Node, pn.State, pn.Elapsed.Round(time.Second)))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d/%d nodes done: creating pods", pr.Done, pr.Total)
	}
	return fmt.Sprintf("%d/%d nodes done; waiting for %s", pr.Done, pr.Total, strings.Join(parts, ", "))
}

// completeNodeNames lists node names for shell completion, under a short
// deadline; completion never fails loudly.
func completeNodeNames(ctx context.Context, cf *genericclioptions.ConfigFlags, prefix string) []string {
	cfg, err := cf.ToRESTConfig()
	if err != nil {
		return nil
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, n := range list.Items {
		if strings.HasPrefix(n.Name, prefix) {
			out = append(out, n.Name)
		}
	}
	return out
}
