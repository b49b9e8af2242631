#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) with cargo-fuzz on nightly, starting from
# the seed corpus in fuzz/corpus (new inputs go to target/fuzz-corpus, not into git).
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the run: turn it into a
# regression test. Long runs: `just fuzz 3600`.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
# CI puts a prebuilt cargo-fuzz on PATH first (.ci/run); by hand, it is built once.
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for target in arguments api_answers mcp_messages; do
  mkdir -p "../target/fuzz-corpus/$target"
  log="../target/fuzz-$target.log"
  if ! cargo +nightly fuzz run "$target" "../target/fuzz-corpus/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 > "$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $target failed: see fuzz/artifacts/$target/"
    exit 1
  fi
  echo "fuzz $target: $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -n1)"
done
