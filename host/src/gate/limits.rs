//! The rate limits a request waits for: the account's one bucket, or in multi-user mode the
//! caller's own (shared through Redis by replicas, with LUNATASK_REDIS_UNAVAILABLE deciding
//! what happens while Redis is away). A long wait is reported as progress.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Egress;
use super::ratelimit::{Caller, Exhausted, RateLimiter};
use super::shared_limits::SharedError;
use crate::settings::RedisUnavailable;
use crate::support::progress::{Progress, ProgressSender};

/// How many users' buckets are kept before those no call holds are forgotten.
pub(super) const MAX_IDLE_USER_LIMITERS: usize = 10_000;

/// A bucket: the shared one, or a user's.
pub(super) enum LimiterRef<'a> {
    Shared(&'a RateLimiter),
    User(Arc<RateLimiter>),
}

impl std::ops::Deref for LimiterRef<'_> {
    type Target = RateLimiter;
    fn deref(&self) -> &RateLimiter {
        match self {
            LimiterRef::Shared(limiter) => limiter,
            LimiterRef::User(limiter) => limiter,
        }
    }
}

/// A wait for the rate limit longer than this is reported as progress.
const REPORTED_WAIT: Duration = Duration::from_secs(1);

impl Egress {
    /// The bucket `caller`'s requests draw on: their user's in multi-user mode, else the
    /// one the account shares.
    pub(super) fn limiter_for(&self, caller: &Caller) -> LimiterRef<'_> {
        let Some(user) = caller.user() else {
            return LimiterRef::Shared(&self.limiter);
        };
        let mut limiters = self.user_limiters.lock().unwrap_or_else(|e| e.into_inner());
        if limiters.len() >= MAX_IDLE_USER_LIMITERS && !limiters.contains_key(user.key()) {
            // Forget the buckets no call holds: a returning user starts with a full burst,
            // which is all they lose; the map cannot grow with every token ever seen.
            limiters.retain(|_, limiter| Arc::strong_count(limiter) > 1);
        }
        let limiter = limiters.entry(Arc::clone(user.key())).or_insert_with(|| {
            self.metrics.user_seen();
            Arc::new(RateLimiter::new(self.rate_per_minute, self.rate_burst))
        });
        LimiterRef::User(Arc::clone(limiter))
    }

    /// A slot in the rate limiter for `caller`; a wait of more than a moment is reported
    /// to `progress`, so that the client sees why the call is slow.
    pub(super) async fn acquire_reporting(
        &self,
        caller: &Caller,
        deadline: Instant,
        progress: Option<&ProgressSender>,
    ) -> Result<Duration, Exhausted> {
        if let (Some(user), Some(shared)) = (caller.user(), &self.shared) {
            let deadline = tokio::time::Instant::from_std(deadline);
            match shared.acquire(user.key(), deadline).await {
                Ok(waited) => return Ok(waited),
                Err(SharedError::Exhausted(e)) => return Err(e),
                Err(SharedError::Unavailable(cause)) => {
                    if self.without_redis == RedisUnavailable::Closed {
                        tracing::warn!(
                            cause,
                            "Redis is unavailable: a call was refused (LUNATASK_REDIS_UNAVAILABLE=closed)"
                        );
                        return Err(Exhausted);
                    }
                    tracing::warn!(
                        cause,
                        "Redis is unavailable: this replica holds the user to its own limit (LUNATASK_REDIS_UNAVAILABLE=local)"
                    );
                }
            }
        }
        let limiter = self.limiter_for(caller);
        let acquire = limiter.acquire(caller, deadline);
        let Some(progress) = progress else {
            return acquire.await;
        };
        tokio::pin!(acquire);
        tokio::select! {
            acquired = &mut acquire => return acquired,
            () = tokio::time::sleep(REPORTED_WAIT) => {}
        }
        let _ = progress.send(Progress::Waiting(format!(
            "waiting for the rate limit ({} requests a minute, LUNATASK_RATE_LIMIT_RPM)",
            self.rate_per_minute
        )));
        acquire.await
    }
}
