package kubeletevidence

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 12, 3, 23, 30, 0, 0, time.UTC)

// onlyGoroutines keeps the goroutines of a fixture with the given ids.
func onlyGoroutines(t *testing.T, fixture string, ids ...string) *GoroutineDump {
	t.Helper()
	var keep []string
	for _, block := range strings.Split(string(readFixture(t, fixture)), "\n\n") {
		for _, id := range ids {
			if strings.HasPrefix(block, "goroutine "+id+" [") {
				keep = append(keep, block)
			}
		}
	}
	d, err := ParseGoroutines(strings.NewReader(strings.Join(keep, "\n\n")+"\n"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAssess(t *testing.T) {
	stalled := parseFixture(t, "synthetic-goroutine-stalled-taskpid.txt")
	fresh := onlyGoroutines(t, "synthetic-goroutine-stalled-taskpid.txt", "1", "5120", "5188")
	// the same goroutine 5120, but now in a call for another container (other arguments)
	other := parseFixture(t, "synthetic-goroutine-stalled-taskpid.txt")
	otherText := bytes.ReplaceAll(readFixture(t, "synthetic-goroutine-stalled-taskpid.txt"), []byte("{0xc0031c6a00, 0x40}"), []byte("{0xc0099c6a00, 0x40}"))
	other, _ = ParseGoroutines(bytes.NewReader(otherText), ParseOptions{})
	criOnly := onlyGoroutines(t, "synthetic-goroutine-stalled-taskpid.txt", "1", "5188")
	lock := parseFixture(t, "synthetic-goroutine-lockwait-v0.47.txt")
	// The same CRI goroutine in a stats call, which containerd answers by
	// asking the shims: one stopped shim blocks it, not the daemon.
	statsText := bytes.ReplaceAll(readFixture(t, "synthetic-goroutine-stalled-taskpid.txt"), []byte("(*runtimeServiceClient).ListContainers("), []byte("(*runtimeServiceClient).ListContainerStats("))
	statsAll, _ := ParseGoroutines(bytes.NewReader(statsText), ParseOptions{})
	var statsOnly GoroutineDump
	for _, b := range statsAll.Blocked {
		if b.Kind == KindCRI {
			statsOnly.Blocked = append(statsOnly.Blocked, b)
		}
	}
	statsOnly.Goroutines = len(statsOnly.Blocked)

	tests := []struct {
		name          string
		samples       []Sample
		wantStalled   bool
		wantResample  bool
		wantBlocked   int
		wantLongest   time.Duration
		wantLongestID int64
		wantReason    string
	}{
		{"annotation alone proves it", []Sample{{stalled, t0}}, true, false, 2, 7 * time.Minute, 4711,
			"2 goroutine(s) blocked in containerd calls, longest >= 7m0s in cAdvisor TaskPid (/containerd.services.tasks.v1.Tasks/Get) from newContainerdContainerHandler"},
		{"fresh call in one dump: resample", []Sample{{fresh, t0}}, false, true, 1, 0, 5120,
			"1 goroutine(s) blocked in containerd calls, longest under a minute (no annotation) in cAdvisor TaskPid (/containerd.services.tasks.v1.Tasks/Get) from newContainerdContainerHandler; not yet known to exceed 5s: a second dump decides"},
		{"same call 6s later", []Sample{{fresh, t0}, {fresh, t0.Add(6 * time.Second)}}, true, false, 1, 6 * time.Second, 5120,
			"1 goroutine(s) blocked in containerd calls, longest >= 6s in cAdvisor TaskPid (/containerd.services.tasks.v1.Tasks/Get) from newContainerdContainerHandler"},
		{"same call only 3s later", []Sample{{fresh, t0}, {fresh, t0.Add(3 * time.Second)}}, false, true, 1, 3 * time.Second, 5120,
			"1 goroutine(s) blocked in containerd calls, longest >= 3s in cAdvisor TaskPid (/containerd.services.tasks.v1.Tasks/Get) from newContainerdContainerHandler; not yet known to exceed 5s: a second dump decides"},
		{"same goroutine, another container", []Sample{{other, t0}, {fresh, t0.Add(10 * time.Second)}}, false, true, 1, 0, 5120,
			"1 goroutine(s) blocked in containerd calls, longest under a minute (no annotation) in cAdvisor TaskPid (/containerd.services.tasks.v1.Tasks/Get) from newContainerdContainerHandler; not yet known to exceed 5s: a second dump decides"},
		{"CRI read in flight only: resample", []Sample{{criOnly, t0}}, false, true, 0, 0, 0,
			"no goroutine blocked in a containerd call; 1 CRI call(s) in flight, longest under a minute (no annotation)"},
		{"the same CRI read 6s later: stuck", []Sample{{criOnly, t0}, {criOnly, t0.Add(6 * time.Second)}}, false, false, 0, 0, 0,
			"no goroutine blocked in a containerd call; the kubelet's CRI calls to containerd are stuck: 1 read(s) blocked, longest >= 6s in /runtime.v1.RuntimeService/ListContainers (1 CRI call(s) in flight)"},
		{"the same CRI stats call 6s later: not the daemon", []Sample{{&statsOnly, t0}, {&statsOnly, t0.Add(6 * time.Second)}}, false, false, 0, 0, 0,
			"no goroutine blocked in a containerd call; 1 CRI call(s) in flight, longest >= 6s"},
		{"old kubelet with readers queued", []Sample{{lock, t0}}, true, false, 1, 219 * time.Minute, 388,
			"1 goroutine(s) blocked in containerd calls, longest >= 3h39m0s in cAdvisor LoadContainer (/containerd.services.containers.v1.Containers/Get) from (*containerdFactory).CanHandleAndAccept; 2 goroutine(s) waiting on cAdvisor's manager lock"},
		{"no dump", nil, false, false, 0, 0, 0, "no goroutine dump"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := Assess(tc.samples, 0)
			var longestID int64
			if a.Longest != nil {
				longestID = a.Longest.GoroutineID
			}
			got := []any{a.Stalled, a.NeedsResample, a.Blocked, a.LongestWait, longestID, a.Reason}
			want := []any{tc.wantStalled, tc.wantResample, tc.wantBlocked, tc.wantLongest, tc.wantLongestID, tc.wantReason}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Assess [stalled resample blocked longest id reason] (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAssessGroupsCalls(t *testing.T) {
	a := Assess([]Sample{{parseFixture(t, "synthetic-goroutine-stalled-taskpid.txt"), t0}}, time.Minute)
	want := []CallGroup{{Kind: KindCAdvisor, CAdvisorMethod: "TaskPid", GRPCMethod: "/containerd.services.tasks.v1.Tasks/Get",
		Site: "newContainerdContainerHandler", Count: 2, LongestWait: 7 * time.Minute}}
	if diff := cmp.Diff(want, a.Calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if a.CRIBlocked != 1 || a.LockWaiters != 0 || !a.Stalled {
		t.Errorf("cri %d lock %d stalled %v, want 1 0 true", a.CRIBlocked, a.LockWaiters, a.Stalled)
	}
	if a := Assess([]Sample{{parseFixture(t, "synthetic-goroutine-stalled-taskpid.txt"), t0}}, 8*time.Minute); a.Stalled || !a.NeedsResample {
		t.Errorf("7 minutes under an 8 minute threshold: stalled=%v resample=%v", a.Stalled, a.NeedsResample)
	}
}
