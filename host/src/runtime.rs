//! The sandbox: compiles the guest component once, and runs every call in a fresh instance
//! with no environment, arguments, files or sockets, a memory cap, and a deadline enforced
//! by epoch interruption. Calls run concurrently, each in its own store. Instances are made
//! ahead of time and torn down afterwards off the call path (see [`crate::supply`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{self, CallContext, CallResult, LogLevel, Server, ServerPre};
use crate::config::Config;
use crate::egress::{CallHooks, Egress};
use crate::metrics::Metrics;
use crate::ratelimit::Caller;
use crate::supply::{Instance, SPARES, Supply};

/// The guest component, built by `build.rs`.
pub const GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lunatask_mcp_guest.wasm"));

/// How often the epoch advances; a busy guest yields to the async runtime this often and
/// its deadline is checked at this granularity.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How much of a pooled slot's written linear memory stays resident between instances. A
/// `ping` or `create_task` writes less (with this, their calls take no page faults); a long
/// `list_tasks` writes more and gives the rest back, so idle slots stay small.
const KEEP_RESIDENT_MEMORY: usize = 256 * 1024;
/// The same for function tables, which instantiation fills whole (a few KiB here).
const KEEP_RESIDENT_TABLE: usize = 64 * 1024;

/// Grace beyond a call's deadline before the host gives up on it: the guest watches the
/// same deadline and normally answers first with a precise error.
const DEADLINE_GRACE: Duration = Duration::from_secs(2);

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

/// The store's limits, remembering the memory growth it refused: a trap after a refused
/// growth is the memory cap at work (Rust aborts when an allocation fails), and the client
/// should be told that and not "unreachable executed".
struct CallLimits {
    memory_bytes: usize,
    refused_bytes: Option<usize>,
}

impl ResourceLimiter for CallLimits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_bytes && maximum.is_none_or(|m| desired <= m);
        if !allowed {
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
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: CallHooks,
    limits: CallLimits,
    metrics: Metrics,
    /// When the current call must end; read by the epoch callback.
    deadline: Instant,
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

    fn metrics(&mut self) -> String {
        self.metrics.json().to_string()
    }
}

/// The compiled component and everything a call needs.
pub struct Runtime {
    maker: Arc<Maker>,
    supply: Supply,
    /// One permit per concurrent call (held until its store is torn down): callers beyond
    /// the limit wait their turn.
    permits: Arc<Semaphore>,
    slots: u32,
    /// Calls waiting for a permit now, and how many may: beyond that a call is refused at
    /// once rather than held (with its arguments) in an ever longer queue.
    queued: Arc<std::sync::atomic::AtomicUsize>,
    max_queued: usize,
    closed: AtomicBool,
}

/// Makes fresh instances of the component; shared with the supply's helper thread.
struct Maker {
    engine: Engine,
    pre: ServerPre<CallState>,
    egress: Arc<Egress>,
    metrics: Metrics,
    settings: Settings,
}

/// What each call's context and limits are built from.
#[derive(Debug, Clone)]
struct Settings {
    base_url: String,
    call_timeout: Duration,
    max_retries: u32,
    retry_base_delay: Duration,
    retry_max_delay: Duration,
    utc_offset_minutes: i32,
    memory_limit_bytes: usize,
}

