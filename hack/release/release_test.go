package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/yaml"
)

// The release tests check a real release build. By default they build one
// (all six targets, ~1 min with a warm Go build cache, several cold) into a
// temp dir; KCD_RELEASE_DIST=dist (relative to the repository root, or
// absolute) checks the output of `make release` instead. Skipped under -short.

const testVersion = "v0.1.0-rc.1"

var (
	releaseOnce sync.Once
	releaseCfg  Config
	releaseErr  error
	releaseTmp  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if releaseTmp != "" {
		os.RemoveAll(releaseTmp)
	}
	os.Exit(code)
}

// release returns the config of the release under test, building it once.
func release(t *testing.T) Config {
	t.Helper()
	if testing.Short() {
		t.Skip("release build: skipped under -short")
	}
	releaseOnce.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			releaseErr = err
			return
		}
		if dist := os.Getenv("KCD_RELEASE_DIST"); dist != "" {
			if !filepath.IsAbs(dist) { // relative to the repository root, like `make release`'s dist
				dist = filepath.Join(root, dist)
			}
			releaseCfg, releaseErr = configFromDist(root, dist)
			return
		}
		releaseTmp, releaseErr = os.MkdirTemp("", "kcd-release-test")
		if releaseErr != nil {
			return
		}
		var log bytes.Buffer
		releaseCfg = Config{
			Version: testVersion, ImageRepo: defaultImageRepo, DownloadURL: releasesURL + testVersion,
			Out: filepath.Join(releaseTmp, "dist"), RepoRoot: root, Targets: DefaultTargets, Jobs: 2, Log: &log,
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		if err := Run(ctx, releaseCfg); err != nil {
			releaseErr = fmt.Errorf("release build: %w\n%s", err, log.String())
		}
	})
	if releaseErr != nil {
		t.Fatal(releaseErr)
	}
	return releaseCfg
}

// configFromDist reconstructs the config of an existing dist/ from its manifest.
func configFromDist(root, dist string) (Config, error) {
	m, err := readManifest(filepath.Join(dist, pluginName+".yaml"))
	if err != nil {
		return Config{}, err
	}
	c := Config{Version: m.Spec.Version, Out: dist, RepoRoot: root, ImageRepo: defaultImageRepo, Log: io.Discard}
	if dist, err := filepath.Abs(dist); err == nil {
		c.Out = dist
	}
	for _, p := range m.Spec.Platforms {
		c.Targets = append(c.Targets, Target{OS: p.Selector.MatchLabels["os"], Arch: p.Selector.MatchLabels["arch"]})
		c.DownloadURL = strings.TrimSuffix(p.URI, "/"+Target{OS: p.Selector.MatchLabels["os"], Arch: p.Selector.MatchLabels["arch"]}.archiveName(c.Version))
	}
	return c, nil
}

// archiveEntry is what the tests compare of an archive entry.
type archiveEntry struct {
	Name string
	Mode int64
	Size int64
}

func readArchive(t *testing.T, path string) ([]archiveEntry, map[string][]byte) {
	t.Helper()
	data := map[string][]byte{}
	var entries []archiveEntry
	if strings.HasSuffix(path, ".zip") {
		zr, err := zip.OpenReader(path)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, archiveEntry{Name: f.Name, Mode: int64(f.Mode().Perm()), Size: int64(len(b))})
			data[f.Name] = b
		}
		return entries, data
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries, data
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(archiveTime) {
			t.Errorf("%s: %s owner %d:%d mtime %s, want 0:0 and %s", filepath.Base(path), h.Name, h.Uid, h.Gid, h.ModTime, archiveTime)
		}
		entries = append(entries, archiveEntry{Name: h.Name, Mode: h.Mode, Size: int64(len(b))})
		data[h.Name] = b
	}
}

func TestArchives(t *testing.T) {
	c := release(t)
	license, err := os.ReadFile(filepath.Join(c.RepoRoot, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(c.RepoRoot, completionScript))
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range c.Targets {
		t.Run(tg.String(), func(t *testing.T) {
			bin, err := os.ReadFile(binPath(c, tg))
			if err != nil {
				t.Fatal(err)
			}
			entries, data := readArchive(t, filepath.Join(c.Out, tg.archiveName(c.Version)))
			want := []archiveEntry{
				{Name: "LICENSE", Mode: 0o644, Size: int64(len(license))},
				{Name: tg.exe(), Mode: 0o755, Size: int64(len(bin))},
			}
			if tg.OS != "windows" {
				want = append(want, archiveEntry{Name: completionScript, Mode: 0o755, Size: int64(len(script))})
			}
			if diff := cmp.Diff(want, entries); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if !bytes.Equal(data["LICENSE"], license) || !bytes.Equal(data[tg.exe()], bin) {
				t.Error("LICENSE or binary in the archive differ from the sources")
			}
			if !strings.Contains(string(license), "Apache License") || !strings.Contains(string(license), "Version 2.0, January 2004") {
				t.Error("LICENSE is not the Apache License 2.0")
			}
		})
	}
}

func TestSHA256Sums(t *testing.T) {
	c := release(t)
	sums, err := os.ReadFile(filepath.Join(c.Out, "sha256sums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, tg := range c.Targets {
		want = append(want, tg.archiveName(c.Version))
	}
	want = append(want, c.imageTarball())
	var got []string
	line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)
	for _, l := range strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("sha256sums.txt line %q is not '<64 hex>  <name>'", l)
		}
		sum, err := fileSHA256(filepath.Join(c.Out, m[2]))
		if err != nil {
			t.Fatal(err)
		}
		if sum != m[1] {
			t.Errorf("%s: listed %s, file has %s", m[2], m[1], sum)
		}
		got = append(got, m[2])
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("files in sha256sums.txt (-want +got):\n%s", diff)
	}
	// And the tool users run on it agrees.
	if path, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command(path, "-c", "--strict", "sha256sums.txt")
		cmd.Dir = c.Out
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	}
}

