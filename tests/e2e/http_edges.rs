//! The HTTP edges real clients hit: ending a session, OAuth discovery without OAuth, and
//! resuming an event stream after its answer was produced.

use std::time::Duration;

use lunatask_mcp_tests::{FakeApi, Fault, TOKEN};
use serde_json::{Value, json};

use crate::builder;

const ACCEPT: &str = "application/json, text/event-stream";

/// Opens a session (2025-06-18, event streams) and returns its id.
async fn open(web: &reqwest::Client, url: &str, bearer: Option<&str>) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "edges", "version": "1"}}});
    let mut post = web.post(url).header("accept", ACCEPT).json(&init);
    if let Some(token) = bearer {
        post = post.bearer_auth(token);
    }
    let response = post.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = response.bytes().await;
    let mut initialized = session_post(
        web,
        url,
        &id,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    if let Some(token) = bearer {
        initialized = initialized.bearer_auth(token);
    }
    assert!(initialized.send().await.unwrap().status().is_success());
    id
}

fn session_post(
    web: &reqwest::Client,
    url: &str,
    id: &str,
    body: &Value,
) -> reqwest::RequestBuilder {
    web.post(url)
        .header("accept", ACCEPT)
        .header("mcp-session-id", id)
        .header("mcp-protocol-version", "2025-06-18")
        .json(body)
}

/// The `(id, data)` of each event in an event-stream text.
fn events(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|event| {
            let field = |name: &str| {
                event
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_string())
            };
            (field("id:"), field("data:").unwrap_or_default())
        })
        .collect()
}

#[tokio::test]
async fn ending_a_session_answers_204_and_oauth_discovery_404() {
    let (_fake, http) =
        crate::serve_http_with(&[("LUNATASK_MCP_AUTH_TOKEN", "endpoint-secret")]).await;
    let web = reqwest::Client::new();
    let url = format!("{}/mcp", http.url);
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
    ] {
        let answer = web.get(format!("{}{path}", http.url)).send().await.unwrap();
        assert_eq!(
            answer.status(),
            404,
            "{path}: no OAuth, so not a 401 that starts one"
        );
    }
    let id = open(&web, &url, Some("endpoint-secret")).await;
    let end = web
        .delete(&url)
        .bearer_auth("endpoint-secret")
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), 204);
    // The session is gone.
    let after = session_post(
        &web,
        &url,
        &id,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .bearer_auth("endpoint-secret")
    .send()
    .await
    .unwrap();
    assert_eq!(after.status(), 404);
}

/// A client that loses its connection while a call runs reconnects with `Last-Event-ID`
/// and still gets the answer, produced while it was away; so does one that reconnects after
/// a stream it read whole.
#[tokio::test]
async fn an_answer_produced_while_the_client_was_away_is_resumed() {
    let fake = FakeApi::start(TOKEN).await;
    fake.inject(
        Some("GET /v1/ping"),
        1,
        Fault::Delay(Duration::from_millis(700)),
    );
    let http = builder().against(&fake).start_http().await;
    let web = reqwest::Client::new();
    let url = format!("{}/mcp", http.url);
    let id = open(&web, &url, None).await;
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "ping", "arguments": {}}});
    let mut stream = session_post(&web, &url, &id, &call).send().await.unwrap();
    // The priming event names the stream; then the connection breaks before the answer.
    let first = String::from_utf8(stream.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    let primed = events(&first)[0].0.clone().expect("a priming event id");
    drop(stream);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(fake.requests_to("GET /v1/ping").len(), 1, "the call ran on");

    let resume = |last: String| {
        web.get(&url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &id)
            .header("mcp-protocol-version", "2025-06-18")
            .header("last-event-id", last)
            .timeout(Duration::from_secs(5))
            .send()
    };
    let resumed = resume(primed.clone()).await.unwrap();
    assert_eq!(resumed.status(), 200);
    let text = resumed.text().await.unwrap();
    let answers: Vec<Value> = events(&text)
        .into_iter()
        .filter_map(|(_, data)| serde_json::from_str(&data).ok())
        .collect();
    assert_eq!(answers.len(), 1, "{text}");
    assert_eq!(answers[0]["id"], 7);
    assert_eq!(answers[0]["result"]["structuredContent"]["message"], "pong");
    // Resumed again from the same point, the same answer, and nothing was sent twice.
    let again = resume(primed).await.unwrap().text().await.unwrap();
    assert!(again.contains("pong"), "{again}");
    assert_eq!(fake.requests_to("GET /v1/ping").len(), 1);
}
