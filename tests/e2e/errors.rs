//! Every tool maps every documented LunaTask error status to its stable code, with the
//! HTTP status, and never hides a failure as a success.

use lunatask_mcp_tests::{AREA, Fault, err};
use serde_json::{Value, json};

const ID: &str = "0b5d5a9e-7c1b-4f0e-9d1a-2f4b6c8d0e12";

fn every_tool() -> Vec<(&'static str, Value)> {
    vec![
        ("ping", json!({})),
        ("create_task", json!({ "area_id": AREA })),
        ("update_task", json!({ "task_id": ID, "priority": 1 })),
        ("delete_task", json!({ "task_id": ID })),
        ("get_task", json!({ "task_id": ID })),
        ("list_tasks", json!({})),
        ("create_note", json!({ "content": "x" })),
        ("update_note", json!({ "note_id": ID, "content": "x" })),
        ("delete_note", json!({ "note_id": ID })),
        ("create_journal_entry", json!({ "date_on": "2024-05-10" })),
        ("create_person", json!({ "first_name": "x" })),
        ("delete_person", json!({ "person_id": ID })),
        ("get_person", json!({ "person_id": ID })),
        ("list_people", json!({})),
        ("create_person_timeline_note", json!({ "person_id": ID })),
        (
            "track_habit",
            json!({ "habit_id": ID, "performed_on": "2024-05-10" }),
        ),
    ]
}

#[tokio::test]
async fn every_tool_maps_every_error_status_to_its_code() {
    let (fake, host) = crate::serve_with(&[("LUNATASK_MAX_RETRIES", "0")]).await;
    let statuses = [
        (400, "validation_error"),
        (401, "authentication_error"),
        (402, "subscription_required"),
        (404, "not_found"),
        (422, "validation_error"),
        (429, "rate_limited"),
        (500, "upstream_error"),
        (503, "upstream_error"),
        (524, "upstream_error"),
    ];
    for (tool, args) in every_tool() {
        for (status, expected) in statuses {
            fake.inject(None, 1, Fault::status(status));
            let result = host.call(tool, args.clone()).await;
            let error = err(&result);
            assert_eq!(error["code"], expected, "{tool} {status}: {error}");
            assert_eq!(error["http_status"], status, "{tool} {status}");
            assert_eq!(
                error["retryable"],
                matches!(status, 429 | 500 | 503 | 524),
                "{tool} {status}"
            );
            assert!(error["correlation_id"].is_string());
        }
    }
    // One request per call: nothing retried with retries off, nothing extra sent.
    assert_eq!(fake.requests().len(), every_tool().len() * statuses.len());
}
