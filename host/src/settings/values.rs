//! The types and parsers of setting values: each refuses what cannot work, naming it, so
//! nothing is clamped or guessed later.

use std::time::Duration;

/// What the action journal records (`LUNATASK_JOURNAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JournalMode {
    /// Every write, with the prior values of an update, read first.
    Full,
    /// Every write, without that read.
    Writes,
    /// Nothing.
    Off,
}

/// What a user's calls do while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RedisUnavailable {
    /// Held to the limit on this replica alone.
    Local,
    /// Refused as rate_limited, sending nothing.
    Closed,
}

/// Where clients reach the server: an origin (scheme, host, port), no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `scheme://host[:port]`, no trailing slash.
    pub origin: String,
    /// The host as the `Host` header names it.
    pub host: String,
    pub https: bool,
}

impl PublicUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| e.to_string())?;
        let (https, host) = https_or_loopback(
            &url,
            "plain http is allowed only for loopback hosts; clients send tokens to this URL, \
             so use https",
        )?;
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(
                "give the origin only (https://host[:port]): the OAuth endpoints and \
                        /mcp are served at the root"
                    .into(),
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("credentials do not belong in the URL".into());
        }
        let host = host_text(&host);
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        Ok(Self {
            origin: format!("{}://{authority}", url.scheme()),
            host,
            https,
        })
    }
}

/// A Redis URL, which may hold a password: `Debug` shows its host only.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(pub String);

impl RedisUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "redis" | "rediss") || url.host_str().is_none() {
            return Err("expected redis://HOST[:PORT] (or rediss:// for TLS)".into());
        }
        Ok(Self(raw.trim().to_string()))
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = url::Url::parse(&self.0)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        write!(f, "RedisUrl({host})")
    }
}

/// Where requests may go: the API's scheme, authority and path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// As configured, without a trailing slash; the guest builds request URLs from it.
    pub url: String,
    pub https: bool,
    /// `host[:port]` as it appears in request URIs; the only authority the host lets through.
    pub authority: String,
}

/// An app's own URI scheme for OAuth redirects (RFC 3986: a letter, then letters, digits,
/// `+`, `-` or `.`); the schemes that run or show content in a browser are refused.
pub(crate) fn app_scheme(text: &str) -> Result<String, String> {
    let scheme = text.trim().to_ascii_lowercase();
    let well_formed = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !well_formed {
        return Err(format!("{text:?} is not a URI scheme"));
    }
    const BROWSER: &[&str] = &[
        "http",
        "https",
        "javascript",
        "data",
        "file",
        "vbscript",
        "blob",
        "about",
        "ws",
        "wss",
        "view-source",
        "jar",
        "ftp",
        "filesystem",
        "chrome",
        "resource",
    ];
    if BROWSER.contains(&scheme.as_str()) {
        return Err(format!(
            "{scheme:?} is a browser's own scheme, not an app's"
        ));
    }
    Ok(scheme)
}

/// A tool name as written in a list: trimmed, not empty. Whether such a tool exists is
/// checked against the component's catalog at start-up (see `selection`).
pub(crate) fn tool_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err("an empty tool name (a doubled or trailing comma?)".into());
    }
    Ok(name.to_string())
}

/// Parses seconds (decimals allowed) into a positive duration of at most a day.
pub fn seconds(raw: &str) -> Result<Duration, String> {
    let value: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds such as 2.5, got {raw:?}"))?;
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "expected seconds greater than 0 and at most 86400, got {value}"
        ))
    }
}

/// Parses a lifetime in seconds: at least one, at most a year.
pub(crate) fn lifetime(raw: &str) -> Result<Duration, String> {
    match raw.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && (1.0..=31_536_000.0).contains(&value) => {
            Ok(Duration::from_secs_f64(value))
        }
        _ => Err(format!(
            "expected seconds from 1 to 31536000 (a year), got {raw:?}"
        )),
    }
}

/// A level, or a filter tracing accepts; refused at start rather than replaced by a default.
pub(crate) fn log_filter(raw: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(crate::support::logging::filter(raw))
        .map(|_| raw.trim().to_string())
        .map_err(|e| format!("not a log level or tracing filter ({e})"))
}

impl BaseUrl {
    /// Strict: a scheme and a host are required; http only for loopback; no credentials,
    /// query or fragment. Nothing is "fixed up".
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|e| e.to_string())?;
        let (https, host) = https_or_loopback(
            &url,
            "plain http is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use \
             https",
        )?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("credentials do not belong in the URL".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("a query or fragment does not belong in the base URL".into());
        }
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", host_text(&host)),
            None => host_text(&host),
        };
        let path = url.path().trim_end_matches('/');
        let scheme = if https { "https" } else { "http" };
        Ok(Self {
            url: format!("{scheme}://{authority}{path}"),
            https,
            authority,
        })
    }
}

/// Whether `url` is https, and its host: https anywhere, or plain http to a loopback host
/// only (else `plain_http`, which says why).
fn https_or_loopback<'a>(
    url: &'a url::Url,
    plain_http: &str,
) -> Result<(bool, url::Host<&'a str>), String> {
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err("the scheme must be https (or http for a loopback host)".into()),
    };
    let host = url.host().ok_or("a host is required")?;
    if !https && !is_loopback(&host) {
        return Err(plain_http.into());
    }
    Ok((https, host))
}

pub(crate) fn host_text(host: &url::Host<&str>) -> String {
    match host {
        url::Host::Ipv6(ip) => format!("[{ip}]"),
        other => other.to_string(),
    }
}

pub(crate) fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Parses `+02:00`, `-0530`, `Z` or `+00:00` into minutes east of UTC.
pub fn utc_offset_minutes(raw: &str) -> Result<i32, String> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("z") || raw.eq_ignore_ascii_case("utc") {
        return Ok(0);
    }
    let bad = || format!("expected an offset such as +02:00 or -05:30, got {raw:?}");
    let (sign, rest) = match raw.as_bytes().first() {
        Some(b'+') => (1, &raw[1..]),
        Some(b'-') => (-1, &raw[1..]),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let hours: i32 = digits[..2].parse().map_err(|_| bad())?;
    let minutes: i32 = digits[2..].parse().map_err(|_| bad())?;
    if hours > 14 || minutes > 59 {
        return Err(bad());
    }
    Ok(sign * (hours * 60 + minutes))
}
