//go:build !probeonly

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeproxy"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/stall"
)

// kubeletRun collects the kubelets' live evidence (pkg/stall) of a run's
// nodes beside the pods, node by node, so that a node's row can be
// printed as soon as both its pod and its kubelet evidence are in.
type kubeletRun struct {
	mu     sync.Mutex
	byNode map[string]*report.KubeletEvidence
	done   map[string]chan struct{}
	all    chan struct{}
	errOut io.Writer
	// refreshing holds, per node whose evidence is read a second time
	// (decided), a channel closed when that read is in.
	refreshing map[string]chan struct{}
	// ctx, collector and nodes serve the second reads.
	ctx       context.Context
	collector *stall.Collector
	nodes     map[string]corev1.Node
}

func (o *CheckOptions) kubeletClient() kubernetes.Interface {
	if o.evidenceClient != nil {
		return o.evidenceClient
	}
	return o.client
}

// configs reads each node's /configz once per run, for the pod path (the
// kubelet's socket) and the evidence alike.
func (o *CheckOptions) configs() *stall.Configs {
	return &stall.Configs{Client: o.kubeletClient()}
}

func (o *CheckOptions) collector(configs *stall.Configs) *stall.Collector {
	return &stall.Collector{Client: o.kubeletClient(), Configs: configs, Options: stall.Options{
		Concurrency: nodeproxy.DefaultConcurrency, IgnoreManagedBy: nodeexec.ManagedByValue}}
}

// startKubeletEvidence reads every node's kubelet evidence in the
// background, bounded by ctx (the run's --timeout).
func (o *CheckOptions) startKubeletEvidence(ctx context.Context, nodes []corev1.Node, configs *stall.Configs) *kubeletRun {
	k := &kubeletRun{byNode: map[string]*report.KubeletEvidence{}, done: map[string]chan struct{}{}, all: make(chan struct{}), errOut: o.ErrOut,
		refreshing: map[string]chan struct{}{}, ctx: ctx}
	byName := map[string]corev1.Node{}
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		byName[n.Name], k.done[n.Name] = n, make(chan struct{})
		names = append(names, n.Name)
	}
	c := o.collector(configs)
	k.collector, k.nodes = c, byName
	go func() {
		defer close(k.all)
		nodeproxy.ForEachNode(ctx, names, c.Options.Concurrency, func(ctx context.Context, name string) {
			ev := c.Node(ctx, byName[name])
			k.mu.Lock()
			k.byNode[name] = ev
			k.mu.Unlock()
			close(k.done[name])
		})
	}()
	return k
}

