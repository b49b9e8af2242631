//! The token endpoint (authorization code with PKCE; refresh with rotation) and revocation.
//!
//! Refresh tokens rotate: each use gives a new one and spends the old. A spent one presented
//! again means it was copied, so the whole grant (every token of that sign-in) is revoked,
//! as OAuth 2.1 asks of public clients. A replayed code revokes what it was exchanged for.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::grants::{Code, Token, client_hash, random_id, scope_text, verifier_matches};
use super::ledger::Spent;
use super::seal::Kind;
use super::{CODE_TTL, OAuth, form, json_answer, oauth_error};

fn invalid_request(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_grant(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

fn unavailable() -> Response {
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the state the replicas share cannot be reached; try again",
    )
}

/// `POST /token`.
pub async fn token(State(oauth): State<Arc<OAuth>>, body: Bytes) -> Response {
    let fields = match form(&body) {
        Ok(fields) => fields,
        Err(problem) => return invalid_request(&problem),
    };
    let get = |name: &str| fields.get(name).map(String::as_str);
    let Some(client_id) = get("client_id") else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id is required (clients of this server are public: no secret, PKCE)",
        );
    };
    if let Some(resource) = get("resource")
        && !oauth.is_our_resource(resource)
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            &format!("resource must be {}", oauth.resource()),
        );
    }
    let cid = client_hash(client_id);
    match get("grant_type") {
        Some("authorization_code") => exchange_code(&oauth, &cid, get).await,
        Some("refresh_token") => refresh(&oauth, &cid, get).await,
        Some(other) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!(
                "grant_type {other:?}: this server issues tokens for authorization_code and refresh_token"
            ),
        ),
        None => invalid_request("grant_type is required"),
    }
}

async fn exchange_code<'a>(
    oauth: &OAuth,
    cid: &str,
    get: impl Fn(&str) -> Option<&'a str>,
) -> Response {
    let (Some(code), Some(verifier)) = (get("code"), get("code_verifier")) else {
        return invalid_request("code and code_verifier are required");
    };
    let Some(code) = oauth
        .sealer
        .open::<Code>(Kind::Code, code)
        .filter(|c| c.aud == oauth.issuer())
    else {
        return invalid_grant("the code is invalid or has expired (codes last two minutes)");
    };
    if code.cid != cid {
        return invalid_grant("the code was issued to another client");
    }
    match get("redirect_uri") {
        Some(uri) if uri != code.redirect_uri => {
            return invalid_grant("redirect_uri is not the one the code was issued for");
        }
        None if code.redirect_given => {
            return invalid_request(
                "redirect_uri is required: the authorization request named one (RFC 6749 \
                 4.1.3)",
            );
        }
        _ => {}
    }
    if !verifier_matches(verifier, &code.challenge) {
        return invalid_grant("the code_verifier does not match the code_challenge (PKCE S256)");
    }
    // The grant these tokens belong to is named after the code: a replay of the code finds
    // the grant and revokes it.
    let family = format!("code-{}", code.jti);
    match oauth.ledger.first_use(&code.jti, CODE_TTL).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("an authorization code was presented twice; its grant is revoked");
            return revoke_family(oauth, &family, "the code was already used").await;
        }
        Err(_) => return unavailable(),
    }
    issue(
        oauth,
        Token {
            aud: oauth.issuer().to_string(),
            cid: cid.to_string(),
            write: code.write,
            lt: code.lt,
            fam: family,
            jti: None,
        },
    )
}

