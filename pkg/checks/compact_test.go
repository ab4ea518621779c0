package checks

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func bigResult(stuck int) Result {
	r := Result{
		APIVersion: APIVersion, Kind: Kind, Node: "node-1", Verdict: AtRisk,
		Reason:     "Tasks/Get for container c-00000 stuck 2s: " + strings.Repeat("x", 2000),
		Socket:     SocketInfo{Path: "/run/containerd/containerd.sock", Exists: true, Type: "socket"},
		Containerd: ContainerdInfo{Version: "1.6.20"},
		Namespace:  "k8s.io", Containers: 10000, SweptContainers: 10000,
		Calls: []CallStats{
			{Method: MethodContainersGet, Count: 10000, OK: 10000, P50Ms: 0.2, P99Ms: 0.6, MaxMs: 3},
			{Method: MethodTasksGet, Count: 10000, OK: 10000 - stuck, Timeouts: stuck, P50Ms: 0.2, P99Ms: 2000, MaxMs: 2001},
		},
		Stuck:  []StuckCall{},
		Checks: []CheckResult{{Name: "sweep", Status: StatusTimeout, Message: strings.Repeat("m", 500)}},
		CRI:    &CRIInfo{RuntimeName: "containerd", Calls: []CheckResult{{Name: CRIVersion, Status: StatusOK, Message: strings.Repeat("v", 300)}}},
		Daemon: &DaemonEvidence{Process: &ProcessInfo{PID: 1, State: "S"}, Shims: 3},
	}
	for i := range stuck {
		r.Stuck = append(r.Stuck, StuckCall{
			Method: MethodTasksGet, ID: fmt.Sprintf("c-%05d-%s", i, strings.Repeat("i", 50)), ElapsedMs: float64(3000 - i),
			Error:    "rpc error: code = DeadlineExceeded desc = context deadline exceeded " + strings.Repeat("e", 300),
			Evidence: &ProcessInfo{PID: 100 + i, PPID: 1, State: "T", Command: "containerd-shim-runc-v2"},
		})
	}
	return r
}

func TestEncodeCompact(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stuck     int
		max       int
		wantStuck int // -1: some but not all
	}{
		{"no stuck fits", 0, 4096, 0},
		{"few stuck fit whole", 3, 4096, 3},
		{"many stuck are cut", 1000, 4096, -1},
		{"tiny limit drops all stuck", 50, 1200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bigResult(tc.stuck)
			b, err := EncodeCompact(r, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > tc.max {
				t.Fatalf("%d bytes, want <= %d", len(b), tc.max)
			}
			var got Result
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.APIVersion != APIVersion || got.Kind != Kind || got.Verdict != r.Verdict || got.Node != "node-1" {
				t.Errorf("identity lost: %+v", got)
			}
			if !strings.HasPrefix(got.Reason, "Tasks/Get for container c-00000 stuck 2s") {
				t.Errorf("reason %q lost its culprit", got.Reason)
			}
			if diff := cmp.Diff(r.Calls, got.Calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if got.Socket.Path != r.Socket.Path || got.Containerd != r.Containerd || got.Containers != 10000 {
				t.Errorf("socket/containerd/counts lost: %+v", got)
			}
			if len(got.Stuck)+got.StuckOmitted != tc.stuck {
				t.Errorf("stuck %d + omitted %d, want %d in all", len(got.Stuck), got.StuckOmitted, tc.stuck)
			}
			switch {
			case tc.wantStuck >= 0 && len(got.Stuck) != tc.wantStuck:
				t.Errorf("kept %d stuck, want %d", len(got.Stuck), tc.wantStuck)
			case tc.wantStuck < 0 && (len(got.Stuck) == 0 || got.StuckOmitted == 0):
				t.Errorf("kept %d stuck, omitted %d: want some of each", len(got.Stuck), got.StuckOmitted)
			}
			// The worst (first) stuck calls are the ones kept.
			for i, s := range got.Stuck {
				if !strings.HasPrefix(s.ID, fmt.Sprintf("c-%05d", i)) {
					t.Errorf("stuck[%d] = %s, want the %d-th worst", i, s.ID, i)
				}
			}
		})
	}
}

func TestEncodeCompactTooSmall(t *testing.T) {
	if _, err := EncodeCompact(bigResult(0), 100); err == nil {
		t.Error("want an error when even the compacted result exceeds the limit")
	}
}

func TestTrim(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 6, "abc…"},
		{"ééééé", 6, "é…"}, // never splits a rune
	} {
		if got := trim(tc.in, tc.n); got != tc.want || len(got) > tc.n {
			t.Errorf("trim(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
