package checks

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	containersapi "github.com/containerd/containerd/api/services/containers/v1"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"

	"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/containerdlab"
)

// BenchmarkProbeSweep builds KCD_BENCH_CONTAINERS (default 1000; the
// documented figure uses 10000) metadata-only containers on a real daemon,
// then KCD_BENCH_RUNS times (default 3) per b.N measures, on that same
// daemon:
//   - the whole probe binary (wall time and peak RSS), run as the pod runs it;
//   - a bare gRPC loop making the same Containers/Get + Tasks/Get calls with
//     nothing else, at 1..64 calls in flight, keeping the best;
//   - `ctr -n k8s.io containers ls` for reference.
//
// Each figure is the best of the runs: the machine is shared, and noise only
// ever adds. Use -benchtime 1x (the setup takes longer than the runs).
//
// Run it with hack/bench-probe.sh; it is not part of `go test` (no -bench).
func BenchmarkProbeSweep(b *testing.B) {
	n, runs := envInt(b, "KCD_BENCH_CONTAINERS", 1000), envInt(b, "KCD_BENCH_RUNS", 3)
	containerdlab.Require(b, "")
	d := containerdlab.Start(b, containerdlab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ids := containerdlab.IDs("bench", n)
	if err := d.CreateContainers(ctx, ids, nil); err != nil {
		b.Fatal(err)
	}
	full := buildProbe(b, false)
	lean := buildProbe(b, true)

	// Best of b.N for each: the machine is shared, and noise only ever adds.
	const forever = time.Duration(1<<63 - 1)
	probeWall, leanWall, bareBest, ctrLs := forever, forever, forever, forever
	var rssFull, rssLean int64
	bestConc := 0
	b.ResetTimer()
	for range b.N * runs {
		// The probe binary, exactly as in the pod (minus --host-root): the
		// whole plugin, and the lean build (probe only) for the RSS figure.
		wall, r := runProbeBinary(b, full, d.Address)
		probeWall = min(probeWall, wall)
		rssFull = max(rssFull, r)
		wall, r = runProbeBinary(b, lean, d.Address)
		leanWall = min(leanWall, wall)
		rssLean = max(rssLean, r)

		for _, c := range []int{1, 2, 4, 8, 16, 32, 64} {
			if d := bareLoop(b, d, ids, c); d < bareBest {
				bareBest, bestConc = d, c
			}
		}

		start := time.Now()
		if _, err := d.Ctr(ctx, "containers", "ls", "-q"); err != nil {
			b.Fatal(err)
		}
		ctrLs = min(ctrLs, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(probeWall.Seconds(), "probe-s")
	b.ReportMetric(bareBest.Seconds(), "bare-s")
	b.ReportMetric(float64(bestConc), "bare-best-concurrency")
	b.ReportMetric(probeWall.Seconds()/bareBest.Seconds(), "probe/bare")
	b.ReportMetric(ctrLs.Seconds(), "ctr-ls-s")
	b.ReportMetric(leanWall.Seconds(), "probe-lean-s")
	b.ReportMetric(float64(rssFull)/1024, "probe-peak-rss-MiB")
	b.ReportMetric(float64(rssLean)/1024, "probe-lean-peak-rss-MiB")
	_, base := runBinary(b, full, "version")
	b.ReportMetric(float64(base)/1024, "plugin-version-rss-MiB")
	b.ReportMetric(leanWall.Seconds()/bareBest.Seconds(), "probe-lean/bare")
	b.ReportMetric(float64(n), "containers")
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// buildProbe builds the plugin binary, stripped as a release is. lean
// builds it with -tags probeonly, which leaves out the commands that link
// client-go (check, cleanup): that is the binary the probe image carries
// (cmd/kubectl-cadvisor-doctor/root.go). The full plugin links client-go
// and friends, and its file-backed pages alone are ~55 MiB of RSS.
func buildProbe(b *testing.B, lean bool) string {
	b.Helper()
	const pkg = "github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/cmd/kubectl-cadvisor-doctor"
	name := "kubectl-cadvisor_doctor"
	if lean {
		name += "-lean"
	}
	out := filepath.Join(b.TempDir(), name)
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", out}
	if lean {
		args = append(args, "-tags", "probeonly")
	}
	if o, err := exec.Command("go", append(args, pkg)...).CombinedOutput(); err != nil {
		b.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, o)
	}
	return out
}

func runProbeBinary(b *testing.B, bin, sock string) (time.Duration, int64) {
	b.Helper()
	wall, rss := runBinary(b, bin, "probe", "--socket", sock, "-o", "json", "--timeout", "30s", "--cadvisor-socket=")
	return wall, rss
}

// runBinary runs bin and returns its wall time and peak RSS in KiB.
func runBinary(b *testing.B, bin string, args ...string) (time.Duration, int64) {
	b.Helper()
	start := time.Now()
	cmd := exec.Command(bin, args...)
	out, err := cmd.Output()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	return wall, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

// bareLoop makes Containers/Get then Tasks/Get for every id with conc calls
// in flight on one connection and nothing else: no list, no stats, no
// per-call deadline. It includes dialing, like the probe.
func bareLoop(b *testing.B, d *containerdlab.Daemon, ids []string, conc int) time.Duration {
	start := time.Now()
	conn, err := d.Dial()
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	cc, tc := containersapi.NewContainersClient(conn), tasksapi.NewTasksClient(conn)
	ctx := withNamespace(context.Background(), containerdlab.Namespace)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				if _, err := cc.Get(ctx, &containersapi.GetContainerRequest{ID: ids[i]}); err != nil {
					failed.Add(1)
				}
				_, _ = tc.Get(ctx, &tasksapi.GetRequest{ContainerID: ids[i]}) // NotFound: no task
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		b.Fatalf("bare loop: %d Containers/Get failed", failed.Load())
	}
	return time.Since(start)
}
