//! The action journal and undo, through the real binary: what is recorded (and what never
//! is), where it survives, what undo takes back and what it refuses.

use std::time::Duration;

use lunatask_mcp_tests::{AREA, FakeApi, Fault, TOKEN, err, fresh_state_dir, ok};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::builder;

/// Words only user text holds: none may reach the journal.
const SECRET: &str = "Sekrit-Groceries";

fn actions(out: &Value) -> Vec<Value> {
    out["actions"].as_array().expect("actions").clone()
}

fn field<'a>(action: &'a Value, name: &str) -> &'a Value {
    action["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == name)
        .unwrap_or_else(|| panic!("no change to {name} in {action}"))
}

#[tokio::test]
async fn the_journal_lists_what_was_done_without_user_text_and_survives_a_restart() {
    let fake = FakeApi::start(TOKEN).await;
    let state = fresh_state_dir();
    let host = builder()
        .against(&fake)
        .env("LUNATASK_STATE_DIR", state.display())
        .start()
        .await;
    let created = ok(&host
        .call(
            "create_task",
            json!({ "area_id": AREA, "name": SECRET, "note": SECRET, "priority": 1 }),
        )
        .await);
    let id = created["task"]["id"].as_str().unwrap().to_string();
    ok(&host
        .call(
            "update_task",
            json!({ "task_id": id, "priority": 2, "name": SECRET }),
        )
        .await);
    let listed = ok(&host.call("list_actions", json!({})).await);
    assert_eq!(listed["mode"], "full");
    let all = actions(&listed);
    assert_eq!(all.len(), 2, "{listed}");
    let (update, create) = (&all[0], &all[1]);
    assert_eq!(
        (&update["tool"], &update["operation"], &update["outcome"]),
        (&json!("update_task"), &json!("update"), &json!("applied"))
    );
    assert_eq!(update["entity_id"], id.as_str());
    assert_eq!(
        field(update, "priority")["before"],
        1,
        "read before the write"
    );
    assert_eq!(field(update, "priority")["after"], 2);
    assert_eq!(
        field(update, "name"),
        &json!({ "field": "name", "text": true })
    );
    assert_eq!(
        create["entity_id"],
        id.as_str(),
        "the created id, from the answer"
    );
    assert_eq!(create["kind"], "task");
    assert_ne!(update["correlation_id"], create["correlation_id"]);
    assert!(!listed.to_string().contains(SECRET), "{listed}");

    // The resources show the same, filtered.
    let by_tool = host
        .read("lunatask://actions?tool=create_task")
        .await
        .unwrap();
    assert_eq!(actions(&by_tool).len(), 1);
    let one = host
        .read(&format!(
            "lunatask://actions/{}",
            update["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(one["id"], update["id"]);
    let future = host
        .read("lunatask://actions?since=2999-01-01")
        .await
        .unwrap();
    assert_eq!(future["count"], 0);
    assert!(host.read("lunatask://actions?colour=red").await.is_err());
    host.stop().await;

    // Nothing of the user's text on disk either.
    for entry in std::fs::read_dir(&state).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "user text on disk"
        );
    }
    let again = builder()
        .against(&fake)
        .env("LUNATASK_STATE_DIR", state.display())
        .start()
        .await;
    let listed = ok(&again.call("list_actions", json!({})).await);
    assert_eq!(actions(&listed).len(), 2, "kept across a restart: {listed}");
}

#[tokio::test]
async fn undo_deletes_what_a_create_made_and_restores_what_an_update_changed() {
    let (fake, host) = crate::setup().await;
    let created = ok(&host.call("create_task", json!({ "area_id": AREA })).await);
    let id = created["task"]["id"].as_str().unwrap().to_string();
    let create = actions(&ok(&host.call("list_actions", json!({})).await))[0].clone();

    ok(&host
        .call(
            "update_task",
            json!({ "task_id": id, "priority": 2, "status": "next", "scheduled_on": "2026-12-24" }),
        )
        .await);
    let update = actions(&ok(&host.call("list_actions", json!({ "limit": 1 })).await))[0].clone();
    let undone = ok(&host
        .call("undo", json!({ "action_id": update["id"] }))
        .await);
    assert_eq!(undone["undone"], 1, "{undone}");
    let task = fake.with(|s| s.tasks[&id].clone());
    assert_eq!(
        (&task["priority"], &task["status"], &task["scheduled_on"]),
        (&json!(0), &json!("later"), &Value::Null),
        "the prior values are back: {task}"
    );
    let sent = fake.requests_to(&format!("PUT /v1/tasks/{id}"));
    assert_eq!(
        sent.last().unwrap().body,
        // completed_at too: a status change may move it on LunaTask's side.
        Some(
            json!({ "priority": 0, "status": "later", "scheduled_on": null, "completed_at": null })
        )
    );

    // Completing a task moves completed_at on LunaTask's side; its undo puts it back too.
    ok(&host
        .call(
            "update_task",
            json!({ "task_id": id, "status": "completed" }),
        )
        .await);
    assert!(fake.with(|s| s.tasks[&id]["completed_at"].is_string()));
    let completed =
        actions(&ok(&host.call("list_actions", json!({ "limit": 1 })).await))[0].clone();
    assert_eq!(
        field(&completed, "completed_at"),
        &json!({ "field": "completed_at", "before": null })
    );
    ok(&host
        .call("undo", json!({ "action_id": completed["id"] }))
        .await);
    let task = fake.with(|s| s.tasks[&id].clone());
    assert_eq!(
        (&task["status"], &task["completed_at"]),
        (&json!("later"), &Value::Null),
        "{task}"
    );

    // Undone already: said so, nothing sent.
    let before = fake.request_count();
    let twice = ok(&host
        .call("undo", json!({ "action_id": update["id"] }))
        .await);
    assert_eq!(twice["items"][0]["result"], "already_undone");
    assert_eq!(fake.request_count(), before);

    let undone = ok(&host
        .call("undo", json!({ "action_id": create["id"] }))
        .await);
    assert_eq!(undone["items"][0]["result"], "undone", "{undone}");
    assert!(fake.with(|s| s.tasks.get(&id).is_none_or(|t| !t["deleted_at"].is_null())));
    // The undos are journaled, as undoing their actions.
    let listed = ok(&host.call("list_actions", json!({ "tool": "undo" })).await);
    let undos = actions(&listed);
    assert_eq!(undos.len(), 3);
    assert_eq!(undos[0]["undoes"], create["id"]);
    assert_eq!(undos[1]["undoes"], completed["id"]);
    assert_eq!(undos[2]["undoes"], update["id"]);
    let marked = host
        .read(&format!(
            "lunatask://actions/{}",
            create["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    assert_eq!(marked["undone_by"], undos[0]["id"]);
}

#[tokio::test]
async fn undo_changes_nothing_when_the_task_was_changed_since() {
    let (fake, host) = crate::setup().await;
    let id = fake.seed_task(json!({ "area_id": AREA, "priority": 0 }));
    ok(&host
        .call("update_task", json!({ "task_id": id, "priority": 2 }))
        .await);
    let update = actions(&ok(&host.call("list_actions", json!({})).await))[0].clone();
    // Someone else (the app) changes it again.
    fake.with(|s| s.tasks.get_mut(&id).unwrap()["priority"] = json!(1));
    let puts = fake.requests_to("PUT /v1/tasks/").len();
    let refused = host
        .call("undo", json!({ "action_id": update["id"] }))
        .await;
    let error = err(&refused);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("changed since") && message.contains("priority is now 1"),
        "{message}"
    );
    assert_eq!(
        fake.requests_to("PUT /v1/tasks/").len(),
        puts,
        "nothing sent"
    );
    assert_eq!(fake.with(|s| s.tasks[&id]["priority"].clone()), 1);
}

#[tokio::test]
async fn what_cannot_be_undone_says_so_and_sends_nothing() {
    let (fake, host) = crate::setup().await;
    let id = fake.seed_task(json!({ "area_id": AREA }));
    let habit = "bbbbbbbb-0000-4000-8000-000000000002";
    fake.with(|s| s.habits.push(habit.to_string()));
    ok(&host
        .call(
            "create_journal_entry",
            json!({ "date_on": "2026-12-01", "content": SECRET }),
        )
        .await);
    ok(&host.call("delete_task", json!({ "task_id": id })).await);
    ok(&host
        .call(
            "track_habit",
            json!({ "habit_id": habit, "performed_on": "2026-12-01" }),
        )
        .await);
    let listed = actions(&ok(&host.call("list_actions", json!({})).await));
    let before = fake.request_count();
    for (action, says) in listed.iter().zip([
        "cannot untrack a habit",
        "cannot restore a deleted record",
        "cannot delete journal entries",
    ]) {
        let refused = host
            .call("undo", json!({ "action_id": action["id"] }))
            .await;
        let error = err(&refused);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("cannot be undone") && message.contains(says),
            "{message}"
        );
    }
    assert_eq!(fake.request_count(), before, "nothing was sent");
    let unknown = host
        .call(
            "undo",
            json!({ "action_id": lunatask_mcp_tests::MISSING_ID }),
        )
        .await;
    assert_eq!(err(&unknown)["code"], "not_found");
    let neither = host.call("undo", json!({})).await;
    assert_eq!(err(&neither)["code"], "validation_error");
}

/// The server is killed while the second task of a batch is in flight: the first was
/// answered by LunaTask and its record says applied, the second's says pending.
#[tokio::test]
async fn a_crash_mid_call_leaves_every_record_written() {
    let fake = FakeApi::start(TOKEN).await;
    let state = fresh_state_dir();
    fake.inject_after(
        Some("POST /v1/tasks"),
        1,
        1,
        Fault::Delay(Duration::from_secs(60)),
    );
    let http = builder()
        .against(&fake)
        .env("LUNATASK_STATE_DIR", state.display())
        .start_http()
        .await;
    let client = http.client(None).await.unwrap();
    let batch = json!({ "tasks": [{ "area_id": AREA }, { "area_id": AREA }] });
    let call = tokio::spawn(async move {
        let Value::Object(arguments) = batch else {
            unreachable!()
        };
        let _ = client
            .call_tool(CallToolRequestParams::new("create_tasks").with_arguments(arguments))
            .await;
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while fake.requests_to("POST /v1/tasks").len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second create was sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut http = http;
    http.child.kill().await.unwrap();
    call.abort();

    let host = builder()
        .against(&fake)
        .env("LUNATASK_STATE_DIR", state.display())
        .start()
        .await;
    let listed = actions(&ok(&host.call("list_actions", json!({})).await));
    let outcomes: Vec<&str> = listed
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["pending", "applied"], "{listed:?}");
    let made = fake.with(|s| s.tasks.keys().next().cloned().unwrap());
    assert_eq!(listed[1]["entity_id"], made.as_str());
    assert_eq!(listed[0]["correlation_id"], listed[1]["correlation_id"]);
    // A pending create is not undone blindly.
    let refused = host
        .call("undo", json!({ "action_id": listed[0]["id"] }))
        .await;
    assert!(
        err(&refused)["message"]
            .as_str()
            .unwrap()
            .contains("unknown")
    );
}

async fn call(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    name: &str,
    arguments: Value,
) -> rmcp::model::CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments are an object")
    };
    let request = CallToolRequestParams::new(name.to_string()).with_arguments(arguments);
    client.call_tool(request).await.unwrap()
}

#[tokio::test]
async fn each_user_of_a_multi_user_server_has_their_own_journal() {
    let alice_token = "lt-alice-journal-1b2c3d4e";
    let bob_token = "lt-bob-journal-6a7b8c9d";
    let mut fakes = FakeApi::start_accounts(&[alice_token, bob_token]).await;
    let _bob = fakes.pop().unwrap();
    let alice = fakes.pop().unwrap();
    let state = fresh_state_dir();
    let start = || {
        builder()
            .multi_user(&alice)
            .env("LUNATASK_STATE_DIR", state.display())
            .start_http()
    };
    let http = start().await;
    let as_alice = http.client(Some(alice_token)).await.unwrap();
    let as_bob = http.client(Some(bob_token)).await.unwrap();
    ok(&call(&as_alice, "create_task", json!({ "area_id": AREA })).await);
    ok(&call(&as_alice, "create_task", json!({ "area_id": AREA })).await);
    ok(&call(&as_bob, "create_task", json!({ "area_id": AREA })).await);
    let count = |out: Value| actions(&out).len();
    assert_eq!(
        count(ok(&call(&as_alice, "list_actions", json!({})).await)),
        2
    );
    let bobs = ok(&call(&as_bob, "list_actions", json!({})).await);
    assert_eq!(count(bobs.clone()), 1);
    // Bob cannot undo Alice's action: it is not in his journal.
    let alices = ok(&call(&as_alice, "list_actions", json!({})).await);
    let refused = call(
        &as_bob,
        "undo",
        json!({ "action_id": actions(&alices)[0]["id"] }),
    )
    .await;
    assert_eq!(err(&refused)["code"], "not_found");
    drop(as_alice);
    drop(as_bob);
    let _ = http.terminate().await;

    // After a restart, each still finds their own (the users' hash key is kept).
    let http = start().await;
    let as_alice = http.client(Some(alice_token)).await.unwrap();
    assert_eq!(
        count(ok(&call(&as_alice, "list_actions", json!({})).await)),
        2
    );
}

/// Replicas sharing Redis share the journal: what one recorded, another lists and undoes.
#[tokio::test]
async fn replicas_sharing_redis_share_each_users_journal() {
    let redis = lunatask_mcp_tests::Redis::start();
    let token = "lt-carol-journal-5e6f7a8b";
    let fake = FakeApi::start(token).await;
    let (one, two) = crate::redis_replicas(&fake, &redis).await;
    let (on_one, on_two) = (
        one.client(Some(token)).await.unwrap(),
        two.client(Some(token)).await.unwrap(),
    );
    let created = ok(&call(&on_one, "create_task", json!({ "area_id": AREA })).await);
    let id = created["task"]["id"].as_str().unwrap().to_string();
    let listed = ok(&call(&on_two, "list_actions", json!({})).await);
    let all = actions(&listed);
    assert_eq!(all.len(), 1, "{listed}");
    assert_eq!(all[0]["entity_id"], id.as_str());
    let undone = ok(&call(&on_two, "undo", json!({ "action_id": all[0]["id"] })).await);
    assert_eq!(undone["undone"], 1);
    let marked = actions(&ok(&call(
        &on_one,
        "list_actions",
        json!({ "tool": "create_task" }),
    )
    .await));
    assert!(marked[0]["undone_by"].is_string(), "{marked:?}");
}

/// A damaged or unwritable journal stops start-up with what to do, never runs without it.
#[tokio::test]
async fn a_damaged_or_unwritable_journal_stops_start_up() {
    let fake = FakeApi::start(TOKEN).await;
    let damaged = fresh_state_dir();
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::write(damaged.join("journal.sqlite3"), vec![b'x'; 8192]).unwrap();
    let out = builder()
        .against(&fake)
        .env("LUNATASK_STATE_DIR", damaged.display())
        .run()
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("damaged") && stderr.contains("LUNATASK_JOURNAL=off"),
        "{stderr}"
    );

    // A path under a file cannot be a directory.
    let blocked = fresh_state_dir();
    std::fs::write(&blocked, b"a file").unwrap();
    let out = builder()
        .against(&fake)
        .env("LUNATASK_STATE_DIR", blocked.join("journal").display())
        .run()
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("LUNATASK_STATE_DIR"), "{stderr}");

    // Off: no journal is opened, and the tools say it is off.
    let host = builder()
        .against(&fake)
        .env("LUNATASK_STATE_DIR", blocked.join("journal").display())
        .env("LUNATASK_JOURNAL", "off")
        .start()
        .await;
    ok(&host.call("create_task", json!({ "area_id": AREA })).await);
    let listed = ok(&host.call("list_actions", json!({})).await);
    assert_eq!(
        (listed["mode"].clone(), listed["count"].clone()),
        (json!("off"), json!(0))
    );
    let refused = host
        .call(
            "undo",
            json!({ "action_id": lunatask_mcp_tests::MISSING_ID }),
        )
        .await;
    assert!(
        err(&refused)["message"]
            .as_str()
            .unwrap()
            .contains("LUNATASK_JOURNAL=off")
    );
}

