//! Every setting, declared once: its flag, environment variable, TOML key, default, help
//! line and validation are the one field of [`Settings`] below. Precedence: command line >
//! environment > file > default.
//!
//! The file is layered in by clap itself: each key becomes the flag of the same name, added
//! only where clap reports the value came from its default (see [`parse`]). So a file value
//! goes through the very parser and range check a flag does, and no second validation path
//! exists to drift. (A layering crate such as figment would merge the file through serde,
//! which means declaring every range and parser a second time.)
//!
//! The secrets never are settings: command lines and config files are easy to leak. They
//! come from the environment ([`Secrets`]) or, for the API token, from `token_file`.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::bindings::CallContext;
use crate::guard::{AllowedHost, AllowedOrigin};
use crate::secret::Secret;

#[derive(Debug, Parser)]
#[command(
    name = "lunatask-mcp",
    version,
    about = "MCP server for LunaTask: tasks, notes, journal, people and habits for AI agents.",
    long_about = "MCP server for LunaTask. Serves MCP over stdio by default, or Streamable HTTP \
                  with --http. The tools run in a sandboxed WebAssembly component; this host adds \
                  the API token only to requests for the configured LunaTask API.\n\n\
                  The token comes from LUNATASK_API_TOKEN or a file (--token-file); it is never \
                  a command-line argument. Durations are seconds, decimals allowed. Every \
                  option can also be a key of the --config file, named as the option with \
                  underscores (http_timeout_connect = 2.5)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// TOML configuration file; its keys are the long option names with underscores.
    #[arg(long, env = "LUNATASK_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve MCP (the default).
    Serve,
    /// Validate the configuration, call /ping, print the result and exit 0 or 1.
    Check,
}

/// The LunaTask API when no base URL is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.lunatask.app/v1";

