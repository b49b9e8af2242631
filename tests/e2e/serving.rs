//! Serving: the token stays secret, HTTP guards, metrics, concurrency, shutdown,
//! bad input, `check` and `--help`.

use std::time::{Duration, Instant};

use lunatask_mcp_tests::{AREA, FakeApi, Fault, TOKEN, ok, stateless_post, text};
use serde_json::json;

use crate::{builder, setup};

#[tokio::test]
async fn the_token_appears_nowhere_at_the_most_verbose_level() {
    let (fake, host) = crate::serve_with(&[("LUNATASK_LOG", "trace")]).await;
    let mut outputs = Vec::new();
    outputs.push(text(&host.call("ping", json!({})).await));
    outputs.push(text(
        &host
            .call("create_task", json!({ "area_id": AREA, "name": "n" }))
            .await,
    ));
    fake.inject(None, 1, Fault::status(401));
    outputs.push(text(&host.call("ping", json!({})).await));
    fake.inject(None, 5, Fault::status(503));
    outputs.push(text(&host.call("ping", json!({})).await));
    fake.inject(None, 1, Fault::DropBeforeApply);
    outputs.push(text(
        &host.call("get_task", json!({ "task_id": AREA })).await,
    ));
    outputs.push(text(
        &host.call("create_task", json!({ "priority": 9 })).await,
    ));
    outputs.push(format!("{:?}", host.read("lunatask://metrics").await));
    let stderr = host.stop().await;
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "verbose logging was on"
    );
    for out in outputs.iter().chain([&stderr]) {
        assert!(!out.contains(TOKEN), "token leaked: {out}");
    }
    // Encrypted user text is not logged either.
    assert!(!stderr.contains("\"n\""));

    // Nor with a bad token, nor in check's output.
    let out = builder()
        .env("LUNATASK_API_TOKEN", TOKEN)
        .env("LUNATASK_BASE_URL", "http://127.0.0.1:9/v1")
        .env("LUNATASK_LOG", "trace")
        .env("LUNATASK_MAX_RETRIES", "0")
        .arg("check")
        .run()
        .await;
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(TOKEN), "{all}");
}

#[tokio::test]
async fn check_calls_ping_and_sets_the_exit_code() {
    let fake = FakeApi::start(TOKEN).await;
    let out = builder().against(&fake).arg("check").run().await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
    assert_eq!(fake.requests_to("GET /v1/ping").len(), 1);

    let wrong = FakeApi::start("another-token").await;
    let out = builder()
        .against(&wrong)
        .env("LUNATASK_API_TOKEN", TOKEN)
        .arg("check")
        .run()
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("authentication_error"));
}

#[tokio::test]
async fn help_documents_every_option_with_its_environment_name() {
    let out = builder().arg("--help").run().await;
    let help = String::from_utf8_lossy(&out.stdout);
    for name in [
        "LUNATASK_TOKEN_FILE",
        "LUNATASK_BASE_URL",
        "LUNATASK_HTTP_TIMEOUT_CONNECT",
        "LUNATASK_HTTP_TIMEOUT_READ",
        "LUNATASK_HTTP_TIMEOUT_WRITE",
        "LUNATASK_MAX_RETRIES",
        "LUNATASK_RETRY_BASE_DELAY",
        "LUNATASK_RETRY_MAX_DELAY",
        "LUNATASK_RATE_LIMIT_RPM",
        "LUNATASK_RATE_LIMIT_BURST",
        "LUNATASK_LOG",
        "LUNATASK_MCP_HTTP",
        "LUNATASK_CA_CERT",
        "LUNATASK_MEMORY_LIMIT_MIB",
        "default: 5",
    ] {
        assert!(help.contains(name), "--help lacks {name}");
    }
}

