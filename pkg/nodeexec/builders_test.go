package nodeexec

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// t0 is the fixed start of every test scenario.
var t0 = time.Date(2026, 12, 3, 23, 0, 0, 0, time.UTC)

type nodeBuilder struct{ n corev1.Node }

// newNode is a Ready Linux containerd node.
func newNode(name string) *nodeBuilder {
	b := &nodeBuilder{corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelOSStable: "linux"}}}}
	b.n.Status.NodeInfo = corev1.NodeSystemInfo{OperatingSystem: "linux", ContainerRuntimeVersion: "containerd://1.6.20"}
	return b.ready(corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status")
}

func (b *nodeBuilder) runtime(v string) *nodeBuilder {
	b.n.Status.NodeInfo.ContainerRuntimeVersion = v
	return b
}
func (b *nodeBuilder) label(k, v string) *nodeBuilder { b.n.Labels[k] = v; return b }
func (b *nodeBuilder) os(v string) *nodeBuilder {
	b.n.Status.NodeInfo.OperatingSystem = v
	delete(b.n.Labels, corev1.LabelOSStable)
	return b
}
func (b *nodeBuilder) ready(s corev1.ConditionStatus, reason, msg string) *nodeBuilder {
	b.n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: s, Reason: reason, Message: msg}}
	return b
}
func (b *nodeBuilder) V() corev1.Node  { return b.n }
func (b *nodeBuilder) P() *corev1.Node { n := b.n; return &n }

type podBuilder struct{ p corev1.Pod }

// newPod is the pod as created: no status yet.
func newPod(node string) *podBuilder {
	return &podBuilder{*PodFor(node, testOptions())}
}

func (b *podBuilder) phase(p corev1.PodPhase) *podBuilder { b.p.Status.Phase = p; return b }
func (b *podBuilder) waiting(reason, msg string) *podBuilder {
	b.p.Status.Phase = corev1.PodPending
	b.p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	b.p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
	return b
}
func (b *podBuilder) running() *podBuilder {
	b.p.Status.Phase = corev1.PodRunning
	b.p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	return b
}
func (b *podBuilder) terminated(phase corev1.PodPhase, code int32, reason, msg string) *podBuilder {
	b.p.Status.Phase = phase
	b.p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg}}}}
	return b
}
func (b *podBuilder) failed(reason, msg string) *podBuilder {
	b.p.Status.Phase, b.p.Status.Reason, b.p.Status.Message = corev1.PodFailed, reason, msg
	return b
}
func (b *podBuilder) P() *corev1.Pod { p := b.p; return &p }

func event(pod *corev1.Pod, reason, msg string, at time.Time) corev1.Event {
	return corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: pod.Name + "." + reason, Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Reason:         reason, Message: msg, Type: corev1.EventTypeWarning, Count: 1,
		FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at),
	}
}
