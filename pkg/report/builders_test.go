package report

import (
	"time"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
)

// probeResult builds a valid probe result with realistic defaults; options
// change one thing each.
func probeResult(node string, v checks.Verdict, reason string, opts ...func(*checks.Result)) *checks.Result {
	r := &checks.Result{
		APIVersion: checks.APIVersion, Kind: checks.Kind, Node: node, Verdict: v, Reason: reason,
		Socket:     checks.SocketInfo{Path: "/run/containerd/containerd.sock", Exists: true, Type: "socket", ConnectMs: 0.2},
		Containerd: checks.ContainerdInfo{Version: "1.6.20", VersionMs: 1.3},
		Namespace:  "k8s.io", Containers: 7,
		Calls: []checks.CallStats{
			{Method: methodContainersGet, Count: 7, OK: 7, P50Ms: 0.8, P99Ms: 1.9, MaxMs: 1.9},
			{Method: methodTasksGet, Count: 7, OK: 7, P50Ms: 1.1, P99Ms: 2.4, MaxMs: 2.4},
		},
		Stuck:      []checks.StuckCall{},
		Checks:     []checks.CheckResult{{Name: "socket", Status: checks.StatusOK, DurationMs: 0.2}},
		DurationMs: 41,
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func withStuck(ids ...string) func(*checks.Result) {
	return func(r *checks.Result) {
		for _, id := range ids {
			r.Stuck = append(r.Stuck, checks.StuckCall{Method: methodTasksGet, ID: id, ElapsedMs: 2000, Error: "context deadline exceeded"})
		}
		r.Calls[1].Timeouts, r.Calls[1].P99Ms, r.Calls[1].MaxMs = len(ids), 2001, 2003
	}
}

func ok(node string, r *checks.Result) nodeexec.NodeResult {
	return nodeexec.NodeResult{Node: node, Result: r, Source: nodeexec.SourceTerminationMessage, Pod: "cadvisor-doctor-" + node + "-x1", DurationMs: 1830}
}

// fixture is a run over five nodes, one per kind of outcome.
func fixture() *Report {
	results := []nodeexec.NodeResult{
		ok("node-1", probeResult("node-1", checks.Healthy, "all calls answered under 100ms")),
		{Node: "node-2", Pod: "cadvisor-doctor-node-2-x1", DurationMs: 45000, Classification: &nodeexec.Classification{
			Verdict: checks.Unresponsive, Code: nodeexec.CodeSandboxTimeout,
			Reason: "the runtime did not create the pod sandbox: FailedCreatePodSandBox: context deadline exceeded",
			Evidence: []nodeexec.Evidence{
				{Source: "event", Reason: "FailedCreatePodSandBox", Count: 1, Message: "Failed to create pod sandbox: rpc error: code = DeadlineExceeded desc = context deadline exceeded"},
				{Source: "node", Reason: "KubeletNotReady", Message: "Ready=False: container runtime is down"},
			},
		}},
		ok("node-3", probeResult("node-3", checks.AtRisk, "Tasks/Get of 2 containers hit 2s: 3f2a1b, 9c8d7e", withStuck("3f2a1b", "9c8d7e"))),
		{Node: "node-4", Pod: "cadvisor-doctor-node-4-x1", DurationMs: 30000, Classification: &nodeexec.Classification{
			Verdict: checks.Inconclusive, Code: nodeexec.CodeImagePull,
			Reason:   `probe image "registry.invalid/probe:v0" could not be pulled: ErrImagePull`,
			Evidence: []nodeexec.Evidence{{Source: "pod", Reason: "ErrImagePull", Message: "pull access denied | not found"}},
		}},
		{Node: "win-1", SkipReason: "Windows node"},
		{
			Node: "node-5", Source: nodeexec.SourceLog, Pod: "cadvisor-doctor-node-5-x1", DurationMs: 2400,
			Result: probeResult("node-5", checks.Slow, "Containers/Get p99 412ms above --slow 100ms", func(r *checks.Result) { r.Calls[0].P99Ms = 412.4 }),
		},
	}
	return Build(time.Date(2026, 12, 3, 23, 10, 0, 0, time.UTC), "r7x2k", results)
}
