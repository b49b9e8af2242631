//! What OAuth must remember although its tokens are self-contained: which codes, consent
//! pages and refresh tokens were used (a second use is a replay) and which grants were
//! revoked. Each entry lives as long as the token it concerns could, then is forgotten.
//! In memory on one machine; in Redis (`SET NX PX`) when the replicas share
//! LUNATASK_REDIS_URL, so that a code used on one replica is used on all.
//!
//! Bounded: entries leave in order of expiry (an index by expiry, so forgetting never scans
//! the whole record while the revocation check of every `/mcp` request waits for the
//! lock), and one grant may refresh at most LUNATASK_MCP_OAUTH_MAX_REFRESHES times within
//! the refresh lifetime, since each refresh is remembered that long.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use crate::settings::RedisUnavailable;

/// The longest one Redis command may take before Redis counts as unavailable.
const ROUND_TRIP: Duration = Duration::from_secs(1);

/// The shared state could not be asked, and LUNATASK_REDIS_UNAVAILABLE=closed.
#[derive(Debug, thiserror::Error)]
#[error("the state the replicas share (Redis) is unavailable")]
pub struct Unavailable;

/// What a refresh token's use found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// Its first use: go on.
    First,
    /// Used before: a replay.
    Again,
    /// Its grant has refreshed as often as it may: nothing was spent.
    OverCap,
}

/// This replica's record.
#[derive(Default)]
struct Memory {
    /// Each remembered key, until when.
    until: HashMap<String, Instant>,
    /// The same entries by expiry, oldest first, with the grant a refresh belongs to.
    by_expiry: BTreeMap<(Instant, u64), (String, Option<String>)>,
    /// How many refreshes of each grant are remembered.
    refreshes: HashMap<String, u32>,
    /// Orders entries that expire at the same instant.
    seq: u64,
}

impl Memory {
    /// Forgets what has expired: only the expired entries are visited.
    fn forget_expired(&mut self, now: Instant) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((at, _), (key, family)) = entry.remove_entry();
            if self.until.get(&key) == Some(&at) {
                self.until.remove(&key);
            }
            if let Some(family) = family
                && let Some(count) = self.refreshes.get_mut(&family)
            {
                *count -= 1;
                if *count == 0 {
                    self.refreshes.remove(&family);
                }
            }
        }
    }

    fn known(&self, key: &str, now: Instant) -> bool {
        self.until.get(key).is_some_and(|until| *until > now)
    }

    /// Remembers `key` until `ttl` from now (as a refresh of `family`, when given); `true`
    /// when it was not remembered yet.
    fn remember(&mut self, key: &str, ttl: Duration, family: Option<&str>) -> bool {
        let now = Instant::now();
        self.forget_expired(now);
        if self.known(key, now) {
            return false;
        }
        let until = now + ttl;
        self.seq += 1;
        self.until.insert(key.to_string(), until);
        self.by_expiry.insert(
            (until, self.seq),
            (key.to_string(), family.map(str::to_string)),
        );
        if let Some(family) = family {
            *self.refreshes.entry(family.to_string()).or_default() += 1;
        }
        true
    }
}

