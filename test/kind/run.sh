#!/usr/bin/env bash
# make kind-e2e: a kind cluster with OVN installed on its nodes, ovnet
# deployed from manifests/default (test/kind/overlay), and the e2e suite's
# portable tests run against it (go test ./test/e2e -args -target=cluster).
#
# Needs docker, kind, kubectl and go. NOT RUN on ovnet's CI machines, which
# have no container engine; see docs/testing.md for what ran where.
#
#   test/kind/run.sh          create (or reuse) the cluster, deploy, test
#   test/kind/run.sh delete   remove the cluster and the external host
set -euo pipefail
cd "$(dirname "$0")/../.."
CLUSTER=ovnet
PROVIDER_NET=ovnet-provider
EXTERNAL=ovnet-external
PUBLIC_PREFIX=203.0.113.0/24
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ "${1:-}" = delete ]; then
  kind delete cluster --name "$CLUSTER" || true
  docker rm -f "$EXTERNAL" || true
  docker network rm "$PROVIDER_NET" || true
  exit 0
fi
for tool in docker kind kubectl go openssl; do
  command -v "$tool" >/dev/null || { echo "kind-e2e needs $tool" >&2; exit 1; }
done

kind get clusters | grep -qx "$CLUSTER" || kind create cluster --config test/kind/kind-config.yaml
KUBECONFIG_FILE=$WORK/kubeconfig
kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG_FILE"
export KUBECONFIG=$KUBECONFIG_FILE
NODES=$(kind get nodes --name "$CLUSTER")
CENTRAL=$CLUSTER-control-plane
CENTRAL_IP=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$CENTRAL" | awk '{print $1}')

# The provider network: a docker network joining every node's second
# interface (put into br-ex) and the external host, the upstream router at
# 100.64.0.1 that routes the public prefix on-link (as the local stack's).
docker network inspect "$PROVIDER_NET" >/dev/null 2>&1 ||
  docker network create --subnet 100.64.0.0/16 --ip-range 100.64.254.0/24 --gateway 100.64.254.254 "$PROVIDER_NET"
if ! docker inspect "$EXTERNAL" >/dev/null 2>&1; then
  docker run -d --name "$EXTERNAL" --network "$PROVIDER_NET" --ip 100.64.0.1 --cap-add NET_ADMIN \
    --sysctl net.ipv4.ip_forward=1 debian:trixie sleep infinity
  docker exec "$EXTERNAL" sh -c 'apt-get update -q && apt-get install -yq iproute2 iputils-ping netcat-openbsd ethtool'
  docker exec "$EXTERNAL" ip route add "$PUBLIC_PREFIX" dev eth0
  docker exec "$EXTERNAL" ethtool -K eth0 tx off
fi

# OVN on the nodes: OVS (userspace datapath) and ovn-controller on each,
# OVN central on the control-plane node, NB over TLS.
for node in $NODES; do
  docker network inspect -f '{{range .Containers}}{{.Name}} {{end}}' "$PROVIDER_NET" | grep -qw "$node" ||
    docker network connect "$PROVIDER_NET" "$node"
  pkgs="openvswitch-switch ovn-host iproute2 iputils-ping netcat-openbsd tcpdump ethtool"
  [ "$node" = "$CENTRAL" ] && pkgs="$pkgs ovn-central"
  docker exec "$node" sh -c "command -v ovn-controller >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -yq $pkgs)"
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
  service ovn-central start >/dev/null 2>&1 || /usr/share/ovn/scripts/ovn-ctl start_northd
  ovn-nbctl set-ssl /etc/ovn/pki/nb.key /etc/ovn/pki/nb.crt /etc/ovn/pki/ca.crt
  ovn-nbctl set-connection pssl:6641 ptcp:6643:127.0.0.1
  ovn-sbctl set-connection ptcp:6642'

for node in $NODES; do
  encap_ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"kind\").IPAddress}}" "$node")
  provider_if=$(docker exec "$node" sh -c "ip -o addr show | awk '/100\.64\./{print \$2}' | head -n1")
  docker exec "$node" sh -c "
    service openvswitch-switch start >/dev/null
    ovs-vsctl set Open_vSwitch . external_ids:system-id=$node \
      external_ids:ovn-remote=tcp:$CENTRAL_IP:6642 external_ids:ovn-encap-type=geneve \
      external_ids:ovn-encap-ip=$encap_ip external_ids:ovn-bridge-datapath-type=netdev \
      external_ids:ovn-bridge-mappings=physnet1:br-ex
    ovs-vsctl --may-exist add-br br-ex -- set Bridge br-ex datapath_type=netdev
    if [ -n '$provider_if' ]; then ip addr flush dev $provider_if; ovs-vsctl --may-exist add-port br-ex $provider_if; ethtool -K $provider_if tx off; fi
    ip link set br-ex up
    service ovn-host start >/dev/null"
done

# ovnet: the image, the TLS secret, the manifests with this cluster's values.
docker build -t ovnet:kind .
kind load docker-image ovnet:kind --name "$CLUSTER"
kubectl create namespace ovnet-system --dry-run=client -o yaml | kubectl apply -f -
kubectl -n ovnet-system create secret generic ovnet-ovn-nb-tls --from-file=tls.key="$WORK/controller.key" \
  --from-file=tls.crt="$WORK/controller.crt" --from-file=ca.crt="$WORK/ca.crt" --dry-run=client -o yaml | kubectl apply -f -
OVERLAY=$WORK/overlay
cp -r test/kind/overlay "$OVERLAY"
# kustomize takes bases by relative path only.
sed -i "s|\.\./\.\./\.\./manifests/default|$(realpath --relative-to="$OVERLAY" manifests/default)|" "$OVERLAY/kustomization.yaml"
printf 'OVN_NB=ssl:%s:6641\nOVN_SB=tcp:%s:6642\nPUBLIC_PREFIXES=%s\n' "$CENTRAL_IP" "$CENTRAL_IP" "$PUBLIC_PREFIX" >"$OVERLAY/controller-config.env"
kubectl apply -k "$OVERLAY"
kubectl -n ovnet-system rollout status deployment/ovnet-controller --timeout=180s
kubectl -n ovnet-system rollout status daemonset/ovnet-agent --timeout=180s

# The same suite as the local stack, against this cluster.
go test ./test/e2e -count=1 -v -timeout 20m -run 'TestPortable' -args -target=cluster \
  -kubeconfig="$KUBECONFIG_FILE" -node-exec 'docker exec {node}' \
  -external-exec "docker exec $EXTERNAL" -external-ip 100.64.0.1 \
  -nbctl "docker exec $CENTRAL ovn-nbctl --db=tcp:127.0.0.1:6643"
