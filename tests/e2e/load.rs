//! A bounded load test over HTTP with faults mixed in (429, 503, delays, dropped
//! connections): nothing that should succeed fails, nothing is duplicated, memory stays flat.
//! Loopback only; it stops by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lunatask_mcp_tests::{AREA, FakeApi, Fault, TOKEN};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::builder;

const CLIENTS: usize = 12;
const CALLS_PER_CLIENT: usize = 30;
const FAULT_EVERY: usize = 4;
const MAX_RETRIES: usize = 6;

#[tokio::test]
async fn many_clients_with_faults_lose_nothing_and_duplicate_nothing() {
    let fake = Arc::new(FakeApi::start(TOKEN).await);
    let seeded = fake.seed_task(json!({ "area_id": AREA }));
    // Each call may meet up to MAX_RETRIES faults and still has one clean attempt left, so
    // any failure is the server's, never bad luck in which call the faults landed on.
    fake.cap_faults_per_call(MAX_RETRIES);
    let http = builder()
        .against(&fake)
        .env("LUNATASK_MAX_RETRIES", MAX_RETRIES.to_string())
        .env("LUNATASK_RETRY_BASE_DELAY", "0.01")
        .env("LUNATASK_RETRY_MAX_DELAY", "0.2")
        .env("LUNATASK_HTTP_TIMEOUT_READ", "2")
        .start_http()
        .await;
    let pid = http.child.id().unwrap();

    // Faults, mixed in while the clients run.
    let running = Arc::new(AtomicBool::new(true));
    let chaos = {
        let fake = Arc::clone(&fake);
        let running = Arc::clone(&running);
        tokio::spawn(async move {
            let faults = [
                (
                    None,
                    Fault::Status {
                        status: 429,
                        headers: vec![("retry-after".into(), "0".into())],
                        body: None,
                    },
                ),
                (None, Fault::status(503)),
                (None, Fault::Delay(Duration::from_millis(150))),
                (Some("POST /v1/tasks"), Fault::DropAfterApply),
                (Some("GET /v1/"), Fault::DropBeforeApply),
                (None, Fault::status(502)),
            ];
            // One fault for every FAULT_EVERY requests: a hostile but plausible network.
            // Only one fault is pending at a time. Otherwise faults for a path few calls use
            // (POST /v1/tasks) pile up and one call meets them all in a row, which exhausts any
            // finite retry budget and proves nothing about the server.
            let (mut i, mut last) = (0, 0);
            while running.load(Ordering::SeqCst) {
                let seen = fake.request_count();
                if seen >= last + FAULT_EVERY && fake.pending_faults() == 0 {
                    let (matcher, fault) = faults[i % faults.len()].clone();
                    fake.inject(matcher, 1, fault);
                    i += 1;
                    last = seen;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            i
        })
    };

    let started = Instant::now();
    let mut warm_rss = 0;
    let mut workers = Vec::new();
    for c in 0..CLIENTS {
        let client = http.client(None).await.unwrap();
        let seeded = seeded.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = Vec::new();
            let mut created = Vec::new();
            for n in 0..CALLS_PER_CLIENT {
                let (tool, args) = match (c + n) % 4 {
                    0 => ("ping", json!({})),
                    1 => (
                        "create_task",
                        json!({ "area_id": AREA, "name": format!("load {c}-{n}") }),
                    ),
                    2 => ("list_tasks", json!({ "limit": 5 })),
                    _ => (
                        "update_task",
                        json!({ "task_id": seeded, "priority": (n % 5) as i64 - 2 }),
                    ),
                };
                let t = Instant::now();
                let result = client
                    .call_tool(
                        CallToolRequestParams::new(tool)
                            .with_arguments(args.as_object().unwrap().clone()),
                    )
                    .await;
                latencies.push(t.elapsed());
                match result {
                    Ok(r) if r.is_error != Some(true) => {
                        if tool == "create_task" {
                            let s: Value = r.structured_content.unwrap();
                            created.push(s["task"]["id"].as_str().unwrap().to_string());
                        }
                    }
                    Ok(r) => failures.push(format!("{tool}: {:?}", r.content)),
                    Err(e) => failures.push(format!("{tool}: {e}")),
                }
            }
            (latencies, failures, created)
        }));
        if c == 1 {
            warm_rss = lunatask_mcp_tests::memory_kib(pid, "VmRSS");
        }
    }
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    let mut created = Vec::new();
    for w in workers {
        let (l, f, c) = w.await.unwrap();
        latencies.extend(l);
        failures.extend(f);
        created.extend(c);
    }
    running.store(false, Ordering::SeqCst);
    let faults = chaos.await.unwrap();
    let end_rss = lunatask_mcp_tests::memory_kib(pid, "VmRSS");
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    let peak = lunatask_mcp_tests::memory_kib(pid, "VmHWM");
    println!(
        "load: {} calls, {} failures, {faults} faults injected, {} API requests, p99 {p99:?}, \
         RSS {warm_rss} KiB → {end_rss} KiB, peak {peak} KiB, {:?}",
        latencies.len(),
        failures.len(),
        fake.requests().len(),
        started.elapsed()
    );
    if !failures.is_empty() {
        // What the fake saw of each failed call, to tell a server fault from a test fault.
        for failure in &failures {
            let Some(id) = failure
                .split("correlation_id\\\":\\\"")
                .nth(1)
                .and_then(|rest| rest.split('\\').next())
            else {
                continue;
            };
            for r in fake
                .requests()
                .iter()
                .filter(|r| r.header("x-correlation-id") == Some(id))
            {
                eprintln!(
                    "{id}: at {:?} {} {} {:?} fault {:?}",
                    r.at.saturating_duration_since(started),
                    r.method,
                    r.path,
                    r.query,
                    r.fault
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "calls that should have succeeded failed: {failures:#?}"
    );
    // Every create made exactly one task, and the results name distinct tasks.
    let mut distinct = created.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), created.len(), "two results named one task");
    assert_eq!(
        fake.with(|s| s.tasks.len()),
        created.len() + 1,
        "a duplicate task was created"
    );
    assert!(
        end_rss < warm_rss + 64 * 1024,
        "memory grew from {warm_rss} KiB to {end_rss} KiB"
    );
    let _ = http.terminate().await;
}
