package faultproxy

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	containers "github.com/containerd/containerd/api/services/containers/v1"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
)

const methodTasksGet = "/containerd.services.tasks.v1.Tasks/Get"

// realDaemons starts the daemons the real tests run against: Debian's
// containerd 1.6 and the cached 2.x build.
func realDaemons(t *testing.T) map[string]*containerdlab.Daemon {
	t.Helper()
	containerdlab.Require(t, "")
	v2 := containerdlab.RequireV2(t)
	return map[string]*containerdlab.Daemon{
		"containerd-1.6": containerdlab.Start(t, containerdlab.Options{}),
		"containerd-2.x": containerdlab.Start(t, containerdlab.Options{BinDir: v2}),
	}
}

func TestRealDaemonThroughProxy(t *testing.T) {
	for name, d := range realDaemons(t) {
		t.Run(name, func(t *testing.T) {
			ids := containerdlab.IDs("fp", 5)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := d.CreateContainers(ctx, ids, nil); err != nil {
				t.Fatalf("create containers: %v", err)
			}
			p := startProxy(t, d.Address)
			cc := dial(t, p.ListenPath())

			v, err := versionapi.NewVersionClient(cc).Version(nsCtx(t, "k8s.io", 2*time.Second), &emptypb.Empty{})
			if err != nil || v.Version != d.Version {
				t.Errorf("Version through proxy = %q, %v; want %q", v.GetVersion(), err, d.Version)
			}
			cs := containers.NewContainersClient(cc)
			got, err := cs.Get(nsCtx(t, "k8s.io", 2*time.Second), &containers.GetContainerRequest{ID: ids[3]})
			if err != nil || got.Container.ID != ids[3] || got.Container.Runtime.GetName() != "io.containerd.runc.v2" {
				t.Errorf("Containers/Get through proxy = %v, %v; want %s with runtime io.containerd.runc.v2", got, err, ids[3])
			}
			if diff := cmp.Diff(ids, listIDs(t, cs, "k8s.io")); diff != "" {
				t.Errorf("ListStream through proxy (-want +got):\n%s", diff)
			}
			// The namespace header is what scopes the list: another
			// namespace is empty, so the header really was forwarded.
			if got := listIDs(t, cs, "other"); len(got) != 0 {
				t.Errorf("ListStream in namespace other = %v, want none", got)
			}

			// CRI on the same socket passes too.
			rv, err := cri.NewRuntimeServiceClient(cc).Version(nsCtx(t, "k8s.io", 5*time.Second), &cri.VersionRequest{})
			if err != nil || rv.RuntimeName != "containerd" {
				t.Errorf("CRI Version through proxy = %v, %v; want runtime containerd", rv, err)
			}

			// Hang Tasks/Get for one container id only.
			p.SetRules(Rule{Method: methodTasksGet, Match: ids[1], Action: Hang})
			tc := tasks.NewTasksClient(cc)
			_, err = tc.Get(nsCtx(t, "k8s.io", 300*time.Millisecond), &tasks.GetRequest{ContainerID: ids[1]})
			if c := status.Code(err); c != codes.DeadlineExceeded {
				t.Errorf("Tasks/Get of the hung id: %v, want DeadlineExceeded", err)
			}
			// Metadata-only containers have no task: containerd itself says NotFound.
			_, err = tc.Get(nsCtx(t, "k8s.io", 2*time.Second), &tasks.GetRequest{ContainerID: ids[2]})
			if c := status.Code(err); c != codes.NotFound {
				t.Errorf("Tasks/Get of another id: %v, want containerd's NotFound", err)
			}
			if _, err := cs.Get(nsCtx(t, "k8s.io", 2*time.Second), &containers.GetContainerRequest{ID: ids[1]}); err != nil {
				t.Errorf("Containers/Get of the hung id (other method): %v", err)
			}

			p.SetRules(Rule{Method: methodVersion, Action: Fail, Code: codes.Unavailable, Message: "injected"})
			_, err = versionapi.NewVersionClient(cc).Version(nsCtx(t, "k8s.io", 2*time.Second), &emptypb.Empty{})
			if diff := cmp.Diff("code=Unavailable msg=injected", statusString(err)); diff != "" {
				t.Errorf("failed Version (-want +got):\n%s", diff)
			}
		})
	}
}

func listIDs(t *testing.T, cs containers.ContainersClient, ns string) []string {
	t.Helper()
	s, err := cs.ListStream(nsCtx(t, ns, 5*time.Second), &containers.ListContainersRequest{})
	if err != nil {
		t.Fatalf("ListStream: %v", err)
	}
	var ids []string
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return ids
		}
		if err != nil {
			t.Fatalf("ListStream Recv: %v", err)
		}
		ids = append(ids, m.Container.ID)
	}
}

// TestRealDaemonFrozenBehindProxy: SIGSTOP of containerd itself, seen
// through the proxy, still ends at the client's deadline (it travels
// upstream with the call).
func TestRealDaemonFrozenBehindProxy(t *testing.T) {
	containerdlab.Require(t, "")
	d := containerdlab.Start(t, containerdlab.Options{})
	p := startProxy(t, d.Address)
	cc := dial(t, p.ListenPath())
	if err := versionCall(nsCtx(t, "k8s.io", 2*time.Second), cc); err != nil {
		t.Fatalf("Version before freeze: %v", err)
	}
	if err := d.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer d.Thaw()
	// SIGSTOP is delivered asynchronously: wait until the kernel shows it.
	for deadline := time.Now().Add(5 * time.Second); containerdlab.ProcState(d.PID) != "T"; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("containerd pid %d not stopped: state %q", d.PID, containerdlab.ProcState(d.PID))
		}
	}
	err := versionCall(nsCtx(t, "k8s.io", 300*time.Millisecond), cc)
	if c := status.Code(err); c != codes.DeadlineExceeded {
		t.Errorf("Version of a frozen daemon through proxy: %v, want DeadlineExceeded", err)
	}
	if err := d.Thaw(); err != nil {
		t.Fatal(err)
	}
	if err := versionCall(nsCtx(t, "k8s.io", 2*time.Second), cc); err != nil {
		t.Errorf("Version after thaw: %v", err)
	}
	if got := p.Counts()[methodVersion].ByCode; got[codes.DeadlineExceeded] != 1 || got[codes.OK] != 2 {
		t.Errorf("Version codes = %v, want 2 OK and 1 DeadlineExceeded", got)
	}
}
