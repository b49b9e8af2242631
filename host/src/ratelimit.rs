//! A token bucket shared by every concurrent tool call, so that agents calling in parallel
//! cannot push the API into 429s. Callers reserve a slot and wait their turn (first come,
//! first served) instead of failing; a reservation that would outlast the caller's deadline
//! is given back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `burst` requests at once, then `per_minute` a minute, in any window.
#[derive(Debug)]
pub struct RateLimiter {
    /// Seconds between two tokens.
    interval: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Tokens available at `at`; negative when callers are queued for future tokens.
    tokens: f64,
    at: Instant,
}

/// The caller could not get a slot before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no request slot before the deadline (rate limit)")]
pub struct Exhausted;

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            interval: 60.0 / f64::from(per_minute.max(1)),
            burst: f64::from(burst.max(1)),
            state: Mutex::new(State {
                tokens: f64::from(burst.max(1)),
                at: Instant::now(),
            }),
        }
    }

    /// Reserves one request at `now`: how long to wait before sending, or `Exhausted`
    /// (reserving nothing) when that is past `deadline`.
    pub fn reserve(&self, now: Instant, deadline: Instant) -> Result<Duration, Exhausted> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(state.at).as_secs_f64();
        state.tokens = (state.tokens + elapsed / self.interval).min(self.burst);
        state.at = state.at.max(now);
        let wait = if state.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - state.tokens) * self.interval)
        };
        if now + wait > deadline {
            return Err(Exhausted);
        }
        state.tokens -= 1.0;
        Ok(wait)
    }

    /// Waits for a slot; returns how long it waited.
    pub async fn acquire(&self, deadline: Instant) -> Result<Duration, Exhausted> {
        let wait = self.reserve(Instant::now(), deadline)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the arrival pattern, the granted send times never exceed the burst plus
        /// the rate in any window.
        #[test]
        fn never_exceeds_the_rate_in_any_window(
            per_minute in 1u32..6_000,
            burst in 1u32..20,
            gaps_ms in proptest::collection::vec(0u64..2_000, 1..200),
        ) {
            let limiter = RateLimiter::new(per_minute, burst);
            let t0 = Instant::now();
            let far = t0 + Duration::from_secs(1_000_000);
            let mut now = t0;
            let mut sends = Vec::new();
            for gap in gaps_ms {
                now += Duration::from_millis(gap);
                let wait = limiter.reserve(now, far).unwrap();
                sends.push(now + wait);
            }
            sends.sort();
            let interval = 60.0 / f64::from(per_minute);
            for (i, start) in sends.iter().enumerate() {
                for (j, end) in sends.iter().enumerate().skip(i) {
                    let window = end.duration_since(*start).as_secs_f64();
                    let allowed = f64::from(burst) + window / interval + 1e-6;
                    prop_assert!(((j - i + 1) as f64) <= allowed,
                        "{} sends in {window}s with burst {burst}, {per_minute}/min", j - i + 1);
                }
            }
        }
    }

    #[test]
    fn burst_then_rate_and_never_past_the_deadline() {
        let limiter = RateLimiter::new(60, 2);
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(3600);
        assert_eq!(limiter.reserve(t0, far), Ok(Duration::ZERO));
        assert_eq!(limiter.reserve(t0, far), Ok(Duration::ZERO));
        let third = limiter.reserve(t0, far).unwrap();
        assert!((third.as_secs_f64() - 1.0).abs() < 1e-6, "{third:?}");
        let fourth = limiter.reserve(t0, far).unwrap();
        assert!((fourth.as_secs_f64() - 2.0).abs() < 1e-6, "{fourth:?}");
        // A caller that cannot wait 3 s is refused and takes no slot.
        assert_eq!(
            limiter.reserve(t0, t0 + Duration::from_secs(1)),
            Err(Exhausted)
        );
        let fifth = limiter.reserve(t0, far).unwrap();
        assert!((fifth.as_secs_f64() - 3.0).abs() < 1e-6, "{fifth:?}");
    }
}
