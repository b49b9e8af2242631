//! What LunaTask's front end sees: every write carries its body with a `Content-Length`
//! (a strict front end refuses chunked uploads with 411), and the errors it answers are
//! explained for the entity they concern.

use lunatask_mcp_tests::{AREA, FakeApi, Fault, Host, Recorded, TOKEN, err, ok};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::builder;

const HABIT: &str = "7a1c0f9e-3b2d-4c5e-8f60-1a2b3c4d5e6f";

/// Calls every tool that writes, each against a record that exists, and checks it worked.
async fn every_write_succeeds(host: &Host, fake: &FakeApi) {
    fake.with(|s| s.habits.push(HABIT.to_string()));
    let task = fake.seed_task(json!({ "area_id": AREA }));
    let person = fake.seed_person(json!({}));
    let created = ok(&host
        .call(
            "create_task",
            json!({ "area_id": AREA, "name": "Write the report", "priority": 1, "scheduled_on": "2024-05-11" }),
        )
        .await);
    assert!(created["task"]["id"].is_string(), "{created}");
    ok(&host
        .call(
            "update_task",
            json!({ "task_id": task, "status": "started", "estimate": 30 }),
        )
        .await);
    ok(&host.call("delete_task", json!({ "task_id": task })).await);
    let note = ok(&host
        .call("create_note", json!({ "name": "Plan", "content": "a\nb" }))
        .await);
    let note_id = note["note"]["id"].as_str().expect("a note id").to_string();
    ok(&host
        .call("update_note", json!({ "note_id": note_id, "content": "c" }))
        .await);
    ok(&host
        .call("delete_note", json!({ "note_id": note_id }))
        .await);
    ok(&host
        .call(
            "create_journal_entry",
            json!({ "date_on": "2024-05-10", "content": "Good day" }),
        )
        .await);
    ok(&host
        .call(
            "create_person",
            json!({ "first_name": "Ada", "relationship_strength": "close-friends" }),
        )
        .await);
    ok(&host
        .call(
            "create_person_timeline_note",
            json!({ "person_id": person, "content": "Met for lunch" }),
        )
        .await);
    ok(&host
        .call(
            "track_habit",
            json!({ "habit_id": HABIT, "performed_on": "2024-05-10" }),
        )
        .await);
    ok(&host
        .call("delete_person", json!({ "person_id": person }))
        .await);
}

/// Every request with a body declared its exact length and was not chunked.
fn assert_sent_with_length(requests: &[Recorded]) {
    let writes: Vec<&Recorded> = requests
        .iter()
        .filter(|r| r.method == "POST" || r.method == "PUT")
        .collect();
    assert_eq!(writes.len(), 8, "every create and update");
    for r in requests {
        let what = format!("{} {}", r.method, r.path);
        assert_eq!(r.header("transfer-encoding"), None, "{what}");
        match r.method.as_str() {
            "POST" | "PUT" => {
                assert!(r.body_len > 0, "{what} has a body");
                assert_eq!(
                    r.header("content-length"),
                    Some(r.body_len.to_string().as_str()),
                    "{what}"
                );
                assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
            }
            _ => assert_eq!(r.body_len, 0, "{what} carries no body"),
        }
    }
}

/// Over plain HTTP and over TLS alike: how a body is framed must not depend on the scheme.
#[tokio::test]
async fn a_strict_front_end_accepts_every_write_over_http_and_tls() {
    for fake in [FakeApi::start(TOKEN).await, FakeApi::start_tls(TOKEN).await] {
        let host = builder().against_trusted(&fake).start().await;
        every_write_succeeds(&host, &fake).await;
        assert_sent_with_length(&fake.requests());
    }
}