#[tokio::test]
async fn invalid_configuration_stops_start_up_naming_the_setting() {
    for (key, value) in [
        ("LUNATASK_HTTP_TIMEOUT_CONNECT", "soon"),
        ("LUNATASK_MAX_RETRIES", "-1"),
        ("LUNATASK_RATE_LIMIT_RPM", "0"),
        ("LUNATASK_UTC_OFFSET", "Europe/Berlin"),
        ("LUNATASK_MCP_AUTH_TOKEN", "  "),
        ("LUNATASK_MCP_HTTP_MAX_CONNECTIONS", "0"),
        ("LUNATASK_MAX_PENDING_BYTES", "2000"),
    ] {
        let out = builder()
            .env("LUNATASK_API_TOKEN", TOKEN)
            .env(key, value)
            .run()
            .await;
        assert!(!out.status.success(), "{key}={value} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
        let flag = key
            .trim_start_matches("LUNATASK_")
            .to_lowercase()
            .replace('_', "-");
        assert!(
            stderr.contains(&flag) || stderr.contains(&key.to_lowercase()),
            "{key}: {stderr}"
        );
    }
}

#[tokio::test]
async fn configuration_precedence_is_flag_then_env_then_file() {
    let fake = FakeApi::start(TOKEN).await;
    let dir = lunatask_mcp_tests::scratch_dir("cfg");
    let file = dir.join("config.toml");
    // The file names a dead port; the environment's base URL (the fake) wins over it.
    std::fs::write(
        &file,
        "base_url = \"http://127.0.0.1:9/v1\"\nmax_retries = 0\n",
    )
    .unwrap();
    let out = builder()
        .against(&fake)
        .arg("--config")
        .arg(file.display())
        .arg("check")
        .run()
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A flag beats the environment.
    let out = builder()
        .against(&fake)
        .arg("--config")
        .arg(file.display())
        .arg("--base-url")
        .arg("http://127.0.0.1:9/v1")
        .arg("check")
        .run()
        .await;
    assert!(!out.status.success());
    // An unknown key in the file is an error, not ignored; a file value goes through the
    // flag's own check: out of range is refused, not clamped.
    for (contents, named) in [
        ("max_retry = 3\n", ["max_retry", "unknown"]),
        ("max_retries = 11\n", ["max_retries", "11"]),
    ] {
        std::fs::write(&file, contents).unwrap();
        let out = builder()
            .against(&fake)
            .arg("--config")
            .arg(file.display())
            .run()
            .await;
        assert!(!out.status.success(), "{contents:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(named.iter().all(|n| stderr.contains(n)), "{stderr}");
    }
}

#[tokio::test]
async fn the_token_can_come_from_a_file_and_a_shared_file_is_warned_about() {
    let fake = FakeApi::start(TOKEN).await;
    let dir = lunatask_mcp_tests::scratch_dir("tok");
    let path = dir.join("token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = builder()
        .env("LUNATASK_BASE_URL", fake.base_url())
        .env("LUNATASK_TOKEN_FILE", path.display())
        .arg("check")
        .run()
        .await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    assert_eq!(
        fake.requests()[0].header("authorization"),
        Some(format!("bearer {TOKEN}").as_str())
    );
}

#[tokio::test]
async fn slow_calls_do_not_block_others() {
    let (fake, host) = setup().await;
    let slow_id = fake.seed_task(json!({ "area_id": AREA }));
    fake.inject(
        Some("GET /v1/tasks/"),
        1,
        Fault::Delay(Duration::from_millis(1500)),
    );
    let started = Instant::now();
    let slow = host.call("get_task", json!({ "task_id": slow_id }));
    let fast = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let result = host.call("ping", json!({})).await;
        (result, started.elapsed())
    };
    let (slow, (fast, fast_done)) = tokio::join!(slow, fast);
    ok(&slow);
    ok(&fast);
    assert!(
        fast_done < Duration::from_millis(1200),
        "ping waited for the slow call: {fast_done:?}"
    );
}

#[tokio::test]
async fn bad_input_is_answered_and_serving_continues() {
    let (fake, builder) = crate::prepare(&[("LUNATASK_MAX_MESSAGE_BYTES", "65536")]).await;
    let mut raw = builder.start_raw().await;
    raw.send(b"{not json").await;
    for message in [
        json!({"jsonrpc":"2.0","id":2,"method":"no/such/method"}),
        json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}),
        json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"create_task","arguments":{"area_id":7}}}),
        json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"ping","arguments":{"x":"y".repeat(100_000)}}}),
        json!({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"ping","arguments":{}}}),
    ] {
        raw.send(message.to_string().as_bytes()).await;
    }
    let (last, earlier) = raw.answer(6).await;
    let by_id = |id: i64| earlier.iter().find(|m| m["id"] == id).cloned();
    assert_eq!(by_id(2).unwrap()["error"]["code"], -32601, "unknown method");
    assert_eq!(by_id(3).unwrap()["error"]["code"], -32602, "unknown tool");
    let wrong_type = by_id(4).unwrap();
    assert_eq!(
        wrong_type["result"]["isError"], true,
        "wrong-typed argument"
    );
    assert!(
        wrong_type["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("validation_error")
    );
    assert!(
        by_id(5).is_none_or(|a| a["result"]["structuredContent"]["message"] != "pong"),
        "an oversize message is refused, not executed"
    );
    assert_eq!(
        last["result"]["structuredContent"]["message"], "pong",
        "still serving"
    );
    assert!(
        fake.requests().len() == 1,
        "only the last ping reached the API"
    );
}

