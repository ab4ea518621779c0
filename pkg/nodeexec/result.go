package nodeexec

import (
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// Code is a stable identifier for what nodeexec concluded about a node
// when the probe's own result is missing or needs context. The strings are
// part of the report's JSON contract (findings[].code): never rename one.
// pkg/report holds the glossary (what each means, what to do next).
type Code string

const (
	// CodeSandboxTimeout: the kubelet reported FailedCreatePodSandBox with a
	// deadline error: the runtime did not answer RunPodSandbox.
	CodeSandboxTimeout Code = "SandboxTimeout"
	// CodeRuntimeDown: the node's Ready condition says the container runtime
	// is down or PLEG is not healthy.
	CodeRuntimeDown Code = "RuntimeDown"
	// CodeRuntimeCallTimeout: creating or starting our container hit a
	// deadline in the runtime (CreateContainerError with a deadline error).
	CodeRuntimeCallTimeout Code = "RuntimeCallTimeout"
	// CodeSocketDirMissing: the hostPath of the socket's directory failed
	// its type check: the directory does not exist on the node.
	CodeSocketDirMissing Code = "SocketDirMissing"
	// CodeImagePull: the probe image could not be pulled: our problem, not
	// the node's.
	CodeImagePull Code = "ImagePull"
	// CodeNodeNotPosting: the kubelet stopped posting node status.
	CodeNodeNotPosting Code = "NodeNotPosting"
	// CodeNodeNotReady: Ready=False for a reason other than the runtime.
	CodeNodeNotReady Code = "NodeNotReady"
	// CodeNodeGone: the node object disappeared during the run.
	CodeNodeGone Code = "NodeGone"
	// CodePodRejected: the API server refused the pod (PodSecurity, quota,
	// RBAC, a webhook): our problem, not the node's.
	CodePodRejected Code = "PodRejected"
	// CodePodFailed: the kubelet refused or failed the pod without a probe
	// result (admission on the node, eviction, a start error).
	CodePodFailed Code = "PodFailed"
	// CodePodDeleted: someone else deleted the pod before it finished.
	CodePodDeleted Code = "PodDeleted"
	// CodePodStartTimeout: the pod did not finish within --node-timeout and
	// nothing else explains why.
	CodePodStartTimeout Code = "PodStartTimeout"
	// CodeRunTimeout: the whole run's --timeout ran out before this node
	// finished.
	CodeRunTimeout Code = "RunTimeout"
	// CodeNoResult: the probe container ended without a valid result in its
	// termination message or log.
	CodeNoResult Code = "NoResult"
	// CodeResultFromLog: the result came from the container log because the
	// termination message was unusable (informational).
	CodeResultFromLog Code = "ResultFromLog"
	// CodeRunFailed: the run itself failed for this node (an API error we
	// could not attribute to the node).
	CodeRunFailed Code = "RunFailed"
)

// Codes lists every Code nodeexec can produce; pkg/report's tests check
// that each has a glossary entry.
func Codes() []Code {
	return []Code{
		CodeSandboxTimeout, CodeRuntimeDown, CodeRuntimeCallTimeout, CodeSocketDirMissing,
		CodeImagePull, CodeNodeNotPosting, CodeNodeNotReady, CodeNodeGone,
		CodePodRejected, CodePodFailed, CodePodDeleted, CodePodStartTimeout,
		CodeRunTimeout, CodeNoResult, CodeResultFromLog, CodeRunFailed,
	}
}

// Evidence is one observation behind a verdict that nodeexec reached
// without (or in addition to) the probe's result.
type Evidence struct {
	// Source is where it was seen: "event", "pod", "node" or "kubelet" (its
	// goroutine dumps, read through the node proxy).
	Source string `json:"source"`
	// Reason is the API's reason (event reason, waiting reason, condition).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Count is the event's count, when Source is "event".
	Count int32 `json:"count,omitempty"`
}

// Classification is nodeexec's verdict for a node whose pod did not deliver
// a result. Verdict uses the probe's vocabulary so that the report treats
// both the same way.
type Classification struct {
	Verdict  checks.Verdict `json:"verdict"`
	Code     Code           `json:"code"`
	Reason   string         `json:"reason"`
	Evidence []Evidence     `json:"evidence,omitempty"`
}

// Source values for NodeResult.Source.
const (
	SourceTerminationMessage = "terminationMessage"
	SourceLog                = "log"
)

// NodeResult is what one node produced in a run: exactly one per node of
// the plan, skipped nodes included.
type NodeResult struct {
	Node string
	// SkipReason is set when the plan left the node out.
	SkipReason string
	// Result is the probe's result, when the pod delivered a valid one.
	Result *checks.Result
	// Source says where Result came from (SourceTerminationMessage or SourceLog).
	Source string
	// Classification is set when there is no Result, and explains why.
	Classification *Classification
	// Pod is the name of the pod run on the node, if one was created.
	Pod string
	// DurationMs is the time from pod creation to the node's outcome.
	DurationMs int64
}
