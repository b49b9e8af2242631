//! The action journal: the record of every write a tool makes, kept by the host so that it
//! outlives the call's instance and the process. The guest describes each write before it
//! sends it ([`CallJournal::add`]) and settles it after; `list_actions`, `undo` and the
//! `lunatask://actions` resources read it back through the same imports.
//!
//! Where it lives: an embedded SQLite database under `LUNATASK_STATE_DIR` ([`sqlite`]), or,
//! when replicas share Redis, in Redis ([`redis_store`]), so a user sees one journal on every
//! replica. Each user's journal is apart, keyed by the keyed hash of their token; a one-user
//! server's is [`LOCAL_OWNER`]'s. Never user text: the guest sends a text field's name alone.
//!
//! May use: `gate` (the Redis connection replicas share), `bindings`, `settings`, `support`.

mod redis_store;
mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bindings::journal_wit as wit;
use crate::gate::shared_limits::SharedLimits;
use crate::settings::Settings;

/// What the journal records (`LUNATASK_JOURNAL`): a setting's value.
pub use crate::settings::JournalMode as Mode;

/// Whose journal a one-user server keeps: its token is the only one.
pub const LOCAL_OWNER: &str = "local";

/// One recorded action, as stored (JSON) and read back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub id: String,
    pub at_ms: i64,
    pub tool: String,
    pub correlation_id: String,
    pub kind: String,
    pub operation: String,
    pub entity_id: Option<String>,
    pub changes: Vec<Change>,
    pub undoes: Option<String>,
    pub outcome: Outcome,
    pub undone_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub text: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pending,
    Applied,
    Duplicate,
    Failed,
    Unknown,
}

/// What became of an action, recorded after its answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Settled {
    pub outcome: Outcome,
    /// What it created, when the answer named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
}

impl Settled {
    fn apply(&self, record: &mut Record) {
        record.outcome = self.outcome;
        if self.entity_id.is_some() {
            record.entity_id.clone_from(&self.entity_id);
        }
    }
}

/// Which of an owner's actions to read, newest first.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub action_id: Option<String>,
    pub correlation_id: Option<String>,
    pub tool: Option<String>,
    pub since_ms: Option<i64>,
    pub limit: usize,
}

impl Filter {
    fn admits(&self, record: &Record) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        is(&self.action_id, &record.id)
            && is(&self.correlation_id, &record.correlation_id)
            && is(&self.tool, &record.tool)
            && self.since_ms.is_none_or(|since| record.at_ms >= since)
    }
}

/// How much the journal keeps of each owner's actions.
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    pub retention_ms: i64,
    pub max_actions: u32,
}

/// What a compare-and-set of an action's `undone_by` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// It held what was expected, and now holds the new value.
    Done,
    /// It held this instead (none: nothing), and is unchanged.
    Held(String),
    /// There is no such action.
    Missing,
}

/// How a claim by a call in progress reads in `undone_by`.
const CLAIM_PREFIX: &str = "claimed-by-call:";

/// Why the journal could not be read or written. Its text names the store, never a record.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

enum Store {
    Sqlite(sqlite::Db),
    Redis(redis_store::Shared),
}

/// The journal of this process: where it lives and what it keeps.
pub struct Journal {
    mode: Mode,
    /// `None` when the journal is off.
    store: Option<Store>,
    keep: Keep,
}

impl Journal {
    /// Opens the journal the settings name: nothing when it is off, Redis when the replicas
    /// share it, else the SQLite database under the state directory. A database that is
    /// corrupt or cannot be written stops start-up here, naming the setting that moves it.
    pub fn open(settings: &Settings, shared: Option<&SharedLimits>) -> anyhow::Result<Self> {
        let keep = Keep {
            retention_ms: i64::from(settings.journal_retention_days) * 86_400_000,
            max_actions: settings.journal_max_actions,
        };
        let store = match (settings.journal, shared) {
            (Mode::Off, _) => None,
            (_, Some(shared)) => Some(Store::Redis(redis_store::Shared::new(shared.connection()))),
            (_, None) => match state_dir(settings) {
                Some(dir) => Some(Store::Sqlite(sqlite::Db::open(&dir)?)),
                // Launchers that pass a bare environment are common; refusing to start
                // there would lose the user more than a journal that ends with the process.
                None => {
                    tracing::warn!(
                        "the action journal is kept in memory and ends with this process: \
                         neither XDG_STATE_HOME nor HOME is an absolute path; set \
                         LUNATASK_STATE_DIR to keep it"
                    );
                    Some(Store::Sqlite(sqlite::Db::in_memory()?))
                }
            },
        };
        Ok(Self {
            mode: settings.journal,
            store,
            keep,
        })
    }

