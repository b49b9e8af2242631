//! Renders `wit/portable.wit` from the tool registry: one typed export per tool, its
//! record fields and enums from the tool's JSON Schema, its doc comments from the tool's
//! descriptions.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lunatask_mcp_guest::error::Code;
use lunatask_mcp_guest::{schema, tools};
use serde_json::Value;

const HEADER: &str = "\
/// The LunaTask tools for Wasm runtimes that turn a component's exports into MCP tools:
/// one typed function per tool, records and enums for the arguments.
///
/// Unlike the `server` world, nobody adds the API token on the way out: the component reads
/// `LUNATASK_API_TOKEN` (and optionally `LUNATASK_BASE_URL`, `LUNATASK_MAX_RETRIES`) from its
/// environment and sends the token itself, so the runtime must restrict its network access
/// to the LunaTask API. Every function returns the tool's structured result as JSON text,
/// or a `tool-error`. Argument checks are the same as in the `server` world.
world portable {
";

/// At the end, not the top: wit-parser takes every comment above an item, `//` ones too, as
/// its docs, so a header would become the world's description in every runtime.
const FOOTER: &str = "
// GENERATED from the guest's tool registry by guest/tests/portable_wit/generate.rs; do not edit.
// Regenerate: LUNATASK_BLESS=1 cargo test -p lunatask-mcp-guest --test portable_wit
// Part of the package `lunatask:mcp@0.1.0` declared in server.wit.
";

/// WIT's reserved words, which need a `%` to be used as names.
const KEYWORDS: &[&str] = &[
    "as",
    "async",
    "bool",
    "borrow",
    "char",
    "constructor",
    "enum",
    "export",
    "f32",
    "f64",
    "flags",
    "func",
    "future",
    "import",
    "include",
    "interface",
    "list",
    "own",
    "option",
    "package",
    "record",
    "resource",
    "result",
    "s16",
    "s32",
    "s64",
    "s8",
    "static",
    "stream",
    "string",
    "tuple",
    "type",
    "u16",
    "u32",
    "u64",
    "u8",
    "use",
    "variant",
    "with",
    "world",
];

fn kebab(name: &str) -> String {
    let kebab = name.replace('_', "-");
    assert!(
        kebab.split('-').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        }),
        "{name:?} cannot be a WIT identifier; the portable world needs another mapping for it"
    );
    if KEYWORDS.contains(&kebab.as_str()) {
        format!("%{kebab}")
    } else {
        kebab
    }
}

fn doc(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            writeln!(out, "{indent}///").unwrap();
        } else {
            writeln!(out, "{indent}/// {line}").unwrap();
        }
    }
}

/// The WIT type of a non-enum property (without `option<>`).
fn scalar_type(tool: &str, field: &str, property: &Value) -> &'static str {
    let types: Vec<&str> = match property.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let types: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    match types.as_slice() {
        ["string"] => "string",
        ["boolean"] => "bool",
        ["integer"]
            if property
                .get("minimum")
                .and_then(Value::as_i64)
                .unwrap_or(-1)
                >= 0 =>
        {
            "u32"
        }
        ["integer"] => "s32",
        _ => panic!("{tool}.{field}: no WIT mapping for the schema {property}"),
    }
}

fn nullable(property: &Value) -> bool {
    match property.get("type") {
        Some(Value::Array(ts)) => ts.contains(&Value::from("null")),
        _ => property
            .get("anyOf")
            .and_then(Value::as_array)
            .is_some_and(|any| {
                any.iter()
                    .any(|v| v.get("type") == Some(&Value::from("null")))
            }),
    }
}

/// Enum types shared between tools when their values agree, named after the field, or
/// after tool and field when another tool's field of that name takes other values.
#[derive(Default)]
struct Enums {
    by_name: BTreeMap<String, Vec<String>>,
    rendered: String,
}

impl Enums {
    fn name_for(
        &mut self,
        tool: &str,
        field: &str,
        values: &[schema::Case],
        description: Option<&str>,
    ) -> String {
        let plain: Vec<String> = values.iter().map(|c| c.value.clone()).collect();
        for name in [kebab(field), format!("{}-{}", kebab(tool), kebab(field))] {
            match self.by_name.get(&name) {
                Some(existing) if *existing == plain => return name,
                Some(_) => continue,
                None => {
                    let out = &mut self.rendered;
                    doc(
                        out,
                        "    ",
                        description.unwrap_or(&format!("Values of `{field}`.")),
                    );
                    writeln!(out, "    enum {name} {{").unwrap();
                    for case in values {
                        if let Some(description) = &case.description {
                            doc(out, "        ", description);
                        }
                        writeln!(out, "        {},", kebab(&case.value)).unwrap();
                    }
                    writeln!(out, "    }}\n").unwrap();
                    self.by_name.insert(name.clone(), plain);
                    return name;
                }
            }
        }
        unreachable!("a tool-qualified enum name is unique")
    }
}

