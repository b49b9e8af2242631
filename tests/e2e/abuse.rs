//! Abuse the host withstands: an API that echoes the token back, answers that drip.

use std::time::{Duration, Instant};

use lunatask_mcp_tests::{FakeApi, Fault, TOKEN, text};
use serde_json::json;

use crate::builder;

/// An API answer that repeats the request's `Authorization` back, as some front ends' error
/// pages do, with the endpoint token too for good measure.
fn echo(endpoint_token: &str) -> serde_json::Value {
    json!({
        "status": "error",
        "message": format!("Bad header Authorization: bearer {TOKEN} (endpoint {endpoint_token})"),
    })
}

#[tokio::test]
async fn a_token_the_api_echoes_never_reaches_the_agent() {
    let fake = FakeApi::start(TOKEN).await;
    let endpoint = "endpoint-secret-5e1d";
    let host = builder()
        .against(&fake)
        .env("LUNATASK_MAX_RETRIES", "0")
        .env("LUNATASK_MCP_AUTH_TOKEN", endpoint)
        .start()
        .await;
    for status in [200, 400, 401, 404, 422, 429, 500, 503] {
        fake.inject(
            Some("GET /v1/ping"),
            1,
            Fault::Status {
                status,
                headers: Vec::new(),
                body: Some(echo(endpoint)),
            },
        );
        let result = host.call("ping", json!({})).await;
        let seen = format!("{} {:?}", text(&result), result.structured_content);
        assert!(!seen.contains(TOKEN), "{status}: {seen}");
        assert!(!seen.contains(endpoint), "{status}: {seen}");
        assert!(
            seen.contains("bearer [redacted]"),
            "{status}: the rest of LunaTask's message stays: {seen}"
        );
    }
    fake.inject(
        Some("GET /v1/tasks"),
        1,
        Fault::Status {
            status: 500,
            headers: Vec::new(),
            body: Some(echo(endpoint)),
        },
    );
    let error = host
        .read("lunatask://global/today")
        .await
        .expect_err("the view fails");
    let seen = format!("{error:?}");
    assert!(seen.contains("[redacted]"), "{seen}");
    assert!(!seen.contains(TOKEN) && !seen.contains(endpoint), "{seen}");
}

/// An answer that sends a byte now and then never trips the between-bytes timeout, but the
/// call's deadline still ends it, with its correlation id.
#[tokio::test]
async fn an_answer_that_drips_is_stopped_at_the_call_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
                let _ = socket.write_all(head.as_bytes()).await;
                // Bounded: 100 bytes over 30 s at most, then the connection ends.
                for _ in 0..100 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    if socket.write_all(b" ").await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let host = builder()
        .env("LUNATASK_API_TOKEN", TOKEN)
        .env("LUNATASK_BASE_URL", &base_url)
        .env("LUNATASK_CALL_TIMEOUT", "2")
        .env("LUNATASK_MAX_RETRIES", "0")
        .start()
        .await;
    let started = Instant::now();
    let result = host.call("ping", json!({})).await;
    let elapsed = started.elapsed();
    let error = lunatask_mcp_tests::err(&result);
    assert_eq!(error["code"], "timeout", "{error}");
    assert_eq!(
        error["correlation_id"],
        lunatask_mcp_tests::correlation_id(&result)
    );
    // At the deadline (2 s), not at the host's last resort (the deadline plus its grace).
    assert!(
        elapsed < Duration::from_millis(3500),
        "stopped in {elapsed:?}"
    );
}

/// A launcher that closed its end of our stderr: failing calls (which log) are still
/// answered, and the server ends cleanly at EOF instead of panicking.
#[tokio::test]
async fn a_closed_stderr_breaks_nothing_over_stdio() {
    let (_fake, builder) = crate::prepare(&[("LUNATASK_LOG", "debug")]).await;
    let mut raw = builder.start_raw_with_stderr_closed().await;
    for id in 1..=3 {
        let call = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{
            "name":"get_task","arguments":{"task_id": lunatask_mcp_tests::MISSING_ID}}});
        raw.send(call.to_string().as_bytes()).await;
        let (answer, _) = raw.answer(id).await;
        assert_eq!(answer["result"]["isError"], true, "{answer}");
    }
    let status = raw.finish().await;
    assert!(status.success(), "{status}");
}

