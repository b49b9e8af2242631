//! People tools and timeline notes.

use lunatask_mcp_tests::{MISSING_ID, code, err, ok};
use serde_json::json;

use crate::setup;

#[tokio::test]
async fn create_get_list_and_delete_people() {
    let (fake, host) = setup().await;
    let created = ok(&host
        .call("create_person", json!({ "first_name": "Ada", "last_name": "Lovelace",
            "relationship_strength": "close-friends", "email": "ada@example.com", "birthday": "1815-12-10" }))
        .await);
    assert_eq!(created["outcome"], "created");
    let id = created["person"]["id"].as_str().unwrap().to_string();
    assert!(created["person"].get("first_name").is_none());
    let sent = fake.requests_to("POST /v1/people")[0].body.clone().unwrap();
    assert_eq!(sent["first_name"], "Ada");
    assert_eq!(sent["relationship_strength"], "close-friends");

    let got = ok(&host.call("get_person", json!({ "person_id": id })).await);
    assert_eq!(got["person"]["relationship_strength"], "close-friends");

    fake.seed_person(json!({ "relationship_strength": "family" }));
    let family = ok(&host
        .call("list_people", json!({ "relationship_strength": "family" }))
        .await);
    assert_eq!(family["count"], 1);
    let all = ok(&host.call("list_people", json!({})).await);
    assert_eq!(all["total"], 2);

    let deleted = ok(&host.call("delete_person", json!({ "person_id": id })).await);
    assert_eq!(deleted["deleted"], true);
    assert_eq!(
        code(&host.call("delete_person", json!({ "person_id": id })).await),
        "not_found"
    );
    assert_eq!(
        code(
            &host
                .call("get_person", json!({ "person_id": MISSING_ID }))
                .await
        ),
        "not_found"
    );
}

#[tokio::test]
async fn people_errors_duplicates_and_validation() {
    let (fake, host) = setup().await;
    let existing = fake.seed_person(json!({ "sources": [{ "source": "crm", "source_id": "42" }] }));
    let dup = ok(&host
        .call(
            "create_person",
            json!({ "first_name": "X", "source": "crm", "source_id": "42" }),
        )
        .await);
    assert_eq!(dup["outcome"], "duplicate");
    assert_eq!(dup["person"]["id"], existing);

    fake.with(|s| s.person_custom_fields = false);
    let r = host
        .call("create_person", json!({ "email": "a@b.c" }))
        .await;
    assert_eq!(code(&r), "validation_error");
    assert_eq!(err(&r)["http_status"], 422);
    assert!(lunatask_mcp_tests::message(&r).contains("custom field"));

    fake.with(|s| s.people_limit = Some(1));
    let r = host
        .call("create_person", json!({ "first_name": "Y" }))
        .await;
    assert_eq!(code(&r), "subscription_required");
    assert_eq!(err(&r)["http_status"], 402);

    let before = fake.requests().len();
    for (args, field) in [
        (
            json!({ "relationship_strength": "best-friends" }),
            "relationship_strength",
        ),
        (json!({ "email": "not-an-email" }), "email"),
        (json!({ "birthday": "12/10/1815" }), "birthday"),
    ] {
        let r = host.call("create_person", args).await;
        assert_eq!(err(&r)["field"], field);
    }
    assert_eq!(fake.requests().len(), before, "invalid input sends nothing");
    assert_eq!(fake.with(|s| s.people.len()), 1);
}

#[tokio::test]
async fn timeline_notes_need_an_existing_person() {
    let (fake, host) = setup().await;
    let person = fake.seed_person(json!({}));
    let created = ok(&host
        .call(
            "create_person_timeline_note",
            json!({ "person_id": person, "content": "Met for coffee", "date_on": "2024-05-01" }),
        )
        .await);
    assert_eq!(created["person_timeline_note"]["date_on"], "2024-05-01");
    assert!(created["person_timeline_note"].get("content").is_none());
    assert_eq!(fake.with(|s| s.timeline_notes.len()), 1);

    let missing = host
        .call(
            "create_person_timeline_note",
            json!({ "person_id": MISSING_ID }),
        )
        .await;
    assert_eq!(code(&missing), "not_found");
    let invalid = host
        .call("create_person_timeline_note", json!({ "content": "x" }))
        .await;
    assert_eq!(err(&invalid)["field"], "person_id");
}
