//! What an HTTP request carries that several layers read: its bearer token (the caller's
//! LunaTask token, an issued OAuth token, or an operator's) and the address its connection
//! came from (what the limits on token checks count by).

use axum::http::{HeaderMap, header};

/// The address a request's connection came from, in its extensions: set by the front door.
/// Behind a proxy it is the proxy's (see SECURITY.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub std::net::IpAddr);

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
}