/// The same over HTTP: calls are answered and SIGTERM still stops the server.
#[tokio::test]
async fn a_closed_stderr_breaks_nothing_over_http() {
    let fake = FakeApi::start(TOKEN).await;
    // The address cannot be read from stderr here: pick a free port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = builder()
        .against(&fake)
        .env("LUNATASK_LOG", "debug")
        .arg("--http")
        .arg(format!("127.0.0.1:{port}"))
        .command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let web = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let up = async {
        while web.get(format!("{base}/healthz")).send().await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), up)
        .await
        .expect("the server comes up");
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "get_task", "arguments": {"task_id": lunatask_mcp_tests::MISSING_ID}}});
    for _ in 0..3 {
        let response = lunatask_mcp_tests::stateless_post(&web, &format!("{base}/mcp"), &call)
            .send()
            .await
            .unwrap();
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["result"]["isError"], true, "{answer}");
    }
    let pid = child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("SIGTERM stops it")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// Host headers that a lenient parser would read as loopback are refused before any route.
#[tokio::test]
async fn forged_or_repeated_host_headers_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let fake = FakeApi::start(TOKEN).await;
    let http = builder().against(&fake).start_http().await;
    let addr = http.url.trim_start_matches("http://").to_string();
    let status = |head: String| {
        let addr = addr.clone();
        async move {
            let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            tcp.write_all(
                format!("GET /healthz HTTP/1.1\r\n{head}connection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
            let mut answer = String::new();
            let _ = tcp.read_to_string(&mut answer).await;
            answer.split(' ').nth(1).unwrap_or("").to_string()
        }
    };
    assert_eq!(status("host: localhost\r\n".into()).await, "200");
    for head in [
        "host: [::1]evil.example\r\n",
        "host: localhost:evil\r\n",
        "host: user@localhost\r\n",
        "host: localhost\r\nhost: evil.example\r\n",
        "host: localhost\r\nhost: localhost\r\n",
    ] {
        let got = status(head.to_string()).await;
        assert!(got == "403" || got == "400", "{head:?} got {got}");
    }
}

/// Reads until the peer closes (or `limit` passes); returns what arrived and how long it took.
async fn read_until_closed(tcp: &mut tokio::net::TcpStream, limit: Duration) -> (String, Duration) {
    use tokio::io::AsyncReadExt;
    let started = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 1024];
    while started.elapsed() < limit {
        match tokio::time::timeout(limit - started.elapsed(), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    (
        String::from_utf8_lossy(&all).into_owned(),
        started.elapsed(),
    )
}

/// A connection that sends nothing is closed at the idle timeout (also after an answer, when
/// kept alive); one that starts a head and dribbles header lines is closed at the head
/// timeout from its first byte; whether or not the endpoint wants a token.
#[tokio::test]
async fn idle_and_slow_connections_are_closed_at_their_timeouts() {
    use tokio::io::AsyncWriteExt;

    let (_fake, http) = crate::serve_http_with(&[
        ("LUNATASK_MCP_HTTP_HEAD_TIMEOUT", "1"),
        ("LUNATASK_MCP_HTTP_IDLE_TIMEOUT", "3"),
        ("LUNATASK_MCP_AUTH_TOKEN", "endpoint-secret"),
    ])
    .await;
    let addr = http.url.trim_start_matches("http://").to_string();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut kept = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let drip = async {
        slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        let started = Instant::now();
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if slow
                .write_all(format!("x-drip-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
        let (answer, _) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
        (answer, started.elapsed())
    };
    // One request answered, then nothing: the idle clock starts after the answer.
    let keep_alive = async {
        kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        read_until_closed(&mut kept, Duration::from_secs(10)).await
    };
    let ((_, silent_after), (dripped, drip_after), (kept_answer, kept_after)) = tokio::join!(
        read_until_closed(&mut silent, Duration::from_secs(10)),
        drip,
        keep_alive,
    );
    assert!(
        silent_after >= Duration::from_millis(2_500) && silent_after < Duration::from_secs(5),
        "a silent connection was closed after {silent_after:?}, not at the idle timeout"
    );
    assert!(
        !dripped.contains("200 OK"),
        "a head that never ends is not answered: {dripped}"
    );
    assert!(
        drip_after < Duration::from_millis(2_500),
        "a dripping head lasted {drip_after:?}"
    );
    assert!(kept_answer.contains("200 OK"), "{kept_answer}");
    assert!(
        kept_after >= Duration::from_millis(2_500) && kept_after < Duration::from_secs(5),
        "a kept-alive connection was closed after {kept_after:?}"
    );
    // A prompt client is served as before.
    let health = reqwest::get(format!("{}/healthz", http.url)).await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Beyond LUNATASK_MCP_HTTP_MAX_CONNECTIONS a connection is answered 503 at once and closed
/// (the descriptor is free again); once connections close, /healthz answers again.
#[tokio::test]
async fn connections_beyond_the_cap_are_refused_at_once() {
    use tokio::io::AsyncWriteExt;

    let (_fake, http) = crate::serve_http_with(&[
        ("LUNATASK_MCP_HTTP_MAX_CONNECTIONS", "4"),
        ("LUNATASK_MCP_HTTP_HEAD_TIMEOUT", "30"),
    ])
    .await;
    let addr = http.url.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await;
    let (answer, took) = read_until_closed(&mut extra, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(took < Duration::from_secs(2), "refused in {took:?}");
    drop(held);
    let mut healthy = false;
    for _ in 0..50 {
        if let Ok(r) = reqwest::get(format!("{}/healthz", http.url)).await
            && r.status() == 200
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "/healthz answers once connections are free");
}

/// Of `results`, exactly one was refused as overloaded naming `setting` (retryable, nothing
/// applied) and the others succeeded.
fn exactly_one_overloaded(results: &[rmcp::model::CallToolResult], setting: &str) {
    let refused: Vec<_> = results
        .iter()
        .filter(|r| r.is_error == Some(true))
        .collect();
    assert_eq!(refused.len(), 1, "exactly one refused");
    let error = lunatask_mcp_tests::err(refused[0]);
    assert_eq!(error["code"], "overloaded", "{error}");
    assert_eq!(error["setting"], setting, "{error}");
    assert_eq!(error["retryable"], true);
    assert_eq!(error["outcome"], "not_applied");
    for r in results.iter().filter(|r| r.is_error != Some(true)) {
        lunatask_mcp_tests::ok(r);
    }
}

/// Waits until the fake has received `n` requests to create tasks.
async fn until_posts(fake: &FakeApi, n: usize) {
    let arrived = async {
        while fake.requests_to("POST /v1/tasks").len() < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), arrived)
        .await
        .expect("the calls reach the API");
}

/// With the API stalled, calls beyond LUNATASK_MAX_QUEUED_CALLS (waiting for a sandbox
/// slot) or LUNATASK_MAX_PENDING_BYTES (arguments held) are refused at once, retryable and
/// naming the setting, and send nothing; those admitted complete.
#[tokio::test]
async fn calls_beyond_the_queue_or_byte_limits_are_refused_at_once() {
    let fake = FakeApi::start(TOKEN).await;
    fake.inject(
        Some("POST /v1/tasks"),
        10,
        Fault::Delay(Duration::from_secs(2)),
    );
    let host = builder()
        .against(&fake)
        .env("LUNATASK_MAX_CONCURRENT_CALLS", "1")
        .env("LUNATASK_MAX_QUEUED_CALLS", "1")
        .start()
        .await;
    let create = |i: usize| {
        host.call(
            "create_task",
            json!({ "area_id": lunatask_mcp_tests::AREA, "name": format!("t{i}") }),
        )
    };
    // One call holds the only slot (its request waits at the API); of two more, one waits
    // in the queue's only place and the other is refused.
    let (running, later) = tokio::join!(create(0), async {
        until_posts(&fake, 1).await;
        let started = Instant::now();
        let (a, b) = tokio::join!(async { (create(1).await, started.elapsed()) }, async {
            (create(2).await, started.elapsed())
        });
        [a, b]
    });
    lunatask_mcp_tests::ok(&running);
    let refused_in = later
        .iter()
        .find(|(r, _)| r.is_error == Some(true))
        .map(|(_, took)| *took)
        .expect("one is refused");
    assert!(
        refused_in < Duration::from_secs(1),
        "refused in {refused_in:?}"
    );
    let later: Vec<_> = later.into_iter().map(|(r, _)| r).collect();
    exactly_one_overloaded(&later, "LUNATASK_MAX_QUEUED_CALLS");
    fake.assert_sent("POST /v1/tasks", 2, "the refused call sent nothing");

    // Bytes: each call holds 400 KB while its request waits at the API; three would pass
    // 1 MB together, so one of them is refused.
    let host = builder()
        .against(&fake)
        .env("LUNATASK_MAX_MESSAGE_BYTES", "600000")
        .env("LUNATASK_MAX_PENDING_BYTES", "1000000")
        .start()
        .await;
    let note = "n".repeat(400_000);
    let big = |i: usize| {
        host.call(
            "create_task",
            json!({ "area_id": lunatask_mcp_tests::AREA, "name": format!("b{i}"), "note": note }),
        )
    };
    let (a, b, c) = tokio::join!(big(0), big(1), big(2));
    exactly_one_overloaded(&[a, b, c], "LUNATASK_MAX_PENDING_BYTES");
    // Once they are answered, the budget is free again.
    lunatask_mcp_tests::ok(&big(3).await);
}

/// Opens an MCP session as a 2025-06-18 client does and abandons it (no DELETE); returns the
/// HTTP status and the session id, if one was given.
async fn open_session(web: &reqwest::Client, url: &str) -> (u16, Option<String>) {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "abandoner", "version": "1"}}});
    let response = web
        .post(format!("{url}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    let id = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (response.status().as_u16(), id)
}

/// Abandoned sessions count against LUNATASK_MCP_MAX_SESSIONS only until they have been idle
/// for LUNATASK_MCP_SESSION_IDLE_TIMEOUT; beyond the cap a new session is refused.
#[tokio::test]
async fn sessions_are_capped_and_forgotten_when_idle() {
    let (_fake, http) = crate::serve_http_with(&[
        ("LUNATASK_MCP_MAX_SESSIONS", "2"),
        ("LUNATASK_MCP_SESSION_IDLE_TIMEOUT", "1"),
    ])
    .await;
    let web = reqwest::Client::new();
    for _ in 0..2 {
        let (status, id) = open_session(&web, &http.url).await;
        assert_eq!(status, 200);
        assert!(id.is_some());
    }
    let (status, id) = open_session(&web, &http.url).await;
    assert!(status >= 500 && id.is_none(), "a third session: {status}");
    // Stateless (2026-07-28) calls need no session and are served all the same.
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "ping", "arguments": {}}});
    let answer: serde_json::Value =
        lunatask_mcp_tests::stateless_post(&web, &format!("{}/mcp", http.url), &call)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..2 {
        let (status, id) = open_session(&web, &http.url).await;
        assert_eq!(status, 200, "the idle ones were forgotten");
        assert!(id.is_some());
    }
}

