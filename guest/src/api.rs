//! The LunaTask API client: one request, with retries, correlation id and error mapping.
//!
//! Requests leave through `wasi:http/outgoing-handler` (via `waki`); the host adds the token,
//! enforces timeouts and the rate limit, and refuses any other destination. This module
//! decides what an answer means and whether to try again (see [`crate::retry`]).

use std::collections::BTreeMap;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;
use serde_json::value::RawValue;
use waki::ErrorCode;

use crate::effect::Effect;
use crate::error::{Code, ToolError, WriteOutcome};
use crate::retry::{Failure, Policy, Replay, parse_retry_after};
use crate::stream::{Elements, ShapeError};
use crate::{Context, journal, log};

/// Everything but unreserved characters is escaped, `.` included, so an id can never
/// become a path separator or a `..` segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// The header carrying the call's correlation id on every attempt.
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// Tells the host which attempt this is (for its retry metrics); the host strips it.
pub const ATTEMPT_HEADER: &str = "x-lunatask-mcp-attempt";

/// Escapes one path segment.
pub fn segment(raw: &str) -> String {
    utf8_percent_encode(raw, SEGMENT).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One request to the API, built up before [`Api::send`] sends it.
#[derive(Debug)]
pub struct Request<'a> {
    method: Method,
    path: String,
    query: Vec<(&'a str, &'a str)>,
    body: Option<Vec<u8>>,
}

impl<'a> Request<'a> {
    fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::Get, path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::Post, path)
    }

    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::Put, path)
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::Delete, path)
    }

    /// Adds `key=value` to the query, escaped.
    pub fn query(mut self, key: &'a str, value: &'a str) -> Self {
        self.query.push((key, value));
        self
    }

    /// Adds `key=value` when there is a value.
    pub fn query_opt(self, key: &'a str, value: Option<&'a str>) -> Self {
        match value {
            Some(value) => self.query(key, value),
            None => self,
        }
    }

    /// The JSON body: a typed value, serialized once.
    pub fn json(mut self, body: &impl Serialize) -> Self {
        self.body = Some(serde_json::to_vec(body).unwrap_or_default());
        self
    }
}

/// A successful (2xx) answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    /// Reads `{"<key>": T}` from the body.
    pub fn field<T: DeserializeOwned>(&self, key: &str) -> Result<T, ToolError> {
        // Only the top level is split up; `T` is read straight from its text. A `Value` of
        // the whole answer would cost a map per entity (200 tasks: most of a call's time).
        let top: Option<BTreeMap<String, &RawValue>> = match serde_json::from_slice(&self.body) {
            Ok(top) => Some(top),
            Err(_) if serde_json::from_slice::<IgnoredAny>(&self.body).is_ok() => None,
            Err(e) => {
                return Err(ToolError::new(
                    Code::UpstreamError,
                    format!("LunaTask answered with a body that is not JSON: {e}"),
                )
                .with_status(self.status));
            }
        };
        let inner = top.and_then(|mut top| top.remove(key)).ok_or_else(|| {
            ToolError::new(
                Code::UpstreamError,
                format!("LunaTask's answer has no `{key}` field"),
            )
            .with_status(self.status)
        })?;
        serde_json::from_str(inner.get()).map_err(|e| {
            ToolError::new(
                Code::UpstreamError,
                format!("LunaTask's `{key}` has an unexpected shape: {e}"),
            )
            .with_status(self.status)
        })
    }
}

/// Whether a request of a tool with `effect` may be sent again: a GET always may, a write
/// as the effect says; a read-only tool may send nothing else.
fn replay_for(effect: Effect, method: Method, path: &str) -> Result<Replay, ToolError> {
    match method {
        Method::Get => Ok(Replay::Safe),
        _ if effect == Effect::Read => Err(ToolError::internal(format!(
            "a read-only tool tried to send {} {path}; nothing was sent",
            method.as_str()
        ))),
        _ => Ok(effect.replay()),
    }
}

/// How much of a streamed answer is read at once: small against the sandbox's memory, large
/// enough that a long list takes few host calls.
const STREAM_CHUNK: u64 = 64 * 1024;

/// A successful attempt: the answer read whole, or left open to stream.
enum Answered {
    Read(Reply),
    Open {
        status: u16,
        response: waki::Response,
    },
}

/// Why reading a streamed list stopped.
enum ListError {
    Shape(ShapeError),
    Tool(ToolError),
}

