//! The action journal as the tools see it: what a write is ([`Action`], described from the
//! request by [`describe`] before it is sent), and the entries read back for `list_actions`,
//! `undo` and `lunatask://actions`. The host keeps the record (see `wit/server.wit`); this
//! module never puts user text in it: a text field is recorded by its name alone.
//!
//! In the portable world, and natively (unit tests, fuzzing), there is no journal: the mode
//! is off and nothing is recorded.

use serde::Serialize;
use serde_json::{Map, Value};

/// The fields that hold user text (LunaTask encrypts them end to end, and a person's email,
/// phone and birthday are theirs): never recorded, only named.
const TEXT_FIELDS: &[&str] = &[
    "name",
    "note",
    "content",
    "first_name",
    "last_name",
    "email",
    "phone",
    "birthday",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Full,
    Writes,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Recorded, never settled: the server stopped in between; it may have been applied.
    Pending,
    /// Done.
    Applied,
    /// A create LunaTask answered as a duplicate: nothing was made.
    Duplicate,
    /// Certainly not applied.
    Failed,
    /// The answer was lost: it may have been applied.
    Unknown,
}

/// One field a write set; values as JSON, none for a text field.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Change {
    pub field: String,
    /// The value before (read first, for tasks in full mode); absent when not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "field_value")]
    pub before: Option<Value>,
    /// Absent for a text field, and for one LunaTask moved itself (completed_at, when a
    /// status change completes or reopens a task).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "field_value")]
    pub after: Option<Value>,
    /// True for a field holding user text, whose values are never recorded.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub text: bool,
}

/// What a recorded field holds: one of a task's, note's or person's values (an id, a date,
/// a status, a number), or null for a cleared field. Never an object: text fields, the only
/// free-form ones, are never recorded.
fn field_value(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "anyOf": [
        { "type": "string" }, { "type": "number" }, { "type": "boolean" }, { "type": "null" }
    ] })
}

/// A write, as described before it is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub kind: &'static str,
    pub operation: &'static str,
    pub entity_id: Option<String>,
    pub changes: Vec<Change>,
    pub undoes: Option<String>,
}

/// One recorded action, as agents read it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Entry {
    /// Give it to undo as action_id.
    pub id: String,
    pub at: String,
    pub tool: String,
    pub correlation_id: String,
    /// task, note, journal-entry, person, timeline-note or habit.
    pub kind: String,
    /// create, update, delete, append or track.
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    pub outcome: Outcome,
    pub changes: Vec<Change>,
    /// The action this undo took back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undoes: Option<String>,
    /// The undo action that took this one back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undone_by: Option<String>,
}

/// Which actions to read, newest first.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub action_id: Option<String>,
    pub correlation_id: Option<String>,
    pub tool: Option<String>,
    pub since_ms: Option<i64>,
    pub limit: u32,
}

/// The kind and operation of a write to `path` with `method` (POST, PUT or DELETE), and the
/// entity id the path names. A path this server does not write to is `("other", ...)`.
pub fn describe(method: &str, path: &str, body: Option<&[u8]>) -> Action {
    let kind = crate::subject::Subject::of_path(path).kind();
    let id = path.trim_start_matches('/').split('/').nth(1).map(decode);
    let operation = match (method, kind) {
        ("POST", "habit") => "track",
        ("POST", "journal-entry" | "timeline-note") => "append",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        _ => "delete",
    };
    let changes = body
        .and_then(|b| serde_json::from_slice::<Map<String, Value>>(b).ok())
        .map(|fields| fields.into_iter().map(change).collect())
        .unwrap_or_default();
    Action {
        kind,
        operation,
        entity_id: id,
        changes,
        undoes: None,
    }
}

