//! Builds the guest component for `wasm32-wasip2` so that `cargo build` of the host is all a
//! fresh clone needs. The nested cargo uses its own target directory: sharing ours would
//! deadlock on cargo's build-directory lock.

use std::env;
use std::path::PathBuf;

use lunatask_mcp_build::wasm_build;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir.parent().expect("host/ lives in the workspace");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    let target_dir = workspace.join("target").join("guest-build");

    for path in [
        "guest/src",
        "guest/Cargo.toml",
        "wit",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=LUNATASK_GUEST_WASM");

    // A prebuilt component may be supplied instead (e.g. by packagers).
    let wasm = match env::var_os("LUNATASK_GUEST_WASM") {
        Some(path) => PathBuf::from(path),
        None => build_guest(workspace, &target_dir),
    };
    let dest = out_dir.join("lunatask_mcp_guest.wasm");
    std::fs::copy(&wasm, &dest)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", wasm.display(), dest.display()));
}

fn build_guest(workspace: &std::path::Path, target_dir: &std::path::Path) -> PathBuf {
    wasm_build::build_wasm(
        workspace,
        target_dir,
        &["--package", "lunatask-mcp-guest", "--profile", "guest"],
        "the guest component",
    );
    target_dir.join("wasm32-wasip2/guest/lunatask_mcp_guest.wasm")
}
