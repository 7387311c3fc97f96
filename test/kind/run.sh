#!/usr/bin/env bash
# make kind-e2e: a kind cluster (a control plane and two workers) with OVN on
# its nodes, ovnet deployed from manifests/default (test/kind/overlay), and the
# e2e suite's portable and cluster tests run against it
# (go test ./test/e2e -args -target=cluster). Offline by default: the node
# image, the Kubernetes images and ovnet's image are built here
# (test/kind/node/build.sh); KIND_NODE_IMAGE=kindest/node:... takes a stock
# node image instead (a machine with a registry). Run as root.
#
#   test/kind/run.sh          create (or reuse) the cluster, deploy, test
#   test/kind/run.sh delete   remove the cluster and the external host
set -euo pipefail
cd "$(dirname "$0")/../.."
CLUSTER=ovnet
PROVIDER_NET=ovnet-provider
UNDERLAY_NET=ovnet-underlay
UNDERLAY_PREFIX=100.66.0
EXTERNAL=ovnet-external
PUBLIC_PREFIX=203.0.113.0/24
POD_MTU=1400
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

step_start=$SECONDS
step() { # step NAME: what starts now, and how long the previous step took
  echo "kind-e2e: $1 (previous step $((SECONDS - step_start)) s)" >&2
  step_start=$SECONDS
}

. test/kind/node/versions.sh
# kind: the one test/kind/node/build.sh builds (same version on every
# machine), else the PATH's.
kind_bin() { if [ -x "$tools/kind" ]; then echo "$tools/kind"; else command -v kind; fi; }
if [ "${1:-}" = delete ]; then
  KIND=$(kind_bin) && "$KIND" delete cluster --name "$CLUSTER" || true
  docker rm -f "$EXTERNAL" || true
  docker network rm "$PROVIDER_NET" "$UNDERLAY_NET" || true
  exit 0
fi

step "docker engine"
test/kind/docker.sh
hack/build-envtest.sh # kubectl
export PATH=$PWD/bin/k8s:$PATH
step "node image"
patches=test/kind/kind-config.yaml
if [ -n "${KIND_NODE_IMAGE:-}" ]; then
  node_image=$KIND_NODE_IMAGE
  # The stock images come from registry.k8s.io: no image patch.
  sed '/^# The Kubernetes images built/,/imageTag:/d' test/kind/kind-config.yaml >"$WORK/kind-config.yaml"
  patches=$WORK/kind-config.yaml
else
  node_image=$(test/kind/node/build.sh)
fi
KIND=$(kind_bin) || { echo "kind-e2e: no kind (test/kind/node/build.sh builds it)" >&2; exit 1; }

step "cluster"
# A cluster of this name is reused, unless its nodes run another node image.
if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER" &&
  [ "$(docker inspect -f '{{.Config.Image}}' "$CLUSTER-control-plane" 2>/dev/null)" != "$node_image" ]; then
  "$KIND" delete cluster --name "$CLUSTER"
fi
"$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER" ||
  "$KIND" create cluster --config "$patches" --image "$node_image"
KUBECONFIG_FILE=$WORK/kubeconfig
"$KIND" get kubeconfig --name "$CLUSTER" >"$KUBECONFIG_FILE"
export KUBECONFIG=$KUBECONFIG_FILE
NODES=$("$KIND" get nodes --name "$CLUSTER")
CENTRAL=$CLUSTER-control-plane
node_ip() { docker inspect -f '{{(index .NetworkSettings.Networks "kind").IPAddress}}' "$1"; }
CENTRAL_IP=$(node_ip "$CENTRAL")

