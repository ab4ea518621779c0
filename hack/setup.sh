#!/usr/bin/env bash
# Installs and builds everything the demo and the tests need on a fresh
# machine. Idempotent: a warm machine passes through in seconds.
#
# What it does:
#   - apt-get update + install the Debian packages (containerd, runc, CNI
#     plugins, etcd, iproute2, util-linux, ...), only when one is missing;
#   - builds Kubernetes v1.37.2 binaries into /var/cache (hack/build-kube.sh);
#   - builds containerd v2.4.2 into /var/cache (hack/build-containerd2.sh);
#   - builds krew v0.4.3 tools into /var/cache when hack/build-krew.sh exists.
#
# Environment:
#   SETUP_SKIP_BUILDS=1   only install packages (no Kubernetes/containerd builds)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "error: hack/setup.sh must run as root (it installs packages and starts daemons): run it with sudo" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then export PATH=/usr/local/go/bin:$PATH
  else echo "error: Go is not installed: install Go 1.26 (https://go.dev/dl) and re-run" >&2; exit 1
  fi
fi

packages=(containerd runc containernetworking-plugins etcd-server iproute2 util-linux mount openssl procps psmisc kmod)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# Debian starts the packaged containerd and etcd on install; the project
# never uses them (tests run private daemons), so stop them to keep the
# default socket and etcd's ports free and the machine quiet.
for unit in containerd etcd; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$unit" 2>/dev/null; then
    systemctl stop "$unit" || true
  fi
done

if [ "${SETUP_SKIP_BUILDS:-0}" != 1 ]; then
  for b in hack/build-kube.sh hack/build-containerd2.sh hack/build-krew.sh; do
    [ -x "$b" ] || continue
    echo "setup: $b" >&2
    "$b" >&2
  done
fi
