package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/ociimage"
)

const (
	modulePath = "github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor"
	// binName is what kubectl's plugin lookup wants for `kubectl cadvisor-doctor`.
	binName = "kubectl-cadvisor_doctor"
	// pluginName is the krew plugin name; the manifest file is named after it.
	pluginName = "cadvisor-doctor"
	// completionScript makes `kubectl cadvisor-doctor <TAB>` complete (kubectl 1.26+).
	completionScript = "kubectl_complete-cadvisor_doctor"
	// markerFile marks an output dir as ours, so a rerun may replace it.
	markerFile = ".kcd-release"
)

// Target is one GOOS/GOARCH the release builds.
type Target struct{ OS, Arch string }

func (t Target) String() string { return t.OS + "/" + t.Arch }

// exe is the binary's file name on that OS.
func (t Target) exe() string {
	if t.OS == "windows" {
		return binName + ".exe"
	}
	return binName
}

// archiveName is the release archive for t: .zip on Windows, .tar.gz elsewhere.
func (t Target) archiveName(version string) string {
	ext := ".tar.gz"
	if t.OS == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("kubectl-cadvisor-doctor_%s_%s_%s%s", version, t.OS, t.Arch, ext)
}

// DefaultTargets are the platforms a release ships.
var DefaultTargets = []Target{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// Config is one release build.
type Config struct {
	// Version is the semver release, with the v prefix krew expects.
	Version string
	// ImageRepo is the probe image repository; the image is ImageRepo:Version.
	ImageRepo string
	// DownloadURL is the base URL the archives are published under; the
	// krew manifest's uri is DownloadURL/<archive>.
	DownloadURL string
	// Out is the output directory (dist/).
	Out string
	// RepoRoot is the module root: sources, LICENSE, plugins/ template.
	RepoRoot string
	// Targets to build; the probe image holds the linux ones.
	Targets []Target
	// Jobs bounds parallel `go build`s.
	Jobs int
	// Log receives progress lines.
	Log io.Writer
}

// ProbeImage is the image reference stamped into the binary.
func (c Config) ProbeImage() string { return c.ImageRepo + ":" + c.Version }

// imageTarball is the probe image's file name in Out.
func (c Config) imageTarball() string {
	return fmt.Sprintf("kubectl-cadvisor-doctor-probe_%s.oci.tar", c.Version)
}

var semverRE = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// Validate reports every problem with c; it does no I/O.
func (c Config) Validate() error {
	var errs []error
	if !semverRE.MatchString(c.Version) {
		errs = append(errs, fmt.Errorf("--version %q: want a semantic version with a v prefix, e.g. v0.1.0", c.Version))
	}
	if c.ImageRepo == "" || strings.ContainsAny(c.ImageRepo, ":@ ") || c.ImageRepo != strings.ToLower(c.ImageRepo) {
		errs = append(errs, fmt.Errorf("--image-repo %q: want a lower-case repository without tag, e.g. ghcr.io/org/probe", c.ImageRepo))
	}
	if !strings.HasPrefix(c.DownloadURL, "https://") && !strings.HasPrefix(c.DownloadURL, "http://") {
		errs = append(errs, fmt.Errorf("--download-url %q: want an http(s) URL", c.DownloadURL))
	}
	if c.Out == "" {
		errs = append(errs, errors.New("--out is required"))
	}
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("no targets"))
	}
	seen := map[Target]bool{}
	for _, t := range c.Targets {
		if !slices.Contains(DefaultTargets, t) {
			errs = append(errs, fmt.Errorf("target %s is not one the release supports (%s)", t, targetList(DefaultTargets)))
		}
		if seen[t] {
			errs = append(errs, fmt.Errorf("target %s listed twice", t))
		}
		seen[t] = true
	}
	return errors.Join(errs...)
}

