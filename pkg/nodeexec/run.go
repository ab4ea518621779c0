package nodeexec

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// Budgets of the work nodeexec does after the run's context has ended.
const (
	// evidenceTimeout bounds one round of evidence requests (events, nodes).
	evidenceTimeout = 5 * time.Second
	// DefaultCleanupTimeout bounds the cleanup at the end of a run.
	DefaultCleanupTimeout = 10 * time.Second
	// logLimit caps a fallback log read.
	logLimit = 1 << 20
	// evidenceBatch: nodes whose budget ends within this of another's are
	// classified in the same round.
	evidenceBatch = 250 * time.Millisecond
	// earlyBatch: pods whose early check falls within this of another's
	// share one events list (the early rounds are not time critical).
	earlyBatch = 2 * time.Second
	// logFetches bounds fallback log reads in flight.
	logFetches = 4
	// finishedDeletes bounds deletes of finished pods in flight.
	finishedDeletes = 4
)

// Progress is the state of a run, reported as nodes finish.
type Progress struct {
	Done, Total int
	// Pending lists the nodes still waited for, with what their pod shows.
	Pending []PendingNode
}

// PendingNode is one node still waited for.
type PendingNode struct {
	Node, State string
	// Elapsed is how long the node's pod had existed when the snapshot was
	// taken; Created is when it was created (zero before), so a printer
	// that shows an old snapshot (pods change rarely while they hang) can
	// say how long it has been by now.
	Elapsed time.Duration
	Created time.Time
}

// Runner runs the probe pods of one plan.
type Runner struct {
	Client  kubernetes.Interface
	Options Options
	// Clock is injected by tests; nil means the real clock.
	Clock clock.Clock
	// OnResult is called, from the run's goroutine, as each node finishes.
	OnResult func(NodeResult)
	// OnProgress is called, from the run's goroutine, whenever a pod changes.
	OnProgress func(Progress)
	// CleanupTimeout bounds the cleanup; 0 means DefaultCleanupTimeout.
	CleanupTimeout time.Duration
	// SocketFor, when set and Options.Socket is empty, says where a node's
	// kubelet's containerd listens ("" when it cannot tell: the probe then
	// discovers it). It is called just before the node's pod is created,
	// so a slow answer delays only that node; it must return within its
	// own deadline.
	SocketFor func(ctx context.Context, node string) string
	// Decided, when set, is asked at each early round about every node
	// still pending: evidence from outside the pod (in check, the kubelet's
	// own) that decides the node now, or nil. It runs on the run's loop
	// and must not block.
	Decided func(node string) *Classification
}

type nodeState struct {
	node     string
	pod      *corev1.Pod // as built, then as last seen
	created  time.Time
	deadline time.Time
	// early is when the pod, if still pending, is next looked at for
	// evidence that decides the node before its deadline (zero: not
	// again); planNode is the node as the plan listed it.
	early    time.Time
	planNode *corev1.Node
	done     bool
	fetching bool
}

type createResult struct {
	name string
	pod  *corev1.Pod
	at   time.Time
	err  error
}

type logResult struct {
	name   string
	result *checks.Result
	err    error
}

