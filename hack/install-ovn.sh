#!/usr/bin/env bash
# Installs the Debian OVN/OVS packages the real-stack tests need, and the
# network tools the dataplane tests use (ping, nc, and busybox udhcpc and ISC
# dhclient for guests that configure themselves by DHCP and DHCPv6), when
# missing.
# The daemons are never started by the packages: a policy-rc.d that denies
# service starts is put in place first (our harness starts its own daemons in
# private run directories).
set -euo pipefail

need=()
for bin in ovsdb-server ovsdb-tool ovn-northd ovn-controller ovs-vswitchd ovn-nbctl ip ethtool tcpdump ping nc busybox dhclient; do
  command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "install-ovn: missing ${need[*]}; installing ovn-central ovn-host openvswitch-switch and network tools" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "install-ovn: must run as root to install packages" >&2
  exit 1
fi
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends ovn-central ovn-host openvswitch-switch iproute2 ethtool tcpdump iputils-ping netcat-openbsd busybox isc-dhcp-client >/dev/null
if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
