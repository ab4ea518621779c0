package nodeexec

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// behavior is what the simulated kubelet does with a pod on one node.
type behavior func(ctx context.Context, t *testing.T, c kubernetes.Interface, pod *corev1.Pod)

// finishWith writes a probe result into the termination message, the way
// the kubelet reports a container that wrote /dev/termination-log.
func finishWith(v checks.Verdict, reason string, delay time.Duration) behavior {
	return func(ctx context.Context, t *testing.T, c kubernetes.Interface, pod *corev1.Pod) {
		r := checks.Result{APIVersion: checks.APIVersion, Kind: checks.Kind, Node: pod.Spec.NodeName, Verdict: v, Reason: reason,
			Socket: checks.SocketInfo{Path: DefaultSocket, Exists: true, Type: "socket"}, Containerd: checks.ContainerdInfo{Version: "1.6.20"}}
		b, _ := json.Marshal(r)
		time.Sleep(delay)
		phase, code := corev1.PodSucceeded, int32(0)
		if v != checks.Healthy {
			phase, code = corev1.PodFailed, 1
		}
		setStatus(ctx, t, c, pod, phase, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: "Completed", Message: string(b),
			StartedAt: metav1.Now(), FinishedAt: metav1.Now(),
		}})
	}
}

// waitWith leaves the container waiting with reason.
func waitWith(reason, msg string) behavior {
	return func(ctx context.Context, t *testing.T, c kubernetes.Interface, pod *corev1.Pod) {
		setStatus(ctx, t, c, pod, corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}})
	}
}

// sandboxTimeout is what a kubelet on a frozen runtime does: the pod stays
// ContainerCreating and an event says the sandbox call timed out.
func sandboxTimeout(ctx context.Context, t *testing.T, c kubernetes.Interface, pod *corev1.Pod) {
	waitWith("ContainerCreating", "")(ctx, t, c, pod)
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1"},
		Reason:         "FailedCreatePodSandBox", Type: corev1.EventTypeWarning, Count: 1,
		Message:        "Failed to create pod sandbox: rpc error: code = DeadlineExceeded desc = context deadline exceeded",
		Source:         corev1.EventSource{Component: "kubelet", Host: pod.Spec.NodeName},
		FirstTimestamp: now, LastTimestamp: now,
	}
	if _, err := c.CoreV1().Events(pod.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Errorf("kubelet: create event: %v", err)
	}
}

// silent never touches the pod: a kubelet that does not sync it.
func silent(context.Context, *testing.T, kubernetes.Interface, *corev1.Pod) {}

func setStatus(ctx context.Context, t *testing.T, c kubernetes.Interface, pod *corev1.Pod, phase corev1.PodPhase, st corev1.ContainerState) {
	p := pod.DeepCopy()
	p.Status.Phase = phase
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName, Image: pod.Spec.Containers[0].Image, State: st}}
	if _, err := c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		t.Errorf("kubelet: update status of %s: %v", p.Name, err)
	}
}

// playKubelet acts as the kubelet of every node in behaviors, for the
// pods of namespace ns, until the test ends. It follows the pods the way
// nodeexec does (watchPods: list, then watch, re-list on errors), so it
// sees every pod once.
func playKubelet(t *testing.T, c kubernetes.Interface, ns string, behaviors map[string]behavior) {
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan podEvent)
	done := make(chan struct{})
	go func() { defer close(done); watchPods(ctx, c, ns, ManagedSelector(), events) }()
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		seen := map[string]bool{}
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-events:
				if ev.deleted || seen[ev.pod.Name] {
					continue
				}
				seen[ev.pod.Name] = true
				if b := behaviors[ev.pod.Spec.NodeName]; b != nil {
					go b(ctx, t, c, ev.pod)
				}
			}
		}
	}()
}

// createNodes registers Node objects with a status, as kubelets would.
func createNodes(t *testing.T, c kubernetes.Interface, nodes ...*corev1.Node) {
	t.Helper()
	ctx := context.Background()
	for _, n := range nodes {
		status := n.Status
		created, err := c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create node %s: %v", n.Name, err)
		}
		created.Status = status
		for i := range created.Status.Conditions {
			created.Status.Conditions[i].LastHeartbeatTime = metav1.Now()
			created.Status.Conditions[i].LastTransitionTime = metav1.Now()
		}
		if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update node status %s: %v", n.Name, err)
		}
		name := n.Name
		t.Cleanup(func() { _ = c.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
}
