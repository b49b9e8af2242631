//! The sandbox, proven with a hostile component in place of the real guest: other hosts are
//! refused, the guest's own Authorization is not used, it has no environment, files or
//! sockets, and endless loops or allocation end that call only.

use std::time::{Duration, Instant};

use lunatask_mcp_tests::{FakeApi, HOSTILE_GUEST_WASM, Host, TOKEN, text};
use serde_json::json;

use crate::builder;

async fn hostile(fake: &FakeApi, extra: &[(&str, &str)]) -> Host {
    let mut b = builder()
        .against(fake)
        .env("LUNATASK_COMPONENT", HOSTILE_GUEST_WASM);
    for (k, v) in extra {
        b = b.env(k, v);
    }
    b.start().await
}

/// The hostile guest fetching the API's /ping, which the gate allows.
async fn fetch_ping(host: &Host, fake: &FakeApi) -> String {
    let url = format!("{}/ping", fake.base_url());
    text(&host.call("fetch", json!({ "url": url })).await)
}

fn assert_internal_error(result: &rmcp::model::CallToolResult) {
    assert_eq!(result.is_error, Some(true));
    assert!(text(result).contains("internal_error"), "{}", text(result));
}

#[tokio::test]
async fn requests_to_any_other_host_are_refused() {
    let fake = FakeApi::start(TOKEN).await;
    let other = FakeApi::start(TOKEN).await;
    let host = hostile(&fake, &[]).await;
    for url in [
        format!("http://127.0.0.1:{}/v1/ping", other.addr.port()),
        format!("http://localhost:{}/v1/ping", fake.addr.port()),
        format!("https://127.0.0.1:{}/v1/ping", fake.addr.port()),
        "http://example.com/".to_string(),
    ] {
        let out = text(&host.call("fetch", json!({ "url": url })).await);
        assert!(out.contains("HttpRequestDenied"), "{url}: {out}");
    }
    assert!(other.requests().is_empty(), "the other host saw nothing");
    assert!(
        fake.requests().is_empty(),
        "no look-alike of the API got through"
    );
    // The allowed authority works, with the host's token, whatever the guest tried to send.
    let out = text(
        &host
            .call("fetch", json!({ "url": format!("{}/ping", fake.base_url()), "authorization": "bearer stolen" }))
            .await,
    );
    let seen = fake.requests();
    if out.contains("status=") {
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen[0].header("authorization"),
            Some(format!("bearer {TOKEN}").as_str())
        );
    } else {
        // wasi-http forbids the header outright: then nothing was sent at all.
        assert!(out.contains("error="), "{out}");
        assert!(seen.is_empty());
    }
    let out = text(
        &host
            .call(
                "fetch",
                json!({ "url": format!("{}/ping", fake.base_url()) }),
            )
            .await,
    );
    assert_eq!(out, "status=200");
    assert!(host.stop().await.contains("egress denied"));
}

#[tokio::test]
async fn the_guest_has_no_environment_files_or_sockets() {
    let fake = FakeApi::start(TOKEN).await;
    let host = hostile(&fake, &[]).await;
    let env = text(&host.call("read_env", json!({})).await);
    assert_eq!(env, "env=[] args=[]");
    assert!(!env.contains(TOKEN));
    let files = text(&host.call("read_files", json!({})).await);
    assert!(
        files.contains("root=Err") && files.contains("passwd=Err"),
        "{files}"
    );
    let socket = text(
        &host
            .call("open_socket", json!({ "addr": fake.addr.to_string() }))
            .await,
    );
    assert!(socket.starts_with("socket=Err"), "{socket}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn an_endless_loop_ends_that_call_and_the_next_call_works() {
    let fake = FakeApi::start(TOKEN).await;
    let host = hostile(&fake, &[("LUNATASK_CALL_TIMEOUT", "1")]).await;
    let started = Instant::now();
    let result = host.call("loop_forever", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded: {:?}",
        started.elapsed()
    );
    assert_internal_error(&result);
    assert_eq!(
        fetch_ping(&host, &fake).await,
        "status=200",
        "the next call works"
    );
}

#[tokio::test]
async fn endless_allocation_hits_the_memory_cap_and_the_next_call_works() {
    let fake = FakeApi::start(TOKEN).await;
    let host = hostile(&fake, &[("LUNATASK_MEMORY_LIMIT_MIB", "16")]).await;
    let result = host.call("allocate_forever", json!({})).await;
    assert_internal_error(&result);
    assert_eq!(
        fetch_ping(&host, &fake).await,
        "status=200",
        "the next call works"
    );
}

#[tokio::test]
async fn what_the_guest_prints_never_reaches_stdout() {
    let fake = FakeApi::start(TOKEN).await;
    let host = hostile(&fake, &[]).await;
    assert_eq!(
        text(&host.call("print_to_stdout", json!({})).await),
        "printed"
    );
    // Had the forged JSON-RPC lines reached stdout, the client's next request would fail or
    // be answered wrongly.
    assert_eq!(
        fetch_ping(&host, &fake).await,
        "status=200",
        "the next call works"
    );
}

/// Instances are made ahead of time, but each serves one call only: nothing a call leaves in
/// the guest's memory is there for the next, one after another or side by side.
#[tokio::test]
async fn no_call_sees_what_an_earlier_call_left_in_memory() {
    let fake = FakeApi::start(TOKEN).await;
    let host = hostile(&fake, &[]).await;
    for i in 0..5 {
        let out = text(
            &host
                .call("remember", json!({ "secret": format!("secret-{i}") }))
                .await,
        );
        assert_eq!(out, "earlier=None", "call {i}");
    }
    let side_by_side = (0..8).map(|i| host.call("remember", json!({ "secret": format!("c{i}") })));
    for (i, result) in futures::future::join_all(side_by_side)
        .await
        .iter()
        .enumerate()
    {
        assert_eq!(text(result), "earlier=None", "concurrent call {i}");
    }
    host.stop().await;
}
