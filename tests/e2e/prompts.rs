//! Prompts: listed with their arguments, built from the task views read when got.

use lunatask_mcp_tests::{AREA, HOSTILE_GUEST_WASM, Host, TOKEN, account::OTHER_AREA};
use rmcp::model::GetPromptRequestParams;
use serde_json::{Value, json};

use crate::{builder, setup};

/// `prompts/get` of `name` with `arguments`, as JSON.
async fn get(host: &Host, name: &str, arguments: Value) -> Result<Value, String> {
    let mut params = GetPromptRequestParams::new(name);
    if let Value::Object(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    match host.client.get_prompt(params).await {
        Ok(result) => Ok(serde_json::to_value(result).unwrap()),
        Err(error) => Err(error.to_string()),
    }
}

/// The embedded resources of a prompt: (uri, the ids of the tasks in it).
fn embedded(result: &Value) -> Vec<(String, Vec<String>)> {
    let messages = result["messages"].as_array().unwrap();
    messages
        .iter()
        .filter(|m| m["content"]["type"] == "resource")
        .map(|m| {
            let resource = &m["content"]["resource"];
            let view: Value = serde_json::from_str(resource["text"].as_str().unwrap()).unwrap();
            let uri = resource["uri"].as_str().unwrap().to_string();
            (uri, lunatask_mcp_tests::task_ids(&view))
        })
        .collect()
}

#[tokio::test]
async fn prompts_are_listed_with_their_arguments() {
    let (_fake, host) = setup().await;
    let info = host.client.peer_info().expect("server info");
    assert!(info.capabilities.prompts.is_some(), "prompts are declared");
    let prompts = host.client.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["plan_day", "weekly_review", "triage_unscheduled"]);
    for prompt in &prompts {
        assert!(
            prompt.title.is_some() && prompt.description.is_some(),
            "{}",
            prompt.name
        );
        let arguments = prompt.arguments.as_ref().unwrap();
        assert_eq!(arguments.len(), 1);
        assert_eq!(arguments[0].name, "area_id");
        assert_eq!(arguments[0].required, Some(false));
    }
}

#[tokio::test]
async fn plan_day_embeds_today_overdue_and_now_for_the_area_asked() {
    let (fake, host) = setup().await;
    let today = lunatask_mcp_tests::day(0, 0);
    let due = fake.seed_task(json!({ "area_id": AREA, "scheduled_on": today }));
    let late = fake.seed_task(json!({ "area_id": AREA, "scheduled_on": "2020-01-01" }));
    let urgent = fake.seed_task(json!({ "area_id": AREA, "priority": 2 }));
    fake.seed_task(json!({ "area_id": OTHER_AREA, "scheduled_on": today }));
    fake.seed_task(json!({ "area_id": AREA, "scheduled_on": today, "status": "completed" }));

    let result = get(&host, "plan_day", json!({ "area_id": AREA }))
        .await
        .unwrap();
    let first = &result["messages"][0];
    assert_eq!(first["role"], "user");
    let ask = first["content"]["text"].as_str().unwrap();
    assert!(
        ask.contains("plan my day") && ask.contains("encrypts"),
        "{ask}"
    );
    let views = embedded(&result);
    assert_eq!(
        views,
        [
            (format!("lunatask://area/{AREA}/today"), vec![due]),
            (format!("lunatask://area/{AREA}/overdue"), vec![late]),
            (format!("lunatask://area/{AREA}/now"), vec![urgent]),
        ]
    );
    assert!(
        fake.requests().iter().all(|r| r.method == "GET"),
        "a prompt only reads"
    );
    fake.assert_sent(
        "GET /v1/tasks",
        1,
        "three views from one read of the account",
    );

    // Without an area: every area's tasks.
    let global = get(&host, "plan_day", json!({})).await.unwrap();
    let (uri, ids) = &embedded(&global)[0];
    assert_eq!(uri, "lunatask://global/today");
    assert_eq!(ids.len(), 2, "today in both areas: {ids:?}");
}

#[tokio::test]
async fn triage_embeds_the_open_tasks_without_a_date() {
    let (fake, host) = setup().await;
    let low = fake.seed_task(json!({ "area_id": AREA, "priority": -1 }));
    let high = fake.seed_task(json!({ "area_id": AREA, "priority": 1 }));
    fake.seed_task(json!({ "area_id": AREA, "scheduled_on": "2030-01-01" }));
    fake.seed_task(json!({ "area_id": AREA, "status": "completed" }));
    let result = get(&host, "triage_unscheduled", json!({})).await.unwrap();
    assert_eq!(
        embedded(&result),
        [("lunatask://global/unscheduled".to_string(), vec![high, low])]
    );
}

#[tokio::test]
async fn unknown_prompts_and_arguments_are_refused_naming_them() {
    let (fake, host) = setup().await;
    let unknown = get(&host, "plan_week", json!({})).await.unwrap_err();
    assert!(
        unknown.contains("plan_week") && unknown.contains("plan_day"),
        "{unknown}"
    );
    let misspelt = get(&host, "weekly_review", json!({ "area": AREA }))
        .await
        .unwrap_err();
    assert!(
        misspelt.contains("area") && misspelt.contains("area_id"),
        "{misspelt}"
    );
    let bad_id = get(&host, "weekly_review", json!({ "area_id": "inbox" }))
        .await
        .unwrap_err();
    assert!(bad_id.contains("area_id"), "{bad_id}");
    assert!(
        fake.requests().is_empty(),
        "nothing was read for a refused prompt"
    );
}

#[tokio::test]
async fn a_component_without_prompts_declares_none() {
    let fake = lunatask_mcp_tests::FakeApi::start(TOKEN).await;
    let host = builder()
        .against(&fake)
        .env("LUNATASK_COMPONENT", HOSTILE_GUEST_WASM)
        .start()
        .await;
    let info = host.client.peer_info().expect("server info");
    assert!(info.capabilities.prompts.is_none());
}
