//! Builds the hostile test component (`tests/hostile-guest`) for `wasm32-wasip2`, once per
//! build, in its own target directory (sharing ours would deadlock on cargo's lock).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("tests/ lives in the workspace");
    let target_dir = workspace.join("target").join("hostile-build");
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("hostile-guest").display()
    );
    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args([
            "build",
            "--package",
            "lunatask-mcp-hostile-guest",
            "--target",
            "wasm32-wasip2",
        ])
        .args(["--release", "--target-dir"])
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status()
        .expect("running cargo for the hostile component");
    assert!(
        status.success(),
        "building the hostile test component failed; run `rustup target add wasm32-wasip2`"
    );
    let wasm = target_dir.join("wasm32-wasip2/release/lunatask_mcp_hostile_guest.wasm");
    println!("cargo:rustc-env=HOSTILE_GUEST_WASM={}", wasm.display());
}
