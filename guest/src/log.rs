//! Log lines through the host, tagged with the call's correlation id.
//!
//! Only methods, paths, statuses, attempts and timings are logged here: LunaTask encrypts
//! user text end to end and this server must not leak it into logs.

#[derive(Debug, Clone, Copy)]
enum Level {
    Info,
    Warn,
}

pub fn info(correlation_id: &str, message: &str) {
    write(Level::Info, correlation_id, message);
}

pub fn warn(correlation_id: &str, message: &str) {
    write(Level::Warn, correlation_id, message);
}

/// Through the host's logger, which filters by level and writes to stderr.
#[cfg(not(feature = "portable"))]
fn write(level: Level, correlation_id: &str, message: &str) {
    use crate::server::host::{self, LogLevel};
    // Natively (unit tests, fuzzing) there is no host to log to.
    if cfg!(target_arch = "wasm32") {
        let level = match level {
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
        };
        host::log(level, correlation_id, message);
    }
}

/// The portable world has no host logger: warnings go to stderr, which runtimes capture,
/// and the rest is dropped (there is no level filter to ask).
#[cfg(feature = "portable")]
fn write(level: Level, correlation_id: &str, message: &str) {
    if matches!(level, Level::Warn) {
        eprintln!("lunatask-mcp {level:?} [{correlation_id}] {message}");
    }
}
