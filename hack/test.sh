#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run calls it).
# On a fresh machine it installs and builds what the tests need (hack/setup.sh),
# then runs, in order: gofmt, go vet, the unit and real-daemon tests
# (containerd daemons on private sockets, a real etcd + kube-apiserver), and
# the end-to-end tests on the local cluster (hack/e2e-cluster).
#
# Environment:
#   TEST_SKIP_SETUP=1   do not run hack/setup.sh (you know the machine is ready)
#   TEST_SKIP_E2E=1     skip the end-to-end tests on the local cluster
#   GO_TEST_FLAGS       extra flags for every `go test` (e.g. "-run Probe -v")
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

[ "${TEST_SKIP_SETUP:-0}" = 1 ] || hack/setup.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files --cached --others --exclude-standard '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi

echo "== go vet"
go vet ./...
go vet -tags e2e ./...

# Real components are required here: a missing prerequisite fails the test
# instead of skipping it.
export KCD_REQUIRE_REAL=1

echo "== go test ./..."
# -p 1: the real-daemon packages each start containerd daemons or an
# apiserver; on 2 cores running them side by side only adds noise to the
# deadline assertions.
go test -p 1 -count=1 -timeout 40m ${GO_TEST_FLAGS:-} ./...

if [ "${TEST_SKIP_E2E:-0}" != 1 ] && [ -d test/e2e ]; then
  echo "== go test -tags e2e ./test/e2e/..."
  go test -tags e2e -p 1 -count=1 -timeout 40m ${GO_TEST_FLAGS:-} ./test/e2e/...
fi