# Pods: a bridge per node on the node's pod CIDR, routes to the other
# nodes' CIDRs through their kind addresses (what kind's kindnet does).
step "pod network"
for node in $NODES; do
  cidr=$(kubectl get node "$node" -o jsonpath='{.spec.podCIDR}')
  docker exec -i "$node" sh -c 'cat >/etc/cni/net.d/10-ovnet-kind.conflist' <<EOF
{"cniVersion": "1.0.0", "name": "kind-pods", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "mtu": $POD_MTU,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  for other in $NODES; do
    [ "$other" = "$node" ] && continue
    docker exec "$node" ip route replace "$(kubectl get node "$other" -o jsonpath='{.spec.podCIDR}')" via "$(node_ip "$other")"
  done
done
kubectl wait --for=condition=Ready node --all --timeout=120s

# The provider network: a docker network joining every node's second
# interface (put into br-ex) and the external host, the upstream router at
# 100.64.0.1 that routes the public prefix on-link (as the local stack's).
step "provider network and external host"
docker network inspect "$PROVIDER_NET" >/dev/null 2>&1 ||
  docker network create --subnet 100.64.0.0/16 --ip-range 100.64.254.0/24 --gateway 100.64.254.254 "$PROVIDER_NET"
if ! docker inspect "$EXTERNAL" >/dev/null 2>&1; then
  # Our node image has the tools the tests run on the external host; with a
  # stock node image, Debian's image gets them from Debian.
  external_image=$node_image
  [ -n "${KIND_NODE_IMAGE:-}" ] && external_image=debian:bookworm
  docker run -d --name "$EXTERNAL" --network "$PROVIDER_NET" --ip 100.64.0.1 --cap-add NET_ADMIN \
    --sysctl net.ipv4.ip_forward=1 --entrypoint sleep "$external_image" infinity
  docker exec "$EXTERNAL" sh -c 'command -v nc >/dev/null || (apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -yq iproute2 iputils-ping netcat-openbsd ethtool)'
  docker exec "$EXTERNAL" ip route add "$PUBLIC_PREFIX" dev eth0
  docker exec "$EXTERNAL" ethtool -K eth0 tx off
fi

# The geneve underlay: a docker network of its own with room for
# encapsulated 1500-byte frames (MTU 9000). The userspace datapath sends
# tunnel packets through an OVS bridge, so each node's interface on it goes
# into br-phy and its address onto br-phy's tap (as the local stack's
# chassis do); kind's own network keeps carrying the cluster's traffic.
docker network inspect "$UNDERLAY_NET" >/dev/null 2>&1 ||
  docker network create --subnet "$UNDERLAY_PREFIX.0/24" -o com.docker.network.driver.mtu=9000 "$UNDERLAY_NET"

# OVN on the nodes: OVS (userspace datapath) and ovn-controller on each,
# OVN central on the control-plane node, NB over TLS.
step "OVN on the nodes"
joined() { docker network inspect -f '{{range .Containers}}{{.Name}} {{end}}' "$1" | grep -qw "$2"; }
for node in $NODES; do
  joined "$PROVIDER_NET" "$node" || docker network connect "$PROVIDER_NET" "$node"
  joined "$UNDERLAY_NET" "$node" || docker network connect "$UNDERLAY_NET" "$node"
  pkgs="openvswitch-switch ovn-host iproute2 iputils-ping netcat-openbsd tcpdump ethtool"
  [ "$node" = "$CENTRAL" ] && pkgs="$pkgs ovn-central"
  docker exec "$node" sh -c "command -v ovn-controller >/dev/null && command -v ovn-northd >/dev/null ||
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -yq $pkgs)"
done

# Certificates: a CA, the NB server's and the controller's client's.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ovnet-kind-ca -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
for who in nb controller; do
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$who" -keyout "$WORK/$who.key" -out "$WORK/$who.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s\n' "$CENTRAL_IP" >"$WORK/$who.ext"
  openssl x509 -req -in "$WORK/$who.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
    -extfile "$WORK/$who.ext" -out "$WORK/$who.crt" 2>/dev/null
done
docker exec "$CENTRAL" mkdir -p /etc/ovn/pki
for f in ca.crt nb.key nb.crt; do docker cp "$WORK/$f" "$CENTRAL:/etc/ovn/pki/$f"; done
docker exec "$CENTRAL" sh -c '
  systemctl start ovn-central
  for _ in $(seq 60); do [ -S /var/run/ovn/ovnnb_db.sock ] && [ -S /var/run/ovn/ovnsb_db.sock ] && break; sleep 0.5; done
  ovn-nbctl set-ssl /etc/ovn/pki/nb.key /etc/ovn/pki/nb.crt /etc/ovn/pki/ca.crt
  ovn-nbctl set-connection pssl:6641 ptcp:6643:127.0.0.1
  ovn-sbctl set-connection ptcp:6642'

