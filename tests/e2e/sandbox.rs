//! The sandbox, proven with a hostile component in place of the real guest: other hosts are
//! refused, the guest's own Authorization is not used, it has no environment, files or
//! sockets, and endless loops or allocation end that call only.

use std::time::{Duration, Instant};

use lunatask_mcp_tests::{
    AREA, FakeApi, HOSTILE_GUEST_WASM, Host, TOKEN, correlation_id, err, text,
};
use serde_json::{Value, json};

async fn hostile(extra: &[(&str, &str)]) -> (FakeApi, Host) {
    let (fake, builder) = crate::prepare(extra).await;
    let host = builder
        .env("LUNATASK_COMPONENT", HOSTILE_GUEST_WASM)
        .start()
        .await;
    (fake, host)
}

/// After a call was stopped, the next call on the same server works.
async fn assert_next_call_works(host: &Host, fake: &FakeApi) {
    assert_eq!(
        fetch_ping(host, fake).await,
        "status=200",
        "the next call works"
    );
}

/// The hostile guest fetching the API's /ping, which the gate allows.
async fn fetch_ping(host: &Host, fake: &FakeApi) -> String {
    let url = format!("{}/ping", fake.base_url());
    text(&host.call("fetch", json!({ "url": url })).await)
}

/// The call was stopped with `code`, named `setting` (if any), carried its correlation id
/// in the error and in `_meta`, and showed no wasm backtrace. Returns the error object.
fn assert_stopped(
    result: &rmcp::model::CallToolResult,
    code: &str,
    setting: Option<&str>,
) -> Value {
    let error = err(result);
    assert_eq!(error["code"], code, "{error}");
    assert_eq!(error["setting"].as_str(), setting, "{error}");
    assert_eq!(error["correlation_id"], correlation_id(result), "{error}");
    assert_no_backtrace(&text(result));
    if let Some(setting) = setting {
        assert!(
            error["message"].as_str().unwrap().contains(setting),
            "{error}"
        );
    }
    error
}

fn assert_no_backtrace(text: &str) {
    for marker in ["wasm function", "backtrace", "<unknown>", "0x"] {
        assert!(!text.contains(marker), "{marker:?} in {text}");
    }
}

#[tokio::test]
async fn requests_to_any_other_host_are_refused() {
    let (fake, host) = hostile(&[]).await;
    let other = FakeApi::start(TOKEN).await;
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
    let (fake, host) = hostile(&[]).await;
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
    let (fake, host) = hostile(&[("LUNATASK_CALL_TIMEOUT", "1")]).await;
    let started = Instant::now();
    let result = host.call("loop_forever", json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded: {:?}",
        started.elapsed()
    );
    let error = assert_stopped(&result, "timeout", Some("LUNATASK_CALL_TIMEOUT"));
    assert_eq!(error["retryable"], true);
    assert_next_call_works(&host, &fake).await;
}

#[tokio::test]
async fn endless_allocation_hits_the_memory_cap_and_the_next_call_works() {
    let (fake, host) = hostile(&[("LUNATASK_MEMORY_LIMIT_MIB", "16")]).await;
    let result = host.call("allocate_forever", json!({})).await;
    let error = assert_stopped(&result, "memory_limit", Some("LUNATASK_MEMORY_LIMIT_MIB"));
    assert_eq!(error["retryable"], false);
    assert!(
        error["message"].as_str().unwrap().contains("(16 MiB)"),
        "{error}"
    );
    assert_next_call_works(&host, &fake).await;
}

#[tokio::test]
async fn what_the_guest_prints_never_reaches_stdout() {
    let (fake, host) = hostile(&[]).await;
    assert_eq!(
        text(&host.call("print_to_stdout", json!({})).await),
        "printed"
    );
    // Had the forged JSON-RPC lines reached stdout, the client's next request would fail or
    // be answered wrongly.
    assert_next_call_works(&host, &fake).await;
}

