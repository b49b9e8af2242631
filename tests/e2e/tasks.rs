//! Task tools against the fake: success, each documented error, duplicates, filters.

use lunatask_mcp_tests::{AREA, Fault, MISSING_ID, code, err, ok, task_ids};
use serde_json::json;

use crate::setup;

const OTHER_AREA: &str = "aaaaaaaa-0000-4000-8000-000000000002";

#[tokio::test]
async fn get_update_and_delete_a_task() {
    let (fake, host) = setup().await;
    let id = fake.seed_task(json!({ "area_id": AREA, "priority": 1 }));

    let got = ok(&host.call("get_task", json!({ "task_id": id })).await);
    assert_eq!(got["task"]["id"], id);
    assert_eq!(got["task"]["priority"], 1);

    let updated = ok(&host
        .call(
            "update_task",
            json!({ "task_id": id, "status": "started", "scheduled_on": null, "name": "secret" }),
        )
        .await);
    assert_eq!(updated["task"]["status"], "started");
    let put = fake.requests_to("PUT /v1/tasks/");
    assert_eq!(put.len(), 1);
    assert_eq!(put[0].path, format!("/v1/tasks/{id}"));
    let body = put[0].body.clone().unwrap();
    assert_eq!(
        body,
        json!({ "status": "started", "scheduled_on": null, "name": "secret" }),
        "only the given fields are sent; null clears"
    );

    let deleted = ok(&host.call("delete_task", json!({ "task_id": id })).await);
    assert_eq!(deleted["deleted"], true);
    assert!(deleted["task"]["deleted_at"].is_string());
    assert!(fake.with(|s| s.tasks.is_empty()));

    // A second delete, and reads of a missing task, are not_found naming the id.
    for (tool, args) in [
        ("delete_task", json!({ "task_id": id })),
        ("get_task", json!({ "task_id": MISSING_ID })),
        (
            "update_task",
            json!({ "task_id": MISSING_ID, "priority": 1 }),
        ),
    ] {
        let result = host.call(tool, args).await;
        assert_eq!(code(&result), "not_found", "{tool}");
        assert_eq!(err(&result)["http_status"], 404);
        assert!(err(&result)["message"].as_str().unwrap().contains("task"));
    }
}

/// `clear` lists the fields to clear (the schema has no nulls); a field both set and cleared
/// is refused before anything is sent; `null` still clears, as it did before `clear`.
#[tokio::test]
async fn update_task_clears_the_fields_listed_in_clear() {
    let (fake, host) = setup().await;
    let id =
        fake.seed_task(json!({ "area_id": AREA, "scheduled_on": "2026-01-02", "estimate": 30 }));
    ok(&host
        .call(
            "update_task",
            json!({ "task_id": id, "clear": ["scheduled_on", "estimate"], "priority": 1 }),
        )
        .await);
    let put = fake.requests_to("PUT /v1/tasks/");
    assert_eq!(
        put[0].body.clone().unwrap(),
        json!({ "scheduled_on": null, "estimate": null, "priority": 1 })
    );
    let both = host
        .call(
            "update_task",
            json!({ "task_id": id, "clear": ["scheduled_on"], "scheduled_on": "2026-02-03" }),
        )
        .await;
    assert_eq!(code(&both), "validation_error");
    assert!(lunatask_mcp_tests::message(&both).contains("scheduled_on"));
    let unknown = host
        .call("update_task", json!({ "task_id": id, "clear": ["name"] }))
        .await;
    assert_eq!(code(&unknown), "validation_error");
    fake.assert_sent("PUT /v1/tasks/", 1, "refusals sent nothing");
}

