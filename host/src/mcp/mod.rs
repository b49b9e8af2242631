//! The MCP bridge: one rmcp `ServerHandler` that forwards tools and resources to the
//! component. Transports (stdio, Streamable HTTP) are thin entry points around it.
//!
//! Also here: tool access and selection ([`selection`]), the error envelope agents see
//! ([`errors`]) and the admission of calls by the bytes they hold ([`admission`]).
//!
//! May use: `sandbox`, `gate` (callers), `settings`, `support`.

pub mod admission;
pub mod errors;
pub mod selection;

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, MetaObject,
    PaginatedRequestParams, ProgressNotificationParam, Prompt, PromptArgument, PromptMessage,
    PromptsCapability, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ResourceTemplate, Role, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};

use crate::bindings;
use crate::gate::ratelimit::Caller;
use crate::gate::users::{Shares, User};
use crate::mcp::admission::PendingBytes;
use crate::mcp::errors::ErrorObject;
use crate::mcp::selection::{READ_ONLY_HEADER, ReadOnlyGrant, Refusal, Selection, TOOLS_HEADER};
use crate::sandbox::{Sandbox, SandboxError, Stop, new_correlation_id};
use crate::support::metrics::Metrics;
use crate::support::progress::{Progress, ProgressSender, Values};

const INSTRUCTIONS: &str = "Tools for the user's LunaTask account: tasks, notes, journal, people \
and habits. LunaTask encrypts names, notes and content end to end: you can write them but never \
read them back. Ids of areas, goals, notebooks and habits come from the LunaTask app. Failed calls \
return a JSON error with a stable code (validation_error, authentication_error, not_found, \
rate_limited, timeout, network_error, ...) and a correlation_id.";

/// The one resource the host reads itself (the guest lists and describes it): its counters
/// are the host's, not the guest's.
const METRICS_URI: &str = "lunatask://metrics";

/// What `tools/list` and `resources/*` answer: read from the component once at start-up,
/// since the component's lists are fixed at build time.
pub struct Catalog {
    pub tools: Vec<Tool>,
    pub prompts: Vec<Prompt>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
}

impl Catalog {
    pub async fn load(runtime: &Sandbox) -> anyhow::Result<Self> {
        let offered = runtime.offered().await?;
        let tools = offered
            .tools
            .into_iter()
            .map(to_mcp_tool)
            .collect::<anyhow::Result<_>>()?;
        let resources: Vec<Resource> = offered
            .resources
            .into_iter()
            .map(|r| {
                Resource::new(r.uri, r.name)
                    .with_title(r.title)
                    .with_description(r.description)
                    .with_mime_type(r.mime_type)
            })
            .collect();
        let templates = offered
            .templates
            .into_iter()
            .map(|t| {
                ResourceTemplate::new(t.uri_template, t.name)
                    .with_title(t.title)
                    .with_description(t.description)
                    .with_mime_type(t.mime_type)
            })
            .collect();
        let prompts = offered.prompts.into_iter().map(to_mcp_prompt).collect();
        Ok(Self {
            tools,
            prompts,
            resources,
            templates,
        })
    }
}

fn json_object(text: &str, what: &str) -> anyhow::Result<Arc<Map<String, Value>>> {
    match serde_json::from_str(text)? {
        Value::Object(map) => Ok(Arc::new(map)),
        _ => anyhow::bail!("the component's {what} is not a JSON object"),
    }
}

fn to_mcp_prompt(prompt: bindings::Prompt) -> Prompt {
    let arguments = prompt
        .arguments
        .into_iter()
        .map(|a| {
            PromptArgument::new(a.name)
                .with_description(a.description)
                .with_required(a.required)
        })
        .collect();
    Prompt::new(prompt.name, Some(prompt.description), Some(arguments)).with_title(prompt.title)
}

