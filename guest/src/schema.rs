//! JSON Schemas for tool arguments and results, generated from the Rust types themselves so
//! that what a tool accepts and what its schema promises cannot drift apart.

use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value};

/// The schema of `T` as a self-contained JSON object (no `$ref`s, which some MCP clients
/// cannot follow), for what `T` accepts: a tool's arguments.
pub fn of<T: JsonSchema>() -> Schema {
    root_of::<T>(Contract::Deserialize)
}

/// The schema of `T` as it is serialized: a tool's result. A field that skips serializing
/// when empty is optional here even when its schema is written by hand; under the
/// deserializing contract, which arguments use, it was required, and validating clients
/// refused the answers that left it out.
pub fn of_output<T: JsonSchema>() -> Schema {
    root_of::<T>(Contract::Serialize)
}

fn root_of<T: JsonSchema>(contract: Contract) -> Schema {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
            s.contract = contract;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>();
    if let Some(map) = schema.as_object_mut() {
        // The Rust type name is noise to an agent; the tool has its own title.
        map.remove("title");
    }
    schema
}

/// The schema of `T` as JSON text, exactly as schemars derives it (nullable types, `oneOf`
/// enumerations with their cases' descriptions, formats): what the portable world's WIT is
/// generated from.
pub fn text_of<T: JsonSchema>() -> String {
    serde_json::to_string(&of::<T>()).unwrap_or_else(|_| "{\"type\":\"object\"}".into())
}

/// The result schema of `T` as JSON text (see [`of_output`]).
pub fn output_text_of<T: JsonSchema>() -> String {
    serde_json::to_string(&of_output::<T>()).unwrap_or_else(|_| "{\"type\":\"object\"}".into())
}

/// The only string format every model provider accepts in a tool's input schema.
const PORTABLE_FORMAT: &str = "date-time";

/// The formats JSON Schema 2020-12 defines; any other (schemars writes `uint`, `int64`...)
/// makes strict validators refuse the schema and lenient ones warn on every list.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// An input schema in the subset every major model provider accepts (OpenAI, Anthropic,
/// Gemini's classic function declarations): every object has `properties`; optional means
/// absent from `required`, never a type array or `null` in an enum; enumerations are plain
/// `enum`s, their cases' meanings moved into the description; no `anyOf`, `oneOf`, `const`
/// or `default`; no string format but `date-time`, and no patterns. The guest validates ids,
/// dates, lengths and unknown fields itself, so what is dropped loses no check, only the
/// characters it costs in every model's context.
pub fn portable_input(schema: &Value) -> Value {
    let mut out = portable(schema);
    if let Some(map) = out.as_object_mut() {
        // "Arguments of `tool`." says nothing the tool's own description does not.
        map.remove("description");
    }
    out
}

