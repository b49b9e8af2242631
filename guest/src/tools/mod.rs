//! The tools: [`catalog`] lists every tool (name, title, description, effect, handler),
//! [`args`] declares every tool's arguments (its input schema), and one module per entity
//! holds the handlers. Here: what a tool is, how a call runs, and how lists are paged. The
//! host lists the catalog verbatim; it adds nothing of its own.

/// Declares a tool's argument type. Every one goes through here so that none can forget to
/// be strict: an unknown or misspelled argument is refused, never ignored. Each is also
/// schema'd (its `inputSchema`) and serializes without the fields not given (what
/// [`entity::body_of`] sends).
macro_rules! args {
    ($(#[$meta:meta])* pub struct $name:ident $body:tt) => {
        #[serde_with::skip_serializing_none]
        #[derive(Debug, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        $(#[$meta])*
        pub struct $name $body
    };
}

#[macro_use]
pub mod entity;
pub mod actions;
pub mod args;
mod batch;
mod catalog;
mod create;
pub mod habits;
pub mod journal;
pub mod notes;
pub mod people;
pub mod ping;
pub mod tasks;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::Api;
pub use crate::effect::Effect;
use crate::error::{Code, ToolError};
use crate::{Context, log, schema, validate};

/// Runs a tool: its structured result as JSON text, or why it failed.
type Handler = Box<dyn Fn(&Api, &str) -> Result<String, ToolError>>;

/// One tool: its description for `tools/list` and its handler for `tools/call`.
pub struct Tool {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub effect: Effect,
    /// Whether the portable world exports it: batch tools are served over MCP only, where
    /// the host reports their progress.
    pub portable: bool,
    input_schema: fn() -> String,
    output_schema: fn() -> String,
    /// Parses the arguments only: what runs before anything could be sent.
    parse: fn(&str) -> Result<(), ToolError>,
    run: Handler,
}

impl Tool {
    /// A tool whose arguments parse into `A` and whose result serializes from `O`; both
    /// schemas are derived from those types.
    pub fn new<A, O>(
        name: &'static str,
        title: &'static str,
        description: &'static str,
        effect: Effect,
        run: fn(&Api, A) -> Result<O, ToolError>,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema + 'static,
        O: Serialize + JsonSchema + 'static,
    {
        Self {
            name,
            title,
            description,
            effect,
            portable: true,
            input_schema: schema::text_of::<A>,
            output_schema: schema::output_text_of::<O>,
            parse: |arguments| validate::parse_args::<A>(arguments).map(drop),
            run: Box::new(move |api, arguments| {
                let args: A = validate::parse_args(arguments)?;
                let output = run(api, args)?;
                // Straight to text: a `Value` in between costs a map per object.
                serde_json::to_string(&output)
                    .map_err(|e| ToolError::internal(format!("could not encode the result: {e}")))
            }),
        }
    }

    /// This tool, served over MCP only (see [`Tool::portable`]).
    pub fn server_only(mut self) -> Self {
        self.portable = false;
        self
    }

    /// JSON Schema of the arguments object as MCP lists it: in the subset every model
    /// provider accepts (see [`schema::portable_input`]).
    pub fn input_schema(&self) -> String {
        let typed: Value = serde_json::from_str(&self.typed_input_schema()).unwrap_or_default();
        schema::portable_input(&typed).to_string()
    }

    /// JSON Schema of the arguments object exactly as derived from its Rust type, with
    /// nullable types and documented enumeration cases: what the portable world's WIT and
    /// its argument mapping read.
    pub fn typed_input_schema(&self) -> String {
        (self.input_schema)()
    }

    /// JSON Schema of the structured result, with standard formats only.
    pub fn output_schema(&self) -> String {
        let typed: Value = serde_json::from_str(&(self.output_schema)()).unwrap_or_default();
        schema::standard_output(&typed).to_string()
    }
}

pub use catalog::all;

/// Parses `arguments` for the tool `name` without running it (for fuzzing and tests).
pub fn parse_arguments(name: &str, arguments: &str) -> Result<(), ToolError> {
    match all().into_iter().find(|t| t.name == name) {
        Some(tool) => (tool.parse)(arguments),
        None => Err(ToolError::validation("", format!("no tool named {name:?}"))),
    }
}

/// What one tool call came to, and the correlation id its requests carried.
#[derive(Debug)]
pub struct Answer {
    /// The structured result (a JSON object, as text), or the error.
    pub outcome: Result<String, ToolError>,
    pub correlation_id: String,
}

/// Runs one tool call under a fresh correlation id.
pub fn call(name: &str, arguments: &str, ctx: &Context) -> Answer {
    let correlation_id = ctx.correlation_id();
    let outcome = match all().into_iter().find(|t| t.name == name) {
        Some(tool) => (tool.run)(&Api::new(ctx, &correlation_id, tool.effect), arguments),
        None => Err(ToolError::new(
            Code::ValidationError,
            format!("there is no tool named {name:?}; tools/list names them all"),
        )),
    };
    if let Err(error) = &outcome {
        log::info(
            &correlation_id,
            &format!(
                "tool {name} failed: {:?} (HTTP {:?})",
                error.code, error.http_status
            ),
        );
    }
    Answer {
        outcome,
        correlation_id,
    }
}

/// How many items a list answers when the agent gives no limit: enough for an overview,
/// small enough that a big account's answer costs a few thousand tokens, not tens.
pub const DEFAULT_LIMIT: usize = 30;

/// One page of a sorted, filtered list: the items from `offset`, at most `limit`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Page {
    /// How many items this answer holds.
    pub count: usize,
    /// How many matched the filters, on every page.
    pub total: usize,
    /// The offset of the next page, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
    /// How to see the rest, when this page is not all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The first `keep` of everything pushed, in the order `sort` gives, holding at most about
/// twice that many at any time however many are pushed; `total` counts them all.
pub struct Top<T, S: Fn(&mut Vec<T>)> {
    keep: usize,
    items: Vec<T>,
    sort: S,
    pub total: usize,
}

impl<T, S: Fn(&mut Vec<T>)> Top<T, S> {
    /// Room for the page `offset`/`limit` asks for.
    pub fn for_page(
        offset: Option<validate::Offset>,
        limit: Option<validate::Limit>,
        sort: S,
    ) -> Self {
        let keep =
            offset.map_or(0, |o| o.0 as usize) + limit.map_or(DEFAULT_LIMIT, |l| l.0 as usize);
        Self {
            keep,
            items: Vec::new(),
            sort,
            total: 0,
        }
    }

    pub fn push(&mut self, item: T) {
        self.total += 1;
        self.items.push(item);
        if self.items.len() >= 2 * self.keep.max(32) {
            (self.sort)(&mut self.items);
            self.items.truncate(self.keep);
        }
    }

    /// The first `keep`, sorted.
    pub fn into_sorted(mut self) -> Vec<T> {
        (self.sort)(&mut self.items);
        self.items.truncate(self.keep);
        self.items
    }
}

/// Cuts `items` (the first matches, sorted, at least to the end of the page) to the page
/// `offset`/`limit` asks for, of `total` matches in all.
pub fn page<T>(
    items: &mut Vec<T>,
    total: usize,
    offset: Option<validate::Offset>,
    limit: Option<validate::Limit>,
    narrow: &str,
) -> Page {
    let offset = offset.map_or(0, |o| o.0 as usize).min(total);
    let limit = limit.map_or(DEFAULT_LIMIT, |l| l.0 as usize);
    items.drain(..offset.min(items.len()));
    items.truncate(limit);
    let next = offset + items.len();
    let more = next < total;
    Page {
        count: items.len(),
        total,
        next_offset: more.then_some(next),
        hint: more.then(|| {
            format!(
                "{} of {total} shown; narrow with {narrow}, or call again with offset {next}",
                items.len()
            )
        }),
    }
}
