// Package scale measures a whole `check` run at cluster scale: a real etcd
// and kube-apiserver, N Node objects, a simulated kubelet that moves the
// run's pods through their lifecycle, and the plugin binary as a
// subprocess. It reports wall time, API requests per node (from the API
// server's audit log, by user), the plugin's peak RSS and how many nodes
// got the verdict the simulation made them.
package scale

import (
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

// Kind is what the simulation makes of one node.
type Kind string

// The node kinds, with the verdict check must report for each.
const (
	// Finish: the pod starts and the probe writes Result to its
	// termination message after Start+Probe.
	Finish Kind = "finish"
	// SlowFinish: as Finish, with a probe that takes a large part of the
	// node budget.
	SlowFinish Kind = "slow-finish"
	// SandboxTimeout: ContainerCreating for ever, with a
	// FailedCreatePodSandBox event carrying a deadline error: Unresponsive.
	SandboxTimeout Kind = "sandbox-timeout"
	// ImagePull: ImagePullBackOff: Inconclusive, at once.
	ImagePull Kind = "image-pull"
	// RuntimeDown: node Ready=False "container runtime is down", the
	// kubelet never syncs the pod: Unresponsive.
	RuntimeDown Kind = "runtime-down"
	// NotPosting: node Ready=Unknown, nothing touches the pod: Inconclusive.
	NotPosting Kind = "not-posting"
	// Windows and Docker nodes are Skipped before any pod exists.
	Windows Kind = "windows"
	Docker  Kind = "docker"
)

// NodeSpec is one simulated node and what check must say about it.
type NodeSpec struct {
	Name string
	Kind Kind
	// Verdict is the probe's verdict (Finish, SlowFinish).
	Verdict checks.Verdict
	// Start is how long the kubelet takes from seeing the pod to a running
	// container; Probe how long the probe then runs.
	Start, Probe time.Duration
	// Want is the verdict the report must show.
	Want report.Verdict
}

// Scenario builds n node specs, deterministic for a seed. The mix (per
// 100 nodes): 3 Windows, 3 Docker, 4 runtime down, 2 not posting, 5
// sandbox timeouts, 1 image pull failure, 10 slow probes, and the rest
// fast probes whose verdicts are 70% Healthy, 10% Slow, 10% AtRisk, 5%
// Unresponsive and 5% Unreachable. Start and probe delays are drawn from
// ranges scaled to nodeTimeout, so a slow probe still ends within budget.
func Scenario(n int, seed uint64, nodeTimeout time.Duration) []NodeSpec {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)) }
	specs := make([]NodeSpec, n)
	for i := range specs {
		s := NodeSpec{Name: fmt.Sprintf("node-%05d", i)}
		switch p := rng.IntN(100); {
		case p < 3:
			s.Kind, s.Want = Windows, report.Skipped
		case p < 6:
			s.Kind, s.Want = Docker, report.Skipped
		case p < 10:
			s.Kind, s.Want = RuntimeDown, report.Unresponsive
		case p < 12:
			s.Kind, s.Want = NotPosting, report.Inconclusive
		case p < 17:
			s.Kind, s.Want = SandboxTimeout, report.Unresponsive
		case p < 18:
			s.Kind, s.Want = ImagePull, report.Inconclusive
		case p < 28:
			s.Kind = SlowFinish
			s.Verdict = []checks.Verdict{checks.Healthy, checks.Slow}[rng.IntN(2)]
			s.Start = between(500*time.Millisecond, 3*time.Second)
			// Up to half the budget: the slowest still ends well inside it
			// on a loaded machine.
			s.Probe = between(nodeTimeout/5, nodeTimeout/2)
		default:
			s.Kind = Finish
			switch q := rng.IntN(100); {
			case q < 70:
				s.Verdict = checks.Healthy
			case q < 80:
				s.Verdict = checks.Slow
			case q < 90:
				s.Verdict = checks.AtRisk
			case q < 95:
				s.Verdict = checks.Unresponsive
			default:
				s.Verdict = checks.Unreachable
			}
			s.Start = between(300*time.Millisecond, 2*time.Second)
			s.Probe = between(200*time.Millisecond, 2500*time.Millisecond)
		}
		if s.Want == "" {
			s.Want = report.Verdict(s.Verdict)
		}
		specs[i] = s
	}
	return specs
}

// Node is the Node object of a spec, with the status its kubelet posts.
func (s NodeSpec) Node() *corev1.Node {
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
	info := corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64", ContainerRuntimeVersion: "containerd://1.6.20", KubeletVersion: "v1.37.2"}
	labels := map[string]string{corev1.LabelOSStable: "linux", corev1.LabelHostname: s.Name}
	switch s.Kind {
	case Windows:
		labels[corev1.LabelOSStable], info.OperatingSystem, info.ContainerRuntimeVersion = "windows", "windows", "containerd://1.7.0"
	case Docker:
		info.ContainerRuntimeVersion = "docker://24.0.7"
	case RuntimeDown:
		ready.Status, ready.Reason = corev1.ConditionFalse, "KubeletNotReady"
		ready.Message = "container runtime is down, PLEG is not healthy: pleg was last seen active 3m0s ago"
	case NotPosting:
		ready.Status, ready.Reason, ready.Message = corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status."
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: labels},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{ready}, NodeInfo: info},
	}
}

// Result is the synthetic probe result of a Finish or SlowFinish node:
// valid for the plugin's decoder, with a reason and call statistics that
// match the verdict.
func (s NodeSpec) Result() checks.Result {
	reasons := map[checks.Verdict]string{
		checks.Healthy:      "every call answered within its deadline",
		checks.Slow:         "Tasks/Get p99 1.4s (slow above 1s)",
		checks.AtRisk:       "Tasks/Get on 3 containers hit the 2s deadline: cAdvisor would block on them",
		checks.Unresponsive: "Version did not answer within 2s",
		checks.Unreachable:  "connect /run/containerd/containerd.sock: connection refused",
	}
	r := checks.Result{APIVersion: checks.APIVersion, Kind: checks.Kind, Node: s.Name, Verdict: s.Verdict,
		Reason:     reasons[s.Verdict],
		Socket:     checks.SocketInfo{Path: "/run/containerd/containerd.sock", HostRoot: "/host", Exists: true, Type: "socket", Mode: "0660"},
		Containerd: checks.ContainerdInfo{Version: "1.6.20"}, Namespace: "k8s.io",
		Containers: 40, SweptContainers: 40, DurationMs: s.Probe.Milliseconds(),
	}
	return r
}
