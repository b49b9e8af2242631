//! Configuration in two stages: [`Cli`] (flags and environment, through clap) and
//! [`FileConfig`] (TOML) are merged and validated into [`Config`] before anything starts.
//! Precedence: command line > environment > file > default. The token is never a flag:
//! command lines are visible to every local user.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde::Deserialize;

use crate::secret::ApiToken;

/// The LunaTask API when no base URL is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.lunatask.app/v1";

#[derive(Debug, Parser)]
#[command(
    name = "lunatask-mcp",
    version,
    about = "MCP server for LunaTask: tasks, notes, journal, people and habits for AI agents.",
    long_about = "MCP server for LunaTask. Serves MCP over stdio by default, or Streamable HTTP \
                  with --http. The tools run in a sandboxed WebAssembly component; this host adds \
                  the API token only to requests for the configured LunaTask API.\n\n\
                  The token comes from LUNATASK_API_TOKEN or a file (--token-file); it is never \
                  a command-line argument. Durations are seconds, decimals allowed."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// TOML configuration file; its keys are the long option names with underscores.
    #[arg(long, env = "LUNATASK_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// File holding the LunaTask access token (one line). Alternative to LUNATASK_API_TOKEN.
    #[arg(long, env = "LUNATASK_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// LunaTask API base URL; https, or http for loopback hosts only [default: https://api.lunatask.app/v1]
    #[arg(long, env = "LUNATASK_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,

    /// Seconds to wait for a connection to the API [default: 5]
    #[arg(long, env = "LUNATASK_HTTP_TIMEOUT_CONNECT", value_name = "SECONDS", value_parser = seconds)]
    pub http_timeout_connect: Option<Duration>,

    /// Seconds to wait for the first byte of an answer [default: 10]
    #[arg(long, env = "LUNATASK_HTTP_TIMEOUT_READ", value_name = "SECONDS", value_parser = seconds)]
    pub http_timeout_read: Option<Duration>,

    /// Seconds to wait between bytes of an answer [default: 10]
    #[arg(long, env = "LUNATASK_HTTP_TIMEOUT_WRITE", value_name = "SECONDS", value_parser = seconds)]
    pub http_timeout_write: Option<Duration>,

    /// Seconds one tool call may take in all, retries included [default: 60]
    #[arg(long, env = "LUNATASK_CALL_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    pub call_timeout: Option<Duration>,

    /// Retries after the first attempt of a retryable request [default: 3]
    #[arg(long, env = "LUNATASK_MAX_RETRIES", value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10))]
    pub max_retries: Option<u32>,

    /// First retry backoff in seconds; doubles each retry [default: 1]
    #[arg(long, env = "LUNATASK_RETRY_BASE_DELAY", value_name = "SECONDS", value_parser = seconds)]
    pub retry_base_delay: Option<Duration>,

    /// Longest single retry wait in seconds, Retry-After included [default: 30]
    #[arg(long, env = "LUNATASK_RETRY_MAX_DELAY", value_name = "SECONDS", value_parser = seconds)]
    pub retry_max_delay: Option<Duration>,

    /// Requests per minute to the API, shared by all calls [default: 60]
    #[arg(long, env = "LUNATASK_RATE_LIMIT_RPM", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_rpm: Option<u32>,

    /// Requests that may be sent at once before the per-minute rate applies [default: 10]
    #[arg(long, env = "LUNATASK_RATE_LIMIT_BURST", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: Option<u32>,

    /// Log level or tracing filter (error, warn, info, debug, trace) [default: info]
    #[arg(long, env = "LUNATASK_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// Memory cap of one tool call's sandbox, in MiB [default: 64]
    #[arg(long, env = "LUNATASK_MEMORY_LIMIT_MIB", value_name = "MIB", value_parser = clap::value_parser!(u32).range(8..=4096))]
    pub memory_limit_mib: Option<u32>,

    /// Tool calls running at once; more wait their turn [default: 32]
    #[arg(long, env = "LUNATASK_MAX_CONCURRENT_CALLS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_concurrent_calls: Option<u32>,

    /// The user's UTC offset for "today" in task views, e.g. +02:00 [default: +00:00]
    #[arg(
        long,
        env = "LUNATASK_UTC_OFFSET",
        value_name = "OFFSET",
        allow_hyphen_values = true
    )]
    pub utc_offset: Option<String>,

    /// Serve Streamable HTTP on this address (endpoint /mcp) instead of stdio, e.g. 127.0.0.1:8080
    #[arg(long, env = "LUNATASK_MCP_HTTP", value_name = "ADDR")]
    pub http: Option<SocketAddr>,

    /// Seconds an HTTP client has to send a request's head, from its first byte [default: 10]
    #[arg(long, env = "LUNATASK_MCP_HTTP_HEAD_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    pub http_head_timeout: Option<Duration>,

    /// Seconds an HTTP connection may stay open sending nothing, after it opens or after its last answer [default: 60]
    #[arg(long, env = "LUNATASK_MCP_HTTP_IDLE_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    pub http_idle_timeout: Option<Duration>,

    /// Open HTTP connections at most; more are answered 503 and closed [default: the open-file limit less 64]
    #[arg(long, env = "LUNATASK_MCP_HTTP_MAX_CONNECTIONS", value_name = "N")]
    pub http_max_connections: Option<u32>,

    /// MCP sessions open at once over HTTP; a new one beyond it is refused [default: 1000]
    #[arg(long, env = "LUNATASK_MCP_MAX_SESSIONS", value_name = "N")]
    pub max_sessions: Option<u32>,

    /// Seconds an MCP session may go unused before it ends and is forgotten [default: 300]
    #[arg(long, env = "LUNATASK_MCP_SESSION_IDLE_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    pub session_idle_timeout: Option<Duration>,

    /// Host names (or host:port) the HTTP endpoint answers to; others get 403 [default: localhost,127.0.0.1,::1]
    #[arg(
        long,
        env = "LUNATASK_MCP_ALLOWED_HOSTS",
        value_name = "HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Option<Vec<String>>,

    /// Browser origins allowed to call the HTTP endpoint (`:*` allows any port); requests with
    /// any other Origin get 403 [default: http://localhost:*,http://127.0.0.1:*,http://[::1]:*]
    #[arg(
        long,
        env = "LUNATASK_MCP_ALLOWED_ORIGINS",
        value_name = "ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Option<Vec<String>>,

    /// Extra CA certificates (PEM) to trust for the API, e.g. a corporate proxy's
    #[arg(long, env = "LUNATASK_CA_CERT", value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,

    /// Where the compiled component is cached [default: $XDG_CACHE_HOME/lunatask-mcp]
    #[arg(long, env = "LUNATASK_CACHE_DIR", value_name = "PATH")]
    pub cache_dir: Option<PathBuf>,

    /// Run this tools component instead of the built-in one (same sandbox, same gate)
    #[arg(long, env = "LUNATASK_COMPONENT", value_name = "PATH")]
    pub component: Option<PathBuf>,

    /// Largest MCP message accepted, in bytes [default: 4194304]
    #[arg(long, env = "LUNATASK_MAX_MESSAGE_BYTES", value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_message_bytes: Option<u64>,

    /// Bytes of arguments all calls in progress may hold together; beyond it a call is refused as overloaded [default: 67108864]
    #[arg(long, env = "LUNATASK_MAX_PENDING_BYTES", value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1024..=4_294_967_295))]
    pub max_pending_bytes: Option<u64>,

    /// Calls that may wait for a sandbox slot beyond the concurrent ones; more are refused as overloaded [default: 256]
    #[arg(long, env = "LUNATASK_MAX_QUEUED_CALLS", value_name = "N")]
    pub max_queued_calls: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve MCP (the default).
    Serve,
    /// Validate the configuration, call /ping, print the result and exit 0 or 1.
    Check,
}

