//! Answers kept for resumption: a client whose event stream broke reconnects with
//! `Last-Event-ID` and gets what it missed, also when the answer was produced after the
//! break.
//!
//! rmcp caches a request's events while its stream is open, but drops the cache the moment
//! the final answer is sent; a client that lost its connection during the call then resumes
//! into an empty stream and the answer is gone (rmcp logs "Resume failed ... Channel
//! closed"). So every request stream is read to its end here, whether or not the client is
//! still there (as the client reads it, then on a task of its own once the client has gone),
//! and its events kept for [`KEEP_FOR`] after the answer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use rmcp::model::{JsonRpcMessage, ResourceContents, ServerResult};
use rmcp::transport::streamable_http_server::session::{ServerSseMessage, SessionId};

/// How long a finished request's events stay available for resumption (rmcp's own default
/// for the requests it does keep).
pub const KEEP_FOR: Duration = Duration::from_secs(60);
/// At most this many requests' events are kept at once, the oldest finished first to go.
const MAX_KEPT: usize = 1024;
/// At most about this many bytes of answers are kept at once (as the default for the bytes
/// waiting calls may hold, `LUNATASK_MAX_PENDING_BYTES`), the oldest finished first to go.
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// An event id as rmcp writes it: `index/http_request_id`.
fn parse(event_id: &str) -> Option<(u64, usize)> {
    let (index, request) = event_id.split_once('/')?;
    Some((request.parse().ok()?, index.parse().ok()?))
}

struct Kept {
    /// By index: a stream read twice (live, then resumed) is kept once.
    events: BTreeMap<usize, ServerSseMessage>,
    /// When the final answer was read; `None` while the request runs.
    finished: Option<Instant>,
    /// When an event last arrived, or the stream ended: eviction counts from here.
    touched: Instant,
    /// About how much memory its events hold (see [`approximate_bytes`]).
    bytes: usize,
}

type Key = (SessionId, u64);

#[derive(Default)]
pub struct Replay {
    kept: Mutex<HashMap<Key, Kept>>,
    /// The sum of every kept request's `bytes`.
    bytes: std::sync::atomic::AtomicUsize,
    /// Finished requests, oldest first, for eviction.
    finished: Mutex<VecDeque<Key>>,
}

impl Replay {
    /// `stream` with each event kept as the client reads it; if the client goes away before
    /// the end, the rest is read on a task of its own, so an answer produced meanwhile is
    /// kept too. No extra hop while the client is there.
    pub fn tee(
        self: &Arc<Self>,
        session: &SessionId,
        stream: impl Stream<Item = ServerSseMessage> + Send + Sync + 'static,
    ) -> Tee {
        Tee {
            inner: Some(Box::pin(stream)),
            replay: Arc::clone(self),
            session: session.clone(),
            request: None,
        }
    }

    /// Keeps `event`; returns the request it belongs to.
    fn keep(&self, session: &SessionId, event: &ServerSseMessage) -> Option<u64> {
        let (request, index) = event.event_id.as_deref().and_then(parse)?;
        let is_answer = event
            .message
            .as_deref()
            .is_some_and(|m| matches!(m, JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_)));
        let key = (session.clone(), request);
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = kept.entry(key.clone()).or_insert_with(|| Kept {
            events: BTreeMap::new(),
            finished: None,
            touched: Instant::now(),
            bytes: 0,
        });
        if let std::collections::btree_map::Entry::Vacant(slot) = entry.events.entry(index) {
            let size = approximate_bytes(event);
            entry.bytes += size;
            self.bytes.fetch_add(size, Ordering::Relaxed);
            slot.insert(event.clone());
        }
        entry.touched = Instant::now();
        if is_answer && entry.finished.is_none() {
            entry.finished = Some(Instant::now());
            let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
            finished.push_back(key);
            self.evict(&mut kept, &mut finished);
        }
        Some(request)
    }

    /// A request's stream ended without an answer (cancelled, or its session closed): it
    /// is evicted once untouched for [`KEEP_FOR`].
    fn ended(&self, session: &SessionId, request: u64) {
        let key = (session.clone(), request);
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = kept.get_mut(&key)
            && entry.finished.is_none()
        {
            entry.touched = Instant::now();
            let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
            finished.push_back(key);
            self.evict(&mut kept, &mut finished);
        }
    }

    /// The events after `last_event_id` of a request that has finished, if they are kept;
    /// `None` for a request still running (rmcp resumes those) or unknown.
    pub fn after(&self, session: &SessionId, last_event_id: &str) -> Option<Vec<ServerSseMessage>> {
        let (request, index) = parse(last_event_id)?;
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = kept.get(&(session.clone(), request))?;
        let finished = entry.finished?;
        if finished.elapsed() > KEEP_FOR {
            return None;
        }
        Some(
            entry
                .events
                .range(index + 1..)
                .map(|(_, e)| e.clone())
                .collect(),
        )
    }

    /// Forgets every request of `session` (it has ended).
    pub fn forget(&self, session: &SessionId) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|(s, _), k| {
            let keep = s != session;
            if !keep {
                self.bytes.fetch_sub(k.bytes, Ordering::Relaxed);
            }
            keep
        });
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        finished.retain(|(s, _)| s != session);
    }
}

