//! What a strict production front end refuses before the API looks at a request, and the
//! field checks the API itself makes. The fake answers these as such a server would, so
//! that a client leaning on leniency (a chunked upload, a body on a GET, a wrong content
//! type, a malformed value) fails here first and not against LunaTask.

use serde_json::Value;

/// A refusal: the status and LunaTask-style message to answer with.
pub type Refusal = (u16, String);

/// The methods each known path answers; anything else is 405 (known path) or 404.
pub fn allowed_methods(parts: &[&str]) -> Option<&'static [&'static str]> {
    Some(match parts {
        ["ping"] => &["GET"],
        ["tasks"] => &["GET", "POST"],
        ["tasks", _] => &["GET", "PUT", "DELETE"],
        ["notes"] => &["POST"],
        ["notes", _] => &["PUT", "DELETE"],
        ["journal_entries"] => &["POST"],
        ["people"] => &["GET", "POST"],
        ["people", _] => &["GET", "DELETE"],
        ["person_timeline_notes"] => &["POST"],
        ["habits", _, "track"] => &["POST"],
        _ => return None,
    })
}

/// The request head as the front end sees it.
pub struct Head<'a> {
    pub method: &'a str,
    pub headers: &'a [(String, String)],
    pub body_len: usize,
}

impl Head<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

/// The front end's checks, in the order such servers make them.
pub fn check_head(head: &Head) -> Result<(), Refusal> {
    if head.count("host") != 1 {
        return Err((400, "exactly one Host header is required".into()));
    }
    // Servers that read bodies by length refuse uploads without one (RFC 9110 §15.5.12).
    if head.header("transfer-encoding").is_some() {
        return Err((
            411,
            "Length Required: send the body with Content-Length".into(),
        ));
    }
    let declared = head.header("content-length");
    match head.method {
        "GET" | "DELETE" if head.body_len > 0 || declared.is_some_and(|l| l != "0") => {
            Err((400, format!("a {} request carries no body", head.method)))
        }
        "POST" | "PUT" if declared.is_none() => Err((
            411,
            "Length Required: send the body with Content-Length".into(),
        )),
        "POST" | "PUT" if head.body_len > 0 && !is_json(head.header("content-type")) => Err((
            415,
            "Unsupported Media Type: the body must be application/json".into(),
        )),
        _ => Ok(()),
    }
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// The body of a POST or PUT: a JSON object, or nothing at all.
pub fn parse_body(bytes: &[u8]) -> Result<Value, Refusal> {
    if bytes.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err((400, "the body must be a JSON object".into())),
        Err(e) => Err((400, format!("the body is not valid JSON: {e}"))),
    }
}

/// How a field's value must look.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Uuid,
    Date,
    Timestamp,
    Int { min: i64, max: i64 },
    OneOf(&'static [&'static str]),
}

use crate::api_values::{MOTIVATIONS, RELATIONSHIP_STRENGTHS, TASK_STATUSES};

/// `(field, kind, nullable)` for the fields each write accepts.
fn fields(method: &str, parts: &[&str]) -> &'static [(&'static str, Kind, bool)] {
    use Kind::*;
    const TASK: &[(&str, Kind, bool)] = &[
        ("area_id", Uuid, false),
        ("goal_id", Uuid, true),
        ("name", Text, true),
        ("note", Text, true),
        ("status", OneOf(&TASK_STATUSES), false),
        ("motivation", OneOf(&MOTIVATIONS), false),
        ("eisenhower", Int { min: 0, max: 4 }, false),
        (
            "estimate",
            Int {
                min: 0,
                max: i64::MAX,
            },
            true,
        ),
        ("priority", Int { min: -2, max: 2 }, false),
        ("scheduled_on", Date, true),
        ("completed_at", Timestamp, true),
        ("source", Text, true),
        ("source_id", Text, true),
    ];
    const NOTE: &[(&str, Kind, bool)] = &[
        ("notebook_id", Uuid, true),
        ("name", Text, true),
        ("content", Text, true),
        ("date_on", Date, true),
        ("source", Text, true),
        ("source_id", Text, true),
    ];
    const JOURNAL: &[(&str, Kind, bool)] = &[
        ("date_on", Date, false),
        ("name", Text, true),
        ("content", Text, true),
    ];
    const PERSON: &[(&str, Kind, bool)] = &[
        ("first_name", Text, true),
        ("last_name", Text, true),
        (
            "relationship_strength",
            OneOf(&RELATIONSHIP_STRENGTHS),
            false,
        ),
        ("source", Text, true),
        ("source_id", Text, true),
        ("email", Text, true),
        ("phone", Text, true),
        ("birthday", Date, true),
    ];
    const TIMELINE: &[(&str, Kind, bool)] = &[
        ("person_id", Uuid, false),
        ("date_on", Date, true),
        ("content", Text, true),
    ];
    const TRACK: &[(&str, Kind, bool)] = &[("performed_on", Date, false)];
    match (method, parts) {
        ("POST", ["tasks"]) | ("PUT", ["tasks", _]) => TASK,
        ("POST", ["notes"]) | ("PUT", ["notes", _]) => NOTE,
        ("POST", ["journal_entries"]) => JOURNAL,
        ("POST", ["people"]) => PERSON,
        ("POST", ["person_timeline_notes"]) => TIMELINE,
        ("POST", ["habits", _, "track"]) => TRACK,
        _ => &[],
    }
}

