//! Answers every client accepts: each tool's results fit the `outputSchema` it publishes
//! (the harness checks every result in every test, see `tests/src/checked.rs`; here the
//! journal's answers, which broke it), nothing is written relative to the directory the
//! server is started in, and transport failures are told in words that name what to change.

use std::path::Path;
use std::time::Duration;

use lunatask_mcp_tests::{AREA, FakeApi, Fault, HostBuilder, TOKEN, err, ok, scratch_dir};
use serde_json::json;

use crate::builder;

/// `list_actions` after a create (whose changes have no `before`), an update (with it) and
/// an undo: each answer passes the harness's check against the published schema, as the
/// official Python SDK checks it.
#[tokio::test]
async fn the_journals_answers_fit_their_published_schemas() {
    let (fake, host) = crate::setup().await;
    let created = ok(&host
        .call("create_task", json!({ "area_id": AREA, "name": "x" }))
        .await);
    let id = created["task"]["id"].as_str().unwrap().to_string();
    ok(&host
        .call("update_task", json!({ "task_id": id, "priority": 2 }))
        .await);
    let listed = ok(&host.call("list_actions", json!({})).await);
    let changes = &listed["actions"][1]["changes"];
    assert!(
        changes
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("before").is_none()),
        "a create's changes have no before: {listed}"
    );
    let action = listed["actions"][0]["id"].clone();
    ok(&host.call("undo", json!({ "action_id": action })).await);
    ok(&host.call("list_actions", json!({ "tool": "undo" })).await);
    assert_eq!(fake.with(|s| s.tasks[&id]["priority"].clone()), 0);
}

/// Whether `dir` holds nothing.
fn empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

/// Started with `HOME=` (as some launchers do), and again with relative XDG directories,
/// from a scratch directory: the journal is kept in memory, the component is not cached,
/// each said in the log, and nothing is created where the server was started.
#[tokio::test]
async fn an_empty_or_relative_home_creates_nothing_in_the_launch_directory() {
    let fake = FakeApi::start(TOKEN).await;
    let launched_in = scratch_dir("launch-dir");
    let relative = [
        ("HOME", "home"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ];
    for env in [vec![("HOME", "")], relative.to_vec()] {
        let host = env
            .iter()
            .fold(builder().against(&fake), |b, (k, v)| b.env(k, v))
            .without_env("LUNATASK_STATE_DIR")
            .without_env("LUNATASK_CACHE_DIR")
            .current_dir(&launched_in)
            .start()
            .await;
        ok(&host.call("create_task", json!({ "area_id": AREA })).await);
        let listed = ok(&host.call("list_actions", json!({})).await);
        assert_eq!(listed["count"], 1, "journaled in memory: {listed}");
        let stderr = host.stop().await;
        assert!(stderr.contains("kept in memory"), "{env:?}: {stderr}");
        assert!(
            stderr.contains("not cached") && stderr.contains("LUNATASK_CACHE_DIR"),
            "{env:?}: {stderr}"
        );
        assert!(!stderr.contains(".local/state"), "{env:?}: {stderr}");
        assert!(
            empty(&launched_in),
            "{env:?} wrote into the launch directory"
        );
    }
}

/// A relative directory setting would be resolved against wherever the client started the
/// server: refused at start-up, naming the setting.
#[tokio::test]
async fn a_relative_state_or_cache_directory_setting_is_refused_at_start_up() {
    for setting in ["LUNATASK_STATE_DIR", "LUNATASK_CACHE_DIR"] {
        let out = builder()
            .env("LUNATASK_API_TOKEN", TOKEN)
            .env(setting, "relative/dir")
            .run()
            .await;
        assert!(!out.status.success(), "{setting} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(setting) && stderr.contains("absolute"),
            "{setting}: {stderr}"
        );
    }
}

/// A transport failure's message: in words, naming what to change, with no Rust type or
/// debug name in it. Pings through `host`, expecting the error `code` whose message has
/// every one of `wanted`; the error.
async fn ping_fails(host: HostBuilder, code: &str, wanted: &[&str]) -> serde_json::Value {
    let result = host.start().await.call("ping", json!({})).await;
    let error = err(&result);
    assert_eq!(error["code"], code, "{error}");
    let message = error["message"].as_str().unwrap();
    for word in wanted {
        assert!(message.contains(word), "{word:?} missing from {message:?}");
    }
    for rust in ["ErrorCode", "Error(", "::", "Tls", "Connection", "Dns"] {
        assert!(!message.contains(rust), "{rust:?} in {message:?}");
    }
    error
}

/// Fast retries, one of them.
fn retrying_once(builder: HostBuilder) -> HostBuilder {
    builder
        .env("LUNATASK_MAX_RETRIES", "1")
        .env("LUNATASK_RETRY_BASE_DELAY", "0.01")
}

#[tokio::test]
async fn an_untrusted_certificate_says_to_set_the_proxys_ca() {
    let fake = FakeApi::start_tls(TOKEN).await;
    let wanted = ["certificate was not trusted", "proxy", "LUNATASK_CA_CERT"];
    let error = ping_fails(builder().against(&fake), "network_error", &wanted).await;
    assert_eq!(error["retryable"], false);
}

#[tokio::test]
async fn plain_http_where_tls_is_expected_says_to_check_the_base_url() {
    let fake = FakeApi::start(TOKEN).await;
    let https = fake.base_url().replace("http://", "https://");
    let host = builder().against(&fake).env("LUNATASK_BASE_URL", https);
    ping_fails(host, "network_error", &["TLS", "LUNATASK_BASE_URL"]).await;
    fake.assert_sent("GET /v1/ping", 0, "nothing reached the API");
}

#[tokio::test]
async fn a_refused_connection_says_to_check_the_base_url_and_network() {
    let port = lunatask_mcp_tests::free_port();
    let host = builder()
        .env("LUNATASK_API_TOKEN", TOKEN)
        .env("LUNATASK_BASE_URL", format!("http://127.0.0.1:{port}/v1"));
    let wanted = ["refused the connection", "LUNATASK_BASE_URL", "network"];
    ping_fails(retrying_once(host), "network_error", &wanted).await;
}

#[tokio::test]
async fn a_slow_answer_names_the_read_timeout() {
    let fake = FakeApi::start(TOKEN).await;
    fake.inject(
        Some("GET /v1/ping"),
        9,
        Fault::Delay(Duration::from_secs(2)),
    );
    let host = retrying_once(builder().against(&fake)).env("LUNATASK_HTTP_TIMEOUT_READ", "0.2");
    let wanted = ["did not answer in time", "LUNATASK_HTTP_TIMEOUT_READ"];
    ping_fails(host, "timeout", &wanted).await;
}

#[tokio::test]
async fn a_dropped_connection_is_told_in_words() {
    let fake = FakeApi::start(TOKEN).await;
    fake.inject(Some("GET /v1/ping"), 9, Fault::DropBeforeApply);
    let host = retrying_once(builder().against(&fake));
    ping_fails(
        host,
        "network_error",
        &["connection to LunaTask broke", "network"],
    )
    .await;
}
