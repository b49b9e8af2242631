//! Bodies read whole and bounded: the guest's request body, sent with its length; LunaTask's
//! answer, each gap between bytes and the whole bounded, secrets removed before the guest
//! reads it.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::BodyExt;

use wasmtime_wasi_http::WasiBody;

use super::{Egress, NO_TOKEN_HEADER};
use crate::gate::users::User;
use wasmtime_wasi_http::Error as HttpError;

/// Collects `body` whole, at most `max_bytes` of it and before `deadline`: its own error
/// (a between-bytes timeout, a broken connection), else `too_large` or `too_late`.
async fn collect_bounded<B>(
    body: B,
    max_bytes: usize,
    deadline: Instant,
    too_large: HttpError,
    too_late: HttpError,
) -> Result<Bytes, HttpError>
where
    B: Body<Data = Bytes, Error = HttpError>,
{
    let limited = http_body_util::Limited::new(body, max_bytes);
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) => Err(match error.downcast::<HttpError>() {
            Ok(error) => *error,
            Err(_) => too_large,
        }),
        Err(_) => Err(too_late),
    }
}

/// Reads the guest's whole request body and sends it with its `Content-Length`.
///
/// The guest hands its body over as a stream (waki writes it after `handle`), which hyper
/// would send chunked. Front ends that read bodies by length see an empty body or answer
/// `411 Length Required`; every mainstream client sends a small JSON body with its length.
/// Done here rather than in the guest so that it holds for any component the host runs,
/// and so the head and body leave in one write (over TLS, one record) instead of a head and
/// a frame per chunk. A body that does not end by the call's deadline, or grows past
/// `max_bytes`, is refused before anything is sent.
pub(super) async fn with_content_length(
    request: Request<WasiBody>,
    max_bytes: usize,
    deadline: Instant,
) -> Result<Request<WasiBody>, HttpError> {
    let (mut parts, body) = request.into_parts();
    let bytes = collect_bounded(
        body,
        max_bytes,
        deadline,
        HttpError::HttpRequestBodySize(Some(max_bytes as u64)),
        HttpError::HttpRequestBodySize(None),
    )
    .await?;
    parts.headers.remove(TRANSFER_ENCODING);
    // A GET or DELETE without a body carries no length, as curl sends them; a POST or PUT
    // always does, even when empty.
    let has_body = !bytes.is_empty()
        || !matches!(
            parts.method,
            http::Method::GET | http::Method::DELETE | http::Method::HEAD
        );
    if has_body {
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    } else {
        parts.headers.remove(CONTENT_LENGTH);
    }
    let body = http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync();
    Ok(Request::from_parts(parts, body))
}

impl Egress {
    /// Reads the whole answer here, each gap between bytes bounded by the between-bytes
    /// timeout and the whole by the call's deadline (an answer dripping a byte at a time
    /// stops there), then removes every secret from it. The guest gets either the complete
    /// answer or a typed error from the send itself: a body that stalls or breaks midway
    /// reaches it as a timeout or a dropped connection, which a failed read of a streamed
    /// body cannot say.
    pub(super) async fn read_whole(
        &self,
        response: Response<hyper::body::Incoming>,
        deadline: Instant,
        user: Option<&User>,
    ) -> Result<Response<WasiBody>, HttpError> {
        let (mut parts, body) = response.into_parts();
        let bytes = collect_bounded(
            TimedBody::new(body, self.between_bytes_timeout),
            self.max_answer_bytes,
            deadline,
            HttpError::HttpResponseBodySize(Some(self.max_answer_bytes as u64)),
            HttpError::HttpResponseTimeout,
        )
        .await?;
        // The host's own marker, never LunaTask's: an answer carrying it could otherwise
        // pass its own text off as this server's.
        parts.headers.remove(NO_TOKEN_HEADER);
        self.redactor.headers(&mut parts.headers);
        let mut bytes = self.redactor.body(bytes);
        if let Some(user) = user {
            user.redactor().headers(&mut parts.headers);
            bytes = user.redactor().body(bytes);
        }
        if parts.headers.contains_key(CONTENT_LENGTH) {
            // A redacted body is shorter or longer than the one the API declared.
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        }
        let body = http_body_util::Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync();
        Ok(Response::from_parts(parts, body))
    }
}

/// A response body that fails when no bytes arrive for `timeout`.
struct TimedBody {
    inner: hyper::body::Incoming,
    timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl TimedBody {
    fn new(inner: hyper::body::Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + self.timeout;
                self.sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::HttpResponseTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