fn change((field, value): (String, Value)) -> Change {
    let text = TEXT_FIELDS.contains(&field.as_str());
    Change {
        after: (!text).then_some(value),
        before: None,
        text,
        field,
    }
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// The id of what a create made, read from its answer (`{"task": {"id": ...}}`).
pub fn created_id(body: &[u8]) -> Option<String> {
    let top: Map<String, Value> = serde_json::from_slice(body).ok()?;
    top.values()
        .find_map(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
}

#[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
mod imports {
    use super::*;
    use crate::bindings::journal_wit as wit;

    pub fn mode() -> Mode {
        match wit::mode() {
            wit::JournalMode::Full => Mode::Full,
            wit::JournalMode::Writes => Mode::Writes,
            wit::JournalMode::Off => Mode::Off,
        }
    }

    pub fn add(action: &Action) -> Result<String, String> {
        let json = |v: &Option<Value>| v.as_ref().map(Value::to_string);
        wit::add(&wit::Action {
            kind: action.kind.to_string(),
            operation: action.operation.to_string(),
            entity_id: action.entity_id.clone(),
            changes: action
                .changes
                .iter()
                .map(|c| wit::Change {
                    field: c.field.clone(),
                    before: json(&c.before),
                    after: json(&c.after),
                    text: c.text,
                })
                .collect(),
            undoes: action.undoes.clone(),
        })
    }

    pub fn settle(id: &str, outcome: Outcome, entity_id: Option<&str>) -> Result<(), String> {
        let outcome = match outcome {
            Outcome::Pending => wit::Outcome::Pending,
            Outcome::Applied => wit::Outcome::Applied,
            Outcome::Duplicate => wit::Outcome::Duplicate,
            Outcome::Failed => wit::Outcome::Failed,
            Outcome::Unknown => wit::Outcome::Unknown,
        };
        wit::settle(id, outcome, entity_id)
    }

    pub fn find(filter: &Filter) -> Result<Vec<Entry>, String> {
        let found = wit::find(&wit::Filter {
            action_id: filter.action_id.clone(),
            correlation_id: filter.correlation_id.clone(),
            tool: filter.tool.clone(),
            since_ms: filter.since_ms,
            limit: filter.limit,
        })?;
        Ok(found.into_iter().map(entry).collect())
    }

    pub fn claim_undo(id: &str) -> Result<Option<String>, String> {
        wit::claim_undo(id)
    }

    pub fn mark_undone(id: &str, by: &str) -> Result<(), String> {
        wit::mark_undone(id, by)
    }

    pub fn release_undo(id: &str) -> Result<(), String> {
        wit::release_undo(id)
    }

    fn entry(e: wit::Entry) -> Entry {
        let value = |v: Option<String>| v.and_then(|t| serde_json::from_str(&t).ok());
        Entry {
            id: e.id,
            at: e.at,
            tool: e.tool,
            correlation_id: e.correlation_id,
            kind: e.action.kind,
            operation: e.action.operation,
            entity_id: e.action.entity_id,
            outcome: match e.outcome {
                wit::Outcome::Pending => Outcome::Pending,
                wit::Outcome::Applied => Outcome::Applied,
                wit::Outcome::Duplicate => Outcome::Duplicate,
                wit::Outcome::Failed => Outcome::Failed,
                wit::Outcome::Unknown => Outcome::Unknown,
            },
            changes: e
                .action
                .changes
                .into_iter()
                .map(|c| Change {
                    field: c.field,
                    before: value(c.before),
                    after: value(c.after),
                    text: c.text,
                })
                .collect(),
            undoes: e.action.undoes,
            undone_by: e.undone_by,
        }
    }
}

/// No host, no journal.
#[cfg(not(all(target_arch = "wasm32", not(feature = "portable"))))]
mod imports {
    use super::*;

    const NONE: &str = "this build keeps no action journal";

    pub fn mode() -> Mode {
        Mode::Off
    }

    pub fn add(_: &Action) -> Result<String, String> {
        Err(NONE.into())
    }

    pub fn settle(_: &str, _: Outcome, _: Option<&str>) -> Result<(), String> {
        Err(NONE.into())
    }

    pub fn find(_: &Filter) -> Result<Vec<Entry>, String> {
        Err(NONE.into())
    }

    pub fn claim_undo(_: &str) -> Result<Option<String>, String> {
        Err(NONE.into())
    }

    pub fn mark_undone(_: &str, _: &str) -> Result<(), String> {
        Err(NONE.into())
    }

    pub fn release_undo(_: &str) -> Result<(), String> {
        Err(NONE.into())
    }
}

pub use imports::{add, claim_undo, find, mark_undone, mode, release_undo, settle};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_described_without_its_text() {
        let body = br#"{"name":"secret","priority":2,"note":"also secret","area_id":"a"}"#;
        let action = describe("POST", "/tasks", Some(body));
        assert_eq!((action.kind, action.operation), ("task", "create"));
        let recorded = serde_json::to_string(&action.changes).unwrap();
        assert!(!recorded.contains("secret"), "{recorded}");
        assert!(
            recorded.contains(r#"{"field":"name","text":true}"#),
            "{recorded}"
        );
        assert!(
            recorded.contains(r#"{"field":"priority","after":2}"#),
            "{recorded}"
        );
        let track = describe("POST", "/habits/h%2D1/track", Some(b"{}"));
        assert_eq!((track.kind, track.operation), ("habit", "track"));
        assert_eq!(track.entity_id.as_deref(), Some("h-1"));
        assert_eq!(describe("DELETE", "/people/p", None).operation, "delete");
        assert_eq!(
            describe("POST", "/journal_entries", None).operation,
            "append"
        );
    }

    #[test]
    fn the_created_id_is_read_from_the_answer() {
        assert_eq!(
            created_id(br#"{"task":{"id":"t1","x":1}}"#).as_deref(),
            Some("t1")
        );
        assert_eq!(created_id(b""), None);
    }
}
