package report

import (
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/advisory"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
)

// Finding codes of the kubelet's live evidence (issue 7), read through the
// node proxy without a pod. Stable like nodeexec's codes. Evidence that
// could not be read keeps kubeletevidence's codes (KUBELET_EVIDENCE_FORBIDDEN,
// KUBELET_DEBUG_HANDLERS_OFF, ...), and version advisories keep
// pkg/advisory's (CADVISOR_READERS_BLOCK, CONTAINERD_..._DEADLOCK).
const (
	// CodeCAdvisorStalled: the kubelet's goroutine dump shows cAdvisor (or
	// a containerd client) blocked in a containerd call for longer than
	// the call should ever take.
	CodeCAdvisorStalled nodeexec.Code = "CAdvisorStalled"
	// CodeCAdvisorCallInFlight: a containerd call was in flight but the run
	// could not tell whether it is stuck (no second dump in time).
	CodeCAdvisorCallInFlight nodeexec.Code = "CAdvisorCallInFlight"
	// CodeCAdvisorMissingContainers: containers the kubelet reports running
	// have no series in /metrics/cadvisor (cAdvisor's discovery is stuck).
	CodeCAdvisorMissingContainers nodeexec.Code = "CAdvisorMissingContainers"
	// CodeCAdvisorScrapeError: container_scrape_error is 1.
	CodeCAdvisorScrapeError nodeexec.Code = "CAdvisorScrapeError"
	// CodeKubeletEvidenceUnreadable: a kubelet answer did not parse.
	CodeKubeletEvidenceUnreadable nodeexec.Code = "KubeletEvidenceUnreadable"
	// CodeCAdvisorNotRegistered: /metrics/cadvisor has container series,
	// none with the image/name labels of cAdvisor's containerd handler: its
	// containerd factory did not register when the kubelet started (issue 8).
	CodeCAdvisorNotRegistered nodeexec.Code = "CAdvisorNotRegistered"
	// CodeKubeletCRIStuck: the kubelet's own CRI reads (ListPodSandbox,
	// ListContainers, ...) are blocked in containerd past the threshold.
	CodeKubeletCRIStuck nodeexec.Code = "KubeletCRIStuck"
	// CodeProbedOtherSocket: the probe checked another socket than the one
	// the kubelet's /configz names (a --socket given by hand).
	CodeProbedOtherSocket nodeexec.Code = "ProbedOtherSocket"
)

// KubeletCodes lists the codes above and the kubeletevidence codes that
// findings carry; each has a glossary entry.
func KubeletCodes() []nodeexec.Code {
	return []nodeexec.Code{
		CodeCAdvisorStalled, CodeCAdvisorCallInFlight, CodeCAdvisorMissingContainers,
		CodeCAdvisorScrapeError, CodeKubeletEvidenceUnreadable, CodeCAdvisorNotRegistered, CodeKubeletCRIStuck, CodeProbedOtherSocket,
		kubeletevidence.UnavailableForbidden, kubeletevidence.UnavailableDebugHandlersOff,
		kubeletevidence.UnavailableProfilingOff, kubeletevidence.UnavailableKubeletUnreachable,
		kubeletevidence.UnavailableTimeout, kubeletevidence.UnavailableError,
		advisory.CodeCAdvisorReadersBlock,
	}
}

// KubeletEvidence is what the node's kubelet showed through the API
// server's node proxy (docs/kubelet-evidence.md). It is the JSON of
// items[].kubelet.
type KubeletEvidence struct {
	// Stalled: the goroutine dumps prove a stuck containerd call.
	Stalled bool   `json:"stalled"`
	Reason  string `json:"reason"`
	// Dumps is how many goroutine dumps were read (a second one decides
	// when the first shows calls in flight without a wait annotation).
	Dumps      int                         `json:"dumps"`
	Goroutines *kubeletevidence.Assessment `json:"goroutines,omitempty"`
	Metrics    *MetricsEvidence            `json:"metrics,omitempty"`
	Summary    *SummaryEvidence            `json:"summary,omitempty"`
	// RuntimeEndpoint is the kubelet's containerRuntimeEndpoint (/configz).
	RuntimeEndpoint string                        `json:"runtimeEndpoint,omitempty"`
	Advisories      []advisory.Advisory           `json:"advisories,omitempty"`
	Unavailable     []kubeletevidence.Unavailable `json:"unavailable,omitempty"`
}

// MetricsEvidence is what /metrics/cadvisor said.
type MetricsEvidence struct {
	ScrapeError    float64                      `json:"scrapeError"`
	HasScrapeError bool                         `json:"hasScrapeError"`
	Cgroups        int                          `json:"cgroups"`
	Registration   kubeletevidence.Registration `json:"registration"`
	Coverage       *kubeletevidence.Coverage    `json:"coverage,omitempty"`
	Truncated      bool                         `json:"truncated,omitempty"`
	LatencyMs      int64                        `json:"latencyMs"`
}

// SummaryEvidence says whether /stats/summary answered within its deadline.
type SummaryEvidence struct {
	Answered  bool  `json:"answered"`
	LatencyMs int64 `json:"latencyMs"`
}
