package checks

import (
	"context"
	"fmt"
	"time"

	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// versionCheck makes cAdvisor's Register call: Version (cAdvisor makes it
// with no deadline at all).
type versionCheck struct {
	conn *grpc.ClientConn
	b    budget
}

// versionOutcome is what Version showed about the daemon.
type versionOutcome int

const (
	versionOK           versionOutcome = iota
	versionUnresponsive                // no answer within the deadline
	versionUnreachable                 // the transport failed (refused, closed)
	versionFailed                      // answered with an error: not containerd?
)

func (v versionCheck) run(ctx context.Context, info *ContainerdInfo) (CheckResult, versionOutcome, string) {
	cctx, cancel, _ := v.b.callCtx(ctx)
	defer cancel()
	start := time.Now()
	resp, err := versionapi.NewVersionClient(v.conn).Version(cctx, &emptypb.Empty{})
	d := time.Since(start)
	res := CheckResult{Name: "version", DurationMs: ms(d), Status: StatusOK}
	if err == nil {
		info.Version, info.Revision, info.VersionMs = resp.GetVersion(), resp.GetRevision(), ms(d)
		res.Message = "containerd " + resp.GetVersion()
		return res, versionOK, ""
	}
	res.Message = callError(err)
	switch status.Code(err) {
	case codes.DeadlineExceeded:
		res.Status = StatusTimeout
		return res, versionUnresponsive, fmt.Sprintf("containerd accepts connections but did not answer Version within %s", round(d))
	case codes.Unavailable:
		res.Status = StatusError
		return res, versionUnreachable, fmt.Sprintf("Version failed: %v", status.Convert(err).Message())
	case codes.Canceled:
		res.Status = StatusError
		return res, versionFailed, "probe cancelled during Version"
	}
	res.Status = StatusError
	return res, versionFailed, fmt.Sprintf("Version answered %s: %s (is this a containerd socket?)", status.Code(err), status.Convert(err).Message())
}

// healthCheck asks the standard gRPC health service. containerd answers
// SERVING whenever it answers at all, so it only adds a second data point.
func healthCheck(ctx context.Context, conn *grpc.ClientConn, b budget) CheckResult {
	cctx, cancel, _ := b.callCtx(ctx)
	defer cancel()
	start := time.Now()
	resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
	res := CheckResult{Name: "health", DurationMs: ms(time.Since(start)), Status: StatusOK}
	switch {
	case err == nil:
		res.Message = resp.GetStatus().String()
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			res.Status = StatusError
		}
	case status.Code(err) == codes.DeadlineExceeded:
		res.Status, res.Message = StatusTimeout, callError(err)
	default:
		res.Status, res.Message = StatusError, callError(err)
	}
	return res
}

// round prints a duration to the millisecond (or 0.1 ms below 10 ms).
func round(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
