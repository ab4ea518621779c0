package checks

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// maxRecv is far above the kubelet's 16 MiB so that an oversized response
// is measured and flagged instead of failing our own call.
const maxRecv = 64 << 20

// dial creates a lazy gRPC client for the socket. Retries are disabled so
// that every latency we report is one real call; the first call's deadline
// also bounds the connection attempt.
func dial(openPath string) (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+openPath,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDisableRetry(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecv)),
	)
}

// withNamespace sets the header containerd reads the namespace from.
func withNamespace(ctx context.Context, ns string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "containerd-namespace", ns)
}

// budget is the probe's own deadline and the per-call timeout. Every call
// gets min(callTimeout, what is left of the probe).
type budget struct {
	ctx         context.Context // done at the probe's deadline
	callTimeout time.Duration
}

// callCtx returns the context for one call and whether its deadline is the
// probe's (cut short) rather than the call's own.
func (b budget) callCtx(ctx context.Context) (context.Context, context.CancelFunc, bool) {
	cut := false
	if dl, ok := b.ctx.Deadline(); ok && time.Until(dl) < b.callTimeout {
		cut = true
	}
	c, cancel := context.WithTimeout(ctx, b.callTimeout)
	return c, cancel, cut
}

// expired reports whether the probe's own deadline has passed. It looks at
// the clock too: a context's timer can fire a little late on a busy machine,
// and a call failing in that window must not count as a finding.
func (b budget) expired() bool {
	if b.ctx.Err() != nil {
		return true
	}
	dl, ok := b.ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// classify maps a call's error to an outcome. A deadline that was the
// probe's own (or a cancelled probe) is a cut, not a finding about
// containerd.
func (b budget) classify(err error, cut bool) outcome {
	if err == nil {
		return outcomeOK
	}
	code := status.Code(err)
	switch {
	case code == codes.NotFound:
		return outcomeNotFound
	case code == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded):
		if cut && b.expired() {
			return outcomeCut
		}
		// Our own per-call deadline, or the server gave up by itself
		// (containerd >= 2.3 answers DeadlineExceeded for a stuck shim).
		return outcomeTimeout
	case code == codes.Canceled || b.expired():
		return outcomeCut
	}
	return outcomeError
}

// callError renders a call's error as "<code>: <message>", without grpc-go's
// "rpc error: code = ... desc = ..." wrapping.
func callError(err error) string {
	if err == nil {
		return ""
	}
	if st, ok := status.FromError(err); ok {
		return st.Code().String() + ": " + st.Message()
	}
	return err.Error()
}