/// Instances are made ahead of time, but each serves one call only: nothing a call leaves in
/// the guest's memory is there for the next, one after another or side by side.
#[tokio::test]
async fn no_call_sees_what_an_earlier_call_left_in_memory() {
    let (_fake, host) = hostile(&[]).await;
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

/// A fault in the component is reported as a bug, with the correlation id to report it by;
/// the backtrace goes to the log at debug level under the same id, never to the client.
#[tokio::test]
async fn a_trap_in_the_component_is_a_bug_with_its_correlation_id() {
    let (fake, host) = hostile(&[("LUNATASK_LOG", "debug")]).await;
    let result = host.call("trap", json!({})).await;
    let error = assert_stopped(&result, "internal_error", None);
    assert!(
        error["message"].as_str().unwrap().contains("bug"),
        "{error}"
    );
    let id = correlation_id(&result);
    assert_eq!(fetch_ping(&host, &fake).await, "status=200");
    let log = host.stop().await;
    assert!(
        log.lines()
            .any(|l| l.contains(&id) && l.contains("wasm backtrace")),
        "the backtrace is logged under {id}:\n{log}"
    );
}

/// The real guest on an answer larger than its memory: a clear `memory_limit` naming the
/// setting, for tools and resources alike, under the correlation id the requests carried.
#[tokio::test]
async fn a_list_beyond_the_memory_cap_says_which_setting_to_raise() {
    let fake = FakeApi::start(TOKEN).await;
    // A list streams in whatever the account's size; what an answer returns must fit. Here
    // a thousand tasks of 16 KiB each (a field LunaTask may add, passed through).
    let field = "x".repeat(16 * 1024);
    for _ in 0..1_000 {
        fake.seed_task(json!({ "area_id": AREA, "priority": 2, "added_later": field }));
    }
    let host = crate::builder()
        .against(&fake)
        .env("LUNATASK_MEMORY_LIMIT_MIB", "8")
        .start()
        .await;
    let result = host.call("list_tasks", json!({ "limit": 1000 })).await;
    let error = assert_stopped(&result, "memory_limit", Some("LUNATASK_MEMORY_LIMIT_MIB"));
    assert!(
        error["message"].as_str().unwrap().contains("(8 MiB)"),
        "{error}"
    );
    assert_eq!(
        error.get("outcome"),
        None,
        "a read has no outcome to report"
    );
    let sent = fake.requests_to("GET /v1/tasks");
    assert_eq!(
        sent.last().unwrap().header("x-correlation-id"),
        Some(correlation_id(&result).as_str()),
        "the failure is reported under the id its request carried"
    );
    // The call's memory grew until the cap: the peak it was allowed is measured.
    let metrics = host.read("lunatask://metrics").await.unwrap();
    let memory = &metrics["guest_memory_peak_bytes"]["list_tasks"];
    assert_eq!(memory["count"], 1, "{metrics}");
    let peak = memory["mean"].as_f64().unwrap() / (1024.0 * 1024.0);
    assert!(
        (2.0..=8.0).contains(&peak),
        "a peak of {peak} MiB, grown past the start and within the 8 MiB cap"
    );

    // A resource read stopped the same way: one task whose answer is larger than the cap
    // (views keep only their first hundred tasks, so a long view no longer fills it).
    let huge = fake.seed_task(json!({ "area_id": AREA, "added_later": "x".repeat(9 << 20) }));
    let read = host.read(&format!("lunatask://tasks/{huge}")).await;
    let rmcp::service::ServiceError::McpError(error) = read.expect_err("the read fails") else {
        panic!("expected a JSON-RPC error");
    };
    assert_no_backtrace(&error.message);
    // The same envelope a tool's error text has, as the guest's own resource errors carry.
    let data = error.data.expect("the error object as data");
    assert_eq!(data["error"]["code"], "memory_limit", "{data}");
    assert_eq!(
        data["error"]["setting"], "LUNATASK_MEMORY_LIMIT_MIB",
        "{data}"
    );
    assert!(data["error"]["correlation_id"].is_string(), "{data}");
    assert!(error.message.contains("LUNATASK_MEMORY_LIMIT_MIB"));
}
