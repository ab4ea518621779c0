package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    func(*Config) // fields to compare, set on a fresh Config
		wantErr string
	}{
		{
			name: "defaults",
			args: []string{"--version", "v1.2.3"},
			want: func(c *Config) {
				c.Version, c.ImageRepo, c.DownloadURL, c.Out, c.Jobs, c.Targets =
					"v1.2.3", defaultImageRepo, releasesURL+"v1.2.3", "dist", 2, DefaultTargets
			},
		},
		{
			name: "subset and own repo",
			args: []string{"--version", "v0.1.0-rc.1+build.5", "--targets", "linux/arm64, darwin/arm64", "--image-repo", "registry.example/kcd/probe", "--download-url", "https://dl.example/kcd"},
			want: func(c *Config) {
				c.Version, c.ImageRepo, c.DownloadURL, c.Out, c.Jobs = "v0.1.0-rc.1+build.5", "registry.example/kcd/probe", "https://dl.example/kcd", "dist", 2
				c.Targets = []Target{{"linux", "arm64"}, {"darwin", "arm64"}}
			},
		},
		{
			name: "every problem at once",
			args: []string{"--version", "1.2", "--image-repo", "Registry/Probe:v1", "--download-url", "ftp://x", "--out", "", "--targets", "linux/amd64,linux/amd64,plan9/386"},
			wantErr: strings.Join([]string{
				`--version "1.2": want a semantic version with a v prefix, e.g. v0.1.0`,
				`--image-repo "Registry/Probe:v1": want a lower-case repository without tag, e.g. ghcr.io/org/probe`,
				`--download-url "ftp://x": want an http(s) URL`,
				`--out is required`,
				`target linux/amd64 listed twice`,
				`target plan9/386 is not one the release supports (linux/amd64, linux/arm64, darwin/amd64, darwin/arm64, windows/amd64, windows/arm64)`,
			}, "\n"),
		},
		{name: "bad target syntax", args: []string{"--version", "v1.0.0", "--targets", "linux"}, wantErr: `--targets: "linux" is not os/arch`},
		{name: "extra argument", args: []string{"--version", "v1.0.0", "dist"}, wantErr: `unexpected arguments: ["dist"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if tt.want == nil {
				return
			}
			var want Config
			tt.want(&want)
			got.Log, got.RepoRoot = nil, ""
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}
