package nodeexec

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

const image = "ghcr.io/kubectl-cadvisor-doctor/probe:v0.1.0"

const sandboxDeadline = `Failed to create pod sandbox: rpc error: code = DeadlineExceeded desc = context deadline exceeded`

func TestClassifyPending(t *testing.T) {
	creating := newPod("n").waiting("ContainerCreating", "").P()
	obs := func(pod *corev1.Pod, node *corev1.Node, events ...corev1.Event) Observation {
		return Observation{Pod: pod, Node: node, Events: events, Image: image, Created: t0, Now: t0.Add(45 * time.Second)}
	}
	creatingEv := Evidence{Source: "pod", Reason: "Pending", Message: "pod Pending, container waiting: ContainerCreating"}
	tests := []struct {
		name string
		in   Observation
		want Classification
	}{
		{
			name: "sandbox deadline: runtime hung",
			in:   obs(creating, newNode("n").P(), event(creating, "FailedCreatePodSandBox", sandboxDeadline, t0.Add(31*time.Second))),
			want: Classification{checks.Unresponsive, CodeSandboxTimeout,
				"the runtime did not create the pod sandbox before the kubelet's deadline (FailedCreatePodSandBox: " + sandboxDeadline + ")",
				[]Evidence{{Source: "event", Reason: "FailedCreatePodSandBox", Message: sandboxDeadline, Count: 1}, creatingEv}},
		},
		{
			name: "sandbox failed for another reason is not a hang",
			in: obs(creating, newNode("n").P(),
				event(creating, "FailedCreatePodSandBox", "failed to setup network for sandbox: plugin not found", t0)),
			want: Classification{checks.Inconclusive, CodePodStartTimeout,
				"no result within --node-timeout (45s): pod Pending, container waiting: ContainerCreating", []Evidence{creatingEv}},
		},
		{
			name: "runtime down condition",
			in:   obs(creating, newNode("n").ready(corev1.ConditionFalse, "KubeletNotReady", "container runtime is down, PLEG is not healthy: pleg was last seen active 3m0s ago").P()),
			want: Classification{checks.Unresponsive, CodeRuntimeDown,
				"node Ready=False: container runtime is down, PLEG is not healthy: pleg was last seen active 3m0s ago",
				[]Evidence{{Source: "node", Reason: "KubeletNotReady", Message: "Ready=False: container runtime is down, PLEG is not healthy: pleg was last seen active 3m0s ago"}, creatingEv}},
		},
		{
			name: "PLEG alone",
			in:   obs(creating, newNode("n").ready(corev1.ConditionFalse, "KubeletNotReady", "PLEG is not healthy: pleg was last seen active 3m4s ago").P()),
			want: Classification{checks.Unresponsive, CodeRuntimeDown, "node Ready=False: PLEG is not healthy: pleg was last seen active 3m4s ago",
				[]Evidence{{Source: "node", Reason: "KubeletNotReady", Message: "Ready=False: PLEG is not healthy: pleg was last seen active 3m4s ago"}, creatingEv}},
		},
		{
			name: "image pull: our problem, never the node's",
			in:   obs(newPod("n").waiting("ErrImagePull", "pull access denied").P(), newNode("n").P()),
			want: Classification{checks.Inconclusive, CodeImagePull,
				`probe image "` + image + `" could not be pulled on the node (ErrImagePull): not a node problem; pass --image or --image-pull-secret`,
				[]Evidence{{Source: "pod", Reason: "ErrImagePull", Message: "pull access denied"}}},
		},
		{
			name: "image pull seen only in an event",
			in:   obs(creating, newNode("n").P(), event(creating, "Failed", `Failed to pull image "x": not found`, t0)),
			want: Classification{checks.Inconclusive, CodeImagePull,
				`probe image "` + image + `" could not be pulled on the node (ErrImagePull): not a node problem; pass --image or --image-pull-secret`,
				[]Evidence{{Source: "pod", Reason: "ErrImagePull", Message: `Failed to pull image "x": not found`}}},
		},
		{
			name: "container create deadline",
			in:   obs(newPod("n").waiting("CreateContainerError", "context deadline exceeded").P(), newNode("n").P()),
			want: Classification{checks.Unresponsive, CodeRuntimeCallTimeout,
				"the runtime hit a deadline creating the probe container (CreateContainerError: context deadline exceeded)",
				[]Evidence{{Source: "pod", Reason: "Pending", Message: "pod Pending, container waiting: CreateContainerError: context deadline exceeded"}}},
		},
		{
			name: "socket directory missing",
			in: obs(creating, newNode("n").P(), event(creating, "FailedMount",
				`MountVolume.SetUp failed for volume "containerd-socket-dir" : hostPath type check failed: /run/containerd is not a directory`, t0)),
			want: Classification{checks.Unreachable, CodeSocketDirMissing,
				`the containerd socket's directory does not exist on the node (MountVolume.SetUp failed for volume "containerd-socket-dir" : hostPath type check failed: /run/containerd is not a directory)`,
				[]Evidence{{Source: "event", Reason: "FailedMount", Count: 1,
					Message: `MountVolume.SetUp failed for volume "containerd-socket-dir" : hostPath type check failed: /run/containerd is not a directory`}, creatingEv}},
		},
		{
			name: "kubelet not posting status",
			in:   obs(newPod("n").P(), newNode("n").ready(corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status.").P()),
			want: Classification{checks.Inconclusive, CodeNodeNotPosting,
				"node not ready: the kubelet stopped posting node status (Kubelet stopped posting node status.)",
				[]Evidence{{Source: "node", Reason: "NodeStatusUnknown", Message: "Ready=Unknown: Kubelet stopped posting node status."}, {Source: "pod", Reason: "Pending", Message: "pod Pending, the kubelet has not reported on it"}}},
		},
		{
			name: "node not ready for another reason",
			in:   obs(creating, newNode("n").ready(corev1.ConditionFalse, "KubeletNotReady", "container runtime network not ready: cni config uninitialized").P()),
			want: Classification{checks.Inconclusive, CodeNodeNotReady,
				"node not ready: KubeletNotReady: container runtime network not ready: cni config uninitialized",
				[]Evidence{{Source: "node", Reason: "KubeletNotReady", Message: "Ready=False: container runtime network not ready: cni config uninitialized"}, creatingEv}},
		},
		{
			name: "node deleted",
			in:   Observation{Pod: creating, NodeGone: true, Image: image, Created: t0, Now: t0.Add(time.Minute)},
			want: Classification{checks.Inconclusive, CodeNodeGone, "the node was deleted during the run", []Evidence{creatingEv}},
		},
		{
			name: "probe still running",
			in:   obs(newPod("n").running().P(), newNode("n").P()),
			want: Classification{checks.Inconclusive, CodePodStartTimeout, "no result within --node-timeout (45s): pod Running, probe still running",
				[]Evidence{{Source: "pod", Reason: "Running", Message: "pod Running, probe still running"}}},
		},
		{
			name: "run timeout",
			in:   Observation{Pod: creating, Node: newNode("n").P(), Image: image, Created: t0, Now: t0.Add(20 * time.Second), RunTimedOut: true},
			want: Classification{checks.Inconclusive, CodeRunTimeout, "the run's --timeout ran out after 20s on this node: pod Pending, container waiting: ContainerCreating", []Evidence{creatingEv}},
		},
		{
			name: "interrupted",
			in:   Observation{Pod: creating, Image: image, Created: t0, Now: t0.Add(time.Second), Canceled: true},
			want: Classification{checks.Inconclusive, CodeRunTimeout, "the run was interrupted before this node finished: pod Pending, container waiting: ContainerCreating", []Evidence{creatingEv}},
		},
		{
			name: "never seen",
			in:   Observation{Image: image, Created: t0, Now: t0.Add(45 * time.Second)},
			want: Classification{checks.Inconclusive, CodePodStartTimeout, "no result within --node-timeout (45s): the pod was never seen", nil},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ClassifyPending(tc.in)); diff != "" {
				t.Errorf("ClassifyPending (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEarlyVerdict(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want Code // "" for none
	}{
		{"backoff is final", newPod("n").waiting("ImagePullBackOff", "Back-off pulling image").P(), CodeImagePull},
		{"never pull", newPod("n").waiting("ErrImageNeverPull", "").P(), CodeImagePull},
		{"invalid name", newPod("n").waiting("InvalidImageName", "").P(), CodeImagePull},
		{"first pull failure may be retried", newPod("n").waiting("ErrImagePull", "").P(), ""},
		{"creating", newPod("n").waiting("ContainerCreating", "").P(), ""},
		{"no status", newPod("n").P(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Code
			if c := EarlyVerdict(tc.pod, image); c != nil {
				got = c.Code
				if c.Verdict != checks.Inconclusive {
					t.Errorf("verdict %s, an image problem is never a node verdict", c.Verdict)
				}
			}
			if got != tc.want {
				t.Errorf("EarlyVerdict code = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClassifyFinished(t *testing.T) {
	parseErr := errors.New("empty")
	tests := []struct {
		name string
		pod  *corev1.Pod
		want Classification
	}{
		{
			name: "exited without result",
			pod:  newPod("n").terminated(corev1.PodFailed, 2, "Error", "").P(),
			want: Classification{checks.Inconclusive, CodeNoResult, "the probe exited with code 2 (Error) without a valid result: empty",
				[]Evidence{{Source: "pod", Reason: "Failed", Message: "pod Failed, probe exited with code 2"}}},
		},
		{
			name: "kubelet rejected the pod",
			pod:  newPod("n").failed("OutOfcpu", "Node didn't have enough resource: cpu").P(),
			want: Classification{checks.Inconclusive, CodePodFailed, "the kubelet failed the pod before the probe ran (OutOfcpu: Node didn't have enough resource: cpu)",
				[]Evidence{{Source: "pod", Reason: "Failed", Message: "pod Failed, the kubelet has not reported on it"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ClassifyFinished(tc.pod, parseErr)); diff != "" {
				t.Errorf("ClassifyFinished (-want +got):\n%s", diff)
			}
		})
	}
}
