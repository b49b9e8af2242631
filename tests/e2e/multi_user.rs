//! Multi-user mode: each request's bearer is its caller's LunaTask token, which the gate
//! adds to that call's requests and no other; sessions and rate limits are per user.

use std::time::{Duration, Instant};

use lunatask_mcp_tests::{AREA, FakeApi, HttpHost, Redis, ok, task_ids};
use rmcp::RoleClient;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use serde_json::{Value, json};

use crate::builder;

const ALICE: &str = "lt-alice-token-1b2c3d4e5f";
const BOB: &str = "lt-bob-token-6a7b8c9d0e";
const METRICS_TOKEN: &str = "metrics-token-5f4e3d2c";

/// Each user's rate limit: one request every two seconds, one at once. Were the limit
/// shared, Bob would wait about two seconds behind Alice.
const ONE_EVERY_TWO_SECONDS: [(&str, &str); 2] = [
    ("LUNATASK_RATE_LIMIT_RPM", "30"),
    ("LUNATASK_RATE_LIMIT_BURST", "1"),
];

/// Four sandbox slots in all, of which one user may hold two. Were there no share, Alice's
/// four slow calls would hold every slot and Bob would wait two seconds.
const TWO_OF_FOUR_SLOTS: [(&str, &str); 2] = [
    ("LUNATASK_MAX_CONCURRENT_CALLS", "4"),
    ("LUNATASK_MCP_USER_MAX_CONCURRENT_CALLS", "2"),
];

/// Alice's and Bob's accounts, a multi-user server in front of them, and a session each.
struct TwoUsers {
    alice: FakeApi,
    bob: FakeApi,
    /// Dropping it stops the server.
    http: HttpHost,
    as_alice: RunningService<RoleClient, ()>,
    as_bob: RunningService<RoleClient, ()>,
}

async fn alice_and_bob(env: &[(&str, &str)]) -> TwoUsers {
    let (alice, bob, http) = two_users(env).await;
    let as_alice = http.client(Some(ALICE)).await.unwrap();
    let as_bob = http.client(Some(BOB)).await.unwrap();
    TwoUsers {
        alice,
        bob,
        http,
        as_alice,
        as_bob,
    }
}

/// A fake holding Alice's and Bob's accounts, and a multi-user server in front of it.
async fn two_users(env: &[(&str, &str)]) -> (FakeApi, FakeApi, HttpHost) {
    let mut fakes = FakeApi::start_accounts(&[ALICE, BOB]).await;
    let bob = fakes.pop().unwrap();
    let alice = fakes.pop().unwrap();
    let builder = env
        .iter()
        .fold(builder().multi_user(&alice), |b, (k, v)| b.env(k, v));
    (alice, bob, builder.start_http().await)
}

async fn call(
    client: &RunningService<RoleClient, ()>,
    name: &'static str,
    arguments: Value,
) -> Value {
    let Value::Object(arguments) = arguments else {
        panic!("arguments are an object")
    };
    let params = CallToolRequestParams::new(name).with_arguments(arguments);
    ok(&client.call_tool(params).await.unwrap())
}

/// Every request an account received carried that account's token, and only that.
fn every_request_carries(fake: &FakeApi, token: &str) {
    for request in fake.requests() {
        let authorization = request.header("authorization").unwrap_or_default();
        assert_eq!(authorization, format!("bearer {token}"), "{request:?}");
    }
}

#[tokio::test]
async fn each_caller_reads_and_writes_only_their_own_account() {
    let users = alice_and_bob(&[("LUNATASK_MCP_METRICS_TOKEN", METRICS_TOKEN)]).await;
    let (alice, bob, as_alice, as_bob) = (&users.alice, &users.bob, &users.as_alice, &users.as_bob);
    let alices_task = alice.seed_task(json!({ "area_id": AREA }));
    let bobs_task = bob.seed_task(json!({ "area_id": AREA }));
    // Interleaved, and at once.
    let (a, b) = tokio::join!(
        call(as_alice, "list_tasks", json!({})),
        call(as_bob, "list_tasks", json!({}))
    );
    assert_eq!(task_ids(&a), std::slice::from_ref(&alices_task));
    assert_eq!(task_ids(&b), [bobs_task]);
    let created = call(as_bob, "create_task", json!({ "area_id": AREA })).await;
    assert_eq!(bob.with(|s| s.tasks.len()), 2, "{created}");
    assert_eq!(
        alice.with(|s| s.tasks.len()),
        1,
        "Bob's write reached only Bob's account"
    );
    let again = call(as_alice, "get_task", json!({ "task_id": alices_task })).await;
    assert_eq!(again["task"]["id"], alices_task.as_str());
    every_request_carries(alice, ALICE);
    every_request_carries(bob, BOB);
    assert!(alice.requests().len() >= 2 && bob.requests().len() >= 2);
    // Metrics count the users, never name them.
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", users.http.url))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("lunatask_mcp_users_seen_total 2"),
        "{metrics}"
    );
    assert!(!metrics.contains(ALICE) && !metrics.contains(BOB));
}

