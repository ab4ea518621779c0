#!/usr/bin/env bash
# The README's first command: the plugin's real report.
#
# With a cluster configured (KUBECONFIG set, or ~/.kube/config present), it
# runs `check` against that cluster: read-only, one short-lived pod per node,
# all pods deleted at the end.
#
# With no cluster configured, it installs what is needed (hack/setup.sh),
# starts the local real three-node cluster (hack/e2e-cluster up; node-3's
# containerd serves the k3s socket, /run/k3s/containerd/containerd.sock, so
# you see what cAdvisor's fixed socket does to such a node), runs `check`,
# then freezes node-2's containerd (SIGSTOP) and runs `check` again so you
# see what a hung runtime looks like, thaws it and tears the cluster down.
#
# Environment:
#   DEMO_LOCAL=1          use the local cluster even when one is configured
#   DEMO_KEEP_CLUSTER=1   leave the local cluster up afterwards
#                         (hack/e2e-cluster exec -- kubectl get nodes; hack/e2e-cluster down)
#   DEMO_NO_FREEZE=1      skip the frozen-runtime part
# Extra arguments are passed to `check` (e.g. -o wide, -l role=worker).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

plugin=bin/kubectl-cadvisor_doctor
configured=0
if [ "${DEMO_LOCAL:-0}" != 1 ] && { [ -n "${KUBECONFIG:-}" ] || [ -f "$HOME/.kube/config" ]; }; then
  configured=1
fi

if [ "$configured" = 1 ]; then
  mkdir -p bin
  CGO_ENABLED=0 go build -o "$plugin" ./cmd/kubectl-cadvisor-doctor
  echo "== kubectl cadvisor-doctor check (your current kubeconfig context)" >&2
  exec "$plugin" check "$@"
fi

hack/setup.sh
mkdir -p bin
CGO_ENABLED=0 go build -o "$plugin" ./cmd/kubectl-cadvisor-doctor

if [ "${DEMO_KEEP_CLUSTER:-0}" != 1 ]; then
  trap 'hack/e2e-cluster thaw-runtime node-2 >/dev/null 2>&1 || true; hack/e2e-cluster down' EXIT
fi
E2E_CONTAINERD_SOCK=${E2E_CONTAINERD_SOCK-node-3=/run/k3s/containerd/containerd.sock} hack/e2e-cluster up >/dev/null

rc=0
echo >&2
echo "== kubectl cadvisor-doctor check   (local cluster, all nodes)" >&2
hack/e2e-cluster exec -- "$plugin" check "$@" || rc=$?

if [ "${DEMO_NO_FREEZE:-0}" != 1 ]; then
  echo >&2
  # The node's conditions say nothing for the kubelet's runtimeRequestTimeout
  # (30s on this cluster, 2m by default), but the kubelet's own CRI reads
  # hang at once: check sees them in its goroutine dumps and decides node-2
  # at its first early round, a third of --node-timeout in.
  echo "== freezing node-2's containerd (SIGSTOP), then: kubectl cadvisor-doctor check" >&2
  hack/e2e-cluster freeze-runtime node-2 >/dev/null
  sleep 3 # the kubelet's PLEG relists every second: let it meet the frozen daemon
  hack/e2e-cluster exec -- "$plugin" check "$@" || rc=$?
  hack/e2e-cluster thaw-runtime node-2 >/dev/null
fi
echo >&2
echo "demo: last check exited $rc (0 all Healthy, 1 a node at risk or sick, 2 inconclusive)" >&2
if [ "${DEMO_KEEP_CLUSTER:-0}" = 1 ]; then
  echo "demo: the local cluster is still up: hack/e2e-cluster exec -- $plugin check; hack/e2e-cluster exec -- kubectl get nodes; hack/e2e-cluster down when done" >&2
fi