/// Every setting but the secrets. A field's doc comment is its `--help` line; clap adds
/// the default.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// File holding the LunaTask access token (one line). Alternative to LUNATASK_API_TOKEN.
    #[arg(long, env = "LUNATASK_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// LunaTask API base URL; https, or http for loopback hosts only
    #[arg(long, env = "LUNATASK_BASE_URL", value_name = "URL", default_value = DEFAULT_BASE_URL, value_parser = BaseUrl::parse)]
    pub base_url: BaseUrl,

    /// Seconds to wait for a connection to the API
    #[arg(id = "http_timeout_connect", long = "http-timeout-connect", env = "LUNATASK_HTTP_TIMEOUT_CONNECT", value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    pub connect_timeout: Duration,

    /// Seconds to wait for the first byte of an answer
    #[arg(id = "http_timeout_read", long = "http-timeout-read", env = "LUNATASK_HTTP_TIMEOUT_READ", value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    pub first_byte_timeout: Duration,

    /// Seconds to wait between bytes of an answer
    #[arg(id = "http_timeout_write", long = "http-timeout-write", env = "LUNATASK_HTTP_TIMEOUT_WRITE", value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    pub between_bytes_timeout: Duration,

    /// Seconds one tool call may take in all, retries included
    #[arg(long, env = "LUNATASK_CALL_TIMEOUT", value_name = "SECONDS", default_value = "60", value_parser = seconds)]
    pub call_timeout: Duration,

    /// Retries after the first attempt of a retryable request
    #[arg(long, env = "LUNATASK_MAX_RETRIES", value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub max_retries: u32,

    /// First retry backoff in seconds; doubles each retry
    #[arg(long, env = "LUNATASK_RETRY_BASE_DELAY", value_name = "SECONDS", default_value = "1", value_parser = seconds)]
    pub retry_base_delay: Duration,

    /// Longest single retry wait in seconds, Retry-After included; at least the base delay
    #[arg(long, env = "LUNATASK_RETRY_MAX_DELAY", value_name = "SECONDS", default_value = "30", value_parser = seconds)]
    pub retry_max_delay: Duration,

    /// Requests per minute to the API, shared by all calls
    #[arg(long, env = "LUNATASK_RATE_LIMIT_RPM", value_name = "N", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_rpm: u32,

    /// Requests that may be sent at once before the per-minute rate applies
    #[arg(long, env = "LUNATASK_RATE_LIMIT_BURST", value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,

    /// Log level (error, warn, info, debug, trace) or a tracing filter
    #[arg(long, env = "LUNATASK_LOG", value_name = "FILTER", default_value = "info", value_parser = log_filter)]
    pub log: String,

    /// Memory cap of one tool call's sandbox, in MiB
    #[arg(long, env = "LUNATASK_MEMORY_LIMIT_MIB", value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=4096))]
    pub memory_limit_mib: u32,

    /// Tool calls running at once; more wait their turn
    #[arg(long, env = "LUNATASK_MAX_CONCURRENT_CALLS", value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_concurrent_calls: u32,

    /// In multi-user mode, tool calls one user may run at once; their others wait, holding no sandbox slot
    #[arg(long, env = "LUNATASK_MCP_USER_MAX_CONCURRENT_CALLS", value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub user_max_concurrent_calls: u32,

    /// Calls that may wait for a sandbox slot beyond the concurrent ones; more are refused as overloaded
    #[arg(
        long,
        env = "LUNATASK_MAX_QUEUED_CALLS",
        value_name = "N",
        default_value_t = 256
    )]
    pub max_queued_calls: u32,

    /// The user's UTC offset for "today" in task views, e.g. +02:00
    #[arg(long, env = "LUNATASK_UTC_OFFSET", value_name = "OFFSET", default_value = "+00:00", allow_hyphen_values = true, value_parser = utc_offset_minutes)]
    pub utc_offset: i32,

    /// Serve many users over HTTP, each with their own LunaTask token as the bearer of every request (the server holds none)
    #[arg(long, env = "LUNATASK_MCP_MULTI_USER", value_name = "BOOL", num_args = 0..=1, default_value_t = false, default_missing_value = "true", value_parser = clap::value_parser!(bool))]
    pub multi_user: bool,

    /// Sign remote clients in with OAuth 2.1 (multi-user mode): the server is its own authorization server, a person gives their LunaTask token once on its consent page, and clients hold only tokens it issued
    #[arg(long, env = "LUNATASK_MCP_OAUTH", value_name = "BOOL", num_args = 0..=1, default_value_t = false, default_missing_value = "true", value_parser = clap::value_parser!(bool))]
    pub oauth: bool,

    /// The URL clients reach this server at, without a path, e.g. https://mcp.example.com (https, or http on loopback); OAuth's issuer and endpoints are under it
    #[arg(long, env = "LUNATASK_MCP_PUBLIC_URL", value_name = "URL", value_parser = PublicUrl::parse)]
    pub public_url: Option<PublicUrl>,

    /// File of at least 32 random bytes (head -c 32 /dev/urandom) that seals the OAuth tokens, readable by its owner only [default: a key made at start-up, so tokens end with the process]
    #[arg(long, env = "LUNATASK_MCP_SEALING_KEY_FILE", value_name = "PATH")]
    pub sealing_key_file: Option<PathBuf>,

    /// The sealing key file in use before the current one: tokens it sealed are still read, new ones are sealed with the current key
    #[arg(
        long,
        env = "LUNATASK_MCP_PREVIOUS_SEALING_KEY_FILE",
        value_name = "PATH"
    )]
    pub previous_sealing_key_file: Option<PathBuf>,

    /// Seconds an issued OAuth access token is valid
    #[arg(long, env = "LUNATASK_MCP_OAUTH_ACCESS_TOKEN_TTL", value_name = "SECONDS", default_value = "3600", value_parser = lifetime)]
    pub oauth_access_token_ttl: Duration,

    /// Seconds an issued OAuth refresh token is valid (each refresh issues a new one)
    #[arg(long, env = "LUNATASK_MCP_OAUTH_REFRESH_TOKEN_TTL", value_name = "SECONDS", default_value = "2592000", value_parser = lifetime)]
    pub oauth_refresh_token_ttl: Duration,

    /// Refreshes one OAuth grant (one sign-in) may make within the refresh token lifetime; the one beyond is refused and the client must sign in again
    #[arg(long, env = "LUNATASK_MCP_OAUTH_MAX_REFRESHES", value_name = "N", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    pub oauth_max_refreshes: u32,

    /// App schemes OAuth redirect URIs may use besides https, http on loopback and reverse-domain schemes such as com.example.app (RFC 8252)
    #[arg(long, env = "LUNATASK_MCP_OAUTH_REDIRECT_SCHEMES", value_name = "SCHEMES", value_delimiter = ',', default_value = "cursor,vscode,vscode-insiders", value_parser = app_scheme)]
    pub oauth_redirect_schemes: Vec<String>,

    /// Serve /metrics on this address only, e.g. 127.0.0.1:9090, instead of beside /mcp
    #[arg(long, env = "LUNATASK_MCP_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Redis holding the per-user rate limits that replicas share, e.g. redis://10.0.0.5:6379 (multi-user mode; prefer the environment for a URL with a password)
    #[arg(long, env = "LUNATASK_REDIS_URL", value_name = "URL", value_parser = RedisUrl::parse)]
    pub redis_url: Option<RedisUrl>,

    /// When Redis cannot be reached: `local` holds each user to the limit on this replica alone (and logs it), `closed` refuses their calls as rate_limited
    #[arg(
        long,
        env = "LUNATASK_REDIS_UNAVAILABLE",
        value_name = "local|closed",
        default_value = "local",
        value_enum
    )]
    pub redis_unavailable: RedisUnavailable,

    /// Offer only the tools that read: writes are neither listed nor callable
    #[arg(long, env = "LUNATASK_READ_ONLY", value_name = "BOOL", num_args = 0..=1, default_value_t = false, default_missing_value = "true", value_parser = clap::value_parser!(bool))]
    pub read_only: bool,

    /// Offer only these tools (comma-separated names) [default: every tool]
    #[arg(long, env = "LUNATASK_TOOLS", value_name = "NAMES", value_delimiter = ',', value_parser = tool_name)]
    pub tools: Option<Vec<String>>,

    /// Offer every tool but these (comma-separated names)
    #[arg(long, env = "LUNATASK_EXCLUDE_TOOLS", value_name = "NAMES", value_delimiter = ',', value_parser = tool_name)]
    pub exclude_tools: Vec<String>,

    /// Serve Streamable HTTP on this address (endpoint /mcp) instead of stdio, e.g. 127.0.0.1:8080
    #[arg(long, env = "LUNATASK_MCP_HTTP", value_name = "ADDR")]
    pub http: Option<SocketAddr>,

    /// Seconds an HTTP client has to send a request's head, from its first byte
    #[arg(long, env = "LUNATASK_MCP_HTTP_HEAD_TIMEOUT", value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    pub http_head_timeout: Duration,

    /// Seconds an HTTP connection may stay open sending nothing, after it opens or after its last answer
    #[arg(long, env = "LUNATASK_MCP_HTTP_IDLE_TIMEOUT", value_name = "SECONDS", default_value = "60", value_parser = seconds)]
    pub http_idle_timeout: Duration,

    /// Open HTTP connections at most; more are answered 503 and closed [default: the open-file limit less 64]
    #[arg(long, env = "LUNATASK_MCP_HTTP_MAX_CONNECTIONS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_connections: Option<u32>,

    /// MCP sessions open at once over HTTP; a new one beyond it is refused
    #[arg(long, env = "LUNATASK_MCP_MAX_SESSIONS", value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_sessions: u32,

    /// In multi-user mode, MCP sessions one caller may hold at once; opening one more closes that caller's least recently used
    #[arg(long, env = "LUNATASK_MCP_USER_MAX_SESSIONS", value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub user_max_sessions: u32,

    /// Token checks with LunaTask per minute, in all: the consent page's, and in bearer-token mode the first request with a token not seen lately
    #[arg(long, env = "LUNATASK_MCP_TOKEN_CHECKS_PER_MINUTE", value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub token_checks_per_minute: u32,

    /// Token checks per minute from one client address; after the first token LunaTask refuses, each refused one doubles that address's wait before its next (1 s up to 64 s)
    #[arg(long, env = "LUNATASK_MCP_TOKEN_CHECKS_PER_ADDRESS", value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub token_checks_per_address: u32,

    /// Seconds an MCP session may go unused before it ends and is forgotten
    #[arg(long, env = "LUNATASK_MCP_SESSION_IDLE_TIMEOUT", value_name = "SECONDS", default_value = "300", value_parser = seconds)]
    pub session_idle_timeout: Duration,

    /// Host names (or host:port) the HTTP endpoint answers to; others get 403
    #[arg(long, env = "LUNATASK_MCP_ALLOWED_HOSTS", value_name = "HOSTS", value_delimiter = ',', default_value = "localhost,127.0.0.1,::1", value_parser = AllowedHost::parse)]
    pub allowed_hosts: Vec<AllowedHost>,

    /// Browser origins allowed to call the HTTP endpoint (`:*` allows any port); requests with
    /// any other Origin get 403
    #[arg(long, env = "LUNATASK_MCP_ALLOWED_ORIGINS", value_name = "ORIGINS", value_delimiter = ',', default_value = "http://localhost:*,http://127.0.0.1:*,http://[::1]:*", value_parser = AllowedOrigin::parse)]
    pub allowed_origins: Vec<AllowedOrigin>,

    /// Extra CA certificates (PEM) to trust for the API, e.g. a corporate proxy's
    #[arg(long, env = "LUNATASK_CA_CERT", value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,

    /// Where the compiled component is cached [default: $XDG_CACHE_HOME/lunatask-mcp]
    #[arg(long, env = "LUNATASK_CACHE_DIR", value_name = "PATH", value_parser = crate::xdg::absolute_dir)]
    pub cache_dir: Option<PathBuf>,

    /// What the action journal records: `full` (every write, with the prior values of an
    /// update, read first), `writes` (every write, without that read: updates cannot be
    /// undone) or `off`
    #[arg(
        long,
        env = "LUNATASK_JOURNAL",
        value_name = "full|writes|off",
        default_value = "full",
        value_enum
    )]
    pub journal: crate::journal::Mode,

    /// Where the action journal's database lives [default: $XDG_STATE_HOME/lunatask-mcp, else ~/.local/state/lunatask-mcp]
    #[arg(long, env = "LUNATASK_STATE_DIR", value_name = "PATH", value_parser = crate::xdg::absolute_dir)]
    pub state_dir: Option<PathBuf>,

    /// Days the action journal keeps an action
    #[arg(long, env = "LUNATASK_JOURNAL_RETENTION_DAYS", value_name = "DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub journal_retention_days: u32,

    /// Actions the journal keeps per user, newest first; older ones are dropped
    #[arg(long, env = "LUNATASK_JOURNAL_MAX_ACTIONS", value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    pub journal_max_actions: u32,

    /// Run this tools component instead of the built-in one (same sandbox, same gate)
    #[arg(long, env = "LUNATASK_COMPONENT", value_name = "PATH")]
    pub component: Option<PathBuf>,

    /// Largest MCP message accepted, in bytes
    #[arg(long, env = "LUNATASK_MAX_MESSAGE_BYTES", value_name = "BYTES", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=4_294_967_295))]
    pub max_message_bytes: u64,

    /// Largest answer read from the API, in bytes: a whole account's list of tasks is one
    /// answer (about 450 bytes a task), held by the host while the call streams it
    #[arg(long, env = "LUNATASK_MAX_ANSWER_BYTES", value_name = "BYTES", default_value_t = 256 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=4_294_967_295))]
    pub max_answer_bytes: u64,

    /// Bytes of arguments all calls in progress may hold together, at least the largest
    /// message; beyond it a call is refused as overloaded
    #[arg(long, env = "LUNATASK_MAX_PENDING_BYTES", value_name = "BYTES", default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=4_294_967_295))]
    pub max_pending_bytes: u64,
}