// wait returns a node's evidence once read, or nil when the collection
// ended (or ctx did) without it.
func (k *kubeletRun) wait(ctx context.Context, node string) *report.KubeletEvidence {
	select {
	case <-k.done[node]:
	case <-k.all:
	case <-ctx.Done():
	}
	k.mu.Lock()
	again := k.refreshing[node]
	k.mu.Unlock()
	if again != nil {
		select {
		case <-again:
		case <-ctx.Done():
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.byNode[node]
}

// decided is the runner's early answer for a node whose pod has not
// finished: the kubelet's own CRI reads stuck in containerd already prove
// the runtime does not answer, so the node need not wait for its
// --node-timeout. It never waits: evidence not read yet decides nothing.
// A nil kubeletRun (--kubelet-evidence=false) decides nothing.
func (k *kubeletRun) decided(node string) *nodeexec.Classification {
	if k == nil {
		return nil
	}
	done, ok := k.done[node]
	if !ok {
		return nil
	}
	select {
	case <-done:
	default:
		return nil
	}
	k.mu.Lock()
	ev := k.byNode[node]
	_, again := k.refreshing[node]
	k.mu.Unlock()
	if ev == nil || ev.Goroutines == nil || ev.Goroutines.CRIStuck == 0 {
		if !again {
			k.refresh(node)
		}
		return nil
	}
	g := ev.Goroutines
	return &nodeexec.Classification{Verdict: checks.Unresponsive, Code: report.CodeKubeletCRIStuck,
		Reason: "kubelet: " + g.CRIStuckReason() + " (the probe pod has not started)",
		Evidence: []nodeexec.Evidence{{Source: "kubelet", Reason: g.CRIStuckCall.GRPCMethod,
			Message: fmt.Sprintf("goroutine dumps: %d CRI read(s) blocked, longest %s", g.CRIStuck, g.CRIStuckWait.Round(time.Second))}}}
}

// refresh reads a pending node's kubelet evidence once more, in the
// background. Its first read came as the run started: a runtime that froze
// just then (a kubelet whose reads had not met it yet) looked calm, and the
// node's pod has not started since, so now is when the kubelet's own calls
// tell. Found by a fresh-user trial: a containerd frozen 0.3 s into the run
// read Inconclusive after the whole --node-timeout, while `check --no-pod`
// a moment later said Unresponsive. The new evidence replaces the old; the
// node's row waits for it (wait).
func (k *kubeletRun) refresh(node string) {
	n, ok := k.nodes[node]
	if !ok || k.collector == nil {
		return
	}
	ch := make(chan struct{})
	k.mu.Lock()
	k.refreshing[node] = ch
	k.mu.Unlock()
	go func() {
		defer close(ch)
		ev := k.collector.Node(k.ctx, n)
		if k.ctx.Err() != nil {
			return // interrupted: keep what the first read said
		}
		k.mu.Lock()
		k.byNode[node] = ev
		k.mu.Unlock()
	}()
}

// apply adds the evidence to every item of the report and recounts.
func (k *kubeletRun) apply(ctx context.Context, rep *report.Report) {
	for i := range rep.Items {
		if _, ok := k.done[rep.Items[i].Node]; ok {
			stall.Apply(&rep.Items[i], k.wait(ctx, rep.Items[i].Node))
		}
	}
	rep.Summary = report.Summarize(rep.Items)
	warnForbidden(k.errOut, rep.Items)
}

// warnForbidden says once per run, on stderr, that the kubelet evidence
// was forbidden (each node's finding says it too).
func warnForbidden(w io.Writer, items []report.Item) {
	n := 0
	for _, it := range items {
		if it.Kubelet == nil {
			continue
		}
		for _, u := range it.Kubelet.Unavailable {
			if u.Code == kubeletevidence.UnavailableForbidden {
				n++
				break
			}
		}
	}
	if n > 0 {
		fmt.Fprintf(w, "warning: kubelet evidence skipped on %d node(s): get on nodes/proxy is forbidden (optional role in docs/rbac.yaml, its risk in docs/kubelet-evidence.md)\n", n)
	}
}

// runNoPod is `check --no-pod`: a read-only pass that creates nothing and
// needs no pod permissions, only get on nodes/proxy (and list on nodes and
// pods): one verdict per node from its kubelet's evidence alone.
func (o *CheckOptions) runNoPod(ctx context.Context, plan *nodeexec.Plan) error {
	evs := o.collector(nil).Collect(ctx, plan.Targets)
	rep := report.Build(o.now(), "", plan.Skipped)
	for _, n := range plan.Targets {
		rep.Items = append(rep.Items, stall.ItemWithoutPod(n, evs[n.Name]))
	}
	sort.SliceStable(rep.Items, func(i, j int) bool { return rep.Items[i].Node < rep.Items[j].Node })
	rep.Summary = report.Summarize(rep.Items)
	rep.Interrupted = errors.Is(ctx.Err(), context.Canceled)
	warnForbidden(o.ErrOut, rep.Items)
	err := o.printer.PrintReport(o.Out, rep)
	code := rep.ExitCode()
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
		fmt.Fprintln(o.ErrOut, "interrupted: the report covers the nodes finished so far")
	}
	if err != nil {
		return &exitError{code: report.ExitInconclusive, err: err}
	}
	if code != report.ExitOK {
		return &exitError{code: code}
	}
	return nil
}
