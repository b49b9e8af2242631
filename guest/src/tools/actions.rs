//! The action journal's tools: `list_actions` reads what this server's tools changed, and
//! `undo` takes back what LunaTask lets it. Every write an undo makes is journaled too, as
//! undoing its action, and marks that action undone.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::DEFAULT_LIMIT;
use super::args::{ListActionsArgs, UndoArgs};
use super::entity::{Kind, NOTES, PEOPLE, TASKS};
use crate::api::{Api, Request};
use crate::error::{Code, ToolError};
use crate::journal::{self, Entry, Filter, Mode, Outcome};
use crate::validate::Id;

/// What `list_actions` and `lunatask://actions` answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Actions {
    /// What the journal records: full, writes or off (LUNATASK_JOURNAL).
    pub mode: Mode,
    pub count: usize,
    /// Newest first. Names, notes and contents are never recorded.
    pub actions: Vec<Entry>,
}

impl JsonSchema for Mode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Mode".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "enum": ["full", "writes", "off"] })
    }
}

pub fn list_actions(api: &Api, args: ListActionsArgs) -> Result<Actions, ToolError> {
    let filter = Filter {
        action_id: None,
        correlation_id: args.correlation_id.map(String::from),
        tool: args.tool.map(String::from),
        since_ms: args.since.map(|s| s.millis()),
        limit: args.limit.map_or(DEFAULT_LIMIT as u32, |l| l.0),
    };
    read(api, &filter)
}

/// The actions `filter` selects (also for the `lunatask://actions` resources).
pub fn read(api: &Api, filter: &Filter) -> Result<Actions, ToolError> {
    let mode = api.journal_mode();
    let actions = if mode == Mode::Off {
        Vec::new()
    } else {
        journal::find(filter).map_err(unreadable)?
    };
    Ok(Actions {
        mode,
        count: actions.len(),
        actions,
    })
}

fn unreadable(why: String) -> ToolError {
    ToolError::new(
        Code::InternalError,
        format!("the action journal could not be read: {why}"),
    )
}

/// What `undo` answers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Undone {
    /// How many actions were taken back.
    pub undone: usize,
    /// Each action asked about, newest first, and what became of it.
    pub items: Vec<UndoItem>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct UndoItem {
    pub action_id: String,
    pub tool: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    pub result: UndoResult,
    /// What was done, or why nothing was.
    pub message: String,
    /// The undo's own action, when it wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo_action_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UndoResult {
    /// Taken back.
    Undone,
    /// What it created is gone already: nothing to take back.
    AlreadyGone,
    /// Taken back before.
    AlreadyUndone,
    /// Changed since by someone else: nothing was changed.
    ChangedSince,
    /// LunaTask's API does not allow it, or the journal lacks what it needs.
    NotUndoable,
}

pub(super) fn undo(api: &Api, args: UndoArgs) -> Result<Undone, ToolError> {
    let filter = match (args.action_id, args.correlation_id) {
        (Some(id), None) => Filter {
            action_id: Some(id.into()),
            limit: 1,
            ..Filter::default()
        },
        (None, Some(id)) => Filter {
            correlation_id: Some(id.into()),
            limit: 1000,
            ..Filter::default()
        },
        _ => {
            return Err(ToolError::validation(
                "action_id",
                "give exactly one of action_id (one action) and correlation_id (every action \
                 of one call); list_actions shows both",
            ));
        }
    };
    if api.journal_mode() == Mode::Off {
        return Err(ToolError::validation(
            "",
            "the action journal is off (LUNATASK_JOURNAL=off): nothing was recorded to undo",
        ));
    }
    let entries = journal::find(&filter).map_err(unreadable)?;
    // The tasks whose updates are to be undone, read in one pass rather than one by one.
    let updated: Vec<&str> = entries
        .iter()
        .filter(|e| e.operation == "update" && e.kind == "task" && e.undone_by.is_none())
        .filter_map(|e| e.entity_id.as_deref())
        .collect();
    api.read_ahead(&updated);
    if entries.is_empty() {
        return Err(ToolError::new(
            Code::NotFound,
            "this journal has no such action: check the id with list_actions (actions older \
             than LUNATASK_JOURNAL_RETENTION_DAYS are dropped)",
        ));
    }
    let mut items = Vec::new();
    for entry in entries {
        items.push(undo_one(api, entry)?);
    }
    let undone = items
        .iter()
        .filter(|i| i.result == UndoResult::Undone)
        .count();
    let taken = |i: &UndoItem| {
        matches!(
            i.result,
            UndoResult::Undone | UndoResult::AlreadyGone | UndoResult::AlreadyUndone
        )
    };
    if !items.iter().any(taken) {
        let reasons: Vec<String> = items
            .iter()
            .map(|i| format!("{} ({}): {}", i.action_id, i.tool, i.message))
            .collect();
        let mut error =
            ToolError::validation("", format!("nothing was undone. {}", reasons.join("; ")));
        error.items = serde_json::to_string(&items).ok();
        return Err(error);
    }
    Ok(Undone { undone, items })
}

