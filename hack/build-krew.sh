#!/usr/bin/env bash
# Builds krew and its manifest validator (validate-krew-manifest) from the Go
# module proxy and caches them by version. The release tests use both:
# krew's own validation of dist/cadvisor-doctor.yaml, and
# `krew install --manifest --archive` into a temporary KREW_ROOT.
#
# Environment:
#   KREW_VERSION   krew release to build (default v0.4.3)
#   KREW_CACHE     cache root (default /var/cache/kubectl-cadvisor-doctor/krew)
# Idempotent: returns at once when cached. Built into a temp dir and renamed
# into place. Prints the directory holding the binaries on its last line (the
# only line on stdout; progress goes to stderr).
set -euo pipefail

KREW_VERSION=${KREW_VERSION:-v0.4.3}
KREW_CACHE=${KREW_CACHE:-/var/cache/kubectl-cadvisor-doctor/krew}
bindir="$KREW_CACHE/$KREW_VERSION/bin"
components=(krew validate-krew-manifest)

have_all() {
  for c in "${components[@]}"; do [ -x "$bindir/$c" ] || return 1; done
}
if have_all; then
  echo "$bindir"
  exit 0
fi

mkdir -p "$KREW_CACHE/$KREW_VERSION"
tmp=$(mktemp -d "$KREW_CACHE/$KREW_VERSION/bin.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for c in "${components[@]}"; do
  echo "building $c $KREW_VERSION" >&2
  # krew prints its version from these; without them `krew version` says "unknown".
  ldflags="-s -w -X sigs.k8s.io/krew/internal/version.gitTag=$KREW_VERSION"
  GOFLAGS= GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "sigs.k8s.io/krew/cmd/$c@$KREW_VERSION" >&2
done
if have_all; then
  echo "$bindir"
  exit 0
fi
rm -rf "$bindir"
mv "$tmp" "$bindir"
trap - EXIT
echo "$bindir"
