//! The LunaTask MCP tools, compiled to a `wasm32-wasip2` component.
//!
//! The host lists and calls tools through the `lunatask:mcp/tools` and `resources` exports
//! (see `wit/server.wit`). Everything a tool needs beyond WASI arrives in the per-call
//! [`CallContext`]: this component never sees the API token, which the host adds on the way
//! out. Each call runs in a fresh instance, so nothing here outlives a call.

#[allow(
    unsafe_code,
    reason = "the generated canonical-ABI glue is unsafe by nature"
)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "server",
    });

    // Natively (unit tests, fuzzing) nothing is exported: the component ABI's symbol names
    // are not valid in a native linker's version script.
    #[cfg(target_arch = "wasm32")]
    use super::Component;
    #[cfg(target_arch = "wasm32")]
    export!(Component with_types_in self);
}

pub use bindings::{exports, lunatask};

pub mod api;
pub mod entities;
pub mod error;
pub mod ids;
pub mod log;
pub mod resources;
pub mod retry;
pub mod schema;
pub mod tools;
pub mod validate;
pub mod views;

pub use lunatask::mcp::types::{CallContext, CallResult};

#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "exported only in wasm")
)]
struct Component;

impl exports::lunatask::mcp::tools::Guest for Component {
    fn list_tools() -> Vec<lunatask::mcp::types::Tool> {
        tools::list()
    }

    fn call_tool(name: String, arguments: String, context: CallContext) -> CallResult {
        tools::call(&name, &arguments, &context)
    }
}

impl exports::lunatask::mcp::resources::Guest for Component {
    fn list_resources() -> Vec<lunatask::mcp::types::Resource> {
        resources::list()
    }

    fn list_resource_templates() -> Vec<lunatask::mcp::types::ResourceTemplate> {
        resources::templates()
    }

    fn read_resource(
        uri: String,
        context: CallContext,
    ) -> Result<lunatask::mcp::types::ResourceContents, lunatask::mcp::types::ResourceError> {
        resources::read(&uri, &context)
    }
}