pub struct Ledger {
    memory: Mutex<Memory>,
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
        let first_here = self.remember(&key, ttl, None);
        match self.shared_set(&key, ttl).await {
            Some(Ok(first)) => Ok(first && first_here),
            Some(Err(closed)) => Err(closed),
            None => Ok(first_here),
        }
    }

    /// Records the use of the refresh token `id` of the grant `family`, which may refresh
    /// at most `cap` times within `ttl`.
    pub async fn spend_refresh(
        &self,
        id: &str,
        family: &str,
        ttl: Duration,
        cap: u32,
    ) -> Result<Spent, Unavailable> {
        let key = format!("lunatask-mcp:oauth:used:{id}");
        let count_key = format!("lunatask-mcp:oauth:refreshes:{family}");
        let over_here = {
            let mut memory = self.memory();
            memory.forget_expired(Instant::now());
            memory.refreshes.get(family).is_some_and(|n| *n >= cap)
        };
        let over_shared = match self.shared_count(&count_key).await {
            Some(Ok(count)) => count >= u64::from(cap),
            Some(Err(closed)) => return Err(closed),
            None => false,
        };
        if (over_here || over_shared) && !self.known(&key) {
            return Ok(Spent::OverCap);
        }
        let first_here = self.remember(&key, ttl, Some(family));
        let first = match self.shared_set(&key, ttl).await {
            Some(Ok(first)) => first && first_here,
            Some(Err(closed)) => return Err(closed),
            None => first_here,
        };
        if !first {
            return Ok(Spent::Again);
        }
        self.shared_increment(&count_key, ttl).await;
        Ok(Spent::First)
    }

    /// Records that the grant `family` (every token issued from one sign-in) is revoked.
    pub async fn revoke(&self, family: &str, ttl: Duration) -> Result<(), Unavailable> {
        let key = format!("lunatask-mcp:oauth:revoked:{family}");
        self.remember(&key, ttl, None);
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

    /// `GET` of a counter in Redis; `None` without Redis, or when it is down and this
    /// replica carries on alone.
    async fn shared_count(&self, key: &str) -> Option<Result<u64, Unavailable>> {
        let (redis, unavailable) = self.redis.as_ref()?;
        let mut redis = redis.clone();
        let mut get = redis::cmd("GET");
        get.arg(key);
        let asked = get.query_async::<Option<u64>>(&mut redis);
        match tokio::time::timeout(ROUND_TRIP, asked).await {
            Ok(Ok(count)) => Some(Ok(count.unwrap_or(0))),
            _ => match fallback(*unavailable, ()) {
                Ok(()) => None,
                Err(closed) => Some(Err(closed)),
            },
        }
    }

    /// Counts one in a Redis counter that starts a window of `ttl` with its first count.
    async fn shared_increment(&self, key: &str, ttl: Duration) {
        let Some((redis, _)) = &self.redis else {
            return;
        };
        let mut redis = redis.clone();
        let mut pipe = redis::pipe();
        let counted = pipe
            .atomic()
            .incr(key, 1)
            .ignore()
            .cmd("PEXPIRE")
            .arg(key)
            .arg(ttl.as_millis().max(1) as u64)
            .arg("NX")
            .ignore()
            .query_async::<()>(&mut redis);
        if !matches!(tokio::time::timeout(ROUND_TRIP, counted).await, Ok(Ok(()))) {
            tracing::warn!("Redis did not count a refresh; this replica's own count applies");
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers `key` here until `ttl` from now; `true` when it was not remembered yet.
    fn remember(&self, key: &str, ttl: Duration, family: Option<&str>) -> bool {
        self.memory().remember(key, ttl, family)
    }

    fn known(&self, key: &str) -> bool {
        self.memory().known(key, Instant::now())
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

    #[tokio::test]
    async fn a_grant_refreshes_at_most_its_cap_and_expired_entries_leave() {
        let ledger = Ledger::new(None);
        let ttl = Duration::from_millis(200);
        for i in 0..3 {
            let spent = ledger.spend_refresh(&format!("r{i}"), "fam", ttl, 3).await;
            assert_eq!(spent.unwrap(), Spent::First);
        }
        assert_eq!(
            ledger.spend_refresh("r0", "fam", ttl, 3).await.unwrap(),
            Spent::Again
        );
        assert_eq!(
            ledger.spend_refresh("r3", "fam", ttl, 3).await.unwrap(),
            Spent::OverCap
        );
        assert_eq!(
            ledger.spend_refresh("o0", "other", ttl, 3).await.unwrap(),
            Spent::First
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            ledger.spend_refresh("r3", "fam", ttl, 3).await.unwrap(),
            Spent::First
        );
        let memory = ledger.memory();
        assert_eq!(memory.until.len(), 1, "the expired entries are gone");
        assert_eq!(memory.by_expiry.len(), 1);
        assert_eq!(memory.refreshes.get("fam"), Some(&1));
    }
}