/// The `ping` tool answers over `client`.
async fn assert_ping_answers(client: &rmcp::service::RunningService<rmcp::RoleClient, ()>) {
    let result = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("ping").with_arguments(Default::default()),
        )
        .await
        .unwrap();
    assert_eq!(ok(&result)["message"], "pong");
}

#[tokio::test]
async fn http_serves_mcp_metrics_and_health_behind_its_guards() {
    let (_fake, http) =
        crate::serve_http_with(&[("LUNATASK_MCP_AUTH_TOKEN", "endpoint-secret")]).await;
    let web = reqwest::Client::new();

    // Health needs no auth; /mcp and /metrics do.
    let health = reqwest::get(format!("{}/healthz", http.url)).await.unwrap();
    assert_eq!(health.status(), 200);
    let unauth = reqwest::get(format!("{}/metrics", http.url)).await.unwrap();
    assert_eq!(unauth.status(), 401);
    assert!(
        http.client(None).await.is_err(),
        "MCP without the endpoint token is refused"
    );
    assert!(http.client(Some("wrong")).await.is_err());
    assert!(
        http.client(Some(TOKEN)).await.is_err(),
        "the LunaTask token is not the endpoint token"
    );

    // With the token: MCP works.
    let client = http.client(Some("endpoint-secret")).await.unwrap();
    assert_ping_answers(&client).await;

    // DNS rebinding: a foreign Host or Origin is refused with 403.
    let rebound = web
        .get(format!("{}/healthz", http.url))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    let cross = web
        .post(format!("{}/mcp", http.url))
        .header("origin", "https://evil.example")
        .bearer_auth("endpoint-secret")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);

    // Metrics in Prometheus text, counting the ping.
    let metrics = web
        .get(format!("{}/metrics", http.url))
        .bearer_auth("endpoint-secret")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "lunatask_mcp_api_requests_total{endpoint=\"GET /ping\",status_class=\"2xx\"} 1"
        ),
        "{metrics}"
    );
    drop(client);
    let (status, stderr) = http.terminate().await;
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("endpoint-secret") && !stderr.contains(TOKEN));
}

