//! The host's only `bindgen!`: the `server` world from `wit/server.wit`.
//!
//! The world names just our own interfaces; the WASI imports the component also has are
//! linked by hand from wasmtime-wasi and wasmtime-wasi-http (see `sandbox/mod.rs`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "server",
    // The journal may live in Redis, so its calls wait on the network.
    imports: {
        "lunatask:mcp/journal.add": async,
        "lunatask:mcp/journal.settle": async,
        "lunatask:mcp/journal.find": async,
        "lunatask:mcp/journal.claim-undo": async,
        "lunatask:mcp/journal.mark-undone": async,
        "lunatask:mcp/journal.release-undo": async,
    },
    exports: { default: async },
});

pub use exports::lunatask::mcp::prompts::{Prompt, PromptContent, PromptError};
pub use exports::lunatask::mcp::resources::{
    Resource, ResourceContents, ResourceError, ResourceTemplate,
};
pub use lunatask::mcp::host::LogLevel;
pub use lunatask::mcp::journal as journal_wit;
pub use lunatask::mcp::types::{CallContext, ErrorCode, Tool, ToolError, WriteOutcome};