/// The secrets, read from the environment by `main`.
#[derive(Debug, Default)]
pub struct Secrets {
    pub api_token: Option<String>,
    pub http_auth_token: Option<String>,
    /// LUNATASK_MCP_METRICS_TOKEN: the bearer token `/metrics` requires.
    pub metrics_token: Option<String>,
}

/// Validated settings and the secrets; nothing starts before this exists.
#[derive(Debug)]
pub struct Config {
    pub settings: Settings,
    /// The LunaTask access token; `None` when none is configured (calls then say so).
    pub token: Option<Secret>,
    /// Bearer token clients of the HTTP endpoint must present (LUNATASK_MCP_AUTH_TOKEN).
    pub http_auth: Option<Secret>,
    /// Bearer token `/metrics` requires (LUNATASK_MCP_METRICS_TOKEN).
    pub metrics_auth: Option<Secret>,
    /// LUNATASK_MCP_HTTP_MAX_CONNECTIONS, or what the open-file limit allows.
    pub http_max_connections: usize,
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
    #[error("{0}")]
    Setting(String),
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
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
    fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| e.to_string())?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err("the scheme must be https (or http for a loopback host)".into()),
        };
        let host = url.host().ok_or("a host is required")?;
        if !https && !is_loopback(&host) {
            return Err(
                "plain http is allowed only for loopback hosts; clients send tokens \
                        to this URL, so use https"
                    .into(),
            );
        }
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
    fn parse(raw: &str) -> Result<Self, String> {
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

/// Parses the command line and environment, layers the `--config` file under them, and
/// exits as clap does (usage, exit 2) on a bad flag. A bad file is a [`ConfigError`].
pub fn parse() -> Result<Cli, ConfigError> {
    parse_from(std::env::args_os().collect())
}

fn parse_from(args: Vec<OsString>) -> Result<Cli, ConfigError> {
    let matches = Cli::command()
        .try_get_matches_from(args.clone())
        .map_err(bad_value)?;
    let cli = Cli::from_arg_matches(&matches).map_err(bad_value)?;
    let Some(path) = cli.config.clone() else {
        return Ok(cli);
    };
    let file = file_args(&path, &matches)?;
    if file.is_empty() {
        return Ok(cli);
    }
    // The file's values go right after the program name, before any subcommand.
    let mut layered = args;
    layered.splice(1..1, file);
    Cli::command()
        .try_get_matches_from(layered)
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| ConfigError::FileSyntax {
            path,
            message: described(&e),
        })
}

