//! The stdio transport: newline-delimited JSON-RPC in front of rmcp, answering every line.
//!
//! rmcp's own line transport drops what it cannot parse without a word (a line that is not
//! JSON, not UTF-8, nested too deep or too long), answers wrong parameter types as an
//! unknown method, loses one of two answers when two requests in flight share an id, and
//! ignores a last line without a newline. A client then waits forever. JSON-RPC 2.0 wants an
//! answer for each: a parse error with a null id, an invalid request, invalid params. The
//! parsing of well-formed messages stays rmcp's; this adds only the answers for the rest.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, ClientNotification, ClientRequest, InitializeRequestParams,
    JsonRpcMessage, PaginatedRequestParams, ReadResourceRequestParams, RequestId,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::{Reader, Writer};

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;

/// UTF-8 byte order mark, which RFC 8259 lets a parser ignore.
const BOM: &[u8] = b"\xEF\xBB\xBF";

pub struct StdioTransport {
    lines: Lines,
    out: Arc<tokio::sync::Mutex<Option<Writer>>>,
    /// Ids of requests read and not yet answered: a second request with one of them is
    /// refused, as its answer could not be told from the first's.
    in_flight: Arc<Mutex<HashSet<RequestId>>>,
    /// Our own error answers, each written by a task of its own (so that `receive` stays
    /// cancel-safe), awaited before the writer is closed.
    answers: TaskTracker,
    /// The answer to the line just read, until a slot to write it is free.
    owed: Option<Value>,
    /// At most [`MAX_OWED`] of our answers wait to be written: a client that sends bad lines
    /// without reading its answers stops being read, as a client that never reads rmcp's.
    slots: Arc<Semaphore>,
}

/// Our own answers waiting for stdout at once, at most.
const MAX_OWED: usize = 64;

impl StdioTransport {
    pub fn new(read: Reader, write: Writer, max_message_bytes: usize) -> Self {
        Self {
            lines: Lines {
                read: BufReader::with_capacity(64 * 1024, read),
                line: Vec::new(),
                discarding: false,
                max: max_message_bytes,
            },
            out: Arc::new(tokio::sync::Mutex::new(Some(write))),
            in_flight: Arc::default(),
            answers: TaskTracker::new(),
            owed: None,
            slots: Arc::new(Semaphore::new(MAX_OWED)),
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<RequestId>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends the owed answer (a JSON-RPC error we make ourselves) once a slot is free,
    /// without waiting for it to be written. Cancel-safe: a wait cut short keeps it owed.
    async fn pay_owed(&mut self) {
        if self.owed.is_none() {
            return;
        }
        let Ok(slot) = Arc::clone(&self.slots).acquire_owned().await else {
            return;
        };
        let Some(answer) = self.owed.take() else {
            return;
        };
        let mut bytes = answer.to_string().into_bytes();
        bytes.push(b'\n');
        let out = Arc::clone(&self.out);
        self.answers.spawn(async move {
            if let Some(write) = out.lock().await.as_mut() {
                // A client that has gone cannot be told; the read side sees the EOF.
                let _ = write_line(write, &bytes).await;
            }
            drop(slot);
        });
    }

    /// What a complete line holds: a message for rmcp, an answer of ours, or nothing.
    fn decode(&self, line: &[u8]) -> Decoded {
        let line = line.strip_prefix(BOM).unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Decoded::Nothing;
        }
        match serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(line) {
            Ok(JsonRpcMessage::Request(request)) => {
                if let ClientRequest::CustomRequest(custom) = &request.request
                    && let Some(why) = invalid_params(&custom.method, line)
                {
                    return Decoded::Answer(error(
                        Some(&request.id),
                        INVALID_PARAMS,
                        format!("invalid params for {}: {why}", custom.method),
                    ));
                }
                if !self.in_flight().insert(request.id.clone()) {
                    return Decoded::Answer(error(
                        Some(&request.id),
                        INVALID_REQUEST,
                        format!(
                            "request id {} is already used by a request in progress; use a new id for each request",
                            id_text(&request.id)
                        ),
                    ));
                }
                Decoded::Message(JsonRpcMessage::Request(request))
            }
            Ok(JsonRpcMessage::Notification(notification)) => {
                if let ClientNotification::CancelledNotification(cancelled) =
                    &notification.notification
                    && let Some(id) = &cancelled.params.request_id
                {
                    // rmcp sends no answer to a cancelled request; its id is free again.
                    self.in_flight().remove(id);
                }
                Decoded::Message(JsonRpcMessage::Notification(notification))
            }
            Ok(message) => Decoded::Message(message),
            Err(e) => diagnose(line, &e),
        }
    }
}

#[allow(
    clippy::large_enum_variant,
    reason = "moved once per line; boxing would cost an allocation per message"
)]
enum Decoded {
    Message(RxJsonRpcMessage<RoleServer>),
    Answer(Value),
    Nothing,
}

