// Command release builds a kubectl-cadvisor-doctor release into dist/
// (`make release` runs it):
//
//	dist/bin/<os>-<arch>/kubectl-cadvisor_doctor[.exe]       the binaries
//	dist/bin/probe-linux-<arch>/kubectl-cadvisor_doctor     the probe-only builds in the image
//	dist/kubectl-cadvisor-doctor_<v>_<os>_<arch>.tar.gz|.zip  LICENSE, binary, completion script
//	dist/kubectl-cadvisor-doctor-probe_<v>.oci.tar            multi-arch probe image (OCI layout)
//	dist/cadvisor-doctor.yaml                                 krew manifest, filled from plugins/
//	dist/sha256sums.txt                                       sha256sum -c format
//
// Reproducible: -trimpath, -buildvcs=false, no build id, CGO off; archives
// and the image have fixed mtimes and owners, so the same commit and Go
// version give the same bytes. The version and the default probe image
// (<image-repo>:<version>) are stamped into internal/version with -ldflags.
//
//	go run ./hack/release --version v0.1.0 [--out dist] [--targets linux/amd64,...]
//	    [--image-repo ghcr.io/kubectl-cadvisor-doctor/probe]
//	    [--download-url https://github.com/.../releases/download/v0.1.0]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

const (
	defaultImageRepo = "ghcr.io/kubectl-cadvisor-doctor/probe"
	releasesURL      = "https://" + modulePath + "/releases/download/"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string) error {
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	return Run(ctx, c)
}

func parseFlags(args []string) (Config, error) {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	c := Config{Log: os.Stderr}
	fs.StringVar(&c.Version, "version", "", "release version, semver with v prefix (required)")
	fs.StringVar(&c.ImageRepo, "image-repo", defaultImageRepo, "probe image repository; the image is <repo>:<version>")
	fs.StringVar(&c.DownloadURL, "download-url", "", "base URL of the archives in the krew manifest (default the GitHub release of --version)")
	fs.StringVar(&c.Out, "out", "dist", "output directory")
	fs.StringVar(&c.RepoRoot, "repo", ".", "repository root")
	fs.IntVar(&c.Jobs, "jobs", 2, "parallel builds")
	targets := fs.String("targets", targetList(DefaultTargets), "comma-separated os/arch list")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.DownloadURL == "" {
		c.DownloadURL = releasesURL + c.Version
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	for _, s := range strings.Split(*targets, ",") {
		osName, arch, ok := strings.Cut(strings.TrimSpace(s), "/")
		if !ok || osName == "" || arch == "" {
			errs = append(errs, fmt.Errorf("--targets: %q is not os/arch", s))
			continue
		}
		c.Targets = append(c.Targets, Target{OS: osName, Arch: arch})
	}
	root, err := filepath.Abs(c.RepoRoot)
	if err != nil {
		errs = append(errs, err)
	}
	c.RepoRoot = root
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}
