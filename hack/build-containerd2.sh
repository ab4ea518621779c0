#!/usr/bin/env bash
# Builds containerd v2, its runc shim and ctr from the Go module proxy and caches
# them by version, so that only the first run on a machine pays the ~4 minute
# build. Debian ships containerd 1.6; tests that also cover 2.x use these.
#
# containerd 2.x needs its own shim first in PATH: the 1.6 shim fails with
# "type with url x1: not found". So both binaries land in the same bin dir;
# put that dir first in the daemon's PATH. ctr v2 is built too, so tests that
# import images into a 2.x daemon use the matching client.
#
# Environment:
#   CONTAINERD2_VERSION  containerd release to build (default v2.4.2)
#   CONTAINERD2_CACHE    cache root (default /var/cache/kubectl-cadvisor-doctor/containerd)
# Idempotent: returns at once when the binaries are cached. The cache entry is
# built in a temp dir and renamed into place, so a half-finished build is
# never seen as done. Prints the directory holding the binaries on its last
# line (the only line on stdout; progress goes to stderr).
set -euo pipefail

CONTAINERD2_VERSION=${CONTAINERD2_VERSION:-v2.4.2}
CONTAINERD2_CACHE=${CONTAINERD2_CACHE:-/var/cache/kubectl-cadvisor-doctor/containerd}
bindir="$CONTAINERD2_CACHE/$CONTAINERD2_VERSION/bin"
components=(containerd containerd-shim-runc-v2 ctr)

have_all() {
  for c in "${components[@]}"; do [ -x "$bindir/$c" ] || return 1; done
}
if have_all; then
  echo "$bindir"
  exit 0
fi

mkdir -p "$CONTAINERD2_CACHE/$CONTAINERD2_VERSION"
tmp=$(mktemp -d "$CONTAINERD2_CACHE/$CONTAINERD2_VERSION/bin.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Only missing binaries are built: adding one to the list later does not
# rebuild the others.
# GOFLAGS from the environment (e.g. -mod=vendor) must not leak into go install.
# The version is stamped so that the Version call reports e.g. "2.4.2", not "+unknown".
ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=${CONTAINERD2_VERSION#v}"
for c in "${components[@]}"; do
  [ -x "$bindir/$c" ] && continue
  pkg="github.com/containerd/containerd/v2/cmd/$c@$CONTAINERD2_VERSION"
  echo "building $c $CONTAINERD2_VERSION" >&2
  # Static first (no libc dependency, copies into any rootfs); fall back to
  # the default cgo build if a dependency needs cgo.
  if ! GOFLAGS= GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "$pkg" >&2; then
    echo "CGO_ENABLED=0 build of $c failed; retrying with the default cgo setting" >&2
    GOFLAGS= GOBIN="$tmp" go install -trimpath -ldflags "$ldflags" "$pkg" >&2
  fi
done

# Rename into place. A concurrent run may have won the race: keep its result.
if have_all; then
  echo "$bindir"
  exit 0
fi
if [ -d "$bindir" ]; then
  # Others may be using the dir: add the new files one atomic rename each.
  for f in "$tmp"/*; do mv -f "$f" "$bindir/"; done
else
  mv "$tmp" "$bindir"
  trap - EXIT
fi
"$bindir/containerd" --version >&2
echo "$bindir"