type Events = Pin<Box<dyn Stream<Item = ServerSseMessage> + Send + Sync>>;

/// A request's event stream as the client reads it (see [`Replay::tee`]).
pub struct Tee {
    /// `None` once the stream has ended.
    inner: Option<Events>,
    replay: Arc<Replay>,
    session: SessionId,
    request: Option<u64>,
}

impl Stream for Tee {
    type Item = ServerSseMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(event)) => {
                let kept = this.replay.keep(&this.session, &event);
                this.request = this.request.or(kept);
                Poll::Ready(Some(event))
            }
            Poll::Ready(None) => {
                this.inner = None;
                if let Some(request) = this.request {
                    this.replay.ended(&this.session, request);
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        // The client went away mid-stream: read the rest, so that it can resume.
        let Some(inner) = self.inner.take() else {
            return;
        };
        let mut rest = Tee {
            inner: Some(inner),
            replay: Arc::clone(&self.replay),
            session: self.session.clone(),
            request: self.request,
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { while rest.next().await.is_some() {} });
        }
    }
}

impl Replay {
    /// Drops ended requests untouched for [`KEEP_FOR`], and the oldest beyond [`MAX_KEPT`]
    /// or [`MAX_BYTES`].
    fn evict(&self, kept: &mut HashMap<Key, Kept>, finished: &mut VecDeque<Key>) {
        while let Some(oldest) = finished.front() {
            let expired = kept
                .get(oldest)
                .is_none_or(|k| k.touched.elapsed() > KEEP_FOR);
            let over = kept.len() > MAX_KEPT || self.bytes.load(Ordering::Relaxed) > MAX_BYTES;
            if !expired && !over {
                break;
            }
            if let Some(key) = finished.pop_front()
                && let Some(gone) = kept.remove(&key)
            {
                self.bytes.fetch_sub(gone.bytes, Ordering::Relaxed);
            }
        }
    }
}

/// About how much memory an event holds: a tool's or resource's text twice (the text and
/// the structured copy), a small constant for the rest. Counted, not serialized: the bound
/// must cost less than the answer.
fn approximate_bytes(event: &ServerSseMessage) -> usize {
    let text = match event.message.as_deref() {
        Some(JsonRpcMessage::Response(response)) => match &response.result {
            ServerResult::CallToolResult(result) => result
                .content
                .iter()
                .filter_map(|c| c.as_text())
                .map(|t| t.text.len() * 2)
                .sum(),
            ServerResult::ReadResourceResult(result) => result
                .contents
                .iter()
                .map(|c| match c {
                    ResourceContents::TextResourceContents { text, .. } => text.len(),
                    ResourceContents::BlobResourceContents { blob, .. } => blob.len(),
                    _ => 0,
                })
                .sum(),
            _ => 0,
        },
        _ => 0,
    };
    text + 512
}

#[cfg(test)]
mod tests {
    use rmcp::model::{CallToolResult, ContentBlock, RequestId, ServerJsonRpcMessage};

    use super::*;

    fn answer(request: u64, text_bytes: usize) -> ServerSseMessage {
        let result = CallToolResult::success(vec![ContentBlock::text("x".repeat(text_bytes))]);
        ServerSseMessage::new(
            format!("1/{request}"),
            ServerJsonRpcMessage::response(
                ServerResult::CallToolResult(result),
                RequestId::Number(request as i64),
            ),
        )
    }

    #[test]
    fn a_finished_request_is_resumed_from_after_the_last_event_seen() {
        let replay = Replay::default();
        let session: SessionId = "s".into();
        let mut priming = ServerSseMessage::retry(Duration::from_secs(3));
        priming.event_id = Some("0/7".into());
        replay.keep(&session, &priming);
        assert!(
            replay.after(&session, "0/7").is_none(),
            "still running: rmcp's"
        );
        replay.keep(&session, &answer(7, 10));
        let missed = replay.after(&session, "0/7").unwrap();
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].event_id.as_deref(), Some("1/7"));
        assert_eq!(replay.after(&session, "1/7").unwrap().len(), 0);
        assert!(
            replay.after(&"other".into(), "0/7").is_none(),
            "per session"
        );
        replay.forget(&session);
        assert!(replay.after(&session, "0/7").is_none());
        assert_eq!(replay.bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn answers_beyond_the_byte_budget_evict_the_oldest() {
        let replay = Replay::default();
        let session: SessionId = "s".into();
        let big = MAX_BYTES / 5; // counted twice: text and structured copy
        for request in 0..3 {
            replay.keep(&session, &answer(request, big));
        }
        assert!(replay.after(&session, "0/0").is_none(), "the oldest went");
        assert!(replay.after(&session, "0/1").is_some());
        assert!(replay.after(&session, "0/2").is_some());
        assert!(replay.bytes.load(Ordering::Relaxed) <= MAX_BYTES);
    }
}