// Run creates one pod per target, collects a result for every target and
// deletes the run's pods before it returns, whatever ended the run. The
// run ends when every node has an outcome or ctx ends (--timeout, a
// signal); nodes still pending then are classified from evidence. The
// error reports only what went wrong with cleanup: per-node failures are
// results.
func (r *Runner) Run(ctx context.Context, targets []corev1.Node) (results []NodeResult, err error) {
	clk := r.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	o := r.Options
	byPod := map[string]*nodeState{}
	var order []*nodeState
	for _, n := range targets {
		s := &nodeState{node: n.Name, pod: PodFor(n.Name, o), planNode: n.DeepCopy()}
		byPod[s.pod.Name] = s
		order = append(order, s)
	}
	run := &runState{Runner: r, clk: clk, byPod: byPod, order: order, finished: make(chan string, len(order))}

	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmpOr(r.CleanupTimeout, DefaultCleanupTimeout))
		defer cancel()
		_, cerr := Cleanup(cctx, r.Client, CleanupOptions{
			Namespace: o.Namespace, Selector: RunSelector(o.RunID), Wait: 2 * time.Second, ForceNow: run.stuckPods(),
		})
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up run %s: %w", o.RunID, cerr))
		}
	}()

	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	events := make(chan podEvent, 64)
	go watchPods(wctx, r.Client, o.Namespace, RunSelector(o.RunID), events)

	created := make(chan createResult, len(order))
	launched := make(chan struct{})
	go func() {
		defer close(launched)
		var g errgroup.Group
		g.SetLimit(max(o.Concurrency, 1))
		for _, s := range order {
			pod := s.pod.DeepCopy()
			g.Go(func() error {
				if ctx.Err() != nil {
					created <- createResult{name: pod.Name, err: ctx.Err()}
					return nil
				}
				if o.Socket == "" && r.SocketFor != nil {
					po := o
					po.Socket = r.SocketFor(ctx, s.node)
					pod = podFor(s.node, pod.Name, po)
				}
				rctx, cancel := context.WithTimeout(ctx, requestTimeout)
				defer cancel()
				_, err := r.Client.CoreV1().Pods(o.Namespace).Create(rctx, pod, metav1.CreateOptions{})
				created <- createResult{name: pod.Name, pod: pod, at: clk.Now(), err: err}
				return nil
			})
		}
		_ = g.Wait()
	}()
	// Every create must have returned before cleanup lists the run's pods:
	// a create still in flight could otherwise leave a pod behind.
	defer func() { <-launched }()
	dctx, stopDeletes := context.WithCancel(ctx)
	deletesDone := make(chan struct{})
	go func() { defer close(deletesDone); run.deleteFinished(dctx, launched) }()
	defer func() { stopDeletes(); <-deletesDone }()

	run.loop(ctx, events, created)
	return run.results, nil
}

type runState struct {
	*Runner
	clk      clock.Clock
	byPod    map[string]*nodeState
	order    []*nodeState
	results  []NodeResult
	logs     chan logResult
	inFlight int
	// finished receives the pods that ended with their node's result, for
	// deleteFinished.
	finished chan string
	// events and sem are the loop's, for drainEvents.
	events <-chan podEvent
	sem    chan struct{}
}

// drainEvents applies every watch event already delivered, without
// waiting. Before a node is classified as late its latest state must be
// known: when the loop was busy (an evidence round waits on the API
// server, and under load or a client rate limit shared with other work
// that takes seconds), a pod that finished in time may have its result
// queued in the channel. Measured at 1,000 nodes with the client's QPS
// shared with other requests, 7 nodes whose probe had finished were
// reported "no result within --node-timeout" without this.
func (s *runState) drainEvents(ctx context.Context) {
	for {
		select {
		case ev := <-s.events:
			s.onPod(ctx, ev, s.sem)
		default:
			return
		}
	}
}

// deleteFinished deletes pods that have ended, while the run waits for
// the others. Cleanup would delete them anyway, with one deletecollection,
// but the API server works through a deletecollection one pod at a time
// (--delete-collection-workers is 1 by default): measured at 1,000 nodes
// (hack/scale-bench, docs/performance.md) it took 5.4 s for 810 pods, all
// of it after the last node's budget, on the wall time. Deleted here they
// cost one request each (about 2 per node in all, within the budget of 3)
// during the wait for late nodes, when the client's QPS is idle. It starts
// only after every create was sent, so it never slows the creations down,
// and only pods that ended (the API server removes those at once) go here:
// cleanup still deletes whatever is left, on every exit path.
func (s *runState) deleteFinished(ctx context.Context, launched <-chan struct{}) {
	select {
	case <-launched:
	case <-ctx.Done():
		return
	}
	var g errgroup.Group
	g.SetLimit(finishedDeletes)
	defer func() { _ = g.Wait() }()
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-s.finished:
			g.Go(func() error {
				rctx, cancel := context.WithTimeout(ctx, requestTimeout)
				defer cancel()
				// Errors are left to cleanup, which lists what remains.
				_ = s.Client.CoreV1().Pods(s.Options.Namespace).Delete(rctx, name, metav1.DeleteOptions{})
				return nil
			})
		}
	}
}

