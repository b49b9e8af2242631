//! A long-used account, generated in-process: for the big-account tests and the bench,
//! which seed tens of thousands of records straight into the fake's state.

use serde_json::{Value, json};

use crate::{AREA, FakeApi};

/// A second area, so that the area filter has something to leave out.
pub const OTHER_AREA: &str = "aaaaaaaa-0000-4000-8000-000000000002";

/// The relationship strengths people are spread over, in turn.
pub const STRENGTHS: [&str; 3] = ["family", "close-friends", "business-contacts"];

/// Task `i` of the seeded account: most completed, as in a long-used account.
pub fn task(i: usize) -> Value {
    let open = ["later", "next", "started", "waiting"];
    let status = if i % 10 < 7 { "completed" } else { open[i % 4] };
    let priority = match i % 100 {
        0 => 2,
        1 => 1,
        n => -((n % 3) as i64),
    };
    let area = [Some(AREA), Some(OTHER_AREA), None][i % 3];
    let mut task = json!({
        "area_id": area,
        "status": status,
        "priority": priority,
        "estimate": 30,
        "motivation": if i.is_multiple_of(200) { "must" } else { "unknown" },
    });
    if status == "completed" {
        task["completed_at"] = format!("2025-{:02}-{:02}T10:00:00Z", 1 + i % 12, 1 + i % 28).into();
    }
    if i.is_multiple_of(50) {
        task["scheduled_on"] = format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28).into();
    }
    if i.is_multiple_of(10) {
        task["sources"] = json!([{ "source": "github", "source_id": format!("issue-{i}") }]);
    }
    task
}

/// Person `i` of the seeded account.
pub fn person(i: usize) -> Value {
    json!({ "relationship_strength": STRENGTHS[i % STRENGTHS.len()] })
}

/// Replaces the fake's tasks and people with `tasks` and `people` generated ones.
pub fn seed(fake: &FakeApi, tasks: usize, people: usize) {
    fake.with(|s| {
        s.tasks.clear();
        s.people.clear();
    });
    for i in 0..tasks {
        fake.seed_task(task(i));
    }
    for i in 0..people {
        fake.seed_person(person(i));
    }
}
