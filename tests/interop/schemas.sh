#!/usr/bin/env bash
# Real clients' views of the tool schemas: the MCP Inspector CLI's strict schema-portability
# report (any finding fails), and the TypeScript SDK listing and calling tools with nothing
# printed (tests/interop/ts_client.mjs).
#   usage: tests/interop/schemas.sh HOST_BINARY FAKE_API_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"
interop_setup "${SCHEMAS_WORK:-target/interop-schemas}" "$@"
if [[ ! -d "$work/clients/node_modules/@modelcontextprotocol/inspector" ]]; then
  mkdir -p "$work/clients"
  (cd "$work/clients" && npm install --silent --no-audit --no-fund \
    @modelcontextprotocol/inspector@2.12.0 @modelcontextprotocol/sdk@1.32.2 >/dev/null)
fi

start_fake "$fake_bin" "$work/fake.url"
trap 'kill "$fake_pid" 2>/dev/null || true' EXIT
fake_url=$(head -n1 "$work/fake.url")

echo "-- MCP Inspector CLI, strict schema portability"
node "$work/clients/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js" \
  --cli "$host" -e LUNATASK_API_TOKEN=lt-test-token-9f3a1c7e5b2d -e "LUNATASK_BASE_URL=$fake_url" \
  -e "LUNATASK_CACHE_DIR=$work/cache" -e LUNATASK_LOG=warn \
  --method tools/list --strict > "$work/inspector.out" 2> "$work/inspector.err"
if grep -qiE '^(warning|error)|portability' "$work/inspector.err"; then
  cat "$work/inspector.err"
  echo "the Inspector found schema portability problems"
  exit 1
fi
tools=$(grep -c '"inputSchema"' "$work/inspector.out")
echo "Inspector: $tools tools, no schema portability findings"

echo "-- TypeScript SDK client"
# ES modules resolve packages from the script's own folder, so it runs from beside them.
cp "$here/ts_client.mjs" "$work/clients/ts_client.mjs"
LUNATASK_CACHE_DIR="$work/cache" node "$work/clients/ts_client.mjs" "$host" "$fake_url"
