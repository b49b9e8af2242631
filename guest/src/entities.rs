//! LunaTask entities as the API returns them.
//!
//! User text (names, notes, content) is encrypted end to end and never returned, so these
//! hold ids, dates, enums and numbers only. Fields the API adds later are kept in `other`
//! and passed through unchanged: an agent should see whatever LunaTask tells us. Fields
//! that are null or empty are left out of answers: they cost an agent's context and say
//! nothing a missing field does not.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// A field value kept exactly as LunaTask sent it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<RawValue>);

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// The fields an entity does not name, by name.
pub type Other = BTreeMap<String, RawJson>;

/// Deserializes an entity in one pass: the fields it names into their types, any other
/// field kept as raw JSON text in `other`. `#[serde(flatten)]` would buffer every field of
/// every entity and rebuild the unknown ones as `Value` trees: most of a long list's cost.
macro_rules! entity_from_json {
    ($entity:ident { required: [$($required:ident),*], optional: [$($optional:ident),*] }) => {
        impl<'de> Deserialize<'de> for $entity {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Fields;
                impl<'de> Visitor<'de> for Fields {
                    type Value = $entity;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("a LunaTask ", stringify!($entity), " object"))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$entity, A::Error> {
                        $(let mut $required = None;)*
                        $(let mut $optional = None;)*
                        let mut other = Other::new();
                        while let Some(key) = map.next_key::<String>()? {
                            match key.as_str() {
                                $(stringify!($required) => {
                                    once(&mut $required, stringify!($required), &mut map)?
                                })*
                                $(stringify!($optional) => {
                                    once(&mut $optional, stringify!($optional), &mut map)?
                                })*
                                _ => {
                                    let value: RawJson = map.next_value()?;
                                    // Null and empty fields say nothing; leaving them out
                                    // keeps a long list's answer lean.
                                    if matches!(value.0.get(), "null" | "[]" | "{}") {
                                        continue;
                                    }
                                    if other.contains_key(&key) {
                                        return Err(A::Error::custom(format!(
                                            "duplicate field `{key}`"
                                        )));
                                    }
                                    other.insert(key, value);
                                }
                            }
                        }
                        Ok($entity {
                            $($required: $required
                                .ok_or_else(|| A::Error::missing_field(stringify!($required)))?,)*
                            $($optional: $optional.unwrap_or_default(),)*
                            other,
                        })
                    }
                }
                deserializer.deserialize_map(Fields)
            }
        }
    };
}

/// Reads a named field's value, refusing a second one as serde's derive does.
fn once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    name: &'static str,
    map: &mut A,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(A::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// An external record this entity is linked to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Source {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
}

