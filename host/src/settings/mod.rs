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
//!
//! Split by job: the declarations here, [`file`] (the command line, environment and file
//! layered), `checks` (what several settings decide together, and the secrets read),
//! `values` and [`origins`] (value types and their parsers), `limits` (the open-file limit).
//!
//! May use: `support`. Every layer reads its settings from here; nothing here uses a layer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod checks;
mod file;
mod limits;
pub mod origins;
mod values;

pub use file::parse;
pub use values::*;

use crate::settings::origins::{AllowedHost, AllowedOrigin};
use crate::support::secret::Secret;

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
    #[arg(long, env = "LUNATASK_CACHE_DIR", value_name = "PATH", value_parser = crate::support::xdg::absolute_dir)]
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
    pub journal: JournalMode,

    /// Where the action journal's database lives [default: $XDG_STATE_HOME/lunatask-mcp, else ~/.local/state/lunatask-mcp]
    #[arg(long, env = "LUNATASK_STATE_DIR", value_name = "PATH", value_parser = crate::support::xdg::absolute_dir)]
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
    #[error(transparent)]
    TokenFile(#[from] crate::support::secret::SecretFileError),
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

/// The table of settings in `docs/configuration.md`, made from the declarations above so that
/// the guide cannot drift from them (a test compares it, and rewrites it with
/// `LUNATASK_BLESS=1`).
#[cfg(test)]
pub(crate) fn settings_table() -> String {
    use clap::CommandFactory;
    let command = Cli::command();
    let mut table =
        String::from("| environment | flag | default | what it sets |\n|---|---|---|---|\n");
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") {
            continue;
        }
        let env = arg
            .get_env()
            .map_or("—".to_string(), |e| format!("`{}`", e.to_string_lossy()));
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let default = if defaults.is_empty() {
            "—".to_string()
        } else {
            format!("`{}`", defaults.join(","))
        };
        let help = arg
            .get_help()
            .map(|h| h.to_string())
            .unwrap_or_default()
            .replace('|', "\\|");
        table.push_str(&format!("| {env} | `--{long}` | {default} | {help} |\n"));
    }
    table
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::file::*;
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

    #[test]
    fn the_configuration_guide_lists_every_setting_as_declared() {
        const BEGIN: &str =
            "<!-- generated: the settings as declared in host/src/settings/mod.rs -->\n";
        const END: &str = "<!-- end of the generated table -->";
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (before, rest) = doc
            .split_once(BEGIN)
            .expect("the guide marks its generated table");
        let (_, after) = rest
            .split_once(END)
            .expect("the guide marks its table's end");
        let expected = format!("{before}{BEGIN}{}{END}{after}", super::settings_table());
        if std::env::var("LUNATASK_BLESS").is_ok() {
            std::fs::write(&path, &expected).unwrap();
            return;
        }
        assert!(
            doc == expected,
            "docs/configuration.md is stale: run LUNATASK_BLESS=1 cargo test -p lunatask-mcp \
             --bin lunatask-mcp the_configuration_guide"
        );
    }
}
