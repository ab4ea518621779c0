package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// listCheck lists the namespace's containers with the streaming list: a
// unary List of ~2,000 containers already exceeds grpc-go's default 4 MiB
// receive limit, and of 10,000 containerd's 16 MiB send limit.
type listCheck struct {
	conn *grpc.ClientConn
	b    budget
}

// run returns the container ids. A stream that makes progress may take
// longer than the per-call timeout (tens of thousands of containers); a
// stream silent for a whole per-call timeout is stuck.
//
// Each id is pushed to q as soon as it arrives, so the sweep starts while
// the list still streams; q is closed on return.
func (l listCheck) run(ctx context.Context, q *idQueue) ([]string, CheckResult, *StuckCall) {
	defer q.close()
	const method = "/containerd.services.containers.v1.Containers/ListStream"
	res := CheckResult{Name: "list", Status: StatusOK}
	start := time.Now()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var idle atomic.Bool
	timer := time.AfterFunc(l.b.callTimeout, func() { idle.Store(true); cancel() })
	defer timer.Stop()

	stream, err := containersapi.NewContainersClient(l.conn).ListStream(sctx, &containersapi.ListContainersRequest{})
	for err == nil {
		var msg *containersapi.ListContainerMessage
		msg, err = stream.Recv()
		if err != nil {
			break
		}
		q.push(msg.GetContainer().GetID())
		timer.Reset(l.b.callTimeout)
	}
	timer.Stop()
	d := time.Since(start)
	ids := q.all()
	res.DurationMs = ms(d)
	if errors.Is(err, io.EOF) {
		res.Message = fmt.Sprintf("%d containers", len(ids))
		return ids, res, nil
	}
	switch {
	case l.b.expired() && !idle.Load():
		res.Status = StatusTimeout
		res.Message = fmt.Sprintf("cut by the probe's --timeout after %d containers", len(ids))
		return ids, res, nil
	case idle.Load() || status.Code(err) == codes.DeadlineExceeded:
		res.Status = StatusTimeout
		res.Message = fmt.Sprintf("no message for %s after %d containers", l.b.callTimeout, len(ids))
		return ids, res, &StuckCall{Method: method, ElapsedMs: ms(d), Error: res.Message}
	}
	res.Status = StatusError
	res.Message = callError(err)
	return ids, res, &StuckCall{Method: method, ElapsedMs: ms(d), Error: res.Message}
}
