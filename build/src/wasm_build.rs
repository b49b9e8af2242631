//! Runs a nested cargo that builds components for `wasm32-wasip2` (for the build scripts of
//! `host/` and `tests/`, and for xtask).

use std::path::Path;
use std::process::Command;

/// `cargo build --target wasm32-wasip2` with `args` (packages, features, profile), in the
/// workspace, into `target_dir`: its own, since sharing the outer build's would deadlock on
/// cargo's build-directory lock. Panics with what to do when the build fails.
pub fn build_wasm(workspace: &Path, target_dir: &Path, args: &[&str], what: &str) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--target", "wasm32-wasip2"])
        .args(args)
        .arg("--target-dir")
        .arg(target_dir)
        // The outer build's flags and target are for the host, not for the components.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status()
        .unwrap_or_else(|e| panic!("running cargo for {what}: {e}"));
    assert!(
        status.success(),
        "building {what} failed; is the target installed? Run `rustup target add wasm32-wasip2`."
    );
}
