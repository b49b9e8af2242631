//! The front door: how clients reach the server. Over stdio ([`stdio`]), or over
//! Streamable HTTP ([`http`]: the routes, the Host/Origin [`guard`], each connection and its
//! clocks in [`door`], MCP [`sessions`] and the events kept for their resumption in
//! [`replay`]). Multi-user mode turns each request's bearer into its caller here.
//!
//! May use: `mcp` (the handler it serves), `oauth` (sign-in routes, token checks), `journal`
//! (the users' hash key it keeps), `gate` (callers), `settings`, `support`.

pub mod door;
pub mod guard;
pub mod http;
pub mod replay;
pub mod sessions;
pub mod stdio;