pub fn render() -> String {
    let mut out = String::from(HEADER);
    let mut enums = Enums::default();
    let mut records = String::new();
    let mut functions = String::new();

    for tool in tools::all().into_iter().filter(|t| t.portable) {
        let schema: Value = serde_json::from_str(&tool.typed_input_schema()).unwrap();
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let name = kebab(tool.name);

        doc(
            &mut functions,
            "    ",
            &format!("{}.\n\n{}", tool.title, tool.description),
        );
        if properties.is_empty() {
            writeln!(
                functions,
                "    export {name}: func() -> result<string, tool-error>;\n"
            )
            .unwrap();
            continue;
        }

        let record = format!("{name}-args");
        doc(&mut records, "    ", &format!("Arguments of `{name}`."));
        writeln!(records, "    record {record} {{").unwrap();
        let mut clearable = Vec::new();
        for (field, property) in &properties {
            if field == "clear" {
                // The tool's own `clear` list; the record gets its own below, with the
                // same cases.
                let items = property.get("items").cloned().unwrap_or_default();
                let mut cases: Vec<String> = schema::enumeration(&items)
                    .map(|found| found.cases.into_iter().map(|c| c.value).collect())
                    .unwrap_or_default();
                cases.sort();
                clearable = cases;
                continue;
            }
            let wit_type = match schema::enumeration(property) {
                Some(found) => {
                    enums.name_for(tool.name, field, &found.cases, found.description.as_deref())
                }
                None => scalar_type(tool.name, field, property).to_string(),
            };
            let optional = nullable(property) || !required.contains(&field.as_str());
            if let Some(description) = property.get("description").and_then(Value::as_str) {
                doc(&mut records, "        ", description);
            }
            let wit_type = if optional {
                format!("option<{wit_type}>")
            } else {
                wit_type
            };
            writeln!(records, "        {}: {wit_type},", kebab(field)).unwrap();
        }
        if !clearable.is_empty() {
            let fields = format!("{name}-clearable");
            doc(
                &mut records,
                "        ",
                "Fields to clear (set to null). A field cannot be both set and cleared.",
            );
            writeln!(records, "        clear: list<{fields}>,").unwrap();
            let out = &mut enums.rendered;
            doc(out, "    ", &format!("The fields `{name}` can clear."));
            writeln!(out, "    enum {fields} {{").unwrap();
            for field in &clearable {
                writeln!(out, "        {},", kebab(field)).unwrap();
            }
            writeln!(out, "    }}\n").unwrap();
        }
        writeln!(records, "    }}\n").unwrap();
        writeln!(
            functions,
            "    export {name}: func(args: {record}) -> result<string, tool-error>;\n"
        )
        .unwrap();
    }

    out.push_str(&error_types());
    out.push_str(&enums.rendered);
    out.push_str(&records);
    out.push_str(functions.trim_end());
    out.push_str("\n}\n");
    out.push_str(FOOTER);
    out
}

fn error_types() -> String {
    let mut out = String::new();
    doc(
        &mut out,
        "    ",
        "A stable error code; agents branch on these, never on messages.",
    );
    out.push_str("    enum error-code {\n");
    for code in Code::ALL {
        writeln!(out, "        {},", kebab(code.as_str())).unwrap();
    }
    out.push_str("    }\n\n");
    out.push_str(
        "    /// For writes that failed in transit: whether they may have been applied.
    enum write-outcome {
        /// Certainly not applied (refused before sending, or rejected).
        not-applied,
        /// Maybe applied: the answer was lost. Check before retrying.
        unknown,
    }

    /// Why a tool call failed, as the `server` world's error JSON says it.
    record tool-error {
        code: error-code,
        /// What went wrong, in words a person can act on.
        message: string,
        /// The argument at fault, for validation errors.
        field: option<string>,
        /// The HTTP status LunaTask answered, where there was one.
        http-status: option<u16>,
        /// Whether trying again later may succeed.
        retryable: bool,
        outcome: option<write-outcome>,
        /// The id the call's requests carried as `X-Correlation-ID`.
        correlation-id: string,
    }

",
    );
    out
}
