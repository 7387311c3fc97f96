#!/usr/bin/env bash
# make run / make stop: the local stack (see README.md). Runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = stop ]; then
  exec bin/ovnet-dev stop --run-dir .run
fi
exec bin/ovnet-dev up --run-dir .run --samples manifests/samples
