package faultproxy

import (
	"context"
	"testing"
	"time"

	containers "github.com/containerd/containerd/api/services/containers/v1"
	"google.golang.org/grpc"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
)

// The proxy's cost per call is the difference between the "proxy" and
// "direct" sub-benchmarks (sequential calls, as cAdvisor makes them):
//
//	go test -run '^$' -bench . -benchtime 3000x ./internal/faultproxy

// BenchmarkVersion calls the in-process fake upstream: no root needed.
func BenchmarkVersion(b *testing.B) {
	upstream := startFake(b)
	p := startProxy(b, upstream)
	for _, bc := range []struct{ name, path string }{{"direct", upstream}, {"proxy", p.ListenPath()}} {
		b.Run(bc.name, func(b *testing.B) { benchCalls(b, dial(b, bc.path), versionCall) })
	}
}

// BenchmarkRealContainersGet calls Containers/Get on a real containerd 1.6.
func BenchmarkRealContainersGet(b *testing.B) {
	containerdlab.Require(b, "")
	d := containerdlab.Start(b, containerdlab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.CreateContainers(ctx, []string{"bench-1"}, nil); err != nil {
		b.Fatal(err)
	}
	// A rule that does not match still costs its byte search: keep one.
	p := startProxy(b, d.Address, Rule{Method: methodTasksGet, Match: "other", Action: Hang})
	p.SetLogf(nil)
	get := func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := containers.NewContainersClient(cc).Get(ctx, &containers.GetContainerRequest{ID: "bench-1"})
		return err
	}
	for _, bc := range []struct{ name, path string }{{"direct", d.Address}, {"proxy", p.ListenPath()}} {
		b.Run(bc.name, func(b *testing.B) { benchCalls(b, dial(b, bc.path), get) })
	}
}

func benchCalls(b *testing.B, cc *grpc.ClientConn, call func(context.Context, *grpc.ClientConn) error) {
	ctx := containerdlab.WithNamespace(context.Background(), "k8s.io")
	// Connect before timing.
	if err := callWithin(ctx, cc, call); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := callWithin(ctx, cc, call); err != nil {
			b.Fatal(err)
		}
	}
}

func callWithin(ctx context.Context, cc *grpc.ClientConn, call func(context.Context, *grpc.ClientConn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return call(ctx, cc)
}