func (s *runState) loop(ctx context.Context, events <-chan podEvent, created <-chan createResult) {
	s.logs = make(chan logResult, len(s.order))
	sem := make(chan struct{}, logFetches)
	s.events, s.sem = events, sem
	timer := s.clk.NewTimer(time.Hour)
	defer timer.Stop()
	for len(s.results) < len(s.order) {
		s.resetTimer(timer)
		select {
		case c := <-created:
			s.onCreated(ctx, c)
		case ev := <-events:
			s.onPod(ctx, ev, sem)
		case lr := <-s.logs:
			st := s.byPod[lr.name]
			st.fetching = false
			if lr.err != nil {
				c := ClassifyFinished(st.pod, lr.err)
				s.finish(st, NodeResult{Classification: &c})
			} else {
				s.finish(st, NodeResult{Result: lr.result, Source: SourceLog})
			}
		case <-timer.C():
			s.expire(ctx, false)
		case <-ctx.Done():
			s.expire(ctx, true)
			return
		}
		s.progress()
	}
}

func (s *runState) onCreated(ctx context.Context, c createResult) {
	st := s.byPod[c.name]
	if st.done {
		return
	}
	if c.err != nil {
		s.finish(st, NodeResult{Classification: createFailure(ctx, c.err)})
		return
	}
	st.created, st.deadline = c.at, c.at.Add(s.Options.NodeTimeout)
	st.early = c.at.Add(s.Options.earlyDelay())
	if _, notReady := NodeCondition(st.planNode); notReady {
		// The node said it is not ready before the run began: its pod gets
		// the shortest grace (a healthy probe pod starts in about 2 s).
		st.early = c.at.Add(minEarlyDelay)
	}
	if st.pod.ResourceVersion == "" && c.pod != nil {
		st.pod = c.pod // the pod as created, until the watch shows it
	}
}

func createFailure(ctx context.Context, err error) *Classification {
	switch {
	case ctx.Err() != nil:
		return &Classification{checks.Inconclusive, CodeRunTimeout, "the run ended before the pod was created", nil}
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
		return &Classification{checks.Inconclusive, CodePodRejected,
			"the API server refused the probe pod: not a node problem: " + firstLine(err.Error()), nil}
	}
	return &Classification{checks.Inconclusive, CodeRunFailed, "create pod: " + firstLine(err.Error()), nil}
}

func (s *runState) onPod(ctx context.Context, ev podEvent, sem chan struct{}) {
	st := s.byPod[ev.pod.Name]
	if st == nil || st.done {
		return
	}
	st.pod = ev.pod
	if ev.deleted {
		s.finish(st, NodeResult{Classification: &Classification{checks.Inconclusive, CodePodDeleted,
			"the probe pod was deleted before it finished: " + describePod(ev.pod), nil}})
		return
	}
	if st.fetching {
		return
	}
	t := terminated(ev.pod)
	phase := ev.pod.Status.Phase
	if t == nil && phase != corev1.PodSucceeded && phase != corev1.PodFailed {
		if c := EarlyVerdict(ev.pod, s.Options.Image); c != nil {
			s.finish(st, NodeResult{Classification: c})
		}
		return
	}
	if t != nil {
		res, err := DecodeResult([]byte(t.Message))
		if err == nil {
			s.finish(st, NodeResult{Result: res, Source: SourceTerminationMessage})
			return
		}
		// The log is a fallback only, and only a valid result in it counts.
		st.fetching = true
		pod := ev.pod
		go func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				s.logs <- logResult{name: pod.Name, err: fmt.Errorf("termination message: %v; log not read: %w", err, ctx.Err())}
				return
			}
			res, lerr := s.readLog(ctx, pod)
			if lerr != nil {
				lerr = fmt.Errorf("termination message: %v; log: %w", err, lerr)
			}
			s.logs <- logResult{name: pod.Name, result: res, err: lerr}
		}()
		return
	}
	c := ClassifyFinished(ev.pod, errors.New("no container ran"))
	s.finish(st, NodeResult{Classification: &c})
}