/// A flood of abandoned sessions is forgotten once idle, without any new session to prompt
/// it, and most of the memory it took is given back to the system.
#[tokio::test]
async fn abandoned_sessions_give_their_memory_back() {
    let (_fake, http) = crate::serve_http_with(&[
        ("LUNATASK_MCP_SESSION_IDLE_TIMEOUT", "1"),
        ("LUNATASK_MCP_MAX_SESSIONS", "5000"),
    ])
    .await;
    let pid = http.child.id().unwrap();
    let web = reqwest::Client::new();
    open_session(&web, &http.url).await;
    let before = lunatask_mcp_tests::memory_kib(pid, "VmRSS");
    for _ in 0..1500 {
        assert_eq!(open_session(&web, &http.url).await.0, 200);
    }
    let flooded = lunatask_mcp_tests::memory_kib(pid, "VmRSS");
    let grew = flooded.saturating_sub(before);
    // Each session holds tens of KiB: the flood must show, or this test proves nothing.
    assert!(grew > 20_000, "1,500 sessions took only {grew} KiB");
    let settled = async {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if lunatask_mcp_tests::memory_kib(pid, "VmRSS") < before + grew / 3 {
                return;
            }
        }
    };
    let returned = tokio::time::timeout(Duration::from_secs(10), settled).await;
    let after = lunatask_mcp_tests::memory_kib(pid, "VmRSS");
    assert!(
        returned.is_ok(),
        "RSS {before} KiB before, {flooded} after 1,500 sessions, still {after} after expiry"
    );
}