impl From<ShapeError> for ListError {
    fn from(e: ShapeError) -> Self {
        ListError::Shape(e)
    }
}

/// One attempt's failure, with what we need to report it.
struct AttemptError {
    failure: Failure,
    error: ToolError,
    retry_after: Option<Duration>,
}

/// The API as seen from one tool call.
pub struct Api<'a> {
    ctx: &'a Context,
    correlation_id: &'a str,
    /// The calling tool's effect: what it may send, and whether a write may be sent again.
    effect: Effect,
    policy: Policy,
    /// Monotonic nanoseconds after which no new attempt or wait starts.
    deadline: u64,
    /// What the journal records, asked of the host at the first write.
    journal_mode: std::cell::OnceCell<journal::Mode>,
    /// For the writes of `undo`: the action they take back.
    undoes: std::cell::RefCell<Option<String>>,
    /// The journal id of the last write recorded.
    last_action: std::cell::RefCell<Option<String>>,
    /// Tasks read ahead for the journal's prior values (see [`Api::read_ahead`]), by id.
    read_ahead: std::cell::RefCell<BTreeMap<String, serde_json::Map<String, Value>>>,
}

impl<'a> Api<'a> {
    pub fn new(ctx: &'a Context, correlation_id: &'a str, effect: Effect) -> Self {
        let now = monotonic_now();
        Self {
            ctx,
            correlation_id,
            effect,
            policy: Policy {
                max_retries: ctx.max_retries,
                base_delay: Duration::from_millis(ctx.retry_base_delay_ms),
                max_delay: Duration::from_millis(ctx.retry_max_delay_ms),
            },
            deadline: now.saturating_add(ctx.deadline_ms.saturating_mul(1_000_000)),
            journal_mode: std::cell::OnceCell::new(),
            undoes: Default::default(),
            last_action: Default::default(),
            read_ahead: Default::default(),
        }
    }

    /// The task `id` read ahead, taken (each is used once, as it was when read).
    pub fn take_read_ahead(&self, id: &str) -> Option<serde_json::Map<String, Value>> {
        self.read_ahead.borrow_mut().remove(id)
    }

    /// Keeps `task`, just read, as the prior values of the next update of it.
    pub fn keep_read(&self, id: &str, task: serde_json::Map<String, Value>) {
        self.read_ahead.borrow_mut().insert(id.to_string(), task);
    }

    /// Reads the tasks `ids` in one pass over the task list, for the prior values the
    /// journal records of their updates: a batch of updates then costs one read, not one per
    /// item (each a request under the rate limit). Only those tasks are kept. A failed read
    /// is not an error: each update then reads its own task.
    pub fn read_ahead(&self, ids: &[&str]) {
        if self.journal_mode() != journal::Mode::Full || ids.len() < 2 {
            return;
        }
        let mut found = BTreeMap::new();
        let read = self.each(
            Request::get("/tasks"),
            "tasks",
            |task: serde_json::Map<String, Value>| {
                if let Some(id) = task.get("id").and_then(Value::as_str)
                    && ids.contains(&id)
                {
                    found.insert(id.to_string(), task);
                }
            },
        );
        match read {
            Ok(()) => *self.read_ahead.borrow_mut() = found,
            Err(e) => log::info(
                self.correlation_id,
                &format!(
                    "reading the tasks ahead for the journal failed ({:?}); each update reads its own",
                    e.code
                ),
            ),
        }
    }

    /// Marks the writes that follow as taking back the action `id` (for `undo`).
    pub fn undoing(&self, id: Option<String>) {
        *self.undoes.borrow_mut() = id;
    }

    /// The journal id of the last write this call recorded.
    pub fn last_action(&self) -> Option<String> {
        self.last_action.borrow().clone()
    }

    pub fn journal_mode(&self) -> journal::Mode {
        *self.journal_mode.get_or_init(journal::mode)
    }

    pub fn correlation_id(&self) -> &str {
        self.correlation_id
    }