fn to_mcp_tool(tool: bindings::Tool) -> anyhow::Result<Tool> {
    let input = json_object(&tool.input_schema, "input schema")?;
    let annotations = annotations(&tool.annotations);
    let mut out = Tool::new(Cow::Owned(tool.name), Cow::Owned(tool.description), input)
        .with_title(tool.title)
        .with_annotations(annotations);
    if let Some(output) = &tool.output_schema {
        out = out.with_raw_output_schema(json_object(output, "output schema")?);
    }
    Ok(out)
}

/// The tool's hints, only those that differ from MCP's defaults (not read-only, destructive,
/// not idempotent, open world): the same meaning in fewer characters of every model's
/// context. Destructive and idempotent mean something only for a tool that writes.
fn annotations(a: &bindings::lunatask::mcp::types::ToolAnnotations) -> ToolAnnotations {
    let mut out = ToolAnnotations::new();
    if a.read_only {
        out = out.read_only(true);
    } else {
        if !a.destructive {
            out = out.destructive(false);
        }
        if a.idempotent {
            out = out.idempotent(true);
        }
    }
    if !a.open_world {
        out = out.open_world(false);
    }
    out
}

/// The MCP server: cheap to clone, one per session.
#[derive(Clone)]
pub struct LunaTaskServer {
    runtime: Arc<Sandbox>,
    catalog: Arc<Catalog>,
    pending: Arc<PendingBytes>,
    metrics: Metrics,
    /// The tools this server offers (each request may narrow it further).
    selection: Arc<Selection>,
    /// In multi-user mode, how many calls each user may run at once.
    shares: Arc<Shares>,
    /// Whom this session's calls are made for: the rate limiter takes turns between them.
    caller: Caller,
}

/// Why a token was not found good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefused {
    /// LunaTask refused it.
    ByLunaTask,
    /// LunaTask could not be asked; why.
    Unasked(String),
}

impl LunaTaskServer {
    pub fn new(
        runtime: Arc<Sandbox>,
        catalog: Arc<Catalog>,
        selection: Arc<Selection>,
        pending: Arc<PendingBytes>,
        metrics: Metrics,
        user_max_calls: usize,
    ) -> Self {
        Self {
            runtime,
            catalog,
            pending,
            metrics,
            shares: Arc::new(Shares::new(user_max_calls)),
            selection,
            caller: Caller::new("session-0"),
        }
    }

