//! Resilience through fault injection: retries, Retry-After, never a duplicate, timeouts and
//! the shared rate limit.

use std::time::{Duration, Instant};

use lunatask_mcp_tests::{AREA, Fault, TOKEN, code, correlation_id, err, ok};
use serde_json::json;

use crate::{builder, setup};

#[tokio::test]
async fn a_503_is_retried_under_one_correlation_id() {
    let (fake, host) = setup().await;
    fake.inject(Some("GET /v1/ping"), 1, Fault::status(503));
    let result = host.call("ping", json!({})).await;
    assert_eq!(ok(&result)["message"], "pong");
    let sent = fake.requests_to("GET /v1/ping");
    assert_eq!(sent.len(), 2);
    let id = correlation_id(&result);
    for request in &sent {
        assert_eq!(request.header("x-correlation-id"), Some(id.as_str()));
    }
    let metrics = host.read("lunatask://metrics").await.unwrap();
    assert_eq!(metrics["endpoints"]["GET /ping"]["retries"], 1);
    assert_eq!(metrics["endpoints"]["GET /ping"]["requests"]["5xx"], 1);
    assert!(
        host.stop().await.contains(&id),
        "log lines carry the correlation id"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (fake, host) = crate::serve_with(&[("LUNATASK_RETRY_MAX_DELAY", "5")]).await;
    fake.inject(
        Some("GET /v1/ping"),
        1,
        Fault::Status {
            status: 429,
            headers: vec![("retry-after".into(), "1".into())],
            body: None,
        },
    );
    ok(&host.call("ping", json!({})).await);
    let sent = fake.requests_to("GET /v1/ping");
    assert_eq!(sent.len(), 2);
    let gap = sent[1].at - sent[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "waited {gap:?}, not the 1 s asked for"
    );
}

#[tokio::test]
async fn persistent_5xx_ends_after_the_configured_attempts() {
    let (fake, host) = crate::serve_with(&[("LUNATASK_MAX_RETRIES", "2")]).await;
    fake.inject(None, 10, Fault::status(500));
    let result = host.call("ping", json!({})).await;
    assert_eq!(code(&result), "upstream_error");
    assert_eq!(err(&result)["http_status"], 500);
    assert_eq!(err(&result)["retryable"], true);
    assert_eq!(fake.requests().len(), 3, "one try and two retries");
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_not_duplicated() {
    let (fake, host) = setup().await;
    fake.inject(Some("POST /v1/tasks"), 1, Fault::DropAfterApply);
    let result = host
        .call("create_task", json!({ "area_id": AREA, "name": "once" }))
        .await;
    let out = ok(&result);
    assert_eq!(out["outcome"], "created");
    let tasks = fake.with(|s| s.tasks.keys().cloned().collect::<Vec<_>>());
    assert_eq!(tasks.len(), 1, "exactly one task");
    assert_eq!(
        out["task"]["id"], tasks[0],
        "the result names the task the first attempt made"
    );
    let posts = fake.requests_to("POST /v1/tasks");
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[0].body, posts[1].body,
        "the replay carries the same idempotency key"
    );
}

#[tokio::test]
async fn a_person_whose_answer_was_lost_is_not_duplicated() {
    let (fake, host) = setup().await;
    fake.inject(Some("POST /v1/people"), 1, Fault::DropAfterApply);
    let out = ok(&host
        .call("create_person", json!({ "first_name": "Once" }))
        .await);
    assert_eq!(out["outcome"], "created");
    let people = fake.with(|s| s.people.keys().cloned().collect::<Vec<_>>());
    assert_eq!(people.len(), 1);
    assert_eq!(out["person"]["id"], people[0]);
}

#[tokio::test]
async fn a_journal_entry_is_never_replayed_after_an_ambiguous_failure() {
    let (fake, host) = setup().await;
    fake.inject(Some("POST /v1/journal_entries"), 1, Fault::DropAfterApply);
    let result = host
        .call(
            "create_journal_entry",
            json!({ "date_on": "2024-05-10", "content": "x" }),
        )
        .await;
    let error = err(&result);
    assert_eq!(error["code"], "network_error");
    assert_eq!(error["outcome"], "unknown");
    assert!(
        error["message"].as_str().unwrap().contains("Check"),
        "{error}"
    );
    fake.assert_sent("POST /v1/journal_entries", 1, "not re-sent");
    assert_eq!(
        fake.with(|s| s.journal_entries.len()),
        1,
        "exactly one entry exists"
    );

    // A 429 certainly changed nothing, so that is retried.
    fake.inject(Some("POST /v1/habits/"), 1, Fault::status(429));
    fake.with(|s| s.habits.push(AREA.to_string()));
    ok(&host
        .call(
            "track_habit",
            json!({ "habit_id": AREA, "performed_on": "2024-05-10" }),
        )
        .await);
    assert_eq!(fake.with(|s| s.habit_tracks.len()), 1);
    assert_eq!(fake.requests_to("POST /v1/habits/").len(), 2);

    // A 503 might have been applied: not replayed, outcome unknown.
    fake.inject(
        Some("POST /v1/person_timeline_notes"),
        1,
        Fault::status(503),
    );
    let person = fake.seed_person(json!({}));
    let result = host
        .call(
            "create_person_timeline_note",
            json!({ "person_id": person }),
        )
        .await;
    assert_eq!(err(&result)["outcome"], "unknown");
    assert_eq!(fake.requests_to("POST /v1/person_timeline_notes").len(), 1);
}

#[tokio::test]
async fn a_read_timeout_gives_a_timeout_error_in_bounded_time() {
    let (fake, host) = crate::serve_with(&[
        ("LUNATASK_HTTP_TIMEOUT_READ", "0.3"),
        ("LUNATASK_MAX_RETRIES", "1"),
    ])
    .await;
    fake.inject(None, 5, Fault::Delay(Duration::from_secs(5)));
    let started = Instant::now();
    let result = host.call("ping", json!({})).await;
    let elapsed = started.elapsed();
    assert_eq!(code(&result), "timeout");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert_eq!(
        fake.requests().len(),
        2,
        "a GET is retried once after a timeout"
    );
}

/// Calls `ping` against `base_url` with the timeout `setting` at 0.3 s and one quick retry;
/// the result and how long the call took.
async fn ping_with_timeout(
    base_url: &str,
    setting: &str,
) -> (rmcp::model::CallToolResult, Duration) {
    let host = builder()
        .env("LUNATASK_API_TOKEN", TOKEN)
        .env("LUNATASK_BASE_URL", base_url)
        .env(setting, "0.3")
        .env("LUNATASK_MAX_RETRIES", "1")
        .env("LUNATASK_RETRY_BASE_DELAY", "0.01")
        .start()
        .await;
    let started = Instant::now();
    let result = host.call("ping", json!({})).await;
    (result, started.elapsed())
}

/// An answer that starts and then stalls mid-body ends at the between-bytes timeout
/// (`LUNATASK_HTTP_TIMEOUT_WRITE`), not at the call's deadline. The stalling server is a bare
/// socket: it answers every request with a head and one byte of a longer body, then waits.
#[tokio::test]
async fn an_answer_that_stalls_mid_body_times_out_between_bytes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 64\r\n\r\n{";
                let _ = socket.write_all(head.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    let (result, elapsed) = ping_with_timeout(&base_url, "LUNATASK_HTTP_TIMEOUT_WRITE").await;
    assert_eq!(code(&result), "timeout", "{}", err(&result));
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the GET is tried twice (one retry), each on a fresh connection"
    );
}

#[tokio::test]
async fn concurrent_calls_share_the_rate_limit() {
    let (fake, host) = crate::serve_with(&[
        ("LUNATASK_RATE_LIMIT_RPM", "600"),
        ("LUNATASK_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    let started = Instant::now();
    let calls = (0..8).map(|_| host.call("ping", json!({})));
    for result in futures::future::join_all(calls).await {
        ok(&result); // waiting for a slot is not a failure
    }
    let mut times: Vec<Instant> = fake.requests().iter().map(|r| r.at).collect();
    times.sort();
    assert_eq!(times.len(), 8);
    // Burst 2, then one every 100 ms: the 8th request no sooner than ~600 ms in.
    let spread = times[7] - times[0];
    assert!(spread >= Duration::from_millis(550), "spread {spread:?}");
    // In any 300 ms window at most burst + 3 requests.
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .filter(|u| **u - *t < Duration::from_millis(300))
            .count();
        assert!(in_window <= 5, "{in_window} requests within 300 ms");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    let metrics = host.read("lunatask://metrics").await.unwrap();
    assert!(metrics["rate_limit_waits"].as_u64().unwrap() >= 5);
}

#[tokio::test]
async fn a_create_that_may_have_happened_says_how_to_retry_safely() {
    let (fake, host) = crate::serve_with(&[("LUNATASK_MAX_RETRIES", "1")]).await;
    // Applied, but every answer lost.
    fake.inject(Some("POST /v1/tasks"), 2, Fault::DropAfterApply);
    let result = host.call("create_task", json!({ "area_id": AREA })).await;
    let error = err(&result);
    assert_eq!(error["outcome"], "unknown");
    let message = error["message"].as_str().unwrap();
    let key = fake.requests_to("POST /v1/tasks")[0].body.clone().unwrap();
    let source_id = key["source_id"].as_str().unwrap();
    assert!(message.contains(source_id), "{message}");
    // Following the advice creates nothing more and names the task.
    let again = ok(&host
        .call(
            "create_task",
            json!({ "area_id": AREA, "source": "lunatask-mcp", "source_id": source_id }),
        )
        .await);
    assert_eq!(again["outcome"], "duplicate");
    assert_eq!(fake.with(|s| s.tasks.len()), 1);
    assert_eq!(
        again["task"]["id"],
        fake.with(|s| s.tasks.keys().next().cloned().unwrap())
    );
}

/// An answer over the host's cap (`LUNATASK_MAX_ANSWER_BYTES`, here 4 MiB) is refused
/// before it reaches the guest, and not asked for again: it would be as large the next
/// time. A write refused this way may have been applied, and says so.
#[tokio::test]
async fn an_oversized_answer_is_refused_once_and_a_write_says_it_may_have_applied() {
    // `writes`: in full mode the journal's read of the task before the update would be the
    // oversized answer, and the update would not be sent (rightly, but not what this tests).
    let (fake, host) = crate::serve_with(&[
        ("LUNATASK_MAX_ANSWER_BYTES", "4194304"),
        ("LUNATASK_JOURNAL", "writes"),
    ])
    .await;
    let blob = "x".repeat(5 * 1024 * 1024);
    let id = fake.seed_task(json!({ "area_id": AREA, "blob": blob }));

    let read = host.call("get_task", json!({ "task_id": id })).await;
    assert_eq!(code(&read), "upstream_error", "{}", err(&read));
    let message = err(&read)["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("larger than the host reads")
            && message.contains("LUNATASK_MAX_ANSWER_BYTES"),
        "{message}"
    );
    assert_eq!(err(&read)["retryable"], false);
    assert_eq!(
        fake.requests_to(&format!("GET /v1/tasks/{id}")).len(),
        1,
        "not asked for again"
    );

    let write = host
        .call("update_task", json!({ "task_id": id, "priority": 2 }))
        .await;
    assert_eq!(code(&write), "upstream_error", "{}", err(&write));
    assert_eq!(err(&write)["outcome"], "unknown");
    assert_eq!(fake.requests_to("PUT /v1/tasks/").len(), 1);
    assert_eq!(
        fake.with(|s| s.tasks[&id]["priority"].clone()),
        2,
        "it was applied"
    );
}

/// A connection the API never accepts ends at the connect timeout
/// (`LUNATASK_HTTP_TIMEOUT_CONNECT`) as a `timeout` that names the connect, and is retried:
/// the request never left. The listener has a backlog of one, filled here, so the kernel
/// drops the server's SYNs and its connect hangs.
#[tokio::test]
async fn a_connect_that_hangs_ends_at_the_connect_timeout_and_is_retried() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let _queued = std::net::TcpStream::connect(addr).unwrap();
    let base_url = format!("http://{addr}/v1");
    let (result, elapsed) = ping_with_timeout(&base_url, "LUNATASK_HTTP_TIMEOUT_CONNECT").await;
    assert_eq!(code(&result), "timeout", "{}", err(&result));
    let message = err(&result)["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("connecting to LunaTask timed out")
            && message.contains("LUNATASK_HTTP_TIMEOUT_CONNECT"),
        "{message}"
    );
    assert!(
        message.contains("after 2 attempts"),
        "retried once: {message}"
    );
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(5),
        "two connects of 0.3 s each, took {elapsed:?}"
    );
    drop(listener);
}
