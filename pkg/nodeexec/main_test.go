package nodeexec

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/apiservertest"
)

// One real API server for every integration test of the package: starting
// one costs seconds on a 2-core machine. Tests keep apart by namespace and
// by node names.
var (
	sharedOnce sync.Once
	shared     *apiservertest.Server
	sharedErr  error
)

func realServer(t *testing.T) *apiservertest.Server {
	t.Helper()
	apiservertest.RequireReal(t)
	sharedOnce.Do(func() { shared, sharedErr = apiservertest.Start(context.Background(), apiservertest.Options{}) })
	if sharedErr != nil {
		t.Fatalf("start kube-apiserver: %v", sharedErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			shared.LogTail(t)
		}
	})
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop kube-apiserver:", err)
			code = 1
		}
	}
	os.Exit(code)
}
