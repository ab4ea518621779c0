// Package ociimage writes OCI image-layout tarballs from static binaries,
// without Docker or a registry: the probe image of a release, the images the
// local cluster imports, and tiny images tests run real tasks from.
//
// The output imports with `ctr -n k8s.io images import FILE` (containerd
// 1.6 and 2.x) under exactly Image.Ref, and with any tool that reads an OCI
// layout archive (skopeo oci-archive:, crane). It is deterministic: the
// same Image gives the same bytes (fixed mtimes and owners, sorted entries,
// no timestamps in configs), so a release can be rebuilt and compared.
package ociimage

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Image is what to put in the tarball.
type Image struct {
	// Ref is the full reference the image is imported as, with a tag,
	// e.g. "ghcr.io/kubectl-cadvisor-doctor/probe:v0.1.0". Use the fully
	// qualified form the kubelet asks for: CRI normalizes "probe:v1" to
	// "docker.io/library/probe:v1", which would then not be found.
	Ref string
	// Entrypoint and Cmd as in a Dockerfile's exec form.
	Entrypoint, Cmd []string
	// Env is KEY=VALUE pairs; empty means a default PATH only.
	Env []string
	// WorkingDir and User of the process; empty means "/" and root.
	WorkingDir, User string
	// Labels go into the image config.
	Labels map[string]string
	// Platforms has one entry per OS/architecture. One platform writes a
	// single manifest; several write an image index with one manifest each.
	Platforms []Platform
}

// Platform is one OS/architecture variant of the image and its files.
type Platform struct {
	OS, Architecture string
	Variant          string // e.g. "v7" for linux/arm/v7; usually empty
	// Files make the image's single layer. Parent directories are added
	// (mode 0755). The order does not matter: entries are sorted.
	Files []File
}

// File is one regular file in a layer.
type File struct {
	// Path inside the image, e.g. "/kubectl-cadvisor_doctor".
	Path string
	// Mode is the permission bits, e.g. 0o755; 0 means 0o644.
	Mode int64
	// Data is the content; when nil, Source names a file on this machine
	// to read instead.
	Data   []byte
	Source string
}

// String renders a platform as os/arch[/variant].
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// defaultEnv is what Docker gives an image without ENV.
var defaultEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// WriteTarball writes img to w as an OCI image-layout tar archive.
func WriteTarball(w io.Writer, img Image) error {
	if err := img.Validate(); err != nil {
		return err
	}
	l, err := build(img)
	if err != nil {
		return err
	}
	return l.writeTar(w)
}

// WriteFile writes the tarball to path, atomically: a reader never sees a
// half-written file.
func WriteFile(path string, img Image) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := WriteTarball(tmp, img); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Validate reports every problem with img at once.
func (img Image) Validate() error {
	var errs []error
	if err := validateRef(img.Ref); err != nil {
		errs = append(errs, err)
	}
	if len(img.Entrypoint) == 0 && len(img.Cmd) == 0 {
		errs = append(errs, errors.New("image needs an entrypoint or a cmd"))
	}
	if len(img.Platforms) == 0 {
		errs = append(errs, errors.New("image needs at least one platform"))
	}
	seen := map[string]bool{}
	for _, p := range img.Platforms {
		if p.OS == "" || p.Architecture == "" {
			errs = append(errs, fmt.Errorf("platform %q: os and architecture are required", p))
			continue
		}
		if seen[p.String()] {
			errs = append(errs, fmt.Errorf("platform %s listed twice", p))
		}
		seen[p.String()] = true
		if len(p.Files) == 0 {
			errs = append(errs, fmt.Errorf("platform %s: no files", p))
		}
		paths := map[string]bool{}
		for _, f := range p.Files {
			clean, err := layerPath(f.Path)
			if err != nil {
				errs = append(errs, fmt.Errorf("platform %s: %w", p, err))
				continue
			}
			if paths[clean] {
				errs = append(errs, fmt.Errorf("platform %s: file %s listed twice", p, f.Path))
			}
			paths[clean] = true
			if f.Data == nil && f.Source == "" {
				errs = append(errs, fmt.Errorf("platform %s: file %s has neither data nor a source", p, f.Path))
			}
			if f.Mode&^0o7777 != 0 || f.Mode < 0 {
				errs = append(errs, fmt.Errorf("platform %s: file %s: mode %o is not permission bits", p, f.Path, f.Mode))
			}
		}
		// A file cannot also be a parent directory of another file.
		for _, pth := range slices.Sorted(maps.Keys(paths)) {
			for dir := path.Dir(pth); dir != "."; dir = path.Dir(dir) {
				if paths[dir] {
					errs = append(errs, fmt.Errorf("platform %s: %s is a file and the parent of %s", p, "/"+dir, "/"+pth))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// validateRef checks that ref names a repository and a tag (or digest), the
// form the importers keep verbatim; they rewrite or drop anything else.
func validateRef(ref string) error {
	if ref == "" {
		return errors.New("image reference is required")
	}
	if strings.ContainsAny(ref, " \t\n") {
		return fmt.Errorf("image reference %q contains whitespace", ref)
	}
	name := ref
	if i := strings.Index(ref, "@"); i >= 0 {
		name = ref[:i]
	} else {
		i := strings.LastIndex(ref, ":")
		if i < 0 || strings.Contains(ref[i:], "/") || i == len(ref)-1 {
			return fmt.Errorf("image reference %q needs a tag, e.g. %s:v1", ref, ref)
		}
		name = ref[:i]
	}
	if name == "" || name != strings.ToLower(name) {
		return fmt.Errorf("image reference %q: the repository must be non-empty lower case", ref)
	}
	return nil
}

// layerPath turns an image path into a tar entry name ("a/b"), refusing
// paths that escape the root.
func layerPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("file path %q must be absolute", p)
	}
	clean := path.Clean(p)
	if clean != p || clean == "/" {
		return "", fmt.Errorf("file path %q must be clean and name a file", p)
	}
	return strings.TrimPrefix(clean, "/"), nil
}

// tag is the reference's tag (or digest), the value of
// org.opencontainers.image.ref.name that OCI layout tools expect.
func tag(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[i+1:]
	}
	return ref[strings.LastIndex(ref, ":")+1:]
}
