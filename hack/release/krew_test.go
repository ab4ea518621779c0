package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Cached by hack/build-krew.sh and hack/build-kube.sh.
const (
	krewBinDir = "/var/cache/kubectl-cadvisor-doctor/krew/v0.4.3/bin"
	kubeBinDir = "/var/cache/kubectl-cadvisor-doctor/kubernetes/v1.37.2/bin"
)

// requireTool returns the cached tool, or skips (fails under KCD_REQUIRE_REAL=1).
func requireTool(t *testing.T, dir, name, how string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if st, err := os.Stat(path); err != nil || st.Mode()&0o111 == 0 {
		if os.Getenv("KCD_REQUIRE_REAL") == "1" {
			t.Fatalf("KCD_REQUIRE_REAL=1 and %s is missing (%s)", path, how)
		}
		t.Skipf("%s missing (%s)", path, how)
	}
	return path
}

// TestManifestFields checks every field krew validates, plus ours: the
// name matches the file, a semver version, one platform per archive with
// non-overlapping os/arch selectors, a sha256 that matches the archive, the
// uri it is published at, and caveats that warn about privileged pods.
func TestManifestFields(t *testing.T) {
	c := release(t)
	m, err := readManifest(filepath.Join(c.Out, pluginName+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{m.APIVersion, m.Kind, m.Metadata.Name, m.Spec.Version, m.Spec.Homepage}
	want := []string{"krew.googlecontainertools.github.com/v1alpha2", "Plugin", pluginName, c.Version, "https://" + modulePath}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apiVersion, kind, name, version, homepage (-want +got):\n%s", diff)
	}
	if !semverRE.MatchString(m.Spec.Version) {
		t.Errorf("version %q is not semver with a v prefix", m.Spec.Version)
	}
	if sd := m.Spec.ShortDescription; sd == "" || strings.ContainsAny(sd, "\r\n") || len(sd) > 50 {
		t.Errorf("shortDescription %q: want one line of at most 50 characters", sd)
	}
	if m.Spec.Description == "" {
		t.Error("description is empty")
	}
	for _, w := range []string{"PRIVILEGED pod", c.ProbeImage(), "--image"} {
		if !strings.Contains(m.Spec.Caveats, w) {
			t.Errorf("caveats do not mention %q:\n%s", w, m.Spec.Caveats)
		}
	}
	hex64 := regexp.MustCompile(`^[a-f0-9]{64}$`)
	seen := map[string]bool{}
	var platforms []string
	for _, p := range m.Spec.Platforms {
		sel := p.Selector.MatchLabels
		tg := Target{OS: sel["os"], Arch: sel["arch"]}
		platforms = append(platforms, tg.String())
		if len(sel) != 2 {
			t.Errorf("%s: selector %v: want exactly os and arch", tg, sel)
		}
		if seen[tg.String()] {
			t.Errorf("%s: two platforms select it", tg)
		}
		seen[tg.String()] = true
		name := tg.archiveName(c.Version)
		sum, err := fileSHA256(filepath.Join(c.Out, name))
		if err != nil {
			t.Fatalf("%s: %v", tg, err)
		}
		if !hex64.MatchString(p.SHA256) || p.SHA256 != sum {
			t.Errorf("%s: sha256 %q, archive has %s", tg, p.SHA256, sum)
		}
		if want := c.DownloadURL + "/" + name; p.URI != want {
			t.Errorf("%s: uri %q, want %q", tg, p.URI, want)
		}
		if p.Bin != tg.exe() {
			t.Errorf("%s: bin %q, want %q", tg, p.Bin, tg.exe())
		}
		var from []string
		for _, f := range p.Files {
			from = append(from, f.From+"->"+f.To)
		}
		var wantFrom []string
		for _, f := range archiveFiles(c, tg) {
			wantFrom = append(wantFrom, f.name+"->.")
		}
		if diff := cmp.Diff(wantFrom, from); diff != "" {
			t.Errorf("%s: files (-want +got):\n%s", tg, diff)
		}
	}
	var wantPlatforms []string
	for _, tg := range c.Targets {
		wantPlatforms = append(wantPlatforms, tg.String())
	}
	if diff := cmp.Diff(wantPlatforms, platforms); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
}

// TestKrewValidator runs krew's own validator on the manifest, and on a
// broken copy to show it really checks.
func TestKrewValidator(t *testing.T) {
	c := release(t)
	validator := requireTool(t, krewBinDir, "validate-krew-manifest", "run hack/build-krew.sh")
	manifest := filepath.Join(c.Out, pluginName+".yaml")
	if out, err := exec.Command(validator, "-manifest", manifest, "-skip-install").CombinedOutput(); err != nil {
		t.Fatalf("validate-krew-manifest: %v\n%s", err, out)
	}

	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), pluginName+".yaml")
	bad := strings.Replace(string(b), "arch: arm64", "arch: amd64", 1) // overlapping selectors
	if err := os.WriteFile(broken, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(validator, "-manifest", broken, "-skip-install").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "overlapping") {
		t.Errorf("validator on overlapping selectors: err %v, output:\n%s", err, out)
	}
}

