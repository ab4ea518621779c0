package checks

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func msd(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = msd(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", []time.Duration{msd(7)}, 99, msd(7)},
		{"two p50 is the lower", []time.Duration{msd(1), msd(9)}, 50, msd(1)},
		{"two p99 is the upper", []time.Duration{msd(1), msd(9)}, 99, msd(9)},
		{"hundred p50", hundred, 50, msd(50)},
		{"hundred p99", hundred, 99, msd(99)},
		{"hundred p100", hundred, 100, msd(100)},
		{"p0 clamps to the first", hundred, 0, msd(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v) = %s, want %s", tc.p, got, tc.want)
			}
		})
	}
}

func TestMethodStats(t *testing.T) {
	a := methodStats{method: MethodTasksGet}
	a.add("c1", msd(3), outcomeOK, 100, nil)
	a.add("c2", msd(1), outcomeNotFound, 0, nil)
	a.add("c3", msd(2000), outcomeTimeout, 0, errors.New("deadline"))
	a.add("c4", msd(5), outcomeCut, 0, errors.New("cut"))
	b := methodStats{method: MethodTasksGet}
	b.add("c5", msd(2), outcomeError, 0, errors.New("boom"))
	b.add("c6", msd(4), outcomeOK, 5<<20, nil)
	a.merge(&b)
	want := CallStats{
		Method: MethodTasksGet, Count: 5, OK: 3, Timeouts: 1, Errors: 1, NotFound: 1,
		P50Ms: 3, P99Ms: 2000, MaxMs: 2000, MaxID: "c3",
		MaxBytes: 5 << 20, NearLimit: "4MiB", FirstError: "boom", FirstErrorID: "c5",
	}
	if diff := cmp.Diff(want, a.stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestNearLimit(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, ""},
		{3 << 20, "4MiB"},
		{3<<20 - 1, ""},
		{4 << 20, "4MiB"},
		{12 << 20, "16MiB"},
		{20 << 20, "16MiB"},
	} {
		if got := nearLimit(tc.n); got != tc.want {
			t.Errorf("nearLimit(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
