//! `wit/portable.wit` is derived from the tool registry ([`generate`]). This test renders
//! it again and fails when the file is stale, so the tool registry stays the one source of
//! truth. To update the file after changing a tool:
//!
//! ```sh
//! LUNATASK_BLESS=1 cargo test -p lunatask-mcp-guest --test portable_wit
//! ```

mod generate;

use std::path::PathBuf;

#[test]
fn portable_wit_matches_the_tool_registry() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wit/portable.wit");
    let rendered = generate::render();
    if std::env::var_os("LUNATASK_BLESS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "wit/portable.wit is stale; regenerate it with \
         `LUNATASK_BLESS=1 cargo test -p lunatask-mcp-guest --test portable_wit`"
    );
}
