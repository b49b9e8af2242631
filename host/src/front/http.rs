//! Streamable HTTP: `/mcp` through rmcp's transport, plus `/metrics` (Prometheus text) and
//! `/healthz`. Every route checks `Host` and `Origin` (DNS-rebinding defence, 403) and, when
//! LUNATASK_MCP_AUTH_TOKEN is set, `/mcp` and `/metrics` require it as a bearer token (401).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::server::graceful::GracefulShutdown;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::front::door::FrontDoor;
use crate::front::guard::{host_allowed, origin_allowed};
use crate::front::sessions::Sessions;
use crate::gate::users::Users;
use crate::mcp::selection::ReadOnlyGrant;
use crate::mcp::{LunaTaskServer, TokenRefused};
use crate::oauth::OAuth;
use crate::settings::Config;
use crate::settings::origins::{AllowedHost, AllowedOrigin};
use crate::support::metrics::Metrics;
use crate::support::request::{ClientAddress, bearer};
use crate::support::secret::Secret;
use crate::support::token_checks::TokenChecks;

/// How long open connections may linger after the last call was answered.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What the request guards check.
struct Guard {
    allowed_hosts: Vec<AllowedHost>,
    allowed_origins: Vec<AllowedOrigin>,
    auth: Option<Secret>,
}

/// Serves until `shutdown` is cancelled; announces the bound address on stderr.
/// `identify` is how a multi-user server knows each request's caller (`None`: one user's
/// server); the composition root builds it.
pub async fn serve(
    server: LunaTaskServer,
    metrics: Metrics,
    config: &Config,
    stop: CancellationToken,
    identify: Option<Identify>,
) -> anyhow::Result<()> {
    let settings = &config.settings;
    let addr = settings.http.expect("serve is called with an address");
    let mcp_config = StreamableHttpServerConfig::default()
        // Our guard (`check_host_and_origin`) checks every route; two checks could disagree.
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(settings.max_message_bytes())
        // Stateless (2026-07-28) requests: a call that sends nothing before its answer is
        // answered with one JSON body rather than an event stream; rmcp falls back to the
        // stream when something does come first. Session clients keep their event streams
        // (and SEP-1699 resumption).
        .with_json_response(true)
        .with_cancellation_token(stop.child_token());
    let sessions = Arc::new(Sessions::new(
        settings.max_sessions as usize,
        settings.session_idle_timeout,
    ));
    tokio::spawn(Arc::clone(&sessions).keep_pruned());
    let owners = Arc::clone(&sessions);
    let mcp =
        StreamableHttpService::new(move || Ok(server.for_new_session()), sessions, mcp_config);
    let mut allowed_origins = settings.allowed_origins.clone();
    if let Some(public) = settings.public_url.as_ref().filter(|_| settings.oauth) {
        // The consent form posts from the server's own pages.
        allowed_origins.push(AllowedOrigin::parse(&public.origin).map_err(anyhow::Error::msg)?);
    }
    let guard = Arc::new(Guard {
        allowed_hosts: settings.allowed_hosts.clone(),
        allowed_origins,
        auth: config.http_auth.clone(),
    });
    let metrics_route = get(move || {
        let metrics = metrics.clone();
        async move {
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                metrics.prometheus_text(),
            )
        }
    });
    let mut mcp = Router::new()
        .route_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&owners),
            admit_session,
        ))
        .layer(middleware::from_fn(session_end_is_no_content));
    let mut oauth = None;
    if let Some(identify) = identify {
        if let Identify::OAuth(server) = &identify {
            oauth = Some(Arc::clone(server));
        }
        let callers = Arc::new(Callers {
            identify,
            sessions: Arc::clone(&owners),
            user_max_sessions: settings.user_max_sessions as usize,
        });
        mcp = mcp.layer(middleware::from_fn_with_state(
            callers,
            require_caller_token,
        ));
    }
    let metrics_guard = Arc::new(MetricsGuard {
        token: config.metrics_auth.clone(),
        multi_user: settings.multi_user,
    });
    let metrics_router =
        Router::new()
            .route("/metrics", metrics_route)
            .layer(middleware::from_fn_with_state(
                metrics_guard,
                require_metrics_token,
            ));
    // Its own token replaces LUNATASK_MCP_AUTH_TOKEN for /metrics (one bearer per request).
    let (mut protected, mut own_token) = (Router::new().merge(mcp), Router::new());
    match (settings.metrics_addr, &config.metrics_auth) {
        (Some(addr), _) => serve_metrics(addr, metrics_router, stop.clone()).await?,
        (None, Some(_)) => own_token = metrics_router,
        (None, None) => protected = protected.merge(metrics_router),
    }
    let protected = protected
        .layer(middleware::from_fn_with_state(
            settings.max_message_bytes(),
            answer_malformed_json,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&guard),
            require_auth,
        ));
    let sign_in = match &oauth {
        Some(oauth) => oauth.routes(),
        // OAuth-capable clients probe these first; a 401 there would start a sign-in that
        // cannot succeed. 404 says "no OAuth here": they then send the configured header.
        None => Router::new().route("/.well-known/{*rest}", axum::routing::any(no_oauth)),
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(sign_in)
        .merge(own_token)
        .merge(protected)
        .layer(middleware::from_fn_with_state(guard, check_host_and_origin));

    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let front = FrontDoor {
        head_timeout: settings.http_head_timeout,
        idle_timeout: settings.http_idle_timeout,
        connections: Arc::new(Semaphore::new(config.http_max_connections)),
    };
    if !bound.ip().is_loopback() && config.http_auth.is_none() {
        tracing::warn!(%bound, "serving beyond loopback without LUNATASK_MCP_AUTH_TOKEN");
    }
    // Tests and supervisors read this line to learn the port.
    crate::support::logging::say(format_args!(
        "lunatask-mcp: listening on http://{bound}/mcp"
    ));
    tracing::info!(%bound, "serving MCP over Streamable HTTP at /mcp");
    let graceful = GracefulShutdown::new();
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    // Out of descriptors despite the cap (other files), or a connection
                    // reset before it was accepted: wait a moment rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        front.serve(tcp, app.clone(), &graceful);
    }
    // Calls were drained before `stop`; open connections get a moment to close.
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(STOP_GRACE) => {}
    }
    Ok(())
}

