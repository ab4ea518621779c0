//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/checks"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/stall"
)

// TestE2ECadvisorSocket is issue 8 on the local cluster: node-3's
// containerd serves only /run/k3s/containerd/containerd.sock (its kubelet's
// containerRuntimeEndpoint), so the kubelet's cAdvisor, which dials
// /run/containerd/containerd.sock, found nothing there at start and never
// registered its containerd factory. `check`, with no --socket, must read
// each kubelet's socket from /configz, probe it, and report node-3 with the
// finding naming both sockets and the missing labels (node-1 and node-2
// without it); then, with a second containerd started on node-3's default
// socket, node-3 must be AtRisk naming that other daemon. Each run stays
// bounded and leaves no pod.
func TestE2ECadvisorSocket(t *testing.T) {
	const node = "node-3"
	c := NewCluster(t, Options{ContainerdSock: map[string]string{node: k3sSock}})
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// A running container on every node, so that /metrics/cadvisor has
	// container series to carry (or lack) the labels.
	ns := NewNamespace(ctx, t, cs, "cadvisor-socket")
	apps := map[string]string{}
	var lastStart time.Time
	for _, n := range c.Nodes {
		var started time.Time
		apps[n], started = startAppPod(ctx, t, cs, ns, n)
		if started.After(lastStart) {
			lastStart = started
		}
	}
	for _, n := range c.Nodes {
		want := n != node
		waitContainerSeries(ctx, t, cs, n, apps[n], want)
	}
	// The comparison with the running containers leaves out containers
	// younger than stall.DefaultStartGrace: let the apps pass it.
	waitPast(ctx, t, lastStart.Add(stall.DefaultStartGrace+2*time.Second))
	checkNS := testNamespace(t, c, "pod-security.kubernetes.io/enforce=privileged")

	t.Run("cAdvisor's socket missing", func(t *testing.T) {
		res, rep := newCheck(t, c, "-n", checkNS, "--node-timeout", "45s", "--timeout", "90s").JSON(2 * time.Minute)
		if res.code != report.ExitOK {
			t.Errorf("exit %d, want %d (a missing cAdvisor socket leaves the verdict)\n%s", res.code, report.ExitOK, res.stderr)
		}
		for _, n := range c.Nodes {
			it := mustItem(t, rep, n)
			if it.Verdict != report.Healthy {
				t.Errorf("%s: %s %q, want Healthy", n, it.Verdict, it.Reason)
			}
			sock := defaultSock
			if n == node {
				sock = k3sSock
			}
			if it.Result == nil || it.Result.Socket.Path != sock || it.Result.Socket.Discovered {
				t.Errorf("%s: probed %+v, want %s from the kubelet's /configz", n, it.Result, sock)
			}
			codes := findingCodes(it)
			if n != node {
				if strings.Contains(codes, "CADVISOR_SOCKET") || strings.Contains(codes, string(report.CodeCAdvisorNotRegistered)) {
					t.Errorf("%s: findings %s, want none about cAdvisor's socket", n, codes)
				}
				continue
			}
			f := finding(it, checks.CodeCadvisorSocketMissing)
			for _, part := range []string{"cAdvisor dials " + defaultSock + " (missing)", "kubelet uses " + k3sSock, "lack image/name labels"} {
				if f == nil || !strings.Contains(f.Message, part) {
					t.Errorf("%s: finding %s %+v, want it to say %q (findings %s)", n, checks.CodeCadvisorSocketMissing, f, part, codes)
				}
				if !strings.Contains(it.Reason, part) {
					t.Errorf("%s: reason %q, want %q in it", n, it.Reason, part)
				}
			}
			reg := finding(it, report.CodeCAdvisorNotRegistered)
			if reg == nil || !strings.Contains(reg.Message, "1 of 1 running containers unlabeled") || !strings.Contains(reg.Message, "kubelet uses "+k3sSock) ||
				!strings.Contains(reg.Message, "cAdvisor dials "+defaultSock) {
				t.Errorf("%s: finding %+v, want %s naming the unlabeled app container and the kubelet's socket", n, reg, report.CodeCAdvisorNotRegistered)
			}
		}
		if res.elapsed > time.Minute {
			t.Errorf("check took %s: healthy nodes answer in seconds", res.elapsed)
		}
		assertNoPodsLeft(t, c)
	})

	t.Run("another containerd on cAdvisor's socket", func(t *testing.T) {
		start := c.Script(ctx, "start-other-containerd", node)
		if start.Err != nil {
			t.Fatalf("start-other-containerd: %s", start)
		}
		otherPID := strings.TrimSpace(lastLine(start.Stdout))
		t.Cleanup(func() {
			if res := c.Script(context.Background(), "stop-other-containerd", node); res.Err != nil {
				t.Errorf("stop-other-containerd: %s", res)
			}
		})
		res, rep := newCheck(t, c, "-n", checkNS, "--node-timeout", "45s", "--timeout", "90s").JSON(2 * time.Minute)
		if res.code != report.ExitFindings {
			t.Errorf("exit %d, want %d (node-3 AtRisk)\n%s", res.code, report.ExitFindings, res.stderr)
		}
		for _, n := range c.Nodes {
			it := mustItem(t, rep, n)
			if n != node {
				if it.Verdict != report.Healthy || strings.Contains(findingCodes(it), "CADVISOR_SOCKET") {
					t.Errorf("%s: %s %q findings %s, want Healthy without cAdvisor-socket findings", n, it.Verdict, it.Reason, findingCodes(it))
				}
				continue
			}
			want := fmt.Sprintf("cAdvisor dials %s (another containerd, ", defaultSock)
			if it.Verdict != report.AtRisk || !strings.Contains(it.Reason, want) || !strings.Contains(it.Reason, "pid "+otherPID) ||
				!strings.Contains(it.Reason, "kubelet uses "+k3sSock) {
				t.Errorf("%s: %s %q, want AtRisk naming the other daemon (pid %s) and the kubelet's socket", n, it.Verdict, it.Reason, otherPID)
			}
			if finding(it, checks.CodeCadvisorSocketOtherDaemon) == nil {
				t.Errorf("%s: findings %s, want %s", n, findingCodes(it), checks.CodeCadvisorSocketOtherDaemon)
			}
			cs := it.Result.CadvisorSocket
			if cs == nil || cs.SameDaemon == nil || *cs.SameDaemon || cs.Sweep == nil || cs.Sweep.Containers == 0 || cs.Sweep.Stuck != 0 {
				t.Errorf("%s: cadvisorSocket %+v, want another daemon, swept with cAdvisor's calls, none stuck", n, cs)
			}
		}
		if res.elapsed > time.Minute {
			t.Errorf("check took %s", res.elapsed)
		}
		assertNoPodsLeft(t, c)
	})
}

