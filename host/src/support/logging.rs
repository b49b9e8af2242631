//! Logs go to stderr, and writing them never fails the server: a launcher that closed its
//! end of our stderr must not turn a log line into a panic (an unanswered call, exit 101,
//! a signal task gone so SIGTERM is ignored). A line that cannot be written is dropped and
//! counted (`lunatask_mcp_log_lines_dropped_total`).

use std::io::Write;
use std::sync::OnceLock;

use prometheus::IntCounter;
use tracing_subscriber::EnvFilter;

/// Log lines (and direct stderr messages) that could not be written.
pub fn dropped_lines() -> IntCounter {
    static DROPPED: OnceLock<IntCounter> = OnceLock::new();
    DROPPED
        .get_or_init(|| {
            IntCounter::new(
                "log_lines_dropped_total",
                "Log lines that could not be written to stderr",
            )
            .expect("a valid metric")
        })
        .clone()
}

/// Stderr, with write errors swallowed and counted.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::io::stderr().write_all(buf).is_err() {
            dropped_lines().inc();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Writes one line to stderr outside the logger (start-up errors, the bound address),
/// without `eprintln!`'s panic when stderr is gone.
pub fn say(line: impl std::fmt::Display) {
    let _ = writeln!(Stderr, "{line}");
}

/// A bare level applies to this server's own logs (host and guest); other crates log
/// warnings only. rmcp is never let below info: at debug it logs whole messages, and tool
/// arguments carry the user's end-to-end encrypted text.
pub fn filter(raw: &str) -> String {
    let raw = raw.trim();
    if ["error", "warn", "info", "debug", "trace"].contains(&raw.to_ascii_lowercase().as_str()) {
        format!("warn,lunatask_mcp={raw},guest={raw}")
    } else if raw.contains("rmcp") {
        raw.to_string()
    } else {
        format!("{raw},rmcp=info")
    }
}

/// Starts logging at `level`, which [`crate::settings`] has checked is a valid filter.
pub fn init(level: &str) {
    let filter = EnvFilter::try_new(filter(level)).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Stderr)
        .with_ansi(false)
        .log_internal_errors(false)
        .init();
}
