#!/usr/bin/env bash
# The OAuth consent page in headless Chromium (Debian's chromium, driven by playwright-core),
# JavaScript off, and the official Python SDK's OAuth client signing in end to end.
#   usage: tests/interop/consent.sh HOST_BINARY FAKE_API_BINARY
# Needs /usr/bin/chromium (.ci/run installs it) and the interop venv with mcp.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
source "$here/common.sh"
interop_setup "${CONSENT_WORK:-target/interop-consent}" "$@"
if [[ ! -d "$work/browser/node_modules/playwright-core" ]]; then
  mkdir -p "$work/browser"
  (cd "$work/browser" && npm install --silent --no-audit --no-fund playwright-core@1.64.1 >/dev/null)
fi

echo "-- Python SDK OAuthClientProvider"
"${PYTHON:-target/interop-venv/bin/python}" "$here/python_oauth.py" "$host" "$fake_bin"

echo "-- the consent page in Chromium"
start_fake "$fake_bin" "$work/fake.url"
trap 'kill "$fake_pid" 2>/dev/null || true' EXIT
fake_url=$(head -n1 "$work/fake.url")
# ES modules resolve packages from the script's own folder, so it runs from beside them.
cp "$here/consent_browser.mjs" "$work/browser/consent_browser.mjs"
LUNATASK_CACHE_DIR="$work/cache" node "$work/browser/consent_browser.mjs" \
  "$host" "$fake_url" lt-test-token-9f3a1c7e5b2d "$work"
echo "screenshots: $work/consent.png, $work/consent-wrong-token.png"
