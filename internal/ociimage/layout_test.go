package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// tarEntry is what the tests compare of a tar entry.
type tarEntry struct {
	Name    string
	Type    byte
	Mode    int64
	UID     int
	ModTime time.Time
}

// readTar returns a tarball's entries in order and its regular files' data.
func readTar(t *testing.T, b []byte) ([]tarEntry, map[string][]byte) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var entries []tarEntry
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries, files
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		entries = append(entries, tarEntry{Name: h.Name, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, ModTime: h.ModTime.UTC()})
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = data
		}
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// blob returns the blob a descriptor points to, checking digest and size.
func blob(t *testing.T, files map[string][]byte, d ocispec.Descriptor) []byte {
	t.Helper()
	b, ok := files["blobs/sha256/"+d.Digest.Encoded()]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	if got := "sha256:" + sha256Hex(b); got != d.Digest.String() || int64(len(b)) != d.Size {
		t.Fatalf("blob %s: content digest %s size %d, descriptor size %d", d.Digest, got, len(b), d.Size)
	}
	return b
}

func unmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
}

func testImage(platforms ...string) Image {
	img := Image{Ref: "registry.example/team/probe:v1.2.3", Entrypoint: []string{"/bin/probe"}, Cmd: []string{"--flag"}}
	for _, p := range platforms {
		os, arch, _ := strings.Cut(p, "/")
		img.Platforms = append(img.Platforms, Platform{OS: os, Architecture: arch, Files: []File{
			{Path: "/bin/probe", Mode: 0o755, Data: []byte("binary for " + p)},
			{Path: "/etc/probe/config", Data: []byte("x")},
		}})
	}
	return img
}

// manifestsOf follows index.json to the per-platform manifests.
func manifestsOf(t *testing.T, files map[string][]byte) (ocispec.Descriptor, []ocispec.Descriptor) {
	t.Helper()
	var idx ocispec.Index
	unmarshal(t, files["index.json"], &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(idx.Manifests))
	}
	top := idx.Manifests[0]
	if top.MediaType == ocispec.MediaTypeImageManifest {
		return top, []ocispec.Descriptor{top}
	}
	var nested ocispec.Index
	unmarshal(t, blob(t, files, top), &nested)
	return top, nested.Manifests
}

func TestWriteTarballLayout(t *testing.T) {
	for _, tt := range []struct {
		name          string
		platforms     []string
		wantTopMedia  string
		wantPlatforms []string
	}{
		{name: "single platform", platforms: []string{"linux/amd64"}, wantTopMedia: ocispec.MediaTypeImageManifest, wantPlatforms: []string{"linux/amd64"}},
		{name: "multi-arch", platforms: []string{"linux/amd64", "linux/arm64"}, wantTopMedia: ocispec.MediaTypeImageIndex, wantPlatforms: []string{"linux/amd64", "linux/arm64"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteTarball(&buf, testImage(tt.platforms...)); err != nil {
				t.Fatal(err)
			}
			_, files := readTar(t, buf.Bytes())
			if diff := cmp.Diff(`{"imageLayoutVersion":"1.0.0"}`, string(files["oci-layout"])); diff != "" {
				t.Errorf("oci-layout (-want +got):\n%s", diff)
			}
			top, manifests := manifestsOf(t, files)
			if top.MediaType != tt.wantTopMedia {
				t.Errorf("top media type %s, want %s", top.MediaType, tt.wantTopMedia)
			}
			wantAnn := map[string]string{"io.containerd.image.name": "registry.example/team/probe:v1.2.3", "org.opencontainers.image.ref.name": "v1.2.3"}
			if diff := cmp.Diff(wantAnn, top.Annotations); diff != "" {
				t.Errorf("index.json annotations (-want +got):\n%s", diff)
			}
			var gotPlatforms []string
			for _, md := range manifests {
				gotPlatforms = append(gotPlatforms, md.Platform.OS+"/"+md.Platform.Architecture)
				checkManifest(t, files, md)
			}
			if diff := cmp.Diff(tt.wantPlatforms, gotPlatforms); diff != "" {
				t.Errorf("platforms (-want +got):\n%s", diff)
			}
		})
	}
}