// TestBinaries checks each binary is built for its target, has no local
// paths in it (-trimpath), and that the host's one reports the stamped
// version and probe image.
func TestBinaries(t *testing.T) {
	c := release(t)
	for _, tg := range c.Targets {
		t.Run(tg.String(), func(t *testing.T) {
			path := binPath(c, tg)
			if got := binaryTarget(t, path); got != tg.String() {
				t.Errorf("binary is for %s, want %s", got, tg)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(c.RepoRoot+"/")) {
				t.Errorf("binary contains the checkout path %s: not built with -trimpath", c.RepoRoot)
			}
			if tg.OS != runtime.GOOS || tg.Arch != runtime.GOARCH {
				return
			}
			out, err := exec.Command(path, "version").CombinedOutput()
			if err != nil {
				t.Fatalf("version: %v\n%s", err, out)
			}
			want := fmt.Sprintf("kubectl-cadvisor_doctor %s\ngo: %s\nprobe image: %s\n", c.Version, runtime.Version(), c.ProbeImage())
			if diff := cmp.Diff(want, string(out)); diff != "" {
				t.Errorf("version (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProbeImageBinaries checks the image's linux binaries are the
// probe-only build: built for their target, with `probe` and without the
// API-server commands (whose client-go pages would triple the in-pod
// agent's RSS), so a broken build tag cannot slip the full plugin in.
func TestProbeImageBinaries(t *testing.T) {
	c := release(t)
	for _, tg := range c.Targets {
		if tg.OS != "linux" {
			continue
		}
		t.Run(tg.String(), func(t *testing.T) {
			path := probeBinPath(c, tg)
			if got := binaryTarget(t, path); got != tg.String() {
				t.Errorf("probe binary is for %s, want %s", got, tg)
			}
			full, err := os.Stat(binPath(c, tg))
			if err != nil {
				t.Fatal(err)
			}
			lean, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if lean.Size()*2 > full.Size() {
				t.Errorf("probe-only binary is %d bytes, the full one %d: want less than half", lean.Size(), full.Size())
			}
			if tg.OS != runtime.GOOS || tg.Arch != runtime.GOARCH {
				return
			}
			if out, err := exec.Command(path, "probe", "--help").CombinedOutput(); err != nil {
				t.Errorf("probe --help: %v\n%s", err, out)
			}
			out, err := exec.Command(path, "check", "--help").CombinedOutput()
			if err == nil || !bytes.Contains(out, []byte("unknown command")) {
				t.Errorf("check --help on the probe-only build: err=%v, want unknown command\n%s", err, out)
			}
		})
	}
}

// binaryTarget reads the OS and architecture from an executable's headers.
func binaryTarget(t *testing.T, path string) string {
	t.Helper()
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		return "linux/" + map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}[f.Machine]
	}
	if f, err := macho.Open(path); err == nil {
		defer f.Close()
		return "darwin/" + map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64"}[f.Cpu]
	}
	if f, err := pe.Open(path); err == nil {
		defer f.Close()
		return "windows/" + map[uint16]string{pe.IMAGE_FILE_MACHINE_AMD64: "amd64", pe.IMAGE_FILE_MACHINE_ARM64: "arm64"}[f.Machine]
	}
	t.Fatalf("%s is not an ELF, Mach-O or PE executable", path)
	return ""
}

// TestReproducible builds linux/amd64 twice, from two copies of the tree at
// different paths, and compares the binaries and archives byte for byte.
// Different paths defeat the Go build cache for our own packages and show
// that -trimpath keeps the checkout path out of the output.
func TestReproducible(t *testing.T) {
	c := release(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tg := Target{OS: "linux", Arch: "amd64"}
	base := t.TempDir()
	srcA := filepath.Join(base, "a", "src")
	if err := copyTree(c.RepoRoot, srcA); err != nil {
		t.Fatal(err)
	}
	srcB := filepath.Join(base, "elsewhere", "b", "checkout")
	if err := copyTree(srcA, srcB); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, src := range []string{srcA, srcB} {
		cfg := c
		cfg.RepoRoot, cfg.Out, cfg.Targets, cfg.Log = src, filepath.Join(src, "dist"), []Target{tg}, io.Discard
		if err := Run(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, cfg.Out)
	}
	for _, rel := range []string{filepath.Join("bin", "linux-amd64", tg.exe()), tg.archiveName(c.Version), pluginName + ".yaml", c.imageTarball()} {
		a, errA := os.ReadFile(filepath.Join(outs[0], rel))
		b, errB := os.ReadFile(filepath.Join(outs[1], rel))
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v %v", rel, errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between builds of the same tree at two paths", rel)
		}
	}
}

// copyTree copies the source tree (not .git, dist/ or bin/) to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() && (rel == ".git" || rel == "dist" || rel == "bin") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		default:
			return nil // sockets, symlinks: not part of the build
		}
	})
}

// krewManifest is the part of krew's v1alpha2 Plugin the tests check.
type krewManifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

func readManifest(path string) (krewManifest, error) {
	var m krewManifest
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
