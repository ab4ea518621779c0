// Package stall gathers the kubelet's live evidence of a stalled cAdvisor
// (issue 7) through the API server's node proxy, without a pod, and turns
// it into findings and the Stalled verdict: goroutine dumps (decisive),
// /metrics/cadvisor compared with the containers the kubelet reports
// running (corroboration), /stats/summary's latency, /configz and the
// version advisories of the Node object. It never prints and never fails a
// run: evidence that cannot be read is a finding.
package stall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/advisory"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeproxy"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

// Defaults.
const (
	// DefaultResampleAfter is the pause before a second dump when the first
	// shows containerd calls in flight without a wait annotation: one more
	// second than the stall threshold, so that a goroutine seen in the very
	// same call in both dumps has surely waited past it.
	DefaultResampleAfter = kubeletevidence.DefaultStallThreshold + time.Second
	// DefaultStartGrace: containers started less than this ago may not be
	// in cAdvisor's metrics yet (it creates a handler when the cgroup appears and collects on its housekeeping interval, 10-15 s).
	DefaultStartGrace = 20 * time.Second
	// podListTimeout bounds the list of one node's pods.
	podListTimeout = 5 * time.Second
)

// Options tune a Collector; zero values take the defaults.
type Options struct {
	// RequestTimeout bounds each node-proxy request (nodeproxy.DefaultTimeout).
	RequestTimeout time.Duration
	// Threshold is the stall threshold (kubeletevidence.DefaultStallThreshold).
	Threshold     time.Duration
	ResampleAfter time.Duration
	StartGrace    time.Duration
	// Concurrency is how many nodes are read at once (nodeproxy.DefaultConcurrency).
	Concurrency int
	// IgnoreManagedBy: pods with app.kubernetes.io/managed-by of this value
	// (the run's own probe pods) are left out of the container comparison.
	IgnoreManagedBy string
}

// Collector reads the evidence of many nodes.
type Collector struct {
	Client  kubernetes.Interface
	Options Options
	// Configs shares each node's /configz with the pod path; nil: the
	// collector reads it itself.
	Configs *Configs
	// Now and Sleep are the clock; tests replace them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c *Collector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Collector) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Collector) opts() Options {
	o := c.Options
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = nodeproxy.DefaultTimeout
	}
	if o.Threshold <= 0 {
		o.Threshold = kubeletevidence.DefaultStallThreshold
	}
	if o.ResampleAfter <= 0 {
		o.ResampleAfter = max(DefaultResampleAfter, o.Threshold+time.Second)
	}
	if o.StartGrace <= 0 {
		o.StartGrace = DefaultStartGrace
	}
	return o
}

// Collect reads every node's evidence, at most Options.Concurrency nodes at
// a time, and returns it by node name. A node whose turn did not come
// before ctx ended has no entry.
func (c *Collector) Collect(ctx context.Context, nodes []corev1.Node) map[string]*report.KubeletEvidence {
	byName := map[string]corev1.Node{}
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
		names = append(names, n.Name)
	}
	var mu sync.Mutex
	out := map[string]*report.KubeletEvidence{}
	nodeproxy.ForEachNode(ctx, names, c.Options.Concurrency, func(ctx context.Context, name string) {
		ev := c.Node(ctx, byName[name])
		mu.Lock()
		out[name] = ev
		mu.Unlock()
	})
	return out
}

