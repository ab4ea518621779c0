package stall

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/advisory"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

// maxIDs is how many container ids a finding names.
const maxIDs = 5

// Findings turns a node's kubelet evidence into coded findings: the stall
// itself, its corroboration in the metrics, what could not be read and
// why, and the version advisories of warning severity or worse (the Info
// ones, true of every researched kubelet, stay in the JSON evidence).
func Findings(ev *report.KubeletEvidence) []report.Finding {
	if ev == nil {
		return nil
	}
	var out []report.Finding
	if g := ev.Goroutines; g != nil && g.CRIStuck > 0 {
		out = append(out, report.Finding{Code: report.CodeKubeletCRIStuck, Message: g.CRIStuckReason()})
	}
	switch g := ev.Goroutines; {
	case ev.Stalled:
		out = append(out, report.Finding{Code: report.CodeCAdvisorStalled, Message: ev.Reason})
	case g != nil && g.NeedsResample:
		out = append(out, report.Finding{Code: report.CodeCAdvisorCallInFlight, Message: ev.Reason})
	}
	if m := ev.Metrics; m != nil {
		if m.HasScrapeError && m.ScrapeError != 0 {
			out = append(out, report.Finding{Code: report.CodeCAdvisorScrapeError, Message: "/metrics/cadvisor reports container_scrape_error 1"})
		}
		if f := notRegistered(ev); f != nil {
			out = append(out, *f)
		}
		if c := m.Coverage; c != nil && len(c.Missing) > 0 {
			out = append(out, report.Finding{Code: report.CodeCAdvisorMissingContainers,
				Message: fmt.Sprintf("%d of %d running containers have no series in /metrics/cadvisor: %s",
					len(c.Missing), c.Running, shortIDs(c.Missing))})
		}
	}
	out = append(out, unavailableFindings(ev.Unavailable)...)
	for _, a := range ev.Advisories {
		if a.Severity == advisory.Warning || a.Severity == advisory.Critical {
			out = append(out, report.Finding{Code: nodeexec.Code(a.Code), Message: a.Message})
		}
	}
	return out
}

// notRegistered is the finding of a kubelet whose cAdvisor sees the
// node's containers only as raw cgroups: container series without the
// image/name labels that its containerd handler sets (measured on the
// local cluster: a node whose containerd serves another socket; the
// capture is in pkg/kubeletevidence/testdata).
func notRegistered(ev *report.KubeletEvidence) *report.Finding {
	m := ev.Metrics
	if m == nil || m.Registration.State != kubeletevidence.RegistrationNotRegistered {
		return nil
	}
	r := m.Registration
	msg := fmt.Sprintf("container metrics lack image/name labels: none of the %d container cgroups in /metrics/cadvisor carries them", r.ContainerCgroups)
	if c := m.Coverage; c != nil && c.Running > 0 {
		msg += fmt.Sprintf(" (%d of %d running containers unlabeled)", len(c.Unlabeled), c.Running)
	}
	msg += ": the kubelet's cAdvisor has no containerd view (its containerd factory did not register when the kubelet started)" +
		"; cAdvisor dials " + checks.DefaultCadvisorSocket
	if ev.RuntimeEndpoint != "" {
		msg += ", kubelet uses " + strings.TrimPrefix(ev.RuntimeEndpoint, "unix://")
	}
	return &report.Finding{Code: report.CodeCAdvisorNotRegistered, Message: msg}
}

func shortIDs(ids []string) string {
	var s []string
	for i, id := range ids {
		if i == maxIDs {
			s = append(s, fmt.Sprintf("and %d more", len(ids)-maxIDs))
			break
		}
		s = append(s, id[:min(len(id), 13)])
	}
	return strings.Join(s, ", ")
}

