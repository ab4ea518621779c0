// Package advisory maps the versions a Node object reports (kubelet and
// container runtime) to what is known about them from upstream source: which
// cAdvisor the kubelet embeds, which of its containerd calls have no deadline,
// how far one stuck call reaches, and containerd releases with known hangs.
// The table is one embedded data file, advisories.yaml, with a source per row;
// docs/cadvisor-stalls.md explains how it was read. No I/O, no clock.
package advisory

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
)

// Severity orders advisories for display. String-typed so JSON shows words.
type Severity string

const (
	Info     Severity = "Info"
	Warning  Severity = "Warning"
	Critical Severity = "Critical"
)

// Stable advisory codes. Codes of containerd hangs come from the data file.
const (
	CodeCAdvisorUnboundedCalls   = "CADVISOR_UNBOUNDED_CALLS"
	CodeCAdvisorReadersBlock     = "CADVISOR_READERS_BLOCK"
	CodeCAdvisorFixedSocket      = "CADVISOR_FIXED_SOCKET"
	CodeKubeletVersionUnknown    = "KUBELET_VERSION_UNKNOWN"
	CodeContainerdVersionUnknown = "CONTAINERD_VERSION_UNKNOWN"
	CodeRuntimeNotContainerd     = "RUNTIME_NOT_CONTAINERD"
	CodeAdvisoryTableInvalid     = "ADVISORY_TABLE_INVALID"
)

// DefaultCAdvisorSocket is where every embedded cAdvisor dials unless the
// kubelet accepted --containerd (before 1.37).
const DefaultCAdvisorSocket = "/run/containerd/containerd.sock"

// Advisory is one statement about a node's versions.
type Advisory struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Source   string   `json:"source"`
}

// Call is one containerd call that cAdvisor makes without a deadline.
type Call struct {
	Name string `json:"name"` // key in advisories.yaml, e.g. "handler-task-pid"
	Site string `json:"site"` // cAdvisor call site, e.g. "newContainerdContainerHandler -> client.TaskPid"
	GRPC string `json:"grpc"` // full gRPC method
}

// KubeletRelease is what the table knows about one kubelet version.
type KubeletRelease struct {
	Minor    string `json:"minor"`    // "1.37"
	CAdvisor string `json:"cadvisor"` // cAdvisor release for this patch, e.g. "lib/v0.60.5"
	// Unbounded lists the containerd calls made with context.Background().
	Unbounded []Call `json:"unbounded"`
	// ReadersBlock: one stuck call holds cAdvisor's containers lock, so
	// /metrics/cadvisor and /stats/summary block too; otherwise only
	// container discovery stops.
	ReadersBlock bool `json:"readersBlock"`
	// ContainerdFlag: the kubelet accepts cAdvisor's deprecated --containerd
	// socket flag (the probe may find it on the kubelet's command line).
	ContainerdFlag bool   `json:"containerdFlag"`
	Source         string `json:"source"`
}

//go:embed advisories.yaml
var tableYAML []byte

var loadTable = sync.OnceValues(func() (*table, error) { return parseTable(tableYAML) })

// ForNode returns the advisories for one node, from Node.status.nodeInfo's
// kubeletVersion ("v1.37.2", "v1.30.4+k3s1") and containerRuntimeVersion
// ("containerd://1.6.20"). Unparsable or unknown versions give an Info
// advisory saying so; it never panics and never returns an error.
func ForNode(kubeletVersion, containerRuntimeVersion string) []Advisory {
	t, err := loadTable()
	if err != nil {
		return []Advisory{{Code: CodeAdvisoryTableInvalid, Severity: Info,
			Message: "built-in advisory table is invalid: " + err.Error(), Source: "pkg/advisory/advisories.yaml"}}
	}
	out := t.kubeletAdvisories(kubeletVersion)
	return append(out, t.runtimeAdvisories(containerRuntimeVersion)...)
}

// LookupKubelet returns the table row for a kubelet version, with the cAdvisor
// release of that patch. ok is false for unparsable or unknown versions.
func LookupKubelet(kubeletVersion string) (rel KubeletRelease, ok bool) {
	t, err := loadTable()
	if err != nil {
		return KubeletRelease{}, false
	}
	v, err := parseVersion(kubeletVersion)
	if err != nil {
		return KubeletRelease{}, false
	}
	return t.lookup(v)
}

