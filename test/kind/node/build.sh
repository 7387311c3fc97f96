#!/usr/bin/env bash
# Builds, offline, the images of make kind-e2e: a kind node image with
# containerd, the kubelet, kubeadm and OVN/OVS in it, the Kubernetes images
# kubeadm asks for (preloaded into the node's containerd), a pause image, and
# ovnet's own image. Everything comes from Debian's packages and the Go module
# proxy; no registry is needed. Expensive parts are cached under
# ~/.cache/ovnet (root file systems by Debian suite and package list,
# binaries by version); the node image's tag carries the hash of this
# directory, and docker images are rebuilt from the cache when missing.
#
#   test/kind/node/build.sh     prints the node image's name on stdout
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

. "$here/versions.sh"
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The Kubernetes images' repository: they are built here from the module
# proxy, not the published ones, so they do not take registry.k8s.io's name.
export KIND_IMAGE_REPOSITORY=ovnet.local/k8s
PAUSE_TAG=3.10.2

files_hash=$(cd "$here" && find . -type f ! -name '*.swp' | sort | xargs sha256sum | sha256sum | cut -c1-12)
cache=$cache_root/kind-rootfs-${DEBIAN_SUITE}
k8s_cache=$cache_root/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}
node_image=ovnet-kind/node:${K8S_VERSION}-${files_hash}
mkdir -p "$cache" "$tools"

step_start=$SECONDS
step() { # step NAME: the time the previous step took, on stderr
  echo "kind-node: $1 (previous step $((SECONDS - step_start)) s)" >&2
  step_start=$SECONDS
}
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if have_image "$node_image" && have_image "ovnet.local/k8s/pause:$PAUSE_TAG"; then
  echo "$node_image"
  exit 0
fi

step "Kubernetes binaries ${K8S_VERSION}"
"$root/hack/build-envtest.sh" kubelet kubeadm kube-scheduler kube-proxy >&2

step "containerd ${CONTAINERD_VERSION} and kind ${KIND_VERSION}"
build_tools() {
  local mod
  mod=$(mktemp -d)
  (
    cd "$mod"
    go mod init ovnet.local/kind-tools >/dev/null 2>&1
    printf '//go:build tools\n\npackage tools\n\nimport (\n' >tools.go
    for b in containerd containerd-shim-runc-v2 ctr; do
      printf '\t_ "github.com/containerd/containerd/v2/cmd/%s"\n' "$b" >>tools.go
    done
    printf '\t_ "sigs.k8s.io/kind"\n)\n' >>tools.go
    { go get "github.com/containerd/containerd/v2@${CONTAINERD_VERSION}" "sigs.k8s.io/kind@${KIND_VERSION}" &&
      go mod tidy; } >go.log 2>&1 || { cat go.log >&2; exit 1; }
    for b in containerd containerd-shim-runc-v2 ctr; do
      CGO_ENABLED=0 go build -trimpath -tags no_btrfs \
        -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}" \
        -o "$tools/$b.tmp" "github.com/containerd/containerd/v2/cmd/$b"
      mv "$tools/$b.tmp" "$tools/$b"
    done
    CGO_ENABLED=0 go build -trimpath -o "$tools/kind.tmp" sigs.k8s.io/kind
    mv "$tools/kind.tmp" "$tools/kind"
  )
  rm -rf "$mod"
}
[ -x "$tools/kind" ] && [ -x "$tools/ctr" ] || GOFLAGS=-mod=mod build_tools

