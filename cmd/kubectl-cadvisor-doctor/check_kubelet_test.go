//go:build !probeonly

package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/apiservertest"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/kubeletevidence"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/nodeexec"
	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/pkg/report"
)

func TestCheckOptionsValidateNoPod(t *testing.T) {
	o := NewCheckOptions(genericiooptions.NewTestIOStreamsDiscard())
	o.namespace, o.runID = "default", "r1"
	o.NoPod, o.KubeletEvidence = true, false
	want := "--no-pod needs --kubelet-evidence: it has nothing else to report"
	if err := o.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
	o.KubeletEvidence = true
	if err := o.Validate(); err != nil {
		t.Errorf("Validate() with --no-pod = %v, want nil", err)
	}
}

// grant gives user a cluster role with rules.
func grant(t *testing.T, admin kubernetes.Interface, user string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestIntegrationCheckNoPod runs `check --no-pod` on a real API server as
// users without any pod permission: the run creates no pod, and a kubelet
// it cannot read (no kubelet behind these nodes; nodes/proxy forbidden) is
// a finding on an Inconclusive node, never a failed run.
func TestIntegrationCheckNoPod(t *testing.T) {
	apiservertest.RequireReal(t)
	s := apiservertest.StartT(t, apiservertest.Options{})
	admin := s.ClientT(t)
	apiservertest.Nodes(t, admin, node("np-1"), node("np-2"))
	nodesRule := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list"}}
	grant(t, admin, "evidence-reader", nodesRule,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes/proxy"}, Verbs: []string{"get"}})
	grant(t, admin, "nodes-only", nodesRule)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := admin.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	tests := []struct {
		user     string
		wantCode map[string]bool
	}{
		// This API server has no kubelets: it finds no address to reach them.
		{"evidence-reader", map[string]bool{kubeletevidence.UnavailableKubeletUnreachable: true}},
		{"nodes-only", map[string]bool{kubeletevidence.UnavailableForbidden: true}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			kc := filepath.Join(t.TempDir(), "kubeconfig")
			if err := s.WriteKubeconfig(kc, tt.user); err != nil {
				t.Fatal(err)
			}
			c := &cli{t: t, kubeconfig: kc}
			code, out, stderr := c.run(ctx, "check", "--no-pod", "--timeout", "30s", "-o", "json")
			var rep report.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("exit %d, stdout is not a report (%v):\n%s\nstderr:\n%s", code, err, out, stderr)
			}
			if code != 2 || rep.Summary.Text != "2 nodes: 2 Inconclusive" {
				t.Errorf("exit %d, summary %q; want 2 and two Inconclusive nodes\nstderr:\n%s", code, rep.Summary.Text, stderr)
			}
			for _, it := range rep.Items {
				// The first request (/configz, which the pod path needs first)
				// failed on the way: the other paths, which would fail the
				// same way, are not asked (pkg/stall kubeletOutOfReach), so
				// one unreadable path, one finding.
				if it.Kubelet == nil || len(it.Kubelet.Unavailable) != 1 || len(it.Findings) != 1 {
					t.Errorf("%s: kubelet evidence %+v, findings %v; want the dump unreadable, in one finding", it.Node, it.Kubelet, it.Findings)
					continue
				}
				if f := it.Findings[0]; !tt.wantCode[string(f.Code)] || !strings.Contains(f.Message, "configz") {
					t.Errorf("%s: finding %s (%s), want one of %v for /configz", it.Node, f.Code, f.Message, tt.wantCode)
				}
				if forbidden := tt.wantCode[kubeletevidence.UnavailableForbidden]; forbidden !=
					strings.Contains(stderr, "warning: kubelet evidence skipped on 2 node(s): get on nodes/proxy is forbidden") {
					t.Errorf("stderr %q: the forbidden warning must appear exactly when forbidden", stderr)
				}
				if !strings.HasPrefix(it.Reason, "kubelet: no goroutine dump") {
					t.Errorf("%s: reason %q", it.Node, it.Reason)
				}
			}
		})
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Type == watch.Added {
			t.Errorf("--no-pod created pod %s", ev.Object.(*corev1.Pod).Name)
		}
	default:
	}
	if list, err := admin.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: nodeexec.ManagedSelector()}); err != nil || len(list.Items) != 0 {
		t.Errorf("pods after --no-pod: %v %v", list, err)
	}
}

// TestKubeletRunDecided: the runner's early answer comes only from evidence
// already read, and only when the kubelet's CRI reads are stuck.
func TestKubeletRunDecided(t *testing.T) {
	stuck := &report.KubeletEvidence{Goroutines: &kubeletevidence.Assessment{CRIBlocked: 2, CRIStuck: 1, CRIStuckWait: 6 * time.Second,
		CRIStuckCall: &kubeletevidence.BlockedCall{GRPCMethod: "/runtime.v1.RuntimeService/ListPodSandbox"}}}
	calm := &report.KubeletEvidence{Goroutines: &kubeletevidence.Assessment{}}
	k := &kubeletRun{byNode: map[string]*report.KubeletEvidence{"stuck": stuck, "calm": calm, "pending": stuck},
		done:       map[string]chan struct{}{"stuck": make(chan struct{}), "calm": make(chan struct{}), "pending": make(chan struct{})},
		refreshing: map[string]chan struct{}{}}
	close(k.done["stuck"])
	close(k.done["calm"]) // "pending" not read yet: its entry must not count
	if c := k.decided("stuck"); c == nil || c.Verdict != "Unresponsive" || c.Code != report.CodeKubeletCRIStuck ||
		!strings.Contains(c.Reason, "ListPodSandbox") {
		t.Errorf("stuck: %+v, want Unresponsive KubeletCRIStuck naming the call", c)
	} else if len(c.Evidence) != 1 || c.Evidence[0].Source != "kubelet" || c.Evidence[0].Reason != "/runtime.v1.RuntimeService/ListPodSandbox" {
		t.Errorf("stuck: evidence %+v, want the kubelet's stuck call", c.Evidence)
	}
	for _, n := range []string{"calm", "pending", "unknown"} {
		if c := k.decided(n); c != nil {
			t.Errorf("%s: %+v, want nothing decided", n, c)
		}
	}
	var none *kubeletRun // --kubelet-evidence=false
	if c := none.decided("stuck"); c != nil {
		t.Errorf("no evidence run: %+v", c)
	}
}
