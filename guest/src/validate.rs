//! Argument parsing and the value types that make invalid input unrepresentable.
//!
//! Every tool's arguments are a struct parsed here with `deny_unknown_fields`; each field's
//! type checks its own value (a UUID, a calendar date, a priority from −2 to 2) and carries
//! the JSON Schema that says so. Nothing is coerced: `"1"` is not a priority and
//! `2024-02-30` is not a date. Errors name the field and what it accepts.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ToolError;

/// Parses a tool's JSON arguments, naming the offending field on failure.
pub fn parse_args<T: DeserializeOwned>(arguments: &str) -> Result<T, ToolError> {
    let arguments = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    let de = &mut serde_json::Deserializer::from_str(arguments);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = strip_position(&inner.to_string());
        // serde reports a missing field at its parent; name the field itself.
        let field = match message.strip_prefix("missing field `") {
            Some(rest) => join_path(&path, rest.trim_end_matches('`')),
            None if path == "." => String::new(),
            None => path,
        };
        ToolError::validation(field, message)
    })
}

fn join_path(parent: &str, field: &str) -> String {
    if parent == "." || parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

/// serde_json appends " at line 1 column 42", which means nothing to an agent.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Deserializes a present field, `null` included, as `Some`: with `#[serde(default)]` this
/// tells "absent" (leave unchanged) from `null` (clear the value) in updates.
pub fn present<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(de).map(Some)
}

/// Whether `s` is a UUID in its 8-4-4-4-12 hexadecimal form.
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The schema of a validated newtype, inlined where it is used: a client sees the constraint
/// on the argument itself rather than a `$ref` it may not follow.
macro_rules! inline_schema {
    ($name:ident, $schema:expr) => {
        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $schema:expr, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(&value).map(|()| Self(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        inline_schema!($name, $schema);
    };
}

string_newtype!(
    /// A LunaTask entity id: a UUID, copied from the app or from an earlier result.
    Id,
    json_schema!({ "type": "string", "format": "uuid",
        "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$" }),
    |s| {
        if is_uuid(s) {
            Ok(())
        } else {
            Err(format!(
                "expected a UUID like 0b5d5a9e-7c1b-4f0e-9d1a-2f4b6c8d0e12 (ids are copied from the LunaTask app or an earlier result), got {s:?}"
            ))
        }
    }
);

string_newtype!(
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    json_schema!({ "type": "string", "format": "date", "pattern": "^\\d{4}-\\d{2}-\\d{2}$" }),
    |s| {
        let shaped = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
        if shaped && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
            Ok(())
        } else {
            Err(format!("expected a calendar date YYYY-MM-DD such as 2024-05-17, got {s:?}"))
        }
    }
);

string_newtype!(
    /// A point in time, ISO-8601 with a UTC offset, e.g. `2021-01-10T10:39:25Z`.
    Timestamp,
    json_schema!({ "type": "string", "format": "date-time" }),
    |s| {
        if chrono::DateTime::parse_from_rfc3339(s).is_ok() {
            Ok(())
        } else {
            Err(format!(
                "expected an ISO-8601 timestamp with a time zone such as 2021-01-10T10:39:25Z, got {s:?}"
            ))
        }
    }
);

string_newtype!(
    /// A non-empty string of at most 1,000 characters naming a record in another system.
    SourceText,
    json_schema!({ "type": "string", "minLength": 1, "maxLength": 1000 }),
    |s| {
        if s.is_empty() || s.chars().count() > 1000 {
            Err("expected 1 to 1000 characters".to_string())
        } else {
            Ok(())
        }
    }
);

string_newtype!(
    /// An email address: one `@` with text on both sides and no white space.
    Email,
    json_schema!({ "type": "string", "format": "email" }),
    |s| {
        let ok = s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        }) && !s.chars().any(char::is_whitespace);
        if ok {
            Ok(())
        } else {
            Err(format!("expected an email address like ada@example.com, got {s:?}"))
        }
    }
);

string_newtype!(
    /// A calendar date (its start, UTC) or an ISO-8601 timestamp.
    Since,
    json_schema!({ "type": "string" }),
    |s| {
        if Since::millis_of(s).is_some() {
            Ok(())
        } else {
            Err(format!(
                "expected a date YYYY-MM-DD or a timestamp such as 2021-01-10T10:39:25Z, got {s:?}"
            ))
        }
    }
);

impl Since {
    fn millis_of(s: &str) -> Option<i64> {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
            return Some(t.timestamp_millis());
        }
        let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
    }

    /// Unix milliseconds.
    pub fn millis(&self) -> i64 {
        Self::millis_of(&self.0).unwrap_or_default()
    }
}

impl Date {
    pub fn naive(&self) -> chrono::NaiveDate {
        // Validated on construction.
        chrono::NaiveDate::parse_from_str(&self.0, "%Y-%m-%d").unwrap_or_default()
    }
}

impl Timestamp {
    pub fn utc(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(&self.0)
            .map(|t| t.to_utc())
            .unwrap_or_default()
    }
}

