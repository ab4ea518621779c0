package stall

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/advisory"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

func TestApply(t *testing.T) {
	stalled := &report.KubeletEvidence{Stalled: true, Reason: "1 goroutine(s) blocked in containerd calls, longest >= 6s in cAdvisor TaskPid"}
	calm := &report.KubeletEvidence{Reason: "no goroutine blocked in a containerd call", Goroutines: &kubeletevidence.Assessment{}}
	criStuck := &report.KubeletEvidence{Reason: "no goroutine blocked in a containerd call; ...", Goroutines: &kubeletevidence.Assessment{
		CRIBlocked: 3, CRIStuck: 1, CRIStuckWait: 6 * time.Second,
		CRIStuckCall: &kubeletevidence.BlockedCall{Kind: kubeletevidence.KindCRI, GRPCMethod: "/runtime.v1.RuntimeService/ListPodSandbox"}}}
	probe := func(v report.Verdict) report.Item {
		return report.Item{Node: "n", Verdict: v, Reason: "probe says", Result: &checks.Result{Verdict: checks.Verdict(v)}}
	}
	podless := func(v report.Verdict) report.Item { return report.Item{Node: "n", Verdict: v, Reason: "pod timed out"} }
	tests := []struct {
		name        string
		item        report.Item
		ev          *report.KubeletEvidence
		wantVerdict report.Verdict
		wantReason  string
	}{
		{"healthy probe, stalled kubelet", probe(report.Healthy), stalled, report.Stalled, "kubelet's cAdvisor stalled: 1 goroutine(s) blocked in containerd calls, longest >= 6s in cAdvisor TaskPid (was probe Healthy: probe says)"},
		{"at risk probe, stalled kubelet", probe(report.AtRisk), stalled, report.Stalled, ""},
		{"pod-less inconclusive", podless(report.Inconclusive), stalled, report.Stalled, "kubelet's cAdvisor stalled: 1 goroutine(s) blocked in containerd calls, longest >= 6s in cAdvisor TaskPid (was Inconclusive: pod timed out)"},
		{"pod-less unresponsive (sandbox timeout, runtime down) keeps its verdict", podless(report.Unresponsive), stalled, report.Unresponsive, "pod timed out"},
		{"probe unresponsive keeps its verdict", probe(report.Unresponsive), stalled, report.Unresponsive, "probe says"},
		{"skipped stays skipped", report.Item{Node: "n", Verdict: report.Skipped, Reason: "windows"}, stalled, report.Skipped, "windows"},
		{"not stalled changes nothing", probe(report.Healthy), calm, report.Healthy, "probe says"},
		{"no evidence changes nothing", probe(report.AtRisk), nil, report.AtRisk, "probe says"},
		{"pod-less inconclusive, the kubelet's CRI reads stuck", podless(report.Inconclusive), criStuck, report.Unresponsive,
			"kubelet: the kubelet's CRI calls to containerd are stuck: 1 read(s) blocked, longest >= 6s in /runtime.v1.RuntimeService/ListPodSandbox (3 CRI call(s) in flight) (was Inconclusive: pod timed out)"},
		{"a probe that ran keeps its verdict beside stuck CRI reads", probe(report.Healthy), criStuck, report.Healthy, "probe says"},
		{"pod-less unresponsive keeps its own reason", podless(report.Unresponsive), criStuck, report.Unresponsive, "pod timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := tt.item
			Apply(&it, tt.ev)
			if it.Verdict != tt.wantVerdict {
				t.Errorf("verdict %s, want %s", it.Verdict, tt.wantVerdict)
			}
			if tt.wantReason != "" && it.Reason != tt.wantReason {
				t.Errorf("reason (-want +got):\n%s", cmp.Diff(tt.wantReason, it.Reason))
			}
			if it.Kubelet != tt.ev {
				t.Errorf("item carries evidence %p, want %p", it.Kubelet, tt.ev)
			}
			if tt.ev != nil && tt.ev.Stalled && (len(it.Findings) == 0 || it.Findings[0].Code != report.CodeCAdvisorStalled) {
				t.Errorf("findings %v, want %s", it.Findings, report.CodeCAdvisorStalled)
			}
		})
	}
}

// TestApplyProbedOtherSocket: a --socket given by hand that is not the
// kubelet's says so, in the findings and the reason; the kubelet's own
// socket, or one the probe discovered, adds nothing.
func TestApplyProbedOtherSocket(t *testing.T) {
	ev := &report.KubeletEvidence{RuntimeEndpoint: "unix:///run/containerd/containerd.sock", Goroutines: &kubeletevidence.Assessment{}}
	for _, tc := range []struct {
		probed     string
		discovered bool
		want       string
	}{
		{"/run/nope/containerd.sock", false, "socket missing; probed /run/nope/containerd.sock (--socket); the kubelet's /configz names /run/containerd/containerd.sock"},
		{"/run/containerd/containerd.sock", false, "socket missing"},
		{"/run/k3s/containerd/containerd.sock", true, "socket missing"},
	} {
		it := report.Item{Node: "n", Verdict: report.Unreachable, Reason: "socket missing",
			Result: &checks.Result{Verdict: checks.Unreachable, Socket: checks.SocketInfo{Path: tc.probed, Discovered: tc.discovered}}}
		Apply(&it, ev)
		if it.Verdict != report.Unreachable || it.Reason != tc.want {
			t.Errorf("%s: %s %q, want Unreachable %q", tc.probed, it.Verdict, it.Reason, tc.want)
		}
		if has := hasFinding(it.Findings, report.Finding{Code: report.CodeProbedOtherSocket}); has != (tc.want != "socket missing") {
			t.Errorf("%s: findings %+v", tc.probed, it.Findings)
		}
	}
}

