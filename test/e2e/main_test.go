//go:build e2e

package e2e

// TestMain and the glue between tests and clusters: the shared cluster of
// the package (Shared), clusters of a test's own (NewCluster), skipping or
// failing when prerequisites are missing, and sweeping clusters left by
// killed test runs. The environment variables are listed in cluster_test.go.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	shared    *Cluster
	sharedErr error
	// startedShared is true when TestMain started the shared cluster (and so
	// tears it down).
	startedShared bool
)

// Shared is the package's cluster, brought up by TestMain. It skips the
// test under -short and when prerequisites are missing (fails instead with
// KCD_REQUIRE_REAL=1), and fails it when the cluster could not start.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if shared == nil {
		skipOrFail(t, sharedErr)
	}
	return shared
}

// NewCluster starts a cluster of its own for one test (named after the
// shared one plus a suffix unless o.Name is set) and tears it down when the
// test ends, failing the test if anything is left.
func NewCluster(t testing.TB, o Options) *Cluster {
	t.Helper()
	if err := prerequisites(); err != nil {
		skipOrFail(t, err)
	}
	if o.Name == "" {
		o.Name = fmt.Sprintf("kcd-t%d-%d", os.Getpid(), extraClusters)
		extraClusters++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.Down(ctx); err != nil {
			t.Error(err)
		}
	})
	return c
}

var extraClusters int

type skipError struct{ error }

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	var s skipError
	if errors.As(err, &s) {
		if os.Getenv("KCD_REQUIRE_REAL") == "1" {
			t.Fatalf("KCD_REQUIRE_REAL=1: %v", err)
		}
		t.Skip(err)
	}
	t.Fatalf("the e2e cluster is not available: %v", err)
}

// prerequisites reports what makes the cluster impossible here as a
// skipError (the script itself names missing packages when `up` runs).
func prerequisites() error {
	if testing.Short() {
		return skipError{errors.New("e2e cluster tests skipped under -short")}
	}
	if os.Geteuid() != 0 {
		return skipError{errors.New("the e2e cluster needs root (namespaces, mounts, cgroups): run go test as root")}
	}
	if _, err := os.Stat(scriptPath()); err != nil {
		return err
	}
	return nil
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if err := prerequisites(); err != nil {
		sharedErr = err
		return m.Run()
	}
	reuse := os.Getenv("E2E_REUSE_CLUSTER") == "1"
	name := os.Getenv("E2E_NAME")
	switch {
	case name == "" && reuse:
		name = "kcd-e2e"
	case name == "":
		name = uniqueName()
	}
	sweepStale()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	start := time.Now()
	switch c, err := Attach(ctx, name); {
	case err == nil && reuse:
		shared = c
	case err == nil:
		// Someone else's cluster: never tear it down under them.
		sharedErr = fmt.Errorf("cluster %s is already up: set E2E_REUSE_CLUSTER=1 to use it, or another E2E_NAME", name)
	}
	if shared == nil && sharedErr == nil {
		shared, sharedErr = Start(ctx, Options{Name: name})
		startedShared = sharedErr == nil && !reuse
	}
	cancel()
	if sharedErr != nil {
		fmt.Fprintln(os.Stderr, "e2e:", sharedErr)
		// Start tore a failed cluster down itself; tests fail via Shared.
		return m.Run()
	}
	fmt.Fprintf(os.Stderr, "e2e: cluster %s ready in %s (kubeconfig %s)\n", name, time.Since(start).Round(time.Millisecond), shared.Kubeconfig)

	// Ctrl-C or SIGTERM: tear down what we started, then exit.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "e2e: %s: tearing down cluster %s\n", s, name)
		if startedShared {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_ = shared.Down(ctx)
			cancel()
		}
		os.Exit(130)
	}()

	code := m.Run()
	signal.Stop(sigs)
	if startedShared {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := shared.Down(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: FAIL:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "e2e: cluster %s down, nothing left\n", name)
	}
	return code
}

// sweepStale tears down test clusters (kcd-t<pid>...) whose test process is
// gone, e.g. killed by go test's -timeout before it could clean up.
func sweepStale() {
	entries, _ := os.ReadDir(stateRoot())
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, "kcd-t") {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(n, "kcd-t"), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || processAlive(pid) {
			continue
		}
		fmt.Fprintf(os.Stderr, "e2e: removing stale cluster %s (test process %d is gone)\n", n, pid)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_ = run(scriptCmd(ctx, n, nil, "down"))
		cancel()
	}
}

// processAlive is true if pid exists (names hold the whole PID: at most 7
// digits, so kcd-t<pid>-<n> fits the script's 16 characters).
func processAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}
