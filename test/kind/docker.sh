#!/usr/bin/env bash
# A docker engine for make kind-e2e: Debian's docker.io (and the tools the
# kind scripts use), installed when missing, with runc-bounded as its default
# runtime (privileged containers, which kind's nodes are, fail on machines
# whose capability bounding set lacks CAP_SYS_RESOURCE), started in the
# background when no engine answers. Run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
need=()
for tool in dockerd:docker.io jq:jq debootstrap:debootstrap capsh:libcap2-bin openssl:openssl; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "kind: installing ${need[*]} from Debian" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
install -m 755 "$here/node/runc-bounded" /usr/local/bin/runc-bounded
if [ ! -f /etc/docker/daemon.json ]; then
  mkdir -p /etc/docker
  echo '{"default-runtime": "bounded", "runtimes": {"bounded": {"path": "/usr/local/bin/runc-bounded"}}}' >/etc/docker/daemon.json
elif ! grep -q runc-bounded /etc/docker/daemon.json; then
  echo "kind: /etc/docker/daemon.json has no runc-bounded runtime; privileged containers may fail" >&2
fi
if ! docker info >/dev/null 2>&1; then
  echo "kind: starting dockerd (log: /var/log/ovnet-dockerd.log)" >&2
  # A dockerd that was killed (or a machine restored from a snapshot) leaves
  # its pid file behind, and a new dockerd refuses to start over it.
  pidfile=/var/run/docker.pid
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "kind: removing the stale $pidfile" >&2
    rm -f "$pidfile"
  fi
  nohup dockerd >/var/log/ovnet-dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "kind: dockerd did not start; see /var/log/ovnet-dockerd.log" >&2; exit 1; }
fi
