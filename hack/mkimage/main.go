// Command mkimage writes an OCI image-layout tarball from static files,
// without Docker (internal/ociimage):
//
//	go run ./hack/mkimage --ref ghcr.io/kubectl-cadvisor-doctor/probe:v0.1.0 \
//	    --platform linux/amd64 --platform linux/arm64 \
//	    --file 'dist/bin/{os}-{arch}/kubectl-cadvisor_doctor:/kubectl-cadvisor_doctor:0755' \
//	    --entrypoint /kubectl-cadvisor_doctor -o probe.tar
//	ctr -n k8s.io images import probe.tar
//
// --file SRC:DEST[:MODE] (repeatable): SRC may contain {os}, {arch} and
// {variant}, expanded per --platform, so one flag names each platform's own
// binary. MODE is octal (default 0644; give 0755 for executables).
// --entrypoint, --cmd, --env KEY=VALUE and --label KEY=VALUE repeat; each
// --entrypoint or --cmd adds one argv element. --platform defaults to
// linux/amd64. -o - writes to stdout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/ociimage"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	var files, entrypoint, cmd, env, labels, platforms list
	ref := fs.String("ref", "", "full image reference with a tag, e.g. registry.example/probe:v1 (required)")
	out := fs.String("o", "", "output tarball, - for stdout (required)")
	workDir := fs.String("workdir", "", "working directory (default /)")
	user := fs.String("user", "", "user to run as (default root)")
	fs.Var(&files, "file", "SRC:DEST[:MODE], repeatable; SRC may use {os} {arch} {variant}")
	fs.Var(&entrypoint, "entrypoint", "entrypoint argv element, repeatable")
	fs.Var(&cmd, "cmd", "cmd argv element, repeatable")
	fs.Var(&env, "env", "KEY=VALUE, repeatable")
	fs.Var(&labels, "label", "KEY=VALUE, repeatable")
	fs.Var(&platforms, "platform", "os/arch[/variant], repeatable (default linux/amd64)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(platforms) == 0 {
		platforms = list{"linux/amd64"}
	}
	img, err := imageFromFlags(*ref, files, entrypoint, cmd, env, labels, platforms)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if *out == "" {
		errs = append(errs, errors.New("-o is required"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	img.WorkingDir, img.User = *workDir, *user
	if *out == "-" {
		return ociimage.WriteTarball(stdout, img)
	}
	return ociimage.WriteFile(*out, img)
}

// imageFromFlags builds the Image and reports every malformed flag value.
func imageFromFlags(ref string, files, entrypoint, cmd, env, labels, platforms list) (ociimage.Image, error) {
	img := ociimage.Image{Ref: ref, Entrypoint: entrypoint, Cmd: cmd, Env: env}
	var errs []error
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			errs = append(errs, fmt.Errorf("--label %q: want KEY=VALUE", l))
			continue
		}
		if img.Labels == nil {
			img.Labels = map[string]string{}
		}
		img.Labels[k] = v
	}
	for _, e := range env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			errs = append(errs, fmt.Errorf("--env %q: want KEY=VALUE", e))
		}
	}
	for _, ps := range platforms {
		parts := strings.Split(ps, "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			errs = append(errs, fmt.Errorf("--platform %q: want os/arch[/variant]", ps))
			continue
		}
		p := ociimage.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) == 3 {
			p.Variant = parts[2]
		}
		for _, f := range files {
			file, err := parseFile(f, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p.Files = append(p.Files, file)
		}
		img.Platforms = append(img.Platforms, p)
	}
	if err := errors.Join(errs...); err != nil {
		return img, err
	}
	return img, img.Validate()
}

// parseFile reads SRC:DEST[:MODE] for platform p.
func parseFile(spec string, p ociimage.Platform) (ociimage.File, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return ociimage.File{}, fmt.Errorf("--file %q: want SRC:DEST[:MODE]", spec)
	}
	src := strings.NewReplacer("{os}", p.OS, "{arch}", p.Architecture, "{variant}", p.Variant).Replace(parts[0])
	f := ociimage.File{Path: parts[1], Source: src}
	if len(parts) == 3 {
		m, err := strconv.ParseInt(parts[2], 8, 64)
		if err != nil || m <= 0 || m > 0o7777 {
			return ociimage.File{}, fmt.Errorf("--file %q: mode %q is not octal permission bits", spec, parts[2])
		}
		f.Mode = m
	}
	if _, err := os.Stat(src); err != nil {
		return ociimage.File{}, fmt.Errorf("--file %q for %s: %w", spec, p, err)
	}
	return f, nil
}