/// Why `line` is not a message rmcp can take.
fn diagnose(line: &[u8], parse_error: &serde_json::Error) -> Decoded {
    let value: Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        // Not UTF-8, not JSON, or nested past serde_json's limit of 128 levels.
        Err(e) => return Decoded::Answer(error(None, PARSE_ERROR, format!("parse error: {e}"))),
    };
    let Value::Object(object) = &value else {
        let why = if value.is_array() {
            "a batch (a JSON array) is not supported by MCP; send one message per line"
        } else {
            "a JSON-RPC message is a JSON object"
        };
        return Decoded::Answer(error(None, INVALID_REQUEST, why.to_string()));
    };
    let method = object.get("method").and_then(Value::as_str);
    let Some(raw_id) = object.get("id") else {
        // A notification is never answered, even a malformed one.
        tracing::debug!(
            method,
            "dropped a notification that is not valid: {parse_error}"
        );
        return Decoded::Nothing;
    };
    let id = serde_json::from_value::<RequestId>(raw_id.clone()).ok();
    if let (Some(id), Some(method)) = (&id, method)
        && let Some(why) = invalid_params(method, line)
    {
        return Decoded::Answer(error(
            Some(id),
            INVALID_PARAMS,
            format!("invalid params for {method}: {why}"),
        ));
    }
    if method.is_none() && id.is_some() {
        // A response: this server sends the client no requests, so there is nothing to
        // match it with, and a response is never answered.
        tracing::debug!("dropped a response to no request of ours: {parse_error}");
        return Decoded::Nothing;
    }
    let why = if id.is_none() {
        "the id must be a string or an integer".to_string()
    } else {
        format!("not a JSON-RPC 2.0 request: {parse_error}")
    };
    Decoded::Answer(error(id.as_ref(), INVALID_REQUEST, why))
}

/// Why the params of a request for `method`, one this server serves, do not fit it; `None`
/// when they do or when the method is not one of ours (rmcp answers those).
fn invalid_params(method: &str, line: &[u8]) -> Option<String> {
    fn check<T: serde::de::DeserializeOwned>(params: Value) -> Option<String> {
        serde_json::from_value::<T>(params)
            .err()
            .map(|e| e.to_string())
    }
    let params = serde_json::from_slice::<Value>(line)
        .ok()?
        .get("params")
        .cloned();
    let listing = |params: Option<Value>| match params {
        None | Some(Value::Null) => None,
        Some(p) => check::<PaginatedRequestParams>(p),
    };
    match method {
        "tools/call" => check::<CallToolRequestParams>(params.unwrap_or(Value::Null)),
        "resources/read" => check::<ReadResourceRequestParams>(params.unwrap_or(Value::Null)),
        "initialize" => check::<InitializeRequestParams>(params.unwrap_or(Value::Null)),
        "tools/list" | "resources/list" | "resources/templates/list" => listing(params),
        _ => None,
    }
}

fn id_text(id: &RequestId) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

/// A JSON-RPC error answer; `id` is null when the request's id could not be read.
fn error(id: Option<&RequestId>, code: i64, message: String) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    })
}

async fn write_line(write: &mut Writer, bytes: &[u8]) -> std::io::Result<()> {
    write.write_all(bytes).await?;
    write.flush().await
}

/// Newline-delimited lines, each at most `max` bytes; longer ones are skipped.
struct Lines {
    read: BufReader<Reader>,
    /// The line read so far, kept across cancelled reads.
    line: Vec<u8>,
    /// Skipping the rest of a line already found too long.
    discarding: bool,
    max: usize,
}