// TestKrewInstall installs the linux/amd64 archive with krew into a temp
// KREW_ROOT and runs the plugin through kubectl's plugin lookup, and its
// completion through kubectl_complete-cadvisor_doctor.
func TestKrewInstall(t *testing.T) {
	c := release(t)
	krew := requireTool(t, krewBinDir, "krew", "run hack/build-krew.sh")
	root := t.TempDir()
	env := []string{
		"KREW_ROOT=" + root, "KREW_NO_UPGRADE_CHECK=1", "KREW_OS=linux", "KREW_ARCH=amd64",
		"HOME=" + root, "PATH=" + filepath.Join(root, "bin") + ":/usr/bin:/bin",
	}
	archive := filepath.Join(c.Out, Target{OS: "linux", Arch: "amd64"}.archiveName(c.Version))
	cmd := exec.Command(krew, "install", "--manifest="+filepath.Join(c.Out, pluginName+".yaml"), "--archive="+archive)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("krew install: %v\n%s", err, out)
	}
	installed := filepath.Join(root, "bin", binName)
	if _, err := os.Stat(installed); err != nil {
		t.Fatalf("krew did not link %s: %v", installed, err)
	}
	store := filepath.Join(root, "store", pluginName, c.Version)
	for _, f := range []string{"LICENSE", completionScript} {
		if _, err := os.Stat(filepath.Join(store, f)); err != nil {
			t.Errorf("krew store lacks %s: %v", f, err)
		}
	}
	wantVersion := fmt.Sprintf("kubectl-cadvisor_doctor %s\n", c.Version)

	t.Run("kubectl plugin lookup", func(t *testing.T) {
		kubectl := requireTool(t, kubeBinDir, "kubectl", "the lead adds kubectl to hack/build-kube.sh")
		// The completion script is found on PATH like the plugin itself; a
		// dir of its own, since the store also holds a copy of the binary
		// and kubectl warns about shadowed plugins.
		comp := filepath.Join(root, "completion-bin")
		if err := os.Mkdir(comp, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(store, completionScript), filepath.Join(comp, completionScript)); err != nil {
			t.Fatal(err)
		}
		pathDirs := filepath.Join(root, "bin") + ":" + comp + ":" + filepath.Dir(kubectl) + ":/usr/bin:/bin"
		kenv := append(env[:len(env)-1:len(env)-1], "PATH="+pathDirs, "KUBECONFIG="+filepath.Join(root, "no-kubeconfig"))
		run := func(args ...string) string {
			cmd := exec.Command(kubectl, args...)
			cmd.Env = kenv
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		if out := run("cadvisor-doctor", "version"); !strings.HasPrefix(out, wantVersion) {
			t.Errorf("kubectl cadvisor-doctor version:\n%s\nwant first line %q", out, wantVersion)
		}
		if out := run("plugin", "list"); !strings.Contains(out, installed) {
			t.Errorf("kubectl plugin list does not show %s:\n%s", installed, out)
		}
		out := run("__complete", "cadvisor-doctor", "")
		for _, sub := range []string{"check", "completion", "version"} {
			if !regexp.MustCompile(`(?m)^` + sub + `\b`).MatchString(out) {
				t.Errorf("kubectl completion of cadvisor-doctor lacks %q:\n%s", sub, out)
			}
		}
	})
}

// TestKrewValidatorInstall runs krew's validator without -skip-install: it
// installs every platform's archive with `kubectl krew install` (KREW_OS and
// KREW_ARCH set per platform) and checks the LICENSE lands. The archives are
// served from a loopback HTTP server and the manifest's uris point there.
func TestKrewValidatorInstall(t *testing.T) {
	c := release(t)
	validator := requireTool(t, krewBinDir, "validate-krew-manifest", "run hack/build-krew.sh")
	krew := requireTool(t, krewBinDir, "krew", "run hack/build-krew.sh")
	kubectl := requireTool(t, kubeBinDir, "kubectl", "the lead adds kubectl to hack/build-kube.sh")

	srv := httptest.NewServer(http.FileServer(http.Dir(c.Out)))
	defer srv.Close()
	b, err := os.ReadFile(filepath.Join(c.Out, pluginName+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	manifest := filepath.Join(dir, pluginName+".yaml")
	local := strings.ReplaceAll(string(b), "uri: "+c.DownloadURL+"/", "uri: "+srv.URL+"/")
	if strings.Count(local, srv.URL) != len(c.Targets) {
		t.Fatalf("could not point every uri at the test server:\n%s", local)
	}
	if err := os.WriteFile(manifest, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	// The validator runs `kubectl krew install` with a clean environment;
	// this kubectl-krew runs the real krew with its upgrade check (a call
	// to GitHub) switched off.
	pathDir := filepath.Join(dir, "path")
	if err := os.Mkdir(pathDir, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := "#!/bin/sh\nKREW_NO_UPGRADE_CHECK=1 exec " + krew + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(pathDir, "kubectl-krew"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(kubectl, filepath.Join(pathDir, "kubectl")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(validator, "-manifest", manifest)
	cmd.Env = []string{"PATH=" + pathDir + ":/usr/bin:/bin", "HOME=" + dir, "TMPDIR=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("validate-krew-manifest (with install): %v\n%s", err, out)
	}
	if want := fmt.Sprintf("all %d spec.platforms installed fine", len(c.Targets)); !strings.Contains(string(out), want) {
		t.Errorf("validator output lacks %q:\n%s", want, out)
	}
}
