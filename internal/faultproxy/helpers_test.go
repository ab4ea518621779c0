package faultproxy

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	containers "github.com/containerd/containerd/api/services/containers/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// shortDir returns a temp dir short enough for unix socket paths (108
// bytes); t.TempDir embeds the test name and gets too long for subtests.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// fakeContainerd is an in-process upstream speaking containerd's version
// and containers services. It reports back what reached it (namespace
// header, remaining deadline) in labels so tests can see what the proxy
// forwarded.
type fakeContainerd struct {
	containers.UnimplementedContainersServer
	versionapi.UnimplementedVersionServer
	ids []string
}

func (f *fakeContainerd) Version(context.Context, *emptypb.Empty) (*versionapi.VersionResponse, error) {
	return &versionapi.VersionResponse{Version: "fake-1.0", Revision: "r1"}, nil
}

func (f *fakeContainerd) Get(ctx context.Context, req *containers.GetContainerRequest) (*containers.GetContainerResponse, error) {
	for _, id := range f.ids {
		if id == req.ID {
			return &containers.GetContainerResponse{Container: &containers.Container{ID: id, Labels: seenLabels(ctx)}}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "container %q: not found", req.ID)
}

func (f *fakeContainerd) ListStream(_ *containers.ListContainersRequest, ss containers.Containers_ListStreamServer) error {
	labels := seenLabels(ss.Context())
	for _, id := range f.ids {
		if err := ss.Send(&containers.ListContainerMessage{Container: &containers.Container{ID: id, Labels: labels}}); err != nil {
			return err
		}
	}
	return nil
}

func seenLabels(ctx context.Context) map[string]string {
	l := map[string]string{"namespace": "", "deadline": "none"}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("containerd-namespace"); len(v) > 0 {
			l["namespace"] = v[0]
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		l["deadline"] = fmt.Sprintf("%d", time.Until(dl).Milliseconds())
	}
	return l
}

// startFake serves a fakeContainerd on a fresh socket until the test ends.
func startFake(t testing.TB, ids ...string) string {
	t.Helper()
	path := filepath.Join(shortDir(t), "upstream.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	f := &fakeContainerd{ids: ids}
	containers.RegisterContainersServer(srv, f)
	versionapi.RegisterVersionServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return path
}

// startProxy starts a proxy to upstream, logging to the test, closed at the end.
func startProxy(t testing.TB, upstream string, rules ...Rule) *Proxy {
	t.Helper()
	p, err := Start(filepath.Join(shortDir(t), "proxy.sock"), upstream)
	if err != nil {
		t.Fatal(err)
	}
	if tt, ok := t.(*testing.T); ok {
		p.SetLogf(tt.Logf)
	}
	p.SetRules(rules...)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// dial returns a client connection to a unix socket, closed at the end.
func dial(t testing.TB, path string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// nsCtx is a context with the containerd namespace header and a deadline.
func nsCtx(t testing.TB, ns string, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "containerd-namespace", ns)
}

const (
	methodVersion    = "/containerd.services.version.v1.Version/Version"
	methodGet        = "/containerd.services.containers.v1.Containers/Get"
	methodListStream = "/containerd.services.containers.v1.Containers/ListStream"
)
