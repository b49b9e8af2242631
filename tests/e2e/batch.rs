//! Batch tools: every item checked first, each sent once with its own key, each reported;
//! faults mid-batch lose nothing and double nothing; progress per item.

use lunatask_mcp_tests::{AREA, FakeApi, Fault, MISSING_ID, RawStdio, err, ok};
use serde_json::{Value, json};

use crate::{prepare, setup};

/// A server spoken to in raw JSON-RPC, at `rpm` requests a minute, `burst` at once.
async fn rate_limited(rpm: &str, burst: &str) -> (FakeApi, RawStdio) {
    let limits = [
        ("LUNATASK_RATE_LIMIT_RPM", rpm),
        ("LUNATASK_RATE_LIMIT_BURST", burst),
    ];
    let (fake, builder) = prepare(&limits).await;
    (fake, builder.start_raw().await)
}

fn tasks(n: usize) -> Value {
    (0..n)
        .map(|i| json!({ "area_id": AREA, "name": format!("step {i}"), "priority": 1 }))
        .collect()
}

fn statuses(items: &Value) -> Vec<&str> {
    let items = items.as_array().expect("items");
    items
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect()
}

fn task_ids(items: &Value) -> Vec<String> {
    let items = items.as_array().expect("items");
    items
        .iter()
        .map(|i| i["task_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn create_tasks_creates_each_once_and_its_batch_id_makes_a_retry_double_nothing() {
    let (fake, host) = setup().await;
    let mut batch = tasks(3);
    batch[2]["source"] = "github".into();
    batch[2]["source_id"] = "issue-7".into();
    let first = ok(&host.call("create_tasks", json!({ "tasks": batch })).await);
    assert_eq!(statuses(&first["items"]), ["created"; 3]);
    let ids = task_ids(&first["items"]);
    let batch_id = first["batch_id"].as_str().unwrap().to_string();
    assert_eq!(fake.with(|s| s.tasks.len()), 3);

    // Each POST carried its own key: the batch's for items without a pair, the item's own.
    let posts = fake.requests_to("POST /v1/tasks");
    let keys: Vec<(Value, Value)> = posts
        .iter()
        .map(|r| {
            let body = r.body.as_ref().unwrap();
            (body["source"].clone(), body["source_id"].clone())
        })
        .collect();
    assert_eq!(
        keys,
        [
            (json!("lunatask-mcp"), json!(format!("{batch_id}-0"))),
            (json!("lunatask-mcp"), json!(format!("{batch_id}-1"))),
            (json!("github"), json!("issue-7")),
        ]
    );
    assert_eq!(first["items"][2]["source"]["source_id"], "issue-7");

    // The same batch again with its id: all found, none created.
    let again = ok(&host
        .call(
            "create_tasks",
            json!({ "tasks": batch, "batch_id": batch_id }),
        )
        .await);
    assert_eq!(statuses(&again["items"]), ["duplicate"; 3]);
    assert_eq!(task_ids(&again["items"]), ids);
    assert_eq!(again["batch_id"], batch_id.as_str());
    assert_eq!(fake.with(|s| s.tasks.len()), 3, "nothing doubled");
}

#[tokio::test]
async fn a_lost_answer_and_a_503_mid_batch_lose_nothing_and_double_nothing() {
    let (fake, host) = setup().await;
    // The third create is applied but its answer lost; the next POST after that retry
    // (the fourth task) gets a 503 once.
    fake.inject_after(Some("POST /v1/tasks"), 2, 1, Fault::DropAfterApply);
    fake.inject_after(Some("POST /v1/tasks"), 4, 1, Fault::status(503));
    let created = ok(&host
        .call("create_tasks", json!({ "tasks": tasks(5) }))
        .await);
    assert_eq!(fake.pending_faults(), 0, "both faults happened");
    assert_eq!(statuses(&created["items"]), ["created"; 5]);
    let mut ids = task_ids(&created["items"]);
    let mut stored: Vec<String> = fake.with(|s| s.tasks.keys().cloned().collect());
    ids.sort();
    stored.sort();
    assert_eq!(
        ids, stored,
        "one task per item, each reported with its own id"
    );
}

#[tokio::test]
async fn a_failed_item_fails_the_batch_and_every_item_says_what_became_of_it() {
    let (fake, host) = setup().await;
    let a = fake.seed_task(json!({ "area_id": AREA, "status": "next" }));
    let b = fake.seed_task(json!({ "area_id": AREA }));
    let updates = json!({ "tasks": [
        { "task_id": a, "status": "completed" },
        { "task_id": MISSING_ID, "priority": 2 },
        { "task_id": b, "scheduled_on": "2026-12-04" },
    ]});
    let result = host.call("update_tasks", updates).await;
    let error = err(&result);
    assert_eq!(error["code"], "not_found", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("1 of 3"),
        "{error}"
    );
    assert_eq!(statuses(&error["items"]), ["updated", "failed", "updated"]);
    assert_eq!(error["items"][1]["task_id"], MISSING_ID);
    assert_eq!(error["items"][1]["error"]["code"], "not_found");
    assert_eq!(fake.with(|s| s.tasks[&a]["status"].clone()), "completed");
    assert_eq!(
        fake.with(|s| s.tasks[&b]["scheduled_on"].clone()),
        "2026-12-04"
    );
}

#[tokio::test]
async fn every_item_is_checked_before_anything_is_sent() {
    let (fake, host) = setup().await;
    let mut batch = tasks(3);
    batch[1]["priority"] = 9.into();
    let error = err(&host.call("create_tasks", json!({ "tasks": batch })).await);
    assert_eq!(error["code"], "validation_error");
    assert_eq!(error["field"], "tasks[1].priority", "{error}");
    let mut batch = tasks(2);
    batch[1]["source"] = "github".into();
    let error = err(&host.call("create_tasks", json!({ "tasks": batch })).await);
    assert_eq!(error["field"], "tasks[1].source_id", "{error}");
    let error = err(&host
        .call("create_tasks", json!({ "tasks": tasks(51) }))
        .await);
    assert_eq!(error["field"], "tasks", "{error}");
    assert!(error["message"].as_str().unwrap().contains("50"), "{error}");
    let empty = json!({ "tasks": [{ "task_id": AREA }] });
    let error = err(&host.call("update_tasks", empty).await);
    assert_eq!(
        error["field"], "tasks[0]",
        "an update that changes nothing: {error}"
    );
    assert!(fake.requests().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_rejected_token_stops_the_batch_and_the_rest_is_not_sent() {
    let (fake, host) = setup().await;
    fake.inject(Some("POST /v1/tasks"), 1, Fault::status(401));
    let error = err(&host
        .call("create_tasks", json!({ "tasks": tasks(3) }))
        .await);
    assert_eq!(error["code"], "authentication_error", "{error}");
    assert_eq!(
        statuses(&error["items"]),
        ["failed", "not_attempted", "not_attempted"]
    );
    assert_eq!(error["items"][1]["error"]["outcome"], "not_applied");
    fake.assert_sent("POST /v1/tasks", 1, "the rest was not sent");
}

#[tokio::test]
async fn a_batch_reports_progress_per_item_when_asked() {
    let (_fake, builder) = prepare(&[]).await;
    let mut raw = builder.start_raw().await;
    let call = |id: i64, meta: Value| {
        json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "create_tasks", "arguments": { "tasks": tasks(3) }, "_meta": meta } })
    };
    raw.send(
        call(1, json!({ "progressToken": "batch-1" }))
            .to_string()
            .as_bytes(),
    )
    .await;
    let (answer, before) = raw.answer(1).await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let progress: Vec<&Value> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    let done: Vec<f64> = progress
        .iter()
        .map(|m| m["params"]["progress"].as_f64().unwrap())
        .collect();
    assert_eq!(done, [1.0, 2.0, 3.0], "{before:?}");
    for m in &progress {
        assert_eq!(m["params"]["progressToken"], "batch-1");
        assert_eq!(m["params"]["total"], 3.0);
        assert!(m["params"]["message"].as_str().unwrap().contains("created"));
    }

    raw.send(call(2, json!({})).to_string().as_bytes()).await;
    let (_, before) = raw.answer(2).await;
    assert!(before.is_empty(), "no progress unless asked: {before:?}");
}

/// Cancelling a batch stops it: no item not yet sent is sent, and the progress already
/// reported says which items were done.
#[tokio::test]
async fn a_cancelled_batch_sends_no_further_item() {
    let (fake, mut raw) = rate_limited("60", "2").await;
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "create_tasks", "arguments": { "tasks": tasks(10) },
        "_meta": { "progressToken": 7 } } });
    raw.send(call.to_string().as_bytes()).await;
    let mut done = 0.0;
    while done < 2.0 {
        let message = raw.next_message().await;
        assert_eq!(message["method"], "notifications/progress", "{message}");
        done = message["params"]["progress"].as_f64().unwrap();
    }
    let cancel = json!({ "jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": { "requestId": 1, "reason": "changed my mind" } });
    raw.send(cancel.to_string().as_bytes()).await;
    // Long enough for two more items at one a second, had the batch gone on.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    fake.assert_sent("POST /v1/tasks", 2, "only the items done were sent");
    assert_eq!(fake.with(|s| s.tasks.len()), 2);
    // The server serves the next call as usual.
    let ping = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "ping", "arguments": {} } });
    raw.send(ping.to_string().as_bytes()).await;
    let (answer, _) = raw.answer(2).await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
}

/// Any call that waits on the rate limit for more than a moment says so, when asked for
/// progress; the value moves without claiming an item done.
#[tokio::test]
async fn a_call_waiting_on_the_rate_limit_reports_it() {
    let (_fake, mut raw) = rate_limited("30", "1").await;
    let ping = |id: i64| {
        json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "ping", "arguments": {}, "_meta": { "progressToken": format!("p{id}") } } })
    };
    raw.send(ping(1).to_string().as_bytes()).await;
    let (_, before) = raw.answer(1).await;
    assert!(
        before.is_empty(),
        "the first request takes the burst: {before:?}"
    );
    raw.send(ping(2).to_string().as_bytes()).await;
    let (answer, before) = raw.answer(2).await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let [waiting] = before.as_slice() else {
        panic!("one progress notification while waiting: {before:?}")
    };
    assert_eq!(waiting["method"], "notifications/progress");
    assert_eq!(waiting["params"]["progressToken"], "p2");
    assert_eq!(waiting["params"]["progress"], 0.5);
    let message = waiting["params"]["message"].as_str().unwrap();
    assert!(message.contains("LUNATASK_RATE_LIMIT_RPM"), "{message}");
}