/// Takes back one action, or says why not. Errors are only those of the requests sent.
fn undo_one(api: &Api, entry: Entry) -> Result<UndoItem, ToolError> {
    let mut item = UndoItem {
        action_id: entry.id.clone(),
        tool: entry.tool.clone(),
        kind: entry.kind.clone(),
        entity_id: entry.entity_id.clone(),
        result: UndoResult::NotUndoable,
        message: String::new(),
        undo_action_id: None,
    };
    let refuse = |mut item: UndoItem, result: UndoResult, message: String| {
        item.result = result;
        item.message = message;
        Ok(item)
    };
    if let Some(by) = &entry.undone_by {
        return refuse(
            item,
            UndoResult::AlreadyUndone,
            format!("already undone by action {by}"),
        );
    }
    if entry.undoes.is_some() {
        let said = "an undo cannot itself be undone; make the change again with the tool";
        return refuse(item, UndoResult::NotUndoable, said.into());
    }
    if let Some(why) = not_settled(entry.outcome) {
        return refuse(item, UndoResult::NotUndoable, why.into());
    }
    let (kind, id) = match (kind_of(&entry.kind), entry.entity_id.as_deref().map(id_of)) {
        (Some(kind), Some(Some(id))) => (kind, id),
        _ => return refuse(item, UndoResult::NotUndoable, cannot(&entry).into()),
    };
    if !matches!(
        (entry.operation.as_str(), entry.kind.as_str()),
        ("create", _) | ("update", "task")
    ) {
        return refuse(item, UndoResult::NotUndoable, cannot(&entry).into());
    }
    // Claimed before anything is read or sent: of concurrent undos of one action, on any
    // replica, exactly one goes on; the others answer who holds it and send nothing.
    match journal::claim_undo(&entry.id).map_err(unreadable)? {
        None => {}
        Some(by) => {
            return refuse(
                item,
                UndoResult::AlreadyUndone,
                format!("already undone by {by}"),
            );
        }
    }
    api.undoing(Some(entry.id.clone()));
    let result = match entry.operation.as_str() {
        "create" => undo_create(api, kind, &id),
        _ => undo_update(api, &entry, &id),
    };
    api.undoing(None);
    settle_claim(api, &entry.id, &result);
    let (result, message) = result?;
    if result == UndoResult::Undone {
        item.undo_action_id = api.last_action();
    }
    item.result = result;
    item.message = message;
    Ok(item)
}

/// Ends this call's claim on the action `id`: marked undone by the undo's own action when
/// it wrote (or may have: an answer lost is not sent again blindly), released otherwise.
fn settle_claim(api: &Api, id: &str, result: &Result<(UndoResult, String), ToolError>) {
    let wrote = match result {
        Ok((result, _)) => *result == UndoResult::Undone,
        Err(e) => e.outcome == Some(crate::error::WriteOutcome::Unknown),
    };
    let settled = match api.last_action().filter(|_| wrote) {
        Some(by) => journal::mark_undone(id, &by),
        None => journal::release_undo(id),
    };
    if let Err(why) = settled {
        crate::log::info(
            api.correlation_id(),
            &format!("undo could not settle its claim on action {id}: {why}"),
        );
    }
}

/// Why an action that was not surely applied is not undone.
fn not_settled(outcome: Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::Applied => None,
        Outcome::Duplicate => Some(
            "LunaTask created nothing (a record with the same source already existed), so \
             nothing is taken back and the existing record is left alone",
        ),
        Outcome::Failed => Some("it was not applied: there is nothing to undo"),
        Outcome::Pending | Outcome::Unknown => Some(
            "whether it was applied is unknown (its answer was lost); check in the LunaTask \
             app, and delete or change the record there or with the tools",
        ),
    }
}

/// What LunaTask's API does not let an action be taken back by.
fn cannot(entry: &Entry) -> &'static str {
    match (entry.operation.as_str(), entry.kind.as_str()) {
        ("delete", _) => {
            "a delete cannot be undone: LunaTask's API cannot restore a deleted record"
        }
        ("append", "journal-entry") => {
            "a journal entry cannot be undone: LunaTask's API cannot delete journal entries"
        }
        ("append", _) => {
            "a timeline note cannot be undone: LunaTask's API cannot delete timeline notes"
        }
        ("track", _) => "habit tracking cannot be undone: LunaTask's API cannot untrack a habit",
        ("update", "note") => {
            "a note's update cannot be undone: LunaTask never returns a note's fields, so their \
             earlier values are unknown"
        }
        _ => "this action cannot be undone",
    }
}

