//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
)

// markerNamespace is a containerd namespace only this test uses: node-i
// gets i metadata-only containers there, so the probe's container count in
// it says which node's containerd the pod reached.
const markerNamespace = "kcd-e2e-smoke"

// TestE2EClusterSmoke runs one privileged, hostNetwork, hostPID probe pod
// pinned to each node with a read-only hostPath of the node's containerd
// directory, and checks from each termination message (and the pod log,
// which goes through the API server to the kubelet) that the pod saw its
// own node's containerd: the daemon PID and the per-node marker count.
func TestE2EClusterSmoke(t *testing.T) {
	c := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	if c.ProbeImage == "" {
		t.Fatal("cluster status has no probe image: was it brought up with E2E_SKIP_IMAGES=1?")
	}
	ns := NewNamespace(ctx, t, cs, "smoke")

	for i, node := range c.Nodes {
		sock := c.ContainerdSock[node]
		for k := 1; k <= i+1; k++ {
			id := fmt.Sprintf("marker-%d", k)
			if r := c.NodeExec(ctx, node, "ctr", "--address", sock, "-n", markerNamespace,
				"containers", "create", "--rootfs", "/", id); r.Err != nil {
				t.Fatalf("creating marker %s on %s: %s", id, node, r)
			}
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for k := 1; k <= i+1; k++ {
				c.NodeExec(ctx, node, "ctr", "--address", sock, "-n", markerNamespace, "containers", "rm", fmt.Sprintf("marker-%d", k))
			}
		})
	}

	created := map[string]time.Time{}
	for _, node := range c.Nodes {
		pod := probePod(ns, node, c.ProbeImage, c.ContainerdSock[node])
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod on %s: %v", node, err)
		}
		created[node] = time.Now()
	}

	for i, node := range c.Nodes {
		name := "probe-" + node
		term, err := waitTerminated(ctx, cs, ns, name)
		if err != nil {
			t.Fatalf("pod %s on %s: %v", name, node, err)
		}
		t.Logf("%s: create to terminated %s (exit %d)", node, time.Since(created[node]).Round(time.Millisecond), term.ExitCode)
		pid, err := c.ContainerdPID(ctx, node)
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, node, "termination message", term.Message, i+1, pid)

		logs, err := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			t.Fatalf("logs of %s (API server -> kubelet %s): %v", name, node, err)
		}
		checkResult(t, node, "log", string(logs), i+1, pid)
	}

	for _, node := range c.Nodes {
		if err := cs.CoreV1().Pods(ns).Delete(ctx, "probe-"+node, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The kubelets confirm the deletions: the objects go only then.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, nil
	})
	if err != nil {
		t.Fatalf("probe pods not gone a minute after delete: %v", err)
	}
}

// checkResult parses a probe result and checks that it came from node's own
// containerd: its daemon PID, and wantMarkers containers in markerNamespace.
func checkResult(t *testing.T, node, what, data string, wantMarkers, containerdPID int) {
	t.Helper()
	var r checks.Result
	if err := json.Unmarshal([]byte(data), &r); err != nil {
		t.Fatalf("%s: %s is not a probe result: %v\n%s", node, what, err, data)
	}
	if r.APIVersion != checks.APIVersion || r.Kind != checks.Kind || r.Node != node || r.Namespace != markerNamespace {
		t.Errorf("%s: %s: apiVersion=%q kind=%q node=%q namespace=%q, want %q %q %q %q", node, what,
			r.APIVersion, r.Kind, r.Node, r.Namespace, checks.APIVersion, checks.Kind, node, markerNamespace)
	}
	if !r.Socket.Exists {
		t.Errorf("%s: %s: socket %s does not exist in the pod: %s", node, what, r.Socket.Path, r.Socket.Error)
	}
	if r.Containers != wantMarkers {
		t.Errorf("%s: %s: %d containers in %s, want %d (the markers of %s's own containerd)",
			node, what, r.Containers, markerNamespace, wantMarkers, node)
	}
	if r.Daemon == nil || r.Daemon.Process == nil {
		t.Errorf("%s: %s: no daemon process evidence, want containerd pid %d", node, what, containerdPID)
	} else if r.Daemon.Process.PID != containerdPID {
		t.Errorf("%s: %s: socket served by pid %d, want %s's containerd pid %d", node, what, r.Daemon.Process.PID, node, containerdPID)
	}
	if r.Verdict != checks.Healthy && r.Verdict != checks.Slow {
		t.Errorf("%s: %s: verdict %s (%s), want Healthy or Slow", node, what, r.Verdict, r.Reason)
	}
}

// probePod is one privileged hostNetwork+hostPID pod pinned to node that
// runs the probe once against the node's containerd through a read-only
// hostPath of its directory (and of the socket's, if elsewhere).
func probePod(ns, node, image, sock string) *corev1.Pod {
	privileged := true
	mounts := []corev1.VolumeMount{{Name: "run-containerd", MountPath: "/host/run/containerd", ReadOnly: true}}
	dirType := corev1.HostPathDirectory
	vols := []corev1.Volume{{Name: "run-containerd", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: "/run/containerd", Type: &dirType}}}}
	if dir := path.Dir(sock); sock != "" && dir != "/run/containerd" {
		mounts = append(mounts, corev1.VolumeMount{Name: "socket-dir", MountPath: "/host" + dir, ReadOnly: true})
		vols = append(vols, corev1.Volume{Name: "socket-dir", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirType}}})
	}
	args := []string{"probe", "--host-root", "/host", "--containerd-namespace", markerNamespace,
		"-o", "json", "--termination-message-path", "/dev/termination-log", "--node-name", node}
	if sock != "" {
		args = append(args, "--socket", sock)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "probe-" + node, Namespace: ns,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "kcd-e2e-smoke"}},
		Spec: corev1.PodSpec{
			NodeName:      node,
			RestartPolicy: corev1.RestartPolicyNever,
			HostNetwork:   true,
			HostPID:       true,
			Tolerations:   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name: "probe", Image: image, ImagePullPolicy: corev1.PullIfNotPresent, Args: args,
				SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
				VolumeMounts:    mounts,
			}},
			Volumes: vols,
		},
	}
}

// waitTerminated waits until the pod's container has terminated and returns
// that state.
func waitTerminated(ctx context.Context, cs kubernetes.Interface, ns, name string) (*corev1.ContainerStateTerminated, error) {
	var term *corev1.ContainerStateTerminated
	var last string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		pod, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = string(pod.Status.Phase)
		for _, st := range pod.Status.ContainerStatuses {
			if st.State.Terminated != nil {
				term = st.State.Terminated
				return true, nil
			}
			if w := st.State.Waiting; w != nil {
				last += " " + w.Reason + ": " + w.Message
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("not terminated in time (last: %s): %w", last, err)
	}
	return term, nil
}

// NewNamespace creates a namespace for one test (prefix plus a unique
// suffix) and deletes it when the test ends.
func NewNamespace(ctx context.Context, t testing.TB, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: prefix + "-", Labels: map[string]string{"app.kubernetes.io/managed-by": "kcd-e2e"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}
