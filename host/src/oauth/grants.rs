//! What the sealed artefacts hold, and the checks OAuth makes of what clients send: redirect
//! URIs, scopes, PKCE.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A registered client, sealed into its own `client_id` (so registration stores nothing).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub redirect_uris: Vec<String>,
    pub name: Option<String>,
}

/// An authorization request the person is looking at: sealed into the consent form, so the
/// form's answer cannot change what was asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Consent {
    /// The issuer that made the page: another deployment sharing the sealing key is not it.
    pub aud: String,
    /// This request's own id: its tries are counted by it, and it is spent once a token
    /// was accepted; its CSRF cookie is named after it.
    pub jti: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// Whether the client's request named `redirect_uri`: then the token request must too
    /// (RFC 6749 §4.1.3).
    pub redirect_given: bool,
    pub state: Option<String>,
    pub challenge: String,
    pub write: bool,
    /// The form's half of the CSRF pair; the other is the cookie.
    pub csrf: String,
}

/// An authorization code: what the token endpoint needs to issue tokens, the LunaTask
/// token included (sealed, so the code is safe in a browser's address bar).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Code {
    /// The issuer that made it; checked on exchange like a token's audience.
    pub aud: String,
    pub cid: String,
    pub redirect_uri: String,
    /// Whether the authorization request named `redirect_uri`.
    pub redirect_given: bool,
    pub challenge: String,
    pub write: bool,
    pub lt: String,
    pub jti: String,
}

/// An access or refresh token's contents: the person's LunaTask token, the client, the
/// scopes and the grant (`fam`, every token issued from one sign-in), plus for a refresh
/// token its own id (a second use is a replay).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    /// The issuer, which is also the audience: a token from another deployment that shares
    /// the key is not ours.
    pub aud: String,
    pub cid: String,
    pub write: bool,
    pub lt: String,
    pub fam: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// The scopes, as tool access defines them.
pub use crate::mcp::selection::{READ_SCOPE as READ, WRITE_SCOPE as WRITE};

/// The scopes a grant holds, as OAuth spells them.
pub fn scope_text(write: bool) -> &'static str {
    if write {
        "lunatask:read lunatask:write"
    } else {
        READ
    }
}

/// Whether a requested scope asks for writes; unknown scopes are an error naming them. No
/// scope asks for everything; writing implies reading.
pub fn requested_write(scope: Option<&str>) -> Result<bool, String> {
    let Some(scope) = scope.filter(|s| !s.trim().is_empty()) else {
        return Ok(true);
    };
    let mut write = false;
    for item in scope.split(' ').filter(|s| !s.is_empty()) {
        match item {
            READ => {}
            WRITE => write = true,
            other => {
                return Err(format!(
                    "unknown scope {other:?}; this server's scopes are {READ} and {WRITE}"
                ));
            }
        }
    }
    Ok(write)
}

/// A short, stable name of a client id, kept in tokens instead of the (long) id itself.
pub fn client_hash(client_id: &str) -> String {
    hex::encode(&Sha256::digest(client_id.as_bytes())[..16])
}

/// 32 random bytes, URL-safe: ids, CSRF values.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("system randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A PKCE code challenge: 43 characters of base64url (a SHA-256), as S256 makes them.
pub fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `verifier` (43 to 128 unreserved characters, RFC 7636) hashes to `challenge`.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let made = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && constant_time_eq(made.as_bytes(), challenge.as_bytes())
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A redirect URI a client may register, by allow-list: absolute, no fragment; https; http
/// on a loopback host (native apps, RFC 8252 §7.3); an app's own scheme in the
/// reverse-domain form RFC 8252 §7.1 asks for (`com.example.app:/callback`); or one of
/// `app_schemes` (LUNATASK_MCP_OAUTH_REDIRECT_SCHEMES: apps that predate that form, such as
/// `cursor:`). Nothing else: no scheme a browser runs or shows itself.
pub fn check_redirect_uri(raw: &str, app_schemes: &[String]) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "{raw:?} has a fragment, which a redirect URI may not"
        ));
    }
    let scheme = url.scheme();
    match scheme {
        "https" => Ok(()),
        "http" if url.host().is_some_and(|h| is_loopback(&h)) => Ok(()),
        "http" => Err(format!(
            "{raw:?}: plain http is allowed only for loopback hosts (127.0.0.1, [::1], \
             localhost); use https"
        )),
        _ if is_reverse_domain(scheme) || app_schemes.iter().any(|s| s == scheme) => Ok(()),
        _ => Err(format!(
            "{raw:?}: the scheme {scheme:?} is not one a sign-in may return to; use https, \
             http on loopback, or an app scheme in reverse-domain form (com.example.app:); \
             an operator may allow more with LUNATASK_MCP_OAUTH_REDIRECT_SCHEMES"
        )),
    }
}

/// A private-use scheme in reverse-domain form: at least two dot-separated labels, each a
/// letter then letters, digits or hyphens (the url crate has lower-cased it).
fn is_reverse_domain(scheme: &str) -> bool {
    let labels: Vec<&str> = scheme.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            label.starts_with(|c: char| c.is_ascii_lowercase())
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// The CSP source that lets the consent form's answer go on to `redirect_uri`: its origin,
/// or for an app's own scheme the scheme.
pub fn redirect_source(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    match url.scheme() {
        "http" | "https" => Some(url.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636s_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(valid_challenge(challenge));
        assert!(verifier_matches(verifier, challenge));
        assert!(!verifier_matches(&verifier.replace('d', "e"), challenge));
        assert!(!verifier_matches("short", challenge));
    }

    #[test]
    fn scopes_are_read_and_write_and_nothing_else() {
        assert_eq!(requested_write(None), Ok(true));
        assert_eq!(requested_write(Some("lunatask:read")), Ok(false));
        assert_eq!(requested_write(Some("lunatask:write")), Ok(true));
        assert!(
            requested_write(Some("lunatask:read admin"))
                .unwrap_err()
                .contains("admin")
        );
    }

    #[test]
    fn redirect_uris_are_https_loopback_or_an_apps_own_scheme() {
        let apps = ["cursor".to_string()];
        let check = |uri: &str| check_redirect_uri(uri, &apps);
        assert!(check("https://claude.ai/api/mcp/auth_callback").is_ok());
        assert!(check("http://127.0.0.1:33418/callback").is_ok());
        assert!(check("cursor://anysphere.cursor-retrieval/oauth").is_ok());
        assert!(check("com.example.app:/oauth2redirect").is_ok());
        assert!(check("http://example.com/cb").is_err());
        assert!(check("javascript:alert(1)").is_err());
        assert!(check("https://a.example/cb#frag").is_err());
        assert!(check("/relative").is_err());
        for refused in [
            "view-source:https://a.example/",
            "jar:https://a.example/x!/",
            "custom:x",
        ] {
            assert!(check(refused).is_err(), "{refused}");
        }
    }
}
