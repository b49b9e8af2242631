//! What a tool does to the user's data, declared once per tool. It decides the tool's MCP
//! annotations and whether the API client may send a failed request again, so that the
//! two can never disagree: a tool that appends cannot be retried blindly by mistake.

use crate::retry::Replay;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only; the API client refuses to send anything but GET for it.
    Read,
    /// Adds a record, always with a source/source_id pair LunaTask de-duplicates on (see
    /// `tools::create`), so a replay cannot add a second one.
    Create,
    /// Adds a record LunaTask cannot de-duplicate (journal, timeline, habit tracking).
    Append,
    /// Overwrites fields of a record: repeating it changes nothing more.
    Update,
    /// Removes a record.
    Delete,
}

impl Effect {
    /// MCP's `(readOnlyHint, destructiveHint, idempotentHint)` for this effect.
    pub fn hints(self) -> (bool, bool, bool) {
        match self {
            Effect::Read => (true, false, true),
            Effect::Create | Effect::Append => (false, false, false),
            Effect::Update | Effect::Delete => (false, true, true),
        }
    }

    /// Whether this tool's writes may be sent again after a failure that may have been
    /// applied. Reads (GET) always may.
    pub fn replay(self) -> Replay {
        match self {
            Effect::Append => Replay::OnlyIfNotDelivered,
            Effect::Read | Effect::Create | Effect::Update | Effect::Delete => Replay::Safe,
        }
    }
}
