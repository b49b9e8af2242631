//! Big accounts: 100,000 tasks (about 45 MB of JSON from `GET /tasks`) and 10,000 people,
//! seeded in-process. With default settings but a 16 MiB sandbox, every list filter and
//! view still answers, with totals counted over the whole account: the guest streams the
//! list and keeps only what the answer returns.

use lunatask_mcp_tests::account;
use lunatask_mcp_tests::{AREA, FakeApi, Host, TOKEN, ok};
use serde_json::{Value, json};

use crate::builder;

const TASKS: usize = 100_000;
const PEOPLE: usize = 10_000;

/// A server with a 16 MiB sandbox: at most this much guest memory for any call below.
async fn small_sandbox(fake: &FakeApi) -> Host {
    builder()
        .against(fake)
        .env("LUNATASK_MEMORY_LIMIT_MIB", "16")
        .start()
        .await
}

fn count(tasks: &[Value], keep: impl Fn(&Value) -> bool) -> usize {
    tasks.iter().filter(|t| keep(t)).count()
}

#[tokio::test]
async fn every_filter_and_view_answers_on_100000_tasks_in_16_mib() {
    let fake = FakeApi::start(TOKEN).await;
    let tasks: Vec<Value> = (0..TASKS).map(account::task).collect();
    for t in &tasks {
        fake.seed_task(t.clone());
    }
    let host = small_sandbox(&fake).await;
    let open = |t: &Value| t["status"] != "completed";
    let cases: Vec<(Value, usize)> = vec![
        (json!({}), TASKS),
        (json!({ "status": "open" }), count(&tasks, open)),
        (
            json!({ "status": "completed" }),
            count(&tasks, |t| !open(t)),
        ),
        (
            json!({ "area_id": AREA }),
            count(&tasks, |t| t["area_id"] == AREA),
        ),
        (
            json!({ "min_priority": 1 }),
            count(&tasks, |t| t["priority"].as_i64() >= Some(1)),
        ),
        (
            json!({ "scheduled_from": "2026-03-01", "scheduled_to": "2026-06-30" }),
            count(&tasks, |t| {
                t["scheduled_on"]
                    .as_str()
                    .is_some_and(|d| ("2026-03-01"..="2026-06-30").contains(&d))
            }),
        ),
        (
            json!({ "completed_since": "2025-11-01T00:00:00Z" }),
            count(&tasks, |t| {
                t["completed_at"]
                    .as_str()
                    .is_some_and(|c| c >= "2025-11-01")
            }),
        ),
        (json!({ "source": "github", "source_id": "issue-420" }), 1),
        (
            json!({ "status": "open", "sort": "scheduled_on", "limit": 100, "offset": 20 }),
            count(&tasks, open),
        ),
    ];
    for (args, total) in cases {
        let result = host.call("list_tasks", args.clone()).await;
        let out = ok(&result);
        assert_eq!(out["total"], total, "{args}");
        let shown = out["tasks"].as_array().unwrap().len();
        let limit = args["limit"].as_u64().unwrap_or(30) as usize;
        let offset = args["offset"].as_u64().unwrap_or(0) as usize;
        assert_eq!(shown, total.saturating_sub(offset).min(limit), "{args}");
    }

    // The default order: highest priority first, on the whole account.
    let first = ok(&host.call("list_tasks", json!({ "limit": 5 })).await);
    for t in first["tasks"].as_array().unwrap() {
        assert_eq!(t["priority"], 2, "{t}");
    }

    // Views: the tasks each selects, from the whole account.
    let high = host.read("lunatask://global/high-priority").await.unwrap();
    let expected = count(&tasks, |t| open(t) && t["priority"].as_i64() >= Some(1));
    assert_eq!(high["count"], expected);
    // Unscheduled: in the area, open and without a date (what triage_unscheduled embeds).
    let unscheduled = host
        .read(&format!("lunatask://area/{AREA}/unscheduled"))
        .await
        .unwrap();
    let expected = count(&tasks, |t| {
        t["area_id"] == AREA && open(t) && t.get("scheduled_on").is_none_or(Value::is_null)
    });
    assert_eq!(unscheduled["count"], expected);
    // The answer holds the first hundred, and says how to see the rest.
    assert!(
        expected > 100,
        "the account has more than a view shows: {expected}"
    );
    assert_eq!(unscheduled["tasks"].as_array().unwrap().len(), 100);
    assert!(unscheduled["hint"].as_str().unwrap().contains("list_tasks"));
    for view in [
        "now",
        "today",
        "overdue",
        "next-7-days",
        "recent-completions",
    ] {
        let read = host.read(&format!("lunatask://area/{AREA}/{view}")).await;
        assert!(read.is_ok(), "{view}: {read:?}");
    }
}

#[tokio::test]
async fn people_lists_count_10000_people_in_16_mib() {
    let fake = FakeApi::start(TOKEN).await;
    for i in 0..PEOPLE {
        fake.seed_person(account::person(i));
    }
    let host = small_sandbox(&fake).await;
    let all = ok(&host.call("list_people", json!({})).await);
    assert_eq!(all["total"], PEOPLE);
    assert_eq!(all["count"], 30);
    let family = ok(&host
        .call(
            "list_people",
            json!({ "relationship_strength": "family", "offset": 3000, "limit": 1000 }),
        )
        .await);
    let families = PEOPLE.div_ceil(3);
    assert_eq!(family["total"], families);
    assert_eq!(family["count"], families - 3000);

    // Each call's guest memory is measured, for sizing LUNATASK_MEMORY_LIMIT_MIB.
    let metrics = host.read("lunatask://metrics").await.unwrap();
    let memory = &metrics["guest_memory_peak_bytes"]["list_people"];
    assert_eq!(memory["count"], 2, "{metrics}");
    let mean = memory["mean"].as_f64().unwrap();
    assert!(
        (1024.0 * 1024.0..=16.0 * 1024.0 * 1024.0).contains(&mean),
        "a mean peak of {mean} bytes, for a 16 MiB sandbox"
    );
    let buckets = memory["buckets"].as_array().unwrap();
    let within = |mib: f64| {
        buckets
            .iter()
            .find(|b| b["le"].as_f64() == Some(mib * 1024.0 * 1024.0))
            .map(|b| b["count"].clone())
    };
    assert_eq!(within(16.0), Some(json!(2)), "{memory}");
}
