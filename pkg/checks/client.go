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
		if cut && b.ctx.Err() != nil {
			return outcomeCut
		}
		if cut {
			// The probe deadline was earlier than the call's own but has not
			// passed yet: the server answered DeadlineExceeded by itself.
			return outcomeTimeout
		}
		return outcomeTimeout
	case code == codes.Canceled || b.ctx.Err() != nil:
		return outcomeCut
	}
	return outcomeError
}
