//! Shared by `tests/build.rs` and `xtask` (each includes this file, `wasm_build.rs` and
//! `package_docs.rs` with `#[path]` at its root): the portable builds of the guest, each a
//! component with its WIT documentation embedded.

use std::path::{Path, PathBuf};

use crate::{package_docs, wasm_build};

/// One portable build: the guest feature that selects its world, and the file it ships as.
pub struct Flavour {
    pub feature: &'static str,
    pub world: &'static str,
    pub file: &'static str,
}

/// Every portable build (docs/portable.md).
pub const FLAVOURS: [Flavour; 3] = [
    // Settings from the environment only: runs wherever WASI 0.2 and wasi-http are.
    Flavour {
        feature: "portable",
        world: "portable",
        file: "lunatask-mcp-portable.wasm",
    },
    // `wasi:config/store@0.2.0-rc.1` first: wasmtime 40 and later, Wassette on them.
    Flavour {
        feature: "portable-config",
        world: "portable-config",
        file: "lunatask-mcp-portable-config.wasm",
    },
    // `wasi:config/store@0.2.0-draft` first: wasmtime 39 and earlier, Wassette 0.2.
    Flavour {
        feature: "portable-config-draft",
        world: "portable-config-draft",
        file: "lunatask-mcp-portable-config-draft.wasm",
    },
];

/// Builds `flavour` with cargo `profile` in `target_dir`, embeds its docs and writes it to
/// `out_dir`, returning the path. Panics with what went wrong: this runs in build steps.
pub fn build(
    workspace: &Path,
    target_dir: &Path,
    profile: &str,
    flavour: &Flavour,
    out_dir: &Path,
) -> PathBuf {
    let feature = format!("lunatask-mcp-guest/{}", flavour.feature);
    wasm_build::build_wasm(
        workspace,
        target_dir,
        &[
            "--package",
            "lunatask-mcp-guest",
            "--features",
            &feature,
            "--profile",
            profile,
        ],
        &format!("the {} component", flavour.world),
    );
    let built = target_dir
        .join("wasm32-wasip2")
        .join(profile)
        .join("lunatask_mcp_guest.wasm");
    let bytes =
        std::fs::read(&built).unwrap_or_else(|e| panic!("reading {}: {e}", built.display()));
    let documented = package_docs::embed(&bytes, &workspace.join("wit"), flavour.world)
        .unwrap_or_else(|e| panic!("embedding the docs of {}: {e:#}", flavour.world));
    std::fs::create_dir_all(out_dir)
        .unwrap_or_else(|e| panic!("creating {}: {e}", out_dir.display()));
    let dest = out_dir.join(flavour.file);
    std::fs::write(&dest, documented).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
    dest
}
