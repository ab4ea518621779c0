package containerdlab

import (
	"context"
	"fmt"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/anypb"
)

// Namespace is the containerd namespace cAdvisor and the kubelet use.
const Namespace = "k8s.io"

// specTypeURL is the type containerd registers for an OCI runtime spec.
const specTypeURL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"

// MinimalSpec is a tiny valid OCI spec for metadata-only containers.
var MinimalSpec = []byte(`{"ociVersion":"1.0.2","process":{"args":["/pause"],"cwd":"/"},"root":{"path":"rootfs"}}`)

// WithNamespace returns ctx carrying the containerd namespace header.
func WithNamespace(ctx context.Context, ns string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "containerd-namespace", ns)
}

// IDs returns n container ids "<prefix>-00000" ....
func IDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return ids
}

// CreateContainers creates metadata-only containers (no image, snapshot or
// task) in namespace k8s.io through the containers gRPC service, ~3 ms each.
// spec nil means MinimalSpec.
func (d *Daemon) CreateContainers(ctx context.Context, ids []string, spec []byte) error {
	if spec == nil {
		spec = MinimalSpec
	}
	conn, err := d.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	client := containersapi.NewContainersClient(conn)
	ctx = WithNamespace(ctx, Namespace)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error {
			_, err := client.Create(ctx, &containersapi.CreateContainerRequest{Container: &containersapi.Container{
				ID:      id,
				Labels:  map[string]string{"io.cri-containerd.kind": "container"},
				Runtime: &containersapi.Container_Runtime{Name: "io.containerd.runc.v2"},
				Spec:    &anypb.Any{TypeUrl: specTypeURL, Value: spec},
			}})
			if err != nil {
				return fmt.Errorf("create container %s: %w", id, err)
			}
			return nil
		})
	}
	return g.Wait()
}
