package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	_ "crypto/sha256" // registers sha256 for go-digest
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// annotationImageName is the annotation containerd's importer (ctr images
// import, both 1.6 and 2.x) names the image by, verbatim.
const annotationImageName = "io.containerd.image.name"

// epoch is the mtime of every tar entry: fixed, so output is reproducible.
// 1980-01-01 rather than 1970 keeps zip-minded tools and `tar -t` happy.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// layout is a built image: its blobs by digest and the top-level index.json.
type layout struct {
	blobs map[digest.Digest][]byte
	index []byte
}

func (l *layout) add(b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	l.blobs[d] = b
	return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
}

func (l *layout) addJSON(mediaType string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := l.add(b)
	desc.MediaType = mediaType
	return desc, nil
}

// build makes every blob and the index.json for a validated img.
func build(img Image) (*layout, error) {
	l := &layout{blobs: map[digest.Digest][]byte{}}
	var manifests []ocispec.Descriptor
	for _, p := range img.Platforms {
		desc, err := l.addManifest(img, p)
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", p, err)
		}
		manifests = append(manifests, desc)
	}
	top := manifests[0]
	if len(manifests) > 1 {
		// Several platforms: a nested image index that index.json names.
		// Naming each manifest in index.json would make the importer
		// point Ref at whichever platform came last.
		var err error
		top, err = l.addJSON(ocispec.MediaTypeImageIndex, ocispec.Index{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageIndex,
			Manifests: manifests,
		})
		if err != nil {
			return nil, err
		}
	}
	top.Annotations = map[string]string{
		annotationImageName:       img.Ref,
		ocispec.AnnotationRefName: tag(img.Ref),
	}
	idx, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{top},
	})
	if err != nil {
		return nil, err
	}
	l.index = idx
	return l, nil
}

// addManifest adds one platform's layer, config and manifest; it returns
// the manifest's descriptor carrying the platform.
func (l *layout) addManifest(img Image, p Platform) (ocispec.Descriptor, error) {
	layerTar, err := layerTar(p.Files)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	diffID := digest.FromBytes(layerTar)
	gz, err := gzipBytes(layerTar)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layer := l.add(gz)
	layer.MediaType = ocispec.MediaTypeImageLayerGzip

	env := img.Env
	if len(env) == 0 {
		env = defaultEnv
	}
	workDir := img.WorkingDir
	if workDir == "" {
		workDir = "/"
	}
	plat := ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
	config, err := l.addJSON(ocispec.MediaTypeImageConfig, ocispec.Image{
		Platform: plat,
		Config: ocispec.ImageConfig{
			User:       img.User,
			Env:        env,
			Entrypoint: img.Entrypoint,
			Cmd:        img.Cmd,
			WorkingDir: workDir,
			Labels:     img.Labels,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	manifest, err := l.addJSON(ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers:    []ocispec.Descriptor{layer},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	manifest.Platform = &plat
	return manifest, nil
}

// layerTar writes files, and the directories above them, as a tar stream
// sorted by path, owned by root, with fixed mtimes.
func layerTar(files []File) ([]byte, error) {
	type entry struct {
		name string
		file *File
	}
	dirs := map[string]bool{}
	var entries []entry
	for i := range files {
		name, err := layerPath(files[i].Path)
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{name: name, file: &files[i]})
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
				entries = append(entries, entry{name: d})
			}
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if e.file == nil {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: e.name + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
			continue
		}
		data, err := fileData(*e.file)
		if err != nil {
			return nil, err
		}
		mode := e.file.Mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func fileData(f File) ([]byte, error) {
	if f.Data != nil {
		return f.Data, nil
	}
	b, err := os.ReadFile(f.Source)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", f.Path, err)
	}
	return b, nil
}

// gzipBytes compresses without a name or mtime in the gzip header, so the
// same input gives the same bytes (for a given Go version).
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeTar writes the OCI image layout: oci-layout, index.json, then the
// blobs sorted by digest.
func (l *layout) writeTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	file := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
	}
	layoutJSON, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	if err := file(ocispec.ImageLayoutFile, layoutJSON); err != nil {
		return err
	}
	if err := file(ocispec.ImageIndexFile, l.index); err != nil {
		return err
	}
	if err := dir("blobs/"); err != nil {
		return err
	}
	if err := dir("blobs/sha256/"); err != nil {
		return err
	}
	digests := make([]digest.Digest, 0, len(l.blobs))
	for d := range l.blobs {
		digests = append(digests, d)
	}
	slices.Sort(digests)
	for _, d := range digests {
		if err := file("blobs/sha256/"+d.Encoded(), l.blobs[d]); err != nil {
			return err
		}
	}
	return tw.Close()
}
