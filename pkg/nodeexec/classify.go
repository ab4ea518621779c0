package nodeexec

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// Observation is what the API showed about one node's pod when it must be
// classified without a probe result. Classification is a pure function of
// it: the clock comes in as Now.
type Observation struct {
	// Pod is the latest state the watch delivered; nil if never seen.
	Pod *corev1.Pod
	// Events are the events about Pod.
	Events []corev1.Event
	// Node is the node as fetched when the budget ran out; nil with
	// NodeGone when it no longer exists, nil alone when unknown.
	Node     *corev1.Node
	NodeGone bool
	// Image is the probe image the pod runs.
	Image string
	// Created is when the pod was created, Now when it is classified.
	Created, Now time.Time
	// RunTimedOut is true when the run's --timeout, not the node's budget,
	// ended the wait; Canceled when the run was interrupted.
	RunTimedOut, Canceled bool
}

// imagePullReasons are the kubelet's waiting reasons (and event reasons)
// for an image it could not get.
var imagePullReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"ErrImageNeverPull": true, "RegistryUnavailable": true, "SignatureValidationFailed": true,
}

// definitivePullReasons are final before the budget runs out: the kubelet
// has failed a pull and is only backing off, or will never try.
var definitivePullReasons = map[string]bool{"ImagePullBackOff": true, "InvalidImageName": true, "ErrImageNeverPull": true}

// EarlyVerdict returns a classification that is already certain while the
// pod is still pending (an image the node cannot get), or nil.
func EarlyVerdict(pod *corev1.Pod, image string) *Classification {
	if w := waiting(pod); w != nil && definitivePullReasons[w.Reason] {
		return imagePull(image, w.Reason, w.Message)
	}
	return nil
}

func imagePull(image, reason, msg string) *Classification {
	return &Classification{
		Verdict:  checks.Inconclusive,
		Code:     CodeImagePull,
		Reason:   fmt.Sprintf("probe image %q could not be pulled on the node (%s): not a node problem; pass --image or --image-pull-secret", image, reason),
		Evidence: []Evidence{{Source: "pod", Reason: reason, Message: msg}},
	}
}

// ClassifyPending gives a verdict for a pod that did not finish in time.
// The order matters: evidence that the runtime is hung beats evidence
// that our image is missing, which beats the node's general state.
func ClassifyPending(o Observation) Classification {
	ev := podEvidence(o)
	if e, ok := findEvent(o.Events, "FailedCreatePodSandBox", isDeadline); ok {
		return Classification{checks.Unresponsive, CodeSandboxTimeout,
			"the runtime did not create the pod sandbox before the kubelet's deadline (FailedCreatePodSandBox: " + firstLine(e.Message) + ")",
			append([]Evidence{eventEvidence(e)}, ev...)}
	}
	if c, ok := nodeCondition(o.Node, ev); ok && c.Code == CodeRuntimeDown {
		return c
	}
	if w := waiting(o.Pod); w != nil && imagePullReasons[w.Reason] {
		c := imagePull(o.Image, w.Reason, w.Message)
		return *c
	}
	if e, ok := findEvent(o.Events, "Failed", func(m string) bool { return strings.Contains(m, "Failed to pull image") }); ok {
		c := imagePull(o.Image, "ErrImagePull", e.Message)
		return *c
	}
	if w := waiting(o.Pod); w != nil && isDeadline(w.Message) {
		return Classification{checks.Unresponsive, CodeRuntimeCallTimeout,
			fmt.Sprintf("the runtime hit a deadline creating the probe container (%s: %s)", w.Reason, firstLine(w.Message)), ev}
	}
	if e, ok := findEvent(o.Events, "FailedMount", func(m string) bool { return strings.Contains(m, "hostPath type check failed") }); ok {
		return Classification{checks.Unreachable, CodeSocketDirMissing,
			"the containerd socket's directory does not exist on the node (" + firstLine(e.Message) + ")",
			append([]Evidence{eventEvidence(e)}, ev...)}
	}
	if o.NodeGone {
		return Classification{checks.Inconclusive, CodeNodeGone, "the node was deleted during the run", ev}
	}
	if c, ok := nodeCondition(o.Node, ev); ok {
		return c
	}
	code, why := CodePodStartTimeout, fmt.Sprintf("no result within --node-timeout (%s)", o.Now.Sub(o.Created).Round(time.Second))
	switch {
	case o.Canceled:
		code, why = CodeRunTimeout, "the run was interrupted before this node finished"
	case o.RunTimedOut:
		code, why = CodeRunTimeout, fmt.Sprintf("the run's --timeout ran out after %s on this node", o.Now.Sub(o.Created).Round(time.Second))
	}
	return Classification{checks.Inconclusive, code, why + ": " + describePod(o.Pod), ev}
}

// NodeCondition is what the node's Ready condition alone says, for a
// verdict without a probe result (a pod that never finished, or
// `check --no-pod`): Ready=False because the runtime is down is
// Unresponsive; a kubelet that stopped posting status, or any other
// Ready=False, is Inconclusive. ok is false for a Ready node.
func NodeCondition(n *corev1.Node) (Classification, bool) {
	return nodeCondition(n, nil)
}