enum Line {
    /// A whole line, without its newline (the last one may have none).
    Complete,
    TooLong,
    End,
    Failed(std::io::Error),
}

impl Lines {
    /// Reads the next line into `self.line`. Cancel-safe: `fill_buf` takes nothing when
    /// dropped, and what it returned is copied and consumed with no await in between.
    async fn next(&mut self) -> Line {
        loop {
            let available = match self.read.fill_buf().await {
                Ok(available) => available,
                Err(e) => return Line::Failed(e),
            };
            if available.is_empty() {
                // The end of input: a last line without a newline is still a line.
                if self.discarding || self.line.is_empty() {
                    self.discarding = false;
                    return Line::End;
                }
                return Line::Complete;
            }
            let newline = memchr::memchr(b'\n', available);
            let take = newline.map_or(available.len(), |at| at + 1);
            let body = newline.unwrap_or(available.len());
            let too_long = !self.discarding && self.line.len() + body > self.max;
            if !self.discarding && !too_long {
                self.line.extend_from_slice(&available[..body]);
            }
            self.read.consume(take);
            if too_long {
                self.line = Vec::new();
                self.discarding = newline.is_none();
                return Line::TooLong;
            }
            if newline.is_some() {
                if std::mem::take(&mut self.discarding) {
                    continue;
                }
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
                return Line::Complete;
            }
        }
    }
}