# The Debian root file systems: the base (debootstrap minbase), the
# Kubernetes images' (base + what kube-proxy runs) and the node's.
chroot_apt() { # chroot_apt DIR PACKAGE...
  local dir=$1
  shift
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d" # no daemon starts in the chroot
  chmod +x "$dir/usr/sbin/policy-rc.d"
  mount -t proc proc "$dir/proc"
  if ! chroot "$dir" sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $* && apt-get clean" >"$dir.apt.log" 2>&1; then
    umount "$dir/proc"
    echo "kind-node: apt-get in $dir failed; see $dir.apt.log" >&2
    return 1
  fi
  umount "$dir/proc"
  rm -f "$dir/usr/sbin/policy-rc.d"
  rm -rf "$dir/var/lib/apt/lists/"*
}
rootfs() { # rootfs NAME PACKAGE...: $cache/NAME-<hash of the packages>.tar, built once
  local name
  name=$1-$(echo "${@:2}" | sha256sum | cut -c1-8)
  shift
  rootfs_tar=$cache/$name.tar
  [ -s "$rootfs_tar" ] && return 0
  local dir=$cache/$name
  rm -rf "$dir"
  if [ ! -s "$cache/debootstrap.tar" ]; then
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$cache/debootstrap" "$DEBIAN_MIRROR" >"$cache/debootstrap.log" 2>&1 ||
      { echo "kind-node: debootstrap failed; see $cache/debootstrap.log" >&2; return 1; }
    tar -C "$cache/debootstrap" -cf "$cache/debootstrap.tar" .
    rm -rf "$cache/debootstrap"
  fi
  mkdir -p "$dir"
  tar -C "$dir" -xf "$cache/debootstrap.tar"
  [ $# -eq 0 ] || chroot_apt "$dir" "$@"
  tar -C "$dir" -cf "$cache/$name.tar.tmp" .
  mv "$cache/$name.tar.tmp" "$cache/$name.tar"
  rm -rf "$dir"
}

step "Kubernetes images (${KIND_IMAGE_REPOSITORY})"
rootfs k8s-image iptables nftables conntrack ipset kmod
images=()
if ! have_image "$KIND_IMAGE_REPOSITORY/kube-apiserver:$K8S_VERSION"; then
  # One image holds every control-plane binary (kubeadm's static pods and
  # kube-proxy's DaemonSet name the command); the names point at it.
  tmp=$(mktemp -d)
  tar -C "$tmp" -xf "$rootfs_tar"
  for b in kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd; do
    cp "$k8s_cache/$b" "$tmp/usr/local/bin/$b"
  done
  tar -C "$tmp" -c . | docker import - "$KIND_IMAGE_REPOSITORY/kube-apiserver:$K8S_VERSION" >/dev/null
  rm -rf "$tmp"
fi
for name in kube-controller-manager kube-scheduler kube-proxy; do
  docker tag "$KIND_IMAGE_REPOSITORY/kube-apiserver:$K8S_VERSION" "$KIND_IMAGE_REPOSITORY/$name:$K8S_VERSION"
done
docker tag "$KIND_IMAGE_REPOSITORY/kube-apiserver:$K8S_VERSION" "$KIND_IMAGE_REPOSITORY/etcd:${ETCD_VERSION#v}"
images+=("$KIND_IMAGE_REPOSITORY/kube-apiserver:$K8S_VERSION" "$KIND_IMAGE_REPOSITORY/kube-controller-manager:$K8S_VERSION"
  "$KIND_IMAGE_REPOSITORY/kube-scheduler:$K8S_VERSION" "$KIND_IMAGE_REPOSITORY/kube-proxy:$K8S_VERSION"
  "$KIND_IMAGE_REPOSITORY/etcd:${ETCD_VERSION#v}")

step "pause image"
if ! have_image "$KIND_IMAGE_REPOSITORY/pause:$PAUSE_TAG"; then
  tmp=$(mktemp -d)
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/pause" ./test/kind/node/pause)
  tar -C "$tmp" -c --owner=0 --group=0 pause | docker import --change 'ENTRYPOINT ["/pause"]' - "$KIND_IMAGE_REPOSITORY/pause:$PAUSE_TAG" >/dev/null
  rm -rf "$tmp"
fi
images+=("$KIND_IMAGE_REPOSITORY/pause:$PAUSE_TAG")

step "node root file system"
rootfs node systemd systemd-sysv dbus iptables nftables iproute2 ethtool conntrack socat kmod mount util-linux \
  ca-certificates libseccomp2 runc containernetworking-plugins jq libcap2-bin procps \
  openvswitch-switch ovn-host ovn-central iputils-ping netcat-openbsd tcpdump

step "node image $node_image"
node=$(mktemp -d)
tar -C "$node" -xf "$rootfs_tar"
install -m 755 "$here/files/entrypoint" "$node/usr/local/bin/entrypoint"
install -m 755 "$here/runc-bounded" "$node/usr/local/bin/runc-bounded"
for b in kubelet kubeadm kubectl; do install -m 755 "$k8s_cache/$b" "$node/usr/local/bin/$b"; done
for b in containerd containerd-shim-runc-v2 ctr; do install -m 755 "$tools/$b" "$node/usr/local/bin/$b"; done
install -m 644 "$here/files/containerd.service" "$here/files/kubelet.service" "$here/files/kubelet.slice" "$node/etc/systemd/system/"
mkdir -p "$node/etc/containerd" "$node/etc/kubernetes/manifests" "$node/etc/cni/net.d" "$node/kind" "$node/etc/systemd/system.conf.d"
sed "s|@SANDBOX@|$KIND_IMAGE_REPOSITORY/pause:$PAUSE_TAG|" "$here/files/containerd.toml" >"$node/etc/containerd/config.toml"
install -m 644 "$here/files/system.conf" "$node/etc/systemd/system.conf.d/ovnet-kind.conf"
echo "$K8S_VERSION" >"$node/kind/version"
chroot "$node" systemctl enable containerd.service kubelet.service >/dev/null 2>&1
# The Debian services that would fight the node's own start (OVN and OVS
# are started by test/kind/run.sh with this cluster's settings).
chroot "$node" systemctl disable openvswitch-switch.service ovn-host.service ovn-central.service >/dev/null 2>&1 || true
chroot "$node" systemctl mask systemd-binfmt.service getty@tty1.service >/dev/null 2>&1 || true
# The Kubernetes images, preloaded into the node's containerd (pinned, as
# kind's own node images have them): a containerd of ours, for a moment,
# on the node's root.
docker save "${images[@]}" >"$node.images.tar"
state=$(mktemp -d)
"$tools/containerd" --root "$node/var/lib/containerd" --state "$state/state" --address "$state/sock" \
  --config /dev/null >"$state/log" 2>&1 &
ctrd=$!
for _ in $(seq 50); do [ -S "$state/sock" ] && break; sleep 0.2; done
"$tools/ctr" --address "$state/sock" --namespace k8s.io images import --no-unpack --digests \
  --label io.cri-containerd.pinned=pinned "$node.images.tar" >/dev/null
kill "$ctrd" && wait "$ctrd" || true
rm -rf "$state" "$node.images.tar"
tar -C "$node" -c . | docker import \
  --change 'ENV container=docker' \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' - "$node_image" >/dev/null
rm -rf "$node"
step "done"
echo "$node_image"
