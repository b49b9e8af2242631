//! The egress gate: the only way out of the sandbox.
//!
//! Every request the guest makes through `wasi:http/outgoing-handler` comes here and goes
//! through one pipeline: destination allow-list → the body read whole, sent with its length
//! → rate limit → token → send (on a shared keep-alive pool, with the configured timeouts)
//! → the answer read whole, secrets removed → metrics. A refusal goes back to the guest as
//! a wasi-http error code, never as a trap. The token is added here and nowhere
//! else; any `Authorization` the guest tries to set is forbidden by the header filter.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
use http::{HeaderName, Request, Response};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

use crate::metrics::{Metrics, endpoint_label};
use crate::progress::{Progress, ProgressSender};
use crate::ratelimit::{Caller, RateLimiter};
use crate::redact::Redactor;
use crate::settings::{BaseUrl, Config, RedisUnavailable};
use crate::shared_limits::{SharedError, SharedLimits};
use crate::users::User;

/// Sent by the guest on every attempt; logged and forwarded.
const CORRELATION_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");
/// Sent by the guest to number its attempts; read for the retry metric, then removed.
const ATTEMPT_HEADER: HeaderName = HeaderName::from_static("x-lunatask-mcp-attempt");

/// How long an idle pooled connection to the API is kept: long enough to serve an agent's
/// bursts of calls, short enough to let servers' own keep-alive limits win rarely.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

type PooledClient = Client<HttpsConnector<HttpConnector>, WasiBody>;

/// How many users' buckets are kept before those no call holds are forgotten.
const MAX_IDLE_USER_LIMITERS: usize = 10_000;

/// A bucket: the shared one, or a user's.
enum LimiterRef<'a> {
    Shared(&'a RateLimiter),
    User(Arc<RateLimiter>),
}

impl std::ops::Deref for LimiterRef<'_> {
    type Target = RateLimiter;
    fn deref(&self) -> &RateLimiter {
        match self {
            LimiterRef::Shared(limiter) => limiter,
            LimiterRef::User(limiter) => limiter,
        }
    }
}

/// A wait for the rate limit longer than this is reported as progress.
const REPORTED_WAIT: Duration = Duration::from_secs(1);

/// The gate's app-wide state, shared by every call.
pub struct Egress {
    base: BaseUrl,
    base_path: String,
    /// `None` when no token is configured: then nothing is sent (see [`no_token_answer`]).
    authorization: Option<HeaderValue>,
    client: PooledClient,
    limiter: RateLimiter,
    /// In multi-user mode, each user's own bucket, by their token's keyed hash: one user
    /// spending their limit slows no one else.
    user_limiters: std::sync::Mutex<std::collections::HashMap<Arc<str>, Arc<RateLimiter>>>,
    /// With LUNATASK_REDIS_URL, the per-user limits every replica shares (connected at
    /// start-up, reconnecting on its own).
    shared: Option<Arc<SharedLimits>>,
    /// LUNATASK_REDIS_UNAVAILABLE: what a user's calls do while Redis cannot be reached.
    without_redis: RedisUnavailable,
    rate_burst: u32,
    /// LUNATASK_RATE_LIMIT_RPM, for the message a long wait reports.
    rate_per_minute: u32,
    /// Every secret the host holds, removed from answers before the guest sees them.
    redactor: Redactor,
    metrics: Metrics,
    first_byte_timeout: Duration,
    between_bytes_timeout: Duration,
    /// The largest request body the guest may send: its whole memory, which no body it
    /// builds can exceed; a larger one is a stream it keeps writing, refused.
    max_request_bytes: usize,
    /// LUNATASK_MAX_ANSWER_BYTES: the largest answer read; the guest then streams it.
    max_answer_bytes: usize,
}

impl Egress {
    pub fn new(
        config: &Config,
        metrics: Metrics,
        shared: Option<Arc<SharedLimits>>,
    ) -> anyhow::Result<Self> {
        let authorization = config
            .token
            .as_ref()
            .map(|token| {
                let mut value = HeaderValue::from_str(&token.bearer_header()).map_err(|_| {
                    anyhow::anyhow!(
                        "the API token contains characters not allowed in an HTTP header"
                    )
                })?;
                value.set_sensitive(true);
                anyhow::Ok(value)
            })
            .transpose()?;
        if authorization.is_none() {
            tracing::warn!("{NO_TOKEN}; every call will answer authentication_error until then");
        }
        let base_path = url::Url::parse(&config.settings.base_url.url)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        Ok(Self {
            base: config.settings.base_url.clone(),
            base_path,
            authorization,
            client: pooled_client(config)?,
            limiter: RateLimiter::new(
                config.settings.rate_limit_rpm,
                config.settings.rate_limit_burst,
            ),
            user_limiters: Default::default(),
            shared,
            without_redis: config.settings.redis_unavailable,
            rate_burst: config.settings.rate_limit_burst,
            rate_per_minute: config.settings.rate_limit_rpm,
            redactor: Redactor::new(
                config
                    .token
                    .iter()
                    .map(|t| t.expose())
                    .chain(config.http_auth.as_ref().map(|t| t.expose())),
            ),
            metrics,
            first_byte_timeout: config.settings.first_byte_timeout,
            between_bytes_timeout: config.settings.between_bytes_timeout,
            max_request_bytes: config.settings.memory_limit_bytes(),
            max_answer_bytes: config.settings.max_answer_bytes as usize,
        })
    }

