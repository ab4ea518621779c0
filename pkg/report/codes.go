package report

import "github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"

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

// Explain returns the glossary entry for code.
func Explain(code nodeexec.Code) (CodeInfo, bool) {
	info, ok := glossary[code]
	return info, ok
}