/// `writes` records every write without reading first: an update is listed, not undoable.
#[tokio::test]
async fn in_writes_mode_an_update_is_recorded_without_a_read() {
    let (fake, host) = crate::serve_with(&[("LUNATASK_JOURNAL", "writes")]).await;
    let id = fake.seed_task(json!({ "area_id": AREA, "priority": 0 }));
    ok(&host
        .call("update_task", json!({ "task_id": id, "priority": 2 }))
        .await);
    assert_eq!(
        fake.requests_to(&format!("GET /v1/tasks/{id}")).len(),
        0,
        "no read"
    );
    let update = actions(&ok(&host.call("list_actions", json!({})).await))[0].clone();
    assert_eq!(
        field(&update, "priority"),
        &json!({ "field": "priority", "after": 2 })
    );
    let refused = host
        .call("undo", json!({ "action_id": update["id"] }))
        .await;
    assert!(
        err(&refused)["message"]
            .as_str()
            .unwrap()
            .contains("LUNATASK_JOURNAL=writes")
    );
}

/// When the journal cannot record a write (here: the Redis it lives in is gone), the write
/// is not sent, and the error says so and how to go on without a journal.
#[tokio::test]
async fn a_write_the_journal_cannot_record_is_not_sent() {
    let redis = lunatask_mcp_tests::Redis::start();
    let token = "lt-dave-journal-9c0d1e2f";
    let fake = FakeApi::start(token).await;
    let http = builder()
        .multi_user(&fake)
        .env("LUNATASK_REDIS_URL", &redis.url)
        .start_http()
        .await;
    let client = http.client(Some(token)).await.unwrap();
    ok(&call(&client, "create_task", json!({ "area_id": AREA })).await);
    drop(redis);
    let refused = call(&client, "create_task", json!({ "area_id": AREA })).await;
    let error = err(&refused);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("nothing was sent") && message.contains("LUNATASK_JOURNAL=off"),
        "{message}"
    );
    assert_eq!(error["outcome"], "not_applied");
    assert_eq!(
        fake.requests_to("POST /v1/tasks").len(),
        1,
        "the second was not sent"
    );
    // Reads need no journal.
    ok(&call(&client, "ping", json!({})).await);
}

