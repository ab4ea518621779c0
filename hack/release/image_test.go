package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
)

// TestProbeImageImport imports the release's probe image tarball into real
// containerd 1.6 and 2.x with `ctr images import`, checks its name and
// platforms, and runs `version` in a container from it.
func TestProbeImageImport(t *testing.T) {
	c := release(t)
	containerdlab.Require(t, "")
	v2 := containerdlab.RequireV2(t)
	tarball := filepath.Join(c.Out, c.imageTarball())
	daemons := []struct {
		name string
		opts containerdlab.Options
		ctr  string
	}{
		{"containerd-1.6", containerdlab.Options{}, "ctr"},
		{"containerd-2.x", containerdlab.Options{BinDir: v2}, filepath.Join(v2, "ctr")},
	}
	for _, dd := range daemons {
		t.Run(dd.name, func(t *testing.T) {
			d := containerdlab.Start(t, dd.opts)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ctr := func(args ...string) string {
				t.Helper()
				all := append([]string{"--address", d.Address, "--namespace", containerdlab.Namespace, "--connect-timeout", "5s"}, args...)
				out, err := exec.CommandContext(ctx, dd.ctr, all...).CombinedOutput()
				if err != nil {
					t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return string(out)
			}
			ctr("images", "import", "--all-platforms", tarball)
			ls := ctr("images", "ls")
			// REF TYPE DIGEST SIZE("14.8 MiB") PLATFORMS LABELS
			row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.ProbeImage()) + `\s+application/vnd\.oci\.image\.index\.v1\+json\s+sha256:[0-9a-f]{64}\s+\S+ \S+\s+(\S+)`).FindStringSubmatch(ls)
			if row == nil {
				t.Fatalf("ctr images ls has no OCI index named %s:\n%s", c.ProbeImage(), ls)
			}
			if row[1] != "linux/amd64,linux/arm64" {
				t.Errorf("platforms %q, want linux/amd64,linux/arm64", row[1])
			}
			if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
				return
			}
			// Foreground run: ctr relays the container's stdout through
			// fifos in a dir of our own (the default one is shared).
			id := "probe-version"
			out := ctr("run", "--rm", "--fifo-dir", t.TempDir(),
				"--runc-root", d.RuncRoot, "--cgroup", d.CgroupParent()+"/"+id,
				c.ProbeImage(), id, "/"+binName, "version")
			want := fmt.Sprintf("kubectl-cadvisor_doctor %s\n", c.Version)
			// ctr 2.x may print a cgroup v1 deprecation warning first.
			if !strings.Contains(out, "\n"+want) && !strings.HasPrefix(out, want) || !strings.Contains(out, "probe image: "+c.ProbeImage()+"\n") {
				t.Errorf("version in the probe container:\n%s\nwant %q and the probe image", out, want)
			}
		})
	}
}

// TestDockerfile keeps build/probe/Dockerfile in step with the release: the
// same binary path, entrypoint, ldflags variables and an empty base.
func TestDockerfile(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "build", "probe", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		"FROM scratch",
		`ENTRYPOINT ["/` + binName + `"]`,
		"COPY --from=build /out/" + binName + " /" + binName,
		"-trimpath", "-buildvcs=false", "CGO_ENABLED=0",
		"-X " + modulePath + "/internal/version.Version=${VERSION}",
		"-X " + modulePath + "/internal/version.ProbeImage=${IMAGE_REPO}:${VERSION}",
		"./cmd/kubectl-cadvisor-doctor",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
