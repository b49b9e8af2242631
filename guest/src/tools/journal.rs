//! `create_journal_entry`. LunaTask cannot de-duplicate journal entries, so a lost answer
//! is never blindly replayed (its effect is [`Effect::Append`]).

use schemars::JsonSchema;
use serde::Serialize;

use super::args::JournalEntryArgs;
use super::{Effect, Tool};
use crate::api::{Api, Request};
use crate::entities::JournalEntry;
use crate::error::ToolError;

pub fn tools() -> Vec<Tool> {
    vec![Tool::new(
        "create_journal_entry",
        "Write a journal entry",
        "Adds a journal entry for date_on. name and content are write-only; content is \
         Markdown. LunaTask cannot detect duplicate entries, so an entry that may have \
         arrived is never re-sent: a failure mid-request has outcome \"unknown\"; check the \
         journal in the app before calling again.",
        Effect::Append,
        create_journal_entry,
    )]
}

/// The result of `create_journal_entry`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Created {
    pub journal_entry: JournalEntry,
}

fn create_journal_entry(api: &Api, args: JournalEntryArgs) -> Result<Created, ToolError> {
    let reply = api.send(Request::post("/journal_entries").json(&args))?;
    Ok(Created {
        journal_entry: reply.field("journal_entry")?,
    })
}
