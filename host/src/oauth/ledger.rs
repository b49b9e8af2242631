//! What OAuth must remember although its tokens are self-contained: which codes and refresh
//! tokens were used (a second use is a replay) and which grants were revoked. Each entry
//! lives as long as the token it concerns could, then is forgotten. In memory on one
//! machine; in Redis (`SET NX PX`) when the replicas share LUNATASK_REDIS_URL, so that a code
//! used on one replica is used on all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use crate::settings::RedisUnavailable;

/// The longest one Redis command may take before Redis counts as unavailable.
const ROUND_TRIP: Duration = Duration::from_secs(1);

/// Entries held in memory before the expired ones are swept out.
const SWEEP_AT: usize = 4096;

/// The shared state could not be asked, and LUNATASK_REDIS_UNAVAILABLE=closed.
#[derive(Debug, thiserror::Error)]
#[error("the state the replicas share (Redis) is unavailable")]
pub struct Unavailable;

pub struct Ledger {
    memory: Mutex<HashMap<String, Instant>>,
    redis: Option<(ConnectionManager, RedisUnavailable)>,
}

impl Ledger {
    pub fn new(redis: Option<(ConnectionManager, RedisUnavailable)>) -> Self {
        Self {
            memory: Mutex::default(),
            redis,
        }
    }

    /// Records the use of the code or refresh token `id`; `true` the first time, `false`
    /// for every use after (a replay).
    pub async fn first_use(&self, id: &str, ttl: Duration) -> Result<bool, Unavailable> {
        let key = format!("lunatask-mcp:oauth:used:{id}");
        let first_here = self.remember(&key, ttl);
        match self.shared_set(&key, ttl).await {
            Some(Ok(first)) => Ok(first && first_here),
            Some(Err(closed)) => Err(closed),
            None => Ok(first_here),
        }
    }

    /// Records that the grant `family` (every token issued from one sign-in) is revoked.
    pub async fn revoke(&self, family: &str, ttl: Duration) -> Result<(), Unavailable> {
        let key = format!("lunatask-mcp:oauth:revoked:{family}");
        self.remember(&key, ttl);
        match self.shared_set(&key, ttl).await {
            Some(Err(closed)) => Err(closed),
            _ => Ok(()),
        }
    }

    /// Whether the grant `family` was revoked.
    pub async fn revoked(&self, family: &str) -> Result<bool, Unavailable> {
        let key = format!("lunatask-mcp:oauth:revoked:{family}");
        if self.known(&key) {
            return Ok(true);
        }
        let Some((redis, unavailable)) = &self.redis else {
            return Ok(false);
        };
        let mut redis = redis.clone();
        let mut exists = redis::cmd("EXISTS");
        exists.arg(&key);
        let asked = exists.query_async::<bool>(&mut redis);
        match tokio::time::timeout(ROUND_TRIP, asked).await {
            Ok(Ok(revoked)) => Ok(revoked),
            _ => fallback(*unavailable, false),
        }
    }

    /// `SET key NX PX ttl` in Redis: `Some(Ok(true))` when it was not there; `None` without
    /// Redis, or when it is down and this replica carries on alone.
    async fn shared_set(&self, key: &str, ttl: Duration) -> Option<Result<bool, Unavailable>> {
        let (redis, unavailable) = self.redis.as_ref()?;
        let mut redis = redis.clone();
        let mut command = redis::cmd("SET");
        command
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        let set = command.query_async::<Option<String>>(&mut redis);
        match tokio::time::timeout(ROUND_TRIP, set).await {
            Ok(Ok(answer)) => Some(Ok(answer.is_some())),
            _ => match fallback(*unavailable, ()) {
                Ok(()) => None,
                Err(closed) => Some(Err(closed)),
            },
        }
    }

    /// Remembers `key` here until `ttl` from now; `true` when it was not remembered yet.
    fn remember(&self, key: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        if memory.len() >= SWEEP_AT {
            memory.retain(|_, until| *until > now);
        }
        match memory.get(key) {
            Some(until) if *until > now => false,
            _ => {
                memory.insert(key.to_string(), now + ttl);
                true
            }
        }
    }

    fn known(&self, key: &str) -> bool {
        let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory.get(key).is_some_and(|until| *until > Instant::now())
    }
}

/// What a Redis failure means: carry on with what this replica knows (`local`, logged), or
/// refuse (`closed`).
fn fallback<T>(unavailable: RedisUnavailable, local: T) -> Result<T, Unavailable> {
    match unavailable {
        RedisUnavailable::Local => {
            tracing::warn!(
                "Redis is unavailable: OAuth replay and revocation checks use this replica's \
                 own record (LUNATASK_REDIS_UNAVAILABLE=local)"
            );
            Ok(local)
        }
        RedisUnavailable::Closed => Err(Unavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_use_is_a_replay_and_a_revocation_is_remembered() {
        let ledger = Ledger::new(None);
        let ttl = Duration::from_secs(60);
        assert!(ledger.first_use("code-1", ttl).await.unwrap());
        assert!(!ledger.first_use("code-1", ttl).await.unwrap());
        assert!(ledger.first_use("code-2", ttl).await.unwrap());
        assert!(!ledger.revoked("fam").await.unwrap());
        ledger.revoke("fam", ttl).await.unwrap();
        assert!(ledger.revoked("fam").await.unwrap());
    }
}
