package scale

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

// TestScenarioMix checks that the scenario has every kind, that slow
// probes end within the node budget, and that skipped kinds are the ones
// the plugin's planner skips.
func TestScenarioMix(t *testing.T) {
	const nodeTimeout = 10 * time.Second
	specs := Scenario(1000, 1, nodeTimeout)
	kinds := map[Kind]int{}
	for _, s := range specs {
		kinds[s.Kind]++
		if s.Start+s.Probe >= nodeTimeout*3/4 {
			t.Errorf("%s: start %s + probe %s leaves too little of the %s budget", s.Name, s.Start, s.Probe, nodeTimeout)
		}
		n := s.Node()
		if skipped, want := nodeexec.SkipReason(n) != "", s.Want == report.Skipped; skipped != want {
			t.Errorf("%s (%s): planner skips it: %v, want %v", s.Name, s.Kind, skipped, want)
		}
	}
	for _, k := range []Kind{Finish, SlowFinish, SandboxTimeout, ImagePull, RuntimeDown, NotPosting, Windows, Docker} {
		if kinds[k] == 0 {
			t.Errorf("no node of kind %s in %v", k, kinds)
		}
	}
	if diff := cmp.Diff(Scenario(50, 7, nodeTimeout), Scenario(50, 7, nodeTimeout)); diff != "" {
		t.Errorf("scenario not deterministic (-want +got):\n%s", diff)
	}
}

func TestCountRequests(t *testing.T) {
	log := t.TempDir() + "/audit.log"
	lines := `{"auditID":"a","stage":"ResponseComplete","verb":"create","user":{"username":"cadvisor-doctor"},"objectRef":{"resource":"pods"}}
{"auditID":"w","stage":"ResponseStarted","verb":"watch","user":{"username":"cadvisor-doctor"},"objectRef":{"resource":"pods"}}
{"auditID":"w","stage":"ResponseComplete","verb":"watch","user":{"username":"cadvisor-doctor"},"objectRef":{"resource":"pods"}}
{"auditID":"k","stage":"ResponseComplete","verb":"update","user":{"username":"admin"},"objectRef":{"resource":"pods","subresource":"status"}}
{"auditID":"s","stage":"ResponseComplete","verb":"update","user":{"username":"cadvisor-doctor"},"objectRef":{"resource":"pods","subresource":"status"}}
`
	if err := writeFile(log, lines); err != nil {
		t.Fatal(err)
	}
	got, err := countRequests(log, PluginUser)
	if err != nil {
		t.Fatal(err)
	}
	want := Requests{Total: 3, Watches: 1, ByCall: map[string]int{"create pods": 1, "watch pods": 1, "update pods/status": 1}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Requests{}, "First", "Last")); diff != "" {
		t.Errorf("countRequests (-want +got):\n%s", diff)
	}
}

func TestScore(t *testing.T) {
	specs := []NodeSpec{{Name: "a", Want: report.Healthy}, {Name: "b", Want: report.Skipped}, {Name: "c", Want: report.Unresponsive}, {Name: "d", Want: report.Healthy}}
	out := `{"items":[{"node":"a","verdict":"Healthy"},{"node":"b","verdict":"Skipped"},{"node":"c","verdict":"Inconclusive","reason":"x"},{"node":"a","verdict":"Healthy"},{"node":"e","verdict":"Healthy"}]}`
	correct, wrong := score(specs, []byte(out))
	if correct != 1 {
		t.Errorf("correct = %d, want 1 (only b); wrong: %v", correct, wrong)
	}
	if len(wrong) != 4 {
		t.Errorf("wrong = %v, want a (twice), c (verdict), d (missing), e (unknown)", wrong)
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