    /// The hooks for one call made for `caller`, which must be done by `deadline`.
    pub fn hooks(self: &Arc<Self>, deadline: Instant, caller: Caller) -> CallHooks {
        CallHooks {
            egress: Arc::clone(self),
            deadline,
            caller,
            progress: None,
        }
    }

    /// The bucket `caller`'s requests draw on: their user's in multi-user mode, else the
    /// one the account shares.
    fn limiter_for(&self, caller: &Caller) -> LimiterRef<'_> {
        let Some(user) = caller.user() else {
            return LimiterRef::Shared(&self.limiter);
        };
        let mut limiters = self.user_limiters.lock().unwrap_or_else(|e| e.into_inner());
        if limiters.len() >= MAX_IDLE_USER_LIMITERS && !limiters.contains_key(user.key()) {
            // Forget the buckets no call holds: a returning user starts with a full burst,
            // which is all they lose; the map cannot grow with every token ever seen.
            limiters.retain(|_, limiter| Arc::strong_count(limiter) > 1);
        }
        let limiter = limiters.entry(Arc::clone(user.key())).or_insert_with(|| {
            self.metrics.user_seen();
            Arc::new(RateLimiter::new(self.rate_per_minute, self.rate_burst))
        });
        LimiterRef::User(Arc::clone(limiter))
    }

    /// A slot in the rate limiter for `caller`; a wait of more than a moment is reported
    /// to `progress`, so that the client sees why the call is slow.
    async fn acquire_reporting(
        &self,
        caller: &Caller,
        deadline: Instant,
        progress: Option<&ProgressSender>,
    ) -> Result<Duration, crate::ratelimit::Exhausted> {
        if let (Some(user), Some(shared)) = (caller.user(), &self.shared) {
            let deadline = tokio::time::Instant::from_std(deadline);
            match shared.acquire(user.key(), deadline).await {
                Ok(waited) => return Ok(waited),
                Err(SharedError::Exhausted(e)) => return Err(e),
                Err(SharedError::Unavailable(cause)) => {
                    if self.without_redis == RedisUnavailable::Closed {
                        tracing::warn!(
                            cause,
                            "Redis is unavailable: a call was refused (LUNATASK_REDIS_UNAVAILABLE=closed)"
                        );
                        return Err(crate::ratelimit::Exhausted);
                    }
                    tracing::warn!(
                        cause,
                        "Redis is unavailable: this replica holds the user to its own limit (LUNATASK_REDIS_UNAVAILABLE=local)"
                    );
                }
            }
        }
        let limiter = self.limiter_for(caller);
        let acquire = limiter.acquire(caller, deadline);
        let Some(progress) = progress else {
            return acquire.await;
        };
        tokio::pin!(acquire);
        tokio::select! {
            acquired = &mut acquire => return acquired,
            () = tokio::time::sleep(REPORTED_WAIT) => {}
        }
        let _ = progress.send(Progress::Waiting(format!(
            "waiting for the rate limit ({} requests a minute, LUNATASK_RATE_LIMIT_RPM)",
            self.rate_per_minute
        )));
        acquire.await
    }

    /// Whether `request` is for the configured API (scheme and authority).
    fn allows(&self, request: &Request<WasiBody>) -> bool {
        let uri = request.uri();
        let scheme_ok = match uri.scheme_str() {
            Some("https") => self.base.https,
            Some("http") => !self.base.https,
            _ => false,
        };
        let authority_ok = uri
            .authority()
            .is_some_and(|a| a.as_str().eq_ignore_ascii_case(&self.base.authority));
        scheme_ok && authority_ok
    }

    async fn send(
        &self,
        mut request: Request<WasiBody>,
        deadline: Instant,
        caller: &Caller,
        progress: Option<&ProgressSender>,
    ) -> Result<Response<WasiBody>, HttpError> {
        let headers = request.headers_mut();
        let correlation_id = header_text(headers.get(&CORRELATION_HEADER));
        let attempt: u32 = header_text(headers.get(&ATTEMPT_HEADER))
            .parse()
            .unwrap_or(1);
        headers.remove(&ATTEMPT_HEADER);
        headers.remove(AUTHORIZATION);

        if !self.allows(&request) {
            self.metrics.denied();
            tracing::warn!(
                correlation_id,
                scheme = request.uri().scheme_str().unwrap_or(""),
                authority = request.uri().authority().map(|a| a.as_str()).unwrap_or(""),
                "egress denied: only the configured LunaTask API may be reached"
            );
            return Err(HttpError::HttpRequestDenied);
        }
        // In multi-user mode the caller's own token, which no other call ever carries.
        let user = caller.user();
        let Some(authorization) = user
            .map(|u| u.authorization())
            .or(self.authorization.as_ref())
        else {
            return Ok(no_token_answer());
        };
        let mut request = with_content_length(request, self.max_request_bytes, deadline).await?;

        let waited = self
            .acquire_reporting(caller, deadline, progress)
            .await
            .map_err(|_| HttpError::ConnectionLimitReached)?;
        if !waited.is_zero() {
            self.metrics.rate_limit_wait();
            tracing::debug!(
                correlation_id,
                waited_ms = waited.as_millis() as u64,
                "rate limit wait"
            );
        }

        request
            .headers_mut()
            .insert(AUTHORIZATION, authorization.clone());
        let method = request.method().as_str().to_string();
        let endpoint = endpoint_label(&method, request.uri().path(), &self.base_path);
        let first_byte = self
            .first_byte_timeout
            .min(deadline.saturating_duration_since(Instant::now()));

        let started = Instant::now();
        let outcome = match tokio::time::timeout(first_byte, self.client.request(request)).await {
            Ok(Ok(response)) => self.read_whole(response, deadline, user).await,
            Ok(Err(e)) => Err(client_error(&e)),
            Err(_) => Err(HttpError::ConnectionReadTimeout),
        };
        let seconds = started.elapsed().as_secs_f64();
        let status = outcome.as_ref().ok().map(|r| r.status().as_u16());
        self.metrics
            .request(&endpoint, status, seconds, attempt > 1);
        match &outcome {
            Ok(_) => tracing::debug!(
                correlation_id,
                endpoint,
                attempt,
                status,
                ms = seconds * 1000.0,
                "api request"
            ),
            Err(error) => tracing::info!(
                correlation_id, endpoint, attempt, error = ?error, ms = seconds * 1000.0,
                "api request failed"
            ),
        }
        outcome
    }
}