/// A value a setting's parser refused, as a [`ConfigError`] naming every way to set it;
/// anything else (help, version, an unknown flag) exits the way clap does, with usage.
fn bad_value(e: clap::Error) -> ConfigError {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => ConfigError::Setting(described(&e)),
        _ => e.exit(),
    }
}

/// clap's message without its usage lines, followed by the option's environment variable
/// and file key: a value from the environment is reported under its flag's name by clap.
fn described(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let message = e.to_string();
    let line = message.lines().next().unwrap_or(&message);
    let line = line.trim_start_matches("error: ");
    let Some(ContextValue::String(shown)) = e.get(ContextKind::InvalidArg) else {
        return line.to_string();
    };
    let long = shown
        .trim_start_matches("--")
        .split([' ', '='])
        .next()
        .unwrap_or("");
    let command = Cli::command();
    let Some(arg) = command.get_arguments().find(|a| a.get_long() == Some(long)) else {
        return line.to_string();
    };
    let env = arg
        .get_env()
        .map(|v| format!("{}, ", v.to_string_lossy()))
        .unwrap_or_default();
    format!(
        "{line} (set by --{long}, {env}or the file key {})",
        arg.get_id()
    )
}

/// The file's keys as `--flag=value` arguments, for the settings that neither the command
/// line nor the environment set. An unknown key is an error, not ignored.
fn file_args(path: &Path, given: &clap::ArgMatches) -> Result<Vec<OsString>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |message: String| ConfigError::FileSyntax {
        path: path.to_path_buf(),
        message,
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.message().into()))?;
    let command = Cli::command();
    let mut args = Vec::new();
    for (key, value) in table {
        let arg = command
            .get_arguments()
            .find(|a| a.get_id() == key.as_str() && key != "config" && a.get_long().is_some())
            .ok_or_else(|| invalid(format!("unknown key {key:?}; the keys are the long option names with underscores (see --help)")))?;
        let set_above = given
            .value_source(&key)
            .is_some_and(|source| source != ValueSource::DefaultValue);
        if set_above {
            continue;
        }
        let long = arg.get_long().expect("checked above");
        let values = match value {
            toml::Value::Array(items) => items,
            single => vec![single],
        };
        for value in values {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    value.to_string()
                }
                _ => {
                    return Err(invalid(format!(
                        "{key}: expected a string, number or boolean"
                    )));
                }
            };
            args.push(OsString::from(format!("--{long}={text}")));
        }
    }
    Ok(args)
}