func targetList(ts []Target) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// Run builds the release into c.Out: binaries under bin/, one archive per
// target, the probe image tarball, the krew manifest and sha256sums.txt.
func Run(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := prepareOut(c.Out); err != nil {
		return err
	}
	if err := buildAll(ctx, c); err != nil {
		return err
	}
	sums := map[string]string{}
	for _, t := range c.Targets {
		name := t.archiveName(c.Version)
		fmt.Fprintf(c.Log, "archive %s\n", name)
		sum, err := writeArchive(c, t, filepath.Join(c.Out, name))
		if err != nil {
			return fmt.Errorf("archive %s: %w", t, err)
		}
		sums[name] = sum
	}
	if img, ok := probeImage(c); ok {
		fmt.Fprintf(c.Log, "probe image %s (%d platforms)\n", img.Ref, len(img.Platforms))
		path := filepath.Join(c.Out, c.imageTarball())
		if err := ociimage.WriteFile(path, img); err != nil {
			return fmt.Errorf("probe image: %w", err)
		}
		sum, err := fileSHA256(path)
		if err != nil {
			return err
		}
		sums[c.imageTarball()] = sum
	}
	if err := writeManifest(c, sums); err != nil {
		return err
	}
	return writeSums(filepath.Join(c.Out, "sha256sums.txt"), sums)
}

// prepareOut empties a previous release dir, refusing one it did not make.
func prepareOut(out string) error {
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(out, markerFile)); err != nil {
			return fmt.Errorf("--out %s is not empty and not a previous release dir (no %s): refusing to overwrite", out, markerFile)
		}
		if err := os.RemoveAll(out); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, markerFile), []byte("written by hack/release; replaced by the next release build\n"), 0o644)
}

// ldflags stamps the version and default probe image into the binary.
// -s -w and an empty build id keep the bytes independent of the machine.
func ldflags(c Config) string {
	return strings.Join([]string{
		"-s", "-w", "-buildid=",
		"-X", modulePath + "/internal/version.Version=" + c.Version,
		"-X", modulePath + "/internal/version.ProbeImage=" + c.ProbeImage(),
	}, " ")
}

// binPath is where a target's binary is built.
func binPath(c Config, t Target) string {
	return filepath.Join(c.Out, "bin", t.OS+"-"+t.Arch, t.exe())
}

// buildAll cross-compiles every target, c.Jobs at a time.
func buildAll(ctx context.Context, c Config) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(c.Jobs, 1))
	build := func(t Target, out string, tags ...string) {
		g.Go(func() error {
			fmt.Fprintf(c.Log, "build %s %s\n", t, strings.Join(tags, ","))
			args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags(c), "-o", out}
			if len(tags) > 0 {
				args = append(args, "-tags", strings.Join(tags, ","))
			}
			cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/kubectl-cadvisor-doctor")...)
			cmd.Dir = c.RepoRoot
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch, "GOFLAGS=")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("build %s: %w\n%s", t, err, out)
			}
			return nil
		})
	}
	for _, t := range c.Targets {
		build(t, binPath(c, t))
		if t.OS == "linux" {
			build(t, probeBinPath(c, t), "probeonly")
		}
	}
	return g.Wait()
}

// probeBinPath is where a linux target's probe-only binary (the probe
// image's content, cmd/kubectl-cadvisor-doctor/root.go says why) is built.
func probeBinPath(c Config, t Target) string {
	return filepath.Join(c.Out, "bin", "probe-"+t.OS+"-"+t.Arch, t.exe())
}

// probeImage is the multi-arch probe image from the linux probe-only binaries.
func probeImage(c Config) (ociimage.Image, bool) {
	img := ociimage.Image{
		Ref:        c.ProbeImage(),
		Entrypoint: []string{"/" + binName},
		Labels: map[string]string{
			"org.opencontainers.image.title":    "kubectl-cadvisor-doctor probe",
			"org.opencontainers.image.version":  c.Version,
			"org.opencontainers.image.source":   "https://" + modulePath,
			"org.opencontainers.image.licenses": "Apache-2.0",
		},
	}
	for _, t := range c.Targets {
		if t.OS != "linux" {
			continue
		}
		img.Platforms = append(img.Platforms, ociimage.Platform{OS: t.OS, Architecture: t.Arch, Files: []ociimage.File{
			{Path: "/" + binName, Mode: 0o755, Source: probeBinPath(c, t)},
		}})
	}
	return img, len(img.Platforms) > 0
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeSums writes sha256sum's format ("<hex>  <name>"), sorted by name, so
// `sha256sum -c sha256sums.txt` checks the downloads.
func writeSums(path string, sums map[string]string) error {
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", sums[n], n)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
