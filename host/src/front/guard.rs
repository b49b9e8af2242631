//! The HTTP endpoint's one Host and Origin guard (DNS rebinding, cross-site requests), for
//! every route: rmcp's own check on `/mcp` is turned off so that one rule decides. Hosts and
//! origins are parsed with `http`'s types, the allow-lists when the settings are read (an
//! entry that cannot match anything stops start-up) and the headers on every request.

use axum::http::{HeaderMap, header};

use crate::settings::origins::{AllowedHost, AllowedOrigin, Origin, host_of};

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
