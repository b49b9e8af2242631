//! The foundation: handshake, tool listing, token injection, egress refusal, start-up checks.

use lunatask_mcp_tests::{AREA, FakeApi, Fault, TOKEN, code, correlation_id, err, ok};
use serde_json::{Value, json};

use crate::{builder, setup};

#[tokio::test]
async fn lists_every_tool_with_schemas_and_annotations() {
    let (_fake, host) = setup().await;
    let tools = host.client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in [
        "ping",
        "create_task",
        "update_task",
        "delete_task",
        "get_task",
        "list_tasks",
        "create_note",
        "update_note",
        "delete_note",
        "create_journal_entry",
        "create_person",
        "delete_person",
        "get_person",
        "list_people",
        "create_person_timeline_note",
        "track_habit",
    ] {
        assert!(names.contains(&expected), "missing {expected} in {names:?}");
    }
    for tool in &tools {
        assert!(tool.title.is_some(), "{} has a title", tool.name);
        assert!(
            tool.description.as_ref().is_some_and(|d| d.len() > 40),
            "{}",
            tool.name
        );
        assert_eq!(tool.input_schema["type"], "object", "{}", tool.name);
        let output = tool.output_schema.as_ref().expect("output schema");
        assert_eq!(output["type"], "object", "{}", tool.name);
        // Hints equal to MCP's defaults are left out: read-only false, destructive true,
        // idempotent false, open world true.
        let a = tool.annotations.as_ref().expect("annotations");
        let reads =
            tool.name.starts_with("get_") || tool.name.starts_with("list_") || tool.name == "ping";
        assert_eq!(a.read_only_hint.unwrap_or(false), reads, "{}", tool.name);
        let destructive = tool.name.starts_with("delete_")
            || tool.name.starts_with("update_")
            || tool.name == "undo";
        if !reads {
            assert_eq!(
                a.destructive_hint.unwrap_or(true),
                destructive,
                "{}",
                tool.name
            );
            assert_eq!(
                a.idempotent_hint.unwrap_or(false),
                destructive,
                "{}",
                tool.name
            );
        }
        let defaults = [
            (a.read_only_hint, Some(false)),
            (a.destructive_hint, Some(true)),
            (a.idempotent_hint, Some(false)),
            (a.open_world_hint, Some(true)),
        ];
        assert!(
            defaults.iter().all(|(hint, default)| hint != default),
            "{}: a hint equal to its default is listed: {a:?}",
            tool.name
        );
    }
    // What a model's context pays for the catalog (the bench prints it too).
    let size = lunatask_mcp_tests::catalog_as_model_sees_it(&tools).len();
    assert!(
        size <= 12_000,
        "tools/list as a model sees it: {size} characters"
    );
    let create = tools.iter().find(|t| t.name == "create_task").unwrap();
    assert_eq!(create.input_schema["required"], json!(["area_id"]));
    assert!(create.description.as_ref().unwrap().contains("write-only"));
}

#[tokio::test]
async fn ping_reaches_the_api_with_the_injected_token() {
    let (fake, host) = setup().await;
    let result = host.call("ping", json!({})).await;
    assert_eq!(ok(&result), json!({ "ok": true, "message": "pong" }));
    let requests = fake.requests_to("GET /v1/ping");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("bearer {TOKEN}").as_str())
    );
    // The correlation id in the result is the one the API saw.
    assert_eq!(
        requests[0].header("x-correlation-id"),
        Some(correlation_id(&result).as_str())
    );
    assert!(
        requests[0].header("x-lunatask-mcp-attempt").is_none(),
        "internal header stripped"
    );
}

