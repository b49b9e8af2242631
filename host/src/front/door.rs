//! The HTTP front door: how each accepted connection is served. At most so many at once
//! (more are answered 503 at once and closed), HTTP/1.1 with keep-alive, and two clocks per
//! connection: a request head must arrive within the head timeout of its first byte, and a
//! connection that sends nothing (after it opens or after its last answer) is closed at the
//! idle timeout.
//!
//! Why not hyper's `header_read_timeout`: its clock starts when hyper begins to wait for a
//! head, so it is the idle timeout too (one value for both), and it allocates a timer per
//! request, which cost about a fifth of the calls per second in the bench. Here a request
//! costs two atomic stores and a clock read; a watchdog per connection wakes a few times per
//! head timeout to compare.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body::Frame;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::support::request::ClientAddress;

/// The answer to a connection beyond the cap, written without waiting and then closed.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
content-length: 44\r\nretry-after: 1\r\nconnection: close\r\n\r\ntoo many open connections; try again shortly";

pub struct FrontDoor {
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub connections: Arc<Semaphore>,
}

impl FrontDoor {
    pub fn serve(&self, tcp: TcpStream, app: Router, graceful: &GracefulShutdown) {
        let Ok(permit) = Arc::clone(&self.connections).try_acquire_owned() else {
            // Refused at once, so the descriptor is free again for /healthz and the others.
            let _ = tcp.try_write(OVER_CAPACITY);
            tracing::debug!("connection refused: LUNATASK_MCP_HTTP_MAX_CONNECTIONS reached");
            return;
        };
        // No Nagle: an event stream is written in small pieces (priming event, then the
        // answer), and a client's delayed ACK would otherwise hold the answer back ~40 ms.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let client = tcp.peer_addr().ok().map(|a| ClientAddress(a.ip()));
        let clock = Arc::new(Clock::new());
        let service = {
            let clock = Arc::clone(&clock);
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                clock.set(Phase::Busy);
                if let Some(client) = client {
                    request.extensions_mut().insert(client);
                }
                let answer = app.clone().oneshot(request);
                let clock = Arc::clone(&clock);
                async move {
                    let response = answer.await?;
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| WatchedBody { body, clock }),
                    )
                }
            })
        };
        let io = TokioIo::new(WatchedIo {
            tcp,
            clock: Arc::clone(&clock),
        });
        let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
        let connection = graceful.watch(connection);
        let watchdog = watchdog(clock, self.head_timeout, self.idle_timeout);
        tokio::spawn(serve_until_stopped(connection, watchdog, permit));
    }
}

async fn serve_until_stopped(
    connection: impl Future<Output = hyper::Result<()>>,
    watchdog: impl Future<Output = &'static str>,
    permit: OwnedSemaphorePermit,
) {
    tokio::select! {
        ended = connection => if let Err(error) = ended {
            tracing::debug!(%error, "HTTP connection ended with an error");
        },
        why = watchdog => tracing::debug!("HTTP connection closed: {why}"),
    }
    drop(permit);
}

/// Where a connection is: waiting for a request (idle), receiving a head, or serving.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Idle = 0,
    Head = 1,
    Busy = 2,
}

/// A connection's phase and when it began, shared by its reader, its service and its
/// watchdog.
struct Clock {
    phase: AtomicU8,
    /// Milliseconds since [`epoch`] when the phase began.
    since: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

impl Clock {
    fn new() -> Self {
        Self {
            phase: AtomicU8::new(Phase::Idle as u8),
            since: AtomicU64::new(now_ms()),
        }
    }

    fn set(&self, phase: Phase) {
        self.since.store(now_ms(), Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Idle,
            1 => Phase::Head,
            _ => Phase::Busy,
        }
    }
}

/// Closes the connection (by returning) when its head or idle time is up.
async fn watchdog(clock: Arc<Clock>, head: Duration, idle: Duration) -> &'static str {
    // How often a phase is looked at: a head that started between two looks is caught at
    // most a quarter of its timeout late.
    let every = (head / 4).max(Duration::from_millis(50));
    loop {
        let (limit, why) = match clock.phase() {
            Phase::Idle => (Some(idle), "idle timeout (LUNATASK_MCP_HTTP_IDLE_TIMEOUT)"),
            Phase::Head => (
                Some(head),
                "request head too slow (LUNATASK_MCP_HTTP_HEAD_TIMEOUT)",
            ),
            Phase::Busy => (None, ""),
        };
        let since = clock.since.load(Ordering::Relaxed);
        let now = now_ms();
        let left = limit.map(|limit| {
            let end = since.saturating_add(limit.as_millis() as u64);
            Duration::from_millis(end.saturating_sub(now))
        });
        if left == Some(Duration::ZERO) {
            return why;
        }
        tokio::time::sleep(left.map_or(every, |left| left.min(every))).await;
    }
}

/// The socket, marking the start of a request head when bytes arrive on an idle connection.
struct WatchedIo {
    tcp: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if buf.filled().len() > before && self.clock.phase() == Phase::Idle {
            self.clock.set(Phase::Head);
        }
        read
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// An answer's body; when hyper is done with it (written whole, or the connection gone),
/// the connection is idle again. An event stream keeps it busy for as long as it flows.
struct WatchedBody {
    body: Body,
    clock: Arc<Clock>,
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        self.clock.set(Phase::Idle);
    }
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
