//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

const k3sSock = "/run/k3s/containerd/containerd.sock"

// TestE2EClusterLifecycle brings up a one-node cluster of its own whose
// containerd serves a k3s-style socket, runs a long-lived pod there, freezes
// that pod's shim and the node's containerd, and then checks that `down`
// leaves nothing and that `up` after `down` works.
func TestE2EClusterLifecycle(t *testing.T) {
	if err := prerequisites(); err != nil {
		skipOrFail(t, err)
	}
	name := fmt.Sprintf("kcd-t%d-lc", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		run(scriptCmd(ctx, name, nil, "down"))
	})

	start := time.Now()
	c, err := Start(ctx, Options{Name: name, Nodes: 1, ContainerdSock: map[string]string{"node-1": k3sSock}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("up (1 node) in %s", time.Since(start).Round(time.Millisecond))
	if got := c.ContainerdSock["node-1"]; got != k3sSock {
		t.Errorf("status: node-1 socket %q, want %q", got, k3sSock)
	}
	same := []string{"E2E_NODES=1", "E2E_CONTAINERD_SOCK=node-1=" + k3sSock}
	if r := run(scriptCmd(ctx, name, same, "up")); r.Err != nil || !strings.Contains(r.Stderr, "already up") {
		t.Errorf("up on a running cluster: want success saying 'already up', got %s", r)
	}
	if r := run(scriptCmd(ctx, name, []string{"E2E_NODES=1"}, "up")); r.ExitCode != 1 || !strings.Contains(r.Stderr, "up with other settings") {
		t.Errorf("up with other settings on a running cluster: want exit 1 'up with other settings', got %s", r)
	}

	// The custom socket is the node's own: present inside the node, absent
	// on the host, and nothing on the node's default socket path.
	if r := c.NodeExec(ctx, "node-1", "test", "-S", k3sSock); r.Err != nil {
		t.Errorf("node-1 has no socket %s: %s", k3sSock, r)
	}
	if r := c.NodeExec(ctx, "node-1", "test", "-e", "/run/containerd/containerd.sock"); r.ExitCode != 1 {
		t.Errorf("node-1's /run/containerd/containerd.sock should not exist: %s", r)
	}
	if _, err := os.Stat(k3sSock); err == nil {
		t.Errorf("%s exists on the host: the node's socket leaked out of its mount namespace", k3sSock)
	}
	// The kubelet uses the custom socket: its configz says so.
	if r := c.Kubectl(ctx, "get", "--raw", "/api/v1/nodes/node-1/proxy/configz"); r.Err != nil ||
		!strings.Contains(r.Stdout, `"containerRuntimeEndpoint":"unix://`+k3sSock+`"`) {
		t.Errorf("node-1 configz: want containerRuntimeEndpoint unix://%s: %s", k3sSock, r)
	}

	// A long-lived pod (the pause image as a container).
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{
			Name: "sleep", Image: "registry.k8s.io/pause:3.10", ImagePullPolicy: corev1.PullIfNotPresent}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "sleeper", metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatalf("sleeper pod not Running: %v", err)
	}

	// Freeze the shim, then the runtime: both must show as stopped (T).
	shim, err := c.FreezeShim(ctx, "node-1", "sleeper")
	if err != nil {
		t.Fatal(err)
	}
	assertProcState(t, "shim", shim, "T")
	if err := c.ThawShim(ctx, "node-1", "default/sleeper"); err != nil {
		t.Fatal(err)
	}
	assertProcState(t, "shim after thaw", shim, "S")
	if _, err := c.FreezeShim(ctx, "node-1", "sleeper"); err != nil {
		t.Fatal(err)
	}
	ctrd, err := c.ContainerdPID(ctx, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.FreezeRuntime(ctx, "node-1"); err != nil {
		t.Fatal(err)
	}
	assertProcState(t, "containerd", ctrd, "T")
	if r := c.Script(ctx, "status"); !strings.Contains(r.Stdout, fmt.Sprintf("node-1.containerd pid=%d stopped", ctrd)) {
		t.Errorf("status does not show containerd %d stopped:\n%s", ctrd, r.Stdout)
	}

	// down with a frozen runtime, a frozen shim and a running container.
	start = time.Now()
	if err := c.Down(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("down (frozen runtime and shim) in %s", time.Since(start).Round(time.Millisecond))
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", ctrd)); err == nil {
		t.Errorf("containerd pid %d still exists after down", ctrd)
	}
	if r := c.Script(ctx, "status"); r.ExitCode != 3 || !strings.Contains(r.Stdout, "state: down") {
		t.Errorf("status after down: want exit 3 'state: down', got %s", r)
	}

	// up after down.
	c, err = Start(ctx, Options{Name: name, Nodes: 1})
	if err != nil {
		t.Fatalf("up after down: %v", err)
	}
	if r := c.Kubectl(ctx, "get", "nodes", "node-1"); r.Err != nil {
		t.Errorf("up after down: %s", r)
	}
	if err := c.Down(ctx); err != nil {
		t.Fatal(err)
	}
}

func assertProcState(t *testing.T, what string, pid int, want string) {
	t.Helper()
	var got string
	// Signals land asynchronously: allow a moment.
	for i := 0; i < 20; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatalf("%s pid %d: %v", what, pid, err)
		}
		// pid (comm) state ...: comm may hold spaces, so cut after ')'.
		s := string(b)
		if f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]); len(f) > 0 {
			got = f[0]
		}
		if got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("%s pid %d: state %s, want %s", what, pid, got, want)
}

// TestE2EClusterFailedUpLeavesNothing: an `up` that fails after it started
// (here: no Kubernetes binaries) tears down what it made and saves its logs;
// `down` of a cluster that is not up succeeds. Regression: down used to
// abort at the netns step when no netns was left, keeping the state dir.
func TestE2EClusterFailedUpLeavesNothing(t *testing.T) {
	if err := prerequisites(); err != nil {
		skipOrFail(t, err)
	}
	name := fmt.Sprintf("kcd-t%d-fu", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	artifacts := t.TempDir()
	r := run(scriptCmd(ctx, name, []string{"E2E_KUBE_BIN=/nonexistent", "E2E_ARTIFACTS=" + artifacts}, "up"))
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "/nonexistent/kube-apiserver is missing") ||
		!strings.Contains(r.Stderr, "up failed: tearing down") {
		t.Errorf("up without binaries: want exit 1 naming the missing binary and tearing down, got %s", r)
	}
	if left := Leftovers(name); len(left) > 0 {
		t.Errorf("failed up left: %s", strings.Join(left, "; "))
	}
	if !strings.Contains(r.Stderr, "logs saved in "+artifacts) {
		t.Errorf("failed up did not save its logs in E2E_ARTIFACTS=%s: %s", artifacts, r.Stderr)
	}
	if r := run(scriptCmd(ctx, name, nil, "down")); r.Err != nil {
		t.Errorf("down with nothing up: %s", r)
	}
	if left := Leftovers(name); len(left) > 0 {
		t.Errorf("down with nothing up left: %s", strings.Join(left, "; "))
	}
}