func TestFindings(t *testing.T) {
	ev := &report.KubeletEvidence{
		Metrics: &report.MetricsEvidence{HasScrapeError: true, ScrapeError: 1,
			Coverage: &kubeletevidence.Coverage{Running: 7, Missing: []string{"aaaaaaaaaaaaaaaa", "b", "c", "d", "e", "f"}}},
		Unavailable: []kubeletevidence.Unavailable{
			{Path: "debug/pprof/goroutine", Code: kubeletevidence.UnavailableDebugHandlersOff, Reason: "off"},
			{Path: "stats/summary", Code: kubeletevidence.UnavailableTimeout, Reason: "slow"},
			{Path: "configz", Code: kubeletevidence.UnavailableDebugHandlersOff, Reason: "off too"},
		},
		Advisories: []advisory.Advisory{
			{Code: advisory.CodeCAdvisorUnboundedCalls, Severity: advisory.Info, Message: "info"},
			{Code: "CONTAINERD_TTRPC_PIPE_DEADLOCK", Severity: advisory.Warning, Message: "ttrpc"},
		},
	}
	want := []report.Finding{
		{Code: report.CodeCAdvisorScrapeError, Message: "/metrics/cadvisor reports container_scrape_error 1"},
		{Code: report.CodeCAdvisorMissingContainers, Message: "6 of 7 running containers have no series in /metrics/cadvisor: aaaaaaaaaaaaa, b, c, d, e, and 1 more"},
		{Code: kubeletevidence.UnavailableDebugHandlersOff, Message: "off; the same for configz"},
		{Code: kubeletevidence.UnavailableTimeout, Message: "slow"},
		{Code: "CONTAINERD_TTRPC_PIPE_DEADLOCK", Message: "ttrpc"},
	}
	if diff := cmp.Diff(want, Findings(ev)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestKubeletCodesHaveGlossaryEntries(t *testing.T) {
	for _, c := range report.KubeletCodes() {
		info, ok := report.Explain(c)
		if !ok || info.Summary == "" || info.NextStep == "" {
			t.Errorf("code %s has no glossary entry", c)
		}
	}
	if it := ItemWithoutPod(node("n"), nil); it.Verdict != report.Inconclusive || it.Findings[0].Code != nodeexec.CodeRunTimeout ||
		!strings.Contains(it.Reason, "ended before") {
		t.Errorf("item without evidence %+v", it)
	}
}

// TestItemWithoutPodNodeConditionFirst: with containerd frozen the kubelet
// marks the node Ready=False "container runtime is down" while its dump
// shows no cAdvisor call blocked; --no-pod called that node Healthy.
func TestItemWithoutPodNodeConditionFirst(t *testing.T) {
	quiet := &report.KubeletEvidence{Dumps: 1, Reason: "no goroutine blocked in a containerd call",
		Goroutines: &kubeletevidence.Assessment{}}
	stalled := &report.KubeletEvidence{Dumps: 2, Stalled: true, Reason: "1 goroutine blocked in TaskPid",
		Goroutines: &kubeletevidence.Assessment{Stalled: true, Blocked: 1}}
	withReady := func(status corev1.ConditionStatus, reason, msg string) corev1.Node {
		n := node("node-2")
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: reason, Message: msg}}
		return n
	}
	runtimeDown := withReady(corev1.ConditionFalse, "KubeletNotReady", "container runtime is down")
	tests := []struct {
		name        string
		node        corev1.Node
		ev          *report.KubeletEvidence
		wantVerdict report.Verdict
		wantCode    nodeexec.Code // a finding that must be there; "" for none asserted
	}{
		{"ready, quiet dump", withReady(corev1.ConditionTrue, "KubeletReady", "ok"), quiet, report.Healthy, ""},
		{"runtime down, quiet dump", runtimeDown, quiet, report.Unresponsive, nodeexec.CodeRuntimeDown},
		{"runtime down, stalled dump", runtimeDown, stalled, report.Unresponsive, nodeexec.CodeRuntimeDown},
		{"runtime down, no evidence", runtimeDown, nil, report.Unresponsive, nodeexec.CodeRunTimeout},
		{"not posting status", withReady(corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status."), quiet, report.Inconclusive, nodeexec.CodeNodeNotPosting},
		{"ready, stalled dump", withReady(corev1.ConditionTrue, "KubeletReady", "ok"), stalled, report.Stalled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := ItemWithoutPod(tt.node, tt.ev)
			if it.Verdict != tt.wantVerdict {
				t.Errorf("verdict %s (%s), want %s", it.Verdict, it.Reason, tt.wantVerdict)
			}
			if tt.wantCode == "" {
				return
			}
			for _, f := range it.Findings {
				if f.Code == tt.wantCode {
					return
				}
			}
			t.Errorf("findings %+v, want one with code %s", it.Findings, tt.wantCode)
		})
	}
}
