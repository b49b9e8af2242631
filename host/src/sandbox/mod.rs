//! The sandbox: compiles the guest component once, and runs every call in a fresh instance
//! with no environment, arguments, files or sockets, a memory cap, and a deadline enforced
//! by epoch interruption. Calls run concurrently, each in its own store. Instances are made
//! ahead of time and torn down afterwards off the call path (see [`supply`]).
//!
//! One file per job: [`engine`] (pooling and epochs), [`cache`] (compiled code on disk),
//! [`state`] (a call's store and host imports), [`maker`] (fresh instances), [`supply`]
//! (spares made ahead), [`stop`] (why a call produced no result); this file is a call's
//! lifecycle: admission, permits, deadline.
//!
//! May use: `journal` (the record a call's writes make), `gate` (the egress hooks and who a
//! call is for), `bindings`, `settings`, `support`.

mod cache;
mod engine;
mod maker;
mod state;
mod stop;
mod supply;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

use self::maker::Maker;
use self::state::{CallState, classify};
pub use self::stop::{SandboxError, Stop};
use self::supply::{Instance, Supply};
use crate::bindings::{self, CallContext, Server, ServerPre, ToolError};
use crate::gate::Egress;
use crate::gate::ratelimit::Caller;
use crate::gate::shared_limits::SharedLimits;
use crate::journal::Journal;
use crate::settings::Config;
use crate::support::metrics::Metrics;
use crate::support::progress::ProgressSender;

/// The guest component, built by `build.rs`.
pub const GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lunatask_mcp_guest.wasm"));

/// Grace beyond a call's deadline before the host gives up on it: the guest watches the
/// same deadline and normally answers first with a precise error.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);

/// The compiled component and everything a call needs.
pub struct Sandbox {
    maker: Arc<Maker>,
    metrics: Metrics,
    supply: Supply,
    /// One permit per concurrent call (held until its store is torn down): callers beyond
    /// the limit wait their turn.
    permits: Arc<Semaphore>,
    slots: u32,
    /// Calls waiting for a permit now, and how many may: beyond that a call is refused at
    /// once rather than held (with its arguments) in an ever longer queue.
    queued: Arc<AtomicUsize>,
    max_queued: usize,
    closed: AtomicBool,
}