func nodeCondition(n *corev1.Node, ev []Evidence) (Classification, bool) {
	c, ok := readyCondition(n)
	switch {
	case !ok:
		return Classification{}, false
	case c.Status == corev1.ConditionFalse && runtimeDown(c.Message):
		return Classification{checks.Unresponsive, CodeRuntimeDown,
			"node Ready=False: " + firstLine(c.Message),
			append([]Evidence{conditionEvidence(c)}, ev...)}, true
	case c.Status == corev1.ConditionUnknown:
		return Classification{checks.Inconclusive, CodeNodeNotPosting,
			"node not ready: the kubelet stopped posting node status (" + firstLine(c.Message) + ")",
			append([]Evidence{conditionEvidence(c)}, ev...)}, true
	case c.Status == corev1.ConditionFalse:
		return Classification{checks.Inconclusive, CodeNodeNotReady,
			"node not ready: " + firstLine(c.Reason+": "+c.Message), append([]Evidence{conditionEvidence(c)}, ev...)}, true
	}
	return Classification{}, false
}

// ClassifyFinished explains a pod that ended without a valid result.
// parseErr says what was wrong with the termination message and log.
func ClassifyFinished(pod *corev1.Pod, parseErr error) Classification {
	ev := podEvidence(Observation{Pod: pod})
	if t := terminated(pod); t != nil {
		return Classification{checks.Inconclusive, CodeNoResult,
			fmt.Sprintf("the probe exited with code %d (%s) without a valid result: %v", t.ExitCode, t.Reason, parseErr), ev}
	}
	why := pod.Status.Reason
	if pod.Status.Message != "" {
		why += ": " + pod.Status.Message
	}
	return Classification{checks.Inconclusive, CodePodFailed,
		fmt.Sprintf("the kubelet failed the pod before the probe ran (%s)", firstLine(why)), ev}
}

// runtimeDown matches the kubelet's Ready=False messages that mean the
// runtime itself is not answering.
func runtimeDown(msg string) bool {
	return strings.Contains(msg, "container runtime is down") || strings.Contains(msg, "PLEG is not healthy")
}

func isDeadline(msg string) bool {
	return strings.Contains(msg, "context deadline exceeded") || strings.Contains(msg, "DeadlineExceeded")
}

// findEvent returns the most recent event with reason whose message
// matches.
func findEvent(events []corev1.Event, reason string, match func(string) bool) (corev1.Event, bool) {
	var found []corev1.Event
	for _, e := range events {
		if e.Reason == reason && match(e.Message) {
			found = append(found, e)
		}
	}
	if len(found) == 0 {
		return corev1.Event{}, false
	}
	sort.SliceStable(found, func(i, j int) bool { return eventTime(found[i]).Before(eventTime(found[j])) })
	return found[len(found)-1], true
}

func eventTime(e corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.FirstTimestamp.Time
}

func eventEvidence(e corev1.Event) Evidence {
	return Evidence{Source: "event", Reason: e.Reason, Message: e.Message, Count: e.Count}
}

func conditionEvidence(c corev1.NodeCondition) Evidence {
	return Evidence{Source: "node", Reason: c.Reason, Message: fmt.Sprintf("%s=%s: %s", c.Type, c.Status, c.Message)}
}

func readyCondition(n *corev1.Node) (corev1.NodeCondition, bool) {
	if n == nil {
		return corev1.NodeCondition{}, false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c, true
		}
	}
	return corev1.NodeCondition{}, false
}

func probeStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	if pod == nil {
		return nil
	}
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == ContainerName {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func waiting(pod *corev1.Pod) *corev1.ContainerStateWaiting {
	if s := probeStatus(pod); s != nil {
		return s.State.Waiting
	}
	return nil
}

func terminated(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	if s := probeStatus(pod); s != nil {
		return s.State.Terminated
	}
	return nil
}

// podEvidence records the pod's own state: phase and container state.
func podEvidence(o Observation) []Evidence {
	if o.Pod == nil {
		return nil
	}
	return []Evidence{{Source: "pod", Reason: phaseOf(o.Pod), Message: describePod(o.Pod)}}
}

// phaseOf is the pod's phase; the API server sets Pending on create, a
// pod built locally may have none yet.
func phaseOf(pod *corev1.Pod) string {
	if pod.Status.Phase == "" {
		return string(corev1.PodPending)
	}
	return string(pod.Status.Phase)
}

// describePod says where the pod got to, in kubectl's words.
func describePod(pod *corev1.Pod) string {
	if pod == nil {
		return "the pod was never seen"
	}
	phase := phaseOf(pod)
	s := probeStatus(pod)
	switch {
	case s == nil && len(pod.Status.Conditions) == 0:
		return "pod " + phase + ", the kubelet has not reported on it"
	case s == nil:
		return "pod " + phase + ", no container status yet"
	case s.State.Waiting != nil:
		msg := "pod " + phase + ", container waiting: " + s.State.Waiting.Reason
		if s.State.Waiting.Message != "" {
			msg += ": " + firstLine(s.State.Waiting.Message)
		}
		return msg
	case s.State.Running != nil:
		return "pod " + phase + ", probe still running"
	case s.State.Terminated != nil:
		return fmt.Sprintf("pod %s, probe exited with code %d", phase, s.State.Terminated.ExitCode)
	}
	return "pod " + phase
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	const maxLen = 300
	if len(s) > maxLen {
		s = s[:maxLen] + "..."
	}
	return s
}