    /// GET `path` and read `key` from the answer.
    pub fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        key: &str,
    ) -> Result<T, ToolError> {
        let mut request = Request::get(path);
        request.query = query.to_vec();
        self.send(request)?.field(key)
    }

    /// Sends one request, retrying as the policy and the tool's effect allow. A write is
    /// recorded in the action journal first (when it cannot be, it is not sent) and
    /// settled with what became of it before the tool answers.
    pub fn send(&self, request: Request<'_>) -> Result<Reply, ToolError> {
        if request.method == Method::Get {
            return self.send_unrecorded(request);
        }
        replay_for(self.effect, request.method, &request.path)?;
        let recorded = self.record(&request)?;
        let result = self.send_unrecorded(request);
        if let Some((id, operation)) = &recorded {
            self.settle(id, operation, &result);
        }
        result
    }

    /// Records a write before it is sent: its id and operation, or `None` when the
    /// journal is off.
    fn record(&self, request: &Request<'_>) -> Result<Option<(String, &'static str)>, ToolError> {
        let mode = self.journal_mode();
        if mode == journal::Mode::Off {
            return Ok(None);
        }
        let mut action = journal::describe(
            request.method.as_str(),
            &request.path,
            request.body.as_deref(),
        );
        action.undoes = self.undoes.borrow().clone();
        if mode == journal::Mode::Full && action.kind == "task" && action.operation == "update" {
            self.read_prior(&request.path, &mut action)?;
        }
        match journal::add(&action) {
            Ok(id) => {
                *self.last_action.borrow_mut() = Some(id.clone());
                Ok(Some((id, action.operation)))
            }
            Err(why) => Err(ToolError::new(
                Code::InternalError,
                format!(
                    "nothing was sent: the action journal could not record this write ({why}). \
                     LUNATASK_JOURNAL=off sends writes without recording them"
                ),
            )
            .with_outcome(WriteOutcome::NotApplied)),
        }
    }

    /// Reads the task an update is about, for the prior values of the fields it sets
    /// (what `undo` restores).
    fn read_prior(&self, path: &str, action: &mut journal::Action) -> Result<(), ToolError> {
        let ahead = action
            .entity_id
            .as_ref()
            .and_then(|id| self.take_read_ahead(id));
        let task = match ahead {
            Some(task) => task,
            None => self.read_one(path)?,
        };
        Self::apply_prior(action, &task);
        Ok(())
    }

    /// The task at `path`, read for its current values; a failure refuses the update.
    fn read_one(&self, path: &str) -> Result<serde_json::Map<String, Value>, ToolError> {
        self.send_unrecorded(Request::get(path))
            .and_then(|reply| reply.field("task"))
            .map_err(|mut e| {
                if e.code != Code::NotFound {
                    e.message = format!(
                        "nothing was sent: reading the task's current values for the action \
                         journal failed: {} (LUNATASK_JOURNAL=writes records updates without \
                         this read)",
                        e.message
                    );
                }
                e.with_outcome(WriteOutcome::NotApplied)
            })
    }

    /// Applies the task's current values to the changes as their prior values.
    fn apply_prior(action: &mut journal::Action, task: &serde_json::Map<String, Value>) {
        for change in action.changes.iter_mut().filter(|c| !c.text) {
            change.before = Some(task.get(&change.field).cloned().unwrap_or(Value::Null));
        }
        // A status change may move completed_at on LunaTask's side (completing sets it):
        // its value before is kept too, so an undo can put it back.
        let sets = |field: &str| action.changes.iter().any(|c| c.field == field);
        if sets("status") && !sets("completed_at") {
            action.changes.push(journal::Change {
                field: "completed_at".into(),
                before: Some(task.get("completed_at").cloned().unwrap_or(Value::Null)),
                after: None,
                text: false,
            });
        }
    }

    /// Settles the recorded write `id` with what became of it. A failure to settle is
    /// logged, not reported: the write is done, and its record says `pending`.
    fn settle(&self, id: &str, operation: &str, result: &Result<Reply, ToolError>) {
        let (outcome, entity) = match result {
            // 204 is LunaTask's answer to a create it found a duplicate of.
            Ok(reply) if operation == "create" && reply.status == 204 => {
                (journal::Outcome::Duplicate, None)
            }
            Ok(reply) if operation == "create" => {
                (journal::Outcome::Applied, journal::created_id(&reply.body))
            }
            Ok(_) => (journal::Outcome::Applied, None),
            Err(e) if e.outcome == Some(WriteOutcome::Unknown) => (journal::Outcome::Unknown, None),
            Err(_) => (journal::Outcome::Failed, None),
        };
        if let Err(why) = journal::settle(id, outcome, entity.as_deref()) {
            log::info(
                self.correlation_id,
                &format!("the action journal could not settle action {id}: {why}"),
            );
        }
    }

    fn send_unrecorded(&self, request: Request<'_>) -> Result<Reply, ToolError> {
        match self.exchange(request, false)? {
            Answered::Read(reply) => Ok(reply),
            Answered::Open { .. } => Err(ToolError::internal("an answer was left unread")),
        }
    }

    /// GETs `request` and hands `each` every element of the list under `key`, parsed, as the
    /// answer streams in: memory holds a chunk and one element, never the whole list (see
    /// [`crate::stream`]). A failure before the answer starts is retried as any GET; once
    /// elements have been handed on, a broken answer is an error, not a second pass.
    pub fn each<T: DeserializeOwned>(
        &self,
        request: Request<'_>,
        key: &str,
        mut each: impl FnMut(T),
    ) -> Result<(), ToolError> {
        let (status, response) = match self.exchange(request, true)? {
            Answered::Open { status, response } => (status, response),
            Answered::Read(_) => return Err(ToolError::internal("a list answer was read whole")),
        };
        let shape = |e: ShapeError| {
            ToolError::new(Code::UpstreamError, format!("LunaTask's answer {e}"))
                .with_status(status)
        };
        let token = self.ctx.token.as_deref().map(str::as_bytes);
        let mut elements = Elements::new(key);
        loop {
            let chunk = response.chunk(STREAM_CHUNK).map_err(|e| {
                ToolError::new(
                    Code::NetworkError,
                    format!("the connection to LunaTask broke while reading the answer: {e}"),
                )
                .with_status(status)
            })?;
            let Some(chunk) = chunk else { break };
            elements
                .feed(&chunk, |text: &[u8]| {
                    // The portable world's own token, should an answer echo it (see `attempt`).
                    let text = match token {
                        Some(token) if contains(text, token) => {
                            std::borrow::Cow::Owned(without_secret(text.to_vec(), token))
                        }
                        _ => std::borrow::Cow::Borrowed(text),
                    };
                    let item = serde_json::from_slice(&text).map_err(|e| {
                        ListError::Tool(
                            ToolError::new(
                                Code::UpstreamError,
                                format!("LunaTask's `{key}` has an unexpected shape: {e}"),
                            )
                            .with_status(status),
                        )
                    })?;
                    each(item);
                    Ok(())
                })
                .map_err(|e| match e {
                    ListError::Shape(e) => shape(e),
                    ListError::Tool(e) => e,
                })?;
        }
        elements.finish().map_err(shape)
    }

    /// Sends a request, retrying as the policy and the tool's effect allow; with `open`, a
    /// 2xx answer's body is left to be read as it streams.
    fn exchange(&self, request: Request<'_>, open: bool) -> Result<Answered, ToolError> {
        let Request {
            method,
            path,
            query,
            body,
        } = request;
        let replay = replay_for(self.effect, method, &path)?;
        let path = path.as_str();
        let url = self.url(path, &query);
        let mut attempt = 1;
        loop {
            let started = monotonic_now();
            let result = self.attempt(
                method,
                &url,
                Subject::of_path(path),
                body.as_deref(),
                attempt,
                open,
            );
            let elapsed_ms = (monotonic_now() - started) / 1_000_000;
            // A success is logged by the host's egress gate (endpoint, status, time), so only
            // failures and the retry decisions they lead to are logged here.
            let failure = match result {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            log::info(
                self.correlation_id,
                &format!(
                    "{} {path} attempt {attempt} failed after {elapsed_ms} ms: {:?}",
                    method.as_str(),
                    failure.failure
                ),
            );
            let retry = attempt; // retries so far + 1 = the number of the next retry
            if !failure.failure.should_retry(replay) || retry > self.policy.max_retries {
                return Err(self.finish(failure, method, replay, attempt));
            }
            let wait = self.policy.delay(retry, failure.retry_after, random_unit());
            if monotonic_now().saturating_add(wait.as_nanos() as u64) >= self.deadline {
                let mut error = self.finish(failure, method, replay, attempt);
                error
                    .message
                    .push_str(" (no further retry: the wait would pass this call's deadline)");
                return Err(error);
            }
            sleep(wait);
            attempt += 1;
        }
    }

    /// The error to report once retrying is over.
    fn finish(
        &self,
        failure: AttemptError,
        method: Method,
        replay: Replay,
        attempts: u32,
    ) -> ToolError {
        let mut error = failure.error;
        if attempts > 1 {
            error
                .message
                .push_str(&format!(" (after {attempts} attempts)"));
        }
        let is_write = method != Method::Get;
        let delivered_maybe = matches!(failure.failure, Failure::Ambiguous | Failure::Oversized)
            || matches!(failure.failure, Failure::Status(s) if s >= 500);
        if is_write && error.outcome.is_none() {
            error = error.with_outcome(if delivered_maybe {
                WriteOutcome::Unknown
            } else {
                WriteOutcome::NotApplied
            });
        }
        if is_write && replay == Replay::OnlyIfNotDelivered && delivered_maybe {
            error.message.push_str(
                ". The request may have reached LunaTask and been applied; it was not sent again \
                 because this kind of record has no duplicate protection. Check in the LunaTask \
                 app before trying again",
            );
        }
        error
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}{path}", self.ctx.base_url.trim_end_matches('/'));
        for (i, (key, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&segment(key));
            url.push('=');
            url.push_str(&segment(value));
        }
        url
    }

    fn attempt(
        &self,
        method: Method,
        url: &str,
        subject: Subject,
        body: Option<&[u8]>,
        attempt: u32,
        open: bool,
    ) -> Result<Answered, AttemptError> {
        let client = waki::Client::new();
        let mut request = match method {
            Method::Get => client.get(url),
            Method::Post => client.post(url),
            Method::Put => client.put(url),
            Method::Delete => client.delete(url),
        }
        .header("accept", "application/json")
        .header(CORRELATION_HEADER, self.correlation_id)
        .header(ATTEMPT_HEADER, attempt.to_string());
        // Only the portable world holds a token; in the host's world the host adds it.
        if let Some(token) = &self.ctx.token {
            request = request.header("authorization", format!("bearer {token}"));
        }
        if let Some(body) = body {
            // Declared here too, not only by our host's gate: in other runtimes (the portable
            // world) nothing else would, and the body would leave chunked.
            request = request
                .header("content-type", "application/json")
                .header("content-length", body.len().to_string())
                .body(body.to_vec());
        }
        let response = request.send().map_err(transport_error)?;
        let status = response.status_code();
        // Our host's own 401 when it has no token to add: nothing reached LunaTask.
        let no_token = status == 401 && response.header("x-lunatask-mcp-no-token").is_some();
        let retry_after = response
            .header("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, wall_now_unix()));
        if open && (200..300).contains(&status) {
            return Ok(Answered::Open { status, response });
        }
        let body = response.body().map_err(|e| AttemptError {
            failure: Failure::Ambiguous,
            error: ToolError::new(
                Code::NetworkError,
                format!("the connection to LunaTask broke while reading the answer: {e}"),
            )
            .with_status(status),
            retry_after: None,
        })?;
        // In the host's world the host removes its secrets from answers; the portable world
        // holds its token itself, so an answer echoing it back must lose it here.
        let body = match &self.ctx.token {
            Some(token) => without_secret(body, token.as_bytes()),
            None => body,
        };
        if (200..300).contains(&status) {
            return Ok(Answered::Read(Reply { status, body }));
        }
        let error = if no_token {
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|b| b["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| "no LunaTask access token".into());
            ToolError::new(
                Code::AuthenticationError,
                format!("This server has {message}."),
            )
            .with_status(status)
        } else {
            status_error(status, &body, subject)
        };
        Err(AttemptError {
            failure: Failure::Status(status),
            error,
            retry_after,
        })
    }
}

/// What a request concerns, read from its path: error messages name it, and the hints for
/// a rejected request are the ones that fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Task,
    Note,
    JournalEntry,
    Person,
    TimelineNote,
    HabitTracking,
    /// `/ping` and anything unknown.
    Other,
}

