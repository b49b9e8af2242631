//! Notes, journal entries and habit tracking.

use lunatask_mcp_tests::{MISSING_ID, code, err, ok};
use serde_json::json;

use crate::setup;

const NOTEBOOK: &str = "bbbbbbbb-0000-4000-8000-000000000001";
const HABIT: &str = "cccccccc-0000-4000-8000-000000000001";

#[tokio::test]
async fn create_update_and_delete_notes() {
    let (fake, host) = setup().await;
    let created = ok(&host
        .call("create_note", json!({ "notebook_id": NOTEBOOK, "name": "Ideas", "content": "# Heading\n\ntext", "date_on": "2024-05-10" }))
        .await);
    assert_eq!(created["outcome"], "created");
    let id = created["note"]["id"].as_str().unwrap().to_string();
    assert!(created["note"].get("content").is_none());
    let sent = fake.requests_to("POST /v1/notes")[0].body.clone().unwrap();
    assert_eq!(
        sent["content"], "# Heading\n\ntext",
        "content is sent unchanged"
    );

    let updated = ok(&host
        .call("update_note", json!({ "note_id": id, "content": "new" }))
        .await);
    assert_eq!(updated["note"]["id"], id);
    assert_eq!(
        fake.requests_to("PUT /v1/notes/")[0].body,
        Some(json!({ "content": "new" }))
    );
    assert_eq!(
        code(&host.call("update_note", json!({ "note_id": id })).await),
        "validation_error"
    );

    ok(&host.call("delete_note", json!({ "note_id": id })).await);
    assert_eq!(
        code(&host.call("delete_note", json!({ "note_id": id })).await),
        "not_found"
    );
}

#[tokio::test]
async fn a_duplicate_note_says_so_even_though_notes_cannot_be_looked_up() {
    let (fake, host) = setup().await;
    let note = json!({ "notebook_id": NOTEBOOK, "source": "web", "source_id": "page-1" });
    let first = ok(&host.call("create_note", note.clone()).await);
    assert_eq!(first["outcome"], "created");
    let second = ok(&host.call("create_note", note).await);
    assert_eq!(second["outcome"], "duplicate");
    assert!(second["note"].is_null());
    assert_eq!(fake.with(|s| s.notes.len()), 1);
}

#[tokio::test]
async fn journal_entries_need_a_date() {
    let (fake, host) = setup().await;
    let created = ok(&host
        .call(
            "create_journal_entry",
            json!({ "date_on": "2024-05-10", "name": "Friday", "content": "A good day" }),
        )
        .await);
    assert_eq!(created["journal_entry"]["date_on"], "2024-05-10");
    assert!(created["journal_entry"].get("content").is_none());
    let sent = fake.requests_to("POST /v1/journal_entries")[0]
        .body
        .clone()
        .unwrap();
    assert_eq!(
        sent,
        json!({ "date_on": "2024-05-10", "name": "Friday", "content": "A good day" }),
        "no idempotency key: journal entries cannot be de-duplicated"
    );

    let before = fake.requests().len();
    for args in [
        json!({ "content": "x" }),
        json!({ "date_on": "2024-13-01" }),
        json!({ "date_on": "today" }),
    ] {
        assert_eq!(
            err(&host.call("create_journal_entry", args).await)["field"],
            "date_on"
        );
    }
    assert_eq!(fake.requests().len(), before);
}

#[tokio::test]
async fn habits_are_tracked_on_a_day() {
    let (fake, host) = setup().await;
    fake.with(|s| s.habits.push(HABIT.to_string()));
    let tracked = ok(&host
        .call(
            "track_habit",
            json!({ "habit_id": HABIT, "performed_on": "2024-05-10" }),
        )
        .await);
    assert_eq!(tracked["tracked"], true);
    assert_eq!(
        fake.with(|s| s.habit_tracks.clone()),
        vec![(HABIT.to_string(), "2024-05-10".to_string())]
    );
    assert_eq!(
        fake.requests_to("POST /v1/habits/")[0].path,
        format!("/v1/habits/{HABIT}/track")
    );

    let missing = host
        .call(
            "track_habit",
            json!({ "habit_id": MISSING_ID, "performed_on": "2024-05-10" }),
        )
        .await;
    assert_eq!(code(&missing), "not_found");
    assert!(err(&missing)["message"].as_str().unwrap().contains("habit"));
    let invalid = host.call("track_habit", json!({ "habit_id": HABIT })).await;
    assert_eq!(err(&invalid)["field"], "performed_on");
}