#[tokio::test]
async fn create_task_sends_the_fields_and_returns_the_task() {
    let (fake, host) = setup().await;
    let result = host
        .call(
            "create_task",
            json!({ "area_id": AREA, "name": "Write report", "note": "details", "priority": 2,
                    "status": "next", "scheduled_on": "2024-05-11", "estimate": 30 }),
        )
        .await;
    let out = ok(&result);
    assert_eq!(out["outcome"], "created");
    let id = out["task"]["id"].as_str().unwrap();
    assert_eq!(out["task"]["priority"], 2);
    assert!(
        out["task"].get("name").is_none(),
        "encrypted fields are never returned"
    );
    let sent = fake.requests_to("POST /v1/tasks");
    assert_eq!(sent.len(), 1);
    let body = sent[0].body.clone().unwrap();
    assert_eq!(body["name"], "Write report");
    assert_eq!(body["area_id"], AREA);
    assert_eq!(body["estimate"], 30);
    assert_eq!(
        body["source"], "lunatask-mcp",
        "an idempotency key is always sent"
    );
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("bearer {TOKEN}").as_str())
    );
    assert!(fake.with(|s| s.tasks.contains_key(id)));
}

#[tokio::test]
async fn a_wrong_token_gives_an_authentication_error_without_retries() {
    let fake = FakeApi::start("the-real-token").await;
    let host = builder()
        .against(&fake)
        .env("LUNATASK_API_TOKEN", TOKEN)
        .start()
        .await;
    let result = host.call("ping", json!({})).await;
    assert_eq!(code(&result), "authentication_error");
    assert_eq!(err(&result)["http_status"], 401);
    assert_eq!(fake.requests().len(), 1, "401 is not retried");
}

/// Without a token the server still starts and lists its tools (a desktop client would only
/// show "disconnected" for one that exits); every call answers authentication_error saying
/// what to set, and sends nothing; `check` fails.
#[tokio::test]
async fn without_a_token_every_call_says_how_to_set_one() {
    let fake = FakeApi::start(TOKEN).await;
    let host = builder()
        .env("LUNATASK_BASE_URL", fake.base_url())
        .start()
        .await;
    let tools = host.client.list_all_tools().await.unwrap();
    assert!(tools.len() >= 16);
    for (tool, args) in [
        ("ping", json!({})),
        ("create_task", json!({ "area_id": AREA, "name": "x" })),
    ] {
        let result = host.call(tool, args).await;
        assert_eq!(code(&result), "authentication_error", "{tool}");
        let message = err(&result)["message"].as_str().unwrap().to_string();
        for needed in ["LUNATASK_API_TOKEN", "LUNATASK_TOKEN_FILE", "restart"] {
            assert!(message.contains(needed), "{tool}: {message}");
        }
        assert!(
            !message.contains("LunaTask rejected"),
            "nothing reached LunaTask: {message}"
        );
    }
    assert!(
        host.stderr().contains("LUNATASK_API_TOKEN"),
        "the log says it too"
    );
    assert!(fake.requests().is_empty(), "nothing was sent");

    // The marker is the host's alone: an API answer that carries it is still LunaTask's.
    let with_token = builder().against(&fake).start().await;
    fake.inject(
        Some("GET /v1/ping"),
        1,
        Fault::Status {
            status: 401,
            headers: vec![("x-lunatask-mcp-no-token".into(), "1".into())],
            body: Some(json!({ "message": "no LunaTask access token: forged" })),
        },
    );
    let forged = with_token.call("ping", json!({})).await;
    let message = err(&forged)["message"].as_str().unwrap().to_string();
    assert!(message.contains("LunaTask rejected"), "{message}");
    assert!(!message.starts_with("This server has"), "{message}");

    let out = builder()
        .env("LUNATASK_BASE_URL", fake.base_url())
        .arg("check")
        .run()
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("LUNATASK_API_TOKEN"));
}

#[tokio::test]
async fn plain_http_to_a_remote_host_stops_start_up() {
    let out = builder()
        .env("LUNATASK_API_TOKEN", TOKEN)
        .env("LUNATASK_BASE_URL", "http://api.lunatask.app/v1")
        .run()
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LUNATASK_BASE_URL") && stderr.contains("loopback"),
        "{stderr}"
    );
}

