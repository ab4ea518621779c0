package kubeletevidence

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseConfigzFixtures(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		fixture     string
		want        *KubeletConfig
		wantSocket  string
		wantPprof   bool
		wantReason  string
		wantCRIGate bool
	}{
		{"synthetic-configz-k3s-socket.json", &KubeletConfig{
			ContainerRuntimeEndpoint: "unix:///run/k3s/containerd/containerd.sock", RuntimeRequestTimeout: 30 * time.Second,
			EnableDebuggingHandlers: &yes, EnableProfilingHandler: &yes, CgroupDriver: "cgroupfs", CgroupRoot: "/kcd-node-3",
			FeatureGates: map[string]bool{"KubeletInUserNamespace": false},
		}, "/run/k3s/containerd/containerd.sock", true, "", false},
		{"synthetic-configz-default-socket-no-pprof.json", &KubeletConfig{
			ContainerRuntimeEndpoint: "unix:///run/containerd/containerd.sock", RuntimeRequestTimeout: 2 * time.Minute,
			EnableDebuggingHandlers: &yes, EnableProfilingHandler: &no, CgroupDriver: "cgroupfs", CgroupRoot: "/kcd-node-1",
			FeatureGates: map[string]bool{"PodAndContainerStatsFromCRI": true},
		}, "/run/containerd/containerd.sock", false, "kubelet enableProfilingHandler is false", true},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			got, err := ParseConfigz(bytes.NewReader(readFixture(t, tc.fixture)), 0)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseConfigz (-want +got):\n%s", diff)
			}
			sock, err := got.RuntimeSocketPath()
			if err != nil || sock != tc.wantSocket {
				t.Errorf("RuntimeSocketPath = %q, %v; want %q", sock, err, tc.wantSocket)
			}
			if ok, reason := got.ProfilingEnabled(); ok != tc.wantPprof || reason != tc.wantReason {
				t.Errorf("ProfilingEnabled = %v %q, want %v %q", ok, reason, tc.wantPprof, tc.wantReason)
			}
			if g := got.FeatureGate("PodAndContainerStatsFromCRI", false); g != tc.wantCRIGate {
				t.Errorf("PodAndContainerStatsFromCRI = %v, want %v", g, tc.wantCRIGate)
			}
		})
	}
}

func TestParseConfigzRejects(t *testing.T) {
	tests := []struct {
		name, in string
		max      int64
		wantErr  string
	}{
		{"empty", "", 0, "decode /configz"},
		{"html", "<html>403 Forbidden</html>", 0, "decode /configz"},
		{"truncated", `{"kubeletconfig":{"containerRuntimeEndpoint":"unix:///run/cont`, 0, "decode /configz"},
		{"other component", `{"componentconfig":{}}`, 0, ErrNoKubeletConfig.Error()},
		{"bad timeout", `{"kubeletconfig":{"runtimeRequestTimeout":"soon"}}`, 0, "runtimeRequestTimeout"},
		{"too large", `{"kubeletconfig":{}}`, 5, "larger than 5 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfigz(strings.NewReader(tc.in), tc.max)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := ParseConfigz(strings.NewReader(`{"x":1}`), 0); !errors.Is(err, ErrNoKubeletConfig) {
		t.Errorf("err = %v, want ErrNoKubeletConfig", err)
	}
}

func TestRuntimeSocketPath(t *testing.T) {
	for ep, want := range map[string]string{
		"unix:///run/containerd/containerd.sock": "/run/containerd/containerd.sock",
		"/run/k0s/containerd.sock":               "/run/k0s/containerd.sock",
		"unix://relative.sock":                   "",
		"npipe:////./pipe/containerd-containerd": "",
		"tcp://127.0.0.1:1234":                   "",
		"":                                       "",
	} {
		got, err := KubeletConfig{ContainerRuntimeEndpoint: ep}.RuntimeSocketPath()
		if got != want || (want == "") != (err != nil) {
			t.Errorf("RuntimeSocketPath(%q) = %q, %v; want %q", ep, got, err, want)
		}
	}
	if ok, _ := (KubeletConfig{}).ProfilingEnabled(); !ok {
		t.Error("absent handler fields must mean the kubelet defaults (enabled)")
	}
}
