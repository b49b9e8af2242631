//! The LunaTask MCP tools, compiled to a `wasm32-wasip2` component.
//!
//! The tools themselves (`tools`, `api`, `validate`, ...) know nothing of WIT. Two thin
//! edges bind them to a world:
//! - [`server`] (the default build): the `server` world the lunatask-mcp host loads. Config
//!   arrives with every call and the host adds the token on the way out, so this component
//!   never sees it.
//! - [`portable`] (`--features portable`): the `portable` world, one typed export per tool,
//!   for other Wasm runtimes. It reads the token and config from its environment.
//!
//! Each call runs in a fresh instance, so nothing here outlives a call.

pub mod api;
pub mod context;
pub mod effect;
pub mod entities;
pub mod error;
pub mod ids;
pub mod journal;
pub mod log;
pub mod retry;
pub mod schema;
pub mod stream;
pub mod subject;
pub mod tools;
pub mod validate;
pub mod views;

#[cfg(not(feature = "portable"))]
pub mod bindings;
#[cfg(not(feature = "portable"))]
pub mod prompts;
#[cfg(not(feature = "portable"))]
pub mod resources;
#[cfg(not(feature = "portable"))]
pub mod server;

#[cfg(feature = "portable")]
pub mod portable;

pub use context::Context;