/// Checks every known field's type and value (400 naming the field). Unknown fields are
/// ignored, as Rails-style APIs do.
pub fn check_fields(method: &str, parts: &[&str], body: &Value) -> Result<(), Refusal> {
    for (name, kind, nullable) in fields(method, parts) {
        let Some(value) = body.get(*name) else {
            continue;
        };
        if value.is_null() {
            if *nullable {
                continue;
            }
            return Err((400, format!("{name} cannot be null")));
        }
        if let Err(expected) = check(*kind, value) {
            return Err((400, format!("{name} is invalid: expected {expected}")));
        }
    }
    Ok(())
}

fn check(kind: Kind, value: &Value) -> Result<(), String> {
    let text = value.as_str();
    let ok = match kind {
        Kind::Text => text.is_some(),
        Kind::Uuid => text.is_some_and(is_uuid),
        Kind::Date => text.is_some_and(is_date),
        Kind::Timestamp => text.is_some_and(is_timestamp),
        Kind::Int { min, max } => value.as_i64().is_some_and(|n| (min..=max).contains(&n)),
        Kind::OneOf(allowed) => text.is_some_and(|t| allowed.contains(&t)),
    };
    if ok {
        return Ok(());
    }
    Err(match kind {
        Kind::Text => "a string".into(),
        Kind::Uuid => "a UUID".into(),
        Kind::Date => "a date YYYY-MM-DD".into(),
        Kind::Timestamp => "an ISO-8601 timestamp".into(),
        Kind::Int { min, max } if max == i64::MAX => format!("an integer of at least {min}"),
        Kind::Int { min, max } => format!("an integer from {min} to {max}"),
        Kind::OneOf(allowed) => format!("one of {}", allowed.join(", ")),
    })
}

/// The hyphenated 8-4-4-4-12 form only, as the API sends and expects ids.
fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u8>().unwrap_or(0))
}

fn is_timestamp(s: &str) -> bool {
    // `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z` or an offset.
    s.len() >= 20
        && s.is_char_boundary(10)
        && is_date(&s[..10])
        && s.as_bytes()[10] == b'T'
        && (s.ends_with('Z') || s[19..].contains(['+', '-']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn head<'a>(method: &'a str, headers: &'a [(String, String)], body_len: usize) -> Head<'a> {
        Head {
            method,
            headers,
            body_len,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_strict_front_end_refuses_what_lenient_ones_let_through() {
        let chunked = h(&[("host", "x"), ("transfer-encoding", "chunked")]);
        assert_eq!(check_head(&head("POST", &chunked, 10)).unwrap_err().0, 411);
        let no_length = h(&[("host", "x"), ("content-type", "application/json")]);
        assert_eq!(check_head(&head("PUT", &no_length, 0)).unwrap_err().0, 411);
        let text = h(&[
            ("host", "x"),
            ("content-length", "2"),
            ("content-type", "text/plain"),
        ]);
        assert_eq!(check_head(&head("POST", &text, 2)).unwrap_err().0, 415);
        let get_body = h(&[("host", "x"), ("content-length", "2")]);
        assert_eq!(check_head(&head("GET", &get_body, 2)).unwrap_err().0, 400);
        assert_eq!(check_head(&head("GET", &h(&[]), 0)).unwrap_err().0, 400);
        let fine = h(&[
            ("Host", "x"),
            ("Content-Length", "2"),
            ("Content-Type", "application/json; charset=utf-8"),
        ]);
        assert!(check_head(&head("POST", &fine, 2)).is_ok());
        assert!(check_head(&head("GET", &h(&[("host", "x")]), 0)).is_ok());
    }

    #[test]
    fn bodies_must_be_one_json_object_with_valid_fields() {
        assert_eq!(parse_body(b"{} x").unwrap_err().0, 400);
        assert_eq!(parse_body(b"[1]").unwrap_err().0, 400);
        assert!(parse_body(b"").is_ok());
        let task = ["tasks"];
        assert!(check_fields("POST", &task, &json!({"priority": 3})).is_err());
        assert!(check_fields("POST", &task, &json!({"status": "done"})).is_err());
        assert!(check_fields("POST", &task, &json!({"scheduled_on": "2024-13-01"})).is_err());
        assert!(check_fields("POST", &task, &json!({"goal_id": null, "estimate": 5})).is_ok());
        assert!(
            check_fields(
                "POST",
                &task,
                &json!({"completed_at": "2024-05-10T12:00:00Z"})
            )
            .is_ok()
        );
        assert!(check_fields("POST", &task, &json!({"area_id": null})).is_err());
    }
}
