package kubeletevidence

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// DefaultStallThreshold is how long a cAdvisor containerd call may be seen
// waiting before the kubelet's cAdvisor counts as stalled. Every bounded call
// cAdvisor makes gives up after 2 s (connectionTimeout), and containerd
// answers Tasks/Get within its 2 s task-state timeout, so a call still waiting
// after 5 s will not come back by itself.
const DefaultStallThreshold = 5 * time.Second

// Sample is one goroutine dump and when it was taken (the caller's clock).
type Sample struct {
	Dump *GoroutineDump
	At   time.Time
}

// CallGroup counts blocked goroutines of one kind of call.
type CallGroup struct {
	Kind           string        `json:"kind"`
	CAdvisorMethod string        `json:"cadvisorMethod,omitempty"`
	GRPCMethod     string        `json:"grpcMethod,omitempty"`
	Site           string        `json:"site,omitempty"`
	Count          int           `json:"count"`
	LongestWait    time.Duration `json:"longestWait"`
}

// Assessment is the verdict helper's answer for one node.
type Assessment struct {
	// Stalled: at least one cAdvisor/containerd call has been waiting for at
	// least the threshold (a lower bound, see WaitLowerBound).
	Stalled bool   `json:"stalled"`
	Reason  string `json:"reason"`
	// Blocked counts goroutines in cAdvisor/containerd gRPC calls in the
	// latest dump; LongestWait is the largest lower bound among them.
	Blocked     int           `json:"blocked"`
	LongestWait time.Duration `json:"longestWait"`
	Longest     *BlockedCall  `json:"longest,omitempty"`
	Calls       []CallGroup   `json:"calls,omitempty"`
	// NeedsResample: blocked calls were seen but none is known to be older
	// than the threshold (no minutes annotation and no earlier dump showing
	// the same call). Take another dump after the threshold and assess both.
	NeedsResample bool `json:"needsResample"`
	// CRIBlocked and CRILongestWait: CRI calls in flight. The kubelet bounds
	// them by runtimeRequestTimeout; many or long ones mean a slow runtime.
	CRIBlocked     int           `json:"criBlocked"`
	CRILongestWait time.Duration `json:"criLongestWait"`
	// CRIStuck counts the kubelet's CRI reads (criReads: the status and
	// list calls its pod workers and PLEG make all the time, which a
	// healthy containerd answers in milliseconds) known to have waited the
	// threshold or longer; CRIStuckCall is the longest of them. That is a
	// runtime that does not answer, whatever its Ready condition says yet
	// (the kubelet reports "container runtime is down" only after its
	// runtimeRequestTimeout, 2 minutes by default).
	CRIStuck     int           `json:"criStuck,omitempty"`
	CRIStuckWait time.Duration `json:"criStuckWait,omitempty"`
	CRIStuckCall *BlockedCall  `json:"criStuckCall,omitempty"`
	// LockWaiters: goroutines parked on cAdvisor's manager locks (readers
	// queued behind a stuck call with cAdvisor <= v0.54).
	LockWaiters int  `json:"lockWaiters"`
	Truncated   bool `json:"truncated"`
}

// WaitLowerBound is how long a call in the latest sample has surely waited:
// its own "M minutes" annotation, or, when an earlier sample shows the same
// goroutine in the very same call (same frames and arguments), the time
// between the two samples plus the earlier annotation. A goroutine without
// an annotation in a single dump has a lower bound of zero: the Go runtime
// prints minutes only from the first whole minute on.
func WaitLowerBound(samples []Sample, c BlockedCall) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	last := samples[len(samples)-1]
	best := time.Duration(c.WaitMinutes) * time.Minute
	for _, s := range samples[:len(samples)-1] {
		if s.Dump == nil {
			continue
		}
		for _, e := range s.Dump.Blocked {
			if e.GoroutineID == c.GoroutineID && e.signature == c.signature {
				if w := last.At.Sub(s.At) + time.Duration(e.WaitMinutes)*time.Minute; w > best {
					best = w
				}
			}
		}
	}
	return best
}

