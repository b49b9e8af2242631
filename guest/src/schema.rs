//! JSON Schemas for tool arguments and results, generated from the Rust types themselves so
//! that what a tool accepts and what its schema promises cannot drift apart.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};
use serde_json::Value;

/// The schema of `T` as a self-contained JSON object (no `$ref`s, which some MCP clients
/// cannot follow).
pub fn of<T: JsonSchema>() -> Schema {
    let generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>();
    if let Some(map) = schema.as_object_mut() {
        // The Rust type name is noise to an agent; the tool has its own title.
        map.remove("title");
    }
    schema
}

/// The schema of `T` as JSON text, as the WIT contract carries it.
pub fn text_of<T: JsonSchema>() -> String {
    serde_json::to_string(&of::<T>()).unwrap_or_else(|_| "{\"type\":\"object\"}".into())
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
