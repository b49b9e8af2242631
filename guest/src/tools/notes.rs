//! Note tools: create, update, delete. The API has no way to read notes back.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::create::{Outcome, SourceKey, create};
use super::{Effect, Tool, not_found_names, put, require_some_field};
use crate::api::{Api, Method, segment};
use crate::entities::Note;
use crate::error::ToolError;
use crate::retry::Replay;
use crate::validate::{Date, Id, SourceText, source_pair};

pub fn tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "create_note",
            "Create a note",
            "Creates a note, optionally in a notebook (notebook_id is copied from the LunaTask \
             app; the API cannot list notebooks). name and content are write-only; content is \
             Markdown (an extra empty line is a line holding a backslash and a space). With \
             source and source_id, a note in that notebook that has them gives outcome \
             \"duplicate\" (without note: notes cannot be read) and nothing is created. Safe to \
             retry.",
            Effect::Create,
            create_note,
        ),
        Tool::new(
            "update_note",
            "Update a note",
            "Changes the given fields of a note; at least one is required. content replaces the \
             whole note.",
            Effect::Update,
            update_note,
        ),
        Tool::new(
            "delete_note",
            "Delete a note",
            "Deletes a note; an already deleted one gives not_found.",
            Effect::Delete,
            delete_note,
        ),
    ]
}

/// Arguments of `create_note`. Every field is optional.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArgs {
    /// The notebook to put the note in.
    pub notebook_id: Option<Id>,
    /// Title. Write-only.
    pub name: Option<String>,
    /// Markdown body. Write-only.
    pub content: Option<String>,
    /// The note's date, YYYY-MM-DD.
    pub date_on: Option<Date>,
    /// An external system; give with source_id.
    pub source: Option<SourceText>,
    /// The id in that system; give with source.
    pub source_id: Option<SourceText>,
}

/// The result of `create_note`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NoteCreated {
    /// "created", or "duplicate" when a note in the notebook already had this source/source_id.
    pub outcome: Outcome,
    /// The note; absent when LunaTask answered "duplicate" (notes cannot be looked up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<Note>,
    /// The source/source_id the note carries (this server's own when none was given).
    pub source: SourceKey,
}

fn create_note(api: &Api, args: CreateArgs) -> Result<NoteCreated, ToolError> {
    let caller_key = source_pair(&args.source, &args.source_id)?;
    let mut body = Map::new();
    put(&mut body, "notebook_id", &args.notebook_id);
    put(&mut body, "name", &args.name);
    put(&mut body, "content", &args.content);
    put(&mut body, "date_on", &args.date_on);
    // LunaTask has no endpoint that lists notes, so a duplicate cannot be resolved to an id.
    let created = create::<Note>(api, "/notes", "note", body, caller_key, |_, _| Ok(None))?;
    Ok(NoteCreated {
        outcome: created.outcome,
        note: created.entity,
        source: created.key,
    })
}

/// Arguments of `update_note`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArgs {
    /// The note to change.
    pub note_id: Id,
    /// New title. Write-only.
    pub name: Option<String>,
    /// New Markdown body, replacing the whole note. Write-only.
    pub content: Option<String>,
    /// Move the note to this notebook.
    pub notebook_id: Option<Id>,
    /// New date, YYYY-MM-DD.
    pub date_on: Option<Date>,
}

/// A single note.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NoteResult {
    pub note: Note,
}

fn update_note(api: &Api, args: UpdateArgs) -> Result<NoteResult, ToolError> {
    require_some_field(&[
        ("name", args.name.is_some()),
        ("content", args.content.is_some()),
        ("notebook_id", args.notebook_id.is_some()),
        ("date_on", args.date_on.is_some()),
    ])?;
    let mut body = Map::new();
    put(&mut body, "name", &args.name);
    put(&mut body, "content", &args.content);
    put(&mut body, "notebook_id", &args.notebook_id);
    put(&mut body, "date_on", &args.date_on);
    let path = format!("/notes/{}", segment(args.note_id.as_str()));
    let reply = api
        .send(Method::Put, &path, &[], Some(&body.into()), Replay::Safe)
        .map_err(|e| not_found_names(e, "note", &args.note_id))?;
    Ok(NoteResult {
        note: reply.field("note")?,
    })
}

/// Arguments naming one note.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteIdArgs {
    pub note_id: Id,
}

/// The result of `delete_note`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NoteDeleted {
    pub deleted: bool,
    /// The deleted note (with deleted_at), when LunaTask returned it.
    pub note: Option<Note>,
}

fn delete_note(api: &Api, args: NoteIdArgs) -> Result<NoteDeleted, ToolError> {
    let path = format!("/notes/{}", segment(args.note_id.as_str()));
    let reply = api
        .send(Method::Delete, &path, &[], None, Replay::Safe)
        .map_err(|e| not_found_names(e, "note", &args.note_id))?;
    let note = if reply.body.is_empty() {
        None
    } else {
        Some(reply.field("note")?)
    };
    Ok(NoteDeleted {
        deleted: true,
        note,
    })
}
