//! Resources: single entities, task views, discovery and metrics.

use lunatask_mcp_tests::{AREA, Host, MISSING_ID, task_ids};
use serde_json::json;

use crate::setup;

#[tokio::test]
async fn resources_and_templates_are_listed() {
    let (_fake, host) = setup().await;
    let templates = host.client.list_resource_templates(None).await.unwrap();
    let uris: Vec<&str> = templates
        .resource_templates
        .iter()
        .map(|t| t.uri_template.as_str())
        .collect();
    assert_eq!(
        uris,
        vec![
            "lunatask://tasks/{task_id}",
            "lunatask://people/{person_id}",
            "lunatask://actions/{action_id}",
            "lunatask://area/{area_id}/{view}",
            "lunatask://global/{view}"
        ]
    );
    let resources = host.client.list_resources(None).await.unwrap();
    let uris: Vec<&str> = resources.resources.iter().map(|r| r.uri.as_str()).collect();
    assert!(uris.contains(&"lunatask://discovery") && uris.contains(&"lunatask://global/today"));

    // Every listed resource can be read, and discovery promises only what exists.
    let discovery = host.read("lunatask://discovery").await.unwrap();
    let promised: Vec<&str> = discovery["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["uri"].as_str())
        .collect();
    assert_eq!(promised, uris, "discovery lists what resources/list lists");
    for uri in &uris {
        host.read(uri).await.unwrap();
    }
    // The host's own counters, which it reads itself.
    let metrics = host.read("lunatask://metrics").await.unwrap();
    assert!(metrics["endpoints"].is_object(), "{metrics}");
    for view in discovery["views"].as_array().unwrap() {
        let name = view["name"].as_str().unwrap();
        host.read(&format!("lunatask://global/{name}"))
            .await
            .unwrap();
        host.read(&format!("lunatask://area/{AREA}/{name}"))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn task_and_person_resources_read_one_entity() {
    let (fake, host) = setup().await;
    let task = fake.seed_task(json!({ "area_id": AREA }));
    let person = fake.seed_person(json!({}));
    assert_eq!(
        host.read(&format!("lunatask://tasks/{task}"))
            .await
            .unwrap()["task"]["id"],
        task
    );
    assert_eq!(
        host.read(&format!("lunatask://people/{person}"))
            .await
            .unwrap()["person"]["id"],
        person
    );
    let missing = host
        .read(&format!("lunatask://tasks/{MISSING_ID}"))
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("-32002")
            || missing.to_string().to_lowercase().contains("not"),
        "{missing}"
    );
    let bad = host.read("lunatask://global/tomorrow").await.unwrap_err();
    assert!(bad.to_string().contains("today"), "{bad}");
}

#[tokio::test]
async fn views_select_the_right_tasks_for_today() {
    let (fake, host) = setup().await;
    let day = |offset: i64| lunatask_mcp_tests::day(offset, 0);
    let yesterday = day(-1);
    let t_today = fake.seed_task(json!({ "area_id": AREA, "scheduled_on": day(0) }));
    let t_done_today = fake.seed_task(
        json!({ "area_id": AREA, "scheduled_on": day(0), "status": "completed",
        "completed_at": "2000-01-01T00:00:00Z" }),
    );
    let t_overdue = fake.seed_task(json!({ "area_id": AREA, "scheduled_on": yesterday }));
    let t_other_area = fake.seed_task(
        json!({ "area_id": "aaaaaaaa-0000-4000-8000-000000000009", "scheduled_on": day(0) }),
    );
    let t_week = fake.seed_task(json!({ "area_id": AREA, "scheduled_on": day(3), "priority": 1 }));

    let global_today = host.read("lunatask://global/today").await.unwrap();
    let mut got = task_ids(&global_today);
    got.sort();
    let mut want = vec![t_today.clone(), t_other_area.clone()];
    want.sort();
    assert_eq!(got, want, "completed tasks are not in today");
    assert!(!task_ids(&global_today).contains(&t_done_today));

    assert_eq!(area_view(&host, "today").await, vec![t_today.clone()]);
    assert_eq!(area_view(&host, "overdue").await, vec![t_overdue]);
    assert_eq!(area_view(&host, "next-7-days").await, vec![t_week.clone()]);
    assert_eq!(area_view(&host, "high-priority").await, vec![t_week]);
    // Completed long ago: not a recent completion.
    assert!(area_view(&host, "recent-completions").await.is_empty());
}

#[tokio::test]
async fn metrics_are_readable_as_a_resource() {
    let (_fake, host) = setup().await;
    lunatask_mcp_tests::ok(&host.call("ping", json!({})).await);
    let metrics = host.read("lunatask://metrics").await.unwrap();
    assert_eq!(metrics["endpoints"]["GET /ping"]["requests"]["2xx"], 1);
    assert_eq!(metrics["endpoints"]["GET /ping"]["success_rate"], 1.0);
}

/// The ids of the tasks in the view `name` of the test area.
async fn area_view(host: &Host, name: &str) -> Vec<String> {
    let view = host.read(&format!("lunatask://area/{AREA}/{name}")).await;
    task_ids(&view.unwrap())
}

#[tokio::test]
async fn the_configured_utc_offset_decides_what_today_is() {
    let fake = lunatask_mcp_tests::FakeApi::start(lunatask_mcp_tests::TOKEN).await;
    for (offset, shift_secs) in [("+14:00", 14 * 3600i64), ("-12:00", -12 * 3600)] {
        let host = crate::builder()
            .against(&fake)
            .env("LUNATASK_UTC_OFFSET", offset)
            .start()
            .await;
        let view = host.read("lunatask://global/today").await.unwrap();
        let expected = lunatask_mcp_tests::day(0, shift_secs);
        assert_eq!(view["today"], expected.as_str(), "offset {offset}");
    }
}
