#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kubectl from the Go module proxy and caches them by version, so that only the first
# run on a machine pays the ~8-12 minute build.
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the staging
# modules with local paths. So we build from a scratch module that requires
# k8s.io/kubernetes and replaces each staging module with its published
# v0.X.Y release.
#
# Environment:
#   KUBE_VERSION   Kubernetes release to build (default v1.37.2)
#   KUBE_CACHE     cache root (default /var/cache/kubectl-cadvisor-doctor/kubernetes)
# Prints the directory holding the binaries on its last line.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
KUBE_CACHE=${KUBE_CACHE:-/var/cache/kubectl-cadvisor-doctor/kubernetes}
bindir="$KUBE_CACHE/$KUBE_VERSION/bin"
components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

have_all() {
  for c in "${components[@]}"; do [ -x "$bindir/$c" ] || return 1; done
}
if have_all; then
  echo "$bindir"
  exit 0
fi

# One build at a time per version: a second caller waits for the first and
# then finds the binaries cached.
mkdir -p "$KUBE_CACHE/$KUBE_VERSION"
exec 9>"$KUBE_CACHE/$KUBE_VERSION/.lock"
flock 9
if have_all; then
  echo "$bindir"
  exit 0
fi

staging_version="v0.${KUBE_VERSION#v1.}"
staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base component-helpers
  controller-manager cri-api cri-client cri-streaming csi-translation-lib
  dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
  kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
  mount-utils pod-security-admission sample-apiserver streaming)

work="$KUBE_CACHE/$KUBE_VERSION/src"
mkdir -p "$work" "$bindir"
cd "$work"
{
  echo "module kubebuild"
  echo
  echo "go 1.26.0"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  for m in "${staging[@]}"; do echo "replace k8s.io/$m => k8s.io/$m $staging_version"; done
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package kubebuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
GOFLAGS=-mod=mod go mod tidy >&2
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
# Each binary is built to a temporary name and renamed, so an interrupted
# build never leaves a half-written binary that have_all would accept; only
# the missing ones are built (adding a component costs one build, not five).
for c in "${components[@]}"; do
  [ -x "$bindir/$c" ] && continue
  echo "building $c $KUBE_VERSION" >&2
  CGO_ENABLED=0 go build -tags tools -trimpath -ldflags "$ldflags" -o "$bindir/.$c.tmp" "k8s.io/kubernetes/cmd/$c" >&2
  mv "$bindir/.$c.tmp" "$bindir/$c"
done
echo "$bindir"