#[tokio::test]
async fn a_stateless_call_is_answered_with_plain_json() {
    let fake = FakeApi::start(TOKEN).await;
    let http = builder().against(&fake).start_http().await;
    // MCP 2026-07-28: no handshake and no session; each request names its protocol version.
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "create_task",
        "arguments": {"area_id": AREA, "name": "stateless"},
    }});
    let url = format!("{}/mcp", http.url);
    let response = stateless_post(&reqwest::Client::new(), &url, &call)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "a quick answer is one JSON body, not an event stream: {content_type}"
    );
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["id"], 7);
    let result = &answer["result"];
    assert_eq!(result["isError"], false, "{answer}");
    assert_eq!(result["structuredContent"]["outcome"], "created");
    let sent = fake.requests_to("POST /v1/tasks");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body.as_ref().unwrap()["name"], "stateless");
    assert_eq!(
        result["structuredContent"]["task"]["id"],
        fake.with(|s| json!(s.tasks.keys().next().unwrap()))
    );
}

/// A body declared as JSON that is not a JSON-RPC message gets JSON-RPC's answer (400, a
/// parse error or an invalid request, id null); a wrong content type stays 415; serving
/// goes on.
#[tokio::test]
async fn http_bodies_that_are_not_json_rpc_get_json_rpc_errors() {
    let (_fake, http) = crate::serve_http_with(&[("LUNATASK_MAX_MESSAGE_BYTES", "2048")]).await;
    let web = reqwest::Client::new();
    let post = |content_type: &'static str, body: &'static str| {
        web.post(format!("{}/mcp", http.url))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, code) in [
        ("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\"", -32700),
        ("not json at all", -32700),
        ("{\"hello\": \"world\"}", -32600),
    ] {
        let response = post("application/json", body).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
        assert_eq!(answer["id"], serde_json::Value::Null, "{answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    }
    let wrong_type = post("text/plain", "{}").await.unwrap();
    assert_eq!(wrong_type.status(), 415);
    let oversized = web
        .post(format!("{}/mcp", http.url))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(3000)))
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 413, "over LUNATASK_MAX_MESSAGE_BYTES");
    let client = http.client(None).await.expect("serving goes on");
    assert_ping_answers(&client).await;
}

#[tokio::test]
async fn sigterm_lets_calls_in_flight_finish() {
    let fake = FakeApi::start(TOKEN).await;
    let http = builder().against(&fake).start_http().await;
    let client = http.client(None).await.unwrap();
    fake.inject(
        Some("GET /v1/ping"),
        1,
        Fault::Delay(Duration::from_millis(1500)),
    );
    let call = tokio::spawn(async move {
        client
            .call_tool(
                rmcp::model::CallToolRequestParams::new("ping").with_arguments(Default::default()),
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, stderr) = http.terminate().await;
    assert!(status.success(), "{stderr}");
    let result = call
        .await
        .unwrap()
        .expect("the call in flight was answered");
    assert_eq!(ok(&result)["message"], "pong");
    assert!(stderr.contains("shutting down"));
}

#[tokio::test]
async fn https_to_a_private_ca_works_only_with_its_certificate_trusted() {
    let fake = FakeApi::start_tls(TOKEN).await;
    let trusted = builder().against_trusted(&fake).start().await;
    assert_eq!(
        ok(&trusted.call("ping", json!({})).await)["message"],
        "pong"
    );
    let sent = fake.requests_to("GET /v1/ping");
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("bearer {TOKEN}").as_str())
    );

    let untrusted = builder().against(&fake).start().await;
    let result = untrusted.call("ping", json!({})).await;
    assert_eq!(lunatask_mcp_tests::code(&result), "network_error");
    assert!(text(&result).contains("TLS"), "{}", text(&result));
    fake.assert_sent(
        "GET /v1/ping",
        1,
        "nothing sent over an untrusted connection",
    );
}

#[tokio::test]
async fn connections_to_the_api_are_kept_alive_across_calls() {
    let (fake, host) = setup().await;
    for _ in 0..5 {
        ok(&host.call("ping", json!({})).await);
    }
    assert_eq!(fake.requests().len(), 5);
    assert_eq!(
        fake.with(|s| s.connections),
        1,
        "one TCP connection served all five calls"
    );
}

