#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl and etcd from the Go
# module proxy at the pinned versions, once per machine, into a per-user
# cache, and links them into bin/k8s (the KUBEBUILDER_ASSETS directory).
# Nothing is downloaded from anywhere but the module proxy.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
STAGING_VERSION=${STAGING_VERSION:-v0.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${OVNET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ovnet}/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}
assets="$root/bin/k8s"
mkdir -p "$cache" "$assets"

link() { ln -sf "$cache/$1" "$assets/$1"; }

k8s_bins="kube-apiserver kube-controller-manager kubectl"
# Further binaries of the same version into the same cache, by name
# (test/kind/build-node.sh asks for kubelet, kubeadm, kube-scheduler, kube-proxy).
extra_bins="$*"
k8s_bins="$k8s_bins${extra_bins:+ $extra_bins}"
have_k8s() { for b in $k8s_bins; do [ -x "$cache/$b" ] || return 1; done; }
link_all() { for b in $k8s_bins etcd; do link "$b"; done; }

if have_k8s && [ -x "$cache/etcd" ]; then
  link_all
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

build_k8s() {
  local mod="$work/k8s"
  mkdir -p "$mod" && cd "$mod"
  go mod init ovnet.local/k8s-build >/dev/null 2>&1
  # The staging modules k8s.io/kubernetes replaces with ./staging/... are
  # published on the proxy as v0.x; point every one of them there.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" | awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
  } >> go.mod
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for b in $k8s_bins; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$b"; done
    printf ')\n'
  } > tools.go
  go mod tidy >/dev/null 2>&1 || true
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION} -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=${minor}"
  for b in $k8s_bins; do
    [ -x "$cache/$b" ] && continue
    go build -trimpath -ldflags "$ld" -o "$cache/$b.tmp" "k8s.io/kubernetes/cmd/$b"
    mv "$cache/$b.tmp" "$cache/$b"
  done
}

build_etcd() {
  local mod="$work/etcd"
  mkdir -p "$mod" && cd "$mod"
  go mod init ovnet.local/etcd-build >/dev/null 2>&1
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null 2>&1
  go mod tidy >/dev/null 2>&1 || true
  go build -trimpath -ldflags "-s -w" -o "$cache/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$cache/etcd.tmp" "$cache/etcd"
}

echo "build-envtest: building ${k8s_bins// /, } ${K8S_VERSION} and etcd ${ETCD_VERSION} into $cache (one time, a few minutes)" >&2
[ -x "$cache/etcd" ] || build_etcd
have_k8s || build_k8s
link_all