#[tokio::test]
async fn invalid_arguments_are_rejected_before_anything_is_sent() {
    let (fake, host) = setup().await;
    // A valid create_task with one field made wrong: the error must name that field.
    let wrong = [
        ("priority", json!(3)),
        ("priority", json!("1")),
        ("status", json!("done")),
        ("eisenhower", json!(5)),
        ("estimate", json!(-5)),
        ("motivation", json!("maybe")),
        ("scheduled_on", json!("2024-05-10T10:00:00Z")),
        ("completed_at", json!("2024-05-10")),
        ("area_id", json!("../ping")),
    ];
    let mut cases: Vec<(Value, &str)> = wrong
        .into_iter()
        .map(|(field, value)| (json!({ "area_id": AREA, field: value }), field))
        .collect();
    // And the rest: the field the error must name ("" for any).
    cases.extend([
        (json!({ "name": "no area" }), "area_id"),
        (json!({ "area_id": AREA, "source": "github" }), "source_id"),
        (json!({ "area_id": AREA, "due": "2024-05-10" }), ""),
    ]);
    for (args, field) in cases {
        let result = host.call("create_task", args.clone()).await;
        let error = err(&result);
        assert_eq!(error["code"], "validation_error", "{args}");
        if !field.is_empty() {
            assert_eq!(error["field"], field, "{args}: {error}");
        }
        assert!(error["message"].as_str().unwrap().len() > 10);
    }
    let status = err(&host
        .call("create_task", json!({ "area_id": AREA, "status": "done" }))
        .await);
    let message = status["message"].as_str().unwrap();
    for allowed in lunatask_mcp_tests::api_values::TASK_STATUSES {
        assert!(message.contains(allowed), "{message}");
    }
    assert!(fake.requests().is_empty(), "nothing reached the API");
}

/// Every structured result matches its tool's output schema, as clients that validate
/// (the TypeScript SDK does) check it: no field is `null` where the schema has one type.
#[tokio::test]
async fn structured_results_match_their_output_schemas() {
    let (fake, host) = setup().await;
    let task = fake.seed_task(json!({ "area_id": AREA, "priority": 1 }));
    let person = fake.seed_person(json!({}));
    let habit = "cccccccc-0000-4000-8000-000000000001";
    fake.with(|s| s.habits.push(habit.to_string()));
    let tools = host.client.list_all_tools().await.unwrap();
    let calls = [
        ("ping", json!({})),
        ("create_task", json!({ "area_id": AREA, "name": "x" })),
        ("get_task", json!({ "task_id": task })),
        ("list_tasks", json!({ "limit": 1 })),
        (
            "update_task",
            json!({ "task_id": task, "clear": ["scheduled_on"] }),
        ),
        (
            "create_note",
            json!({ "name": "n", "source": "s", "source_id": "1" }),
        ),
        // The same source again: a duplicate, which carries no note.
        (
            "create_note",
            json!({ "name": "n", "source": "s", "source_id": "1" }),
        ),
        ("create_journal_entry", json!({ "date_on": "2026-12-01" })),
        ("get_person", json!({ "person_id": person })),
        ("list_people", json!({})),
        (
            "track_habit",
            json!({ "habit_id": habit, "performed_on": "2026-12-01" }),
        ),
        ("delete_task", json!({ "task_id": task })),
    ];
    for (name, args) in calls {
        let tool = tools.iter().find(|t| t.name == name).unwrap();
        let schema = serde_json::Value::Object(
            tool.output_schema
                .as_ref()
                .expect("an output schema")
                .as_ref()
                .clone(),
        );
        let validator = jsonschema::validator_for(&schema).unwrap();
        let result = ok(&host.call(name, args).await);
        let errors: Vec<String> = validator
            .iter_errors(&result)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}\n{result}");
    }
}
