package kubeletevidence

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Kubelet paths read through /api/v1/nodes/NODE/proxy/ (see
// docs/kubelet-evidence.md). With client-go:
// RESTClient().Get().Resource("nodes").Name(node).SubResource("proxy").Suffix(PathGoroutines).Param("debug", "2").
const (
	PathGoroutines      = "debug/pprof/goroutine" // with ?debug=2
	PathCAdvisorMetrics = "metrics/cadvisor"
	PathConfigz         = "configz"
	PathStatsSummary    = "stats/summary"
)

// Codes for evidence that could not be read. Stable: they end up in findings.
const (
	UnavailableForbidden          = "KUBELET_EVIDENCE_FORBIDDEN"
	UnavailableDebugHandlersOff   = "KUBELET_DEBUG_HANDLERS_OFF"
	UnavailableProfilingOff       = "KUBELET_PROFILING_OFF"
	UnavailableKubeletUnreachable = "KUBELET_UNREACHABLE"
	UnavailableTimeout            = "KUBELET_EVIDENCE_TIMEOUT"
	UnavailableError              = "KUBELET_EVIDENCE_ERROR"
	// UnavailableInterrupted: the run itself was interrupted (Ctrl-C,
	// SIGTERM) before the kubelet answered: nothing about the node.
	UnavailableInterrupted = "RUN_INTERRUPTED"
)

// Unavailable says why one piece of kubelet evidence is missing.
type Unavailable struct {
	Path   string `json:"path"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// ClassifyProxyError turns the error of a node-proxy GET (as client-go
// returns it) into a finding. The kubelet's own text answers arrive in the
// StatusError's causes: "Debug endpoints are disabled." (405, debugging
// handlers off), "profiling endpoint is disabled." (405); /configz is not
// installed at all without debugging handlers (404).
func ClassifyProxyError(path string, err error) Unavailable {
	u := Unavailable{Path: path, Code: UnavailableError}
	if err == nil {
		u.Reason = "no error"
		return u
	}
	if errors.Is(err, context.Canceled) {
		u.Code, u.Reason = UnavailableInterrupted, fmt.Sprintf("the run was interrupted before kubelet %s answered", path)
		return u
	}
	if errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) {
		u.Code, u.Reason = UnavailableTimeout, fmt.Sprintf("kubelet %s did not answer in time: %v", path, err)
		return u
	}
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		u.Reason = fmt.Sprintf("read kubelet %s: %v", path, err)
		return u
	}
	text := se.ErrStatus.Message
	if d := se.ErrStatus.Details; d != nil {
		for _, c := range d.Causes {
			text += " " + c.Message
		}
	}
	switch code := se.ErrStatus.Code; {
	case code == http.StatusForbidden || code == http.StatusUnauthorized:
		u.Code = UnavailableForbidden
		u.Reason = fmt.Sprintf("kubelet %s not readable: %s (needs get on nodes/proxy, see docs/kubelet-evidence.md)", path, se.ErrStatus.Message)
	case strings.Contains(text, "Debug endpoints are disabled"),
		code == http.StatusNotFound && path == PathConfigz:
		u.Code = UnavailableDebugHandlersOff
		u.Reason = fmt.Sprintf("kubelet %s unavailable: the kubelet runs with enableDebuggingHandlers=false", path)
	case strings.Contains(text, "profiling endpoint is disabled"):
		u.Code = UnavailableProfilingOff
		u.Reason = fmt.Sprintf("kubelet %s unavailable: the kubelet runs with enableProfilingHandler=false", path)
	case code == http.StatusBadGateway || code == http.StatusServiceUnavailable,
		// The API server has no address of the node to dial (kubelet never
		// registered one, or the node's addresses match no
		// --kubelet-preferred-address-types): it cannot reach the kubelet.
		strings.Contains(text, "no preferred addresses found"):
		u.Code = UnavailableKubeletUnreachable
		u.Reason = fmt.Sprintf("the API server could not reach the kubelet for %s: %s", path, strings.TrimSpace(text))
	default:
		u.Reason = fmt.Sprintf("kubelet %s: HTTP %d: %s", path, code, strings.TrimSpace(text))
	}
	return u
}