impl Settings {
    pub fn memory_limit_bytes(&self) -> usize {
        self.memory_limit_mib as usize * 1024 * 1024
    }

    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes as usize
    }

    /// What the guest is told with every call; the deadline and id are the call's own.
    pub fn call_context(&self, deadline: Duration, correlation_id: &str) -> CallContext {
        CallContext {
            base_url: self.base_url.url.clone(),
            deadline_ms: deadline.as_millis() as u64,
            max_retries: self.max_retries,
            retry_base_delay_ms: self.retry_base_delay.as_millis() as u64,
            retry_max_delay_ms: self.retry_max_delay.as_millis() as u64,
            utc_offset_minutes: self.utc_offset,
            correlation_id: correlation_id.to_string(),
        }
    }

    /// The checks that involve more than one setting.
    fn check_together(&self) -> Result<(), ConfigError> {
        if self.retry_max_delay < self.retry_base_delay {
            return Err(ConfigError::Invalid {
                name: "LUNATASK_RETRY_MAX_DELAY",
                reason: "must be at least LUNATASK_RETRY_BASE_DELAY".into(),
            });
        }
        // At least one message's worth, so that any call the transport accepts can be
        // admitted when nothing else is in progress.
        if self.max_pending_bytes < self.max_message_bytes {
            return Err(ConfigError::Invalid {
                name: "LUNATASK_MAX_PENDING_BYTES",
                reason: format!(
                    "{} is less than LUNATASK_MAX_MESSAGE_BYTES ({}): one largest call could \
                     never be admitted",
                    self.max_pending_bytes, self.max_message_bytes
                ),
            });
        }
        Ok(())
    }
}

