package report

import (
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/advisory"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
)

// CodeInfo is one glossary entry: what a finding code means and what
// on-call should do next. docs/runbook.md repeats these in prose.
type CodeInfo struct {
	Summary  string
	NextStep string
}

// glossary is the one place every finding code is described. Codes are
// stable: add new ones, never rename or reuse one.
var glossary = map[nodeexec.Code]CodeInfo{
	nodeexec.CodeSandboxTimeout: {
		"the kubelet could not create the probe pod's sandbox before its runtime request deadline: containerd is not answering",
		"check containerd on the node (systemctl status containerd, its process state in ps); capture a goroutine dump (kill -USR1) before restarting it",
	},
	nodeexec.CodeRuntimeDown: {
		"the node reports Ready=False because the container runtime is down or PLEG is not healthy",
		"check containerd on the node; expect cAdvisor metrics for the node to be stale",
	},
	nodeexec.CodeRuntimeCallTimeout: {
		"creating or starting the probe container hit a deadline inside the runtime",
		"check containerd and its shims on the node (process states, D state)",
	},
	nodeexec.CodeSocketDirMissing: {
		"the directory of the containerd socket does not exist on the node",
		"check --socket (k3s/RKE2 use /run/k3s/containerd/containerd.sock) and whether containerd runs",
	},
	nodeexec.CodeImagePull: {
		"the probe image could not be pulled on the node: a problem of the run, not of the node",
		"pass --image with a reachable image, --image-pull-secret, or pre-load the image on the nodes",
	},
	nodeexec.CodeNodeNotPosting: {
		"the kubelet stopped posting node status: the node cannot be checked through a pod",
		"check the kubelet and the node's network; the runtime's state is unknown",
	},
	nodeexec.CodeNodeNotReady: {
		"the node is not ready for a reason other than the runtime",
		"read the node's conditions (kubectl describe node) and rerun when it is Ready",
	},
	nodeexec.CodeNodeGone: {
		"the node object was deleted during the run",
		"nothing to do for the node; rerun to check the remaining ones",
	},
	nodeexec.CodePodRejected: {
		"the API server refused the probe pod (PodSecurity, quota, RBAC or a webhook): a problem of the run, not of the node",
		"use a namespace labeled pod-security.kubernetes.io/enforce=privileged, or fix the quota/permission named in the reason",
	},
	nodeexec.CodePodFailed: {
		"the kubelet failed the probe pod without a result (node admission, eviction, start error)",
		"read the reason; kubectl describe the pod if it still exists",
	},
	nodeexec.CodePodDeleted: {
		"the probe pod was deleted by someone else before it finished",
		"rerun the check",
	},
	nodeexec.CodePodStartTimeout: {
		"the probe pod did not finish within --node-timeout and no event or condition says why",
		"rerun with a --node-timeout above the kubelet's runtimeRequestTimeout (default 2m) to let the kubelet's own evidence appear",
	},
	nodeexec.CodeRunTimeout: {
		"the run's --timeout ran out before this node finished",
		"rerun for the nodes left, or raise --timeout / --concurrency",
	},
	nodeexec.CodeNoResult: {
		"the probe container ended without a valid result in its termination message or log",
		"check that --image is a cadvisor-doctor probe image of a compatible version",
	},
	nodeexec.CodeResultFromLog: {
		"the result was read from the container log because the termination message was unusable",
		"none; the verdict stands",
	},
	nodeexec.CodeRunFailed: {
		"the run could not check this node because of an API error",
		"read the reason; check the API server and your permissions",
	},
}

