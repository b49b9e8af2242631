# Conveniences only: every recipe is a plain cargo command you can run without `just`.

# Build the server (and, through host/build.rs, the guest component).
build:
    cargo build --release -p lunatask-mcp

# Run the server over stdio; needs LUNATASK_API_TOKEN.
run *ARGS:
    cargo run --release -p lunatask-mcp -- {{ARGS}}

# All tests: unit, guest and end-to-end.
test:
    cargo test --workspace

# The guest component for the host's `server` world (the one the binary embeds).
component:
    cargo build -p lunatask-mcp-guest --target wasm32-wasip2 --profile guest --target-dir target/guest-build
    @echo target/guest-build/wasm32-wasip2/guest/lunatask_mcp_guest.wasm

# The portable components (one typed export per tool, for other runtimes), docs embedded.
portable:
    cargo xtask portable

# After changing a tool: regenerate wit/portable.wit from the tool registry.
portable-wit:
    LUNATASK_BLESS=1 cargo test -p lunatask-mcp-guest --test portable_wit

fmt:
    cargo fmt --all

lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy -p lunatask-mcp-guest --target wasm32-wasip2 -- -D warnings
    cargo clippy -p lunatask-mcp-guest --features portable --all-targets -- -D warnings
    cargo clippy -p lunatask-mcp-guest --features portable --target wasm32-wasip2 -- -D warnings
    cargo clippy -p lunatask-mcp-guest --features portable-config --target wasm32-wasip2 -- -D warnings
    cargo clippy -p lunatask-mcp-guest --features portable-config-draft --target wasm32-wasip2 -- -D warnings

# Advisories (RustSec snapshot in ../shared/advisory-db) against Cargo.lock.
audit:
    cargo audit --db ../shared/advisory-db --no-fetch --stale --deny warnings

# What CI runs.
ci:
    bash .ci/run

# Benchmarks against the local fake: table and plot under target/bench/.
bench:
    cargo build --release -p lunatask-mcp
    cargo run --release -p lunatask-mcp-tests --bin bench

# Fuzz every target for SECONDS each (CI runs 60).
fuzz SECONDS="3600":
    bash fuzz/run.sh {{SECONDS}}

# The official Python SDK and the MCP conformance suite against the release binary.
interop:
    LUNATASK_TEST_COMPONENTS=skip cargo build --release -p lunatask-mcp -p lunatask-mcp-tests --bins
    python3 -m venv target/interop-venv && target/interop-venv/bin/pip install --quiet mcp==2.3.0
    target/interop-venv/bin/python tests/interop/python_client.py target/release/lunatask-mcp target/release/fake-api
    bash tests/interop/consent.sh target/release/lunatask-mcp target/release/fake-api
    bash tests/interop/conformance.sh target/release/lunatask-mcp target/release/fake-api
    bash tests/interop/schemas.sh target/release/lunatask-mcp target/release/fake-api