impl Config {
    /// Checks what one setting's parser cannot and reads the secrets: LUNATASK_API_TOKEN
    /// (else the token file) and LUNATASK_MCP_AUTH_TOKEN.
    pub fn resolve(settings: Settings, secrets: Secrets) -> Result<Self, ConfigError> {
        settings.check_together()?;
        if settings.redis_url.is_some() && !settings.multi_user {
            return Err(ConfigError::Invalid {
                name: "LUNATASK_REDIS_URL",
                reason: "shares the per-user limits of LUNATASK_MCP_MULTI_USER; set that too, \
                         or unset it (one account's server has one limit, in its memory)"
                    .into(),
            });
        }
        if settings.multi_user {
            check_multi_user(&settings, &secrets)?;
        }
        check_oauth(&settings)?;
        let token = match (
            secrets.api_token.filter(|t| !t.trim().is_empty()),
            &settings.token_file,
        ) {
            (Some(token), _) => Some(Secret::new(token.trim().to_string())),
            (None, Some(path)) => Some(Secret::from_file(path)?),
            // Started all the same: a desktop client shows only "disconnected" for a server
            // that exits, so every call says instead what to set (see `Egress::send`).
            (None, None) => None,
        };
        Ok(Self {
            http_max_connections: max_connections(settings.http_max_connections)?,
            http_auth: endpoint_token("LUNATASK_MCP_AUTH_TOKEN", secrets.http_auth_token)?,
            metrics_auth: endpoint_token("LUNATASK_MCP_METRICS_TOKEN", secrets.metrics_token)?,
            token,
            settings,
        })
    }
}

/// Multi-user mode serves Streamable HTTP only, and holds no token of its own: one there
/// would be a token some request could use without bringing it.
fn check_multi_user(settings: &Settings, secrets: &Secrets) -> Result<(), ConfigError> {
    let invalid = |name, reason: &str| {
        Err(ConfigError::Invalid {
            name,
            reason: reason.into(),
        })
    };
    if settings.http.is_none() {
        return invalid(
            "LUNATASK_MCP_MULTI_USER",
            "needs Streamable HTTP: set LUNATASK_MCP_HTTP (--http) to the address to serve",
        );
    }
    if secrets.api_token.is_some() || settings.token_file.is_some() {
        return invalid(
            "LUNATASK_API_TOKEN",
            "is set (or LUNATASK_TOKEN_FILE) with LUNATASK_MCP_MULTI_USER: a multi-user server \
             holds no token, each request brings its caller's own; unset it",
        );
    }
    if secrets.http_auth_token.is_some() {
        return invalid(
            "LUNATASK_MCP_AUTH_TOKEN",
            "is set with LUNATASK_MCP_MULTI_USER, where the bearer of every request is its \
             caller's LunaTask token; unset it",
        );
    }
    Ok(())
}

