//! `cargo xtask portable [OUT_DIR]`: builds every portable component (`build/src/portable.rs`)
//! with the shipped `guest` profile and its docs embedded, into `OUT_DIR`
//! (default `target/portable`). A plain `cargo build` of the guest cannot embed the docs, so
//! this is the build to hand to another runtime.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lunatask_mcp_build::portable;

const USAGE: &str = "usage: cargo xtask portable [OUT_DIR]   (default OUT_DIR: target/portable)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ lives in the workspace")
        .to_path_buf();
    let out = match args.as_slice() {
        [task] if task == "portable" => workspace.join("target").join("portable"),
        [task, out] if task == "portable" => PathBuf::from(out),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let target_dir = workspace.join("target").join("portable-build");
    for flavour in &portable::FLAVOURS {
        let built = portable::build(&workspace, &target_dir, "guest", flavour, &out);
        println!("{}", built.display());
    }
    ExitCode::SUCCESS
}