impl Transport<RoleServer> for StdioTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let answered = match &item {
            JsonRpcMessage::Response(response) => Some(response.id.clone()),
            JsonRpcMessage::Error(error) => error.id.clone(),
            _ => None,
        };
        if let Some(id) = answered {
            // Freed before the answer leaves: a client may reuse the id the moment it reads it.
            self.in_flight().remove(&id);
        }
        let bytes = serde_json::to_vec(&item).map(|mut bytes| {
            bytes.push(b'\n');
            bytes
        });
        let out = Arc::clone(&self.out);
        async move {
            let bytes = bytes?;
            match out.lock().await.as_mut() {
                Some(write) => write_line(write, &bytes).await,
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "stdout is closed",
                )),
            }
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            self.pay_owed().await;
            let read = self.lines.next().await;
            match read {
                Line::Complete => {
                    let line = std::mem::take(&mut self.lines.line);
                    match self.decode(&line) {
                        Decoded::Message(message) => return Some(message),
                        Decoded::Answer(answer) => self.owed = Some(answer),
                        Decoded::Nothing => {}
                    }
                }
                Line::TooLong => {
                    let max = self.lines.max;
                    tracing::warn!(max, "refused a message longer than the limit");
                    self.owed = Some(error(
                        None,
                        INVALID_REQUEST,
                        format!(
                            "message longer than {max} bytes; LUNATASK_MAX_MESSAGE_BYTES (--max-message-bytes) raises the limit"
                        ),
                    ));
                }
                Line::End => {
                    self.pay_owed().await;
                    return None;
                }
                Line::Failed(e) => {
                    tracing::error!("reading stdin failed: {e}");
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Our own answers still being written go out before stdout closes.
        self.answers.close();
        self.answers.wait().await;
        let mut out = self.out.lock().await;
        if let Some(mut write) = out.take() {
            let _ = write.shutdown().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport() -> StdioTransport {
        StdioTransport::new(
            Box::new(tokio::io::empty()),
            Box::new(tokio::io::sink()),
            1024,
        )
    }

    fn answer(line: &str) -> Value {
        match transport().decode(line.as_bytes()) {
            Decoded::Answer(answer) => answer,
            Decoded::Message(m) => panic!("{line:?} passed as {m:?}"),
            Decoded::Nothing => panic!("{line:?} got no answer"),
        }
    }

    #[test]
    fn every_bad_request_gets_the_right_error() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let cases = [
            ("not json", PARSE_ERROR, Value::Null),
            ("{\"jsonrpc\":\"2.0\",\"id\":1,", PARSE_ERROR, Value::Null),
            (deep.as_str(), PARSE_ERROR, Value::Null),
            ("[1,2]", INVALID_REQUEST, Value::Null),
            ("42", INVALID_REQUEST, Value::Null),
            (
                r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
                INVALID_REQUEST,
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":5}}"#,
                INVALID_PARAMS,
                json!(7),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":"ping"}"#,
                INVALID_PARAMS,
                json!("a"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":8,"method":"resources/read","params":{"uri":[]}}"#,
                INVALID_PARAMS,
                json!(8),
            ),
        ];
        for (line, code, id) in cases {
            let answer = answer(line);
            assert_eq!(answer["error"]["code"], code, "{line:.60}: {answer}");
            assert_eq!(answer["id"], id, "{line:.60}: {answer}");
            assert!(
                answer.get("id").is_some(),
                "the id is present, null if unknown"
            );
        }
    }

    #[test]
    fn not_utf8_is_a_parse_error() {
        let bytes = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}";
        let Decoded::Answer(answer) = transport().decode(bytes) else {
            panic!("no answer");
        };
        assert_eq!(answer["error"]["code"], PARSE_ERROR);
    }

    #[test]
    fn notifications_and_blank_lines_are_never_answered() {
        let t = transport();
        for line in [
            "",
            "  \t",
            r#"{"jsonrpc":"2.0","method":"tools/call","params":5}"#,
        ] {
            assert!(
                matches!(t.decode(line.as_bytes()), Decoded::Nothing),
                "{line:?}"
            );
        }
    }

    #[test]
    fn an_id_in_flight_is_refused_until_answered_or_cancelled() {
        let t = transport();
        let ping = br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#;
        assert!(matches!(t.decode(ping), Decoded::Message(_)));
        let Decoded::Answer(refused) = t.decode(ping) else {
            panic!("a second request with id 3 passed");
        };
        assert_eq!(refused["id"], 3);
        assert_eq!(refused["error"]["code"], INVALID_REQUEST);
        let cancel =
            br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}"#;
        assert!(matches!(t.decode(cancel), Decoded::Message(_)));
        assert!(matches!(t.decode(ping), Decoded::Message(_)));
    }

    async fn lines_of(input: &'static [u8], max: usize) -> Vec<Result<String, &'static str>> {
        let mut lines = Lines {
            read: BufReader::with_capacity(4, Box::new(input) as Reader),
            line: Vec::new(),
            discarding: false,
            max,
        };
        let mut out = Vec::new();
        loop {
            match lines.next().await {
                Line::Complete => out.push(Ok(
                    String::from_utf8(std::mem::take(&mut lines.line)).unwrap()
                )),
                Line::TooLong => out.push(Err("too long")),
                Line::End => return out,
                Line::Failed(e) => panic!("{e}"),
            }
        }
    }

    /// A client that sends bad lines and never reads its answers: at most `MAX_OWED`
    /// answers wait, and the rest of its input waits unread.
    #[tokio::test]
    async fn unread_answers_stop_the_reading() {
        let input: &'static [u8] = "not json\n".repeat(1_000).leak().as_bytes();
        let (write, _unread) = tokio::io::duplex(64);
        let mut t = StdioTransport::new(Box::new(input), Box::new(write), 1024);
        let read = tokio::time::timeout(std::time::Duration::from_millis(300), t.receive()).await;
        assert!(read.is_err(), "still waiting to answer, not reading on");
        assert!(
            t.answers.len() <= MAX_OWED,
            "{} answers waiting",
            t.answers.len()
        );
        assert!(t.owed.is_some(), "the next answer is kept, not lost");
    }

    #[tokio::test]
    async fn lines_are_bounded_and_the_last_needs_no_newline() {
        let got = lines_of(b"ab\r\nabcdefghijkl\nxyz\n\nlast", 8).await;
        assert_eq!(
            got,
            vec![
                Ok("ab".into()),
                Err("too long"),
                Ok("xyz".into()),
                Ok("".into()),
                Ok("last".into())
            ]
        );
        // Too long right at the end, without a newline: refused once, nothing after.
        assert_eq!(
            lines_of(b"ok\nabcdefghijkl", 8).await,
            vec![Ok("ok".into()), Err("too long")]
        );
    }
}