/// A launcher that passes a bare environment (no HOME, no state directory): the server
/// starts, keeps the journal in memory and says so.
#[tokio::test]
async fn without_any_state_directory_the_journal_is_kept_in_memory_and_said_so() {
    let (_fake, builder) = crate::prepare(&[]).await;
    let host = builder.without_env("LUNATASK_STATE_DIR").start().await;
    ok(&host.call("create_task", json!({ "area_id": AREA })).await);
    let listed = ok(&host.call("list_actions", json!({})).await);
    assert_eq!(actions(&listed).len(), 1, "{listed}");
    let stderr = host.stop().await;
    assert!(
        stderr.contains("kept in memory") && stderr.contains("LUNATASK_STATE_DIR"),
        "{stderr}"
    );
}

/// `undo` with a call's correlation id takes back everything that call did (a batch's
/// items), and a note's or person's create is undone like a task's.
#[tokio::test]
async fn undo_by_correlation_id_takes_back_a_whole_batch_and_other_kinds() {
    let (fake, host) = crate::setup().await;
    let batch = json!({ "tasks": [{ "area_id": AREA }, { "area_id": AREA }] });
    ok(&host.call("create_tasks", batch).await);
    let created = actions(&ok(&host.call("list_actions", json!({})).await));
    assert_eq!(created.len(), 2);
    let call = created[0]["correlation_id"].clone();
    assert_eq!(created[1]["correlation_id"], call, "one call, one id");
    let undone = ok(&host.call("undo", json!({ "correlation_id": call })).await);
    assert_eq!(undone["undone"], 2, "{undone}");
    let open = fake.with(|s| {
        s.tasks
            .values()
            .filter(|t| t["deleted_at"].is_null())
            .count()
    });
    assert_eq!(open, 0, "both tasks deleted");

    ok(&host.call("create_note", json!({ "name": SECRET })).await);
    ok(&host
        .call("create_person", json!({ "first_name": SECRET }))
        .await);
    let recent = actions(&ok(&host.call("list_actions", json!({ "limit": 2 })).await));
    for action in &recent {
        let undone = ok(&host
            .call("undo", json!({ "action_id": action["id"] }))
            .await);
        assert_eq!(undone["items"][0]["result"], "undone", "{undone}");
    }
    let kept = fake.with(|s| {
        let alive = |m: &std::collections::BTreeMap<String, Value>| {
            m.values().filter(|e| e["deleted_at"].is_null()).count()
        };
        (alive(&s.notes), alive(&s.people))
    });
    assert_eq!(kept, (0, 0), "the note and the person are deleted");
}