fn portable(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let strings_only = map
        .get("enum")
        .and_then(Value::as_array)
        .is_none_or(|cases| cases.iter().all(|c| c.is_string() || c.is_null()));
    if let Some(found) = enumeration(schema).filter(|_| strings_only) {
        return portable_enum(map, &found);
    }
    if let Some(merged) = without_null_branch(map, portable) {
        return merged;
    }
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "type" => {
                out.insert(key.clone(), non_null_type(value));
            }
            // Checked by the guest with an error that names the field; a model needs none of
            // them to call the tool right, and each costs context on every list.
            "default" | "pattern" | "minLength" | "maxLength" | "additionalProperties" => {}
            // What schemars derives from how the arguments are serialized into a request
            // (a path id is `skip_serializing`): says nothing to a caller.
            "writeOnly" | "readOnly" => {}
            "format" if value != PORTABLE_FORMAT => {}
            "properties" => {
                let properties = value
                    .as_object()
                    .map(|p| p.iter().map(|(k, v)| (k.clone(), portable(v))).collect())
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Object(properties));
            }
            "items" => {
                let mut items = portable(value);
                if let Some(items) = items.as_object_mut() {
                    // The array's own description says what its items are.
                    items.remove("description");
                }
                out.insert(key.clone(), items);
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if out.get("type").and_then(Value::as_str) == Some("object") {
        out.entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Value::Object(out)
}

/// `anyOf: [X, {"type": "null"}]` as `X` (rewritten by `rewrite`) under the outer
/// description; `None` for any other schema.
fn without_null_branch(map: &Map<String, Value>, rewrite: fn(&Value) -> Value) -> Option<Value> {
    let any = map.get("anyOf")?.as_array()?;
    let inner: Vec<&Value> = any.iter().filter(|v| v["type"] != "null").collect();
    let [only] = inner.as_slice() else {
        return None;
    };
    let mut merged = rewrite(only);
    if let (Some(description), Some(out)) = (map.get("description"), merged.as_object_mut()) {
        out.insert("description".into(), description.clone());
    }
    Some(merged)
}

/// An enumeration as a plain string `enum`, its cases' meanings listed in the description.
fn portable_enum(map: &Map<String, Value>, found: &Enumeration) -> Value {
    let described: Vec<String> = found
        .cases
        .iter()
        .filter_map(|c| {
            let meaning = c.description.as_deref()?.trim_end_matches('.');
            Some(format!("{}: {meaning}", c.value))
        })
        .collect();
    // The property's own description only: the enumeration type's ("A task's status.")
    // says nothing its values do not.
    let mut description = map
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !described.is_empty() {
        if !description.is_empty() {
            description.push(' ');
        }
        description.push_str(&described.join("; "));
        description.push('.');
    }
    let mut out = Map::new();
    out.insert("type".into(), "string".into());
    if !description.is_empty() {
        out.insert("description".into(), description.into());
    }
    let cases: Vec<Value> = found.cases.iter().map(|c| c.value.clone().into()).collect();
    out.insert("enum".into(), cases.into());
    Value::Object(out)
}

fn non_null_type(value: &Value) -> Value {
    match value {
        Value::Array(types) => {
            let kept: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
            match kept.as_slice() {
                [one] => (*one).clone(),
                _ => Value::Array(kept.into_iter().cloned().collect()),
            }
        }
        other => other.clone(),
    }
}

/// An output schema with only the formats JSON Schema defines (the rest, schemars' `uint`,
/// `int64`, `double`..., dropped: the ranges they implied are in `minimum`/`maximum`), and
/// one type per value: results leave a field out rather than send `null` (every optional
/// field of a result skips serializing when empty), so `["string", "null"]` is `"string"`
/// and an `anyOf` with `null` is its other branch.
pub fn standard_output(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(merged) = without_null_branch(map, standard_output) {
                return merged;
            }
            Value::Object(
                map.iter()
                    // A property named `format` is an object, not a format.
                    .filter(|(k, v)| match (k.as_str(), v.as_str()) {
                        ("format", Some(format)) => STANDARD_FORMATS.contains(&format),
                        _ => true,
                    })
                    .map(|(k, v)| match (k.as_str(), v) {
                        ("type", t @ Value::Array(_)) => (k.clone(), non_null_type(t)),
                        _ => (k.clone(), standard_output(v)),
                    })
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(standard_output).collect()),
        other => other.clone(),
    }
}

/// The values an enumerated property takes, with the enumeration's description.
#[derive(Debug, Clone, PartialEq)]
pub struct Enumeration {
    pub cases: Vec<Case>,
    pub description: Option<String>,
}

/// One value of an enumeration, with its own description when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub value: String,
    pub description: Option<String>,
}

/// The string values `property` enumerates, if it is an enumeration: an `enum` list, or a
/// documented Rust enum, which schemars renders as `oneOf` consts (inside `anyOf` with
/// null when optional). The portable world's WIT enums are generated from this and its
/// typed arguments are mapped back through it, so both read schemas the same way.
pub fn enumeration(property: &Value) -> Option<Enumeration> {
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        let cases = values
            .iter()
            .filter_map(Value::as_str)
            .map(|v| Case {
                value: v.to_string(),
                description: None,
            })
            .collect();
        return Some(Enumeration {
            cases,
            description: None,
        });
    }
    let variants: Vec<&Value> = match property.get("anyOf").and_then(Value::as_array) {
        Some(any) => any
            .iter()
            .filter(|v| v.get("type") != Some(&Value::from("null")))
            .collect(),
        None => vec![property],
    };
    let [inner] = variants.as_slice() else {
        return None;
    };
    let cases = inner
        .get("oneOf")?
        .as_array()?
        .iter()
        .map(|c| {
            Some(Case {
                value: c.get("const")?.as_str()?.to_string(),
                description: text(c, "description"),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Enumeration {
        cases,
        description: text(inner, "description"),
    })
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}
