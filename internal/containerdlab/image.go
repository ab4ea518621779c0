package containerdlab

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/ociimage"
)

// SleeperRef is the reference SleeperImage's tarball imports as.
const SleeperRef = "registry.example/kcd/sleeper:v1"

// SleeperImage builds the sleeper command as a static binary and packs it
// as an OCI image-layout tarball in a temp dir of t (no registry or internet
// needed). Import it with ImportImage and run it with RunTask(SleeperRef).
func SleeperImage(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "sleeper")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin,
		"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab/sleeper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build sleeper: %v\n%s", err, out)
	}
	tarball := filepath.Join(dir, "sleeper.tar")
	f, err := os.Create(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img := ociimage.Image{
		Ref:        SleeperRef,
		Entrypoint: []string{"/sleeper"},
		Platforms: []ociimage.Platform{{OS: "linux", Architecture: runtime.GOARCH,
			Files: []ociimage.File{{Path: "/sleeper", Mode: 0o755, Source: bin}}}},
	}
	if err := ociimage.WriteTarball(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return tarball
}