impl Subject {
    /// The subject of an API path such as `/tasks/{id}` or `/habits/{id}/track`.
    pub fn of_path(path: &str) -> Self {
        let path = path.split('?').next().unwrap_or("");
        let mut segments = path.trim_start_matches('/').split('/');
        match segments.next().unwrap_or("") {
            "tasks" => Subject::Task,
            "notes" => Subject::Note,
            "journal_entries" => Subject::JournalEntry,
            "people" => Subject::Person,
            "person_timeline_notes" => Subject::TimelineNote,
            "habits" => Subject::HabitTracking,
            _ => Subject::Other,
        }
    }

    /// The subject as the action journal names its kind, e.g. "timeline-note".
    pub fn kind(self) -> &'static str {
        match self {
            Subject::Task => "task",
            Subject::Note => "note",
            Subject::JournalEntry => "journal-entry",
            Subject::Person => "person",
            Subject::TimelineNote => "timeline-note",
            Subject::HabitTracking => "habit",
            Subject::Other => "other",
        }
    }

    /// The subject in words, e.g. "task".
    pub fn noun(self) -> &'static str {
        match self {
            Subject::Task => "task",
            Subject::Note => "note",
            Subject::JournalEntry => "journal entry",
            Subject::Person => "person",
            Subject::TimelineNote => "timeline note",
            Subject::HabitTracking => "habit tracking",
            Subject::Other => "entity",
        }
    }

    /// What to check when LunaTask rejects a request about this subject (400 or 422).
    fn rejection_hint(self, status: u16) -> &'static str {
        match (self, status) {
            (Subject::Person, 422) => {
                "For a person's email, phone or birthday, define that custom field in the \
                 LunaTask app first."
            }
            (Subject::Person, _) => "Check relationship_strength and birthday (YYYY-MM-DD).",
            (Subject::Task, _) => {
                "Check area_id and goal_id (copy them from the LunaTask app) and the values of \
                 the fields LunaTask names."
            }
            (Subject::Note, _) => {
                "Check notebook_id (copy it from the LunaTask app) and date_on (YYYY-MM-DD)."
            }
            (Subject::JournalEntry, _) => "Check date_on (YYYY-MM-DD).",
            (Subject::TimelineNote, _) => "Check person_id and date_on (YYYY-MM-DD).",
            (Subject::HabitTracking, _) => {
                "Check habit_id (copy it from the LunaTask app) and performed_on (YYYY-MM-DD)."
            }
            (Subject::Other, _) => "Check the arguments.",
        }
    }
}

