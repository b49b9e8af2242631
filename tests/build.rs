//! Builds the components the tests load besides the host's own, for `wasm32-wasip2`, in
//! their own target directory (sharing ours would deadlock on cargo's lock):
//! - the hostile component (`tests/hostile-guest`), for the sandbox tests;
//! - the guest's `portable` world (`--features portable`), for the interop tests.

use std::env;
use std::path::PathBuf;

#[path = "../build/wasm_build.rs"]
mod wasm_build;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("tests/ lives in the workspace");
    let target_dir = workspace.join("target").join("test-components");
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("hostile-guest").display()
    );
    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("guest").display()
    );

    wasm_build::build_wasm(
        workspace,
        &target_dir,
        &[
            "--package",
            "lunatask-mcp-hostile-guest",
            "--package",
            "lunatask-mcp-guest",
            "--features",
            "lunatask-mcp-guest/portable",
            "--release",
        ],
        "the test components",
    );
    let out = target_dir.join("wasm32-wasip2/release");
    let hostile = out.join("lunatask_mcp_hostile_guest.wasm");
    println!("cargo:rustc-env=HOSTILE_GUEST_WASM={}", hostile.display());
    let portable = out.join("lunatask_mcp_guest.wasm");
    println!("cargo:rustc-env=PORTABLE_GUEST_WASM={}", portable.display());
}