for node in $NODES; do
  encap_ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$UNDERLAY_NET\").IPAddress}}" "$node")
  docker exec "$node" sh -c "
    set -e
    systemctl start openvswitch-switch
    for _ in \$(seq 60); do [ -S /var/run/openvswitch/db.sock ] && break; sleep 0.5; done
    ovs-vsctl set Open_vSwitch . external_ids:system-id=$node \
      external_ids:ovn-remote=tcp:$CENTRAL_IP:6642 external_ids:ovn-encap-type=geneve \
      external_ids:ovn-encap-ip=$encap_ip external_ids:ovn-bridge-datapath-type=netdev \
      external_ids:ovn-bridge-mappings=physnet1:br-ex
    # Each docker network's interface, found by its address (gone once it
    # is in a bridge, which is how a second run finds it done).
    if_of() { ip -o -4 addr show | awk -v p=\"\$1\" '\$4 ~ \"^\"p {print \$2}' | grep -v '^br-' | head -n1; }
    underlay_if=\$(if_of $UNDERLAY_PREFIX.)
    provider_if=\$(if_of 100.64.)
    ovs-vsctl --may-exist add-br br-phy -- set Bridge br-phy datapath_type=netdev -- set Interface br-phy mtu_request=9000
    if [ -n \"\$underlay_if\" ]; then
      ip addr flush dev \$underlay_if; ovs-vsctl --may-exist add-port br-phy \$underlay_if; ethtool -K \$underlay_if tx off >/dev/null
    fi
    for _ in \$(seq 20); do ip link show br-phy >/dev/null 2>&1 && break; sleep 0.5; done
    ip addr replace $encap_ip/24 dev br-phy
    ip link set br-phy up
    ovs-vsctl --may-exist add-br br-ex -- set Bridge br-ex datapath_type=netdev
    if [ -n \"\$provider_if\" ]; then
      ip addr flush dev \$provider_if; ovs-vsctl --may-exist add-port br-ex \$provider_if; ethtool -K \$provider_if tx off >/dev/null
    fi
    ip link set br-ex up
    systemctl start ovn-host"
done

# ovnet: the image (the binaries built here, as the Dockerfile builds them,
# in an image of their own), the TLS secret, the manifests with this
# cluster's values.
step "ovnet image"
image=$WORK/image
mkdir -p "$image"
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$image/" ./cmd/ovnet-controller ./cmd/ovnet-agent
# Tagged by content, so that a changed build rolls the pods of a reused
# cluster.
tag=kind-$(cat "$image/ovnet-controller" "$image/ovnet-agent" | sha256sum | cut -c1-12)
tar -C "$image" -c --owner=0 --group=0 ovnet-controller ovnet-agent |
  docker import --change 'USER 65532:65532' - "ovnet:$tag" >/dev/null
docker save "ovnet:$tag" >"$WORK/ovnet.tar"
for node in $NODES; do
  docker exec -i "$node" ctr --namespace k8s.io images import --digests - <"$WORK/ovnet.tar" >/dev/null
done

step "deploy ovnet"
kubectl create namespace ovnet-system --dry-run=client -o yaml | kubectl apply -f -
kubectl -n ovnet-system create secret generic ovnet-ovn-nb-tls --from-file=tls.key="$WORK/controller.key" \
  --from-file=tls.crt="$WORK/controller.crt" --from-file=ca.crt="$WORK/ca.crt" --dry-run=client -o yaml | kubectl apply -f -
OVERLAY=$WORK/overlay
cp -r test/kind/overlay "$OVERLAY"
# kustomize takes bases by relative path only.
sed -i -e "s|\.\./\.\./\.\./manifests/default|$(realpath --relative-to="$OVERLAY" manifests/default)|" \
  -e "s|newTag: kind\$|newTag: $tag|" "$OVERLAY/kustomization.yaml"
printf 'OVN_NB=ssl:%s:6641\nOVN_SB=tcp:%s:6642\nPUBLIC_PREFIXES=%s\n' "$CENTRAL_IP" "$CENTRAL_IP" "$PUBLIC_PREFIX" >"$OVERLAY/controller-config.env"
kubectl apply -k "$OVERLAY"
kubectl -n ovnet-system rollout status deployment/ovnet-controller --timeout=180s
kubectl -n ovnet-system rollout status daemonset/ovnet-agent --timeout=180s

# The same suite as the local stack, against this cluster.
step "e2e tests against the cluster"
go test ./test/e2e -count=1 -v -timeout 20m -run "${KIND_E2E_RUN:-TestPortable|TestCluster}" -args -target=cluster \
  -kubeconfig="$KUBECONFIG_FILE" -node-exec 'docker exec -i {node}' \
  -external-exec "docker exec -i $EXTERNAL" -external-ip 100.64.0.1 \
  -nbctl "docker exec $CENTRAL ovn-nbctl --db=tcp:127.0.0.1:6643"
step "done"
