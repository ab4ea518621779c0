package checks

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecide(t *testing.T) {
	stuck := StuckCall{Method: MethodTasksGet, ID: "abc", ElapsedMs: 2001, Error: "task status UNKNOWN",
		Evidence: &ProcessInfo{PID: 42, PPID: 1, State: "T"}}
	base := func() findings { return findings{slow: 500 * time.Millisecond, summary: "10 containers"} }
	for _, tc := range []struct {
		name       string
		mod        func(*findings)
		want       Verdict
		wantReason string
	}{
		{"healthy", func(f *findings) { f.slowest = slowCall{MethodTasksGet, "x", 3 * time.Millisecond} }, Healthy, "10 containers"},
		{"slow exactly at threshold is healthy", func(f *findings) { f.slowest = slowCall{MethodTasksGet, "x", 500 * time.Millisecond} }, Healthy, "10 containers"},
		{"slow", func(f *findings) { f.slowest = slowCall{MethodContainersGet, "x", 612 * time.Millisecond} }, Slow,
			"Containers/Get for container x took 612ms (over --slow 500ms)"},
		{"slow version has no container", func(f *findings) { f.slowest = slowCall{MethodVersion, "", 900 * time.Millisecond} }, Slow,
			"Version took 900ms (over --slow 500ms)"},
		{"near limit is mentioned", func(f *findings) {
			f.nearLimit = []string{"largest Containers/Get response 3.5 MiB is near the 4MiB message limit"}
		}, Healthy,
			"10 containers; largest Containers/Get response 3.5 MiB is near the 4MiB message limit"},
		{"stuck shim", func(f *findings) { f.stuck = []StuckCall{stuck} }, AtRisk,
			"Tasks/Get for container abc stuck 2.001s: task status UNKNOWN (shim pid 42 state T, stopped)"},
		{"stuck counts all", func(f *findings) {
			f.stuck = []StuckCall{stuck, {Method: MethodContainersGet, ID: "b", ElapsedMs: 2000, Error: "x"}}
		}, AtRisk,
			"Tasks/Get for container abc stuck 2.001s: task status UNKNOWN (shim pid 42 state T, stopped); 2 stuck calls in all"},
		{"stuck beats slow and incomplete", func(f *findings) {
			f.stuck = []StuckCall{{Method: MethodContainersGet, ID: "b", ElapsedMs: 2000, Error: "DeadlineExceeded"}}
			f.slowest = slowCall{MethodContainersGet, "b", 2 * time.Second}
			f.incomplete = "the sweep was cut"
		}, AtRisk, "Containers/Get for container b stuck 2s: DeadlineExceeded; the sweep was cut"},
		{"failed calls", func(f *findings) {
			f.failed = []CallStats{{Method: MethodContainersGet, Errors: 3, FirstError: "too large\nmore", FirstErrorID: "big"}}
		}, AtRisk, "3 Containers/Get calls failed, first for container big: too large"},
		{"cri stuck", func(f *findings) { f.criStuck = []string{CRIListContainers} }, AtRisk,
			"CRI cri.ListContainers hit the deadline while the native API answers"},
		{"incomplete", func(f *findings) { f.incomplete = "the sweep was cut after 3 of 10 containers" }, Inconclusive,
			"the sweep was cut after 3 of 10 containers"},
		{"inconclusive beats slow", func(f *findings) {
			f.inconclusive = []string{"Version answered Unimplemented"}
			f.slowest = slowCall{MethodVersion, "", time.Second}
		}, Inconclusive, "Version answered Unimplemented"},
		{"unresponsive with daemon state", func(f *findings) {
			f.unresponsive = "no Version"
			f.daemonPID, f.daemonState = 7, "D"
		}, Unresponsive, "no Version (containerd pid 7 state D, uninterruptible sleep)"},
		{"unresponsive beats stuck", func(f *findings) { f.unresponsive = "no Version"; f.stuck = []StuckCall{stuck} }, Unresponsive, "no Version"},
		{"unreachable beats all", func(f *findings) {
			f.unreachable = "socket /x is a directory, not a socket"
			f.unresponsive = "no Version"
		}, Unreachable, "socket /x is a directory, not a socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			tc.mod(&f)
			v, reason := decide(f)
			if diff := cmp.Diff(tc.want, v); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantReason, reason); diff != "" {
				t.Errorf("reason (-want +got):\n%s", diff)
			}
		})
	}
}

func TestShort(t *testing.T) {
	for in, want := range map[string]string{
		MethodTasksGet:      "Tasks/Get",
		MethodContainersGet: "Containers/Get",
		MethodVersion:       "Version",
		CRIStatus:           "cri.Status",
		"connect":           "connect",
	} {
		if got := short(in); got != want {
			t.Errorf("short(%q) = %q, want %q", in, got, want)
		}
	}
}