/// Declares an entity once: the struct with `id`, its named fields (each left out of an
/// answer when null or empty) and `other`, and its one-pass deserializer.
macro_rules! entity {
    ($(#[$meta:meta])* $entity:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
        pub struct $entity {
            pub id: String,
            $(
                $(#[$field_meta])*
                #[serde(default, skip_serializing_if = "Empty::is_empty")]
                pub $field: $ty,
            )*
            #[serde(flatten)]
            #[schemars(with = "BTreeMap<String, Value>")]
            pub other: Other,
        }
        entity_from_json!($entity { required: [id], optional: [$($field),*] });
    };
}

/// Whether a field says nothing and is left out of an answer.
trait Empty {
    fn is_empty(&self) -> bool;
}

impl<T> Empty for Option<T> {
    fn is_empty(&self) -> bool {
        self.is_none()
    }
}

impl<T> Empty for Vec<T> {
    fn is_empty(&self) -> bool {
        Vec::is_empty(self)
    }
}

entity!(
    /// A task. Its `name` and `note` are write-only (end-to-end encrypted) and never appear.
    Task {
        area_id: Option<String>,
        goal_id: Option<String>,
        /// later, next, started ("In progress"), waiting or completed.
        status: Option<String>,
        previous_status: Option<String>,
        /// Minutes.
        estimate: Option<i64>,
        /// −2 (lowest) to 2 (highest).
        priority: Option<i64>,
        /// Percent.
        progress: Option<i64>,
        motivation: Option<String>,
        eisenhower: Option<i64>,
        sources: Vec<Source>,
        /// YYYY-MM-DD.
        scheduled_on: Option<String>,
        completed_at: Option<String>,
        created_at: Option<String>,
        updated_at: Option<String>,
        deleted_at: Option<String>,
    }
);

entity!(
    /// A note. Its `name` and `content` are write-only (end-to-end encrypted).
    Note {
        notebook_id: Option<String>,
        date_on: Option<String>,
        sources: Vec<Source>,
        created_at: Option<String>,
        updated_at: Option<String>,
        deleted_at: Option<String>,
    }
);

entity!(
    /// A person. Names and custom fields are write-only (end-to-end encrypted).
    Person {
        relationship_strength: Option<String>,
        sources: Vec<Source>,
        created_at: Option<String>,
        updated_at: Option<String>,
        deleted_at: Option<String>,
    }
);

entity!(
    /// A journal entry. Its `name` and `content` are write-only (end-to-end encrypted).
    JournalEntry {
        date_on: Option<String>,
        created_at: Option<String>,
        updated_at: Option<String>,
        deleted_at: Option<String>,
    }
);

entity!(
    /// A note on a person's timeline. Its `content` is write-only (end-to-end encrypted).
    TimelineNote {
        date_on: Option<String>,
        created_at: Option<String>,
        updated_at: Option<String>,
    }
);

impl Task {
    /// Completed by status; by `completed_at` only where the status is missing.
    pub fn is_completed(&self) -> bool {
        match self.status.as_deref() {
            Some(status) => status == "completed",
            None => self.completed_at.is_some(),
        }
    }
}

/// An entity linked to records elsewhere through `sources`.
pub trait Linked {
    fn sources(&self) -> &[Source];

    /// Whether one of its sources matches both the source and the source id given (either
    /// may be left out, matching any).
    fn links_to(&self, source: Option<&str>, source_id: Option<&str>) -> bool {
        if source.is_none() && source_id.is_none() {
            return true;
        }
        self.sources().iter().any(|s| {
            source.is_none_or(|want| s.source.as_deref() == Some(want))
                && source_id.is_none_or(|want| s.source_id.as_deref() == Some(want))
        })
    }
}

impl Linked for Task {
    fn sources(&self) -> &[Source] {
        &self.sources
    }
}

impl Linked for Note {
    fn sources(&self) -> &[Source] {
        &self.sources
    }
}

impl Linked for Person {
    fn sources(&self) -> &[Source] {
        &self.sources
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_pass_through_unchanged() {
        let text =
            r#"{"id":"t1","priority":2,"status":null,"new_field":{"a":[1,2.50,"x"]},"flag":true}"#;
        let task: Task = serde_json::from_str(text).unwrap();
        assert_eq!(task.id, "t1");
        assert_eq!(task.priority, Some(2));
        assert_eq!(task.status, None);
        assert!(task.sources.is_empty());
        assert_eq!(task.other["new_field"].0.get(), r#"{"a":[1,2.50,"x"]}"#);
        let out: Value = serde_json::to_value(&task).unwrap();
        assert_eq!(out["new_field"], serde_json::json!({"a": [1, 2.5, "x"]}));
        assert_eq!(out["flag"], Value::Bool(true));
        // The same from a `Value`, as the resources build them.
        let again: Task = serde_json::from_value(out).unwrap();
        assert_eq!(again.other.len(), 2);
    }

    #[test]
    fn malformed_entities_are_refused_not_patched() {
        let error = |text: &str| serde_json::from_str::<Task>(text).unwrap_err().to_string();
        assert!(error(r#"{"priority":1}"#).contains("missing field `id`"));
        assert!(error(r#"{"id":"a","id":"b"}"#).contains("duplicate field `id`"));
        assert!(error(r#"{"id":"a","x":1,"x":2}"#).contains("duplicate field `x`"));
        assert!(error(r#"{"id":"a","priority":"high"}"#).contains("invalid type"));
        assert!(error(r#"{"id":"a","sources":null}"#).contains("invalid type"));
        assert!(error(r#"["a"]"#).contains("a LunaTask Task object"));
    }
}
