package advisory

import (
	"strings"
	"testing"
)

func TestParseTableRejects(t *testing.T) {
	const okCalls = "calls:\n  c: {site: s, grpc: /containerd.services.x}\n"
	const okRow = "kubelet:\n  - {minor: \"1.30\", cadvisor: [{fromPatch: 0, version: v1}], unbounded: [c], source: s}\n"
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"not yaml", "{{{", "decode advisories"},
		{"unknown field", okCalls + okRow + "extra: 1\n", "unknown field"},
		{"no kubelet rows", okCalls, "no kubelet rows"},
		{"unknown call", okCalls + "kubelet:\n  - {minor: \"1.30\", cadvisor: [{fromPatch: 0, version: v1}], unbounded: [nope], source: s}\n", `unknown call "nope"`},
		{"pin not at 0", okCalls + "kubelet:\n  - {minor: \"1.30\", cadvisor: [{fromPatch: 2, version: v1}], source: s}\n", "patch 0"},
		{"descending", okCalls + okRow + "  - {minor: \"1.29\", cadvisor: [{fromPatch: 0, version: v1}], source: s}\n", "ascending"},
		{"bad severity", okCalls + okRow + "containerd:\n  - {code: X, from: 1.0.0, before: 1.0.1, severity: Bad, message: m, source: s}\n", "unknown severity"},
		{"bad range", okCalls + okRow + "containerd:\n  - {code: X, from: x, before: 1.0.1, severity: Info, message: m, source: s}\n", "from:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseTable([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseTable error = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := parseTable([]byte(okCalls + okRow)); err != nil {
		t.Errorf("minimal valid table rejected: %v", err)
	}
}

func TestVersionOrder(t *testing.T) {
	tests := []struct {
		a, b string
		less bool
	}{
		{"1.7.16", "1.7.17", true},
		{"1.7.17-rc.1", "1.7.17", true},
		{"1.7.17", "1.7.17-rc.1", false},
		{"1.7.17+k3s1", "1.7.17", false},
		{"v2.0.0", "1.7.99", false},
		{"1.7", "1.7.0", false},
		{"1.7.17-rc1", "1.7.17", true},
	}
	for _, tc := range tests {
		a, errA := parseVersion(tc.a)
		b, errB := parseVersion(tc.b)
		if errA != nil || errB != nil {
			t.Fatalf("parse %q/%q: %v %v", tc.a, tc.b, errA, errB)
		}
		if got := a.less(b); got != tc.less {
			t.Errorf("%s < %s = %v, want %v", tc.a, tc.b, got, tc.less)
		}
	}
}
