//! Log lines through the host, tagged with the call's correlation id.
//!
//! Only methods, paths, statuses, attempts and timings are logged here: LunaTask encrypts
//! user text end to end and this server must not leak it into logs.

use crate::lunatask::mcp::host::{self, LogLevel};

pub fn debug(correlation_id: &str, message: &str) {
    write(LogLevel::Debug, correlation_id, message);
}

pub fn info(correlation_id: &str, message: &str) {
    write(LogLevel::Info, correlation_id, message);
}

pub fn warn(correlation_id: &str, message: &str) {
    write(LogLevel::Warn, correlation_id, message);
}

fn write(level: LogLevel, correlation_id: &str, message: &str) {
    // Natively (unit tests, fuzzing) there is no host to log to.
    if cfg!(target_arch = "wasm32") {
        host::log(level, correlation_id, message);
    }
}