    /// The server for a new session: the same sandbox and catalog, its own turn in the
    /// rate limiter.
    pub fn for_new_session(&self) -> Self {
        static SESSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            caller: Caller::new(format!("session-{n}")),
            ..self.clone()
        }
    }

    /// Runs a tool and shapes its result for MCP; what the guest reports of its progress
    /// goes to `progress`.
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<&Map<String, Value>>,
        progress: Option<ProgressSender>,
    ) -> CallToolResult {
        self.call_for(&self.caller, name, arguments, progress).await
    }

    /// Whether LunaTask accepts `user`'s token: a `ping` made as them, through the gate
    /// like any call (for OAuth's consent page, and a bearer not seen lately).
    pub async fn check_token(&self, user: User) -> Result<(), TokenRefused> {
        let caller = self.caller.as_user(user);
        let result = self.call_for(&caller, "ping", None, None).await;
        if result.is_error != Some(true) {
            return Ok(());
        }
        let text: String = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        let error: Value = serde_json::from_str(&text).unwrap_or_default();
        match error["error"]["code"].as_str().unwrap_or_default() {
            "authentication_error" => Err(TokenRefused::ByLunaTask),
            code => Err(TokenRefused::Unasked(
                error["error"]["message"]
                    .as_str()
                    .unwrap_or(code)
                    .to_string(),
            )),
        }
    }

    /// [`call`](Self::call) on behalf of `caller` (in multi-user mode, a request's user).
    async fn call_for(
        &self,
        caller: &Caller,
        name: &str,
        arguments: Option<&Map<String, Value>>,
        progress: Option<ProgressSender>,
    ) -> CallToolResult {
        let correlation_id = new_correlation_id();
        let arguments = arguments.map_or_else(
            || "{}".to_string(),
            |a| serde_json::to_string(a).unwrap_or_else(|_| "{}".to_string()),
        );
        // Held until the call is answered (or dropped with it when the client cancels).
        let _pending = match self.pending.admit(arguments.len()) {
            Ok(permit) => permit,
            Err(stop) => return self.stopped(name, &correlation_id, &stop),
        };
        // A user's calls beyond their share wait here, before taking a sandbox slot.
        let _share = match caller.user() {
            Some(user) => self.shares.enter(user).await,
            None => None,
        };
        let result = self
            .runtime
            .call_tool(caller, &correlation_id, name, &arguments, progress)
            .await;
        let meta = Some(correlation_meta(&correlation_id));
        match result {
            Ok(Ok(text)) => {
                let structured = serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object);
                let mut out = CallToolResult::success(vec![ContentBlock::text(text)]);
                out.structured_content = structured;
                out.with_meta(meta)
            }
            Ok(Err(error)) => {
                let body = ErrorObject::from(error).envelope(&correlation_id);
                CallToolResult::error(vec![ContentBlock::text(body.to_string())]).with_meta(meta)
            }
            Err(error) => self.stopped(name, &error.correlation_id, &error.stop),
        }
    }

    /// A call the sandbox stopped or refused (deadline, memory cap, trap, overload): an
    /// error result in the same envelope as the guest's; the server itself carries on.
    fn stopped(&self, name: &str, correlation_id: &str, stop: &Stop) -> CallToolResult {
        tracing::warn!(tool = name, correlation_id, error = %stop, "the sandbox stopped a tool call");
        let body = ErrorObject::stopped(stop, self.writes(name)).envelope(correlation_id);
        CallToolResult::error(vec![ContentBlock::text(body.to_string())])
            .with_meta(Some(correlation_meta(correlation_id)))
    }

    /// Whether the tool `name` may change the user's data (its annotations say it is not
    /// read-only): a failed call of it must say whether it may have been applied.
    fn writes(&self, name: &str) -> bool {
        self.catalog
            .tools
            .iter()
            .find(|t| t.name == name)
            .is_some_and(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) != Some(true))
    }
}

impl LunaTaskServer {
    /// The tools offered to this request: the server's selection, narrowed by the
    /// request's headers when it came over HTTP.
    fn selection_for(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<Cow<'_, Selection>, McpError> {
        let parts = context.extensions.get::<::http::request::Parts>();
        let read_grant = parts.is_some_and(|p| p.extensions.get::<ReadOnlyGrant>().is_some());
        // Most requests narrow nothing: no copy of the selection for them.
        let narrows = parts.is_some_and(|p| {
            p.headers.contains_key(READ_ONLY_HEADER) || p.headers.contains_key(TOOLS_HEADER)
        });
        let selection = match parts.filter(|_| narrows) {
            Some(parts) => self
                .selection
                .narrowed_by(&parts.headers, &self.catalog.tools)
                .map(Cow::Owned)
                .map_err(|message| McpError::invalid_request(message, None))?,
            None => Cow::Borrowed(&*self.selection),
        };
        Ok(match read_grant {
            true => Cow::Owned(selection.for_read_grant()),
            false => selection,
        })
    }

    /// Whom a request's calls are made for: this session, as the request's user in
    /// multi-user mode (the HTTP layer made it from the request's bearer token).
    fn caller_for(&self, context: &RequestContext<RoleServer>) -> Caller {
        let user = context
            .extensions
            .get::<::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<User>());
        match user {
            Some(user) => self.caller.as_user(user.clone()),
            None => self.caller.clone(),
        }
    }

    /// A call of a tool that is not offered: an error result, and nothing sent.
    fn refused(&self, name: &str, refusal: Refusal) -> CallToolResult {
        let correlation_id = new_correlation_id();
        tracing::info!(
            tool = name,
            correlation_id,
            setting = refusal.setting,
            "a tool that is not offered was called"
        );
        let body = ErrorObject::refused(refusal, self.writes(name)).envelope(&correlation_id);
        CallToolResult::error(vec![ContentBlock::text(body.to_string())])
            .with_meta(Some(correlation_meta(&correlation_id)))
    }
}

