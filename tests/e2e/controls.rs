//! Agent controls: read-only mode and tool selection, from the settings and (over HTTP)
//! narrowed per request by headers, never widened.

use lunatask_mcp_tests::{AREA, MISSING_ID, err, ok, stateless_post};
use serde_json::{Value, json};

use crate::{prepare, serve_http_with, serve_with};

/// The names `tools/list` offers.
async fn listed(host: &lunatask_mcp_tests::Host) -> Vec<String> {
    let tools = host.client.list_all_tools().await.unwrap();
    tools.iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test]
async fn read_only_lists_and_serves_only_the_tools_that_read() {
    let (fake, host) = serve_with(&[("LUNATASK_READ_ONLY", "true")]).await;
    let tools = host.client.list_all_tools().await.unwrap();
    assert!(tools.len() >= 5, "the read tools stay: {}", tools.len());
    for tool in &tools {
        let annotations = tool.annotations.as_ref().unwrap();
        assert_eq!(
            annotations.read_only_hint,
            Some(true),
            "{} is listed",
            tool.name
        );
    }
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(
        names.contains(&"list_tasks") && names.contains(&"ping"),
        "{names:?}"
    );

    let refused = host
        .call("create_task", json!({ "area_id": AREA, "name": "no" }))
        .await;
    let error = err(&refused);
    assert_eq!(error["code"], "tool_not_allowed", "{error}");
    assert_eq!(error["setting"], "LUNATASK_READ_ONLY");
    assert_eq!(error["outcome"], "not_applied");
    assert_eq!(error["retryable"], false);
    assert!(error["correlation_id"].is_string());
    ok(&host.call("list_tasks", json!({})).await);
    assert!(
        fake.requests().iter().all(|r| r.method == "GET"),
        "a read-only server sent a write"
    );
}

#[tokio::test]
async fn chosen_and_excluded_tools_are_the_only_ones_offered() {
    let (fake, builder) = prepare(&[("LUNATASK_EXCLUDE_TOOLS", "delete_task")]).await;
    let host = builder
        .arg("--tools")
        .arg("ping,get_task,delete_task")
        .start()
        .await;
    assert_eq!(listed(&host).await, ["ping", "get_task"]);
    let chosen = err(&host.call("list_tasks", json!({})).await);
    assert_eq!(chosen["code"], "tool_not_allowed");
    assert_eq!(chosen["setting"], "LUNATASK_TOOLS");
    assert!(
        chosen.get("outcome").is_none(),
        "a read has no write outcome"
    );
    let excluded = err(&host
        .call("delete_task", json!({ "task_id": MISSING_ID }))
        .await);
    assert_eq!(excluded["setting"], "LUNATASK_EXCLUDE_TOOLS");
    assert!(
        excluded["message"]
            .as_str()
            .unwrap()
            .contains("delete_task"),
        "{excluded}"
    );
    ok(&host.call("ping", json!({})).await);
    assert_eq!(fake.requests().len(), 1, "only the ping was sent");
}

#[tokio::test]
async fn a_name_that_is_no_tool_stops_start_up_naming_it() {
    for (key, value) in [
        ("LUNATASK_TOOLS", "ping,list_task"),
        ("LUNATASK_EXCLUDE_TOOLS", "delete_everything"),
        ("LUNATASK_TOOLS", "ping,,get_task"),
    ] {
        let (_fake, builder) = prepare(&[(key, value)]).await;
        let out = builder.run().await;
        assert!(!out.status.success(), "{key}={value} started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let named = value.split(',').find(|n| !["ping", "get_task"].contains(n));
        assert!(stderr.contains(key), "{stderr}");
        match named {
            Some("") => assert!(stderr.contains("empty tool name"), "{stderr}"),
            Some(name) => assert!(stderr.contains(name), "{stderr}"),
            None => unreachable!(),
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// One stateless request to the HTTP endpoint with extra headers; its JSON-RPC answer.
async fn post(url: &str, message: Value, headers: &[(&str, &str)]) -> Value {
    let mut request = stateless_post(&reqwest::Client::new(), url, &message);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn list() -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {} })
}

fn call(name: &str, arguments: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": name, "arguments": arguments } })
}

fn names(answer: &Value) -> Vec<&str> {
    let tools = answer["result"]["tools"]
        .as_array()
        .expect("a tools/list result");
    tools.iter().map(|t| t["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn request_headers_narrow_what_the_server_offers_and_never_widen_it() {
    let (fake, http) = serve_http_with(&[("LUNATASK_EXCLUDE_TOOLS", "delete_task")]).await;
    let url = format!("{}/mcp", http.url);

    let all = post(&url, list(), &[]).await;
    assert!(names(&all).contains(&"create_task") && !names(&all).contains(&"delete_task"));

    // Asking for an excluded tool does not bring it back.
    let narrowed = post(&url, list(), &[("X-MCP-Tools", "get_task, delete_task")]).await;
    assert_eq!(names(&narrowed), ["get_task"]);
    let read_only = post(&url, list(), &[("X-MCP-Readonly", "true")]).await;
    assert!(!names(&read_only).contains(&"create_task"), "{read_only}");
    assert!(names(&read_only).contains(&"get_task"));

    let create = call("create_task", json!({ "area_id": AREA }));
    let refused = post(&url, create.clone(), &[("X-MCP-Readonly", "true")]).await;
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    let text = refused["result"]["content"][0]["text"].as_str().unwrap();
    let error: Value = serde_json::from_str(text).unwrap();
    assert_eq!(error["error"]["code"], "tool_not_allowed");
    assert_eq!(error["error"]["setting"], "x-mcp-readonly");
    let deleted = post(
        &url,
        call("delete_task", json!({ "task_id": MISSING_ID })),
        &[],
    )
    .await;
    assert_eq!(deleted["result"]["isError"], true, "{deleted}");
    assert!(fake.requests().is_empty(), "nothing refused was sent");

    // Without the header, the same request is served: the narrowing was that request's.
    let created = post(&url, create, &[("X-MCP-Readonly", "false")]).await;
    assert_eq!(created["result"]["isError"], false, "{created}");
    assert_eq!(fake.requests_to("POST /v1/tasks").len(), 1);

    // A header that cannot be read is an error, not ignored.
    for (name, value) in [("X-MCP-Readonly", "yes"), ("X-MCP-Tools", "get_tasks")] {
        let answer = post(&url, list(), &[(name, value)]).await;
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&name.to_ascii_lowercase()),
            "{name}: {value}: {answer}"
        );
    }
}
