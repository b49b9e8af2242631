//! The egress gate: the only way out of the sandbox.
//!
//! Every request the guest makes through `wasi:http/outgoing-handler` comes here and goes
//! through one pipeline: destination allow-list → the body read whole, sent with its length
//! → rate limit → token → send (on a shared keep-alive pool, with the configured timeouts)
//! → the answer read whole, secrets removed → metrics. A refusal goes back to the guest as
//! a wasi-http error code, never as a trap. The token is added here and nowhere
//! else; any `Authorization` the guest tries to set is forbidden by the header filter.
//!
//! Also here: who a call is made for ([`users`]), the rate limits ([`ratelimit`]) and their
//! Redis-shared form for replicas ([`shared_limits`]).
//!
//! May use: `settings`, `support`.

mod authorization;
mod body;
mod limits;
pub mod ratelimit;
pub mod shared_limits;
mod tls;
pub mod users;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue};
use http::{HeaderName, Request, Response};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

pub use authorization::authorization;
use body::with_content_length;
use ratelimit::{Caller, RateLimiter};
use shared_limits::SharedLimits;
use tls::{client_error, pooled_client};

use crate::settings::{BaseUrl, Config, RedisUnavailable};
use crate::support::metrics::{Metrics, endpoint_label};
use crate::support::progress::ProgressSender;
use crate::support::redact::Redactor;

/// Sent by the guest on every attempt; logged and forwarded.
const CORRELATION_HEADER: HeaderName = HeaderName::from_static("x-correlation-id");
/// Sent by the guest to number its attempts; read for the retry metric, then removed.
const ATTEMPT_HEADER: HeaderName = HeaderName::from_static("x-lunatask-mcp-attempt");

pub(super) type PooledClient = Client<HttpsConnector<HttpConnector>, WasiBody>;

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
                authorization(token.expose()).ok_or_else(|| {
                    anyhow::anyhow!(
                        "the API token contains characters not allowed in an HTTP header"
                    )
                })
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
pub(super) const NO_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-lunatask-mcp-no-token");

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

fn header_text(value: Option<&HeaderValue>) -> String {
    value
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(64)
        .collect()
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
