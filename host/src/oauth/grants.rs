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
    pub client_id: String,
    pub redirect_uri: String,
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
    pub cid: String,
    pub redirect_uri: String,
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

pub const READ: &str = "lunatask:read";
pub const WRITE: &str = "lunatask:write";

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

/// A redirect URI a client may register: absolute, no fragment; https, http on a loopback
/// host (native apps, RFC 8252), or an app's own scheme. Schemes that run or show content in
/// the browser itself are refused.
pub fn check_redirect_uri(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "{raw:?} has a fragment, which a redirect URI may not"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host().is_some_and(|h| is_loopback(&h)) => Ok(()),
        "http" => Err(format!(
            "{raw:?}: plain http is allowed only for loopback hosts (127.0.0.1, [::1], \
             localhost); use https"
        )),
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ws" | "wss" => {
            Err(format!(
                "{raw:?}: the scheme {} cannot be a redirect URI",
                url.scheme()
            ))
        }
        _ => Ok(()),
    }
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
        assert!(check_redirect_uri("https://claude.ai/api/mcp/auth_callback").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:33418/callback").is_ok());
        assert!(check_redirect_uri("cursor://anysphere.cursor-retrieval/oauth").is_ok());
        assert!(check_redirect_uri("http://example.com/cb").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
        assert!(check_redirect_uri("https://a.example/cb#frag").is_err());
        assert!(check_redirect_uri("/relative").is_err());
    }
}
