#!/usr/bin/env bash
# How the captured-* files here were made, and how to add more: read one
# node's kubelet evidence through the API server's node proxy of the local
# cluster (hack/e2e-cluster, which must be up; this script never starts,
# stops or changes it: three GET requests, each under a deadline).
#
# Usage: pkg/kubeletevidence/testdata/capture.sh NODE LABEL
#   writes captured-NODE-LABEL-goroutine.txt, captured-NODE-LABEL-metrics-cadvisor.txt
#   and captured-NODE-LABEL-configz.json next to this script, e.g.
#   capture.sh node-1 stalled-taskpid   (while the issue-7 stall reproduction runs)
# Environment:
#   E2E_CLUSTER   path of the cluster script (default: hack/e2e-cluster of this checkout)
set -euo pipefail
node=${1:?usage: capture.sh NODE LABEL}
label=${2:?usage: capture.sh NODE LABEL}
here=$(cd "$(dirname "$0")" && pwd)
cluster=${E2E_CLUSTER:-$here/../../../hack/e2e-cluster}

get() { # get PATH OUT
  timeout 30 "$cluster" exec -- kubectl get --raw "/api/v1/nodes/$node/proxy/$1" --request-timeout=15s >"$2.tmp"
  mv "$2.tmp" "$2"
  echo "$2: $(wc -c <"$2") bytes"
}
get 'debug/pprof/goroutine?debug=2' "$here/captured-$node-$label-goroutine.txt"
get metrics/cadvisor "$here/captured-$node-$label-metrics-cadvisor.txt"
get configz "$here/captured-$node-$label-configz.json"
