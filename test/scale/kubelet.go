package scale

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/apiservertest"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// Behaviors maps each targeted node to what its simulated kubelet does
// with the probe pod. Skipped nodes get none: check never makes a pod
// there.
func Behaviors(specs []NodeSpec) map[string]apiservertest.Behavior {
	out := map[string]apiservertest.Behavior{}
	for _, s := range specs {
		switch s.Kind {
		case Finish, SlowFinish:
			out[s.Name] = lifecycle(s)
		case SandboxTimeout:
			out[s.Name] = apiservertest.SandboxTimeout
		case ImagePull:
			out[s.Name] = apiservertest.WaitWith("ImagePullBackOff", `Back-off pulling image: failed to pull and unpack image: dial tcp: lookup registry: no such host`)
		case RuntimeDown, NotPosting:
			out[s.Name] = apiservertest.Silent
		}
	}
	return out
}

// lifecycle moves a pod as a kubelet on a healthy node does: Pending with
// the container ContainerCreating a moment after the pod is seen, Running
// once the sandbox and container exist (s.Start), then terminated after
// s.Probe with the probe's JSON in the termination message (phase and
// exit code follow the verdict, as the probe's exit status does). Each
// step is one status update, built on the object the previous one
// returned.
func lifecycle(s NodeSpec) apiservertest.Behavior {
	return func(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, report func(error)) {
		msg, err := json.Marshal(s.Result())
		if err != nil {
			report(err)
			return
		}
		p := pod
		step := func(wait time.Duration, phase corev1.PodPhase, st corev1.ContainerState) bool {
			if !sleep(ctx, wait) {
				return false
			}
			if p = setStatus(ctx, c, p, phase, st, report); p == nil {
				return false
			}
			return true
		}
		if !step(s.Start/4, corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}) {
			return
		}
		if !step(s.Start-s.Start/4, corev1.PodRunning, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}) {
			return
		}
		phase, code := corev1.PodSucceeded, int32(0)
		if s.Verdict != checks.Healthy {
			phase, code = corev1.PodFailed, 1
		}
		started := metav1.NewTime(time.Now().Add(-s.Probe))
		step(s.Probe, phase, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: map[bool]string{true: "Completed", false: "Error"}[code == 0],
			Message: string(msg), StartedAt: started, FinishedAt: metav1.Now(),
		}})
	}
}

// setStatus writes the pod's phase and its one container's state and
// returns the updated pod, or nil after reporting an error.
func setStatus(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, phase corev1.PodPhase, st corev1.ContainerState, report func(error)) *corev1.Pod {
	p := pod.DeepCopy()
	p.Status.Phase = phase
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	ctr := p.Spec.Containers[0]
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ctr.Name, Image: ctr.Image, State: st, Ready: st.Running != nil}}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := c.CoreV1().Pods(p.Namespace).UpdateStatus(rctx, p, metav1.UpdateOptions{})
	if err != nil {
		if ctx.Err() == nil {
			report(err)
		}
		return nil
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
