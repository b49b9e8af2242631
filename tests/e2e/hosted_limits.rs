//! What an attacker of a multi-user server cannot take: session slots (made-up tokens open
//! nothing; one caller holds at most their own share; a full server says when to come
//! back), token checks with LunaTask (bounded per address and in all), and the server's
//! usage (`lunatask://metrics` and `/metrics` are the operator's).

use lunatask_mcp_tests::{FakeApi, HttpHost};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::builder;

const ALICE: &str = "lt-alice-token-1b2c3d4e5f";
const BOB: &str = "lt-bob-token-6a7b8c9d0e";

fn initialize() -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": { "name": "t", "version": "1" } } })
}

/// `initialize` with `token`: the answer's status, session id and `Retry-After`.
async fn open(http: &HttpHost, token: &str) -> (StatusCode, Option<String>, Option<String>) {
    let response = reqwest::Client::new()
        .post(format!("{}/mcp", http.url))
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(token)
        .json(&initialize())
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    (
        response.status(),
        header("mcp-session-id"),
        header("retry-after"),
    )
}

/// A `ping` request in session `id` with `token`: its status.
async fn ping_in(http: &HttpHost, token: &str, id: &str) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{}/mcp", http.url))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", id)
        .bearer_auth(token)
        .json(&json!({ "jsonrpc": "2.0", "id": 2, "method": "ping" }))
        .send()
        .await
        .unwrap()
        .status()
}

async fn server(env: &[(&str, &str)]) -> (FakeApi, FakeApi, HttpHost) {
    let mut fakes = FakeApi::start_accounts(&[ALICE, BOB]).await;
    let bob = fakes.pop().unwrap();
    let alice = fakes.pop().unwrap();
    let http = env
        .iter()
        .fold(builder().multi_user(&alice), |b, (k, v)| b.env(k, v))
        .start_http()
        .await;
    (alice, bob, http)
}

/// The review filled every session slot with 30 made-up bearers in 0.04 s, after which a
/// real user's `initialize` got 500 for five minutes.
#[tokio::test]
async fn made_up_tokens_open_no_session_and_a_full_server_answers_503() {
    let (alice, _bob, http) = server(&[("LUNATASK_MCP_MAX_SESSIONS", "3")]).await;
    // Alice and Bob signed in before the flood (their tokens are remembered as accepted:
    // the flood comes from their address, loopback, and spends its checks).
    let (status, _, _) = open(&http, ALICE).await;
    assert_eq!(status, StatusCode::OK);
    let (status, bobs, _) = open(&http, BOB).await;
    assert_eq!(status, StatusCode::OK);
    let closed = reqwest::Client::new()
        .delete(format!("{}/mcp", http.url))
        .header("mcp-session-id", bobs.unwrap())
        .bearer_auth(BOB)
        .send()
        .await
        .unwrap();
    assert!(closed.status().is_success(), "{}", closed.status());
    let mut statuses = Vec::new();
    for n in 0..30 {
        let (status, session, _) = open(&http, &format!("lt_bogus_{n}")).await;
        assert!(session.is_none(), "a made-up token opened a session");
        statuses.push(status);
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let checks = alice.requests_to("GET /v1/ping").len();
    assert!(
        checks <= 5,
        "{checks} token checks reached LunaTask for one address"
    );

    // Real users still get in; once every slot is taken, 503 with Retry-After.
    for _ in 0..2 {
        let (status, session, _) = open(&http, ALICE).await;
        assert_eq!(status, StatusCode::OK);
        assert!(session.is_some());
    }
    let (status, session, retry_after) = open(&http, BOB).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(session.is_none());
    let wait: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
}

#[tokio::test]
async fn a_caller_beyond_their_own_cap_gives_up_their_least_recently_used_session() {
    let (_alice, _bob, http) = server(&[("LUNATASK_MCP_USER_MAX_SESSIONS", "2")]).await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let (status, session, _) = open(&http, ALICE).await;
        assert_eq!(status, StatusCode::OK);
        sessions.push(session.unwrap());
    }
    assert_eq!(
        ping_in(&http, ALICE, &sessions[0]).await,
        StatusCode::NOT_FOUND
    );
    for kept in &sessions[1..] {
        assert_eq!(ping_in(&http, ALICE, kept).await, StatusCode::OK);
    }
    // Bob's share is his own.
    let (status, _, _) = open(&http, BOB).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ping_in(&http, ALICE, &sessions[2]).await, StatusCode::OK);
}

/// The review read every caller's usage through `lunatask://metrics` with a made-up token.
#[tokio::test]
async fn the_servers_usage_is_its_operators() {
    let (_alice, _bob, http) = server(&[]).await;
    let client = http.client(Some(ALICE)).await.unwrap();
    let listed = client.list_all_resources().await.unwrap();
    assert!(
        listed.iter().all(|r| r.uri != "lunatask://metrics"),
        "{listed:?}"
    );
    let read = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "lunatask://metrics",
        ))
        .await;
    let refused = format!("{:?}", read.expect_err("refused"));
    assert!(refused.contains("operator"), "{refused}");
    let page = reqwest::get(format!("{}/metrics", http.url)).await.unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    let said = page.text().await.unwrap();
    assert!(said.contains("LUNATASK_MCP_METRICS_TOKEN"), "{said}");
}

#[tokio::test]
async fn metrics_can_be_served_on_their_own_address_or_behind_their_own_token() {
    let port = lunatask_mcp_tests::free_port();
    let (_alice, _bob, http) =
        server(&[("LUNATASK_MCP_METRICS_ADDR", &format!("127.0.0.1:{port}"))]).await;
    let on_mcp = reqwest::get(format!("{}/metrics", http.url)).await.unwrap();
    assert!(
        [StatusCode::NOT_FOUND, StatusCode::UNAUTHORIZED].contains(&on_mcp.status()),
        "not served beside /mcp: {}",
        on_mcp.status()
    );
    let own = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert!(own.text().await.unwrap().contains("lunatask_mcp_"));

    let (_alice, _bob, http) = server(&[("LUNATASK_MCP_METRICS_TOKEN", "m-5f4e3d")]).await;
    let web = reqwest::Client::new();
    let url = format!("{}/metrics", http.url);
    let without = web.get(&url).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    let with_user_token = web.get(&url).bearer_auth(ALICE).send().await.unwrap();
    assert_eq!(with_user_token.status(), StatusCode::UNAUTHORIZED);
    let with = web.get(&url).bearer_auth("m-5f4e3d").send().await.unwrap();
    assert_eq!(with.status(), StatusCode::OK);
}