#[tokio::test]
async fn the_compiled_component_is_cached_between_starts() {
    let fake = FakeApi::start(TOKEN).await;
    let cache = std::env::temp_dir().join(format!("lunatask-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let start = || {
        builder()
            .against(&fake)
            .env("LUNATASK_CACHE_DIR", cache.display())
            .env("LUNATASK_LOG", "debug")
            .arg("check")
            .run()
    };
    let first = start().await;
    assert!(String::from_utf8_lossy(&first.stderr).contains("compiled the component"));
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1, "one artifact");
    assert!(cached[0].file_name().to_string_lossy().ends_with(".cwasm"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the cache folder is private: {mode:o}");
    let second = start().await;
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("loaded the cached component"));
}

/// Clients built on libuv (Node) hand a server Unix socket pairs, not pipes, for stdio; the
/// server polls those on its runtime like pipes. One socket as both stdin and stdout here.
#[tokio::test]
async fn stdio_over_a_unix_socket_pair_works() {
    use std::os::fd::OwnedFd;
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let fake = FakeApi::start(TOKEN).await;
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let theirs_out = theirs.try_clone().unwrap();
    let mut child = builder()
        .against(&fake)
        .command()
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(theirs_out)))
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    ours.set_nonblocking(true).unwrap();
    let (read, mut write) = tokio::net::UnixStream::from_std(ours).unwrap().into_split();
    let mut lines = BufReader::new(read).lines();
    let messages = [
        json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"uv","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","arguments":{}}}),
    ];
    for message in messages {
        write
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
    }
    let mut answers = Vec::new();
    while answers.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("an answer in time")
            .unwrap()
            .expect("the server keeps the socket open");
        answers.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
    }
    assert_eq!(answers[0]["id"], 0);
    assert_eq!(answers[1]["result"]["structuredContent"]["message"], "pong");
    assert_eq!(fake.requests_to("GET /v1/ping").len(), 1);
    drop(write);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the server ends when its input closes")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// With one call slot, a second call waits its turn instead of failing; both succeed, and
/// the second reaches the API only after the first is done.
#[tokio::test]
async fn calls_beyond_the_concurrency_limit_wait_their_turn() {
    let (fake, host) = crate::serve_with(&[("LUNATASK_MAX_CONCURRENT_CALLS", "1")]).await;
    fake.inject(
        Some("GET /v1/ping"),
        1,
        Fault::Delay(Duration::from_millis(800)),
    );
    let first = host.call("ping", json!({}));
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        host.call("ping", json!({})).await
    };
    let (first, second) = tokio::join!(first, second);
    ok(&first);
    ok(&second);
    let pings = fake.requests_to("GET /v1/ping");
    assert_eq!(pings.len(), 2);
    assert!(
        pings[1].at.duration_since(pings[0].at) >= Duration::from_millis(700),
        "the second call ran beside the first"
    );
}

/// Over stdio too, SIGTERM lets the call in flight finish and answer before the exit.
#[tokio::test]
async fn sigterm_over_stdio_answers_the_call_in_flight() {
    let fake = FakeApi::start(TOKEN).await;
    let mut raw = builder().against(&fake).start_raw().await;
    fake.inject(
        Some("GET /v1/ping"),
        1,
        Fault::Delay(Duration::from_millis(1200)),
    );
    let call = json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"ping","arguments":{}}});
    raw.send(call.to_string().as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = raw.child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let (answer, _) = raw.answer(9).await;
    assert_eq!(answer["result"]["structuredContent"]["message"], "pong");
    let status = tokio::time::timeout(Duration::from_secs(10), raw.child.wait())
        .await
        .expect("exits after the call")
        .unwrap();
    assert!(status.success(), "{status:?}");
}
