package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.WriteFile(bin, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "nothing", args: nil, want: "image reference is required\nimage needs an entrypoint or a cmd\nplatform linux/amd64: no files\n-o is required"},
		{
			name: "bad values",
			args: []string{"--ref", "r.example/p:v1", "--entrypoint", "/p", "--file", "nocolon", "--file", bin + ":/p:999", "--label", "novalue", "--env", "=x", "--platform", "linux", "-o", "x", "extra"},
			want: strings.Join([]string{
				`--label "novalue": want KEY=VALUE`,
				`--env "=x": want KEY=VALUE`,
				`--platform "linux": want os/arch[/variant]`,
				`unexpected arguments: ["extra"]`,
			}, "\n"),
		},
		{
			name: "bad file specs",
			args: []string{"--ref", "r.example/p:v1", "--entrypoint", "/p", "--file", "nocolon", "--file", bin + ":/p:999", "--file", dir + "/{arch}:/q", "-o", "x"},
			want: strings.Join([]string{
				`--file "nocolon": want SRC:DEST[:MODE]`,
				`--file "` + bin + `:/p:999": mode "999" is not octal permission bits`,
				`--file "` + dir + `/{arch}:/q" for linux/amd64: stat ` + dir + `/amd64: no such file or directory`,
			}, "\n"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(tt.args, io.Discard)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRunPerPlatformFiles checks that {arch} picks each platform's binary.
func TestRunPerPlatformFiles(t *testing.T) {
	dir := t.TempDir()
	for _, arch := range []string{"amd64", "arm64"} {
		if err := os.MkdirAll(filepath.Join(dir, arch), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, arch, "probe"), []byte("probe for "+arch), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	err := run([]string{"--ref", "r.example/probe:v1", "--entrypoint", "/probe", "--label", "a=b",
		"--platform", "linux/amd64", "--platform", "linux/arm64",
		"--file", filepath.Join(dir, "{arch}", "probe") + ":/probe:0755", "-o", "-"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		blobs[h.Name] = b
	}
	get := func(d ocispec.Descriptor, v any) []byte {
		b := blobs["blobs/sha256/"+d.Digest.Encoded()]
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	var idx, nested ocispec.Index
	if err := json.Unmarshal(blobs["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	get(idx.Manifests[0], &nested)
	got := map[string]string{}
	for _, md := range nested.Manifests {
		var m ocispec.Manifest
		get(md, &m)
		zr, err := gzip.NewReader(bytes.NewReader(get(m.Layers[0], nil)))
		if err != nil {
			t.Fatal(err)
		}
		lt := tar.NewReader(zr)
		h, err := lt.Next()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(lt)
		got[md.Platform.Architecture] = h.Name + " " + string(data)
	}
	want := map[string]string{"amd64": "probe probe for amd64", "arm64": "probe probe for arm64"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer per platform (-want +got):\n%s", diff)
	}
}
