//! LunaTask entities as the API returns them.
//!
//! User text (names, notes, content) is encrypted end to end and never returned, so these
//! hold ids, dates, enums and numbers only. Fields the API adds later are kept in `other`
//! and passed through unchanged: an agent should see whatever LunaTask tells us.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An external record this entity is linked to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Source {
    pub source: Option<String>,
    pub source_id: Option<String>,
}

/// A task. Its `name` and `note` are write-only (end-to-end encrypted) and never appear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Task {
    pub id: String,
    #[serde(default)]
    pub area_id: Option<String>,
    #[serde(default)]
    pub goal_id: Option<String>,
    /// later, next, started ("In progress"), waiting or completed.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub previous_status: Option<String>,
    /// Minutes.
    #[serde(default)]
    pub estimate: Option<i64>,
    /// −2 (lowest) to 2 (highest).
    #[serde(default)]
    pub priority: Option<i64>,
    /// Percent.
    #[serde(default)]
    pub progress: Option<i64>,
    #[serde(default)]
    pub motivation: Option<String>,
    #[serde(default)]
    pub eisenhower: Option<i64>,
    #[serde(default)]
    pub sources: Vec<Source>,
    /// YYYY-MM-DD.
    #[serde(default)]
    pub scheduled_on: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub deleted_at: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// A note. Its `name` and `content` are write-only (end-to-end encrypted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    pub id: String,
    #[serde(default)]
    pub notebook_id: Option<String>,
    #[serde(default)]
    pub date_on: Option<String>,
    #[serde(default)]
    pub sources: Vec<Source>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub deleted_at: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// A person. Names and custom fields are write-only (end-to-end encrypted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Person {
    pub id: String,
    #[serde(default)]
    pub relationship_strength: Option<String>,
    #[serde(default)]
    pub sources: Vec<Source>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub deleted_at: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// A journal entry. Its `name` and `content` are write-only (end-to-end encrypted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JournalEntry {
    pub id: String,
    #[serde(default)]
    pub date_on: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub deleted_at: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// A note on a person's timeline. Its `content` is write-only (end-to-end encrypted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimelineNote {
    pub id: String,
    #[serde(default)]
    pub date_on: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl Task {
    /// Completed by status; by `completed_at` only where the status is missing.
    pub fn is_completed(&self) -> bool {
        match self.status.as_deref() {
            Some(status) => status == "completed",
            None => self.completed_at.is_some(),
        }
    }

    pub fn has_source(&self, source: &str, source_id: &str) -> bool {
        has_source(&self.sources, source, source_id)
    }
}

impl Note {
    pub fn has_source(&self, source: &str, source_id: &str) -> bool {
        has_source(&self.sources, source, source_id)
    }
}

impl Person {
    pub fn has_source(&self, source: &str, source_id: &str) -> bool {
        has_source(&self.sources, source, source_id)
    }
}

fn has_source(sources: &[Source], source: &str, source_id: &str) -> bool {
    sources
        .iter()
        .any(|s| s.source.as_deref() == Some(source) && s.source_id.as_deref() == Some(source_id))
}