/// The TOML file: the same settings as the flags (not the token itself: use token_file).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub token_file: Option<PathBuf>,
    pub base_url: Option<String>,
    pub http_timeout_connect: Option<f64>,
    pub http_timeout_read: Option<f64>,
    pub http_timeout_write: Option<f64>,
    pub call_timeout: Option<f64>,
    pub max_retries: Option<u32>,
    pub retry_base_delay: Option<f64>,
    pub retry_max_delay: Option<f64>,
    pub rate_limit_rpm: Option<u32>,
    pub rate_limit_burst: Option<u32>,
    pub log: Option<String>,
    pub memory_limit_mib: Option<u32>,
    pub max_concurrent_calls: Option<u32>,
    pub utc_offset: Option<String>,
    pub http: Option<SocketAddr>,
    pub http_head_timeout: Option<f64>,
    pub http_idle_timeout: Option<f64>,
    pub http_max_connections: Option<u32>,
    pub max_sessions: Option<u32>,
    pub session_idle_timeout: Option<f64>,
    pub allowed_hosts: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
    pub ca_cert: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    pub max_message_bytes: Option<u64>,
    pub max_pending_bytes: Option<u64>,
    pub max_queued_calls: Option<u32>,
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

/// The secrets, read from the environment by `main`.
#[derive(Debug, Default)]
pub struct Secrets {
    pub api_token: Option<String>,
    pub http_auth_token: Option<String>,
}

