//! The engine: pooling allocation sized for the configured calls, epoch interruption for
//! deadlines, and the thread that advances the epoch.

use std::time::Duration;

use wasmtime::{Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::supply::SPARES;

/// How often the epoch advances; a busy guest yields to the async runtime this often and
/// its deadline is checked at this granularity.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How much of a pooled slot's written linear memory stays resident between instances. A
/// `ping` or `create_task` writes less (with this, their calls take no page faults); a long
/// `list_tasks` writes more and gives the rest back, so idle slots stay small.
const KEEP_RESIDENT_MEMORY: usize = 256 * 1024;
/// The same for function tables, which instantiation fills whole (a few KiB here).
const KEEP_RESIDENT_TABLE: usize = 64 * 1024;

pub fn engine(memory_limit_bytes: usize, slots: u32) -> anyhow::Result<Engine> {
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
pub fn spawn_epoch_ticker(engine: wasmtime::EngineWeak) {
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
