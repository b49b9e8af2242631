//! Dynamic client registration (RFC 7591). Registration stores nothing: the client's
//! redirect URIs and name are sealed into the `client_id` it gets back. Every client is a
//! public client (PKCE, no secret), whatever authentication method it asked for; the answer
//! says so, as RFC 7591 lets a server do.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::grants::{Client, check_redirect_uri};
use super::seal::Kind;
use super::{OAuth, json_answer, oauth_error};

/// Redirect URIs one client may register.
const MAX_REDIRECT_URIS: usize = 10;
/// Longest redirect URI or client name accepted.
const MAX_FIELD: usize = 2048;

pub async fn register(State(oauth): State<Arc<OAuth>>, body: Bytes) -> Response {
    let invalid = |error: &str, description: String| {
        oauth_error(StatusCode::BAD_REQUEST, error, &description)
    };
    let metadata: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => Value::Object(m),
        _ => {
            return invalid(
                "invalid_client_metadata",
                "the body must be a JSON object of client metadata (RFC 7591)".into(),
            );
        }
    };
    let client = match client_of(&metadata, &oauth.redirect_schemes) {
        Ok(client) => client,
        Err((error, description)) => return invalid(error, description),
    };
    let client_id = match oauth.sealer.seal(Kind::Client, &client, None) {
        Ok(id) => id,
        Err(_) => {
            return oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the client could not be registered",
            );
        }
    };
    let issued_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut answer = json!({
        "client_id": client_id,
        "client_id_issued_at": issued_at,
        "redirect_uris": client.redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": format!("{} {}", super::READ, super::WRITE),
    });
    if let Some(name) = &client.name {
        answer["client_name"] = name.clone().into();
    }
    json_answer(StatusCode::CREATED, answer)
}

/// The client a registration describes, or the RFC 7591 error and why.
fn client_of(metadata: &Value, app_schemes: &[String]) -> Result<Client, (&'static str, String)> {
    let uris = metadata.get("redirect_uris").and_then(Value::as_array);
    let Some(uris) = uris.filter(|u| !u.is_empty()) else {
        return Err((
            "invalid_redirect_uri",
            "redirect_uris is required: a non-empty array of the URIs the sign-in may return to"
                .into(),
        ));
    };
    if uris.len() > MAX_REDIRECT_URIS {
        return Err((
            "invalid_redirect_uri",
            format!(
                "at most {MAX_REDIRECT_URIS} redirect_uris, got {}",
                uris.len()
            ),
        ));
    }
    let mut redirect_uris = Vec::with_capacity(uris.len());
    for uri in uris {
        let Some(uri) = uri.as_str().filter(|u| u.len() <= MAX_FIELD) else {
            return Err((
                "invalid_redirect_uri",
                format!("each redirect URI is a string of at most {MAX_FIELD} characters"),
            ));
        };
        check_redirect_uri(uri, app_schemes).map_err(|e| ("invalid_redirect_uri", e))?;
        redirect_uris.push(uri.to_string());
    }
    for (field, allowed) in [
        ("grant_types", &["authorization_code", "refresh_token"][..]),
        ("response_types", &["code"][..]),
    ] {
        let Some(asked) = metadata.get(field) else {
            continue;
        };
        let ok = asked.as_array().is_some_and(|a| {
            a.iter()
                .all(|v| v.as_str().is_some_and(|v| allowed.contains(&v)))
        });
        if !ok {
            return Err((
                "invalid_client_metadata",
                format!("{field} may hold only {}", allowed.join(", ")),
            ));
        }
    }
    if let Some(scope) = metadata.get("scope") {
        let scope = scope.as_str().ok_or((
            "invalid_client_metadata",
            "scope is a string of space-separated scopes".to_string(),
        ))?;
        super::grants::requested_write(Some(scope)).map_err(|e| ("invalid_client_metadata", e))?;
    }
    let name = match metadata.get("client_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if name.len() <= MAX_FIELD => Some(name.trim().to_string()),
        Some(_) => {
            return Err((
                "invalid_client_metadata",
                format!("client_name is a string of at most {MAX_FIELD} characters"),
            ));
        }
    };
    Ok(Client {
        redirect_uris,
        name: name.filter(|n| !n.is_empty()),
    })
}
