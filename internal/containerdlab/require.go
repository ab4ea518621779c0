package containerdlab

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// DefaultV2BinDir is where hack/build-containerd2.sh caches containerd v2.4.2.
const DefaultV2BinDir = "/var/cache/kubectl-cadvisor-doctor/containerd/v2.4.2/bin"

// Require skips t under -short, and checks what a real daemon needs: root,
// containerd (in binDir, or on PATH when binDir is ""), runc and ctr. A
// missing prerequisite skips t, or fails it when KCD_REQUIRE_REAL=1.
func Require(t testing.TB, binDir string) {
	t.Helper()
	if testing.Short() {
		t.Skip("real containerd test: skipped under -short")
	}
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("KCD_REQUIRE_REAL") == "1" {
			t.Fatalf("KCD_REQUIRE_REAL=1 and a prerequisite is missing: "+format, args...)
		}
		t.Skipf("prerequisite missing: "+format, args...)
	}
	if os.Geteuid() != 0 {
		missing("must run as root to start containerd")
	}
	if binDir != "" {
		for _, b := range []string{"containerd", "containerd-shim-runc-v2"} {
			if st, err := os.Stat(filepath.Join(binDir, b)); err != nil || st.Mode()&0o111 == 0 {
				missing("%s not in %s (run hack/build-containerd2.sh)", b, binDir)
			}
		}
	} else {
		for _, b := range []string{"containerd", "containerd-shim-runc-v2"} {
			if _, err := exec.LookPath(b); err != nil {
				missing("%s not on PATH (apt-get install containerd)", b)
			}
		}
	}
	for _, b := range []string{"runc", "ctr"} {
		if _, err := exec.LookPath(b); err != nil {
			missing("%s not on PATH (apt-get install containerd runc)", b)
		}
	}
}

// RequireV2 is Require for containerd 2.x: it returns the bin dir, from
// KCD_CONTAINERD2_BIN or DefaultV2BinDir.
func RequireV2(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("KCD_CONTAINERD2_BIN")
	if dir == "" {
		dir = DefaultV2BinDir
	}
	Require(t, dir)
	return dir
}
