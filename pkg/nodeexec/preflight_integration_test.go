package nodeexec

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/apiservertest"
)

func TestIntegrationPreflightPodSecurity(t *testing.T) {
	s := realServer(t)
	admin := s.ClientT(t)
	tests := []struct {
		name    string
		labels  map[string]string
		wantErr string
	}{
		{name: "no label (privileged by default)"},
		{name: "privileged", labels: map[string]string{PodSecurityEnforceLabel: "privileged"}},
		{name: "baseline", labels: map[string]string{PodSecurityEnforceLabel: "baseline"},
			wantErr: `enforces PodSecurity "baseline", which rejects the probe pod (privileged, hostPID, hostNetwork, hostPath): label it privileged (kubectl label namespace`},
		{name: "restricted", labels: map[string]string{PodSecurityEnforceLabel: "restricted"}, wantErr: `enforces PodSecurity "restricted"`},
		// Only the dry run sees this: a warn label does not block, but the
		// real admission must still accept the pod.
		{name: "warn baseline only", labels: map[string]string{"pod-security.kubernetes.io/warn": "baseline"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns := apiservertest.Namespace(t, admin, tc.labels)
			_, err := Preflight(context.Background(), admin, runOptions(ns, "pf"), "pf-node")
			checkErr(t, err, tc.wantErr)
			if pods := remainingPods(t, admin, ns); len(pods) > 0 {
				t.Errorf("preflight created pods: %v", pods)
			}
		})
	}
}

func TestIntegrationPreflightRejections(t *testing.T) {
	s := realServer(t)
	admin := s.ClientT(t)
	t.Run("missing namespace", func(t *testing.T) {
		_, err := Preflight(context.Background(), admin, runOptions("does-not-exist", "pf"), "n")
		checkErr(t, err, `namespace "does-not-exist" not found: create it`)
	})
	t.Run("unknown priority class is caught by the dry run", func(t *testing.T) {
		ns := apiservertest.Namespace(t, admin, nil)
		o := runOptions(ns, "pf")
		o.PriorityClassName = "no-such-class"
		_, err := Preflight(context.Background(), admin, o, "n")
		checkErr(t, err, `no PriorityClass with name no-such-class was found`)
	})
	t.Run("quota is caught by the dry run", func(t *testing.T) {
		ns := apiservertest.Namespace(t, admin, nil)
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "zero"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: *resourceQuantity("0")}}}
		if _, err := admin.CoreV1().ResourceQuotas(ns).Create(context.Background(), q, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// No controller manager computes quota usage; set it ourselves.
		q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{corev1.ResourcePods: *resourceQuantity("0")}}
		if _, err := admin.CoreV1().ResourceQuotas(ns).UpdateStatus(context.Background(), withRV(t, admin, ns, q), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := Preflight(context.Background(), admin, runOptions(ns, "pf"), "n")
		checkErr(t, err, "exceeded quota")
	})
}

// TestIntegrationPreflightRBAC applies docs/rbac.yaml to a real API server
// and checks that it grants exactly what a run needs: a user in the group
// passes preflight, a user outside it is told what is missing.
func TestIntegrationPreflightRBAC(t *testing.T) {
	s := realServer(t)
	admin := s.ClientT(t)
	applyRBACDoc(t, admin)
	alice := userClient(t, s, "alice", "cadvisor-doctor-users")
	warnings, err := Preflight(context.Background(), alice, runOptions("cadvisor-doctor", "pf"), "n")
	if err != nil {
		t.Fatalf("user bound by docs/rbac.yaml fails preflight: %v", err)
	}
	if len(warnings) > 0 {
		t.Errorf("unexpected warnings: %v", warnings)
	}
	bob := userClient(t, s, "bob")
	_, err = Preflight(context.Background(), bob, runOptions("cadvisor-doctor", "pf"), "n")
	checkErr(t, err, `you cannot list nodes, get nodes, create pods, list pods, watch pods, delete pods, deletecollection pods in namespace "cadvisor-doctor": grant the RBAC in docs/rbac.yaml`)
	// A user with pods but without events and logs gets warnings, not a failure.
	carol := grantOnly(t, admin, s, "carol", []string{"create", "list", "watch", "delete", "deletecollection"})
	warnings, err = Preflight(context.Background(), carol, runOptions("cadvisor-doctor", "pf"), "n")
	if err != nil {
		t.Fatalf("preflight without the optional permissions: %v", err)
	}
	want := []string{
		"you cannot get pods/log: evidence for nodes whose pod does not finish will be weaker",
		"you cannot list events: evidence for nodes whose pod does not finish will be weaker",
	}
	if diff := cmp.Diff(want, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func applyRBACDoc(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	b, err := os.ReadFile("../../docs/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, doc := range strings.Split(string(b), "\n---\n") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("docs/rbac.yaml: %v\n%s", err, doc)
		}
		if err := create(ctx, c, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("apply %T: %v", obj, err)
		}
	}
}

func create(ctx context.Context, c kubernetes.Interface, obj runtime.Object) error {
	var err error
	switch o := obj.(type) {
	case *corev1.Namespace:
		_, err = c.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.ClusterRole:
		_, err = c.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.ClusterRoleBinding:
		_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.Role:
		_, err = c.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.RoleBinding:
		_, err = c.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	default:
		err = errUnexpected(obj)
	}
	return err
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func userClient(t *testing.T, s *apiservertest.Server, user string, groups ...string) kubernetes.Interface {
	t.Helper()
	cfg, err := s.UserConfig(user, groups...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// grantOnly gives user the node permissions and the given pod verbs in
// namespace cadvisor-doctor, nothing else.
func grantOnly(t *testing.T, admin kubernetes.Interface, s *apiservertest.Server, user string, podVerbs []string) kubernetes.Interface {
	t.Helper()
	ctx := context.Background()
	subj := []rbacv1.Subject{{Kind: "User", Name: user, APIGroup: rbacv1.GroupName}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: "cadvisor-doctor"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: podVerbs}}}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: "cadvisor-doctor"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user}, Subjects: subj}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "cadvisor-doctor-nodes-" + user},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cadvisor-doctor-nodes"}, Subjects: subj}
	for _, o := range []runtime.Object{role, rb, crb} {
		if err := create(ctx, admin, o); err != nil {
			t.Fatal(err)
		}
	}
	return userClient(t, s, user)
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error = %v\nwant it to contain %q", err, want)
	}
}

func errUnexpected(obj runtime.Object) error {
	return fmt.Errorf("unexpected object %T in docs/rbac.yaml", obj)
}

func resourceQuantity(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

func withRV(t *testing.T, c kubernetes.Interface, ns string, q *corev1.ResourceQuota) *corev1.ResourceQuota {
	t.Helper()
	cur, err := c.CoreV1().ResourceQuotas(ns).Get(context.Background(), q.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Status = q.Status
	return cur
}
