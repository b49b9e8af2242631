//! The values of LUNATASK_MCP_ALLOWED_HOSTS and LUNATASK_MCP_ALLOWED_ORIGINS, parsed with
//! `http`'s types when the settings are read (an entry that cannot match anything stops
//! start-up); the front door's guard checks each request's headers against them.

use axum::http::{Uri, uri::Authority};

/// One entry of LUNATASK_MCP_ALLOWED_HOSTS: a host name or IP address, with or without a
/// port (the port is not compared: the listener decides it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost(pub(crate) String);

impl AllowedHost {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        // A bare IPv6 address (`::1`) is not an authority until it has its brackets.
        let bracketed = match raw.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("[{raw}]"),
            Err(_) => raw.to_string(),
        };
        host_of(&bracketed)
            .map(Self)
            .ok_or_else(|| format!("{raw:?} is not a host name or address, with or without a port"))
    }
}

/// One entry of LUNATASK_MCP_ALLOWED_ORIGINS: `scheme://host[:port]`, or with `:*` for any
/// port (and none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin {
    origin: Origin,
    any_port: bool,
}

impl AllowedOrigin {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (base, any_port) = match raw.strip_suffix(":*") {
            Some(base) => (base, true),
            None => (raw, false),
        };
        let origin = Origin::parse(base).ok_or_else(|| {
            format!("{raw:?} is not an origin such as https://app.example or http://localhost:*")
        })?;
        if any_port && origin.port.is_some() {
            return Err(format!("{raw:?} has a port and :*; give one"));
        }
        Ok(Self { origin, any_port })
    }

    pub(crate) fn admits(&self, origin: &Origin) -> bool {
        self.origin.scheme == origin.scheme
            && self.origin.host == origin.host
            && (self.any_port || self.origin.port == origin.port)
    }
}

/// A browser's `Origin`: scheme, host (lowercase, IPv6 without brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        let uri: Uri = raw.trim_end_matches('/').parse().ok()?;
        let authority = uri.authority()?;
        if uri
            .path_and_query()
            .is_some_and(|p| !matches!(p.as_str(), "" | "/"))
        {
            return None;
        }
        Some(Self {
            scheme: uri.scheme_str()?.to_ascii_lowercase(),
            host: host_of(authority.as_str())?,
            port: authority.port_u16(),
        })
    }
}

/// The host of an authority (`host` or `host:port`, nothing else: no user info, no empty
/// or non-numeric port), lowercase and without an IPv6 literal's brackets.
pub(crate) fn host_of(value: &str) -> Option<String> {
    let authority: Authority = value.parse().ok()?;
    let host = authority.host();
    // `as_str` starts with the host unless there is user info.
    let rest = authority.as_str().strip_prefix(host)?;
    let port_ok = match rest.strip_prefix(':') {
        None => rest.is_empty(),
        Some(port) => {
            !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
        }
    };
    if !port_ok || host.is_empty() {
        return None;
    }
    Some(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase(),
    )
}