#[tokio::test]
async fn a_request_without_a_bearer_is_refused_and_a_wrong_one_is_lunatasks_401() {
    let (alice, _bob, http) = two_users(&[]).await;
    let url = format!("{}/mcp", http.url);
    let initialize = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": { "name": "t", "version": "1" } } });
    let response = reqwest::Client::new()
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");

    // A token LunaTask refuses opens nothing: checked once with LunaTask, answered 401.
    let stranger = http.client(Some("lt-not-a-real-token-000")).await;
    assert!(
        stranger.is_err(),
        "a session was opened for a refused token"
    );
    let checked = alice.requests_to("GET /v1/ping");
    assert_eq!(checked.len(), 1, "one check with LunaTask");
    assert_eq!(
        checked[0].header("authorization"),
        Some("bearer lt-not-a-real-token-000")
    );
    assert!(alice.with(|s| s.tasks.is_empty()));
}

#[tokio::test]
async fn a_session_answers_only_the_token_that_opened_it() {
    let (alice, _bob, http) = two_users(&[]).await;
    let url = format!("{}/mcp", http.url);
    let web = reqwest::Client::new();
    let post = |token: &'static str, session: Option<String>, message: Value| {
        let mut request = web
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .bearer_auth(token)
            .json(&message);
        if let Some(id) = session {
            request = request.header("mcp-session-id", id);
        }
        request.send()
    };
    let initialize = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": { "name": "t", "version": "1" } } });
    let opened = post(ALICE, None, initialize).await.unwrap();
    assert_eq!(opened.status(), 200);
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let answer = post(ALICE, Some(session.clone()), initialized)
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());

    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "list_tasks", "arguments": {} } });
    let hijack = post(BOB, Some(session.clone()), list.clone())
        .await
        .unwrap();
    assert_eq!(hijack.status(), 403, "Bob on Alice's session");
    // Alice's account saw only the check of her own token, when she opened the session.
    let seen: Vec<String> = alice
        .requests()
        .iter()
        .map(|r| format!("{} {} {:?}", r.method, r.path, r.header("authorization")))
        .collect();
    assert_eq!(
        seen,
        [format!("GET /v1/ping Some(\"bearer {ALICE}\")")],
        "nothing was sent for the hijacker"
    );
    let own = post(ALICE, Some(session), list).await.unwrap();
    assert_eq!(own.status(), 200);
    // The answer comes on the event stream: read it whole, so the call has been made.
    let answer = own.text().await.unwrap();
    assert!(answer.contains("\"isError\":false"), "{answer}");
    every_request_carries(&alice, ALICE);
    assert_eq!(
        alice.requests().len(),
        2,
        "the check of her token, and her call"
    );
}

/// Alice makes `pings` pings at once while Bob, 200 ms in, makes one: how long Alice's took
/// in all, and how long Bob's took.
async fn bob_while_alice_is_busy(users: &TwoUsers, pings: usize) -> (Duration, Duration) {
    let started = Instant::now();
    let busy = async {
        let all = (0..pings).map(|_| call(&users.as_alice, "ping", json!({})));
        futures::future::join_all(all).await;
        started.elapsed()
    };
    let quick = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let asked = Instant::now();
        call(&users.as_bob, "ping", json!({})).await;
        asked.elapsed()
    };
    tokio::join!(busy, quick)
}

#[tokio::test]
async fn one_user_spending_their_rate_limit_does_not_slow_another() {
    let users = alice_and_bob(&ONE_EVERY_TWO_SECONDS).await;
    // Opening each session checked its token with LunaTask, under its owner's limit: the
    // buckets fill again first.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (alice_took, bob_took) = bob_while_alice_is_busy(&users, 3).await;
    assert!(
        alice_took >= Duration::from_millis(3800),
        "Alice's three pings are held to one every two seconds: {alice_took:?}"
    );
    assert!(
        bob_took < Duration::from_millis(1200),
        "Bob waited for Alice's limit: {bob_took:?}"
    );
    every_request_carries(&users.bob, BOB);
}

#[tokio::test]
async fn no_token_reaches_stderr_at_trace_level() {
    let (_alice, _bob, http) = two_users(&[("LUNATASK_LOG", "trace")]).await;
    for token in [ALICE, BOB] {
        let client = http.client(Some(token)).await.unwrap();
        call(
            &client,
            "create_task",
            json!({ "area_id": AREA, "name": "x" }),
        )
        .await;
        call(&client, "list_tasks", json!({})).await;
    }
    let (_, stderr) = http.terminate().await;
    assert!(stderr.contains("api request"), "trace logs were written");
    for token in [ALICE, BOB] {
        assert!(!stderr.contains(token), "a token in stderr");
    }
}

