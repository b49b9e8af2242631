//! The authorization endpoint: `GET /authorize` checks the client's request and shows the
//! consent page; `POST /authorize` is the person's answer. Until the client and its
//! redirect URI are known to match, problems are shown on a page and nothing is redirected
//! (an open redirector would send codes anywhere); after, they go back to the client as
//! OAuth errors, with `state` and the issuer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::consent::{CSRF_COOKIE, Page, refusal};
use super::grants::{
    Client, Code, Consent, client_hash, constant_time_eq, random_id, requested_write,
    valid_challenge,
};
use super::seal::Kind;
use super::{CODE_TTL, CONSENT_TTL, OAuth, form};
use crate::mcp::TokenRefused;
use crate::support::request::ClientAddress;

/// Where a valid request's errors go: back to the client.
struct Back<'a> {
    oauth: &'a OAuth,
    redirect_uri: &'a str,
    state: Option<&'a str>,
}

impl Back<'_> {
    /// Redirects to the client with `params`, `state` and `iss` (RFC 9207) added.
    fn with(&self, status: StatusCode, params: &[(&str, &str)]) -> Response {
        let Ok(mut url) = url::Url::parse(self.redirect_uri) else {
            return refusal(StatusCode::BAD_REQUEST, "the redirect URI is not a URI");
        };
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in params {
                query.append_pair(name, value);
            }
            if let Some(state) = self.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", self.oauth.issuer());
        }
        let mut response = status.into_response();
        if let Ok(location) = HeaderValue::from_str(url.as_str()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn error(&self, status: StatusCode, error: &str, description: &str) -> Response {
        self.with(
            status,
            &[("error", error), ("error_description", description)],
        )
    }
}

/// `GET /authorize`.
pub async fn show(State(oauth): State<Arc<OAuth>>, RawQuery(query): RawQuery) -> Response {
    let params = match form(query.unwrap_or_default().as_bytes()) {
        Ok(params) => params,
        Err(problem) => return refusal(StatusCode::BAD_REQUEST, &problem),
    };
    let (client_id, client, redirect_uri) = match client_and_redirect(&oauth, &params) {
        Ok(found) => found,
        Err(problem) => return refusal(StatusCode::BAD_REQUEST, &problem),
    };
    let get = |name: &str| params.get(name).map(String::as_str);
    let back = Back {
        oauth: &oauth,
        redirect_uri: &redirect_uri,
        state: get("state"),
    };
    let found = StatusCode::FOUND;
    if get("response_type") != Some("code") {
        return back.error(
            found,
            "unsupported_response_type",
            "response_type must be code",
        );
    }
    let challenge = get("code_challenge").unwrap_or_default();
    if get("code_challenge_method") != Some("S256") || !valid_challenge(challenge) {
        return back.error(
            found,
            "invalid_request",
            "PKCE is required: send code_challenge (base64url SHA-256 of the verifier) with \
             code_challenge_method=S256",
        );
    }
    let write = match requested_write(get("scope")) {
        Ok(write) => write,
        Err(problem) => return back.error(found, "invalid_scope", &problem),
    };
    if let Some(resource) = get("resource")
        && !oauth.is_our_resource(resource)
    {
        return back.error(
            found,
            "invalid_target",
            &format!("resource must be {}", oauth.resource()),
        );
    }
    // A CSRF value of the server's own for every page, in a cookie named after the page's
    // request, so a second tab's page does not outdate the first's and no cookie planted
    // by another site, port or subdomain is ever adopted.
    let jti = random_id();
    let csrf = random_id();
    let consent = Consent {
        aud: oauth.issuer().to_string(),
        client_id,
        redirect_uri: redirect_uri.clone(),
        redirect_given: get("redirect_uri").is_some(),
        state: get("state").map(str::to_string),
        challenge: challenge.to_string(),
        write,
        csrf: csrf.clone(),
        jti,
    };
    let new_cookie = csrf_cookie(&consent.jti, &csrf, oauth.public.https);
    let Ok(request) = oauth
        .sealer
        .seal(Kind::Consent, &consent, Some(CONSENT_TTL))
    else {
        return refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page could not be made",
        );
    };
    Page {
        client_name: client_label(&client, &redirect_uri),
        redirect_uri: &redirect_uri,
        write,
        request: &request,
        problem: None,
    }
    .render(StatusCode::OK, Some(new_cookie))
}

/// The name of the CSRF cookie of the consent request `jti`: with the `__Host-` prefix over
/// https, which a browser accepts only from this origin, Secure, for the whole host.
fn csrf_cookie_name(jti: &str, https: bool) -> String {
    let prefix = if https { "__Host-" } else { "" };
    let id: String = jti.chars().take(16).collect();
    format!("{prefix}{CSRF_COOKIE}_{id}")
}

/// The `Set-Cookie` value that carries `csrf` for the consent request `jti`.
fn csrf_cookie(jti: &str, csrf: &str, https: bool) -> String {
    let name = csrf_cookie_name(jti, https);
    let (path, secure) = if https {
        ("/", "; Secure")
    } else {
        ("/authorize", "")
    };
    format!(
        "{name}={csrf}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        CONSENT_TTL.as_secs()
    )
}