    /// Where it lives, for the start-up log line.
    pub fn location(&self) -> String {
        match &self.store {
            None => "off (LUNATASK_JOURNAL=off)".into(),
            Some(Store::Sqlite(db)) => db
                .path()
                .map_or_else(|| "in memory".into(), |p| p.display().to_string()),
            Some(Store::Redis(_)) => "Redis (LUNATASK_REDIS_URL)".into(),
        }
    }

    /// The key of the users' keyed hash, kept with the journal so that a user's hash, and
    /// so their journal, is the same after a restart; `fresh` if none was kept. `None`
    /// when the journal keeps nothing on disk.
    pub fn user_hash_key(&self, fresh: String) -> anyhow::Result<Option<String>> {
        match &self.store {
            Some(Store::Sqlite(db)) if db.path().is_some() => Ok(Some(db.hash_key(fresh)?)),
            _ => Ok(None),
        }
    }

    async fn add(&self, owner: &str, record: &Record) -> Result<(), StoreError> {
        // The component describes the write, and a faulty or hostile one could describe a
        // huge one: what the journal keeps is bounded per record as well as in count.
        let size = serde_json::to_vec(record).map_or(usize::MAX, |text| text.len());
        if size > MAX_RECORD_BYTES {
            return Err(StoreError(format!(
                "the action's record would be {size} bytes, more than the {MAX_RECORD_BYTES} \
                 the journal keeps of one"
            )));
        }
        match self.store()? {
            Store::Sqlite(db) => db.add(owner, record, self.keep, now_ms()),
            Store::Redis(shared) => bounded(shared.add(owner, record, self.keep, now_ms())).await,
        }
    }

    /// Records what became of the action `id`; false when there is none.
    async fn settle(&self, owner: &str, id: &str, settled: &Settled) -> Result<bool, StoreError> {
        match self.store()? {
            Store::Sqlite(db) => db.settle(owner, id, settled),
            Store::Redis(shared) => bounded(shared.settle(owner, id, settled, self.keep)).await,
        }
    }

    /// Sets the action's `undone_by` to `to` if it is `expected` now, in one atomic step.
    async fn swap_undone_by(
        &self,
        owner: &str,
        id: &str,
        expected: Option<&str>,
        to: Option<&str>,
    ) -> Result<Swap, StoreError> {
        match self.store()? {
            Store::Sqlite(db) => db.swap_undone_by(owner, id, expected, to),
            Store::Redis(shared) => {
                bounded(shared.swap_undone_by(owner, id, expected, to, self.keep)).await
            }
        }
    }

    pub async fn find(&self, owner: &str, filter: &Filter) -> Result<Vec<Record>, StoreError> {
        match self.store()? {
            Store::Sqlite(db) => db.find(owner, filter),
            Store::Redis(shared) => bounded(shared.find(owner, filter)).await,
        }
    }

    fn store(&self) -> Result<&Store, StoreError> {
        self.store
            .as_ref()
            .ok_or_else(|| StoreError("the action journal is off (LUNATASK_JOURNAL=off)".into()))
    }
}

/// The most one action's record may take. A write of ours records ids, dates, numbers and
/// sources (each at most 1,000 characters), never user text: a few hundred bytes.
const MAX_RECORD_BYTES: usize = 16 * 1024;

/// The most an id given after the record was made (an entity's, an undo's) may take.
const MAX_ID_BYTES: usize = 128;

/// How long a journal call may wait for Redis: a write waits for its record, and a Redis
/// that does not answer must not hold it until the call's deadline.
const REDIS_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn bounded<T>(
    work: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(REDIS_WAIT, work)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError(format!(
                "Redis did not answer within {REDIS_WAIT:?}"
            )))
        })
}

