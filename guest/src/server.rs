//! The `server` world: the host lists and calls tools and reads resources through the
//! `lunatask:mcp/tools` and `resources` exports (see `wit/server.wit`). This module only
//! converts between the WIT records and the tool registry.

use crate::bindings::exports::lunatask::mcp::{
    prompts as prompt_exports, resources as resource_exports, tools as tool_exports,
};
use crate::bindings::lunatask::mcp::types::{ErrorCode, ToolError, WriteOutcome};
use crate::bindings::{
    CallContext, Prompt, PromptContent, PromptError, Resource, ResourceContents, ResourceError,
    ResourceTemplate, Tool, ToolAnnotations,
};
use crate::error;
use crate::tools;
use crate::{Context, prompts, resources};

#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "exported only in wasm")
)]
struct Component;

// Natively (unit tests, fuzzing) nothing is exported: the component ABI's symbol names are
// not valid in a native linker's version script.
#[cfg(target_arch = "wasm32")]
#[allow(
    unsafe_code,
    reason = "the generated canonical-ABI export glue is unsafe by nature"
)]
mod export {
    use super::Component;
    crate::bindings::export!(Component with_types_in crate::bindings);
}

impl tool_exports::Guest for Component {
    fn list_tools() -> Vec<Tool> {
        tools::all().iter().map(describe).collect()
    }

    fn call_tool(
        name: String,
        arguments: String,
        context: CallContext,
    ) -> Result<String, ToolError> {
        tools::call(&name, &arguments, &context.into())
            .outcome
            .map_err(ToolError::from)
    }
}

impl resource_exports::Guest for Component {
    fn list_resources() -> Vec<Resource> {
        resources::list()
    }

    fn list_resource_templates() -> Vec<ResourceTemplate> {
        resources::templates()
    }

    fn read_resource(uri: String, context: CallContext) -> Result<ResourceContents, ResourceError> {
        resources::read(&uri, &context.into())
    }
}

impl prompt_exports::Guest for Component {
    fn list_prompts() -> Vec<Prompt> {
        prompts::list()
    }

    fn get_prompt(
        name: String,
        arguments: String,
        context: CallContext,
    ) -> Result<Vec<PromptContent>, PromptError> {
        prompts::get(&name, &arguments, &context.into())
    }
}

impl From<CallContext> for Context {
    fn from(ctx: CallContext) -> Self {
        Context {
            base_url: ctx.base_url,
            deadline_ms: ctx.deadline_ms,
            max_retries: ctx.max_retries,
            retry_base_delay_ms: ctx.retry_base_delay_ms,
            retry_max_delay_ms: ctx.retry_max_delay_ms,
            utc_offset_minutes: ctx.utc_offset_minutes,
            correlation_id: Some(ctx.correlation_id),
            // The host adds the token on the way out; this world never holds it.
            token: None,
        }
    }
}

/// One tool as `tools/list` describes it.
pub fn describe(tool: &tools::Tool) -> Tool {
    let (read_only, destructive, idempotent) = tool.effect.hints();
    Tool {
        name: tool.name.to_string(),
        title: tool.title.to_string(),
        description: tool.description.to_string(),
        input_schema: tool.input_schema(),
        output_schema: Some(tool.output_schema()),
        annotations: ToolAnnotations {
            read_only,
            destructive,
            idempotent,
            // Every tool talks to LunaTask, an external service.
            open_world: true,
        },
    }
}

impl From<error::ToolError> for ToolError {
    fn from(mut e: error::ToolError) -> Self {
        let items = e.items.take();
        crate::to_wit_error!(e, ToolError, ErrorCode, WriteOutcome, items: items)
    }
}
