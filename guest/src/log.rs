//! Log lines tagged with the call's correlation id. Only failures and the retry decisions
//! they lead to are logged: the host's egress gate already logs every request it sends.
//!
//! Only methods, paths, statuses, attempts and timings are logged here: LunaTask encrypts
//! user text end to end and this server must not leak it into logs.

/// Through the host's logger, which filters by level and writes to stderr.
#[cfg(not(feature = "portable"))]
pub fn info(correlation_id: &str, message: &str) {
    use crate::bindings::host::{self, LogLevel};
    // Natively (unit tests, fuzzing) there is no host to log to.
    if cfg!(target_arch = "wasm32") {
        host::log(LogLevel::Info, correlation_id, message);
    }
}

/// The portable world has no host logger: stderr, which runtimes capture.
#[cfg(feature = "portable")]
pub fn info(correlation_id: &str, message: &str) {
    eprintln!("lunatask-mcp [{correlation_id}] {message}");
}

/// Tells the host that `done` of `total` items of this call are done (it forwards that as
/// MCP progress when the client asked for it). `message` must hold no user text.
#[cfg(not(feature = "portable"))]
pub fn progress(done: usize, total: usize, message: &str) {
    if cfg!(target_arch = "wasm32") {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        crate::bindings::host::progress(clamp(done), clamp(total), message);
    }
}

/// The portable world has no host to report progress to.
#[cfg(feature = "portable")]
pub fn progress(_done: usize, _total: usize, _message: &str) {}