/// Validated settings; nothing starts before this exists.
#[derive(Debug)]
pub struct Config {
    /// The LunaTask access token; `None` when none is configured (calls then say so).
    pub token: Option<ApiToken>,
    pub base_url: BaseUrl,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub call_timeout: Duration,
    pub max_retries: u32,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    pub rate_limit_rpm: u32,
    pub rate_limit_burst: u32,
    pub memory_limit_bytes: usize,
    pub max_concurrent_calls: u32,
    pub utc_offset_minutes: i32,
    pub http: Option<SocketAddr>,
    pub http_head_timeout: Duration,
    pub http_idle_timeout: Duration,
    pub http_max_connections: usize,
    pub max_sessions: usize,
    pub session_idle_timeout: Duration,
    /// Bearer token clients of the HTTP endpoint must present (LUNATASK_MCP_AUTH_TOKEN).
    pub http_auth: Option<ApiToken>,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub ca_cert: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    pub component: Option<PathBuf>,
    pub max_message_bytes: usize,
    pub max_pending_bytes: usize,
    pub max_queued_calls: usize,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("the token file {path} could not be read: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {0} is empty")]
    EmptyTokenFile(PathBuf),
    #[error("the configuration file {path} could not be read: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is invalid: {message}")]
    FileSyntax { path: PathBuf, message: String },
    #[error("LUNATASK_BASE_URL / --base-url {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// File descriptors kept free of HTTP connections: the component cache, the API pool, the
/// log, stdio, and accepting the next connection just to refuse it.
const RESERVED_FILES: u64 = 64;

/// LUNATASK_MCP_HTTP_MAX_CONNECTIONS: below the process's open-file limit, so that accepting
/// never fails for lack of descriptors (which would also stop `/healthz`).
fn max_connections(configured: Option<u32>) -> Result<usize, ConfigError> {
    let limit = open_file_limit();
    let ceiling = limit.map_or(u64::MAX, |l| l.saturating_sub(RESERVED_FILES).max(1));
    let invalid = |reason: String| ConfigError::Invalid {
        name: "LUNATASK_MCP_HTTP_MAX_CONNECTIONS",
        reason,
    };
    match configured {
        Some(0) => Err(invalid("must be at least 1".into())),
        Some(n) if u64::from(n) > ceiling => Err(invalid(format!(
            "{n} is more than the open-file limit ({}) less {RESERVED_FILES} allows; raise the \
             limit (ulimit -n) or lower this",
            limit.unwrap_or(0)
        ))),
        Some(n) => Ok(n as usize),
        None => Ok(ceiling.min(100_000) as usize),
    }
}

/// The soft RLIMIT_NOFILE, read from /proc (no libc call); `None` where that is not there.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// LUNATASK_MCP_AUTH_TOKEN: unset serves without endpoint auth; set, it must be a token. An
/// empty or blank value is refused rather than read as "no auth", which it would silently be.
fn endpoint_token(raw: Option<String>) -> Result<Option<ApiToken>, ConfigError> {
    match raw {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Err(ConfigError::Invalid {
            name: "LUNATASK_MCP_AUTH_TOKEN",
            reason: "is set but empty: set it to the token HTTP clients must present, or unset \
                     it to serve without endpoint auth"
                .into(),
        }),
        Some(t) => Ok(Some(ApiToken::new(t.trim().to_string()))),
    }
}

/// Parses seconds (decimals allowed) into a positive duration.
pub fn seconds(raw: &str) -> Result<Duration, String> {
    let value: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds such as 2.5, got {raw:?}"))?;
    positive_seconds(value)
}

fn positive_seconds(value: f64) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "expected seconds greater than 0 and at most 86400, got {value}"
        ))
    }
}

