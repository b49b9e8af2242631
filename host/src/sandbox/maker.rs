//! The instance maker: a fresh instance of the component in a store of its own, for one
//! call, and the arming of its clock when a call takes it. Shared with the supply's helper
//! thread, which makes instances ahead of the calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;

use super::state::{CallLimits, CallState};
use super::supply::Instance;
use crate::bindings::{CallContext, ServerPre};
use crate::gate::Egress;
use crate::gate::ratelimit::Caller;
use crate::journal::{CallJournal, Journal, LOCAL_OWNER};
use crate::settings::Settings;

/// Makes fresh instances of the component.
pub struct Maker {
    pub engine: Engine,
    pub pre: ServerPre<CallState>,
    pub egress: Arc<Egress>,
    pub settings: Settings,
    pub journal: Arc<Journal>,
}

impl Maker {
    /// A fresh instance in a store of its own, not yet armed for a call.
    pub async fn instance(&self) -> wasmtime::Result<Instance> {
        let mut store = self.store();
        let server = self.pre.instantiate_async(&mut store).await?;
        Ok(Instance { store, server })
    }

    fn store(&self) -> Store<CallState> {
        // Re-armed with the real deadline when a call takes the store.
        let deadline = Instant::now() + self.settings.call_timeout;
        let state = CallState {
            // Nothing granted: no environment, arguments, preopens, sockets or stdio.
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: self.egress.hooks(deadline, Caller::new("")),
            limits: CallLimits {
                memory_bytes: self.settings.memory_limit_bytes(),
                refused_bytes: None,
                peak_bytes: 0,
            },
            progress: None,
            journal: None,
            deadline,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|store| {
            if Instant::now() >= store.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// Starts the call's clock (its deadline for the epoch callback and the egress gate)
    /// and opens its journal: `caller`'s, written as `tool` (none for a read) under
    /// `correlation_id`.
    pub fn arm(
        &self,
        store: &mut Store<CallState>,
        deadline: Instant,
        caller: Caller,
        tool: Option<&str>,
        correlation_id: &str,
    ) {
        let state = store.data_mut();
        state.deadline = deadline;
        state.journal = Some(CallJournal {
            journal: Arc::clone(&self.journal),
            owner: caller
                .user()
                .map_or_else(|| LOCAL_OWNER.into(), |user| Arc::clone(user.key())),
            tool: tool.map(str::to_string),
            correlation_id: correlation_id.to_string(),
        });
        state.hooks = self.egress.hooks(deadline, caller);
        store.set_epoch_deadline(1);
    }

    pub fn context(&self, deadline: Instant, correlation_id: &str) -> CallContext {
        let left = deadline.saturating_duration_since(Instant::now());
        call_context(&self.settings, left, correlation_id)
    }
}

/// What the guest is told with every call; the deadline and id are the call's own.
fn call_context(settings: &Settings, deadline: Duration, correlation_id: &str) -> CallContext {
    CallContext {
        base_url: settings.base_url.url.clone(),
        deadline_ms: deadline.as_millis() as u64,
        max_retries: settings.max_retries,
        retry_base_delay_ms: settings.retry_base_delay.as_millis() as u64,
        retry_max_delay_ms: settings.retry_max_delay.as_millis() as u64,
        utc_offset_minutes: settings.utc_offset,
        correlation_id: correlation_id.to_string(),
    }
}