func mustItem(t *testing.T, rep *report.Report, node string) report.Item {
	t.Helper()
	it := item(rep, node)
	if it.Node == "" {
		t.Fatalf("no item for %s in the report", node)
	}
	return it
}

func finding(it report.Item, code nodeexec.Code) *report.Finding {
	for i := range it.Findings {
		if it.Findings[i].Code == code {
			return &it.Findings[i]
		}
	}
	return nil
}

func findingCodes(it report.Item) string {
	var codes []string
	for _, f := range it.Findings {
		codes = append(codes, string(f.Code))
	}
	return strings.Join(codes, ",")
}

// startAppPod runs a pause pod on node and returns its container's id and
// start time.
func startAppPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, node string) (string, time.Time) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app-" + node, Namespace: ns}, Spec: corev1.PodSpec{
		NodeName: node, Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10", ImagePullPolicy: corev1.PullIfNotPresent}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	var id string
	var started time.Time
	poll(ctx, t, 90*time.Second, "pod "+ns+"/"+p.Name+" Running", func() bool {
		got, err := cs.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil || len(got.Status.ContainerStatuses) == 0 || got.Status.ContainerStatuses[0].State.Running == nil {
			return false
		}
		id = strings.TrimPrefix(got.Status.ContainerStatuses[0].ContainerID, "containerd://")
		started = got.Status.ContainerStatuses[0].State.Running.StartedAt.Time
		return id != ""
	})
	return id, started
}

// waitContainerSeries waits until node's /metrics/cadvisor has a series
// for container id, labeled with image and name or not as wanted.
func waitContainerSeries(ctx context.Context, t *testing.T, cs kubernetes.Interface, node, id string, labeled bool) {
	t.Helper()
	var last string
	poll(ctx, t, 60*time.Second, fmt.Sprintf("series of container %.12s in %s's /metrics/cadvisor (labeled %v)", id, node, labeled), func() bool {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		b, err := cs.CoreV1().RESTClient().Get().Resource("nodes").Name(node).SubResource("proxy").
			Suffix(kubeletevidence.PathCAdvisorMetrics).DoRaw(rctx)
		if err != nil {
			last = err.Error()
			return false
		}
		m, err := kubeletevidence.ParseCAdvisorMetrics(bytes.NewReader(b), 0)
		if err != nil {
			last = err.Error()
			return false
		}
		cov := m.Coverage([]string{id})
		last = fmt.Sprintf("coverage %+v", cov)
		return cov.WithSeries == 1 && (cov.Labeled == 1) == labeled
	}, func() string { return last })
}