impl LunaTaskServer {
    /// [`call`](Self::call), forwarding the guest's progress reports as
    /// `notifications/progress` when the client sent a progress token. Every report made
    /// before the answer is sent before it.
    async fn call_reporting(
        &self,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let arguments = request.arguments.as_ref();
        let caller = self.caller_for(context);
        let Some(token) = context.meta.get_progress_token() else {
            return self.call_for(&caller, &request.name, arguments, None).await;
        };
        let (sender, mut reports) = tokio::sync::mpsc::unbounded_channel();
        let call = self.call_for(&caller, &request.name, arguments, Some(sender));
        tokio::pin!(call);
        let mut values = Values::default();
        let notify = async |report: Progress, value: f64, total: Option<f64>| {
            let mut param = ProgressNotificationParam::new(token.clone(), value)
                .with_message(report.message().to_string());
            param.total = total;
            // A client that went away needs no progress; its call ends on its own.
            let _ = context.peer.notify_progress(param).await;
        };
        loop {
            tokio::select! {
                result = &mut call => {
                    while let Ok(report) = reports.try_recv() {
                        if let Some((value, total)) = values.next(&report) {
                            notify(report, value, total).await;
                        }
                    }
                    return result;
                }
                Some(report) = reports.recv() => {
                    if let Some((value, total)) = values.next(&report) {
                        notify(report, value, total).await;
                    }
                }
            }
        }
    }
}

fn correlation_meta(correlation_id: &str) -> MetaObject {
    let mut meta = Map::new();
    meta.insert("correlationId".into(), correlation_id.into());
    MetaObject(meta)
}

/// `work`, unless the client cancels it first. rmcp only signals `notifications/cancelled`;
/// dropping the work here stops it wherever it is: a queued call leaves its queues and is
/// never sent.
async fn unless_cancelled<T>(
    context: &RequestContext<RoleServer>,
    work: impl Future<Output = T>,
) -> Result<T, McpError> {
    tokio::select! {
        biased;
        () = context.ct.cancelled() => Err(cancelled()),
        done = work => Ok(done),
    }
}

/// The answer to a request the client cancelled; rmcp does not send it, the client having
/// said it no longer wants one.
fn cancelled() -> McpError {
    McpError::internal_error("the client cancelled the request", None)
}

/// A resource read the sandbox stopped: a JSON-RPC error whose data is the error object.
fn resource_stopped(uri: &str, error: &SandboxError) -> McpError {
    tracing::warn!(uri, correlation_id = error.correlation_id, error = %error, "the sandbox stopped a resource read");
    let body = ErrorObject::stopped(&error.stop, false).envelope(&error.correlation_id);
    McpError::internal_error(error.stop.to_string(), Some(body))
}

/// A resource read the guest failed: `not_found` as MCP's resource-not-found, the rest as
/// an internal error; either way the data is the error object.
fn resource_failed(error: bindings::ToolError, correlation_id: &str) -> McpError {
    let error = ErrorObject::from(error);
    let body = error.envelope(correlation_id);
    if error.is_not_found() {
        McpError::resource_not_found(error.message, Some(body))
    } else {
        McpError::internal_error(error.message, Some(body))
    }
}