/// `POST /authorize`: the person allowed (with their token) or denied.
pub async fn answer(
    State(oauth): State<Arc<OAuth>>,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let address = client.map(|Extension(ClientAddress(ip))| ip);
    let same_origin = headers
        .get(header::ORIGIN)
        .is_none_or(|o| o.as_bytes() == oauth.issuer().as_bytes());
    if !same_origin {
        return refusal(
            StatusCode::FORBIDDEN,
            "the form was sent from another site than this server's",
        );
    }
    let fields = match form(&body) {
        Ok(fields) => fields,
        Err(problem) => return refusal(StatusCode::BAD_REQUEST, &problem),
    };
    let get = |name: &str| fields.get(name).map(String::as_str);
    let Some(consent) = get("request")
        .and_then(|r| oauth.sealer.open::<Consent>(Kind::Consent, r))
        .filter(|c| c.aud == oauth.issuer())
    else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "this sign-in page has expired (pages last 15 minutes) or was altered",
        );
    };
    let csrf_ok = cookie(
        &headers,
        &csrf_cookie_name(&consent.jti, oauth.public.https),
    )
    .is_some_and(|c| constant_time_eq(c.as_bytes(), consent.csrf.as_bytes()));
    if !csrf_ok {
        return refusal(
            StatusCode::FORBIDDEN,
            "this answer did not come from the page this browser was shown (its cookie is \
             missing or different)",
        );
    }
    let back = Back {
        oauth: &oauth,
        redirect_uri: &consent.redirect_uri,
        state: consent.state.as_deref(),
    };
    match get("decision") {
        Some("allow") => {}
        Some("deny") => {
            return back.error(
                StatusCode::SEE_OTHER,
                "access_denied",
                "the person did not allow it",
            );
        }
        _ => return refusal(StatusCode::BAD_REQUEST, "the form's decision is missing"),
    }
    let again = |status: StatusCode, problem: &str| {
        let client = oauth
            .sealer
            .open::<Client>(Kind::Client, &consent.client_id);
        let label = client
            .as_ref()
            .map_or("This app", |c| client_label(c, &consent.redirect_uri));
        Page {
            client_name: label,
            redirect_uri: &consent.redirect_uri,
            write: consent.write,
            request: get("request").unwrap_or_default(),
            problem: Some(problem),
        }
        .render(status, None)
    };
    let bad = StatusCode::BAD_REQUEST;
    let token = get("lunatask_token").unwrap_or_default().trim();
    if token.is_empty() {
        return again(bad, "Enter your LunaTask access token.");
    }
    let Some(user) = oauth.users.user(token) else {
        return again(
            bad,
            "That is not a LunaTask access token: it has characters no token has.",
        );
    };
    // Each check is a request to LunaTask from this server: bounded per page, per address
    // and in all, so the page is no oracle for guessed tokens (see token_checks).
    if let Err(refused) = oauth.checks.admit(address, Some(&consent.jti)) {
        let mut page = again(StatusCode::TOO_MANY_REQUESTS, &refused.to_string());
        let wait = refused.retry_after().as_secs().max(1).to_string();
        if let Ok(value) = HeaderValue::from_str(&wait) {
            page.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return page;
    }
    let key = Arc::clone(user.key());
    match oauth.server.check_token(user).await {
        Ok(()) => oauth.checks.succeeded(address, &key),
        Err(TokenRefused::ByLunaTask) => {
            oauth.checks.failed(address);
            let problem = "LunaTask did not accept this access token. Copy it again from the \
                LunaTask app (Settings, Access tokens), or make a new one.";
            return again(bad, problem);
        }
        Err(TokenRefused::Unasked(why)) => {
            let problem = format!(
                "LunaTask could not be asked whether this token works ({why}); try again in a \
                 moment."
            );
            return again(StatusCode::BAD_GATEWAY, &problem);
        }
    }
    // One code per page: a page whose token was accepted is spent.
    match oauth
        .ledger
        .first_use(&format!("consent-{}", consent.jti), CONSENT_TTL)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "this sign-in page was used already; start the sign-in again from your app",
            );
        }
        Err(_) => {
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "the state the replicas share cannot be reached; try again",
            );
        }
    }
    let code = Code {
        aud: oauth.issuer().to_string(),
        cid: client_hash(&consent.client_id),
        redirect_uri: consent.redirect_uri.clone(),
        redirect_given: consent.redirect_given,
        challenge: consent.challenge.clone(),
        write: consent.write && get("allow_write") == Some("true"),
        lt: token.to_string(),
        jti: random_id(),
    };
    let Ok(code) = oauth.sealer.seal(Kind::Code, &code, Some(CODE_TTL)) else {
        return refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the code could not be made",
        );
    };
    back.with(StatusCode::SEE_OTHER, &[("code", &code)])
}

/// The registered client `client_id` names and the redirect URI this request uses: the one
/// it gives, which must be one registered exactly, or the only one registered.
fn client_and_redirect(
    oauth: &OAuth,
    params: &HashMap<String, String>,
) -> Result<(String, Client, String), String> {
    let client_id = params
        .get("client_id")
        .ok_or("the request has no client_id")?;
    let client = oauth
        .sealer
        .open::<Client>(Kind::Client, client_id)
        .ok_or("the client_id is not one this server registered (register at /register)")?;
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) if client.redirect_uris.contains(uri) => uri.clone(),
        Some(_) => return Err("the redirect_uri is not one this client registered".into()),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return Err(
                "the request has no redirect_uri, and the client registered several".into(),
            );
        }
    };
    Ok((client_id.clone(), client, redirect_uri))
}

/// The client's name as the page shows it: what it registered. (The page also shows where
/// the sign-in returns to, which a client cannot pretend.)
fn client_label<'a>(client: &'a Client, _redirect_uri: &'a str) -> &'a str {
    client.name.as_deref().unwrap_or("An unnamed app")
}

/// The value of the cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}