impl Runtime {
    /// Loads the built-in component, or the one `--component` names.
    pub fn new(config: &Config, metrics: Metrics) -> anyhow::Result<Self> {
        match &config.component {
            Some(path) => {
                let wasm = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("--component {}: {e}", path.display()))?;
                Self::with_component(config, metrics, &wasm)
            }
            None => Self::with_component(config, metrics, GUEST_WASM),
        }
    }

    fn with_component(config: &Config, metrics: Metrics, wasm: &[u8]) -> anyhow::Result<Self> {
        let slots = config.max_concurrent_calls;
        let engine = engine(config.memory_limit_bytes, slots)?;
        let component = load_component(&engine, wasm, config.cache_dir.as_deref())?;
        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        Server::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
        let pre = ServerPre::new(linker.instantiate_pre(&component)?)?;
        spawn_epoch_ticker(engine.weak());
        let egress = Arc::new(Egress::new(config, metrics.clone())?);
        let maker = Arc::new(Maker {
            engine,
            pre,
            egress,
            metrics,
            settings: Settings {
                base_url: config.base_url.url.clone(),
                call_timeout: config.call_timeout,
                max_retries: config.max_retries,
                retry_base_delay: config.retry_base_delay,
                retry_max_delay: config.retry_max_delay,
                utc_offset_minutes: config.utc_offset_minutes,
                memory_limit_bytes: config.memory_limit_bytes,
            },
        });
        let spares = Arc::clone(&maker);
        let supply = Supply::start(Box::new(move || {
            Ok(futures::executor::block_on(spares.instance())?)
        }))?;
        Ok(Self {
            maker,
            supply,
            permits: Arc::new(Semaphore::new(slots as usize)),
            slots,
            queued: Arc::default(),
            max_queued: config.max_queued_calls,
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
    /// `correlation_id`.
    async fn with_instance<R>(
        &self,
        caller: &Caller,
        correlation_id: &str,
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
            self.maker.arm(&mut store, deadline, caller.clone());
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

    pub async fn list_tools(&self) -> Result<Vec<bindings::Tool>, SandboxError> {
        self.with_instance(
            &catalog_caller(),
            &new_correlation_id(),
            async |store, server, _| server.lunatask_mcp_tools().call_list_tools(store).await,
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
    ) -> Result<CallResult, SandboxError> {
        let result = self
            .with_instance(caller, correlation_id, async |store, server, ctx| {
                server
                    .lunatask_mcp_tools()
                    .call_call_tool(store, name, arguments, &ctx)
                    .await
            })
            .await;
        self.maker
            .metrics
            .tool_call(name, matches!(&result, Ok(r) if !r.is_error));
        result
    }

    pub async fn list_resources(&self) -> Result<Vec<bindings::Resource>, SandboxError> {
        self.with_instance(
            &catalog_caller(),
            &new_correlation_id(),
            async |store, server, _| {
                server
                    .lunatask_mcp_resources()
                    .call_list_resources(store)
                    .await
            },
        )
        .await
    }

    pub async fn list_resource_templates(
        &self,
    ) -> Result<Vec<bindings::ResourceTemplate>, SandboxError> {
        self.with_instance(
            &catalog_caller(),
            &new_correlation_id(),
            async |store, server, _| {
                server
                    .lunatask_mcp_resources()
                    .call_list_resource_templates(store)
                    .await
            },
        )
        .await
    }

    pub async fn read_resource(
        &self,
        caller: &Caller,
        uri: &str,
    ) -> Result<Result<bindings::ResourceContents, bindings::ResourceError>, SandboxError> {
        self.with_instance(caller, &new_correlation_id(), async |store, server, ctx| {
            server
                .lunatask_mcp_resources()
                .call_read_resource(store, uri, &ctx)
                .await
        })
        .await
    }
}

/// Who the catalog reads (tools, resources, templates) are made for; they send nothing.
fn catalog_caller() -> Caller {
    Caller::new("catalog")
}

impl Maker {
    /// A fresh instance in a store of its own, not yet armed for a call.
    async fn instance(&self) -> wasmtime::Result<Instance> {
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
                memory_bytes: self.settings.memory_limit_bytes,
                refused_bytes: None,
            },
            metrics: self.metrics.clone(),
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

    /// Starts the call's clock: its deadline for the epoch callback and the egress gate.
    fn arm(&self, store: &mut Store<CallState>, deadline: Instant, caller: Caller) {
        let state = store.data_mut();
        state.deadline = deadline;
        state.hooks = self.egress.hooks(deadline, caller);
        store.set_epoch_deadline(1);
    }

    fn context(&self, deadline: Instant, correlation_id: &str) -> CallContext {
        let s = &self.settings;
        CallContext {
            base_url: s.base_url.clone(),
            deadline_ms: deadline
                .saturating_duration_since(Instant::now())
                .as_millis() as u64,
            max_retries: s.max_retries,
            retry_base_delay_ms: s.retry_base_delay.as_millis() as u64,
            retry_max_delay_ms: s.retry_max_delay.as_millis() as u64,
            utc_offset_minutes: s.utc_offset_minutes,
            correlation_id: correlation_id.to_string(),
        }
    }
}

/// A place taken in the queue for a sandbox slot.
struct QueuePlace(Arc<std::sync::atomic::AtomicUsize>);

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

/// What a failed guest call ran into: the deadline (an epoch interrupt), the memory cap
/// (a growth was refused), or a fault in the component. Only the trap's own short
/// description is kept; the backtrace in `error` is not.
fn classify(error: &wasmtime::Error, state: &CallState, timeout: Duration) -> Stop {
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

fn engine(memory_limit_bytes: usize, slots: u32) -> anyhow::Result<Engine> {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    // Function tables are filled when an instance is made (off the call path, by the
    // supply), not entry by entry while a call runs: a lazy first write there faults in
    // the table page and flushes TLBs on every core this process runs on.
    config.table_lazy_init(false);
    config.wasm_component_model(true);
    // A pooling allocator makes instantiation per call a matter of microseconds. Each
    // component instance holds a few core instances (the guest plus adapter shims).
    let mut pool = PoolingAllocationConfig::default();
    // Calls (stores waiting to be torn down included), the supply's spares, and headroom.
    let instances = slots + SPARES as u32 + 1;
    pool.total_component_instances(instances);
    pool.total_core_instances(instances * 8);
    pool.total_memories(instances * 2);
    pool.total_tables(instances * 4);
    pool.max_memory_size(memory_limit_bytes);
    pool.max_memories_per_component(4);
    pool.max_core_instances_per_component(16);
    pool.max_tables_per_component(8);
    // With PAGEMAP_SCAN (Linux 6.7+), resetting a slot finds the pages the last call wrote
    // and rewrites just those, up to these sizes, leaving them mapped: no madvise and its
    // cross-core TLB flushes, and the slot's next call takes no page faults. Without it
    // these sizes would mean "memset the lowest addresses", which in the guest's
    // stack-first layout are stack it rarely reaches: then the defaults stay.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes);
        pool.linear_memory_keep_resident(KEEP_RESIDENT_MEMORY);
        pool.table_keep_resident(KEEP_RESIDENT_TABLE);
    }
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

/// Advances the engine's epoch every tick while the engine lives.
fn spawn_epoch_ticker(engine: wasmtime::EngineWeak) {
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}

/// Compiles `wasm`, or loads the native code cached by an earlier start. The cache key
/// covers the component bytes and the engine's compatibility hash (wasmtime version and
/// compilation settings), so any change recompiles.
fn load_component(
    engine: &Engine,
    wasm: &[u8],
    cache_dir: Option<&Path>,
) -> anyhow::Result<Component> {
    let Some(dir) = cache_dir.map(Path::to_path_buf).or_else(default_cache_dir) else {
        return Ok(Component::new(engine, wasm)?);
    };
    let mut hasher = Sha256::new();
    hasher.update(wasm);
    std::hash::Hash::hash(
        &engine.precompile_compatibility_hash(),
        &mut HashToDigest(&mut hasher),
    );
    let key = hex::encode(&hasher.finalize()[..16]);
    let path = dir.join(format!("guest-{key}.cwasm"));
    if let Some(component) = deserialize_cached(engine, &path) {
        tracing::debug!(path = %path.display(), "loaded the cached component");
        return Ok(component);
    }
    let started = Instant::now();
    let component = Component::new(engine, wasm)?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "compiled the component"
    );
    if let Err(e) = store_cached(&component, &dir, &path) {
        tracing::debug!(error = %e, "could not cache the compiled component");
    }
    Ok(component)
}

struct HashToDigest<'a>(&'a mut Sha256);

impl std::hash::Hasher for HashToDigest<'_> {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[allow(
    unsafe_code,
    reason = "deserializing native code we compiled and wrote ourselves"
)]
fn deserialize_cached(engine: &Engine, path: &Path) -> Option<Component> {
    if !cache_file_is_private(path) {
        return None;
    }
    // SAFETY: the file is ours (created by `store_cached` in a directory only this user
    // can write, checked above) and wasmtime verifies the header against this engine.
    unsafe { Component::deserialize_file(engine, path) }.ok()
}

#[cfg(unix)]
fn cache_file_is_private(path: &Path) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (Ok(file), Some(dir)) = (std::fs::metadata(path), path.parent()) else {
        return false;
    };
    let Ok(dir) = std::fs::metadata(dir) else {
        return false;
    };
    // Same owner as us, and nobody else may write the file or its folder.
    let uid = current_uid();
    file.uid() == uid
        && dir.uid() == uid
        && file.permissions().mode() & 0o022 == 0
        && dir.permissions().mode() & 0o022 == 0
}

#[cfg(not(unix))]
fn cache_file_is_private(_: &Path) -> bool {
    true
}

/// The current user's id: the owner of this process's /proc entry (no unsafe libc call).
#[cfg(unix)]
fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

fn store_cached(component: &Component, dir: &Path, path: &Path) -> anyhow::Result<()> {
    create_private_dir(dir)?;
    let bytes = component.serialize()?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("lunatask-mcp"))
}
