package checks

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// then per iteration measures, on that same daemon:
//   - the whole probe binary (wall time and peak RSS), run as the pod runs it;
//   - a bare gRPC loop making the same Containers/Get + Tasks/Get calls with
//     nothing else, at 1..32 calls in flight, keeping the best;
//   - `ctr -n k8s.io containers ls` for reference.
//
// Each figure is the best of b.N iterations (-benchtime 5x): the machine is
// shared, and noise only ever adds.
//
// Run it with hack/bench-probe.sh; it is not part of `go test` (no -bench).
func BenchmarkProbeSweep(b *testing.B) {
	n := 1000
	if v := os.Getenv("KCD_BENCH_CONTAINERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	containerdlab.Require(b, "")
	d := containerdlab.Start(b, containerdlab.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ids := containerdlab.IDs("bench", n)
	if err := d.CreateContainers(ctx, ids, nil); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), "kubectl-cadvisor_doctor")
	if out, err := exec.Command("go", "build", "-o", bin,
		"github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/cmd/kubectl-cadvisor-doctor").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}

	// Best of b.N for each: the machine is shared, and noise only ever adds.
	const forever = time.Duration(1<<63 - 1)
	probeWall, bareBest, ctrLs := forever, forever, forever
	var rss int64
	bestConc := 0
	b.ResetTimer()
	for range b.N {
		// The probe binary, exactly as in the pod (minus --host-root).
		start := time.Now()
		cmd := exec.Command(bin, "probe", "--socket", d.Address, "-o", "json", "--timeout", "30s")
		out, err := cmd.Output()
		wall := time.Since(start)
		if err != nil {
			b.Fatalf("probe: %v\n%s", err, out)
		}
		probeWall = min(probeWall, wall)
		rss = max(rss, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) // KiB

		for _, c := range []int{1, 2, 4, 8, 16, 32} {
			if d := bareLoop(b, d, ids, c); d < bareBest {
				bareBest, bestConc = d, c
			}
		}

		start = time.Now()
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
	b.ReportMetric(float64(rss)/1024, "probe-peak-rss-MiB")
	b.ReportMetric(float64(n), "containers")
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