/// `LUNATASK_STATE_DIR`, else `$XDG_STATE_HOME/lunatask-mcp`, else
/// `~/.local/state/lunatask-mcp`; `None` when none of them is set.
fn state_dir(settings: &Settings) -> Option<PathBuf> {
    if let Some(dir) = &settings.state_dir {
        return Some(dir.clone());
    }
    let base = crate::support::xdg::base_dir("XDG_STATE_HOME", ".local/state")?;
    Some(base.join("lunatask-mcp"))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One call's view of the journal: whose it is, which tool writes, under which id.
#[derive(Clone)]
pub struct CallJournal {
    pub journal: Arc<Journal>,
    pub owner: Arc<str>,
    /// The tool being called; `None` for resource reads and prompts, which may not write.
    pub tool: Option<String>,
    pub correlation_id: String,
}

impl CallJournal {
    pub fn mode(&self) -> wit::JournalMode {
        match self.journal.mode {
            Mode::Full => wit::JournalMode::Full,
            Mode::Writes => wit::JournalMode::Writes,
            Mode::Off => wit::JournalMode::Off,
        }
    }

    pub async fn add(&self, action: wit::Action) -> Result<String, String> {
        let Some(tool) = &self.tool else {
            return Err("only a tool call may write".into());
        };
        let record = Record {
            id: uuid::Uuid::now_v7().to_string(),
            at_ms: now_ms(),
            tool: tool.clone(),
            correlation_id: self.correlation_id.clone(),
            kind: action.kind,
            operation: action.operation,
            entity_id: action.entity_id,
            changes: action
                .changes
                .into_iter()
                .map(|c| Change {
                    // A text field's values never reach the store, whatever the guest sent.
                    before: c.before.filter(|_| !c.text),
                    after: c.after.filter(|_| !c.text),
                    field: c.field,
                    text: c.text,
                })
                .collect(),
            undoes: action.undoes,
            outcome: Outcome::Pending,
            undone_by: None,
        };
        self.journal
            .add(&self.owner, &record)
            .await
            .map_err(|e| self.failed("record", e))?;
        Ok(record.id)
    }

    pub async fn settle(
        &self,
        id: &str,
        outcome: wit::Outcome,
        entity_id: Option<String>,
    ) -> Result<(), String> {
        if entity_id.as_ref().is_some_and(|id| id.len() > MAX_ID_BYTES) {
            return Err("an entity id is at most 128 bytes".into());
        }
        let settled = Settled {
            outcome: Outcome::from(outcome),
            entity_id,
        };
        let found = self
            .journal
            .settle(&self.owner, id, &settled)
            .await
            .map_err(|e| self.failed("settle", e))?;
        found.then_some(()).ok_or_else(|| format!("no action {id}"))
    }

    pub async fn find(&self, filter: wit::Filter) -> Result<Vec<wit::Entry>, String> {
        let filter = Filter {
            action_id: filter.action_id,
            correlation_id: filter.correlation_id,
            tool: filter.tool,
            since_ms: filter.since_ms,
            limit: filter.limit.clamp(1, 1000) as usize,
        };
        let records = self
            .journal
            .find(&self.owner, &filter)
            .await
            .map_err(|e| self.failed("read", e))?;
        Ok(records.into_iter().map(wit::Entry::from).collect())
    }

    /// What this call's claim on an action reads as while it holds it.
    fn claim(&self) -> String {
        format!("{CLAIM_PREFIX}{}", self.correlation_id)
    }

    /// Claims the action `id` for this call's undo: `None` when this call now holds it,
    /// else who does. One atomic step in the store, so that of concurrent undos of one
    /// action (on any replica) exactly one goes on to send anything.
    pub async fn claim_undo(&self, id: &str) -> Result<Option<String>, String> {
        if self.tool.is_none() {
            return Err("only a tool call may undo".into());
        }
        let swapped = self
            .journal
            .swap_undone_by(&self.owner, id, None, Some(&self.claim()))
            .await
            .map_err(|e| self.failed("claim", e))?;
        match swapped {
            Swap::Done => Ok(None),
            Swap::Held(by) => Ok(Some(
                by.replace(CLAIM_PREFIX, "the undo in progress of call "),
            )),
            Swap::Missing => Err(format!("no action {id}")),
        }
    }

    /// Marks the action `id`, claimed by this call, as taken back by the undo action `by`.
    pub async fn mark_undone(&self, id: &str, by: String) -> Result<(), String> {
        if by.len() > MAX_ID_BYTES {
            return Err("an action id is at most 128 bytes".into());
        }
        self.swap_claim(id, Some(&by), "mark").await
    }

    /// Gives up this call's claim on the action `id`.
    pub async fn release_undo(&self, id: &str) -> Result<(), String> {
        self.swap_claim(id, None, "release").await
    }

    async fn swap_claim(&self, id: &str, to: Option<&str>, what: &str) -> Result<(), String> {
        let swapped = self
            .journal
            .swap_undone_by(&self.owner, id, Some(&self.claim()), to)
            .await
            .map_err(|e| self.failed(what, e))?;
        match swapped {
            Swap::Done => Ok(()),
            Swap::Held(_) => Err(format!("action {id} is not claimed by this call")),
            Swap::Missing => Err(format!("no action {id}")),
        }
    }

    /// Logs a store failure and words it for the guest (no record's content in either).
    fn failed(&self, what: &str, error: StoreError) -> String {
        tracing::error!(
            correlation_id = self.correlation_id,
            "the action journal could not {what} an action: {error}"
        );
        format!("the action journal could not {what} the action: {error}")
    }
}

impl From<wit::Outcome> for Outcome {
    fn from(outcome: wit::Outcome) -> Self {
        match outcome {
            wit::Outcome::Pending => Outcome::Pending,
            wit::Outcome::Applied => Outcome::Applied,
            wit::Outcome::Duplicate => Outcome::Duplicate,
            wit::Outcome::Failed => Outcome::Failed,
            wit::Outcome::Unknown => Outcome::Unknown,
        }
    }
}

impl From<Outcome> for wit::Outcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Pending => wit::Outcome::Pending,
            Outcome::Applied => wit::Outcome::Applied,
            Outcome::Duplicate => wit::Outcome::Duplicate,
            Outcome::Failed => wit::Outcome::Failed,
            Outcome::Unknown => wit::Outcome::Unknown,
        }
    }
}

