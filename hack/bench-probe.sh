#!/usr/bin/env bash
# Benchmarks the node probe against a real containerd 1.6 on a private
# socket: builds CONTAINERS metadata-only containers in k8s.io, then, RUNS
# times, runs the probe binary (Containers/Get + Tasks/Get for each: 2 calls
# per container), a bare gRPC loop making the same calls at 1..32 in flight,
# and `ctr -n k8s.io containers ls`. It reports the best of the runs for
# each, the probe/bare ratio and the probe's peak RSS (see docs/performance.md).
#
# Not part of CI (hack/test.sh runs no -bench). Needs root, containerd, runc, ctr.
#
# Environment:
#   CONTAINERS   containers to create (default 10000)
#   RUNS         iterations; each figure is the best of them (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

CONTAINERS=${CONTAINERS:-10000}
RUNS=${RUNS:-5}
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared: noise only ever adds)"
KCD_BENCH_CONTAINERS=$CONTAINERS KCD_BENCH_RUNS=$RUNS go test -run '^$' -bench '^BenchmarkProbeSweep$' -benchtime 1x \
  -timeout 30m ./pkg/checks | grep -v 'level='
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
