//! Undo exactly once: concurrent undos of one action, on one server (SQLite) or across
//! replicas sharing Redis, send one write upstream and record one undo; every other answers
//! who took it back and sends nothing.

use futures::future::join_all;
use lunatask_mcp_tests::{AREA, FakeApi, Redis, ok};
use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use serde_json::{Value, json};

const RACERS: usize = 6;

async fn call(client: &RunningService<RoleClient, ()>, name: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments are an object")
    };
    client
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args))
        .await
        .unwrap()
}

/// Of the undos' answers, how many took the action back; checks the rest say who did.
fn undone_once(answers: &[CallToolResult]) {
    let mut undone = 0;
    for answer in answers {
        let out = ok(answer);
        let item = &out["items"][0];
        match item["result"].as_str() {
            Some("undone") => undone += 1,
            Some("already_undone") => assert!(
                item["message"]
                    .as_str()
                    .unwrap()
                    .contains("already undone by"),
                "{out}"
            ),
            _ => panic!("unexpected: {out}"),
        }
    }
    assert_eq!(undone, 1, "exactly one undo took it back: {answers:?}");
}

/// The writes the fake received with `prefix` (e.g. "PUT /v1/tasks/").
fn sent(fake: &FakeApi, prefix: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| format!("{} {}", r.method, r.path).starts_with(prefix))
        .count()
}

#[tokio::test]
async fn concurrent_undos_of_one_action_take_effect_once_on_one_server() {
    let (fake, host) = crate::setup().await;
    let client = &host.client;
    let created = ok(&call(client, "create_task", json!({ "area_id": AREA })).await);
    let id = created["task"]["id"].as_str().unwrap().to_string();
    ok(&call(
        client,
        "update_task",
        json!({ "task_id": id, "priority": 2 }),
    )
    .await);
    let listed = ok(&call(client, "list_actions", json!({})).await);
    let (update, create) = (
        listed["actions"][0]["id"].clone(),
        listed["actions"][1]["id"].clone(),
    );

    let racing = (0..RACERS).map(|_| call(client, "undo", json!({ "action_id": update })));
    undone_once(&join_all(racing).await);
    assert_eq!(sent(&fake, "PUT /v1/tasks/"), 2, "the update and one undo");
    let undos = ok(&call(client, "list_actions", json!({ "tool": "undo" })).await);
    assert_eq!(undos["count"], 1, "one undo record: {undos}");

    let racing = (0..RACERS).map(|_| call(client, "undo", json!({ "action_id": create })));
    undone_once(&join_all(racing).await);
    assert_eq!(sent(&fake, "DELETE /v1/tasks/"), 1, "one delete");
    let undos = ok(&call(client, "list_actions", json!({ "tool": "undo" })).await);
    assert_eq!(undos["count"], 2, "one undo record more: {undos}");
}

#[tokio::test]
async fn concurrent_undos_across_replicas_sharing_redis_take_effect_once() {
    let redis = Redis::start();
    let token = "lt-dave-undo-race-7c8d9e0f";
    let fake = FakeApi::start(token).await;
    let (one, two) = crate::redis_replicas(&fake, &redis).await;
    let clients = [
        one.client(Some(token)).await.unwrap(),
        two.client(Some(token)).await.unwrap(),
    ];
    let created = ok(&call(&clients[0], "create_task", json!({ "area_id": AREA })).await);
    let id = created["task"]["id"].as_str().unwrap().to_string();
    ok(&call(
        &clients[0],
        "update_task",
        json!({ "task_id": id, "priority": 2 }),
    )
    .await);
    let listed = ok(&call(&clients[1], "list_actions", json!({})).await);
    let (update, create) = (
        listed["actions"][0]["id"].clone(),
        listed["actions"][1]["id"].clone(),
    );

    for (action, write, writes) in [
        (update, "PUT /v1/tasks/", 2),
        (create, "DELETE /v1/tasks/", 1),
    ] {
        let racing =
            (0..RACERS).map(|i| call(&clients[i % 2], "undo", json!({ "action_id": action })));
        undone_once(&join_all(racing).await);
        assert_eq!(sent(&fake, write), writes, "{write}");
    }
    let undos = ok(&call(&clients[0], "list_actions", json!({ "tool": "undo" })).await);
    assert_eq!(undos["count"], 2, "one undo record each: {undos}");
}