/// After a failed accept, how long to wait before the next: long enough not to spin on a
/// persistent error, short enough that a freed descriptor is used at once.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(20);

async fn no_oauth() -> Response {
    (
        StatusCode::NOT_FOUND,
        "this server offers no OAuth sign-in; where it asks for a token, send the one its \
         operator set in LUNATASK_MCP_AUTH_TOKEN as `Authorization: Bearer <token>`",
    )
        .into_response()
}

/// Ending a session (`DELETE /mcp`) answers 204: rmcp's 202 ("accepted, not yet acted on")
/// makes the Python SDK and the clients built on it report a failed termination on every
/// close, though the session is gone.
async fn session_end_is_no_content(request: Request, next: Next) -> Response {
    let deleting = request.method() == Method::DELETE;
    let response = next.run(request).await;
    if deleting && response.status() == StatusCode::ACCEPTED {
        return StatusCode::NO_CONTENT.into_response();
    }
    response
}

async fn check_host_and_origin(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if !host_allowed(headers, &guard.allowed_hosts) {
        return (StatusCode::FORBIDDEN, "Host not allowed").into_response();
    }
    if !origin_allowed(headers, &guard.allowed_origins) {
        return (StatusCode::FORBIDDEN, "Origin not allowed").into_response();
    }
    next.run(request).await
}