// checkManifest checks one platform's manifest, config and layer.
func checkManifest(t *testing.T, files map[string][]byte, md ocispec.Descriptor) {
	t.Helper()
	plat := md.Platform.OS + "/" + md.Platform.Architecture
	var m ocispec.Manifest
	unmarshal(t, blob(t, files, md), &m)
	if m.MediaType != ocispec.MediaTypeImageManifest || m.SchemaVersion != 2 || len(m.Layers) != 1 || m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("%s manifest = %+v", plat, m)
	}
	var cfg ocispec.Image
	unmarshal(t, blob(t, files, m.Config), &cfg)
	zr, err := gzip.NewReader(bytes.NewReader(blob(t, files, m.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	wantCfg := ocispec.Image{
		Platform: *md.Platform,
		Config: ocispec.ImageConfig{
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Entrypoint: []string{"/bin/probe"}, Cmd: []string{"--flag"}, WorkingDir: "/",
		},
		RootFS: ocispec.RootFS{Type: "layers"},
	}
	if got := cfg.RootFS.DiffIDs; len(got) != 1 || got[0].String() != "sha256:"+sha256Hex(layer) {
		t.Errorf("%s diff_ids %v, want the sha256 of the uncompressed layer sha256:%s", plat, got, sha256Hex(layer))
	}
	cfg.RootFS.DiffIDs = nil
	if diff := cmp.Diff(wantCfg, cfg); diff != "" {
		t.Errorf("%s config (-want +got):\n%s", plat, diff)
	}
	entries, data := readTar(t, layer)
	wantEntries := []tarEntry{
		{Name: "bin/", Type: tar.TypeDir, Mode: 0o755, ModTime: epoch},
		{Name: "bin/probe", Type: tar.TypeReg, Mode: 0o755, ModTime: epoch},
		{Name: "etc/", Type: tar.TypeDir, Mode: 0o755, ModTime: epoch},
		{Name: "etc/probe/", Type: tar.TypeDir, Mode: 0o755, ModTime: epoch},
		{Name: "etc/probe/config", Type: tar.TypeReg, Mode: 0o644, ModTime: epoch},
	}
	if diff := cmp.Diff(wantEntries, entries); diff != "" {
		t.Errorf("%s layer entries (-want +got):\n%s", plat, diff)
	}
	if got := string(data["bin/probe"]); got != "binary for "+plat {
		t.Errorf("%s /bin/probe = %q", plat, got)
	}
}

func TestWriteTarballDeterministic(t *testing.T) {
	write := func(img Image) []byte {
		t.Helper()
		var buf bytes.Buffer
		if err := WriteTarball(&buf, img); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	base := testImage("linux/amd64", "linux/arm64")
	first := write(base)

	if !bytes.Equal(first, write(testImage("linux/amd64", "linux/arm64"))) {
		t.Error("same image written twice gave different bytes")
	}
	reordered := testImage("linux/amd64", "linux/arm64")
	for i := range reordered.Platforms {
		f := reordered.Platforms[i].Files
		f[0], f[1] = f[1], f[0]
	}
	if !bytes.Equal(first, write(reordered)) {
		t.Error("files listed in another order gave different bytes")
	}
	fromSource := testImage("linux/amd64", "linux/arm64")
	src := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(src, []byte("binary for linux/amd64"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromSource.Platforms[0].Files[0] = File{Path: "/bin/probe", Mode: 0o755, Source: src}
	if !bytes.Equal(first, write(fromSource)) {
		t.Error("a file read from Source gave other bytes than the same Data")
	}
	changed := testImage("linux/amd64", "linux/arm64")
	changed.Ref = "registry.example/team/probe:v1.2.4"
	if bytes.Equal(first, write(changed)) {
		t.Error("another ref gave the same bytes")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Image)
		want   string
	}{
		{name: "valid", modify: func(*Image) {}, want: ""},
		{name: "digest ref", modify: func(i *Image) { i.Ref = "registry.example/p@sha256:" + strings.Repeat("a", 64) }, want: ""},
		{name: "no ref", modify: func(i *Image) { i.Ref = "" }, want: "image reference is required"},
		{name: "ref without tag", modify: func(i *Image) { i.Ref = "registry.example:5000/probe" }, want: `image reference "registry.example:5000/probe" needs a tag, e.g. registry.example:5000/probe:v1`},
		{name: "upper case ref", modify: func(i *Image) { i.Ref = "Registry/Probe:v1" }, want: `image reference "Registry/Probe:v1": the repository must be non-empty lower case`},
		{name: "no entrypoint", modify: func(i *Image) { i.Entrypoint, i.Cmd = nil, nil }, want: "image needs an entrypoint or a cmd"},
		{name: "no platforms", modify: func(i *Image) { i.Platforms = nil }, want: "image needs at least one platform"},
		{
			name: "every file problem",
			modify: func(i *Image) {
				i.Platforms = append(i.Platforms, Platform{OS: "linux", Architecture: "amd64"}, Platform{OS: "linux"})
				i.Platforms[0].Files = []File{
					{Path: "rel", Data: []byte{}},
					{Path: "/a/../b", Data: []byte{}},
					{Path: "/x", Data: []byte{}}, {Path: "/x", Data: []byte{}},
					{Path: "/nodata"},
					{Path: "/m", Mode: 0o100755, Data: []byte{}},
					{Path: "/x/y", Data: []byte{}},
				}
			},
			want: strings.Join([]string{
				`platform linux/amd64: file path "rel" must be absolute`,
				`platform linux/amd64: file path "/a/../b" must be clean and name a file`,
				`platform linux/amd64: file /x listed twice`,
				`platform linux/amd64: file /nodata has neither data nor a source`,
				`platform linux/amd64: file /m: mode 100755 is not permission bits`,
				`platform linux/amd64: /x is a file and the parent of /x/y`,
				`platform linux/amd64 listed twice`,
				`platform linux/amd64: no files`,
				`platform "linux/": os and architecture are required`,
			}, "\n"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := testImage("linux/amd64")
			tt.modify(&img)
			got := ""
			if err := img.Validate(); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
			if tt.want != "" {
				if err := WriteTarball(io.Discard, img); err == nil {
					t.Error("WriteTarball accepted an invalid image")
				}
			}
		})
	}
}
