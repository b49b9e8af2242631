//! OAuth 2.1 sign-in for a multi-user server (`--oauth`). LunaTask has no OAuth of its own,
//! only personal access tokens, so this server is its own authorization server: a person
//! gives their token once, on the consent page, and the client holds only tokens issued
//! here, each carrying the LunaTask token sealed inside (see [`seal`]).
//!
//! What is served, under LUNATASK_MCP_PUBLIC_URL: protected-resource metadata (RFC 9728),
//! authorization-server metadata (RFC 8414), dynamic client registration (RFC 7591), the
//! authorization endpoint with PKCE S256 only and the issuer in its answer (RFC 9207), the
//! token endpoint (authorization code, refresh with rotation and reuse detection) and
//! revocation (RFC 7009). Resource indicators (RFC 8707) must name this server.
//!
//! May use: `mcp` (the token check, the scopes tool access defines), `gate` (callers and the
//! Redis connection), `settings`, `support`.

mod authorize;
mod consent;
mod grants;
mod ledger;
mod register;
mod seal;
mod token;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::gate::shared_limits::SharedLimits;
use crate::gate::users::{User, Users};
use crate::mcp::LunaTaskServer;
use crate::settings::{PublicUrl, Settings};
use crate::support::token_checks::TokenChecks;

use grants::Token;
pub use grants::{READ, WRITE};
use ledger::Ledger;
use seal::{Kind, Sealer};

/// How long an authorization code may wait for its exchange.
const CODE_TTL: Duration = Duration::from_secs(120);
/// How long a consent page may stay open before its answer is refused.
const CONSENT_TTL: Duration = Duration::from_secs(15 * 60);
/// Largest body an OAuth endpoint reads.
const MAX_BODY: usize = 64 * 1024;

/// The authorization server, and the check `/mcp` makes of its tokens.
pub struct OAuth {
    public: PublicUrl,
    sealer: Sealer,
    ledger: Ledger,
    access_ttl: Duration,
    refresh_ttl: Duration,
    users: Users,
    /// Checks a token on the consent page (`ping`, through the same gate as every call).
    server: LunaTaskServer,
    /// Bounds those checks (shared with the bearer-token checks of `/mcp`).
    checks: Arc<TokenChecks>,
    /// LUNATASK_MCP_OAUTH_REDIRECT_SCHEMES.
    redirect_schemes: Vec<String>,
    /// LUNATASK_MCP_OAUTH_MAX_REFRESHES.
    max_refreshes: u32,
}

/// A request to `/mcp` with a valid access token: whose it is and whether it may write.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user: User,
    pub write: bool,
}