/// A batch of updates reads its tasks' prior values in one pass over the task list, not
/// one request per item (each under the rate limit), and can be undone whole.
#[tokio::test]
async fn a_batch_of_updates_reads_its_prior_values_once() {
    let (fake, host) = crate::setup().await;
    let ids: Vec<String> = (0..3)
        .map(|i| fake.seed_task(json!({ "area_id": AREA, "priority": i - 1 })))
        .collect();
    let updates: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "task_id": id, "priority": 2 }))
        .collect();
    ok(&host.call("update_tasks", json!({ "tasks": updates })).await);
    assert_eq!(
        fake.requests_to("GET /v1/tasks/").len(),
        0,
        "no read per item"
    );
    assert_eq!(
        fake.requests_to("GET /v1/tasks").len(),
        1,
        "one read of the list"
    );
    let recorded = actions(&ok(&host.call("list_actions", json!({})).await));
    let before: Vec<Value> = recorded
        .iter()
        .rev()
        .map(|a| field(a, "priority")["before"].clone())
        .collect();
    assert_eq!(before, [json!(-1), json!(0), json!(1)]);
    let call = recorded[0]["correlation_id"].clone();
    let undone = ok(&host.call("undo", json!({ "correlation_id": call })).await);
    assert_eq!(undone["undone"], 3, "{undone}");
    // The undo too: one pass for its checks, which its own records reuse.
    assert_eq!(
        fake.requests_to("GET /v1/tasks/").len(),
        0,
        "no read per item"
    );
    assert_eq!(fake.requests_to("GET /v1/tasks").len(), 2);
    let undos = actions(&ok(&host
        .call("list_actions", json!({ "tool": "undo" }))
        .await));
    assert_eq!(
        field(&undos[0], "priority")["before"],
        2,
        "recorded from the check's read"
    );
    let now: Vec<Value> = ids
        .iter()
        .map(|id| fake.with(|s| s.tasks[id]["priority"].clone()))
        .collect();
    assert_eq!(now, [json!(-1), json!(0), json!(1)]);
}
