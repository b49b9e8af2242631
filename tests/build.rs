//! Builds the components the tests load besides the host's own, for `wasm32-wasip2`, in
//! their own target directory (sharing ours would deadlock on cargo's lock):
//! - the hostile component (`tests/hostile-guest`), for the sandbox tests;
//! - the guest's portable builds (`build/portable.rs`), each with its docs embedded, for the
//!   portable tests.

use std::env;
use std::path::PathBuf;

#[path = "../build/package_docs.rs"]
mod package_docs;
#[path = "../build/portable.rs"]
mod portable;
#[path = "../build/wasm_build.rs"]
mod wasm_build;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("tests/ lives in the workspace");
    let target_dir = workspace.join("target").join("test-components");
    for path in [
        manifest_dir.join("hostile-guest"),
        workspace.join("wit"),
        workspace.join("guest"),
        workspace.join("build"),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }

    wasm_build::build_wasm(
        workspace,
        &target_dir,
        &["--package", "lunatask-mcp-hostile-guest", "--release"],
        "the hostile test component",
    );
    let hostile = target_dir.join("wasm32-wasip2/release/lunatask_mcp_hostile_guest.wasm");
    println!("cargo:rustc-env=HOSTILE_GUEST_WASM={}", hostile.display());

    // Release, not the shipped `guest` profile: the same code, built faster.
    let out = target_dir.join("portable");
    for (flavour, var) in portable::FLAVOURS.iter().zip([
        "PORTABLE_GUEST_WASM",
        "PORTABLE_CONFIG_GUEST_WASM",
        "PORTABLE_CONFIG_DRAFT_GUEST_WASM",
    ]) {
        let built = portable::build(workspace, &target_dir, "release", flavour, &out);
        println!("cargo:rustc-env={var}={}", built.display());
    }
}
