//! JSON Schemas for tool arguments and results, generated from the Rust types themselves so
//! that what a tool accepts and what its schema promises cannot drift apart.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};

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
