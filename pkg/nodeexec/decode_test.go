package nodeexec

import (
	"strings"
	"testing"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

const validCompact = `{"apiVersion":"cadvisor-doctor.io/v1alpha1","kind":"ProbeResult","node":"n","verdict":"AtRisk","reason":"Tasks/Get stuck","socket":{"path":"/run/containerd/containerd.sock","exists":true},"containerd":{},"namespace":"k8s.io","containers":3,"calls":[],"stuck":[],"checks":[],"durationMs":9}`

func TestDecodeResult(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
		want              checks.Verdict
	}{
		{name: "valid", in: validCompact + "\n", want: checks.AtRisk},
		{name: "empty", in: "  \n", wantErr: "empty"},
		{name: "plain text", in: "panic: runtime error", wantErr: "not a probe result: invalid character"},
		{name: "wrong kind", in: `{"apiVersion":"v1","kind":"Pod","verdict":"Healthy"}`, wantErr: `not a probe result: apiVersion "v1" kind "Pod"`},
		{name: "no verdict", in: `{"apiVersion":"cadvisor-doctor.io/v1alpha1","kind":"ProbeResult"}`, wantErr: "probe result without a verdict"},
		{name: "truncated", in: validCompact[:100], wantErr: "not a probe result: unexpected end of JSON input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeResult([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || r.Verdict != tc.want {
				t.Fatalf("got %v, %v; want verdict %s", r, err, tc.want)
			}
		})
	}
}

func TestResultFromLog(t *testing.T) {
	pretty := strings.ReplaceAll(validCompact, `,"`, ",\n  \"")
	tests := []struct {
		name, log, wantErr string
	}{
		{name: "json only", log: pretty + "\n"},
		{name: "after stray lines", log: "probing /run/containerd/containerd.sock\n" + pretty + "\n"},
		{name: "last of two wins", log: strings.Replace(validCompact, "AtRisk", "Healthy", 1) + "\n" + pretty},
		// What a frozen node's kubelet returns as the "log": never a verdict.
		{name: "frozen node error text", log: `unable to retrieve container logs for containerd://4f1c2b3a`, wantErr: "no probe result in the log (59 bytes"},
		{name: "json that is not a result", log: `{"level":"info","msg":"hi"}` + "\n", wantErr: "no probe result in the log"},
		{name: "empty", log: "", wantErr: "no probe result in the log (0 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ResultFromLog([]byte(tc.log))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict != checks.AtRisk || r.Containers != 3 {
				t.Errorf("got verdict %s containers %d, want AtRisk 3", r.Verdict, r.Containers)
			}
		})
	}
}
