//! Builds the components the tests load besides the host's own, for `wasm32-wasip2`, in
//! their own target directory (sharing ours would deadlock on cargo's lock):
//! - the hostile component (`tests/hostile-guest`), for the sandbox tests;
//! - the guest's portable builds (`build/src/portable.rs`), each with its docs embedded, for the
//!   portable tests.

use std::env;
use std::path::PathBuf;

use lunatask_mcp_build::{portable, wasm_build};

/// Set to `skip`, the components are not built (for the release binaries, which load none).
const SKIP: &str = "LUNATASK_TEST_COMPONENTS";

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

    // The release build of the fake API and the bench (what the interop scripts and `just
    // bench` run) loads none of these: CI builds them with the components skipped.
    println!("cargo:rerun-if-env-changed={SKIP}");
    let vars = [
        "HOSTILE_GUEST_WASM",
        "PORTABLE_GUEST_WASM",
        "PORTABLE_CONFIG_GUEST_WASM",
        "PORTABLE_CONFIG_DRAFT_GUEST_WASM",
    ];
    if env::var(SKIP).is_ok_and(|v| v == "skip") {
        for var in vars {
            println!("cargo:rustc-env={var}=/{SKIP}=skip: not built");
        }
        return;
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
    for (flavour, var) in portable::FLAVOURS.iter().zip(&vars[1..]) {
        let built = portable::build(workspace, &target_dir, "release", flavour, &out);
        println!("cargo:rustc-env={var}={}", built.display());
    }
}
