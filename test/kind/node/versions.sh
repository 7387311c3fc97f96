# Versions and cache paths of make kind-e2e, sourced by test/kind/node/build.sh
# and test/kind/run.sh.
K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
KIND_VERSION=${KIND_VERSION:-v0.33.0}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
cache_root=${OVNET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ovnet}
# containerd, ctr, the shim and kind, built from the module proxy.
tools=$cache_root/kind-tools-containerd-${CONTAINERD_VERSION}-kind-${KIND_VERSION}
