#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from the Go module proxy at the pinned
# versions, once per machine, into a per-user cache, and links them into
# bin/k8s (the KUBEBUILDER_ASSETS directory). Nothing is downloaded from
# anywhere but the module proxy.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
STAGING_VERSION=${STAGING_VERSION:-v0.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${OVNET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ovnet}/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}
assets="$root/bin/k8s"
mkdir -p "$cache" "$assets"

link() { ln -sf "$cache/$1" "$assets/$1"; }

if [ -x "$cache/kube-apiserver" ] && [ -x "$cache/kubectl" ] && [ -x "$cache/etcd" ]; then
  link kube-apiserver; link kubectl; link etcd
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
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy >/dev/null 2>&1 || true
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
  ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION} -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=${minor}"
  go build -trimpath -ldflags "$ld" -o "$cache/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  go build -trimpath -ldflags "$ld" -o "$cache/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
  mv "$cache/kube-apiserver.tmp" "$cache/kube-apiserver"
  mv "$cache/kubectl.tmp" "$cache/kubectl"
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

echo "build-envtest: building kube-apiserver/kubectl ${K8S_VERSION} and etcd ${ETCD_VERSION} into $cache (one time, a few minutes)" >&2
[ -x "$cache/etcd" ] || build_etcd
if [ ! -x "$cache/kube-apiserver" ] || [ ! -x "$cache/kubectl" ]; then build_k8s; fi
link kube-apiserver; link kubectl; link etcd