// kubeletGlossary describes the codes of the kubelet's live evidence
// (KubeletCodes, pkg/report/kubelet.go).
var kubeletGlossary = map[nodeexec.Code]CodeInfo{
	CodeCAdvisorStalled: {
		"the kubelet's goroutine dump shows cAdvisor blocked in a containerd call (count, longest wait and call in the reason) for longer than the call should ever take: cAdvisor is stalled now, new containers get no metrics",
		"capture the dump first (kubectl get --raw /api/v1/nodes/NODE/proxy/debug/pprof/goroutine?debug=2), then check containerd and the containers' shims; restarting the kubelet drops the stuck client",
	},
	CodeCAdvisorCallInFlight: {
		"a containerd call was in flight in the kubelet's goroutine dump, and the run ended before a second dump could tell whether it is stuck",
		"rerun with a longer --timeout, or take two dumps a few seconds apart",
	},
	CodeCAdvisorMissingContainers: {
		"containers the kubelet reports running have no series in /metrics/cadvisor: cAdvisor did not discover them",
		"corroborates a stall when the goroutine dump shows one; otherwise rerun (a container may have started just now)",
	},
	CodeCAdvisorScrapeError: {
		"/metrics/cadvisor reports container_scrape_error 1: cAdvisor failed to collect container metrics",
		"read the kubelet's log for cAdvisor errors; check containerd",
	},
	CodeKubeletEvidenceUnreadable: {
		"a kubelet answer read through the node proxy did not parse",
		"read the path by hand (kubectl get --raw /api/v1/nodes/NODE/proxy/PATH) and file a bug with it",
	},
	kubeletevidence.UnavailableForbidden: {
		"reading the kubelet through the node proxy is forbidden: the live stall evidence was skipped",
		"grant get on nodes/proxy (optional role in docs/rbac.yaml; its risk in docs/kubelet-evidence.md), or rely on the probe",
	},
	kubeletevidence.UnavailableDebugHandlersOff: {
		"the kubelet runs with enableDebuggingHandlers=false: no goroutine dump, no configz",
		"rely on the probe and the metrics; to see a stall, the node's kubelet must serve /debug/pprof",
	},
	kubeletevidence.UnavailableProfilingOff: {
		"the kubelet runs with enableProfilingHandler=false: no goroutine dump",
		"rely on the probe and the metrics; or send the kubelet SIGQUIT on the node (it dies printing its stacks)",
	},
	kubeletevidence.UnavailableKubeletUnreachable: {
		"the API server could not reach the node's kubelet",
		"check the kubelet and the node's network; the node's conditions and the probe decide",
	},
	kubeletevidence.UnavailableTimeout: {
		"the kubelet did not answer a node-proxy request within its deadline",
		"a kubelet whose /stats/summary hangs may hold a stuck cAdvisor lock (kubelet <= 1.35): capture the dump, check containerd",
	},
	kubeletevidence.UnavailableError: {
		"a node-proxy request to the kubelet failed",
		"read the reason; retry by hand with kubectl get --raw",
	},
	CodeCAdvisorNotRegistered: {
		"the container series in /metrics/cadvisor carry no image/name labels: the kubelet's cAdvisor has no containerd view (its containerd factory registers once, when the kubelet starts, on /run/containerd/containerd.sock)",
		"read the CADVISOR_SOCKET_* finding of the probe for why; once cAdvisor's socket answers, restart the kubelet so that cAdvisor registers again (the kubelet logs 'Registration of the containerd container factory failed' at start)",
	},
	CodeProbedOtherSocket: {
		"the probe checked a socket (--socket) other than the one the kubelet's /configz names: its verdict is about that path, not about the runtime the kubelet uses",
		"rerun without --socket: check then probes each kubelet's own socket",
	},
	CodeKubeletCRIStuck: {
		"the kubelet's goroutine dumps show its CRI reads (ListPodSandbox, ListContainers, ...) blocked in containerd past the stall threshold: the runtime does not answer, though the node may not say so until the kubelet's runtimeRequestTimeout (2m by default) has passed",
		"treat the node as Unresponsive: check containerd's process state (D or T in ps), capture its goroutine dump (kill -USR1) before restarting it",
	},
	advisory.CodeCAdvisorReadersBlock: {
		"this kubelet's cAdvisor holds its containers lock during containerd calls: one stuck call also blocks /metrics/cadvisor and /stats/summary",
		"upgrade the kubelet (1.36+); meanwhile watch for stalls",
	},
}

// probeGlossary describes the probe's own finding codes (pkg/checks),
// which the probe pod reports in its result's findings[].
var probeGlossary = map[nodeexec.Code]CodeInfo{
	checks.CodeCadvisorSocketMissing: {
		"nothing is at the socket cAdvisor dials (/run/containerd/containerd.sock) while the kubelet uses another one: the kubelet's cAdvisor has no containerd view, its container metrics lack image/name labels; the stall verdict is unchanged",
		"serve containerd on /run/containerd/containerd.sock too (a symlink to the kubelet's socket, made before the kubelet starts), then restart the kubelet; or accept metrics without image/name labels",
	},
	checks.CodeCadvisorSocketUnreachable: {
		"the socket cAdvisor dials exists but refuses connections, is not a socket, is not permitted, or its Version answers an error: cAdvisor has no containerd view there",
		"find what owns the path (ls -l, ss -xlp); a stale socket of a stopped daemon is removed by whoever owns it, then restart the kubelet",
	},
	checks.CodeCadvisorSocketUnresponsive: {
		"the daemon on the socket cAdvisor dials accepts connections but does not answer, or hangs cAdvisor's own calls (Containers/Get, Tasks/Get): the kubelet's cAdvisor blocks there",
		"treat it as a hung containerd (runbook: Unresponsive / AtRisk) on that socket: capture its goroutine dump (kill -USR1 its pid) and check its shims",
	},
	checks.CodeCadvisorSocketOtherDaemon: {
		"a containerd answers on the socket cAdvisor dials but it is not the kubelet's (another UUID or pid): cAdvisor reads, and can hang on, a daemon Kubernetes does not use, and sees none of the kubelet's containers",
		"find the other daemon (the pid in the reason; often left by a Docker install); stop it or point the kubelet's runtime at it, then restart the kubelet",
	},
}

// ProbeCodes lists the probe's finding codes; each has a glossary entry.
func ProbeCodes() []nodeexec.Code {
	return []nodeexec.Code{checks.CodeCadvisorSocketMissing, checks.CodeCadvisorSocketUnreachable,
		checks.CodeCadvisorSocketUnresponsive, checks.CodeCadvisorSocketOtherDaemon}
}

// Explain returns the glossary entry for code.
func Explain(code nodeexec.Code) (CodeInfo, bool) {
	for _, g := range []map[nodeexec.Code]CodeInfo{glossary, kubeletGlossary, probeGlossary} {
		if info, ok := g[code]; ok {
			return info, true
		}
	}
	return CodeInfo{}, false
}
