package checks

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/faultproxy"
)

// proxied starts a daemon with n containers and a fault proxy in front.
func proxied(t *testing.T, prefix string, n int) (*faultproxy.Proxy, []string) {
	t.Helper()
	d := startDaemon(t, "")
	ids := containerdlab.IDs(prefix, n)
	createContainers(t, d, ids)
	p, err := faultproxy.Start(filepath.Join(d.Dir, "proxy.sock"), d.Address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, ids
}

// TestRealFaults: partial hangs and slowness of chosen methods and
// container ids, injected between probe and a real daemon.
func TestRealFaults(t *testing.T) {
	p, ids := proxied(t, "fault", 200)
	victim := ids[137]
	sec := func(c *Config) { c.CallTimeout = time.Second }
	for _, tc := range []struct {
		name    string
		rules   []faultproxy.Rule
		mod     func(*Config)
		want    Verdict
		culprit []string
		bound   time.Duration
		check   func(*testing.T, Result)
	}{
		{
			name:    "Tasks/Get hangs for one container",
			rules:   []faultproxy.Rule{{Method: MethodTasksGet, Match: victim, Action: faultproxy.Hang}},
			mod:     sec,
			want:    AtRisk,
			culprit: []string{"Tasks/Get for container " + victim, "stuck 1"},
			bound:   2500 * time.Millisecond,
			check: func(t *testing.T, r Result) {
				if len(r.Stuck) != 1 || r.Stuck[0].ID != victim || r.Stuck[0].ElapsedMs < 990 {
					t.Errorf("stuck %+v, want only %s after ~1s", r.Stuck, victim)
				}
				if c := callStats(t, r, MethodTasksGet); c.Timeouts != 1 || c.OK != 199 {
					t.Errorf("Tasks/Get %+v, want 1 timeout, 199 OK", c)
				}
				if c := callStats(t, r, MethodContainersGet); c.Timeouts != 0 || c.OK != 200 {
					t.Errorf("Containers/Get %+v, want 200 OK", c)
				}
			},
		},
		{
			name:    "Containers/Get hangs for one container",
			rules:   []faultproxy.Rule{{Method: MethodContainersGet, Match: victim, Action: faultproxy.Hang}},
			mod:     sec,
			want:    AtRisk,
			culprit: []string{"Containers/Get for container " + victim},
			bound:   2500 * time.Millisecond,
		},
		{
			name:    "Containers/Get slow for one container",
			rules:   []faultproxy.Rule{{Method: MethodContainersGet, Match: victim, Action: faultproxy.Delay, Delay: 700 * time.Millisecond}},
			want:    Slow,
			culprit: []string{"Containers/Get for container " + victim, "over --slow 500ms"},
			bound:   2500 * time.Millisecond,
		},
		{
			name:    "Containers/Get fails for one container",
			rules:   []faultproxy.Rule{{Method: MethodContainersGet, Match: victim, Action: faultproxy.Fail, Code: codes.ResourceExhausted, Message: "grpc: received message larger than max"}},
			want:    AtRisk,
			culprit: []string{"1 Containers/Get calls failed", victim, "larger than max"},
			bound:   time.Second,
		},
		{
			name:    "CRI ListContainers hangs, native API answers",
			rules:   []faultproxy.Rule{{Method: "/runtime.v1.RuntimeService/ListContainers", Action: faultproxy.Hang}},
			mod:     sec,
			want:    AtRisk,
			culprit: []string{"CRI cri.ListContainers"},
			bound:   2500 * time.Millisecond,
		},
		{
			name:    "the streaming list hangs",
			rules:   []faultproxy.Rule{{Method: "/containerd.services.containers.v1.Containers/ListStream", Action: faultproxy.Hang}},
			mod:     sec,
			want:    AtRisk,
			culprit: []string{"ListStream stuck 1", "no message for 1s after 0 containers"},
			bound:   1500 * time.Millisecond,
		},
		{
			name:    "everything hangs (frozen daemon behind the proxy)",
			rules:   []faultproxy.Rule{{Action: faultproxy.Hang}},
			mod:     sec,
			want:    Unresponsive,
			culprit: []string{"did not answer Version"},
			bound:   1500 * time.Millisecond,
		},
		{
			name:  "sweep cannot finish within --timeout",
			rules: []faultproxy.Rule{{Method: MethodTasksGet, Action: faultproxy.Delay, Delay: 40 * time.Millisecond}},
			mod: func(c *Config) {
				c.Timeout, c.Concurrency = 2*time.Second, 1
			},
			want:    Inconclusive,
			culprit: []string{"sweep was cut by the probe's --timeout 2s after", "of 200 containers"},
			bound:   2500 * time.Millisecond,
			check: func(t *testing.T, r Result) {
				if r.SweptContainers == 0 || r.SweptContainers >= 200 {
					t.Errorf("swept %d of 200, want some but not all", r.SweptContainers)
				}
				if c := callStats(t, r, MethodTasksGet); c.Timeouts != 0 {
					t.Errorf("Tasks/Get timeouts %d: a call cut by the probe's own deadline is no finding", c.Timeouts)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.SetRules(tc.rules...)
			r, took := probeSocket(t, p.ListenPath(), tc.mod)
			wantVerdict(t, r, tc.want, tc.culprit...)
			within(t, "probe", took, tc.bound)
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// TestRealInterrupted: Ctrl-C mid-sweep answers at once, Inconclusive, and
// the cut calls are not findings.
func TestRealInterrupted(t *testing.T) {
	p, _ := proxied(t, "intr", 100)
	p.SetRules(faultproxy.Rule{Method: MethodTasksGet, Action: faultproxy.Delay, Delay: 50 * time.Millisecond})
	// A signal cancels; it sets no deadline.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(300*time.Millisecond, cancel)
	cfg := NewConfig()
	cfg.Socket, cfg.Concurrency = p.ListenPath(), 1
	start := time.Now()
	r := Run(ctx, cfg)
	took := time.Since(start)
	wantVerdict(t, r, Inconclusive, "the probe was interrupted")
	within(t, "interrupted probe", took, 800*time.Millisecond) // 300ms + the 0.5s contract
	if len(r.Stuck) != 0 {
		t.Errorf("stuck %+v: calls cut by the interrupt are no finding", r.Stuck)
	}
}

// TestRealFreezesMidSweep: a daemon that freezes during the sweep is
// Unresponsive after about two call timeouts (the calls in flight, then one
// Version), not one call timeout per remaining container.
func TestRealFreezesMidSweep(t *testing.T) {
	d := startDaemon(t, "")
	ids := containerdlab.IDs("midsweep", 1000)
	createContainers(t, d, ids)
	p, err := faultproxy.Start(filepath.Join(d.Dir, "proxy.sock"), d.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Slow enough that the sweep is still running when the daemon freezes.
	p.SetRules(faultproxy.Rule{Method: MethodContainersGet, Action: faultproxy.Delay, Delay: 20 * time.Millisecond})
	time.AfterFunc(400*time.Millisecond, func() {
		if err := d.Freeze(); err != nil {
			t.Error(err)
		}
	})
	defer d.Thaw()
	r, took := probeSocket(t, p.ListenPath(), func(c *Config) { c.CallTimeout = time.Second })
	wantVerdict(t, r, Unresponsive, "stopped answering during the sweep", "then Version did not answer within 1")
	within(t, "probe", took, 3*time.Second)
	if r.SweptContainers == 0 || r.SweptContainers >= 1000 {
		t.Errorf("swept %d of 1000, want the sweep stopped part way", r.SweptContainers)
	}
}
