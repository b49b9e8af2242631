//! Build steps cargo alone cannot do, shared by `host/build.rs` (the guest component the host
//! embeds), `tests/build.rs` (the hostile and portable components the tests load) and
//! `xtask` (`cargo xtask portable`). Each wasm-tooling crate is declared once, here and in
//! the workspace manifest.

#[cfg(feature = "portable")]
pub mod package_docs;
#[cfg(feature = "portable")]
pub mod portable;
pub mod wasm_build;