#[tokio::test]
async fn an_update_needs_at_least_one_field() {
    let (fake, host) = setup().await;
    let result = host
        .call("update_task", json!({ "task_id": MISSING_ID }))
        .await;
    assert_eq!(code(&result), "validation_error");
    assert!(lunatask_mcp_tests::message(&result).contains("priority"));
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_duplicate_source_is_reported_with_the_existing_task() {
    let (fake, host) = setup().await;
    let existing = fake.seed_task(json!({ "area_id": AREA,
        "sources": [{ "source": "github", "source_id": "issue-7" }] }));
    let result = host
        .call(
            "create_task",
            json!({ "area_id": AREA, "name": "dup", "source": "github", "source_id": "issue-7" }),
        )
        .await;
    let out = ok(&result);
    assert_eq!(out["outcome"], "duplicate");
    assert_eq!(out["task"]["id"], existing);
    assert_eq!(fake.with(|s| s.tasks.len()), 1, "nothing created");
    let lookup = fake.requests_to("GET /v1/tasks");
    assert_eq!(lookup.len(), 1);
    assert_eq!(
        lookup[0].query.as_deref(),
        Some("source=github&source_id=issue-7")
    );
}

#[tokio::test]
async fn documented_error_statuses_map_to_stable_codes() {
    let (fake, host) = setup().await;
    for (status, expected) in [
        (400, "validation_error"),
        (402, "subscription_required"),
        (404, "not_found"),
        (422, "validation_error"),
    ] {
        fake.inject(Some("POST /v1/tasks"), 1, Fault::status(status));
        let result = host.call("create_task", json!({ "area_id": AREA })).await;
        assert_eq!(code(&result), expected, "{status}");
        assert_eq!(err(&result)["http_status"], status);
        assert_eq!(err(&result)["retryable"], false);
        assert_eq!(err(&result)["outcome"], "not_applied");
    }
    assert!(fake.with(|s| s.tasks.is_empty()));
    fake.assert_sent("POST /v1/tasks", 4, "4xx is never retried");
}

#[tokio::test]
async fn list_tasks_filters_sorts_and_limits_on_our_side() {
    let (fake, host) = setup().await;
    let low =
        fake.seed_task(json!({ "area_id": AREA, "priority": -1, "scheduled_on": "2024-05-01" }));
    let high =
        fake.seed_task(json!({ "area_id": AREA, "priority": 2, "scheduled_on": "2024-05-20" }));
    let done = fake.seed_task(
        json!({ "area_id": AREA, "priority": 1, "status": "completed",
        "completed_at": "2024-05-09T08:00:00Z" }),
    );
    let elsewhere =
        fake.seed_task(json!({ "area_id": OTHER_AREA, "priority": 1, "status": "next" }));

    let all = ok(&host.call("list_tasks", json!({})).await);
    assert_eq!(
        task_ids(&all),
        vec![high.clone(), done.clone(), elsewhere.clone(), low.clone()]
    );
    assert_eq!(all["total"], 4);

    let open_here = ok(&host
        .call("list_tasks", json!({ "area_id": AREA, "status": "open" }))
        .await);
    assert_eq!(task_ids(&open_here), vec![high.clone(), low.clone()]);

    let urgent = ok(&host
        .call("list_tasks", json!({ "min_priority": 1, "status": "open" }))
        .await);
    assert_eq!(task_ids(&urgent), vec![high.clone(), elsewhere.clone()]);

    let window = ok(&host
        .call("list_tasks", json!({ "scheduled_from": "2024-05-01", "scheduled_to": "2024-05-10", "sort": "scheduled_on" }))
        .await);
    assert_eq!(task_ids(&window), vec![low.clone()]);

    let recent = ok(&host
        .call(
            "list_tasks",
            json!({ "completed_since": "2024-05-09T00:00:00Z" }),
        )
        .await);
    assert_eq!(task_ids(&recent), vec![done.clone()]);

    let limited = ok(&host.call("list_tasks", json!({ "limit": 1 })).await);
    assert_eq!(limited["count"], 1);
    assert_eq!(limited["total"], 4);

    let bad = host
        .call(
            "list_tasks",
            json!({ "scheduled_from": "2024-05-10", "scheduled_to": "2024-05-01" }),
        )
        .await;
    assert_eq!(code(&bad), "validation_error");
    let bad = host.call("list_tasks", json!({ "limit": 0 })).await;
    assert_eq!(err(&bad)["field"], "limit");
    let bad = host.call("list_tasks", json!({ "sort": "name" })).await;
    assert_eq!(err(&bad)["field"], "sort");
}

#[tokio::test]
async fn ids_are_percent_encoded_into_paths() {
    let (fake, host) = setup().await;
    // Upper-case hex passes validation and is sent exactly as given, in one path segment.
    let id = "ABCDEF01-0000-4000-8000-000000000001";
    let result = host.call("get_task", json!({ "task_id": id })).await;
    assert_eq!(code(&result), "not_found");
    let sent = fake.requests_to("GET /v1/tasks/");
    assert_eq!(sent[0].path, format!("/v1/tasks/{id}"));
}

/// Fields LunaTask may add later reach the agent unchanged, but null or empty ones are left
/// out (lean answers); a task without its id is an upstream error, never a task with an
/// empty id.
#[tokio::test]
async fn fields_the_api_adds_later_pass_through_and_broken_tasks_are_refused() {
    let (fake, host) = setup().await;
    let extra = json!(["x", { "deep": 1.5 }]);
    let id = fake.seed_task(json!({ "area_id": AREA, "labels": extra, "color": null }));

    let got = ok(&host.call("get_task", json!({ "task_id": id })).await);
    assert_eq!(got["task"]["labels"], extra);
    let task = got["task"].as_object().unwrap();
    assert!(!task.contains_key("color"), "a null field is left out");
    assert!(
        !task.contains_key("goal_id"),
        "so is an unset one: {task:?}"
    );
    assert!(!task.contains_key("sources"), "and an empty list");
    let listed = ok(&host.call("list_tasks", json!({})).await);
    assert_eq!(listed["tasks"][0]["labels"], extra);

    fake.with(|s| {
        let task = s.tasks.get_mut(&id).unwrap().as_object_mut().unwrap();
        task.remove("id");
    });
    let broken = host.call("list_tasks", json!({})).await;
    assert_eq!(code(&broken), "upstream_error");
    let message = err(&broken)["message"].as_str().unwrap().to_string();
    assert!(message.contains("missing field `id`"), "{message}");
}

/// A big account's default list is one lean page: at most 30 tasks with no null or empty
/// fields, under 16,000 characters of text, with the total, the next offset and a hint; the
/// next page starts where the first ended.
#[tokio::test]
async fn a_big_accounts_default_list_is_one_lean_page() {
    let (fake, host) = setup().await;
    for i in 0..1_000 {
        fake.seed_task(json!({
            "area_id": AREA, "goal_id": OTHER_AREA, "status": "next", "priority": i % 5 - 2,
            "estimate": 30, "progress": 10, "scheduled_on": "2026-12-24",
            "sources": [{ "source": "github", "source_id": format!("issue-{i}") }],
        }));
    }
    let first = host.call("list_tasks", json!({})).await;
    let text = lunatask_mcp_tests::text(&first);
    let out = ok(&first);
    assert_eq!(out["count"], 30);
    assert_eq!(out["total"], 1_000);
    assert_eq!(out["next_offset"], 30);
    assert!(
        out["hint"].as_str().unwrap().contains("offset 30"),
        "{}",
        out["hint"]
    );
    assert!(
        text.len() <= 16_000,
        "the default answer is {} characters",
        text.len()
    );
    assert!(!text.contains("null"), "no null fields: {text:.400}");

    let second = ok(&host
        .call("list_tasks", json!({ "offset": 30, "limit": 50 }))
        .await);
    let (a, b) = (task_ids(&out), task_ids(&second));
    assert_eq!(b.len(), 50);
    assert!(a.iter().all(|id| !b.contains(id)), "pages do not overlap");
    let last = ok(&host.call("list_tasks", json!({ "offset": 990 })).await);
    assert_eq!(last["count"], 10);
    assert!(last.get("next_offset").is_none() && last.get("hint").is_none());
}
