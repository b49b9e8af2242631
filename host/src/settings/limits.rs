//! What the machine allows: HTTP connections kept below the open-file limit.

use super::ConfigError;

/// File descriptors kept free of HTTP connections: the component cache, the API pool, the
/// log, stdio, and accepting the next connection just to refuse it.
pub(crate) const RESERVED_FILES: u64 = 64;

/// LUNATASK_MCP_HTTP_MAX_CONNECTIONS: below the process's open-file limit, so that accepting
/// never fails for lack of descriptors (which would also stop `/healthz`).
pub(crate) fn max_connections(configured: Option<u32>) -> Result<usize, ConfigError> {
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
pub(crate) fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