// Assess gives the verdict for the latest of samples (oldest first). A
// threshold <= 0 means DefaultStallThreshold.
func Assess(samples []Sample, threshold time.Duration) Assessment {
	if threshold <= 0 {
		threshold = DefaultStallThreshold
	}
	var a Assessment
	if len(samples) == 0 || samples[len(samples)-1].Dump == nil {
		a.Reason = "no goroutine dump"
		return a
	}
	d := samples[len(samples)-1].Dump
	a.Truncated, a.LockWaiters = d.Truncated, len(d.LockWaiters)
	groups := map[string]*CallGroup{}
	criReadsSeen := false
	for i := range d.Blocked {
		c := d.Blocked[i]
		w := WaitLowerBound(samples, c)
		if c.Kind == KindCRI {
			a.CRIBlocked++
			a.CRILongestWait = max(a.CRILongestWait, w)
			if criReads[c.GRPCMethod] {
				criReadsSeen = true
				if w >= threshold {
					a.CRIStuck++
					if a.CRIStuckCall == nil || w > a.CRIStuckWait {
						a.CRIStuckCall, a.CRIStuckWait = &d.Blocked[i], w
					}
				}
			}
			continue
		}
		a.Blocked++
		if a.Longest == nil || w > a.LongestWait {
			a.Longest, a.LongestWait = &d.Blocked[i], w
		}
		key := c.Kind + "|" + c.CAdvisorMethod + "|" + c.GRPCMethod + "|" + c.Site
		g := groups[key]
		if g == nil {
			g = &CallGroup{Kind: c.Kind, CAdvisorMethod: c.CAdvisorMethod, GRPCMethod: c.GRPCMethod, Site: c.Site}
			groups[key] = g
		}
		g.Count++
		g.LongestWait = max(g.LongestWait, w)
	}
	for _, g := range groups {
		a.Calls = append(a.Calls, *g)
	}
	sort.Slice(a.Calls, func(i, j int) bool {
		if a.Calls[i].Count != a.Calls[j].Count {
			return a.Calls[i].Count > a.Calls[j].Count
		}
		return a.Calls[i].GRPCMethod+a.Calls[i].Site < a.Calls[j].GRPCMethod+a.Calls[j].Site
	})
	a.Stalled = a.Blocked > 0 && a.LongestWait >= threshold
	// A CRI read in flight that no sample proves stuck is resampled too:
	// a healthy runtime answers it within milliseconds, so in the second
	// dump it is gone, and a hung one shows the same call again.
	a.NeedsResample = !a.Stalled && (a.Blocked > 0 || (criReadsSeen && a.CRIStuck == 0))
	a.Reason = a.reason(threshold)
	return a
}

func (a Assessment) reason(threshold time.Duration) string {
	if a.Blocked == 0 {
		r := "no goroutine blocked in a containerd call"
		if a.CRIStuck > 0 {
			return r + "; " + a.CRIStuckReason()
		}
		if a.CRIBlocked > 0 {
			r += fmt.Sprintf("; %d CRI call(s) in flight, longest %s", a.CRIBlocked, waitText(a.CRILongestWait))
		}
		return r
	}
	l := a.Longest
	call := l.GRPCMethod
	if l.CAdvisorMethod != "" {
		call = fmt.Sprintf("cAdvisor %s (%s)", l.CAdvisorMethod, l.GRPCMethod)
	}
	if l.Site != "" {
		call += " from " + l.Site
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d goroutine(s) blocked in containerd calls, longest %s in %s", a.Blocked, waitText(a.LongestWait), call)
	if !a.Stalled {
		fmt.Fprintf(&b, "; not yet known to exceed %s: a second dump decides", threshold)
	}
	if a.LockWaiters > 0 {
		fmt.Fprintf(&b, "; %d goroutine(s) waiting on cAdvisor's manager lock", a.LockWaiters)
	}
	return b.String()
}

// CRIStuckReason says which of the kubelet's CRI reads are stuck, for a
// reason line; "" when none is.
func (a Assessment) CRIStuckReason() string {
	if a.CRIStuck == 0 || a.CRIStuckCall == nil {
		return ""
	}
	return fmt.Sprintf("the kubelet's CRI calls to containerd are stuck: %d read(s) blocked, longest %s in %s (%d CRI call(s) in flight)",
		a.CRIStuck, waitText(a.CRIStuckWait), a.CRIStuckCall.GRPCMethod, a.CRIBlocked)
}

// criReads are the CRI runtime calls that containerd's CRI plugin answers
// from its own state, without asking any shim: the kubelet's pod workers
// and PLEG make them all the time and a healthy containerd answers them in
// milliseconds, so one stuck in its call means containerd itself does not
// answer. The stats calls are not among them: containerd asks each task's
// shim for its stats, so one stopped shim blocks them while the daemon is
// fine (found with a SIGSTOPped shim: ListContainerStats from the kubelet's
// eviction manager hung, `ctr version` answered). Nor are the calls that may
// take long by design: image pulls, exec and attach, sandbox creation with
// its CNI plugins, stops within a grace period.
var criReads = map[string]bool{
	"/runtime.v1.RuntimeService/Version":          true,
	"/runtime.v1.RuntimeService/Status":           true,
	"/runtime.v1.RuntimeService/ListPodSandbox":   true,
	"/runtime.v1.RuntimeService/PodSandboxStatus": true,
	"/runtime.v1.RuntimeService/ListContainers":   true,
	"/runtime.v1.RuntimeService/ContainerStatus":  true,
	"/runtime.v1.RuntimeService/RuntimeConfig":    true,
}

func waitText(d time.Duration) string {
	if d <= 0 {
		return "under a minute (no annotation)"
	}
	return ">= " + d.Round(time.Second).String()
}
