//! The LunaTask API client: one request, with retries, correlation id and error mapping.
//!
//! Requests leave through `wasi:http/outgoing-handler` (via `waki`); the host adds the token,
//! enforces timeouts and the rate limit, and refuses any other destination. This module
//! decides what an answer means and whether to try again (see [`crate::retry`]).
//!
//! Split by job: [`request`] (what is sent, and a success read whole), `attempt` (one
//! attempt, and what a transport failure means), `record` (the action journal's record of
//! each write) and [`answer`] (what a failed answer means); here the client itself, its
//! retry loop and the streaming of long lists.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::effect::Effect;
use crate::error::{Code, ToolError, WriteOutcome};
use crate::retry::{Failure, Policy, Replay};
use crate::stream::{Elements, ShapeError};
pub use crate::subject::Subject;
use crate::{Context, journal, log};

mod answer;
mod attempt;
mod record;
mod request;

pub use answer::status_error;
use answer::{contains, without_secret};
use attempt::{AttemptError, random_unit, replay_for, sleep};
pub use attempt::{monotonic_now, wall_now_unix};
pub use request::{ATTEMPT_HEADER, CORRELATION_HEADER, Method, Reply, Request, segment};

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
}
