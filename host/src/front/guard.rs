//! The HTTP endpoint's one Host and Origin guard (DNS rebinding, cross-site requests), for
//! every route: rmcp's own check on `/mcp` is turned off so that one rule decides. Hosts and
//! origins are parsed with `http`'s types, the allow-lists when the settings are read (an
//! entry that cannot match anything stops start-up) and the headers on every request.

use axum::http::{HeaderMap, Uri, header, uri::Authority};

/// One entry of LUNATASK_MCP_ALLOWED_HOSTS: a host name or IP address, with or without a
/// port (the port is not compared: the listener decides it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost(String);

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

    fn admits(&self, origin: &Origin) -> bool {
        self.origin.scheme == origin.scheme
            && self.origin.host == origin.host
            && (self.any_port || self.origin.port == origin.port)
    }
}

/// A browser's `Origin`: scheme, host (lowercase, IPv6 without brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn parse(raw: &str) -> Option<Self> {
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
fn host_of(value: &str) -> Option<String> {
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

/// Exactly one `Host` header, a valid authority, whose host is on the allow-list.
pub fn host_allowed(headers: &HeaderMap, allowed: &[AllowedHost]) -> bool {
    let mut values = headers.get_all(header::HOST).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Some(host) = value.to_str().ok().and_then(host_of) else {
        return false;
    };
    allowed.iter().any(|a| a.0 == host)
}

/// A request without `Origin` (not from a browser) passes; one with an `Origin` must match
/// an allowed origin.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[AllowedOrigin]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().and_then(Origin::parse) else {
        return false;
    };
    allowed.iter().any(|a| a.admits(&origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn hosts(list: &[&str]) -> Vec<AllowedHost> {
        list.iter()
            .map(|h| AllowedHost::parse(h).unwrap())
            .collect()
    }

    #[test]
    fn hosts_are_checked_exactly() {
        let allowed = hosts(&["localhost", "127.0.0.1", "::1"]);
        let ok = |host: &str| host_allowed(&headers(&[("host", host)]), &allowed);
        assert!(ok("127.0.0.1:8080"));
        assert!(ok("[::1]:8080"));
        assert!(ok("LOCALHOST"));
        assert!(!ok("evil.example:8080"));
        assert!(!ok("localhost.evil.example"));
        assert!(!host_allowed(&headers(&[]), &allowed));
        for forged in [
            "[::1]evil.example",
            "localhost:evil",
            "localhost:",
            "user@localhost",
            "localhost:80:80",
            "localhost/path",
            "",
        ] {
            assert!(!ok(forged), "{forged:?}");
        }
        let mut twice = headers(&[("host", "localhost")]);
        twice.append(header::HOST, "localhost".parse().unwrap());
        assert!(!host_allowed(&twice, &allowed), "two Host headers");
        assert!(AllowedHost::parse("example.com:8080").is_ok());
        for bad in ["", "a b", "user@host", "http://x"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn origins_are_checked_exactly() {
        let origins: Vec<AllowedOrigin> = ["http://localhost:3000", "http://127.0.0.1:*"]
            .iter()
            .map(|o| AllowedOrigin::parse(o).unwrap())
            .collect();
        let allowed = |origin: &str| origin_allowed(&headers(&[("origin", origin)]), &origins);
        assert!(origin_allowed(&headers(&[]), &origins));
        assert!(allowed("http://localhost:3000"));
        assert!(allowed("HTTP://LOCALHOST:3000"));
        assert!(!allowed("http://localhost:3001"));
        assert!(!allowed("https://localhost:3000"));
        assert!(allowed("http://127.0.0.1:8080"));
        assert!(allowed("http://127.0.0.1"));
        assert!(!allowed("http://127.0.0.1.evil.example"));
        assert!(!allowed("http://127.0.0.1:80x"));
        assert!(!allowed("http://evil.example"));
        assert!(!allowed("null"));
        assert!(!origin_allowed(
            &headers(&[("origin", "http://localhost:3000")]),
            &[]
        ));
        assert!(AllowedOrigin::parse("http://[::1]:*").is_ok());
        for bad in ["localhost:3000", "http://", "http://a:1:*", "http://a/path"] {
            assert!(AllowedOrigin::parse(bad).is_err(), "{bad:?}");
        }
    }
}