/// Maps an API error status to the error agents see, naming what the request concerned.
pub fn status_error(status: u16, body: &[u8], subject: Subject) -> ToolError {
    let said = api_message(body)
        .map(|m| format!(" LunaTask said: {}.", m.trim_end_matches('.')))
        .unwrap_or_default();
    let what = subject.noun();
    let (code, message) = match status {
        400 | 422 => (
            Code::ValidationError,
            format!(
                "LunaTask {} the {what} ({status}).{said} {}",
                if status == 400 {
                    "rejected the request for"
                } else {
                    "could not accept"
                },
                subject.rejection_hint(status)
            ),
        ),
        401 => (
            Code::AuthenticationError,
            format!(
                "LunaTask rejected the access token (401): it is missing, wrong or revoked. \
                 Create a new one in the LunaTask desktop app (Settings → Access tokens) and \
                 restart this server with it.{said}"
            ),
        ),
        402 => (
            Code::SubscriptionRequired,
            format!(
                "LunaTask's free-plan limit was reached (402) for this {what}: this needs a \
                 paid subscription.{said}"
            ),
        ),
        404 => (
            Code::NotFound,
            format!("LunaTask has no such {what} (404): check the id, or it was deleted.{said}"),
        ),
        429 => (
            Code::RateLimited,
            format!("LunaTask is rate limiting requests (429): wait a minute and try again.{said}"),
        ),
        503 => (
            Code::UpstreamError,
            format!("LunaTask is offline for maintenance (503): try again later.{said}"),
        ),
        524 => (
            Code::UpstreamError,
            format!("LunaTask timed out upstream (524): try again.{said}"),
        ),
        s if s >= 500 => (
            Code::UpstreamError,
            format!("LunaTask had a server error ({s}): try again later.{said}"),
        ),
        s => (
            Code::UpstreamError,
            format!("LunaTask answered the {what} with an unexpected status {s}.{said}"),
        ),
    };
    ToolError::new(code, message)
        .with_status(status)
        .retryable(Failure::is_transient_status(status))
}

