//! Creating records without ever creating one twice.
//!
//! LunaTask answers a create with 204 (creating nothing) when a matching record with the
//! same `source`/`source_id` already exists. Every create we send therefore carries such a
//! pair: the caller's, or our own (`lunatask-mcp` and a fresh UUID) when the caller gave
//! none. Replaying the POST after a lost answer is then safe: the replay gets 204, and we
//! look the record up by that pair to report it.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::entity::{Kind, body_of};
use crate::api::{Api, Request};
use crate::entities::Linked;
use crate::error::ToolError;
use crate::ids;
use crate::validate::{SourceText, source_pair};

/// The `source` this server puts on records it creates when the caller names none.
pub const OWN_SOURCE: &str = "lunatask-mcp";

/// What a create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreateOutcome {
    /// A new record was created (possibly by an earlier attempt of this same call whose
    /// answer was lost; it was created once).
    Created,
    /// Nothing was created: a record with the caller's source/source_id already exists.
    Duplicate,
}

/// The idempotency key a create was sent with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SourceKey {
    pub source: String,
    pub source_id: String,
}

/// The result of [`create`].
pub struct Created<T> {
    pub outcome: CreateOutcome,
    /// The record; `None` when LunaTask offers no way to look it up (notes).
    pub entity: Option<T>,
    pub key: SourceKey,
}

/// Whose idempotency key a create carries. After a 204 (a record with the key exists), a
/// caller's key means a duplicate; ours was made for this call alone, so only an earlier
/// attempt of this same call can have created the record.
pub enum Key {
    Caller(SourceKey),
    Ours(SourceKey),
}

impl Key {
    /// The caller's `source`/`source_id` pair when given (both or neither), else a fresh
    /// key of our own.
    pub fn from_pair(
        source: &Option<SourceText>,
        source_id: &Option<SourceText>,
    ) -> Result<Self, ToolError> {
        Ok(match source_pair(source, source_id)? {
            Some((source, source_id)) => Key::Caller(SourceKey { source, source_id }),
            None => Key::Ours(SourceKey {
                source: OWN_SOURCE.to_string(),
                source_id: ids::uuid_v4(),
            }),
        })
    }
}

/// POSTs `args` to the collection of `kind`, de-duplicated by the caller's `sources` pair
/// or our own key (see [`create_keyed`]).
pub fn create<T: DeserializeOwned + Linked>(
    api: &Api,
    kind: &Kind,
    args: &impl Serialize,
    (source, source_id): (&Option<SourceText>, &Option<SourceText>),
    same: Option<&dyn Fn(&T) -> bool>,
) -> Result<Created<T>, ToolError> {
    let key = Key::from_pair(source, source_id)?;
    create_keyed(api, kind, body_of(args)?, key, same)
}

/// POSTs `body` with `key` as its source pair and reads the new entity from the answer.
/// After a 204, the existing record is looked up by that pair: the first that `same`
/// accepts (LunaTask's own notion of a duplicate), or none when the kind cannot be looked
/// up (`same` is `None`).
pub fn create_keyed<T: DeserializeOwned + Linked>(
    api: &Api,
    kind: &Kind,
    mut body: Map<String, Value>,
    key: Key,
    same: Option<&dyn Fn(&T) -> bool>,
) -> Result<Created<T>, ToolError> {
    let (ours, key) = match key {
        Key::Caller(key) => (false, key),
        Key::Ours(key) => (true, key),
    };
    body.insert("source".into(), key.source.clone().into());
    body.insert("source_id".into(), key.source_id.clone().into());

    let reply = api
        .send(Request::post(kind.path).json(&body))
        .map_err(|mut error| {
            if error.outcome == Some(crate::error::WriteOutcome::Unknown) {
                // The key makes a retry safe: tell the agent which one to reuse.
                error.message.push_str(&format!(
                    ". It may have been created; calling again with source {:?} and source_id \
                     {:?} cannot create a second one",
                    key.source, key.source_id
                ));
            }
            error
        })?;
    if reply.status != 204 {
        return Ok(Created {
            outcome: CreateOutcome::Created,
            entity: Some(reply.field(kind.one)?),
            key,
        });
    }
    // 204: a record with this pair exists. With our own fresh key, only an earlier attempt
    // of this call can have made it.
    let outcome = if ours {
        CreateOutcome::Created
    } else {
        CreateOutcome::Duplicate
    };
    let entity = match same {
        Some(same) => kind
            .list::<T>(api, Some(&key.source), Some(&key.source_id))?
            .into_iter()
            .find(|e| same(e)),
        None => None,
    };
    Ok(Created {
        outcome,
        entity,
        key,
    })
}