impl BaseUrl {
    /// Strict: a scheme and a host are required; http only for loopback; no credentials,
    /// query or fragment. Nothing is "fixed up".
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let fail = |reason: &str| ConfigError::BaseUrl {
            url: raw.to_string(),
            reason: reason.to_string(),
        };
        let url = url::Url::parse(raw).map_err(|e| fail(&e.to_string()))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => {
                return Err(fail(
                    "the scheme must be https (or http for a loopback host)",
                ));
            }
        };
        let host = url.host().ok_or_else(|| fail("a host is required"))?;
        if !https && !is_loopback(&host) {
            return Err(fail(
                "plain http is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(fail("credentials do not belong in the URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(fail("a query or fragment does not belong in the base URL"));
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

fn host_text(host: &url::Host<&str>) -> String {
    match host {
        url::Host::Ipv6(ip) => format!("[{ip}]"),
        other => other.to_string(),
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
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

impl FileConfig {
    /// The file `--config` names, or an empty one.
    pub fn for_cli(cli: &Cli) -> Result<Self, ConfigError> {
        match &cli.config {
            Some(path) => Self::load(path),
            None => Ok(Self::default()),
        }
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::FileSyntax {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })
    }
}

/// A duration from the command line or environment, else from the file, else the default.
fn duration(
    cli: Option<Duration>,
    file: Option<f64>,
    name: &'static str,
    default: f64,
) -> Result<Duration, ConfigError> {
    match (cli, file) {
        (Some(d), _) => Ok(d),
        (None, Some(secs)) => {
            positive_seconds(secs).map_err(|reason| ConfigError::Invalid { name, reason })
        }
        (None, None) => Ok(Duration::from_secs_f64(default)),
    }
}

impl Config {
    /// Merges flags/environment over the file over defaults. The secrets come from the
    /// environment only (never flags): LUNATASK_API_TOKEN and LUNATASK_MCP_AUTH_TOKEN.
    pub fn resolve(cli: &Cli, file: FileConfig, secrets: Secrets) -> Result<Self, ConfigError> {
        let env_token = secrets.api_token;
        let token_file = cli.token_file.clone().or(file.token_file.clone());
        let token = match (env_token.filter(|t| !t.trim().is_empty()), token_file) {
            (Some(token), _) => Some(ApiToken::new(token.trim().to_string())),
            (None, Some(path)) => Some(ApiToken::from_file(&path)?),
            // Started all the same: a desktop client shows only "disconnected" for a server
            // that exits, so every call says instead what to set (see `Egress::send`).
            (None, None) => None,
        };
        let base_url = BaseUrl::parse(
            cli.base_url
                .as_deref()
                .or(file.base_url.as_deref())
                .unwrap_or(DEFAULT_BASE_URL),
        )?;
        let retry_base_delay = duration(
            cli.retry_base_delay,
            file.retry_base_delay,
            "retry_base_delay",
            1.0,
        )?;
        let retry_max_delay = duration(
            cli.retry_max_delay,
            file.retry_max_delay,
            "retry_max_delay",
            30.0,
        )?;
        if retry_max_delay < retry_base_delay {
            return Err(ConfigError::Invalid {
                name: "LUNATASK_RETRY_MAX_DELAY",
                reason: "must be at least LUNATASK_RETRY_BASE_DELAY".into(),
            });
        }
        let utc_offset_minutes = match cli.utc_offset.as_deref().or(file.utc_offset.as_deref()) {
            Some(raw) => utc_offset_minutes(raw).map_err(|reason| ConfigError::Invalid {
                name: "LUNATASK_UTC_OFFSET",
                reason,
            })?,
            None => 0,
        };
        let positive = |value: u32, name: &'static str| {
            if value == 0 {
                Err(ConfigError::Invalid {
                    name,
                    reason: "must be at least 1".into(),
                })
            } else {
                Ok(value)
            }
        };
        let max_message_bytes = cli
            .max_message_bytes
            .or(file.max_message_bytes)
            .unwrap_or(4 * 1024 * 1024) as usize;
        // At least one message's worth, so that any call the transport accepts can be
        // admitted when nothing else is in progress.
        let max_pending_bytes = cli
            .max_pending_bytes
            .or(file.max_pending_bytes)
            .unwrap_or(64 * 1024 * 1024) as usize;
        if max_pending_bytes < max_message_bytes {
            return Err(ConfigError::Invalid {
                name: "LUNATASK_MAX_PENDING_BYTES",
                reason: format!(
                    "{max_pending_bytes} is less than LUNATASK_MAX_MESSAGE_BYTES \
                     ({max_message_bytes}): one largest call could never be admitted"
                ),
            });
        }
        let memory_limit_mib = cli.memory_limit_mib.or(file.memory_limit_mib).unwrap_or(64);
        if !(8..=4096).contains(&memory_limit_mib) {
            return Err(ConfigError::Invalid {
                name: "LUNATASK_MEMORY_LIMIT_MIB",
                reason: format!("must be from 8 to 4096, got {memory_limit_mib}"),
            });
        }
        Ok(Self {
            token,
            base_url,
            connect_timeout: duration(
                cli.http_timeout_connect,
                file.http_timeout_connect,
                "http_timeout_connect",
                5.0,
            )?,
            read_timeout: duration(
                cli.http_timeout_read,
                file.http_timeout_read,
                "http_timeout_read",
                10.0,
            )?,
            write_timeout: duration(
                cli.http_timeout_write,
                file.http_timeout_write,
                "http_timeout_write",
                10.0,
            )?,
            call_timeout: duration(cli.call_timeout, file.call_timeout, "call_timeout", 60.0)?,
            max_retries: cli.max_retries.or(file.max_retries).unwrap_or(3).min(10),
            retry_base_delay,
            retry_max_delay,
            rate_limit_rpm: positive(
                cli.rate_limit_rpm.or(file.rate_limit_rpm).unwrap_or(60),
                "rate_limit_rpm",
            )?,
            rate_limit_burst: positive(
                cli.rate_limit_burst.or(file.rate_limit_burst).unwrap_or(10),
                "rate_limit_burst",
            )?,
            memory_limit_bytes: memory_limit_mib as usize * 1024 * 1024,
            max_concurrent_calls: positive(
                cli.max_concurrent_calls
                    .or(file.max_concurrent_calls)
                    .unwrap_or(32),
                "max_concurrent_calls",
            )?,
            utc_offset_minutes,
            http: cli.http.or(file.http),
            http_head_timeout: duration(
                cli.http_head_timeout,
                file.http_head_timeout,
                "http_head_timeout",
                10.0,
            )?,
            http_idle_timeout: duration(
                cli.http_idle_timeout,
                file.http_idle_timeout,
                "http_idle_timeout",
                60.0,
            )?,
            max_sessions: positive(
                cli.max_sessions.or(file.max_sessions).unwrap_or(1000),
                "LUNATASK_MCP_MAX_SESSIONS",
            )? as usize,
            session_idle_timeout: duration(
                cli.session_idle_timeout,
                file.session_idle_timeout,
                "session_idle_timeout",
                300.0,
            )?,
            http_max_connections: max_connections(
                cli.http_max_connections.or(file.http_max_connections),
            )?,
            http_auth: endpoint_token(secrets.http_auth_token)?,
            allowed_hosts: cli
                .allowed_hosts
                .clone()
                .or(file.allowed_hosts.clone())
                .unwrap_or_else(|| vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]),
            allowed_origins: cli
                .allowed_origins
                .clone()
                .or(file.allowed_origins.clone())
                .unwrap_or_else(|| {
                    ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]
                        .map(String::from)
                        .to_vec()
                }),
            ca_cert: cli.ca_cert.clone().or(file.ca_cert.clone()),
            cache_dir: cli.cache_dir.clone().or(file.cache_dir.clone()),
            component: cli.component.clone(),
            max_message_bytes,
            max_pending_bytes,
            max_queued_calls: cli
                .max_queued_calls
                .or(file.max_queued_calls)
                .unwrap_or(256) as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_parse_strictly() {
        let ok = BaseUrl::parse("https://api.lunatask.app/v1/").unwrap();
        assert_eq!(ok.url, "https://api.lunatask.app/v1");
        assert_eq!(ok.authority, "api.lunatask.app");
        let local = BaseUrl::parse("http://127.0.0.1:8080/v1").unwrap();
        assert_eq!(local.authority, "127.0.0.1:8080");
        assert!(BaseUrl::parse("http://[::1]:9/v1").is_ok());
        assert!(BaseUrl::parse("http://localhost:9/v1").is_ok());
        for bad in [
            "http://api.lunatask.app/v1",
            "http://10.0.0.1/v1",
            "ftp://127.0.0.1/",
            "api.lunatask.app/v1",
            "https://user:pw@api.lunatask.app/v1",
            "https://api.lunatask.app/v1?x=1",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_and_seconds_parse() {
        assert_eq!(utc_offset_minutes("+02:00"), Ok(120));
        assert_eq!(utc_offset_minutes("-0530"), Ok(-330));
        assert!(utc_offset_minutes("2").is_err());
        assert_eq!(seconds("2.5"), Ok(Duration::from_millis(2500)));
        assert!(seconds("0").is_err());
        assert!(seconds("-1").is_err());
        assert!(seconds("abc").is_err());
    }
}