/// The rate limit takes turns between sessions: a session that queues calls makes another
/// session's call wait one turn, not for its whole queue; calls cancelled with
/// `notifications/cancelled` are never sent and give their places back.
#[tokio::test]
async fn the_rate_limit_is_fair_between_sessions_and_cancelled_calls_are_not_sent() {
    use rmcp::model::{CallToolRequest, CallToolRequestParams, ClientRequest};
    use rmcp::service::PeerRequestOptions;

    let (fake, http) = crate::serve_http_with(&[
        ("LUNATASK_RATE_LIMIT_RPM", "30"),
        ("LUNATASK_RATE_LIMIT_BURST", "1"),
    ])
    .await;
    let greedy = http.client(None).await.unwrap();
    let polite = http.client(None).await.unwrap();
    let ping =
        || ClientRequest::CallToolRequest(CallToolRequest::new(CallToolRequestParams::new("ping")));
    // The greedy session's first call takes the only token; eight more wait two seconds each.
    let mut queued = Vec::new();
    for _ in 0..9 {
        let handle = greedy
            .peer()
            .send_cancellable_request(ping(), PeerRequestOptions::no_options())
            .await
            .unwrap();
        queued.push(handle);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let answer = polite
        .call_tool(CallToolRequestParams::new("ping"))
        .await
        .unwrap();
    let waited = started.elapsed();
    lunatask_mcp_tests::ok(&answer);
    // Before: behind all eight (16 s). Now: the greedy session's turn at 2 s, then ours at 4 s.
    assert!(waited < Duration::from_millis(5_400), "waited {waited:?}");
    assert_eq!(fake.requests_to("GET /v1/ping").len(), 3);

    // The greedy session gives up on its calls (the seven still waiting, and two answered:
    // its requests reach the server in any order); none of the waiting ones is sent.
    for handle in queued {
        handle.cancel(Some("not needed".into())).await.unwrap();
    }
    // The greedy session's next turn would have come at 6 s.
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    fake.assert_sent("GET /v1/ping", 3, "a cancelled call was sent");
    // Their places are free again: the next call finds the token waiting.
    let started = Instant::now();
    let answer = polite
        .call_tool(CallToolRequestParams::new("ping"))
        .await
        .unwrap();
    lunatask_mcp_tests::ok(&answer);
    assert!(started.elapsed() < Duration::from_millis(500));
}

/// Over stdio every line gets an answer: a parse error (id null) for a line that is not
/// JSON, not UTF-8 or nested too deep, an error naming the setting for one that is too
/// long, invalid params for wrong parameter types, a refusal for an id already in flight,
/// and a last line without a newline is still served.
#[tokio::test]
async fn every_line_on_stdio_gets_an_answer() {
    let (fake, builder) = crate::prepare(&[("LUNATASK_MAX_MESSAGE_BYTES", "65536")]).await;
    let mut raw = builder.start_raw().await;
    let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    for line in [
        b"{not json".as_slice(),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}",
        deep.as_bytes(),
    ] {
        raw.send(line).await;
        let answer = raw.next_message().await;
        assert_eq!(answer["id"], serde_json::Value::Null, "{answer}");
        assert_eq!(answer["error"]["code"], -32700, "{answer}");
    }
    raw.send("x".repeat(70_000).as_bytes()).await;
    let too_long = raw.next_message().await;
    assert_eq!(too_long["error"]["code"], -32600, "{too_long}");
    let message = too_long["error"]["message"].as_str().unwrap();
    assert!(message.contains("LUNATASK_MAX_MESSAGE_BYTES"), "{message}");

    let wrong_type = json!({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":5}});
    raw.send(wrong_type.to_string().as_bytes()).await;
    let (answer, _) = raw.answer(10).await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");

    // Two requests with one id while the first is still running: the second is refused,
    // the first answered.
    fake.inject(
        Some("GET /v1/ping"),
        1,
        Fault::Delay(Duration::from_millis(1_500)),
    );
    let ping = json!({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"ping"}});
    raw.send(ping.to_string().as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    raw.send(ping.to_string().as_bytes()).await;
    let refused = raw.next_message().await;
    assert_eq!(refused["id"], 11, "{refused}");
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    let answered = raw.next_message().await;
    assert_eq!(answered["id"], 11);
    assert_eq!(answered["result"]["structuredContent"]["message"], "pong");
    assert_eq!(fake.requests_to("GET /v1/ping").len(), 1);

    // The id is free again once answered; a last line needs no newline.
    raw.write(ping.to_string().as_bytes()).await;
    raw.close_stdin();
    let last = raw.next_message().await;
    assert_eq!(
        last["result"]["structuredContent"]["message"], "pong",
        "{last}"
    );
    assert!(raw.finish().await.success());
}