/// OAuth signs people in to a multi-user server, at the URL its clients use, which the
/// Host guard must let through.
fn check_oauth(settings: &Settings) -> Result<(), ConfigError> {
    let invalid = |name, reason: String| Err(ConfigError::Invalid { name, reason });
    if !settings.oauth {
        for (set, name) in [
            (settings.public_url.is_some(), "LUNATASK_MCP_PUBLIC_URL"),
            (
                settings.sealing_key_file.is_some(),
                "LUNATASK_MCP_SEALING_KEY_FILE",
            ),
            (
                settings.previous_sealing_key_file.is_some(),
                "LUNATASK_MCP_PREVIOUS_SEALING_KEY_FILE",
            ),
        ] {
            if set {
                return invalid(
                    name,
                    "is an OAuth setting; set LUNATASK_MCP_OAUTH=true too, or unset it".into(),
                );
            }
        }
        return Ok(());
    }
    if !settings.multi_user {
        return invalid(
            "LUNATASK_MCP_OAUTH",
            "signs many people in, each with their own LunaTask account: set \
             LUNATASK_MCP_MULTI_USER=true (and LUNATASK_MCP_HTTP) too"
                .into(),
        );
    }
    let Some(public) = &settings.public_url else {
        return invalid(
            "LUNATASK_MCP_PUBLIC_URL",
            "is required with LUNATASK_MCP_OAUTH: the URL clients reach this server at, such \
             as https://mcp.example.com (the issuer and every OAuth endpoint are under it)"
                .into(),
        );
    };
    let allowed =
        AllowedHost::parse(&public.host).is_ok_and(|host| settings.allowed_hosts.contains(&host));
    if !allowed {
        return invalid(
            "LUNATASK_MCP_ALLOWED_HOSTS",
            format!(
                "does not include {}, the host of LUNATASK_MCP_PUBLIC_URL: requests to it \
                 would be refused; add it",
                public.host
            ),
        );
    }
    if settings.previous_sealing_key_file.is_some() && settings.sealing_key_file.is_none() {
        return invalid(
            "LUNATASK_MCP_PREVIOUS_SEALING_KEY_FILE",
            "keeps an old key readable beside the current one: set \
             LUNATASK_MCP_SEALING_KEY_FILE too"
                .into(),
        );
    }
    if settings.oauth_refresh_token_ttl < settings.oauth_access_token_ttl {
        return invalid(
            "LUNATASK_MCP_OAUTH_REFRESH_TOKEN_TTL",
            "is shorter than LUNATASK_MCP_OAUTH_ACCESS_TOKEN_TTL; a refresh token must \
             outlive the access token it renews"
                .into(),
        );
    }
    Ok(())
}

/// File descriptors kept free of HTTP connections: the component cache, the API pool, the
/// log, stdio, and accepting the next connection just to refuse it.
const RESERVED_FILES: u64 = 64;

