package apiservertest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// RequireReal skips t under -short or when the binaries are missing,
// except with KCD_REQUIRE_REAL=1, where a missing binary fails the test.
func RequireReal(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real kube-apiserver and etcd; skipped with -short")
	}
	if err := Available(Options{}); err != nil {
		if os.Getenv("KCD_REQUIRE_REAL") == "1" {
			t.Fatalf("KCD_REQUIRE_REAL=1: %v", err)
		}
		t.Skip(err)
	}
}

// StartT starts a server for one test, stops it in t.Cleanup, and logs the
// tail of the daemons' logs when the test failed.
func StartT(t testing.TB, o Options) *Server {
	t.Helper()
	RequireReal(t)
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.LogTail(t)
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stop kube-apiserver: %v", err)
		}
	})
	return s
}

// LogTail logs the last lines of both daemons' logs.
func (s *Server) LogTail(t testing.TB) {
	t.Helper()
	for _, name := range []string{"etcd.log", "kube-apiserver.log"} {
		b, err := os.ReadFile(s.Dir + "/" + name)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		t.Logf("--- last lines of %s ---\n%s", name, strings.Join(lines[max(len(lines)-30, 0):], "\n"))
	}
}

var nsSeq atomic.Int64

// Namespace creates a fresh namespace with labels for t and deletes it in
// t.Cleanup. It returns the name.
func Namespace(t testing.TB, client kubernetes.Interface, labels map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("test-%d-%s", nsSeq.Add(1), strings.ToLower(t.Name()))
	name = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, name)
	if len(name) > 63 {
		name = name[:63]
	}
	name = strings.TrimRight(name, "-")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		// No controller manager runs, so the namespace stays Terminating;
		// that is enough to keep tests apart.
		_ = client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// ClientT is Client for tests.
func (s *Server) ClientT(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// SimulateKubelet runs a Kubelet for the rest of the test; errors fail it.
func SimulateKubelet(t testing.TB, c kubernetes.Interface, ns, selector string, behaviors map[string]Behavior) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	k := &Kubelet{Client: c, Namespace: ns, Selector: selector, Behaviors: behaviors,
		Report: func(err error) { t.Errorf("simulated kubelet: %v", err) }}
	go func() { defer close(done); k.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// Nodes registers nodes for the rest of the test.
func Nodes(t testing.TB, c kubernetes.Interface, nodes ...*corev1.Node) {
	t.Helper()
	for _, n := range nodes {
		if err := CreateNode(context.Background(), c, n); err != nil {
			t.Fatalf("create node %s: %v", n.Name, err)
		}
		name := n.Name
		t.Cleanup(func() { _ = c.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
}