impl From<Record> for wit::Entry {
    fn from(r: Record) -> Self {
        let at = chrono::DateTime::from_timestamp_millis(r.at_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        wit::Entry {
            id: r.id,
            at,
            tool: r.tool,
            correlation_id: r.correlation_id,
            action: wit::Action {
                kind: r.kind,
                operation: r.operation,
                entity_id: r.entity_id,
                changes: r
                    .changes
                    .into_iter()
                    .map(|c| wit::Change {
                        field: c.field,
                        before: c.before,
                        after: c.after,
                        text: c.text,
                    })
                    .collect(),
                undoes: r.undoes,
            },
            outcome: r.outcome.into(),
            undone_by: r.undone_by,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_journal() -> CallJournal {
        let journal = Journal {
            mode: Mode::Full,
            store: Some(Store::Sqlite(sqlite::Db::in_memory().unwrap())),
            keep: Keep {
                retention_ms: 86_400_000,
                max_actions: 100,
            },
        };
        CallJournal {
            journal: Arc::new(journal),
            owner: LOCAL_OWNER.into(),
            tool: Some("update_task".into()),
            correlation_id: "c".into(),
        }
    }

    fn action(change: wit::Change) -> wit::Action {
        wit::Action {
            kind: "task".into(),
            operation: "update".into(),
            entity_id: Some("t".into()),
            changes: vec![change],
            undoes: None,
        }
    }

    #[tokio::test]
    async fn text_values_are_dropped_and_a_huge_record_is_refused() {
        let journal = call_journal();
        let big = format!("\"{}\"", "x".repeat(20_000));
        let text = wit::Change {
            field: "name".into(),
            before: Some(big.clone()),
            after: Some(big.clone()),
            text: true,
        };
        let id = journal.add(action(text)).await.unwrap();
        let filter = wit::Filter {
            action_id: Some(id.clone()),
            correlation_id: None,
            tool: None,
            since_ms: None,
            limit: 1,
        };
        let found = journal.find(filter).await.unwrap();
        let change = &found[0].action.changes[0];
        assert_eq!(
            (&change.before, &change.after),
            (&None, &None),
            "a text value is never kept"
        );

        let huge = wit::Change {
            field: "source".into(),
            before: None,
            after: Some(big),
            text: false,
        };
        let refused = journal.add(action(huge)).await.unwrap_err();
        assert!(refused.contains("more than"), "{refused}");
        let long = "y".repeat(200);
        assert!(journal.mark_undone(&id, long.clone()).await.is_err());
        assert!(
            journal
                .settle(&id, wit::Outcome::Applied, Some(long))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_read_or_prompt_may_not_write() {
        let mut journal = call_journal();
        journal.tool = None;
        let change = wit::Change {
            field: "priority".into(),
            before: None,
            after: Some("2".into()),
            text: false,
        };
        let refused = journal.add(action(change)).await.unwrap_err();
        assert!(refused.contains("only a tool call"), "{refused}");
    }
}