/// What to set when no token is configured; the guest shows it (see `NO_TOKEN_HEADER`).
const NO_TOKEN: &str = "no LunaTask access token: set LUNATASK_API_TOKEN, or \
LUNATASK_TOKEN_FILE (--token-file) to a file holding it, in this server's environment (for an \
MCP client, the \"env\" of its entry for this server), then restart it; create a token in the \
LunaTask desktop app under Settings, Access tokens";

/// Marks the host's own 401 for a missing token, so the guest tells it from LunaTask's.
const NO_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-lunatask-mcp-no-token");

/// The answer to a request when no token is configured: a 401 the host makes itself,
/// marked as its own; nothing is sent to LunaTask.
fn no_token_answer() -> Response<WasiBody> {
    let body = serde_json::json!({ "message": NO_TOKEN }).to_string();
    let body = http_body_util::Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = http::StatusCode::UNAUTHORIZED;
    response
        .headers_mut()
        .insert(NO_TOKEN_HEADER, HeaderValue::from_static("1"));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

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
async fn with_content_length(
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
    async fn read_whole(
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

fn header_text(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(64)
        .collect()
}

fn pooled_client(config: &Config) -> anyhow::Result<PooledClient> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &config.settings.ca_cert {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("LUNATASK_CA_CERT {}: {e}", path.display()))?;
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert =
                cert.map_err(|e| anyhow::anyhow!("LUNATASK_CA_CERT {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("LUNATASK_CA_CERT {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            anyhow::bail!(
                "LUNATASK_CA_CERT {}: no PEM certificates found",
                path.display()
            );
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.settings.connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(https))
}

/// Maps a client failure to the wasi-http code the guest classifies: connect-phase errors
/// mean the request was never delivered; anything later is ambiguous.
fn client_error(error: &hyper_util::client::legacy::Error) -> HttpError {
    if !error.is_connect() {
        return HttpError::ConnectionTerminated;
    }
    let mut io_kind = None;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(_) => HttpError::TlsCertificateError,
                _ => HttpError::TlsProtocolError,
            };
        }
        // io::Error's `source` skips the error it wraps; look inside explicitly.
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => {
                io_kind.get_or_insert(io.kind());
                io.get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static))
            }
            None => e.source(),
        };
    }
    match io_kind {
        Some(std::io::ErrorKind::TimedOut) => HttpError::ConnectionTimeout,
        Some(std::io::ErrorKind::ConnectionRefused) => HttpError::ConnectionRefused,
        _ => HttpError::DestinationUnavailable,
    }
}

/// The per-call view of the gate that wasmtime-wasi-http calls into.
pub struct CallHooks {
    egress: Arc<Egress>,
    deadline: Instant,
    /// Whose turn this call's requests take in the rate limiter.
    caller: Caller,
    /// Where a long wait for the rate limit is reported, when the client asked for progress.
    pub progress: Option<ProgressSender>,
}

impl WasiHttpHooks for CallHooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        Arc::new(|name| *name == AUTHORIZATION || DEFAULT_FORBIDDEN_HEADERS.contains(name))
    }

    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        // The guest's own timeout options are ignored: the host's configuration decides.
        let egress = Arc::clone(&self.egress);
        let deadline = self.deadline;
        let caller = self.caller.clone();
        let progress = self.progress.clone();
        Box::new(async move {
            let response = egress
                .send(request, deadline, &caller, progress.as_ref())
                .await?;
            // The pooled client drives its connections itself; nothing more to await.
            let io: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, io))
        })
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