// Apply adds a node's kubelet evidence to its report item. A stalled
// cAdvisor makes the node Stalled over Healthy, Slow, AtRisk and
// Inconclusive (a node whose runtime no pod can start on is exactly where
// the kubelet's evidence matters). Unresponsive and Unreachable keep their
// verdict, with the stall as a finding, whether the probe found them or the
// API's evidence did (the kubelet's "container runtime is down", its
// sandbox deadline): a hung runtime is the cause, cAdvisor's stall one of
// its effects, and the runbook's next step for it is the runtime's.
// (Found on the local cluster: a frozen containerd read as Stalled when a
// dump happened to catch cAdvisor in a call to it.) Skipped nodes stay
// Skipped. The previous reason stays in the new one.
func Apply(it *report.Item, ev *report.KubeletEvidence) {
	if ev == nil {
		return
	}
	it.Kubelet = ev
	for _, f := range Findings(ev) {
		if !hasFinding(it.Findings, f) {
			// The run may have decided the node from this evidence already
			// (KubeletCRIStuck): one finding, not two.
			it.Findings = append(it.Findings, f)
		}
	}
	if it.Result != nil && it.Result.Socket.Path != "" && ev.RuntimeEndpoint != "" && !it.Result.Socket.Discovered {
		if kubelet := strings.TrimPrefix(ev.RuntimeEndpoint, "unix://"); kubelet != it.Result.Socket.Path {
			// A --socket given by hand: the verdict is about that path.
			msg := fmt.Sprintf("probed %s (--socket); the kubelet's /configz names %s", it.Result.Socket.Path, kubelet)
			it.Findings = append(it.Findings, report.Finding{Code: report.CodeProbedOtherSocket, Message: msg})
			it.Reason += "; " + msg
		}
	}
	probeSaidWhy := hasFinding(it.Findings, report.Finding{Code: checks.CodeCadvisorSocketMissing}) ||
		hasFinding(it.Findings, report.Finding{Code: checks.CodeCadvisorSocketUnreachable})
	if f := notRegistered(ev); f != nil && it.Verdict != report.Skipped && !probeSaidWhy {
		// The verdict stays: a cAdvisor without a containerd view makes no
		// containerd call to stall on. The reason says it, unless the
		// probe's finding about cAdvisor's socket (in the reason too)
		// already does.
		it.Reason += "; " + f.Message
	}
	if g := ev.Goroutines; g != nil && g.CRIStuck > 0 && it.Result == nil && it.Verdict == report.Inconclusive {
		// No probe ran (the pod never started) and the node itself may not
		// say why yet: the kubelet's own reads hang in containerd. That is
		// a runtime that does not answer, not an unknown; a cAdvisor stall
		// beside it stays a finding.
		it.Reason = fmt.Sprintf("kubelet: %s (was %s: %s)", g.CRIStuckReason(), it.Verdict, it.Reason)
		it.Verdict = report.Unresponsive
		return
	}
	if !ev.Stalled || it.Verdict == report.Skipped {
		return
	}
	if it.Verdict == report.Unresponsive || it.Verdict == report.Unreachable {
		return
	}
	prev := fmt.Sprintf("%s: %s", it.Verdict, it.Reason)
	if it.Result != nil {
		prev = "probe " + prev
	}
	it.Verdict = report.Stalled
	it.Reason = fmt.Sprintf("kubelet's cAdvisor stalled: %s (was %s)", ev.Reason, prev)
}

func hasFinding(fs []report.Finding, f report.Finding) bool {
	for _, g := range fs {
		if g.Code == f.Code {
			return true
		}
	}
	return false
}

// ItemWithoutPod is the report item of a pod-free pass (check --no-pod):
// Stalled when the dumps prove it, Healthy when a dump was read and shows
// no stuck call, Inconclusive otherwise (no dump, or a call in flight that
// could not be decided). Healthy here says only that cAdvisor is not
// stalled now; whether containerd would stall it is the probe's question.
//
// The node's Ready condition comes first: a kubelet that says its runtime
// is down is Unresponsive (and a stall it also shows is a finding, as beside
// a probe that found the runtime down), and a node that is otherwise not
// Ready is Inconclusive. A dump with no containerd call blocked says nothing
// about a runtime the kubelet can no longer reach: calling such a node
// Healthy was a false all-clear (found with a frozen containerd).
func ItemWithoutPod(n corev1.Node, ev *report.KubeletEvidence) report.Item {
	it := report.Item{Node: n.Name}
	cond, notReady := nodeexec.NodeCondition(&n)
	switch {
	case ev == nil:
		it.Verdict, it.Reason = report.Inconclusive, "the run ended before the kubelet's evidence was read"
		it.Findings = append(it.Findings, report.Finding{Code: nodeexec.CodeRunTimeout, Message: it.Reason})
		if notReady {
			it.Verdict, it.Reason, it.Evidence = report.Verdict(cond.Verdict), cond.Reason, cond.Evidence
		}
		return it
	case notReady:
		it.Verdict, it.Reason, it.Evidence = report.Verdict(cond.Verdict), cond.Reason+" (no probe: --no-pod)", cond.Evidence
		it.Findings = append(it.Findings, report.Finding{Code: cond.Code, Message: cond.Reason})
	case ev.Goroutines != nil && ev.Goroutines.CRIStuck > 0:
		it.Verdict, it.Reason = report.Unresponsive, "kubelet: "+ev.Goroutines.CRIStuckReason()+" (no probe: --no-pod)"
	case ev.Stalled:
		it.Verdict, it.Reason = report.Stalled, "kubelet's cAdvisor stalled: "+ev.Reason
	case ev.Goroutines != nil && !ev.Goroutines.NeedsResample:
		it.Verdict, it.Reason = report.Healthy, "kubelet: "+ev.Reason+" (no probe: --no-pod)"
		if f := notRegistered(ev); f != nil {
			it.Reason += "; " + f.Message
		}
	default:
		it.Verdict, it.Reason = report.Inconclusive, "kubelet: "+ev.Reason
	}
	it.Kubelet = ev
	it.Findings = append(it.Findings, Findings(ev)...)
	return it
}

// unavailableFindings gives one finding per code, in order of first
// appearance: a forbidden nodes/proxy or a kubelet that is down says the
// same for all four paths.
func unavailableFindings(us []kubeletevidence.Unavailable) []report.Finding {
	var out []report.Finding
	idx := map[string]int{}
	var others [][]string
	for _, u := range us {
		if u.Code == kubeletevidence.UnavailableInterrupted {
			continue // our own Ctrl-C says nothing about the node
		}
		i, ok := idx[u.Code]
		if !ok {
			idx[u.Code] = len(out)
			out = append(out, report.Finding{Code: nodeexec.Code(u.Code), Message: u.Reason})
			others = append(others, nil)
			continue
		}
		others[i] = append(others[i], u.Path)
	}
	for i := range out {
		if len(others[i]) > 0 {
			out[i].Message += "; the same for " + strings.Join(others[i], ", ")
		}
	}
	return out
}