/// Integer newtypes with an inclusive range, one row each: `Name: type = min..=max, the
/// argument it is, what its values mean`. The range is written once, and both the schema and
/// the error message are made from it.
macro_rules! int_range {
    ($($(#[$doc:meta])* $name:ident: $ty:ty = $min:literal..=$max:literal, $field:literal, $meaning:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name(pub $ty);

        impl TryFrom<i64> for $name {
            type Error = String;
            fn try_from(value: i64) -> Result<Self, String> {
                if ($min..=$max).contains(&value) {
                    Ok(Self(value as $ty))
                } else {
                    Err(format!(
                        "{value} is out of range: {} is an integer from {} to {}{}",
                        $field, $min, $max, $meaning
                    ))
                }
            }
        }

        impl From<$name> for i64 {
            fn from(value: $name) -> i64 {
                value.0 as i64
            }
        }

        inline_schema!($name, json_schema!({ "type": "integer", "minimum": $min, "maximum": $max }));
    )*};
}

int_range! {
    /// Task priority.
    Priority: i8 = -2..=2, "priority", " (2 highest, 1 high, 0 normal, -1 low, -2 lowest)";
    /// Eisenhower matrix quadrant.
    Eisenhower: u8 = 0..=4, "eisenhower",
        " (0 uncategorized, 1 urgent & important, 2 urgent & not important, \
         3 important & not urgent, 4 neither)";
    /// Whole minutes.
    Minutes: u32 = 0..=1_000_000, "estimate", " (whole minutes)";
    /// How many items to return.
    Limit: u32 = 1..=1000, "limit", "";
    /// How many matching items to skip.
    Offset: u32 = 0..=1_000_000, "offset", "";
}

// A task's status (no doc comment: it would be repeated on every field of this type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Later,
    Next,
    Started,
    Waiting,
    Completed,
}

// A task's motivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Motivation {
    Must,
    Should,
    Want,
    Unknown,
}

/// How close the user is to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RelationshipStrength {
    Family,
    IntimateFriends,
    CloseFriends,
    CasualFriends,
    Acquaintances,
    BusinessContacts,
    AlmostStrangers,
}

/// `source` and `source_id` name a record in another system and travel together.
pub fn source_pair(
    source: &Option<SourceText>,
    source_id: &Option<SourceText>,
) -> Result<Option<(String, String)>, ToolError> {
    match (source, source_id) {
        (Some(s), Some(id)) => Ok(Some((s.to_string(), id.to_string()))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ToolError::validation(
            "source_id",
            "source_id is required when source is given (they name an external record together)",
        )),
        (None, Some(_)) => Err(ToolError::validation(
            "source",
            "source is required when source_id is given (they name an external record together)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "fields are read through Debug only")]
    struct Args {
        id: Id,
        on: Option<Date>,
        at: Option<Timestamp>,
        priority: Option<Priority>,
        status: Option<TaskStatus>,
    }

    fn err(json: &str) -> ToolError {
        parse_args::<Args>(json).unwrap_err()
    }

    const ID: &str = "0b5d5a9e-7c1b-4f0e-9d1a-2f4b6c8d0e12";

    #[test]
    fn valid_arguments_parse() {
        let args: Args = parse_args(&format!(
            r#"{{"id":"{ID}","on":"2024-02-29","at":"2024-01-01T00:00:00Z","priority":-2,"status":"started"}}"#
        ))
        .unwrap();
        assert_eq!(args.priority, Some(Priority(-2)));
    }

    #[test]
    fn each_bad_value_names_its_field() {
        for (json, field) in [
            (r#"{}"#.to_string(), "id"),
            (r#"{"id":"not-a-uuid"}"#.to_string(), "id"),
            (format!(r#"{{"id":"{ID}","on":"2023-02-29"}}"#), "on"),
            (
                format!(r#"{{"id":"{ID}","on":"2024-01-01T00:00:00Z"}}"#),
                "on",
            ),
            (format!(r#"{{"id":"{ID}","at":"2024-01-01"}}"#), "at"),
            (format!(r#"{{"id":"{ID}","priority":3}}"#), "priority"),
            (format!(r#"{{"id":"{ID}","priority":"1"}}"#), "priority"),
            (format!(r#"{{"id":"{ID}","priority":1.5}}"#), "priority"),
            (format!(r#"{{"id":"{ID}","status":"done"}}"#), "status"),
        ] {
            let e = err(&json);
            assert_eq!(e.code, Code::ValidationError, "{json}");
            assert_eq!(e.field.as_deref(), Some(field), "{json}: {}", e.message);
        }
    }

    #[test]
    fn unknown_fields_and_enum_values_list_what_is_allowed() {
        let e = err(&format!(r#"{{"id":"{ID}","status":"done"}}"#));
        assert!(e.message.contains("`completed`"), "{}", e.message);
        let e = err(&format!(r#"{{"id":"{ID}","due":"2024-01-01"}}"#));
        assert!(e.message.contains("unknown field `due`"), "{}", e.message);
    }
}