func (t *table) kubeletAdvisories(kubeletVersion string) []Advisory {
	v, err := parseVersion(kubeletVersion)
	if err != nil {
		return []Advisory{{Code: CodeKubeletVersionUnknown, Severity: Info,
			Message: fmt.Sprintf("kubelet version %q is not parsable: no cAdvisor advisory", kubeletVersion),
			Source:  "Node.status.nodeInfo.kubeletVersion"}}
	}
	rel, ok := t.lookup(v)
	if !ok {
		return []Advisory{{Code: CodeKubeletVersionUnknown, Severity: Info,
			Message: fmt.Sprintf("kubelet %s is outside the researched releases %s-%s: which cAdvisor calls lack a deadline is not known",
				kubeletVersion, t.Kubelet[0].Minor, t.Kubelet[len(t.Kubelet)-1].Minor),
			Source: "pkg/advisory/advisories.yaml"}}
	}
	sites := make([]string, len(rel.Unbounded))
	for i, c := range rel.Unbounded {
		sites[i] = c.Site
	}
	reach := "container discovery stops (new containers get no metrics)"
	if rel.ReadersBlock {
		reach = "it holds cAdvisor's containers lock"
	}
	// Info: true of every researched kubelet; whether containerd would
	// leave one of these calls hanging is what the probe measures.
	out := []Advisory{{Code: CodeCAdvisorUnboundedCalls, Severity: Info,
		Message: fmt.Sprintf("kubelet %s embeds cAdvisor %s, which calls containerd without a deadline in %s: when containerd never answers one of them, %s",
			kubeletVersion, rel.CAdvisor, strings.Join(sites, ", "), reach),
		Source: rel.Source}}
	if rel.ReadersBlock {
		out = append(out, Advisory{Code: CodeCAdvisorReadersBlock, Severity: Warning,
			Message: fmt.Sprintf("cAdvisor %s holds its containers lock while creating a container handler: one stuck call blocks every reader, /metrics/cadvisor and /stats/summary freeze and the kubelet's syncloop health check can fail (kubernetes#102481)", rel.CAdvisor),
			Source:  rel.Source + "; kubernetes/kubernetes#102481"})
	}
	if !rel.ContainerdFlag {
		out = append(out, Advisory{Code: CodeCAdvisorFixedSocket, Severity: Info,
			Message: fmt.Sprintf("kubelet %s no longer accepts --containerd: its cAdvisor always dials %s, whatever the kubelet's containerRuntimeEndpoint", kubeletVersion, DefaultCAdvisorSocket),
			Source:  rel.Source})
	}
	return out
}

func (t *table) runtimeAdvisories(runtimeVersion string) []Advisory {
	scheme, ver, found := strings.Cut(runtimeVersion, "://")
	if !found || scheme != "containerd" {
		if found && scheme != "" {
			return []Advisory{{Code: CodeRuntimeNotContainerd, Severity: Info,
				Message: fmt.Sprintf("container runtime is %s, not containerd: the cAdvisor containerd advisories apply only if a containerd serves %s", runtimeVersion, DefaultCAdvisorSocket),
				Source:  "Node.status.nodeInfo.containerRuntimeVersion"}}
		}
		return []Advisory{{Code: CodeContainerdVersionUnknown, Severity: Info,
			Message: fmt.Sprintf("container runtime version %q is not of the form containerd://X.Y.Z: no containerd advisory", runtimeVersion),
			Source:  "Node.status.nodeInfo.containerRuntimeVersion"}}
	}
	v, err := parseVersion(ver)
	if err != nil {
		return []Advisory{{Code: CodeContainerdVersionUnknown, Severity: Info,
			Message: fmt.Sprintf("containerd version %q is not parsable: no containerd advisory", ver),
			Source:  "Node.status.nodeInfo.containerRuntimeVersion"}}
	}
	var out []Advisory
	for _, h := range t.Containerd {
		if !v.less(h.from) && v.less(h.before) {
			out = append(out, Advisory{Code: h.Code, Severity: h.Severity,
				Message: fmt.Sprintf("containerd %s: %s (upstream release; a distribution build may carry a backport)", ver, h.Message),
				Source:  h.Source})
		}
	}
	return out
}
