package apiservertest

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// Behavior is what the simulated kubelet does with a new pod on one node.
// Errors go to report (a test's t.Errorf, or a benchmark's counter).
type Behavior func(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, report func(error))

// Kubelet plays the kubelet of a set of nodes for the pods matching a
// label selector in one namespace: no containers run, the API objects move
// as a real kubelet would move them.
type Kubelet struct {
	Client    kubernetes.Interface
	Namespace string
	Selector  string
	// Behaviors by node name; pods on other nodes are left alone.
	Behaviors map[string]Behavior
	// Report receives errors; nil drops them.
	Report func(error)
}

// Run follows the pods (list, then watch; re-list when a watch fails) and
// applies each pod's behavior once, until ctx ends.
func (k *Kubelet) Run(ctx context.Context) {
	report := k.Report
	if report == nil {
		report = func(error) {}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	seen := map[string]bool{}
	handle := func(pod *corev1.Pod) {
		if seen[pod.Name] {
			return
		}
		seen[pod.Name] = true
		if b := k.Behaviors[pod.Spec.NodeName]; b != nil {
			wg.Add(1)
			go func() { defer wg.Done(); b(ctx, k.Client, pod, report) }()
		}
	}
	pods := k.Client.CoreV1().Pods(k.Namespace)
	for ctx.Err() == nil {
		list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: k.Selector})
		if err != nil {
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		for i := range list.Items {
			handle(&list.Items[i])
		}
		w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: k.Selector, ResourceVersion: list.ResourceVersion})
		if err != nil {
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			if pod, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				handle(pod)
			}
		}
		w.Stop()
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

// ProbeResult is a valid probe result for node.
func ProbeResult(node string, v checks.Verdict, reason string) checks.Result {
	return checks.Result{APIVersion: checks.APIVersion, Kind: checks.Kind, Node: node, Verdict: v, Reason: reason,
		Socket:     checks.SocketInfo{Path: "/run/containerd/containerd.sock", Exists: true, Type: "socket"},
		Containerd: checks.ContainerdInfo{Version: "1.6.20"}, Namespace: "k8s.io"}
}

// FinishWith ends the probe container after delay with r in its
// termination message, as the kubelet reports a container that wrote
// /dev/termination-log. Phase and exit code follow the verdict.
func FinishWith(r checks.Result, delay time.Duration) Behavior {
	return func(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, report func(error)) {
		b, err := json.Marshal(r)
		if err != nil {
			report(err)
			return
		}
		sleepCtx(ctx, delay)
		phase, code := corev1.PodSucceeded, int32(0)
		if r.Verdict != checks.Healthy {
			phase, code = corev1.PodFailed, 1
		}
		SetStatus(ctx, c, pod, phase, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: "Completed", Message: string(b), StartedAt: metav1.Now(), FinishedAt: metav1.Now(),
		}}, report)
	}
}

// WaitWith leaves the container waiting with reason (ImagePullBackOff,
// ContainerCreating, ...).
func WaitWith(reason, msg string) Behavior {
	return func(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, report func(error)) {
		SetStatus(ctx, c, pod, corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}, report)
	}
}

// SandboxTimeout is a kubelet on a frozen runtime: the pod stays
// ContainerCreating and an event says the sandbox call timed out.
func SandboxTimeout(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, report func(error)) {
	WaitWith("ContainerCreating", "")(ctx, c, pod, report)
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1"},
		Reason:         "FailedCreatePodSandBox", Type: corev1.EventTypeWarning, Count: 1,
		Message:        "Failed to create pod sandbox: rpc error: code = DeadlineExceeded desc = context deadline exceeded",
		Source:         corev1.EventSource{Component: "kubelet", Host: pod.Spec.NodeName},
		FirstTimestamp: now, LastTimestamp: now,
	}
	if _, err := c.CoreV1().Events(pod.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil && ctx.Err() == nil {
		report(err)
	}
}

// Silent never touches the pod: a kubelet that does not sync it.
func Silent(context.Context, kubernetes.Interface, *corev1.Pod, func(error)) {}

// SetStatus writes the pod's status with one container (the first of the
// spec) in state st.
func SetStatus(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, phase corev1.PodPhase, st corev1.ContainerState, report func(error)) {
	p := pod.DeepCopy()
	p.Status.Phase = phase
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image, State: st}}
	if _, err := c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		report(err)
	}
}

// CreateNode registers a Node and its status, as its kubelet would.
func CreateNode(ctx context.Context, c kubernetes.Interface, n *corev1.Node) error {
	status := n.Status
	created, err := c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	created.Status = status
	for i := range created.Status.Conditions {
		created.Status.Conditions[i].LastHeartbeatTime = metav1.Now()
		created.Status.Conditions[i].LastTransitionTime = metav1.Now()
	}
	_, err = c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