impl Sandbox {
    /// Loads the built-in component, or the one `--component` names; `shared` holds the
    /// per-user limits replicas share, if any.
    pub fn new(
        config: &Config,
        metrics: Metrics,
        shared: Option<Arc<SharedLimits>>,
        journal: Arc<Journal>,
    ) -> anyhow::Result<Self> {
        match &config.settings.component {
            Some(path) => {
                let wasm = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("--component {}: {e}", path.display()))?;
                Self::with_component(config, metrics, shared, journal, &wasm)
            }
            None => Self::with_component(config, metrics, shared, journal, GUEST_WASM),
        }
    }

    fn with_component(
        config: &Config,
        metrics: Metrics,
        shared: Option<Arc<SharedLimits>>,
        journal: Arc<Journal>,
        wasm: &[u8],
    ) -> anyhow::Result<Self> {
        let settings = &config.settings;
        let slots = settings.max_concurrent_calls;
        let engine = engine::engine(settings.memory_limit_bytes(), slots)?;
        let component = cache::load_component(&engine, wasm, settings.cache_dir.as_deref())?;
        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Server::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
        let pre = ServerPre::new(linker.instantiate_pre(&component)?)?;
        engine::spawn_epoch_ticker(engine.weak());
        let egress = Arc::new(Egress::new(config, metrics.clone(), shared)?);
        let maker = Arc::new(Maker {
            engine,
            pre,
            egress,
            settings: settings.clone(),
            journal,
        });
        let spares = Arc::clone(&maker);
        let supply = Supply::start(Box::new(move || {
            Ok(futures::executor::block_on(spares.instance())?)
        }))?;
        Ok(Self {
            maker,
            metrics,
            supply,
            permits: Arc::new(Semaphore::new(slots as usize)),
            slots,
            queued: Arc::default(),
            max_queued: settings.max_queued_calls as usize,
            closed: AtomicBool::new(false),
        })
    }

    /// Stops new calls from starting (graceful shutdown); running ones finish.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Waits until no call is running, or `timeout` passes; false if calls remain.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let all = self.permits.acquire_many(self.slots);
        tokio::time::timeout(timeout, all).await.is_ok()
    }

    /// Runs `f` against a fresh instance, under the call deadline and limits, as the call
    /// `correlation_id`; `what` names the call in the guest-memory metric (a tool's name,
    /// or "resource").
    async fn with_instance<R>(
        &self,
        caller: &Caller,
        correlation_id: &str,
        what: &str,
        tool: Option<&str>,
        f: impl AsyncFnOnce(&mut Store<CallState>, &Server, CallContext) -> wasmtime::Result<R>,
    ) -> Result<R, SandboxError> {
        let failed = |stop| SandboxError {
            correlation_id: correlation_id.to_string(),
            stop,
        };
        if self.closed.load(Ordering::SeqCst) {
            return Err(failed(Stop::ShuttingDown));
        }
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(failed(Stop::ShuttingDown)),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                let _place = self.queue_place().ok_or_else(|| {
                    failed(Stop::Overloaded {
                        setting: "LUNATASK_MAX_QUEUED_CALLS",
                        message: format!(
                            "{} calls are already waiting for one of the {} sandbox slots",
                            self.max_queued, self.slots
                        ),
                    })
                })?;
                Arc::clone(&self.permits)
                    .acquire_owned()
                    .await
                    .map_err(|_| failed(Stop::ShuttingDown))?
            }
        };
        let timeout = self.maker.settings.call_timeout;
        // If the deadline passes, `work` is dropped, and its store and permit with it.
        let work = async {
            let Instance { mut store, server } = match self.supply.take() {
                Some(spare) => spare,
                None => self
                    .maker
                    .instance()
                    .await
                    .map_err(|e| failed(Stop::Instantiate(format!("{e:#}"))))?,
            };
            let deadline = Instant::now() + timeout;
            self.maker
                .arm(&mut store, deadline, caller.clone(), tool, correlation_id);
            let ctx = self.maker.context(deadline, correlation_id);
            let result = f(&mut store, &server, ctx).await.map_err(|e| {
                let stop = classify(&e, store.data(), timeout);
                // The backtrace helps whoever debugs the component; the client gets `stop`.
                tracing::debug!(
                    correlation_id,
                    error = format!("{e:?}"),
                    "sandbox stopped the call"
                );
                failed(stop)
            });
            let peak = store.data().limits.peak_bytes;
            tracing::debug!(correlation_id, what, peak_bytes = peak, "guest memory peak");
            self.metrics.guest_memory_peak(what, peak);
            self.supply.retire(store, permit);
            result
        };
        match tokio::time::timeout(timeout + DEADLINE_GRACE, work).await {
            Ok(result) => result,
            Err(_) => Err(failed(Stop::Deadline(timeout))),
        }
    }

    /// A place in the queue for a sandbox slot, given back when dropped (also when the
    /// waiting call is cancelled); `None` when the queue is full.
    fn queue_place(&self) -> Option<QueuePlace> {
        let queued = Arc::clone(&self.queued);
        queued
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max_queued).then_some(n + 1)
            })
            .ok()?;
        Some(QueuePlace(queued))
    }

    /// What the component offers, read once (in one instance) at start-up.
    pub async fn offered(&self) -> Result<Offered, SandboxError> {
        self.with_instance(
            &catalog_caller(),
            &new_correlation_id(),
            "catalog",
            None,
            async |store, server, _| {
                let resources = server.lunatask_mcp_resources();
                let prompts = server.lunatask_mcp_prompts();
                Ok(Offered {
                    prompts: prompts.call_list_prompts(&mut *store).await?,
                    tools: server
                        .lunatask_mcp_tools()
                        .call_list_tools(&mut *store)
                        .await?,
                    resources: resources.call_list_resources(&mut *store).await?,
                    templates: resources.call_list_resource_templates(&mut *store).await?,
                })
            },
        )
        .await
    }

    /// Calls the tool `name` as the call `correlation_id` (see [`new_correlation_id`]).
    pub async fn call_tool(
        &self,
        caller: &Caller,
        correlation_id: &str,
        name: &str,
        arguments: &str,
        progress: Option<ProgressSender>,
    ) -> Result<Result<String, ToolError>, SandboxError> {
        let result = self
            .with_instance(
                caller,
                correlation_id,
                name,
                Some(name),
                async |store, server, ctx| {
                    let state = store.data_mut();
                    state.hooks.progress = progress.clone();
                    state.progress = progress;
                    server
                        .lunatask_mcp_tools()
                        .call_call_tool(store, name, arguments, &ctx)
                        .await
                },
            )
            .await;
        self.metrics.tool_call(name, matches!(&result, Ok(Ok(_))));
        result
    }

    /// Gets the prompt `name` with `arguments` (a JSON object) as the call `correlation_id`.
    pub async fn get_prompt(
        &self,
        caller: &Caller,
        correlation_id: &str,
        name: &str,
        arguments: &str,
    ) -> Result<Result<Vec<bindings::PromptContent>, bindings::PromptError>, SandboxError> {
        self.with_instance(
            caller,
            correlation_id,
            "prompt",
            None,
            async |store, server, ctx| {
                server
                    .lunatask_mcp_prompts()
                    .call_get_prompt(store, name, arguments, &ctx)
                    .await
            },
        )
        .await
    }

    /// Reads the resource `uri` as the call `correlation_id`.
    pub async fn read_resource(
        &self,
        caller: &Caller,
        correlation_id: &str,
        uri: &str,
    ) -> Result<Result<bindings::ResourceContents, bindings::ResourceError>, SandboxError> {
        self.with_instance(
            caller,
            correlation_id,
            "resource",
            None,
            async |store, server, ctx| {
                server
                    .lunatask_mcp_resources()
                    .call_read_resource(store, uri, &ctx)
                    .await
            },
        )
        .await
    }
}

/// The component's tools, resources, resource templates and prompts, as it lists them.
pub struct Offered {
    pub prompts: Vec<bindings::Prompt>,
    pub tools: Vec<bindings::Tool>,
    pub resources: Vec<bindings::Resource>,
    pub templates: Vec<bindings::ResourceTemplate>,
}

/// Who the catalog reads (tools, resources, templates) are made for; they send nothing.
fn catalog_caller() -> Caller {
    Caller::new("catalog")
}

/// A place taken in the queue for a sandbox slot.
struct QueuePlace(Arc<AtomicUsize>);

impl Drop for QueuePlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A fresh id for one call: sent to LunaTask as `X-Correlation-ID`, in every log line
/// about the call, and in its result, failed or not.
pub fn new_correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
