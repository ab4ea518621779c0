package ociimage_test

// An external test package: containerdlab imports ociimage itself.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/ociimage"
)

// buildHello compiles testdata/hello as a static linux binary for arch.
func buildHello(t *testing.T, arch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hello-"+arch)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hello: %v\n%s", err, b)
	}
	return out
}

// lab is a real daemon and the ctr that matches its version.
type lab struct {
	d   *containerdlab.Daemon
	ctr string
}

func (l lab) run(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	all := append([]string{"--address", l.d.Address, "--namespace", containerdlab.Namespace, "--connect-timeout", "5s"}, args...)
	out, err := exec.CommandContext(ctx, l.ctr, all...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", l.ctr, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestImportAndRun imports images into containerd 1.6 and 2.x with
// `ctr images import`, checks they are named exactly Ref, and runs a
// container from each with runc.
func TestImportAndRun(t *testing.T) {
	containerdlab.Require(t, "")
	v2 := containerdlab.RequireV2(t)
	if _, err := os.Stat(filepath.Join(v2, "ctr")); err != nil {
		if os.Getenv("KCD_REQUIRE_REAL") == "1" {
			t.Fatalf("ctr v2 missing: run hack/build-containerd2.sh: %v", err)
		}
		t.Skipf("ctr v2 missing: run hack/build-containerd2.sh: %v", err)
	}
	labs := map[string]lab{
		"containerd-1.6": {d: containerdlab.Start(t, containerdlab.Options{}), ctr: "ctr"},
		"containerd-2.x": {d: containerdlab.Start(t, containerdlab.Options{BinDir: v2}), ctr: filepath.Join(v2, "ctr")},
	}
	hello := buildHello(t, "amd64")
	if out, err := exec.Command("go", "env", "GOARCH").Output(); err != nil || strings.TrimSpace(string(out)) != "amd64" {
		t.Skipf("runs an amd64 binary; this machine is %s", out)
	}
	images := map[string]ociimage.Image{
		"single": {
			Ref:        "registry.example/kcd/hello-single:v1",
			Entrypoint: []string{"/hello"}, Cmd: []string{"from-cmd"},
			Env:       []string{"GREETING=single"},
			Platforms: []ociimage.Platform{{OS: "linux", Architecture: "amd64", Files: []ociimage.File{{Path: "/hello", Mode: 0o755, Source: hello}}}},
		},
		"multi-arch": {
			Ref:        "registry.example/kcd/hello-multi:v2",
			Entrypoint: []string{"/hello"},
			Env:        []string{"GREETING=multi"},
			Platforms: []ociimage.Platform{
				// Not an arm64 binary: if the runtime picked this platform
				// on amd64, the exec would fail.
				{OS: "linux", Architecture: "arm64", Files: []ociimage.File{{Path: "/hello", Mode: 0o755, Data: []byte("not a binary")}}},
				{OS: "linux", Architecture: "amd64", Files: []ociimage.File{{Path: "/hello", Mode: 0o755, Source: hello}}},
			},
		},
	}
	wantOut := map[string]string{
		"single":     "args=/hello from-cmd greeting=single\n",
		"multi-arch": "args=/hello greeting=multi\n",
	}
	for dname, l := range labs {
		for iname, img := range images {
			t.Run(dname+"/"+iname, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				tarball := filepath.Join(t.TempDir(), "img.tar")
				if err := ociimage.WriteFile(tarball, img); err != nil {
					t.Fatal(err)
				}
				l.run(ctx, t, "images", "import", tarball)
				var names []string
				for _, n := range strings.Fields(l.run(ctx, t, "images", "ls", "-q")) {
					if strings.Contains(n, "hello-") || strings.HasPrefix(n, "import-") {
						names = append(names, n)
					}
				}
				if !contains(names, img.Ref) || hasPrefix(names, "import-") {
					t.Fatalf("images after import: %v; want %s and no import-* names", names, img.Ref)
				}

				outDir := t.TempDir()
				id := "hello-" + iname
				l.run(ctx, t, "run", "--rm", "--null-io",
					"--runc-root", l.d.RuncRoot,
					"--cgroup", l.d.CgroupParent()+"/"+id,
					"--mount", fmt.Sprintf("type=bind,src=%s,dst=/out,options=rbind:rw", outDir),
					img.Ref, id)
				got, err := os.ReadFile(filepath.Join(outDir, "hello"))
				if err != nil {
					t.Fatalf("container wrote nothing: %v", err)
				}
				if diff := cmp.Diff(wantOut[iname], string(got)); diff != "" {
					t.Errorf("container output (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func hasPrefix(s []string, p string) bool {
	for _, x := range s {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}