/// Shorter strings are not searched for: they would match ordinary text, and no real token
/// is this short.
const MIN_SECRET_LEN: usize = 6;

/// `body` with every occurrence of `secret` replaced by `[redacted]`. By hand, not with a
/// search crate: it runs only in the portable world, and the component's size matters more
/// than the speed of a scan that almost always finds nothing.
/// Whether `secret` (long enough to be one) occurs in `text`.
fn contains(text: &[u8], secret: &[u8]) -> bool {
    secret.len() >= MIN_SECRET_LEN && text.windows(secret.len()).any(|w| w == secret)
}

fn without_secret(body: Vec<u8>, secret: &[u8]) -> Vec<u8> {
    let found = |at: usize| body[at..].starts_with(secret);
    if secret.len() < MIN_SECRET_LEN || !(0..body.len()).any(found) {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    while at < body.len() {
        if found(at) {
            out.extend_from_slice(b"[redacted]");
            at += secret.len();
        } else {
            out.push(body[at]);
            at += 1;
        }
    }
    out
}

/// The `message` of an error body, shortened; error bodies carry no user text.
fn api_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = value
        .get("message")
        .or_else(|| value.get("error"))?
        .as_str()?;
    Some(message.chars().take(300).collect())
}

/// Why a destination was refused, as the world this component runs in says it: our host
/// allows the configured API only; another runtime refuses by its own policy.
#[cfg(not(feature = "portable"))]
const EGRESS_DENIED: &str =
    "the host refused this destination: only the configured LunaTask API may be reached";
