package advisory

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func codes(as []Advisory) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.Code)
	}
	return out
}

func TestForNodeCodes(t *testing.T) {
	tests := []struct {
		name, kubelet, runtime string
		want                   []string
	}{
		{"1.37 healthy containerd", "v1.37.2", "containerd://1.6.20",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorFixedSocket}},
		{"1.36 readers no longer block", "v1.36.3", "containerd://2.0.0",
			[]string{CodeCAdvisorUnboundedCalls}},
		{"1.35 still holds the lock", "v1.35.0", "containerd://1.7.20",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorReadersBlock}},
		{"1.27 with 1.4.4", "v1.27.3", "containerd://1.4.4",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorReadersBlock, "CONTAINERD_RUNC_RC93_DEADLOCK"}},
		{"1.4.5 fixed", "v1.27.3", "containerd://1.4.5",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorReadersBlock}},
		{"1.7.15 both 1.7 deadlocks", "v1.30.4+k3s1", "containerd://1.7.15-k3s1",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorReadersBlock, "CONTAINERD_NRI_REGISTRATION_DEADLOCK", "CONTAINERD_TTRPC_PIPE_DEADLOCK"}},
		{"1.7.16 only ttrpc", "v1.31.1-eks-1", "containerd://v1.7.16",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorReadersBlock, "CONTAINERD_TTRPC_PIPE_DEADLOCK"}},
		{"1.7.17 fixed", "v1.31.1", "containerd://1.7.17",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorReadersBlock}},
		{"1.7.17 release candidate is before the fix", "v1.31.1", "containerd://1.7.17-rc.1",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorReadersBlock, "CONTAINERD_TTRPC_PIPE_DEADLOCK"}},
		{"1.7.0 first affected", "v1.29.0", "containerd://1.7.0",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorReadersBlock, "CONTAINERD_NRI_REGISTRATION_DEADLOCK", "CONTAINERD_TTRPC_PIPE_DEADLOCK"}},
		{"1.6.99 not affected", "v1.29.0", "containerd://1.6.99",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorReadersBlock}},
		{"1.5.7 ttrpc 1.0", "v1.29.0", "containerd://1.5.7",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorReadersBlock, "CONTAINERD_TTRPC_CONCURRENT_DEADLOCK"}},
		{"debian suffix", "v1.37.2", "containerd://1.6.20~ds1",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorFixedSocket}},
		{"kubelet too new", "v1.38.0", "containerd://1.6.20",
			[]string{CodeKubeletVersionUnknown}},
		{"kubelet too old", "v1.26.15", "containerd://1.6.20",
			[]string{CodeKubeletVersionUnknown}},
		{"kubelet garbage", "not-a-version", "containerd://1.6.20",
			[]string{CodeKubeletVersionUnknown}},
		{"kubelet empty, runtime empty", "", "",
			[]string{CodeKubeletVersionUnknown, CodeContainerdVersionUnknown}},
		{"containerd garbage", "v1.37.2", "containerd://Unknown",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorFixedSocket, CodeContainerdVersionUnknown}},
		{"containerd without version", "v1.37.2", "containerd://",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorFixedSocket, CodeContainerdVersionUnknown}},
		{"no scheme", "v1.37.2", "1.6.20",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorFixedSocket, CodeContainerdVersionUnknown}},
		{"cri-o", "v1.37.2", "cri-o://1.28.1",
			[]string{CodeCAdvisorUnboundedCalls, CodeCAdvisorFixedSocket, CodeRuntimeNotContainerd}},
		{"huge numbers do not overflow", "v99999999999999999999.1.1", "containerd://1.99999999999999999999.0",
			[]string{CodeKubeletVersionUnknown, CodeContainerdVersionUnknown}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ForNode(tc.kubelet, tc.runtime)
			if diff := cmp.Diff(tc.want, codes(got)); diff != "" {
				t.Errorf("ForNode(%q, %q) codes (-want +got):\n%s", tc.kubelet, tc.runtime, diff)
			}
			for _, a := range got {
				if a.Message == "" || a.Source == "" || a.Severity == "" {
					t.Errorf("advisory %s lacks message, source or severity: %+v", a.Code, a)
				}
			}
		})
	}
}

func TestForNodeMessages(t *testing.T) {
	got := ForNode("v1.37.2", "containerd://1.7.15")
	want := []Advisory{
		{Code: CodeCAdvisorUnboundedCalls, Severity: Info,
			Message: "kubelet v1.37.2 embeds cAdvisor lib/v0.60.5, which calls containerd without a deadline in Register -> client.Version, newContainerdContainerHandler -> client.LoadContainer, newContainerdContainerHandler -> client.TaskPid, GetExitCode -> client.TaskExitStatus: when containerd never answers one of them, container discovery stops (new containers get no metrics)",
			Source:  "k8s.io/kubernetes v1.37.0..v1.37.2 go.mod, cmd/kubelet/app/options/globalflags_linux.go; google/cadvisor lib/v0.60.5 lib/container/containerd/{factory,handler}.go, lib/manager/manager.go"},
		{Code: CodeCAdvisorFixedSocket, Severity: Info,
			Message: "kubelet v1.37.2 no longer accepts --containerd: its cAdvisor always dials /run/containerd/containerd.sock, whatever the kubelet's containerRuntimeEndpoint",
			Source:  "k8s.io/kubernetes v1.37.0..v1.37.2 go.mod, cmd/kubelet/app/options/globalflags_linux.go; google/cadvisor lib/v0.60.5 lib/container/containerd/{factory,handler}.go, lib/manager/manager.go"},
	}
	if diff := cmp.Diff(want, got[:2]); diff != "" {
		t.Errorf("kubelet advisories (-want +got):\n%s", diff)
	}
	if len(got) != 4 || !strings.HasPrefix(got[2].Message, "containerd 1.7.15: containerd 1.7.0-1.7.15 vendor NRI") ||
		!strings.Contains(got[3].Source, "containerd/ttrpc#168") {
		t.Errorf("containerd advisories: %+v", got[2:])
	}
}