/// LUNATASK_MCP_HTTP_MAX_CONNECTIONS: below the process's open-file limit, so that accepting
/// never fails for lack of descriptors (which would also stop `/healthz`).
fn max_connections(configured: Option<u32>) -> Result<usize, ConfigError> {
    let limit = open_file_limit();
    let ceiling = limit.map_or(u64::MAX, |l| l.saturating_sub(RESERVED_FILES).max(1));
    match configured {
        Some(n) if u64::from(n) > ceiling => Err(ConfigError::Invalid {
            name: "LUNATASK_MCP_HTTP_MAX_CONNECTIONS",
            reason: format!(
                "{n} is more than the open-file limit ({}) less {RESERVED_FILES} allows; raise \
                 the limit (ulimit -n) or lower this",
                limit.unwrap_or(0)
            ),
        }),
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

/// LUNATASK_MCP_AUTH_TOKEN or LUNATASK_MCP_METRICS_TOKEN (`name`): unset serves without that
/// check; set, it must be a token. An empty or blank value is refused rather than read as
/// "no auth", which it would silently be.
fn endpoint_token(name: &'static str, raw: Option<String>) -> Result<Option<Secret>, ConfigError> {
    match raw {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Err(ConfigError::Invalid {
            name,
            reason: "is set but empty: set it to the token HTTP clients must present, or unset \
                     it to serve without that check"
                .into(),
        }),
        Some(t) => Ok(Some(Secret::new(t.trim().to_string()))),
    }
}

/// An app's own URI scheme for OAuth redirects (RFC 3986: a letter, then letters, digits,
/// `+`, `-` or `.`); the schemes that run or show content in a browser are refused.
fn app_scheme(text: &str) -> Result<String, String> {
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
fn tool_name(text: &str) -> Result<String, String> {
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
fn lifetime(raw: &str) -> Result<Duration, String> {
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
fn log_filter(raw: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(crate::logging::filter(raw))
        .map(|_| raw.trim().to_string())
        .map_err(|e| format!("not a log level or tracing filter ({e})"))
}

impl BaseUrl {
    /// Strict: a scheme and a host are required; http only for loopback; no credentials,
    /// query or fragment. Nothing is "fixed up".
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|e| e.to_string())?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err("the scheme must be https (or http for a loopback host)".into()),
        };
        let host = url.host().ok_or("a host is required")?;
        if !https && !is_loopback(&host) {
            return Err(
                "plain http is allowed only for loopback hosts (127.0.0.0/8, ::1, \
                        localhost); use https"
                    .into(),
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        std::iter::once("lunatask-mcp")
            .chain(list.iter().copied())
            .map(OsString::from)
            .collect()
    }

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

    #[test]
    fn the_file_fills_in_under_flags_and_goes_through_the_same_checks() {
        let dir = std::env::temp_dir().join(format!("lunatask-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.toml");
        std::fs::write(
            &file,
            "max_retries = 5\nhttp_timeout_write = 2.5\nutc_offset = \"-05:30\"\n\
             allowed_hosts = [\"a.example\", \"b.example\"]\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let cli = parse_from(args(&["--config", path, "--max-retries", "1", "check"])).unwrap();
        let s = &cli.settings;
        assert_eq!(cli.command, Some(Command::Check));
        assert_eq!(s.max_retries, 1, "the flag wins over the file");
        assert_eq!(s.between_bytes_timeout, Duration::from_millis(2500));
        assert_eq!(s.utc_offset, -330);
        assert_eq!(
            s.allowed_hosts,
            [
                AllowedHost::parse("a.example").unwrap(),
                AllowedHost::parse("b.example").unwrap()
            ]
        );
        assert_eq!(s.call_timeout, Duration::from_secs(60), "the default stays");

        // The flag's own range applies to the file: nothing is clamped.
        std::fs::write(&file, "max_retries = 11\n").unwrap();
        let e = parse_from(args(&["--config", path]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--max-retries") && e.contains("11"), "{e}");
        std::fs::write(&file, "max_retries = 2.0\n").unwrap();
        assert!(parse_from(args(&["--config", path])).is_err());
        std::fs::write(&file, "max_retry = 3\n").unwrap();
        let e = parse_from(args(&["--config", path]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_retry"), "{e}");
        std::fs::write(&file, "config = \"other.toml\"\n").unwrap();
        assert!(parse_from(args(&["--config", path])).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn settings_that_must_agree_are_checked_together() {
        let cli = parse_from(args(&["--retry-base-delay", "5", "--retry-max-delay", "2"])).unwrap();
        let e = Config::resolve(cli.settings, Secrets::default()).unwrap_err();
        assert!(e.to_string().contains("LUNATASK_RETRY_MAX_DELAY"));
        let cli = parse_from(args(&["--max-pending-bytes", "2000"])).unwrap();
        let e = Config::resolve(cli.settings, Secrets::default()).unwrap_err();
        assert!(e.to_string().contains("LUNATASK_MAX_PENDING_BYTES"));
    }
}