#[cfg(feature = "portable")]
const EGRESS_DENIED: &str = "the runtime's network policy refused this destination: grant this \
    component access to the LunaTask API's host (api.lunatask.app, or LUNATASK_BASE_URL's)";

/// Who sends this component's requests, as errors name it: our host, or another runtime.
#[cfg(not(feature = "portable"))]
const SENDER: &str = "the host";
#[cfg(feature = "portable")]
const SENDER: &str = "the runtime";

/// The settings the transport messages name. In another runtime they are lunatask-mcp's,
/// not the runtime's: said so.
#[cfg(not(feature = "portable"))]
const CONNECT_TIMEOUT: &str = "LUNATASK_HTTP_TIMEOUT_CONNECT";
#[cfg(feature = "portable")]
const CONNECT_TIMEOUT: &str = "the runtime's connect timeout";
#[cfg(not(feature = "portable"))]
const READ_TIMEOUT: &str = "LUNATASK_HTTP_TIMEOUT_READ";
#[cfg(feature = "portable")]
const READ_TIMEOUT: &str = "the runtime's read timeout";
#[cfg(not(feature = "portable"))]
const STALL_TIMEOUT: &str = "LUNATASK_HTTP_TIMEOUT_WRITE";
#[cfg(feature = "portable")]
const STALL_TIMEOUT: &str = "the runtime's between-bytes timeout";
#[cfg(not(feature = "portable"))]
const TRUST_CA: &str = "set LUNATASK_CA_CERT to the proxy's CA certificate (a PEM file)";
#[cfg(feature = "portable")]
const TRUST_CA: &str = "add the proxy's CA certificate to the certificates the runtime trusts";
const BASE_URL_DEFAULT: &str = ", https://api.lunatask.app/v1 by default";

