#!/usr/bin/env bash
# Runs the official MCP conformance suite (server scenarios, Streamable HTTP) against the
# real binary, with the expected failures in tests/interop/conformance-expected-failures.yml
# (each entry says why). Any other failure, or a stale entry, fails.
#   usage: tests/interop/conformance.sh HOST_BINARY FAKE_API_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"
# The suite needs Node.js 22; this machine's may be older. A registry package ships one.
interop_setup "${CONFORMANCE_WORK:-target/conformance}" "$@"

start_fake "$fake_bin" "$work/fake.url"
server_pid=
cleanup() { kill "$fake_pid" ${server_pid:+"$server_pid"} 2>/dev/null || true; }
trap cleanup EXIT

# Emptied first: the redirection below happens in the background child, and until then a
# previous run's log (and its port) would be read.
: > "$work/server.log"
LUNATASK_API_TOKEN=lt-test-token-9f3a1c7e5b2d \
LUNATASK_BASE_URL=$(head -n1 "$work/fake.url") \
LUNATASK_CACHE_DIR="$work/cache" \
LUNATASK_RATE_LIMIT_RPM=100000 LUNATASK_RATE_LIMIT_BURST=1000 \
  "$host" --http 127.0.0.1:0 2> "$work/server.log" &
server_pid=$!
url=
for _ in $(seq 300); do
  url=$(grep -o 'listening on http://[^ ]*' "$work/server.log" | head -n1 | cut -d' ' -f3 || true)
  [[ -n "$url" ]] && break
  sleep 0.1
done
[[ -n "$url" ]] || { echo "the server did not start:"; cat "$work/server.log"; exit 1; }

# The active suite (handshake-era scenarios), then the stateless 2026-07-28 revision.
for version in "" 2026-07-28; do
  npx -y @modelcontextprotocol/conformance@0.2.0-alpha.12 server \
    --url "$url" --expected-failures "$here/conformance-expected-failures.yml" \
    --output-dir "$work/results${version:+-$version}" ${version:+--spec-version "$version"}
done