// Node reads one node's evidence: the goroutine dump first (a second one
// when the first cannot decide), /configz (from Configs, which the pod
// path may have read already) and /metrics/cadvisor (does cAdvisor see the
// node's containers through containerd: issue 8) beside it; then, only
// where they can matter, /stats/summary and the node's pods; and the Node
// object's versions.
func (c *Collector) Node(ctx context.Context, n corev1.Node) *report.KubeletEvidence {
	o := c.opts()
	f := &nodeproxy.Fetcher{Client: c.Client.CoreV1().RESTClient(), Now: c.now}
	dumpReq, metricsReq, summaryReq := nodeproxy.Goroutines(), nodeproxy.CAdvisorMetrics(), nodeproxy.StatsSummary()
	for _, r := range []*nodeproxy.Request{&dumpReq, &metricsReq, &summaryReq} {
		r.Timeout = o.RequestTimeout
	}
	configs := c.Configs
	if configs == nil {
		configs = &Configs{Client: c.Client, Timeout: o.RequestTimeout}
	}
	ev := &report.KubeletEvidence{Advisories: advisory.ForNode(n.Status.NodeInfo.KubeletVersion, n.Status.NodeInfo.ContainerRuntimeVersion)}
	// /configz first: the pod path reads it before it creates the node's
	// pod, so it is usually there already, and a kubelet that cannot be
	// read (nodes/proxy forbidden, kubelet unreachable, timed out) is then
	// known without asking it three more times.
	nc := configs.Get(ctx, n.Name)
	if u := nc.Unavailable; u != nil && kubeletOutOfReach(u.Code) {
		ev.Unavailable = append(ev.Unavailable, *u)
		ev.Reason = "no goroutine dump: " + u.Reason
		return ev
	}
	if nc.Unavailable != nil {
		ev.Unavailable = append(ev.Unavailable, *nc.Unavailable)
	} else {
		ev.RuntimeEndpoint = nc.Config.ContainerRuntimeEndpoint
	}
	first := f.Fetch(ctx, n.Name, dumpReq)
	if !kubeletAnswered(first) {
		c.goroutines(ctx, f, n.Name, dumpReq, first, o, ev)
		return ev // the other paths would fail the same way
	}
	// The metrics are read while the dumps are assessed (a second dump
	// waits ResampleAfter): on a kubelet whose runtime is frozen they can
	// take the whole request timeout, and the node's verdict should not
	// wait for both one after the other.
	metricsc := make(chan nodeproxy.Response, 1)
	go func() { metricsc <- f.Fetch(ctx, n.Name, metricsReq) }()
	c.goroutines(ctx, f, n.Name, dumpReq, first, o, ev)
	mr := <-metricsc
	m := parseMetrics(mr, ev)
	// The node's pods are listed only where the comparison with the
	// metrics matters: the dump shows containerd calls, or there is no
	// dump to decide from, or the metrics' container series lack the labels
	// of cAdvisor's containerd handler.
	var running []string
	podsErr := errors.New("not needed")
	var reg kubeletevidence.Registration
	if m != nil {
		reg = m.Registration()
	}
	unlabeled := reg.State == kubeletevidence.RegistrationNotRegistered || reg.State == kubeletevidence.RegistrationPartial
	if ev.Goroutines == nil || ev.Goroutines.Blocked > 0 || unlabeled {
		running, podsErr = c.runningContainers(ctx, n.Name, o)
	}
	if m != nil {
		ev.Metrics = metricsEvidence(mr, m, reg, running, podsErr)
	}
	if !needsCorroboration(first, ev) {
		return ev
	}
	if g := ev.Goroutines; g != nil && g.CRIStuck > 0 && !g.Stalled {
		// The runtime does not answer the kubelet's reads: /stats/summary,
		// which asks it for stats, would only wait out its timeout (5 s,
		// measured on a frozen node) and delay the verdict.
		return ev
	}
	if r := f.Fetch(ctx, n.Name, summaryReq); r.Err != nil {
		ev.Unavailable = append(ev.Unavailable, *r.Err)
		ev.Summary = &report.SummaryEvidence{LatencyMs: r.Latency.Milliseconds()}
	} else {
		ev.Summary = &report.SummaryEvidence{Answered: true, LatencyMs: r.Latency.Milliseconds()}
	}
	return ev
}

// needsCorroboration says whether /stats/summary can add anything to the
// first dump. It only corroborates or explains one: a dump with no
// containerd or CRI call in flight and no goroutine waiting on cAdvisor's
// locks makes it moot, and a dump request that failed on the way (refused
// by RBAC, kubelet unreachable, timed out, any other error of the node
// proxy) would fail the same way for it. Reading it only when it can matter
// keeps a healthy node at three kubelet requests (/configz, the dump,
// /metrics/cadvisor: docs/performance.md, "Both sockets per node"). Where
// the kubelet itself answered but declined the dump (debug handlers or
// profiling off), the summary and the metrics are what is left.
func needsCorroboration(first nodeproxy.Response, ev *report.KubeletEvidence) bool {
	if first.Err != nil {
		return kubeletAnswered(first)
	}
	g := ev.Goroutines
	return g == nil || g.Blocked > 0 || g.CRIBlocked > 0 || g.LockWaiters > 0
}

// kubeletAnswered: the dump request reached the kubelet, which answered it
// or declined it (debug handlers or profiling off).
func kubeletAnswered(first nodeproxy.Response) bool {
	if first.Err == nil {
		return true
	}
	switch first.Err.Code {
	case kubeletevidence.UnavailableDebugHandlersOff, kubeletevidence.UnavailableProfilingOff:
		return true
	}
	return false
}

// kubeletOutOfReach: a request failed in a way every other path of the
// same kubelet would (RBAC, the API server cannot reach it, no answer).
func kubeletOutOfReach(code string) bool {
	switch code {
	case kubeletevidence.UnavailableForbidden, kubeletevidence.UnavailableKubeletUnreachable, kubeletevidence.UnavailableTimeout,
		kubeletevidence.UnavailableInterrupted:
		return true
	}
	return false
}

