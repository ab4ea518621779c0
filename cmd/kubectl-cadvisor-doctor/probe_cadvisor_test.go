package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// TestProbeCadvisorSocketFlag: --cadvisor-socket (unix:// accepted) reaches
// the probe, and an empty value turns the check off. pkg/checks tests it
// under --host-root.
func TestProbeCadvisorSocketFlag(t *testing.T) {
	containerdlab.Require(t, "")
	d := containerdlab.Start(t, containerdlab.Options{})
	missing := filepath.Join(t.TempDir(), "containerd.sock")
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode string
		wantOut  string
	}{
		{"missing", []string{"--socket", d.Address, "--cadvisor-socket", "unix://" + missing}, checks.CodeCadvisorSocketMissing, missing},
		{"off", []string{"--socket", d.Address, "--cadvisor-socket", ""}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runProbe(t, append(tc.args, "-o", "json", "--timeout", "10s")...)
			if code != 0 {
				t.Fatalf("exit %d, want 0 (a missing cAdvisor socket leaves Healthy); stderr %q\n%s", code, errOut, out)
			}
			var r checks.Result
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			if tc.wantCode == "" {
				if r.CadvisorSocket != nil || len(r.Findings) != 0 {
					t.Errorf("cadvisorSocket %+v findings %+v, want none with --cadvisor-socket \"\"", r.CadvisorSocket, r.Findings)
				}
				return
			}
			if len(r.Findings) != 1 || r.Findings[0].Code != tc.wantCode || !strings.Contains(r.Findings[0].Message, tc.wantOut) {
				t.Errorf("findings %+v, want one %s naming %s", r.Findings, tc.wantCode, tc.wantOut)
			}
			if r.CadvisorSocket == nil || r.CadvisorSocket.Path != tc.wantOut || r.CadvisorSocket.Exists {
				t.Errorf("cadvisorSocket %+v", r.CadvisorSocket)
			}
		})
	}
}
