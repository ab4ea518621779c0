package apiservertest

import (
	"context"
	"os"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestServerLifecycle starts a server, checks that authentication and
// RBAC are real (an unprivileged user is refused), and that Stop leaves no
// process and no directory behind.
func TestServerLifecycle(t *testing.T) {
	RequireReal(t)
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	pids, dir := s.Pids(), s.Dir
	if len(pids) != 2 {
		t.Fatalf("want 2 daemons, got pids %v", pids)
	}
	admin := s.ClientT(t)
	v, err := admin.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.37.2" {
		t.Errorf("server version %s, want v1.37.2", v.GitVersion)
	}
	cfg, err := s.UserConfig("bob")
	if err != nil {
		t.Fatal(err)
	}
	bob := kubernetes.NewForConfigOrDie(cfg)
	_, err = bob.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("user without RBAC listing pods: want Forbidden, got %v", err)
	}
	if _, err := admin.CoreV1().Namespaces().Get(context.Background(), corev1.NamespaceDefault, metav1.GetOptions{}); err != nil {
		t.Errorf("get default namespace: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("pid %d still alive after Stop", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("dir %s still exists after Stop: %v", dir, err)
	}
}
