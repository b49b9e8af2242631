//! Why a call produced no result from the guest: what the sandbox stopped, refused or
//! could not start, each message naming the setting that changes it.

use std::time::Duration;

/// Why a call produced no result from the guest, and which call it was.
#[derive(Debug, thiserror::Error)]
#[error("{stop}")]
pub struct SandboxError {
    /// The id the call's requests carried (made by the host, so a stopped call has one).
    pub correlation_id: String,
    pub stop: Stop,
}

/// What stopped a call. The messages name what was hit and which setting changes it; the
/// wasm backtrace of a trap goes to the log (debug), never to the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Stop {
    #[error(
        "the call did not finish within its deadline of {} s and was stopped; try again, or \
         raise LUNATASK_CALL_TIMEOUT", .0.as_secs_f64()
    )]
    Deadline(Duration),
    #[error(
        "the call needed more memory than the sandbox allows ({} MiB){}; raise \
         LUNATASK_MEMORY_LIMIT_MIB (for example to {} MiB), or ask for less at once",
        mib(*limit_bytes),
        requested_bytes.map(|r| format!(": it asked to grow to {} MiB", mib(r))).unwrap_or_default(),
        suggested_mib(*limit_bytes, *requested_bytes)
    )]
    MemoryLimit {
        limit_bytes: usize,
        /// The largest size the guest asked its memory to grow to, if it asked.
        requested_bytes: Option<usize>,
    },
    #[error(
        "the tool's component failed ({0}); this is a bug in lunatask-mcp, please report it \
         with the correlation id"
    )]
    Trap(String),
    #[error("the sandbox could not be started ({0}); try again")]
    Instantiate(String),
    #[error("the server is shutting down; try again once it is back")]
    ShuttingDown,
    /// Refused before it started, at a limit that keeps the server's memory bounded.
    #[error("{message}; try again shortly, or raise {setting}")]
    Overloaded {
        setting: &'static str,
        message: String,
    },
}

impl Stop {
    /// The setting that changes the limit this stop hit, if it hit one.
    pub fn setting(&self) -> Option<&'static str> {
        match self {
            Stop::Deadline(_) => Some("LUNATASK_CALL_TIMEOUT"),
            Stop::MemoryLimit { .. } => Some("LUNATASK_MEMORY_LIMIT_MIB"),
            Stop::Overloaded { setting, .. } => Some(setting),
            _ => None,
        }
    }
}

fn mib(bytes: usize) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib.fract() == 0.0 {
        format!("{mib:.0}")
    } else {
        format!("{mib:.1}")
    }
}

/// Twice what was asked for (or the limit), rounded up to a power of two.
fn suggested_mib(limit_bytes: usize, requested_bytes: Option<usize>) -> usize {
    let base = requested_bytes.unwrap_or(limit_bytes).max(limit_bytes);
    (base * 2).div_ceil(1024 * 1024).next_power_of_two()
}