func (s *runState) readLog(ctx context.Context, pod *corev1.Pod) (*checks.Result, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
	defer cancel()
	limit := int64(logLimit)
	b, err := s.Client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container: ContainerName, LimitBytes: &limit,
	}).DoRaw(rctx)
	if err != nil {
		return nil, fmt.Errorf("read log of pod %s: %w", pod.Name, err)
	}
	return ResultFromLog(b)
}

// early looks again at pods still pending at their early check: one
// events list for all of them, and their nodes (read again when they are
// few, else as the plan listed them). Evidence that already decides the
// node (the kubelet's sandbox deadline, a socket directory that does not
// exist, a node whose runtime is down or whose kubelet stopped posting,
// or what Decided says) ends its wait now rather than at --node-timeout;
// anything else waits on, and is looked at again one early delay later.
func (s *runState) early(ctx context.Context) {
	s.drainEvents(ctx)
	now := s.clk.Now()
	due := s.pending(func(st *nodeState) bool {
		return !st.fetching && !st.early.IsZero() && !now.Add(earlyBatch).Before(st.early)
	})
	if len(due) == 0 {
		return
	}
	// A few nodes are read again (one get each): a runtime that froze
	// after the plan shows in their Ready condition before the deadline.
	// More than that, and the plan's nodes stand in: early rounds must not
	// list every node of a big cluster again and again.
	ev := gatherEvidence(ctx, s.Client, s.Options.Namespace, due, len(due) <= nodeGetMax)
	s.drainEvents(ctx)
	for _, st := range due {
		if st.done {
			continue
		}
		st.early = now.Add(s.Options.earlyDelay())
		if !st.early.Add(earlyBatch).Before(st.deadline) {
			st.early = time.Time{} // the deadline comes first
		}
		if s.Decided != nil {
			if c := s.Decided(st.node); c != nil {
				// What the pod showed stays in the evidence beside it.
				d := *c
				d.Evidence = append(append([]Evidence(nil), c.Evidence...), podEvidence(Observation{Pod: st.pod})...)
				s.finish(st, NodeResult{Classification: &d})
				continue
			}
		}
		if st.pod.ResourceVersion == "" {
			continue // never seen by the watch: nothing to read yet
		}
		node := st.planNode
		if n := ev.nodes[st.node]; n != nil {
			node = n
		}
		c := ClassifyPending(Observation{Pod: st.pod, Events: ev.events[st.pod.Name], Node: node, NodeGone: ev.gone[st.node],
			Image: s.Options.Image, Created: st.created, Now: now})
		if decidesEarly[c.Code] {
			s.finish(st, NodeResult{Classification: &c})
		}
	}
}

// decidesEarly are the classifications that no later evidence would
// change: waiting for the node's deadline would only delay the report. An
// image pull that failed once is not among them (the kubelet retries, and
// a retry may succeed within the budget); the definitive pull failures are
// decided from the watch already (EarlyVerdict).
var decidesEarly = map[Code]bool{
	CodeSandboxTimeout: true, CodeSocketDirMissing: true,
	CodeRuntimeDown: true, CodeNodeNotPosting: true, CodeNodeGone: true,
}

// pending returns the nodes without a result for which due holds.
func (s *runState) pending(due func(*nodeState) bool) []*nodeState {
	var out []*nodeState
	for _, st := range s.order {
		if !st.done && due(st) {
			out = append(out, st)
		}
	}
	return out
}

