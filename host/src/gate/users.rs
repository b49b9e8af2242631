//! Multi-user mode: the server holds no LunaTask token; each request to `/mcp` brings its
//! caller's own, which the gate adds to that call's API requests and no other. A token is
//! known inside the server only by a keyed hash (HMAC-SHA256 under a key made at start-up
//! and never stored), which names its rate limit and the sessions it opened: the hash
//! reveals nothing, and cannot be precomputed from a list of likely tokens.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::support::redact::Redactor;

/// Turns tokens into users; one per process.
pub struct Users {
    key: SecretString,
}

impl Users {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self::with_key(Self::random_key()?))
    }

    /// Users under a key the replicas share (see `shared_limits`), so that they agree on
    /// every user's hash.
    pub fn with_key(key: String) -> Self {
        Self {
            key: SecretString::from(key),
        }
    }

    /// 32 random bytes, as hex.
    pub fn random_key() -> anyhow::Result<String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
        Ok(hex::encode(key))
    }

    /// The user whose LunaTask token is `token`; `None` when it cannot travel in a header.
    pub fn user(&self, token: &str) -> Option<User> {
        let header = super::authorization(token)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes()).ok()?;
        mac.update(token.as_bytes());
        let key = hex::encode(mac.finalize().into_bytes());
        Some(User(Arc::new(Inner {
            key: key.into(),
            authorization: header,
            redactor: Redactor::new([token]),
        })))
    }
}

/// Each user's share of the sandbox: at most so many of their calls run at once, so one busy
/// user cannot take every slot of the global cap from the others.
pub struct Shares {
    per_user: usize,
    held: std::sync::Mutex<std::collections::HashMap<Arc<str>, Arc<tokio::sync::Semaphore>>>,
}

impl Shares {
    pub fn new(per_user: usize) -> Self {
        Self {
            per_user: per_user.max(1),
            held: Default::default(),
        }
    }

    /// Waits for one of `user`'s slots; held until the permit is dropped.
    pub async fn enter(&self, user: &User) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let share = {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            if held.len() >= 10_000 && !held.contains_key(user.key()) {
                // The shares no call holds are full; forgetting them loses nothing.
                held.retain(|_, s| Arc::strong_count(s) > 1);
            }
            let share = held
                .entry(Arc::clone(user.key()))
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.per_user)));
            Arc::clone(share)
        };
        share.acquire_owned().await.ok()
    }
}

/// One caller of a multi-user server: their token's keyed hash, the header that carries the
/// token to LunaTask, and what removes it from answers. Cheap to clone; `Debug` shows
/// neither the token nor the hash.
#[derive(Clone)]
pub struct User(Arc<Inner>);

struct Inner {
    key: Arc<str>,
    authorization: HeaderValue,
    redactor: Redactor,
}

impl User {
    /// The token's keyed hash: equal for the same token, and nothing else.
    pub fn key(&self) -> &Arc<str> {
        &self.0.key
    }

    pub fn authorization(&self) -> &HeaderValue {
        &self.0.authorization
    }

    pub fn redactor(&self) -> &Redactor {
        &self.0.redactor
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("User(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_has_one_key_that_shows_nothing_of_it() {
        let users = Users::new().unwrap();
        let a = users.user("token-of-alice-123").unwrap();
        assert_eq!(a.key(), users.user("token-of-alice-123").unwrap().key());
        assert_ne!(a.key(), users.user("token-of-bob-4567").unwrap().key());
        assert!(!a.key().contains("alice"));
        assert_ne!(
            a.key(),
            Users::new()
                .unwrap()
                .user("token-of-alice-123")
                .unwrap()
                .key()
        );
        assert!(!format!("{a:?}").contains("alice"));
        assert!(users.user("bad\ntoken").is_none());
    }
}