impl OAuth {
    pub fn new(
        settings: &Settings,
        users: Users,
        server: LunaTaskServer,
        shared: Option<&SharedLimits>,
        checks: Arc<TokenChecks>,
    ) -> anyhow::Result<Self> {
        let public = settings
            .public_url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("LUNATASK_MCP_PUBLIC_URL is required with OAuth"))?;
        let sealer = Sealer::load(
            settings.sealing_key_file.as_deref(),
            settings.previous_sealing_key_file.as_deref(),
        )?;
        let ledger = Ledger::new(shared.map(|s| (s.connection(), settings.redis_unavailable)));
        Ok(Self {
            public,
            sealer,
            ledger,
            access_ttl: settings.oauth_access_token_ttl,
            refresh_ttl: settings.oauth_refresh_token_ttl,
            users,
            server,
            checks,
            redirect_schemes: settings.oauth_redirect_schemes.clone(),
            max_refreshes: settings.oauth_max_refreshes,
        })
    }

    /// The routes of the authorization server and the metadata.
    pub fn routes(self: &Arc<Self>) -> Router {
        let prm = {
            let oauth = Arc::clone(self);
            move || async move { oauth.resource_metadata() }
        };
        let asm = {
            let oauth = Arc::clone(self);
            move || async move { oauth.server_metadata() }
        };
        Router::new()
            .route("/.well-known/oauth-protected-resource", get(prm.clone()))
            .route("/.well-known/oauth-protected-resource/mcp", get(prm))
            .route("/.well-known/oauth-authorization-server", get(asm))
            .route("/.well-known/{*rest}", axum::routing::any(not_here))
            .route("/register", post(register::register))
            .route("/authorize", get(authorize::show).post(authorize::answer))
            .route("/token", post(token::token))
            .route("/revoke", post(token::revoke))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .layer(axum::middleware::map_response_with_state(
                self.public.https,
                strict_transport,
            ))
            .with_state(Arc::clone(self))
    }

    fn issuer(&self) -> &str {
        &self.public.origin
    }

    /// The resource `/mcp` is, as RFC 8707 names it.
    fn resource(&self) -> String {
        format!("{}/mcp", self.public.origin)
    }

    /// Whether a client's `resource` parameter names this server (its `/mcp` or its origin).
    fn is_our_resource(&self, resource: &str) -> bool {
        let resource = resource.trim_end_matches('/');
        resource == self.resource() || resource == self.public.origin
    }

    fn resource_metadata(&self) -> Response {
        let body = json!({
            "resource": self.resource(),
            "authorization_servers": [self.issuer()],
            "scopes_supported": [READ, WRITE],
            "bearer_methods_supported": ["header"],
            "resource_name": "LunaTask (lunatask-mcp)",
        });
        json_answer(StatusCode::OK, body)
    }

    fn server_metadata(&self) -> Response {
        let at = |path: &str| format!("{}{path}", self.issuer());
        let body = json!({
            "issuer": self.issuer(),
            "authorization_endpoint": at("/authorize"),
            "token_endpoint": at("/token"),
            "registration_endpoint": at("/register"),
            "revocation_endpoint": at("/revoke"),
            "scopes_supported": [READ, WRITE],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "authorization_response_iss_parameter_supported": true,
        });
        json_answer(StatusCode::OK, body)
    }

    /// The grant of a request to `/mcp`, from its bearer access token; otherwise the 401
    /// that tells an OAuth client where to sign in.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Grant, Response> {
        let Some(presented) = crate::support::request::bearer(headers) else {
            return Err(self.challenge(None));
        };
        let Some(token) = self
            .sealer
            .open::<Token>(Kind::Access, presented)
            .filter(|t| t.aud == self.issuer())
        else {
            return Err(self.challenge(Some("the access token is invalid or has expired")));
        };
        match self.ledger.revoked(&token.fam).await {
            Ok(false) => {}
            Ok(true) => return Err(self.challenge(Some("the access token was revoked"))),
            Err(e) => return Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()),
        }
        let Some(user) = self.users.user(&token.lt) else {
            return Err(self.challenge(Some("the access token is invalid")));
        };
        Ok(Grant {
            user,
            write: token.write,
        })
    }

    /// `401` with the `WWW-Authenticate` header RFC 9728 describes.
    fn challenge(&self, problem: Option<&str>) -> Response {
        let mut value = format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"{} {}\"",
            self.issuer(),
            READ,
            WRITE
        );
        if let Some(problem) = problem {
            value.push_str(&format!(
                ", error=\"invalid_token\", error_description=\"{problem}\""
            ));
        }
        let mut response = (
            StatusCode::UNAUTHORIZED,
            problem
                .unwrap_or("sign in: this server uses OAuth (see WWW-Authenticate)")
                .to_string(),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Over https, browsers are told to come back over https only (the consent page takes a
/// token).
async fn strict_transport(
    axum::extract::State(https): axum::extract::State<bool>,
    mut response: Response,
) -> Response {
    if https {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Other well-known documents (OpenID configuration and the like) are not served.
async fn not_here() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// A JSON answer that no cache keeps (tokens travel in some).
fn json_answer(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An OAuth error answer: `{"error", "error_description"}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_answer(
        status,
        json!({ "error": error, "error_description": description }),
    )
}

/// A form (or query) as a map; a parameter given twice is an error (RFC 6749 3.1).
fn form(raw: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut fields = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw) {
        if fields
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return Err(format!("the parameter {name} is given more than once"));
        }
    }
    Ok(fields)
}