// expire classifies every node whose budget ran out (or all pending nodes
// when the run ended) from one round of evidence.
func (s *runState) expire(ctx context.Context, runEnded bool) {
	if !runEnded {
		s.early(ctx) // the final round below covers every node anyway
	}
	s.drainEvents(ctx)
	now := s.clk.Now()
	due := s.pending(func(st *nodeState) bool {
		if runEnded {
			return true
		}
		// Deadlines a moment apart share one round of evidence requests.
		return !st.fetching && !st.created.IsZero() && !now.Add(evidenceBatch).Before(st.deadline)
	})
	if len(due) == 0 {
		return
	}
	ev := gatherEvidence(ctx, s.Client, s.Options.Namespace, due, true)
	// Results that came in during the evidence round still count.
	s.drainEvents(ctx)
	for _, st := range due {
		if st.done {
			continue
		}
		obs := Observation{
			Pod: st.pod, Events: ev.events[st.pod.Name], Node: ev.nodes[st.node], NodeGone: ev.gone[st.node],
			Image: s.Options.Image, Created: st.created, Now: now,
		}
		if st.pod.Status.Phase == "" && st.pod.ResourceVersion == "" {
			obs.Pod = nil // never seen by the watch
		}
		if runEnded {
			obs.Canceled = errors.Is(ctx.Err(), context.Canceled)
			obs.RunTimedOut = !obs.Canceled
		}
		if obs.Created.IsZero() {
			obs.Created = now
		}
		c := ClassifyPending(obs)
		s.finish(st, NodeResult{Classification: &c})
	}
}

// finish records a node's one result. Several paths can reach a node
// (the watch, a log fallback answering after the pod was deleted, the
// deadline), in either order: only the first counts. A second result used
// to be appended too, so one node appeared twice and, since the loop ends
// when there are as many results as nodes, another node not at all.
func (s *runState) finish(st *nodeState, nr NodeResult) {
	if st.done {
		return
	}
	st.done = true
	nr.Node, nr.Pod = st.node, st.pod.Name
	if !st.created.IsZero() {
		nr.DurationMs = s.clk.Since(st.created).Milliseconds()
	}
	s.results = append(s.results, nr)
	if p := st.pod.Status.Phase; p == corev1.PodSucceeded || p == corev1.PodFailed {
		s.finished <- st.pod.Name // buffered for every pod: never blocks
	}
	if s.OnResult != nil {
		s.OnResult(nr)
	}
}

func (s *runState) resetTimer(t clock.Timer) {
	var next time.Time
	for _, st := range s.order {
		if !st.done && !st.created.IsZero() && (next.IsZero() || st.deadline.Before(next)) {
			next = st.deadline
		}
		if !st.done && !st.early.IsZero() && (next.IsZero() || st.early.Before(next)) {
			next = st.early
		}
	}
	if next.IsZero() {
		next = s.clk.Now().Add(time.Hour)
	}
	if !t.Stop() {
		select {
		case <-t.C():
		default:
		}
	}
	t.Reset(max(next.Sub(s.clk.Now()), 0))
}

func (s *runState) progress() {
	if s.OnProgress == nil {
		return
	}
	p := Progress{Done: len(s.results), Total: len(s.order)}
	now := s.clk.Now()
	for _, st := range s.order {
		if st.done {
			continue
		}
		pn := PendingNode{Node: st.node, State: "creating pod"}
		if !st.created.IsZero() {
			pn.State, pn.Elapsed, pn.Created = describePod(st.pod), now.Sub(st.created), st.created
		}
		p.Pending = append(p.Pending, pn)
	}
	sort.Slice(p.Pending, func(i, j int) bool { return p.Pending[i].Node < p.Pending[j].Node })
	s.OnProgress(p)
}

// stuckPods names the run's pods that had not ended when the run did.
// Cleanup force-deletes them at once: on a frozen runtime or a silent
// kubelet a graceful delete is never confirmed, and on a healthy node the
// kubelet still stops the container when the pod object is gone. Waiting
// would only push the run past --timeout.
func (s *runState) stuckPods() map[string]bool {
	out := map[string]bool{}
	for _, st := range s.order {
		if p := st.pod.Status.Phase; p != corev1.PodSucceeded && p != corev1.PodFailed {
			out[st.pod.Name] = true
		}
	}
	return out
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