async fn refresh<'a>(oauth: &OAuth, cid: &str, get: impl Fn(&str) -> Option<&'a str>) -> Response {
    let Some(presented) = get("refresh_token") else {
        return invalid_request("refresh_token is required");
    };
    let Some(old) = oauth
        .sealer
        .open::<Token>(Kind::Refresh, presented)
        .filter(|t| t.aud == oauth.issuer())
    else {
        return invalid_grant("the refresh token is invalid or has expired");
    };
    if old.cid != cid {
        return invalid_grant("the refresh token was issued to another client");
    }
    let write = match get("scope") {
        None => old.write,
        Some(scope) => match super::grants::requested_write(Some(scope)) {
            Ok(asked) if asked && !old.write => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "the grant does not include lunatask:write; sign in again to allow it",
                );
            }
            Ok(asked) => asked,
            Err(problem) => {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &problem);
            }
        },
    };
    match oauth.ledger.revoked(&old.fam).await {
        Ok(false) => {}
        Ok(true) => return invalid_grant("the refresh token was revoked"),
        Err(_) => return unavailable(),
    }
    let jti = old.jti.clone().unwrap_or_default();
    match oauth
        .ledger
        .spend_refresh(&jti, &old.fam, oauth.refresh_ttl, oauth.max_refreshes)
        .await
    {
        Ok(Spent::First) => {}
        Ok(Spent::Again) => {
            tracing::warn!("a spent refresh token was presented again; its grant is revoked");
            return revoke_family(
                oauth,
                &old.fam,
                "the refresh token was already used; sign in again",
            )
            .await;
        }
        Ok(Spent::OverCap) => {
            tracing::warn!("a grant refreshed more often than LUNATASK_MCP_OAUTH_MAX_REFRESHES");
            return invalid_grant(
                "this sign-in has refreshed its tokens more often than the server allows \
                 (LUNATASK_MCP_OAUTH_MAX_REFRESHES); sign in again",
            );
        }
        Err(_) => return unavailable(),
    }
    issue(
        oauth,
        Token {
            write,
            jti: None,
            ..old
        },
    )
}

/// A second use of what may be used once: the grant it belongs to is revoked, and the
/// request refused saying `why`.
async fn revoke_family(oauth: &OAuth, family: &str, why: &str) -> Response {
    match oauth.ledger.revoke(family, oauth.refresh_ttl).await {
        Ok(()) => invalid_grant(why),
        Err(_) => unavailable(),
    }
}

/// A new access token and refresh token for `grant`.
fn issue(oauth: &OAuth, grant: Token) -> Response {
    let refresh = Token {
        jti: Some(random_id()),
        ..grant.clone()
    };
    let sealed = oauth
        .sealer
        .seal(Kind::Access, &grant, Some(oauth.access_ttl))
        .and_then(|access| {
            let refresh = oauth
                .sealer
                .seal(Kind::Refresh, &refresh, Some(oauth.refresh_ttl))?;
            Ok((access, refresh))
        });
    let Ok((access, refresh)) = sealed else {
        return oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the tokens could not be made",
        );
    };
    json_answer(
        StatusCode::OK,
        json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": oauth.access_ttl.as_secs(),
            "refresh_token": refresh,
            "scope": scope_text(grant.write),
        }),
    )
}

/// `POST /revoke` (RFC 7009): revokes the grant an access or refresh token belongs to, so
/// every token of that sign-in stops working. An unknown token is answered 200 all the
/// same, as the RFC asks.
pub async fn revoke(State(oauth): State<Arc<OAuth>>, body: Bytes) -> Response {
    let fields = match form(&body) {
        Ok(fields) => fields,
        Err(problem) => return invalid_request(&problem),
    };
    let Some(presented) = fields.get("token") else {
        return invalid_request("token is required");
    };
    let order = match fields.get("token_type_hint").map(String::as_str) {
        Some("access_token") => [Kind::Access, Kind::Refresh],
        _ => [Kind::Refresh, Kind::Access],
    };
    let found = order
        .iter()
        .find_map(|kind| oauth.sealer.open::<Token>(*kind, presented));
    if let Some(token) = found {
        if let Some(client_id) = fields.get("client_id")
            && client_hash(client_id) != token.cid
        {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "the token was issued to another client",
            );
        }
        if oauth
            .ledger
            .revoke(&token.fam, revocation_ttl(&oauth))
            .await
            .is_err()
        {
            return unavailable();
        }
    }
    json_answer(StatusCode::OK, json!({}))
}

/// How long a revocation is remembered: as long as any token of the grant could live.
fn revocation_ttl(oauth: &OAuth) -> Duration {
    oauth.refresh_ttl.max(oauth.access_ttl)
}
