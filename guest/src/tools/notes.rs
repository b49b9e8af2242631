//! Note tools: create, update, delete. The API has no way to read notes back.

use super::args::{CreateNoteArgs, UpdateNoteArgs};
use super::create::create;
use super::entity::{NOTES, body_of, changes_of};
use super::{Effect, Tool};
use crate::api::Api;
use crate::entities::Note;
use crate::error::ToolError;
use crate::validate::source_pair;

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

entity_io! {
    NOTES => Note, note by note_id:
        NoteIdArgs, NoteResult, NoteDeleted, NoteCreated;
    duplicate when "a note in the notebook"; delete: delete_note;
}

fn create_note(api: &Api, args: CreateNoteArgs) -> Result<NoteCreated, ToolError> {
    let caller_key = source_pair(&args.source, &args.source_id)?;
    // LunaTask has no endpoint that lists notes, so a duplicate cannot be resolved to an id.
    let created = create::<Note>(api, &NOTES, body_of(&args)?, caller_key, |_, _| Ok(None))?;
    Ok(created.into())
}

fn update_note(api: &Api, args: UpdateNoteArgs) -> Result<NoteResult, ToolError> {
    let changes = changes_of(&args, &["note_id"])?;
    Ok(NoteResult {
        note: NOTES.update(api, &args.note_id, &changes)?,
    })
}