fn kind_of(kind: &str) -> Option<&'static Kind> {
    match kind {
        "task" => Some(&TASKS),
        "note" => Some(&NOTES),
        "person" => Some(&PEOPLE),
        _ => None,
    }
}

fn id_of(raw: &str) -> Option<Id> {
    Id::try_from(raw.to_string()).ok()
}

/// Deletes what a create made, if it is still there.
fn undo_create(api: &Api, kind: &Kind, id: &Id) -> Result<(UndoResult, String), ToolError> {
    match api.send(Request::delete(kind.path_of(id))) {
        Ok(_) => Ok((
            UndoResult::Undone,
            format!("deleted the {} it created", kind.noun),
        )),
        Err(e) if e.code == Code::NotFound => Ok((
            UndoResult::AlreadyGone,
            format!("the {} it created is already gone", kind.noun),
        )),
        Err(e) => Err(kind.not_found(e, id)),
    }
}

/// Restores the fields an update set, if they still hold what it set.
fn undo_update(api: &Api, entry: &Entry, id: &Id) -> Result<(UndoResult, String), ToolError> {
    let restorable: Vec<_> = entry.changes.iter().filter(|c| !c.text).collect();
    let texts: Vec<&str> = entry
        .changes
        .iter()
        .filter(|c| c.text)
        .map(|c| c.field.as_str())
        .collect();
    if restorable.is_empty() {
        return Ok((
            UndoResult::NotUndoable,
            format!(
                "it changed only {}, which LunaTask never returns, so the earlier text is unknown",
                texts.join(" and ")
            ),
        ));
    }
    if restorable.iter().any(|c| c.before.is_none()) {
        return Ok((
            UndoResult::NotUndoable,
            "it was recorded with LUNATASK_JOURNAL=writes, which does not read the earlier \
             values; with full (the default) updates can be undone"
                .into(),
        ));
    }
    let read = match api.take_read_ahead(id.as_str()) {
        Some(task) => Ok(task),
        None => TASKS.get(api, id),
    };
    let now: Map<String, Value> = match read {
        Ok(task) => task,
        Err(e) if e.code == Code::NotFound => {
            return Ok((
                UndoResult::AlreadyGone,
                "the task is gone (deleted since)".into(),
            ));
        }
        Err(e) => return Err(e),
    };
    // A field with no value set is one LunaTask moved itself (completed_at, with status):
    // restored with the rest, not compared.
    let changed: Vec<String> = restorable
        .iter()
        .filter(|c| c.after.is_some())
        .filter(|c| !same(now.get(&c.field).unwrap_or(&Value::Null), c.after.as_ref()))
        .map(|c| {
            format!(
                "{} is now {}, not the {} it set",
                c.field,
                now.get(&c.field).unwrap_or(&Value::Null),
                c.after.as_ref().unwrap_or(&Value::Null)
            )
        })
        .collect();
    if !changed.is_empty() {
        return Ok((
            UndoResult::ChangedSince,
            format!(
                "the task changed since ({}); nothing was changed",
                changed.join(", ")
            ),
        ));
    }
    let prior: Map<String, Value> = restorable
        .iter()
        .map(|c| (c.field.clone(), c.before.clone().unwrap_or(Value::Null)))
        .collect();
    // Just read: the journal's record of this update takes its prior values from it.
    api.keep_read(id.as_str(), now);
    api.send(Request::put(TASKS.path_of(id)).json(&prior))
        .map_err(|e| TASKS.not_found(e, id))?;
    let fields: Vec<&str> = restorable.iter().map(|c| c.field.as_str()).collect();
    let mut message = format!("restored {}", fields.join(", "));
    if !texts.is_empty() {
        message.push_str(&format!(
            "; {} cannot be restored: LunaTask never returns it",
            texts.join(" and ")
        ));
    }
    Ok((UndoResult::Undone, message))
}

/// Whether the value a task holds now is the one an action set: timestamps compared as
/// instants, since LunaTask may write one back in another form.
fn same(now: &Value, set: Option<&Value>) -> bool {
    let Some(set) = set else { return false };
    if now == set {
        return true;
    }
    let instant = |v: &Value| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    matches!((instant(now), instant(set)), (Some(a), Some(b)) if a == b)
}