#[tokio::test]
async fn multi_user_mode_refuses_settings_it_cannot_serve_safely() {
    let fake = FakeApi::start(ALICE).await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "LUNATASK_MCP_HTTP"),
        (
            &[
                ("LUNATASK_MCP_HTTP", "127.0.0.1:0"),
                ("LUNATASK_API_TOKEN", ALICE),
            ],
            "LUNATASK_API_TOKEN",
        ),
        (
            &[
                ("LUNATASK_MCP_HTTP", "127.0.0.1:0"),
                ("LUNATASK_MCP_AUTH_TOKEN", "shared-secret"),
            ],
            "LUNATASK_MCP_AUTH_TOKEN",
        ),
        // Replicas must agree on every user's hash, whose key is in Redis.
        (
            &[
                ("LUNATASK_MCP_HTTP", "127.0.0.1:0"),
                ("LUNATASK_REDIS_URL", "redis://127.0.0.1:9"),
            ],
            "LUNATASK_REDIS_URL",
        ),
    ];
    for (env, named) in cases {
        let builder = env
            .iter()
            .fold(builder().multi_user(&fake), |b, (k, v)| b.env(k, v));
        let out = builder.run().await;
        assert!(!out.status.success(), "{env:?} started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{env:?}: {stderr}");
        assert!(!stderr.contains(ALICE), "{stderr}");
    }
}

/// Replicas of a server for Alice's account, sharing `redis`.
async fn replicas(alice: &FakeApi, redis: &Redis, extra: &[(&str, &str)]) -> [HttpHost; 2] {
    let start = || {
        let builder = builder()
            .multi_user(alice)
            .env("LUNATASK_REDIS_URL", &redis.url)
            .env("LUNATASK_RATE_LIMIT_RPM", "120")
            .env("LUNATASK_RATE_LIMIT_BURST", "2");
        extra
            .iter()
            .fold(builder, |b, (k, v)| b.env(k, v))
            .start_http()
    };
    [start().await, start().await]
}

#[tokio::test]
async fn two_replicas_sharing_redis_hold_a_user_to_one_limit() {
    let redis = Redis::start();
    let alice = FakeApi::start(ALICE).await;
    let [one, two] = replicas(&alice, &redis, &[]).await;
    let on_one = one.client(Some(ALICE)).await.unwrap();
    let on_two = two.client(Some(ALICE)).await.unwrap();
    // Each replica checked Alice's token once when she opened its session.
    let checks = alice.requests_to("GET /v1/ping").len();
    assert_eq!(checks, 2);
    let pings = (0..3).flat_map(|_| {
        [
            call(&on_one, "ping", json!({})),
            call(&on_two, "ping", json!({})),
        ]
    });
    futures::future::join_all(pings).await;
    let sent: Vec<Instant> = alice.requests_to("GET /v1/ping")[checks..]
        .iter()
        .map(|r| r.at)
        .collect();
    assert_eq!(sent.len(), 6);
    // Burst 2, then one each half second, across both replicas: the sixth goes 2 s after the
    // first (each replica alone would have sent its three within half a second).
    let spread = *sent.iter().max().unwrap() - *sent.iter().min().unwrap();
    assert!(
        spread >= Duration::from_millis(1800),
        "six pings within {spread:?}"
    );
}

#[tokio::test]
async fn without_redis_a_replica_holds_its_own_limit_or_refuses_as_configured() {
    let redis = Redis::start();
    let alice = FakeApi::start(ALICE).await;
    let [local, _] = replicas(&alice, &redis, &[]).await;
    let [closed, _] = replicas(&alice, &redis, &[("LUNATASK_REDIS_UNAVAILABLE", "closed")]).await;
    let on_local = local.client(Some(ALICE)).await.unwrap();
    let on_closed = closed.client(Some(ALICE)).await.unwrap();
    call(&on_local, "ping", json!({})).await;
    call(&on_closed, "ping", json!({})).await;
    drop(redis);

    call(&on_local, "ping", json!({})).await;
    let params = CallToolRequestParams::new("ping");
    let refused = on_closed.call_tool(params).await.unwrap();
    assert_eq!(lunatask_mcp_tests::code(&refused), "rate_limited");
    assert_eq!(
        alice.requests_to("GET /v1/ping").len(),
        2 + 3,
        "each replica's check of the token, two calls before and one after: the refused \
         call sent nothing"
    );
    let (_, stderr) = local.terminate().await;
    assert!(stderr.contains("Redis is unavailable"), "{stderr}");
    assert!(!stderr.contains(ALICE));
}

#[tokio::test]
async fn one_user_cannot_take_every_sandbox_slot() {
    let users = alice_and_bob(&TWO_OF_FOUR_SLOTS).await;
    // Each of Alice's pings takes two seconds at her account.
    let slow = lunatask_mcp_tests::Fault::Delay(Duration::from_secs(2));
    users.alice.inject(Some("GET /v1/ping"), 4, slow);
    let (alice_took, bob_took) = bob_while_alice_is_busy(&users, 4).await;
    assert!(
        bob_took < Duration::from_millis(1200),
        "Bob waited for a sandbox slot: {bob_took:?}"
    );
    // Two at a time: Alice's four pings take two rounds.
    assert!(alice_took >= Duration::from_millis(3900), "{alice_took:?}");
}