impl ServerHandler for LunaTaskServer {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        // Declared only with prompts to offer (a component may have none).
        if !self.catalog.prompts.is_empty() {
            capabilities.prompts = Some(PromptsCapability::default());
        }
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(
                "lunatask-mcp",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let selection = self.selection_for(&context)?;
        Ok(ListToolsResult::with_all_items(
            selection.offered(&self.catalog.tools),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(tool) = self.catalog.tools.iter().find(|t| t.name == request.name) else {
            return Err(McpError::invalid_params(
                format!("unknown tool {:?}; tools/list names them all", request.name),
                None,
            ));
        };
        if let Some(refusal) = self.selection_for(&context)?.refusal(tool) {
            return Ok(self.refused(&request.name, refusal).into());
        }
        unless_cancelled(&context, self.call_reporting(&request, &context))
            .await
            .map(Into::into)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(
            self.catalog.prompts.clone(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let Some(prompt) = self.catalog.prompts.iter().find(|p| p.name == request.name) else {
            let names: Vec<&str> = self
                .catalog
                .prompts
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            return Err(McpError::invalid_params(
                format!(
                    "unknown prompt {:?}; the prompts are {}",
                    request.name,
                    names.join(", ")
                ),
                None,
            ));
        };
        let arguments = serde_json::to_string(&request.arguments.unwrap_or_default())
            .unwrap_or_else(|_| "{}".into());
        let correlation_id = new_correlation_id();
        let caller = self.caller_for(&context);
        let get = self
            .runtime
            .get_prompt(&caller, &correlation_id, &prompt.name, &arguments);
        let got = unless_cancelled(&context, get).await?;
        let contents = match got.map_err(|e| resource_stopped(&prompt.name, &e))? {
            Ok(contents) => contents,
            Err(bindings::PromptError::NotFound(message)) => {
                return Err(McpError::invalid_params(message, None));
            }
            Err(bindings::PromptError::Failed(error)) => {
                return Err(prompt_failed(error, &correlation_id));
            }
        };
        let messages = contents.into_iter().map(prompt_message).collect();
        let mut result = GetPromptResult::new(messages);
        if let Some(description) = &prompt.description {
            result = result.with_description(description.clone());
        }
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let mut resources = self.catalog.resources.clone();
        if self.caller_for(&context).user().is_some() {
            resources.retain(|r| r.uri != METRICS_URI);
        }
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(
            self.catalog.templates.clone(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri;
        let caller = self.caller_for(&context);
        if uri == METRICS_URI {
            // The server's usage, every caller's together: its operator's (at /metrics),
            // never one caller's to read on a server many share.
            if caller.user().is_some() {
                return Err(McpError::resource_not_found(
                    "lunatask://metrics is not offered on a multi-user server: it counts \
                     every caller's use; its operator reads /metrics",
                    Some(json!({ "uri": uri })),
                ));
            }
            let text = self.metrics.json().to_string();
            return Ok(text_contents(uri, "application/json".into(), text).into());
        }
        let correlation_id = new_correlation_id();
        let read = self.runtime.read_resource(&caller, &correlation_id, &uri);
        let read = unless_cancelled(&context, read).await?;
        match read.map_err(|e| resource_stopped(&uri, &e))? {
            Ok(contents) => {
                Ok(text_contents(contents.uri, contents.mime_type, contents.text).into())
            }
            Err(bindings::ResourceError::NotFound(message)) => Err(McpError::resource_not_found(
                message,
                Some(json!({ "uri": uri })),
            )),
            Err(bindings::ResourceError::Failed(error)) => {
                Err(resource_failed(error, &correlation_id))
            }
        }
    }
}

/// One piece of a prompt as a user message: its words, or a view embedded as a resource.
fn prompt_message(content: bindings::PromptContent) -> PromptMessage {
    let block = match content {
        bindings::PromptContent::Text(text) => ContentBlock::text(text),
        bindings::PromptContent::Embedded(r) => {
            ContentBlock::resource(ResourceContents::TextResourceContents {
                uri: r.uri,
                mime_type: Some(r.mime_type),
                text: r.text,
                meta: None,
            })
        }
    };
    PromptMessage::new(Role::User, block)
}

/// A prompt the guest could not make: refused arguments as invalid params, anything else
/// as an internal error; either way the data is the error object.
fn prompt_failed(error: bindings::ToolError, correlation_id: &str) -> McpError {
    let error = ErrorObject::from(error);
    let body = error.envelope(correlation_id);
    if error.code == "validation_error" {
        McpError::invalid_params(error.message, Some(body))
    } else {
        McpError::internal_error(error.message, Some(body))
    }
}

fn text_contents(uri: String, mime_type: String, text: String) -> ReadResourceResult {
    ReadResourceResult::new(vec![ResourceContents::TextResourceContents {
        uri,
        mime_type: Some(mime_type),
        text,
        meta: None,
    }])
}
