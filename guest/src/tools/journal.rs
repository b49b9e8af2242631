//! `create_journal_entry`. LunaTask cannot de-duplicate journal entries, so a lost answer
//! is never blindly replayed (its effect is [`Effect::Append`]).

use schemars::JsonSchema;
use serde::Serialize;

use super::args::JournalEntryArgs;
use crate::api::{Api, Request};
use crate::entities::JournalEntry;
use crate::error::ToolError;

/// The result of `create_journal_entry`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Created {
    pub journal_entry: JournalEntry,
}

pub(super) fn create_journal_entry(
    api: &Api,
    args: JournalEntryArgs,
) -> Result<Created, ToolError> {
    let reply = api.send(Request::post("/journal_entries").json(&args))?;
    Ok(Created {
        journal_entry: reply.field("journal_entry")?,
    })
}
