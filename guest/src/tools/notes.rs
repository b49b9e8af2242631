//! Note handlers: create, update, delete. The API has no way to read notes back.

use super::args::{CreateNoteArgs, UpdateNoteArgs};
use super::create::create;
use super::entity::{NOTES, changes_of};
use crate::api::Api;
use crate::entities::Note;
use crate::error::ToolError;

entity_io! {
    NOTES => Note, note by note_id:
        NoteIdArgs, NoteResult, NoteDeleted, NoteCreated;
    duplicate when "a note in the notebook"; delete: delete_note;
}

pub(super) fn create_note(api: &Api, args: CreateNoteArgs) -> Result<NoteCreated, ToolError> {
    // LunaTask has no endpoint that lists notes, so a duplicate cannot be resolved to an id.
    let sources = (&args.source, &args.source_id);
    Ok(create::<Note>(api, &NOTES, &args, sources, None)?.into())
}

pub(super) fn update_note(api: &Api, args: UpdateNoteArgs) -> Result<NoteResult, ToolError> {
    let changes = changes_of(&args, &["note_id"])?;
    Ok(NoteResult {
        note: NOTES.update(api, &args.note_id, &changes)?,
    })
}
