package checks

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecideCadvisorSocket(t *testing.T) {
	const (
		other   = "cAdvisor dials /run/containerd/containerd.sock (another containerd, 1.6.20, pid 7); kubelet uses /run/k3s/containerd/containerd.sock"
		missing = "cAdvisor dials /run/containerd/containerd.sock (missing); kubelet uses /run/k3s/containerd/containerd.sock: x"
	)
	base := func() findings { return findings{slow: 500 * time.Millisecond, summary: "10 containers"} }
	for _, tc := range []struct {
		name       string
		mod        func(*findings)
		want       Verdict
		wantReason string
	}{
		{"no finding", func(f *findings) {}, Healthy, "10 containers"},
		{"missing keeps healthy", func(f *findings) { f.cadvisor, f.cadvisorMsg = cadvisorMissing, missing }, Healthy, "10 containers; " + missing},
		{"unreachable keeps slow", func(f *findings) {
			f.slowest = slowCall{MethodVersion, "", 900 * time.Millisecond}
			f.cadvisor, f.cadvisorMsg = cadvisorUnreachable, "u"
		}, Slow, "Version took 900ms (over --slow 500ms); u"},
		{"missing keeps unreachable", func(f *findings) {
			f.unreachable = "socket /a does not exist"
			f.cadvisor, f.cadvisorMsg = cadvisorMissing, missing
		}, Unreachable, "socket /a does not exist"},
		{"other daemon makes healthy at risk", func(f *findings) { f.cadvisor, f.cadvisorMsg = cadvisorOtherDaemon, other }, AtRisk, other},
		{"other daemon makes slow at risk", func(f *findings) {
			f.slowest = slowCall{MethodVersion, "", 900 * time.Millisecond}
			f.cadvisor, f.cadvisorMsg = cadvisorOtherDaemon, other
		}, AtRisk, other + "; Version took 900ms (over --slow 500ms)"},
		{"other daemon makes inconclusive at risk", func(f *findings) {
			f.incomplete = "the sweep was cut"
			f.cadvisor, f.cadvisorMsg = cadvisorOtherDaemon, other
		}, AtRisk, other + "; the sweep was cut"},
		{"unresponsive cadvisor socket makes healthy at risk", func(f *findings) { f.cadvisor, f.cadvisorMsg = cadvisorUnresponsive, "hang" }, AtRisk, "hang"},
		{"other daemon adds to at risk", func(f *findings) {
			f.criStuck = []string{"cri.Status"}
			f.cadvisor, f.cadvisorMsg = cadvisorOtherDaemon, other
		}, AtRisk, "CRI cri.Status hit the deadline while the native API answers; " + other},
		{"other daemon keeps unresponsive", func(f *findings) {
			f.unresponsive = "no Version"
			f.cadvisor, f.cadvisorMsg = cadvisorOtherDaemon, other
		}, Unresponsive, "no Version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base()
			tc.mod(&f)
			v, r := decide(f)
			if v != tc.want {
				t.Errorf("verdict %s, want %s", v, tc.want)
			}
			if diff := cmp.Diff(tc.wantReason, r); diff != "" {
				t.Errorf("reason (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSameDaemon(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name string
		ku   string
		kp   int
		cu   string
		cp   int
		want *bool
	}{
		{"same uuid", "u1", 10, "u1", 11, &yes}, // uuid wins over pid
		{"other uuid", "u1", 10, "u2", 10, &no},
		{"pid fallback same", "", 10, "", 10, &yes},
		{"pid fallback other", "u1", 10, "", 11, &no},
		{"nothing known", "", 0, "u2", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, sameDaemon(tc.ku, tc.kp, tc.cu, tc.cp)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCadvisorFinding(t *testing.T) {
	yes, no := true, false
	const kube = "/run/k3s/containerd/containerd.sock"
	for _, tc := range []struct {
		name string
		c    cadvisorProbe
		want cadvisorOutcome
		f    *Finding
	}{
		{"same daemon", cadvisorProbe{info: CadvisorSocketInfo{Path: DefaultCadvisorSocket, SameDaemon: &yes}}, cadvisorOK, nil},
		{"unknown daemon", cadvisorProbe{info: CadvisorSocketInfo{Path: DefaultCadvisorSocket}}, cadvisorOK, nil},
		{"other daemon", cadvisorProbe{info: CadvisorSocketInfo{Path: DefaultCadvisorSocket, Version: "1.6.20", PeerPID: 7, SameDaemon: &no}}, cadvisorOtherDaemon,
			&Finding{CodeCadvisorSocketOtherDaemon, "cAdvisor dials /run/containerd/containerd.sock (another containerd, 1.6.20, pid 7); kubelet uses " + kube +
				": cAdvisor reads, and can hang on, a containerd Kubernetes does not use"}},
		{"other daemon, calls answered", cadvisorProbe{info: CadvisorSocketInfo{Path: DefaultCadvisorSocket, SameDaemon: &no,
			Sweep: &CadvisorSweep{Containers: 3, Swept: 3}}}, cadvisorOtherDaemon,
			&Finding{CodeCadvisorSocketOtherDaemon, "cAdvisor dials /run/containerd/containerd.sock (another containerd); kubelet uses " + kube +
				": cAdvisor reads, and can hang on, a containerd Kubernetes does not use"}},
		{"other daemon, calls stuck", cadvisorProbe{info: CadvisorSocketInfo{Path: DefaultCadvisorSocket, SameDaemon: &no, Version: "1.6.20",
			Sweep: &CadvisorSweep{Containers: 3, Swept: 3, Stuck: 2, FirstStuck: &StuckCall{Method: MethodTasksGet, ID: "0123456789abcdef", ElapsedMs: 2001}}}}, cadvisorUnresponsive,
			&Finding{CodeCadvisorSocketUnresponsive, "cAdvisor dials /run/containerd/containerd.sock (another containerd, 1.6.20: Tasks/Get for container 0123456789abcdef stuck 2.001s, 2 stuck calls in all); kubelet uses " + kube +
				": cAdvisor's calls there hang"}},
		{"untold daemon frozen mid-sweep", cadvisorProbe{info: CadvisorSocketInfo{Path: "/a",
			Sweep: &CadvisorSweep{Containers: 3, Swept: 1, Frozen: "Version did not answer in 2s"}}}, cadvisorUnresponsive,
			&Finding{CodeCadvisorSocketUnresponsive, "cAdvisor dials /a (a containerd not told apart from the kubelet's: Version did not answer in 2s); kubelet uses " + kube +
				": cAdvisor's calls there hang"}},
		{"missing", cadvisorProbe{info: CadvisorSocketInfo{Path: DefaultCadvisorSocket}, outcome: cadvisorMissing, problem: "missing"}, cadvisorMissing,
			&Finding{CodeCadvisorSocketMissing, "cAdvisor dials /run/containerd/containerd.sock (missing); kubelet uses " + kube + ": cAdvisor has no containerd view, container metrics lack image/name labels"}},
		{"refused", cadvisorProbe{info: CadvisorSocketInfo{Path: "/a"}, outcome: cadvisorUnreachable, problem: "connection refused on /a: stale socket, no containerd listening"}, cadvisorUnreachable,
			&Finding{CodeCadvisorSocketUnreachable, "cAdvisor dials /a (connection refused on /a: stale socket, no containerd listening); kubelet uses " + kube + ": cAdvisor has no containerd view, container metrics lack image/name labels"}},
		{"frozen", cadvisorProbe{info: CadvisorSocketInfo{Path: "/a"}, outcome: cadvisorUnresponsive, problem: "no Version in 2s"}, cadvisorUnresponsive,
			&Finding{CodeCadvisorSocketUnresponsive, "cAdvisor dials /a (no Version in 2s); kubelet uses " + kube + ": cAdvisor's calls there can hang"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oc, f := cadvisorFinding(tc.c, kube)
			if oc != tc.want {
				t.Errorf("outcome %d, want %d", oc, tc.want)
			}
			if diff := cmp.Diff(tc.f, f); diff != "" {
				t.Errorf("finding (-want +got):\n%s", diff)
			}
		})
	}
}
