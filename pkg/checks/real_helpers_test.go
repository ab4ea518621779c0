package checks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
)

// probeSocket runs the whole probe against sock and returns its result and
// wall time.
func probeSocket(t *testing.T, sock string, mod func(*Config)) (Result, time.Duration) {
	t.Helper()
	cfg := NewConfig()
	cfg.Socket = sock
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := Run(context.Background(), cfg)
	d := time.Since(start)
	t.Logf("verdict %s in %s: %s", r.Verdict, d.Round(time.Millisecond), r.Reason)
	return r, d
}

// wantVerdict fails t unless r has verdict v and a reason holding every
// part (the culprit).
func wantVerdict(t *testing.T, r Result, v Verdict, parts ...string) {
	t.Helper()
	if r.Verdict != v {
		t.Errorf("verdict %s, want %s (reason %q; checks %+v)", r.Verdict, v, r.Reason, r.Checks)
	}
	for _, p := range parts {
		if !strings.Contains(r.Reason, p) {
			t.Errorf("reason %q does not name %q", r.Reason, p)
		}
	}
}

func within(t *testing.T, what string, got, bound time.Duration) {
	t.Helper()
	if got > bound {
		t.Errorf("%s took %s, want <= %s", what, got.Round(time.Millisecond), bound)
	}
}

func callStats(t *testing.T, r Result, method string) CallStats {
	t.Helper()
	for _, c := range r.Calls {
		if c.Method == method {
			return c
		}
	}
	t.Fatalf("no call stats for %s in %+v", method, r.Calls)
	return CallStats{}
}

func startDaemon(t *testing.T, binDir string) *containerdlab.Daemon {
	t.Helper()
	containerdlab.Require(t, binDir)
	return containerdlab.Start(t, containerdlab.Options{BinDir: binDir})
}

func createContainers(t *testing.T, d *containerdlab.Daemon, ids []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.CreateContainers(ctx, ids, nil); err != nil {
		t.Fatal(err)
	}
}
