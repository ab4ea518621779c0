package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/task"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// The gRPC methods cAdvisor calls per container.
const (
	MethodContainersGet = "/containerd.services.containers.v1.Containers/Get"
	MethodTasksGet      = "/containerd.services.tasks.v1.Tasks/Get"
	MethodVersion       = "/containerd.services.version.v1.Version/Version"
)

// sweep makes cAdvisor's per-container calls for every container:
// Containers/Get (LoadContainer) then Tasks/Get (TaskPid), each under its
// own deadline, with at most concurrency containers in flight.
type sweep struct {
	conn        *grpc.ClientConn
	containers  containersapi.ContainersClient
	tasks       tasksapi.TasksClient
	b           budget
	concurrency int

	// A daemon that freezes mid-sweep would otherwise cost one call timeout
	// per container. After a timeout, one Version call (one at a time)
	// decides: no answer means frozen, and the sweep stops.
	timeouts  atomic.Int64
	checkMu   sync.Mutex
	lastCheck time.Time // start of the last Version check that answered
	frozen    atomic.Pointer[string]
}

func newSweep(conn *grpc.ClientConn, b budget, concurrency int) *sweep {
	return &sweep{
		conn:        conn,
		containers:  containersapi.NewContainersClient(conn),
		tasks:       tasksapi.NewTasksClient(conn),
		b:           b,
		concurrency: concurrency,
	}
}

// sweepResult is what the sweep found.
type sweepResult struct {
	calls []CallStats
	stuck []stuckCall
	swept int // containers whose calls were all made (not cut)
	// frozen is set when containerd stopped answering during the sweep.
	frozen string
}

// stuckCall is a StuckCall plus what is needed to find its shim.
type stuckCall struct {
	StuckCall
	sandboxID string
}

type worker struct {
	cget, tget methodStats
	stuck      []stuckCall
	swept      int
}

// run sweeps the ids from q until it is closed and empty or the probe's
// deadline passes.
func (s *sweep) run(ctx context.Context, q *idQueue) sweepResult {
	workers := make([]worker, s.concurrency)
	var wg sync.WaitGroup
	for w := range workers {
		wk := &workers[w]
		wk.cget.lat = make([]time.Duration, 0, 256)
		wk.tget.lat = make([]time.Duration, 0, 256)
		wg.Go(func() {
			for {
				id, ok := q.pop()
				if !ok || s.b.expired() || s.frozen.Load() != nil {
					return
				}
				s.one(ctx, wk, id)
			}
		})
	}
	wg.Wait()

	all := worker{cget: methodStats{method: MethodContainersGet}, tget: methodStats{method: MethodTasksGet}}
	for w := range workers {
		all.cget.merge(&workers[w].cget)
		all.tget.merge(&workers[w].tget)
		all.stuck = append(all.stuck, workers[w].stuck...)
		all.swept += workers[w].swept
	}
	res := sweepResult{calls: []CallStats{all.cget.stats(), all.tget.stats()}, stuck: all.stuck, swept: all.swept}
	if f := s.frozen.Load(); f != nil {
		res.frozen = *f
	}
	return res
}

// one makes both calls for one container.
func (s *sweep) one(ctx context.Context, w *worker, id string) {
	cctx, cancel, cut := s.b.callCtx(ctx)
	start := time.Now()
	cresp, err := s.containers.Get(cctx, &containersapi.GetContainerRequest{ID: id})
	d := time.Since(start)
	cancel()
	o := s.b.classify(err, cut)
	size := 0
	if err == nil {
		size = proto.Size(cresp)
	}
	w.cget.add(id, d, o, size, err)
	s.track(ctx, o, start)
	switch o {
	case outcomeCut:
		return
	case outcomeTimeout:
		w.stuck = append(w.stuck, stuckCall{StuckCall: StuckCall{Method: MethodContainersGet, ID: id, ElapsedMs: ms(d), Error: callError(err)}})
	}
	if o != outcomeOK || s.frozen.Load() != nil {
		// cAdvisor asks for the task only of a container it could load.
		w.swept++
		return
	}

	tctx, cancel, cut := s.b.callCtx(ctx)
	start = time.Now()
	tresp, err := s.tasks.Get(tctx, &tasksapi.GetRequest{ContainerID: id})
	d = time.Since(start)
	cancel()
	o = s.b.classify(err, cut)
	size = 0
	if err == nil {
		size = proto.Size(tresp)
	}
	w.tget.add(id, d, o, size, err)
	s.track(ctx, o, start)
	switch {
	case o == outcomeCut:
		return
	case o == outcomeTimeout:
		w.stuck = append(w.stuck, stuckCall{
			StuckCall: StuckCall{Method: MethodTasksGet, ID: id, ElapsedMs: ms(d), Error: callError(err)},
			sandboxID: sandboxID(cresp),
		})
	case o == outcomeOK && tresp.GetProcess().GetStatus() == task.Status_UNKNOWN:
		// containerd < 2.3 gives up on the shim after its own 2 s
		// task-state timeout and answers OK with status UNKNOWN, pid 0.
		w.tget.unknown++
		w.stuck = append(w.stuck, stuckCall{
			StuckCall: StuckCall{Method: MethodTasksGet, ID: id, ElapsedMs: ms(d),
				Error: fmt.Sprintf("task status UNKNOWN after %s: the shim did not answer containerd's State call", round(d))},
			sandboxID: sandboxID(cresp),
		})
	}
	w.swept++
}

// criMetadataExtension is where the CRI plugin keeps a container's metadata,
// including its pod sandbox's id (whose shim serves the container).
const criMetadataExtension = "io.cri-containerd.container.metadata"

func sandboxID(c *containersapi.GetContainerResponse) string {
	ext := c.GetContainer().GetExtensions()[criMetadataExtension]
	if ext == nil {
		return ""
	}
	var m struct {
		Metadata struct {
			SandboxID string `json:"SandboxID"`
		} `json:"Metadata"`
	}
	if json.Unmarshal(ext.GetValue(), &m) != nil {
		return ""
	}
	return m.Metadata.SandboxID
}

// track asks Version, after a call that began at start timed out, whether
// the daemon still answers at all. Workers whose calls timed out meanwhile
// wait for that answer instead of starting more calls; a check begun after
// their call began already answers for them.
func (s *sweep) track(ctx context.Context, o outcome, start time.Time) {
	if o != outcomeTimeout {
		return
	}
	n := s.timeouts.Add(1)
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	if s.frozen.Load() != nil || s.lastCheck.After(start) {
		return
	}
	checkStart := time.Now()
	var info ContainerdInfo
	res, vo, _ := versionCheck{conn: s.conn, b: s.b}.run(ctx, &info)
	switch vo {
	case versionOK:
		s.lastCheck = checkStart
	case versionUnresponsive:
		msg := fmt.Sprintf("containerd stopped answering during the sweep: %d call(s) hit the deadline, then Version did not answer within %s", n, round(time.Duration(res.DurationMs*float64(time.Millisecond))))
		s.frozen.Store(&msg)
	}
}