async fn require_auth(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    if let Some(token) = &guard.auth {
        let presented = bearer(request.headers());
        if !presented.is_some_and(|t| token.matches(t)) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a valid bearer token is required",
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// How a multi-user server knows a request's caller.
pub enum Identify {
    /// The bearer is the caller's LunaTask token, which counts as a caller once LunaTask
    /// accepted it (a `ping`, bounded by `checks`, remembered a while).
    Tokens {
        users: Users,
        checks: Arc<TokenChecks>,
        server: LunaTaskServer,
    },
    /// The bearer is an access token this server issued (OAuth).
    OAuth(Arc<OAuth>),
}

struct Callers {
    identify: Identify,
    sessions: Arc<Sessions>,
    /// LUNATASK_MCP_USER_MAX_SESSIONS.
    user_max_sessions: usize,
}

/// Multi-user mode: every request brings its caller's LunaTask token (or, with OAuth, an
/// access token sealing it) as its bearer, which becomes the request's
/// [`User`](crate::gate::users::User); a session answers only the token that opened it.
async fn require_caller_token(
    State(callers): State<Arc<Callers>>,
    mut request: Request,
    next: Next,
) -> Response {
    let (user, read_only) = match &callers.identify {
        Identify::Tokens {
            users,
            checks,
            server,
        } => match bearer(request.headers()).and_then(|t| users.user(t)) {
            Some(user) => {
                let address = request
                    .extensions()
                    .get::<ClientAddress>()
                    .map(|ClientAddress(ip)| *ip);
                if let Err(refused) = verify(checks, server, &user, address).await {
                    return refused;
                }
                (user, false)
            }
            None => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "send your LunaTask access token as `Authorization: Bearer <token>` \
                     (LunaTask: Settings, Access tokens)",
                )
                    .into_response();
            }
        },
        Identify::OAuth(oauth) => match oauth.authenticate(request.headers()).await {
            Ok(grant) => (grant.user, !grant.write),
            Err(challenge) => return challenge,
        },
    };
    let sessions = &callers.sessions;
    let session = session_id(request.headers());
    if let Some(id) = &session
        && sessions.owner(id).is_some_and(|owner| owner != *user.key())
    {
        tracing::warn!(
            "a request with another token than the one that opened its session was refused"
        );
        return (
            StatusCode::FORBIDDEN,
            "this session was opened with another token; open a session of your own",
        )
            .into_response();
    }
    let key = Arc::clone(user.key());
    request.extensions_mut().insert(user);
    if read_only {
        request.extensions_mut().insert(ReadOnlyGrant);
    }
    let response = next.run(request).await;
    if session.is_none()
        && let Some(opened) = session_id(response.headers())
    {
        sessions.own(&opened, Arc::clone(&key));
        // A caller's own cap: their least recently used sessions make way for the new one.
        sessions
            .keep_within(&key, callers.user_max_sessions, &opened)
            .await;
    }
    response
}

/// Whether LunaTask accepts `user`'s token: remembered a while when it did, else asked
/// (within the token-check limits). A token LunaTask refuses opens nothing.
async fn verify(
    checks: &TokenChecks,
    server: &LunaTaskServer,
    user: &crate::gate::users::User,
    address: Option<std::net::IpAddr>,
) -> Result<(), Response> {
    if checks.verified(user.key()) {
        return Ok(());
    }
    if let Err(refused) = checks.admit(address, None) {
        return Err(with_retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            refused.retry_after(),
            format!(
                "a token this server has not seen lately is checked with LunaTask first: {refused}"
            ),
        ));
    }
    match server.check_token(user.clone()).await {
        Ok(()) => {
            checks.succeeded(address, user.key());
            Ok(())
        }
        Err(TokenRefused::ByLunaTask) => {
            checks.failed(address);
            Err((
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
                "LunaTask did not accept this access token: send a valid one as \
                 `Authorization: Bearer <token>` (LunaTask: Settings, Access tokens)",
            )
                .into_response())
        }
        Err(TokenRefused::Unasked(_)) => Err(with_retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            std::time::Duration::from_secs(5),
            "LunaTask could not be asked whether this token works; try again shortly".into(),
        )),
    }
}

/// An answer that says when to try again.
fn with_retry_after(status: StatusCode, wait: std::time::Duration, message: String) -> Response {
    let seconds = wait.as_secs().max(1).to_string();
    let mut response = (status, message).into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&seconds) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A request that would open a session (an `initialize` without a session id): the
