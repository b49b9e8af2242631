//! Per-user rate limits shared by every replica through Redis, so that N replicas behind a
//! load balancer still hold each user to one limit.
//!
//! Each acquire is one GCRA step (the generic cell rate algorithm: a "theoretical arrival
//! time" per user) run as one Lua script, atomic in Redis and on Redis's clock, so replicas
//! whose clocks differ still agree. Written here rather than taken from a crate: the step is
//! a dozen lines of Lua, and the crates that wrap it bring their own connection handling.
//!
//! The replicas must also agree on each user's keyed hash, so the key of that hash lives in
//! Redis too: the first replica to start puts a random one there (`SET NX`), and every
//! replica reads it.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use tokio::time::Instant;

use crate::gate::ratelimit::Exhausted;

/// The longest one GCRA step may take before Redis counts as unavailable.
const ROUND_TRIP: Duration = Duration::from_secs(1);

/// Where the replicas' shared state lives in Redis.
const PREFIX: &str = "lunatask-mcp";

/// One GCRA step. KEYS[1]: the user's arrival time; ARGV[1]: milliseconds between requests;
/// ARGV[2]: the burst. Answers {1, 0} when the request may go now (and counts it), or
/// {0, ms} when it may go in `ms` milliseconds (and counts nothing).
const GCRA: &str = r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local allowed_at = next_tat - tolerance
if allowed_at <= now then
  redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil(tolerance + interval))
  return {1, 0}
end
return {0, math.ceil(allowed_at - now)}
";

/// Why a shared acquire did not grant a slot.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error(transparent)]
    Exhausted(#[from] Exhausted),
    /// Redis could not be asked; what happens then is `LUNATASK_REDIS_UNAVAILABLE`'s.
    #[error("Redis is unavailable: {0}")]
    Unavailable(String),
}

/// The rate limits in Redis.
pub struct SharedLimits {
    redis: ConnectionManager,
    gcra: Script,
    interval_ms: f64,
    burst: u32,
}

impl SharedLimits {
    /// Connects to `url` (reconnecting on its own after a failure).
    pub async fn connect(url: &str, per_minute: u32, burst: u32) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("LUNATASK_REDIS_URL is not a Redis URL: {e}"))?;
        let redis = tokio::time::timeout(Duration::from_secs(5), client.get_connection_manager())
            .await
            .map_err(|_| anyhow::anyhow!("Redis at LUNATASK_REDIS_URL did not answer in 5 s"))?
            .map_err(|e| {
                anyhow::anyhow!(
                    "could not connect to Redis at LUNATASK_REDIS_URL: {}",
                    cause(&e)
                )
            })?;
        Ok(Self {
            redis,
            gcra: Script::new(GCRA),
            interval_ms: 60_000.0 / f64::from(per_minute.max(1)),
            burst: burst.max(1),
        })
    }

    /// The connection, for the other state the replicas share (OAuth's ledger).
    pub fn connection(&self) -> ConnectionManager {
        self.redis.clone()
    }

    /// The key of the users' keyed hash that every replica shares, made by the first.
    pub async fn hash_key(&self, fresh: String) -> anyhow::Result<String> {
        let mut redis = self.redis.clone();
        let key = format!("{PREFIX}:user-hash-key");
        let _: bool = redis
            .set_nx(&key, fresh)
            .await
            .map_err(|e| anyhow::anyhow!("Redis refused the shared hash key: {}", cause(&e)))?;
        redis
            .get(&key)
            .await
            .map_err(|e| anyhow::anyhow!("Redis did not give the shared hash key: {}", cause(&e)))
    }

    /// Waits for a slot for the user with keyed hash `user`, at most until `deadline`;
    /// returns how long it waited.
    pub async fn acquire(&self, user: &str, deadline: Instant) -> Result<Duration, SharedError> {
        let started = Instant::now();
        let key = format!("{PREFIX}:rate:{user}");
        loop {
            let mut redis = self.redis.clone();
            let mut invocation = self.gcra.key(&key);
            invocation.arg(self.interval_ms).arg(self.burst);
            let step = invocation.invoke_async::<(i64, i64)>(&mut redis);
            // A Redis that stops answering (not refusing) must not hold the call to its
            // deadline: past this, it counts as unavailable.
            let (granted, wait_ms) = tokio::time::timeout(ROUND_TRIP, step)
                .await
                .map_err(|_| SharedError::Unavailable("no answer in time".into()))?
                .map_err(|e| SharedError::Unavailable(cause(&e)))?;
            if granted == 1 {
                return Ok(started.elapsed());
            }
            let wait = Duration::from_millis(wait_ms.max(1) as u64);
            if Instant::now() + wait > deadline {
                return Err(Exhausted.into());
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// What went wrong, by kind only: a Redis error's text may quote the URL, password and all.
fn cause(error: &redis::RedisError) -> String {
    format!("{:?}", error.kind())
}