// goroutines parses the first dump and, when it shows containerd calls in
// flight that no annotation proves stuck, takes a second one after
// ResampleAfter if the context leaves time for it.
func (c *Collector) goroutines(ctx context.Context, f *nodeproxy.Fetcher, node string, req nodeproxy.Request, first nodeproxy.Response, o Options, ev *report.KubeletEvidence) {
	if first.Err != nil {
		ev.Unavailable = append(ev.Unavailable, *first.Err)
		ev.Reason = "no goroutine dump: " + first.Err.Reason
		return
	}
	d1, err := kubeletevidence.ParseGoroutines(bytes.NewReader(first.Body), kubeletevidence.ParseOptions{MaxBytes: nodeproxy.MaxDumpBytes})
	if err != nil {
		ev.Unavailable = append(ev.Unavailable, unreadable(first.Path, err))
		ev.Reason = "goroutine dump unreadable"
		return
	}
	d1.Truncated = d1.Truncated || first.Truncated
	// The dump was taken before the response ended: its end is a safe
	// "at" for the first sample, the next request's start for the second.
	samples := []kubeletevidence.Sample{{Dump: d1, At: c.now()}}
	a := kubeletevidence.Assess(samples, o.Threshold)
	ev.Dumps = 1
	if a.NeedsResample && hasTime(ctx, c.now(), o.ResampleAfter+o.RequestTimeout) {
		if err := c.sleep(ctx, o.ResampleAfter); err == nil {
			at := c.now()
			second := f.Fetch(ctx, node, req)
			if second.Err != nil {
				ev.Unavailable = append(ev.Unavailable, *second.Err)
			} else if d2, err := kubeletevidence.ParseGoroutines(bytes.NewReader(second.Body), kubeletevidence.ParseOptions{MaxBytes: nodeproxy.MaxDumpBytes}); err != nil {
				ev.Unavailable = append(ev.Unavailable, unreadable(second.Path, err))
			} else {
				d2.Truncated = d2.Truncated || second.Truncated
				samples = append(samples, kubeletevidence.Sample{Dump: d2, At: at})
				a = kubeletevidence.Assess(samples, o.Threshold)
				ev.Dumps = 2
			}
		}
	}
	ev.Goroutines, ev.Stalled, ev.Reason = &a, a.Stalled, a.Reason
}

func hasTime(ctx context.Context, now time.Time, need time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ctx.Err() == nil && (!ok || dl.Sub(now) >= need)
}

// parseMetrics parses /metrics/cadvisor; nil (and the reason in
// ev.Unavailable) when it could not be read.
func parseMetrics(r nodeproxy.Response, ev *report.KubeletEvidence) *kubeletevidence.CAdvisorMetrics {
	if r.Err != nil {
		ev.Unavailable = append(ev.Unavailable, *r.Err)
		return nil
	}
	m, err := kubeletevidence.ParseCAdvisorMetrics(bytes.NewReader(r.Body), nodeproxy.MaxMetricsBytes)
	if err != nil {
		ev.Unavailable = append(ev.Unavailable, unreadable(r.Path, err))
		return nil
	}
	return m
}

func metricsEvidence(r nodeproxy.Response, m *kubeletevidence.CAdvisorMetrics, reg kubeletevidence.Registration, running []string, podsErr error) *report.MetricsEvidence {
	me := &report.MetricsEvidence{ScrapeError: m.ScrapeError, HasScrapeError: m.HasScrapeError, Cgroups: len(m.Containers),
		Registration: reg, Truncated: m.Truncated || r.Truncated, LatencyMs: r.Latency.Milliseconds()}
	if podsErr == nil {
		cov := m.Coverage(running)
		me.Coverage = &cov
	}
	return me
}

func unreadable(path string, err error) kubeletevidence.Unavailable {
	return kubeletevidence.Unavailable{Path: path, Code: string(report.CodeKubeletEvidenceUnreadable),
		Reason: fmt.Sprintf("kubelet %s unreadable: %v", path, err)}
}

// runningContainers lists the ids of containers the kubelet reports
// running on the node for longer than StartGrace, leaving out the run's own
// pods. An error (pods not readable) leaves the comparison out.
func (c *Collector) runningContainers(ctx context.Context, node string, o Options) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, podListTimeout)
	defer cancel()
	list, err := c.Client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(), ResourceVersion: "0"})
	if err != nil {
		return nil, fmt.Errorf("list pods on node %s: %w", node, err)
	}
	return RunningContainerIDs(list.Items, c.now().Add(-o.StartGrace), o.IgnoreManagedBy), nil
}

// RunningContainerIDs returns the containerd ids of the pods' containers
// that run since before startedBefore, leaving out pods managed by
// ignoreManagedBy ("" keeps all).
func RunningContainerIDs(pods []corev1.Pod, startedBefore time.Time, ignoreManagedBy string) []string {
	var ids []string
	for _, p := range pods {
		if ignoreManagedBy != "" && p.Labels[nodeexec.ManagedByLabel] == ignoreManagedBy {
			continue
		}
		for _, st := range append(append([]corev1.ContainerStatus(nil), p.Status.ContainerStatuses...), p.Status.EphemeralContainerStatuses...) {
			r := st.State.Running
			if r == nil || !r.StartedAt.Time.Before(startedBefore) {
				continue
			}
			if id, ok := strings.CutPrefix(st.ContainerID, "containerd://"); ok && id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}