/// caller's own oldest sessions make room first (multi-user mode), then, when the server
/// holds all the sessions it may, `503` with `Retry-After` — never rmcp's `500`.
async fn admit_session(
    State(sessions): State<Arc<Sessions>>,
    request: Request,
    next: Next,
) -> Response {
    // Only a POST declared as JSON can be an `initialize` (rmcp answers any other 415
    // without reading it), and such a body was read whole, bounded by the message size, by
    // `answer_malformed_json` already: nothing unbounded is read here.
    let may_open = request.method() == Method::POST
        && session_id(request.headers()).is_none()
        && declared_json(request.headers());
    if !may_open {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if opens_session(&bytes)
        && let Err(wait) = sessions.room().await
    {
        return with_retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            wait,
            format!(
                "{} MCP sessions are open, the most LUNATASK_MCP_MAX_SESSIONS allows; try \
                     again when one has ended",
                sessions.open().await
            ),
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Whether a POST body is an `initialize` request, the only one that opens a session.
fn opens_session(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Method<'a> {
        #[serde(borrow)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Method>(body).is_ok_and(|m| m.method.as_deref() == Some("initialize"))
}

/// Who may read `/metrics`: the holder of LUNATASK_MCP_METRICS_TOKEN when it is set; on a
/// multi-user server without it, nobody through the MCP address (it counts every caller's
/// use), only through LUNATASK_MCP_METRICS_ADDR.
struct MetricsGuard {
    token: Option<Secret>,
    multi_user: bool,
}

async fn require_metrics_token(
    State(guard): State<Arc<MetricsGuard>>,
    request: Request,
    next: Next,
) -> Response {
    match &guard.token {
        Some(token) if !bearer(request.headers()).is_some_and(|t| token.matches(t)) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "/metrics requires the token set in LUNATASK_MCP_METRICS_TOKEN as a bearer token",
        )
            .into_response(),
        None if guard.multi_user && request.extensions().get::<MetricsListener>().is_none() => (
            StatusCode::FORBIDDEN,
            "on a multi-user server /metrics is served only with LUNATASK_MCP_METRICS_TOKEN \
             set (as the bearer it requires) or on LUNATASK_MCP_METRICS_ADDR",
        )
            .into_response(),
        _ => next.run(request).await,
    }
}

/// Marks a request that came in on LUNATASK_MCP_METRICS_ADDR.
#[derive(Debug, Clone, Copy)]
struct MetricsListener;

/// Serves `/metrics` alone on `addr` until `stop`.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    metrics: Router,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("LUNATASK_MCP_METRICS_ADDR {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let app = metrics.layer(axum::Extension(MetricsListener));
    crate::support::logging::say(format_args!(
        "lunatask-mcp: metrics on http://{bound}/metrics"
    ));
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "the metrics listener stopped");
        }
    });
    Ok(())
}

fn session_id(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A POST declared as JSON whose body is not a JSON-RPC message gets JSON-RPC's own answer:
/// `400` with a parse error (-32700) for text that is not JSON, or an invalid-request error
/// (-32600) for JSON that is not a message, with id null. rmcp answers both `415`, which
/// says the content type was wrong when it was not. A wrong content type stays `415`.
async fn answer_malformed_json(
    State(max_bytes): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST || !declared_json(request.headers()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // The same limit rmcp applies: a larger body is refused here as it would be there.
    let bytes = match axum::body::to_bytes(body, max_bytes).await {
        Ok(bytes) => bytes,
        Err(error) if too_large(&error) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Payload Too Large: request body exceeds {max_bytes} bytes"),
            )
                .into_response();
        }
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Bad Request: the request body could not be read ({error})"),
            )
                .into_response();
        }
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    if response.status() != StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return response;
    }
    let (code, message) = match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
        Err(_) => (-32700, "Parse error: the request body is not valid JSON"),
        Ok(_) => (
            -32600,
            "Invalid Request: the request body is not a JSON-RPC request, notification or response",
        ),
    };
    let answer = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    });
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

/// Whether a request declares its body JSON (`application/json`, parameters aside).
fn declared_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Whether reading a body failed because it was longer than the limit.
fn too_large(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}