func TestLookupKubelet(t *testing.T) {
	tests := []struct {
		version      string
		wantCAdvisor string
		wantCalls    []string
		wantBlock    bool
		wantFlag     bool
		wantOK       bool
	}{
		{"v1.27.0", "v0.47.1", []string{"register-version", "accept-load-container", "handler-load-container", "handler-task-pid"}, true, true, true},
		{"v1.27.3", "v0.47.1", []string{"register-version", "accept-load-container", "handler-load-container", "handler-task-pid"}, true, true, true},
		{"v1.27.4", "v0.47.2", []string{"register-version", "accept-load-container", "handler-load-container", "handler-task-pid"}, true, true, true},
		{"v1.30.9", "v0.49.0", []string{"register-version", "accept-load-container", "handler-load-container", "handler-task-pid"}, true, true, true},
		{"v1.30.10", "v0.49.2", []string{"register-version", "accept-load-container", "handler-load-container", "handler-task-pid"}, true, true, true},
		{"v1.34.4", "v0.52.1", []string{"register-version", "accept-load-container", "handler-load-container", "handler-task-pid"}, true, true, true},
		{"v1.35.4", "v0.53.0", []string{"register-version", "handler-load-container", "handler-task-pid"}, true, true, true},
		{"v1.36.0", "v0.56.2", []string{"register-version", "handler-load-container", "handler-task-pid", "exit-task-exit-status"}, false, true, true},
		{"1.37", "lib/v0.60.5", []string{"register-version", "handler-load-container", "handler-task-pid", "exit-task-exit-status"}, false, false, true},
		{"v1.38.0", "", nil, false, false, false},
		{"garbage", "", nil, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.version, func(t *testing.T) {
			rel, ok := LookupKubelet(tc.version)
			if ok != tc.wantOK {
				t.Fatalf("LookupKubelet(%q) ok = %v, want %v", tc.version, ok, tc.wantOK)
			}
			var calls []string
			for _, c := range rel.Unbounded {
				calls = append(calls, c.Name)
				if !strings.HasPrefix(c.GRPC, "/containerd.services.") || c.Site == "" {
					t.Errorf("call %s: bad glossary entry %+v", c.Name, c)
				}
			}
			if rel.CAdvisor != tc.wantCAdvisor || rel.ReadersBlock != tc.wantBlock || rel.ContainerdFlag != tc.wantFlag {
				t.Errorf("LookupKubelet(%q) = cadvisor %q block %v flag %v, want %q %v %v",
					tc.version, rel.CAdvisor, rel.ReadersBlock, rel.ContainerdFlag, tc.wantCAdvisor, tc.wantBlock, tc.wantFlag)
			}
			if diff := cmp.Diff(tc.wantCalls, calls); diff != "" {
				t.Errorf("unbounded calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTableCoversEveryMinor guards the data file: every minor 1.27..1.37 once,
// and the TaskPid call unbounded in all of them (no upstream fix yet).
func TestTableCoversEveryMinor(t *testing.T) {
	tbl, err := parseTable(tableYAML)
	if err != nil {
		t.Fatal(err)
	}
	var minors []string
	for _, r := range tbl.Kubelet {
		minors = append(minors, r.Minor)
		rel, _ := tbl.lookup(r.minor)
		found := false
		for _, c := range rel.Unbounded {
			found = found || c.Name == "handler-task-pid"
		}
		if !found {
			t.Errorf("kubelet %s: handler-task-pid missing from unbounded calls", r.Minor)
		}
	}
	want := []string{"1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35", "1.36", "1.37"}
	if diff := cmp.Diff(want, minors); diff != "" {
		t.Errorf("minors (-want +got):\n%s", diff)
	}
}

// FuzzForNode: any pair of strings gives advisories, never a panic, and
// always at least one statement about each of the two versions' kinds.
func FuzzForNode(f *testing.F) {
	for _, s := range []string{"v1.37.2", "containerd://1.7.15", "", "://", "v1.", "containerd://1.7.17-rc", "\x00\xff"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, kubelet, runtime string) {
		for _, a := range ForNode(kubelet, runtime) {
			if a.Code == "" || a.Message == "" {
				t.Fatalf("empty advisory %+v", a)
			}
		}
	})
}

func TestSeverities(t *testing.T) {
	got := map[string]Severity{}
	for _, a := range ForNode("v1.35.0", "containerd://1.7.15") {
		got[a.Code] = a.Severity
	}
	want := map[string]Severity{
		CodeCAdvisorUnboundedCalls:             Info,
		CodeCAdvisorReadersBlock:               Warning,
		"CONTAINERD_NRI_REGISTRATION_DEADLOCK": Warning,
		"CONTAINERD_TTRPC_PIPE_DEADLOCK":       Warning,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("severities (-want +got):\n%s", diff)
	}
}
