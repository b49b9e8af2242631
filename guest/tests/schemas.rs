//! Every tool's schemas, as `tools/list` carries them, against what real model providers and
//! strict validators accept.

use lunatask_mcp_guest::tools;
use serde_json::Value;

/// Keywords some provider rejects in a tool's input schema (Gemini's classic function
/// declarations: combinators and `const`; every provider: references).
const REFUSED: &[&str] = &[
    "oneOf", "anyOf", "allOf", "not", "const", "$ref", "$defs", "default",
];

/// Walks `schema`, collecting where it leaves the portable subset.
fn outside_subset(schema: &Value, at: &str, found: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        found.push(format!("{at}: not an object schema"));
        return;
    };
    for key in REFUSED {
        if map.contains_key(*key) {
            found.push(format!("{at}: uses {key}"));
        }
    }
    match map.get("type") {
        Some(Value::String(_)) => {}
        other => found.push(format!("{at}: type is {other:?}, not one type name")),
    }
    if let Some(cases) = map.get("enum").and_then(Value::as_array)
        && cases.iter().any(|c| !c.is_string())
    {
        found.push(format!(
            "{at}: enum with a value that is not a string: {cases:?}"
        ));
    }
    if let Some(format) = map.get("format")
        && format != "date-time"
    {
        found.push(format!("{at}: format {format}"));
    }
    if map.get("type") == Some(&Value::from("object")) {
        match map.get("properties").and_then(Value::as_object) {
            Some(properties) => {
                for (name, property) in properties {
                    outside_subset(property, &format!("{at}.{name}"), found);
                }
            }
            None => found.push(format!("{at}: an object without properties")),
        }
    }
    if let Some(items) = map.get("items") {
        outside_subset(items, &format!("{at}[]"), found);
    }
}

#[test]
fn every_input_schema_is_in_the_subset_every_provider_accepts() {
    let mut found = Vec::new();
    for tool in tools::all() {
        let schema: Value = serde_json::from_str(&tool.input_schema()).unwrap();
        assert_eq!(schema["type"], "object", "{}", tool.name);
        outside_subset(&schema, tool.name, &mut found);
    }
    assert!(
        found.is_empty(),
        "outside the portable subset:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_output_schema_compiles_in_a_strict_validator() {
    for tool in tools::all() {
        let schema: Value = serde_json::from_str(&tool.output_schema()).unwrap();
        let compiled = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .should_ignore_unknown_formats(false)
            .build(&schema);
        assert!(
            compiled.is_ok(),
            "{}: {:?}",
            tool.name,
            compiled.err().map(|e| e.to_string())
        );
    }
}

#[test]
fn the_strict_validator_refuses_an_unknown_format() {
    // Guards the test above: it must fail on what schemars wrote before.
    let schema = serde_json::json!({"type": "integer", "format": "uint"});
    let compiled = jsonschema::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(&schema);
    assert!(compiled.is_err());
}

/// Facts a model needs from `tools/list`; the lean descriptions must keep every one.
#[test]
fn the_lean_descriptions_keep_what_a_model_needs() {
    let all = tools::all();
    let text = |name: &str| {
        let tool = all.iter().find(|t| t.name == name).unwrap();
        format!("{} {}", tool.description, tool.input_schema())
    };
    let facts = [
        ("create_task", "write-only"),
        ("create_task", "Copy area ID"),
        ("create_task", "duplicate"),
        ("create_task", "Safe to retry"),
        ("create_task", "YYYY-MM-DD"),
        ("update_task", "clear"),
        ("list_tasks", "total"),
        ("list_tasks", "default 30"),
        ("list_tasks", "offset"),
        ("list_tasks", "open"),
        ("create_journal_entry", "unknown"),
        ("create_person", "custom field"),
        ("create_person", "subscription_required"),
        ("track_habit", "cannot list habits"),
        ("create_note", "cannot list notebooks"),
        ("ping", "authentication_error"),
        ("undo", "list_actions"),
        ("undo", "cannot be undone"),
        ("undo", "unless changed since"),
        ("list_actions", "prior values"),
    ];
    for (tool, fact) in facts {
        assert!(text(tool).contains(fact), "{tool} no longer says {fact:?}");
    }
}