/// Sends one raw HTTP/1.1 request to the fake and returns its status code.
async fn raw_status(fake: &FakeApi, head: &str, body: &str) -> u16 {
    let mut tcp = tokio::net::TcpStream::connect(fake.addr).await.unwrap();
    let request = format!(
        "{head}\r\nhost: {}\r\nauthorization: bearer {TOKEN}\r\nconnection: close\r\n\r\n{body}",
        fake.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    // The status line is enough: a server may keep reading (or not close) after refusing.
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed without an answer: {head}");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

/// The fake is no more lenient than a production server, so the tests above mean something.
#[tokio::test]
async fn the_fake_refuses_what_a_strict_server_refuses() {
    let fake = FakeApi::start(TOKEN).await;
    let task = format!(r#"{{"area_id":"{AREA}"}}"#);
    let chunked = format!("{:x}\r\n{task}\r\n0\r\n\r\n", task.len());
    let cases = [
        (
            "POST /v1/tasks HTTP/1.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked",
            chunked.as_str(),
            411,
        ),
        (
            &*format!(
                "POST /v1/tasks HTTP/1.1\r\ncontent-type: text/plain\r\ncontent-length: {}",
                task.len()
            ),
            task.as_str(),
            415,
        ),
        (
            "POST /v1/tasks HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 5",
            "{} {}",
            400,
        ),
        (
            "GET /v1/tasks HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: 2",
            "{}",
            400,
        ),
        ("PATCH /v1/people/x HTTP/1.1\r\ncontent-length: 0", "", 405),
        ("BREW /v1/ping HTTP/1.1", "", 405),
        (
            &*format!(
                "POST /v1/tasks HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: {}",
                r#"{"area_id":"x"}"#.len()
            ),
            r#"{"area_id":"x"}"#,
            400,
        ),
        (
            &*format!(
                "POST /v1/tasks HTTP/1.1\r\ncontent-type: application/json\r\ncontent-length: {}",
                task.len()
            ),
            task.as_str(),
            201,
        ),
    ];
    for (head, body, expected) in cases {
        assert_eq!(raw_status(&fake, head, body).await, expected, "{head}");
    }
    assert_eq!(
        fake.with(|s| s.tasks.len()),
        1,
        "only the valid create acted"
    );
}

/// LunaTask's 400 and 422 are explained for the entity they concern: its own message
/// (which names the field) and a hint that fits; the custom-field hint only for people.
#[tokio::test]
async fn api_errors_name_the_entity_and_field_they_concern() {
    let (fake, host) = crate::serve_with(&[("LUNATASK_MAX_RETRIES", "0")]).await;
    let id = "0b5d5a9e-7c1b-4f0e-9d1a-2f4b6c8d0e12";
    let cases: [(&str, Value, &str, &str); 7] = [
        ("create_task", json!({ "area_id": AREA }), "task", "area_id"),
        (
            "update_task",
            json!({ "task_id": id, "priority": 1 }),
            "task",
            "goal_id",
        ),
        (
            "create_note",
            json!({ "content": "x" }),
            "note",
            "notebook_id",
        ),
        (
            "create_journal_entry",
            json!({ "date_on": "2024-05-10" }),
            "journal entry",
            "date_on",
        ),
        (
            "create_person",
            json!({ "first_name": "x", "email": "a@b.c" }),
            "person",
            "email",
        ),
        (
            "create_person_timeline_note",
            json!({ "person_id": id }),
            "timeline note",
            "person_id",
        ),
        (
            "track_habit",
            json!({ "habit_id": id, "performed_on": "2024-05-10" }),
            "habit tracking",
            "performed_on",
        ),
    ];
    for (tool, args, noun, field) in cases {
        for status in [400, 422] {
            let said = format!("{field} is invalid");
            fake.inject(
                None,
                1,
                Fault::Status {
                    status,
                    headers: Vec::new(),
                    body: Some(json!({ "status": "error", "message": said })),
                },
            );
            let error = err(&host.call(tool, args.clone()).await);
            let message = error["message"].as_str().unwrap();
            assert_eq!(error["code"], "validation_error", "{tool} {status}");
            assert_eq!(error["http_status"], status, "{tool} {status}");
            assert!(
                message.contains(&format!("the {noun} ({status})")),
                "{tool} {status}: {message}"
            );
            assert!(message.contains(&said), "{tool} {status}: {message}");
            assert_eq!(
                message.contains("custom field"),
                tool == "create_person" && status == 422,
                "{tool} {status}: {message}"
            );
        }
    }
}
