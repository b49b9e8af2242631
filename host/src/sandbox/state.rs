//! One call's store state: WASI with nothing granted, wasi-http through the egress gate,
//! the memory limiter, and the host imports the guest may call.

use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::stop::Stop;
use crate::bindings::{self, LogLevel};
use crate::gate::CallHooks;
use crate::journal::CallJournal;
use crate::support::progress::{Progress, ProgressSender};

/// The store's limits, remembering the memory growth it refused: a trap after a refused
/// growth is the memory cap at work (Rust aborts when an allocation fails), and the client
/// should be told that and not "unreachable executed". It also remembers the largest linear
/// memory the instance reached, which is what a user sizes `LUNATASK_MEMORY_LIMIT_MIB` by.
pub struct CallLimits {
    pub memory_bytes: usize,
    pub refused_bytes: Option<usize>,
    /// The largest size any linear memory of this instance was allowed to reach (its
    /// initial size counts: creating a memory goes through the limiter too).
    pub peak_bytes: usize,
}

impl ResourceLimiter for CallLimits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_bytes && maximum.is_none_or(|m| desired <= m);
        if allowed {
            self.peak_bytes = self.peak_bytes.max(desired);
        } else {
            self.refused_bytes = Some(self.refused_bytes.unwrap_or(0).max(desired));
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|m| desired <= m))
    }

    // A component instance holds a few core instances (the guest plus adapter shims).
    fn instances(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        4
    }
}

/// Per-call store state: WASI with nothing granted, wasi-http through the egress gate.
pub struct CallState {
    pub(super) wasi: WasiCtx,
    pub(super) http: WasiHttpCtx,
    pub(super) table: ResourceTable,
    pub(super) hooks: CallHooks,
    pub(super) limits: CallLimits,
    /// When the current call must end; read by the epoch callback.
    pub(super) deadline: Instant,
    /// Where the call's progress reports go, when its client asked for progress.
    pub(super) progress: Option<ProgressSender>,
    /// The journal as this call sees it: whose, which tool, which correlation id.
    pub(super) journal: Option<CallJournal>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl bindings::lunatask::mcp::types::Host for CallState {}

impl bindings::lunatask::mcp::host::Host for CallState {
    fn log(&mut self, level: LogLevel, correlation_id: String, message: String) {
        let message: String = message.chars().take(2000).collect();
        match level {
            LogLevel::Trace => tracing::trace!(target: "guest", correlation_id, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "guest", correlation_id, "{message}"),
            LogLevel::Info => tracing::info!(target: "guest", correlation_id, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "guest", correlation_id, "{message}"),
            LogLevel::Error => tracing::error!(target: "guest", correlation_id, "{message}"),
        }
    }

    fn progress(&mut self, done: u32, total: u32, message: String) {
        if let Some(sender) = &self.progress {
            let message = message.chars().take(200).collect();
            // The receiver is gone only once the call's answer is out: nothing to tell.
            let _ = sender.send(Progress::Items {
                done,
                total,
                message,
            });
        }
    }
}

use bindings::journal_wit as journal;

impl CallState {
    fn journal(&self) -> Result<&CallJournal, String> {
        self.journal
            .as_ref()
            .ok_or_else(|| "this call has no journal".to_string())
    }
}

impl journal::Host for CallState {
    fn mode(&mut self) -> journal::JournalMode {
        self.journal
            .as_ref()
            .map_or(journal::JournalMode::Off, CallJournal::mode)
    }

    async fn add(&mut self, action: journal::Action) -> Result<String, String> {
        self.journal()?.add(action).await
    }

    async fn settle(
        &mut self,
        id: String,
        outcome: journal::Outcome,
        entity_id: Option<String>,
    ) -> Result<(), String> {
        self.journal()?
            .clone()
            .settle(&id, outcome, entity_id)
            .await
    }

    async fn find(&mut self, filter: journal::Filter) -> Result<Vec<journal::Entry>, String> {
        self.journal()?.find(filter).await
    }

    async fn claim_undo(&mut self, id: String) -> Result<Option<String>, String> {
        self.journal()?.claim_undo(&id).await
    }

    async fn mark_undone(&mut self, id: String, by: String) -> Result<(), String> {
        self.journal()?.mark_undone(&id, by).await
    }

    async fn release_undo(&mut self, id: String) -> Result<(), String> {
        self.journal()?.release_undo(&id).await
    }
}

/// What a failed guest call ran into: the deadline (an epoch interrupt), the memory cap
/// (a growth was refused), or a fault in the component. Only the trap's own short
/// description is kept; the backtrace in `error` is not.
pub fn classify(error: &wasmtime::Error, state: &CallState, timeout: Duration) -> Stop {
    let trap = error.downcast_ref::<wasmtime::Trap>();
    if trap == Some(&wasmtime::Trap::Interrupt) {
        return Stop::Deadline(timeout);
    }
    if state.limits.refused_bytes.is_some() {
        return Stop::MemoryLimit {
            limit_bytes: state.limits.memory_bytes,
            requested_bytes: state.limits.refused_bytes,
        };
    }
    Stop::Trap(match trap {
        Some(trap) => format!("wasm trap: {trap}"),
        None => "the component ended the call abnormally".to_string(),
    })
}