/// Classifies a failed send in words a person can act on, each naming what to change (never
/// a Rust type's name); waki reports wasi-http error codes inside `anyhow::Error`.
fn transport_error(err: anyhow::Error) -> AttemptError {
    let code = err.downcast_ref::<ErrorCode>().cloned();
    let (failure, code, message) = match &code {
        Some(ErrorCode::HttpRequestDenied) => (
            Failure::Fatal,
            Code::EgressDenied,
            EGRESS_DENIED.to_string(),
        ),
        Some(ErrorCode::ConnectionLimitReached) => (
            Failure::Fatal,
            Code::RateLimited,
            "the local rate limit could not grant a request before this call's deadline; \
             try again shortly"
                .to_string(),
        ),
        Some(ErrorCode::ConnectionRefused) => (
            Failure::NotDelivered,
            Code::NetworkError,
            format!(
                "LunaTask's address refused the connection: check LUNATASK_BASE_URL (the \
                 API's address{BASE_URL_DEFAULT}) and that this machine's network reaches it"
            ),
        ),
        Some(ErrorCode::DnsTimeout | ErrorCode::DnsError(_) | ErrorCode::DestinationNotFound) => (
            Failure::NotDelivered,
            Code::NetworkError,
            format!(
                "LunaTask's host name could not be resolved (DNS): check this machine's \
                 network connection, and the host in LUNATASK_BASE_URL{BASE_URL_DEFAULT}"
            ),
        ),
        Some(ErrorCode::DestinationUnavailable | ErrorCode::DestinationIpUnroutable) => (
            Failure::NotDelivered,
            Code::NetworkError,
            format!(
                "LunaTask could not be reached: check this machine's network connection, \
                 and LUNATASK_BASE_URL{BASE_URL_DEFAULT}"
            ),
        ),
        Some(ErrorCode::ConnectionTimeout) => (
            Failure::NotDelivered,
            Code::Timeout,
            format!(
                "connecting to LunaTask timed out: check this machine's network connection \
                 ({CONNECT_TIMEOUT} sets how long a connect may take)"
            ),
        ),
        Some(ErrorCode::ConnectionReadTimeout) => (
            Failure::Ambiguous,
            Code::Timeout,
            format!(
                "LunaTask did not answer in time ({READ_TIMEOUT} sets how long its answer may \
                 take to start)"
            ),
        ),
        Some(ErrorCode::HttpResponseTimeout) => (
            Failure::Ambiguous,
            Code::Timeout,
            format!(
                "LunaTask's answer stopped arriving midway ({STALL_TIMEOUT} sets how long a \
                 pause between its bytes may be)"
            ),
        ),
        Some(ErrorCode::HttpResponseBodySize(limit)) => (
            Failure::Oversized,
            Code::UpstreamError,
            format!(
                "LunaTask's answer was larger than {SENDER} reads ({}; with lunatask-mcp, \
                 LUNATASK_MAX_ANSWER_BYTES raises it); it was not retried, since it would be as \
                 large again",
                limit.map_or("its limit".to_string(), |bytes| format!("{bytes} bytes"))
            ),
        ),
        Some(ErrorCode::HttpRequestBodySize(_)) => (
            Failure::Fatal,
            Code::InternalError,
            format!(
                "{SENDER} refused to send the request: its body did not end in time or was \
                 larger than this call's memory"
            ),
        ),
        Some(ErrorCode::TlsCertificateError) => (
            Failure::Fatal,
            Code::NetworkError,
            format!(
                "LunaTask's TLS certificate was not trusted, so nothing was sent. Behind a \
                 TLS-intercepting proxy (common on company networks), {TRUST_CA}; otherwise \
                 check LUNATASK_BASE_URL{BASE_URL_DEFAULT}"
            ),
        ),
        Some(ErrorCode::TlsProtocolError | ErrorCode::TlsAlertReceived(_)) => (
            Failure::Fatal,
            Code::NetworkError,
            format!(
                "the secure (TLS) connection to LunaTask could not be set up, so nothing was \
                 sent: check that LUNATASK_BASE_URL is the API's https address{BASE_URL_DEFAULT}; \
                 behind a TLS-intercepting proxy, {TRUST_CA}"
            ),
        ),
        _ => (
            Failure::Ambiguous,
            Code::NetworkError,
            "the connection to LunaTask broke before its answer arrived: check this \
             machine's network connection"
                .to_string(),
        ),
    };
    let retryable =
        !matches!(failure, Failure::Fatal | Failure::Oversized) || code == Code::RateLimited;
    AttemptError {
        failure,
        error: ToolError::new(code, message).retryable(retryable),
        retry_after: None,
    }
}

pub fn monotonic_now() -> u64 {
    wasi::clocks::monotonic_clock::now()
}

pub fn wall_now_unix() -> i64 {
    wasi::clocks::wall_clock::now().seconds as i64
}

fn sleep(duration: Duration) {
    wasi::clocks::monotonic_clock::subscribe_duration(duration.as_nanos() as u64).block();
}

/// A uniform random number in [0, 1) from `wasi:random`.
fn random_unit() -> f64 {
    (wasi::random::random::get_random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_destination_is_explained_for_the_world_it_runs_in() {
        let refused = transport_error(anyhow::Error::new(ErrorCode::HttpRequestDenied));
        assert_eq!(refused.error.code, Code::EgressDenied);
        let says = &refused.error.message;
        if cfg!(feature = "portable") {
            assert!(
                says.contains("runtime's network policy") && !says.contains("the host"),
                "{says}"
            );
        } else {
            assert!(says.contains("only the configured LunaTask API"), "{says}");
        }
    }

    #[test]
    fn the_tool_effect_decides_what_may_be_sent_and_sent_again() {
        use Method::*;
        assert_eq!(replay_for(Effect::Append, Get, "/x"), Ok(Replay::Safe));
        assert_eq!(
            replay_for(Effect::Append, Post, "/journal_entries"),
            Ok(Replay::OnlyIfNotDelivered)
        );
        for effect in [Effect::Create, Effect::Update, Effect::Delete] {
            assert_eq!(replay_for(effect, Put, "/x"), Ok(Replay::Safe));
        }
        let refused = replay_for(Effect::Read, Delete, "/tasks/x").unwrap_err();
        assert_eq!(refused.code, Code::InternalError);
        assert!(refused.message.contains("nothing was sent"));
    }
}
