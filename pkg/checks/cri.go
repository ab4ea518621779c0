package checks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criCheck calls the kubelet's path: the CRI runtime service that containerd
// serves on the same socket. A blocked CRI call (e.g. a stuck
// UpdateContainerResources) can block other CRI calls while the native API
// still answers, so it is probed apart. The four calls run side by side so a
// frozen CRI plugin costs one call timeout, not four.
type criCheck struct {
	conn *grpc.ClientConn
	b    budget
}

// CRI call names in CRIInfo.Calls.
const (
	CRIVersion        = "cri.Version"
	CRIStatus         = "cri.Status"
	CRIListPodSandbox = "cri.ListPodSandbox"
	CRIListContainers = "cri.ListContainers"
)

func (c criCheck) run(ctx context.Context) *CRIInfo {
	rs := runtimeapi.NewRuntimeServiceClient(c.conn)
	info := &CRIInfo{}
	var mu sync.Mutex
	results := make([]CheckResult, 4)
	call := func(i int, name string, f func(context.Context) (string, error)) func() {
		return func() {
			cctx, cancel, _ := c.b.callCtx(ctx)
			defer cancel()
			start := time.Now()
			msg, err := f(cctx)
			r := CheckResult{Name: name, DurationMs: ms(time.Since(start)), Status: StatusOK, Message: msg}
			if err != nil {
				r.Status, r.Message = StatusError, callError(err)
				switch status.Code(err) {
				case codes.DeadlineExceeded:
					r.Status = StatusTimeout
				case codes.Unimplemented:
					r.Message = "CRI runtime service not served on this socket (CRI plugin disabled?)"
				}
			}
			results[i] = r
		}
	}
	var wg sync.WaitGroup
	wg.Go(call(0, CRIVersion, func(ctx context.Context) (string, error) {
		v, err := rs.Version(ctx, &runtimeapi.VersionRequest{})
		if err != nil {
			return "", err
		}
		mu.Lock()
		info.RuntimeName, info.RuntimeVersion = v.GetRuntimeName(), v.GetRuntimeVersion()
		mu.Unlock()
		return v.GetRuntimeName() + " " + v.GetRuntimeVersion(), nil
	}))
	wg.Go(call(1, CRIStatus, func(ctx context.Context) (string, error) {
		s, err := rs.Status(ctx, &runtimeapi.StatusRequest{})
		if err != nil {
			return "", err
		}
		msg := ""
		for _, cond := range s.GetStatus().GetConditions() {
			msg += fmt.Sprintf("%s=%t ", cond.GetType(), cond.GetStatus())
			if cond.GetType() == runtimeapi.RuntimeReady {
				ready := cond.GetStatus()
				mu.Lock()
				info.Ready = &ready
				mu.Unlock()
			}
		}
		return msg, nil
	}))
	wg.Go(call(2, CRIListPodSandbox, func(ctx context.Context) (string, error) {
		s, err := rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		if err != nil {
			return "", err
		}
		mu.Lock()
		info.Sandboxes = len(s.GetItems())
		mu.Unlock()
		return fmt.Sprintf("%d sandboxes", len(s.GetItems())), nil
	}))
	wg.Go(call(3, CRIListContainers, func(ctx context.Context) (string, error) {
		s, err := rs.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		if err != nil {
			return "", err
		}
		mu.Lock()
		info.Containers = len(s.GetContainers())
		mu.Unlock()
		return fmt.Sprintf("%d containers", len(s.GetContainers())), nil
	}))
	wg.Wait()
	info.Calls = results
	return info
}
