//! When to try a request again, and how long to wait first.
//!
//! Pure functions of the policy, the attempt number and what went wrong, so that the
//! schedule can be tested (and property-tested) without a network or a clock.

use std::time::Duration;

/// The retry settings of one call (from the host's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff; it doubles every retry.
    pub base_delay: Duration,
    /// No single wait, backoff or Retry-After, is longer than this.
    pub max_delay: Duration,
}

/// Whether a request may be sent again after a failure whose effect is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Sending it twice has the effect of sending it once: GET, PUT, DELETE, and creates
    /// that carry a source/source_id the API de-duplicates on.
    Safe,
    /// A second copy would create a second record (journal entries, timeline notes, habit
    /// tracking): retried only when the first certainly never reached the API.
    OnlyIfNotDelivered,
}

/// What one attempt's failure tells us about retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The API answered with this status.
    Status(u16),
    /// The request never left (connection refused, DNS failure, connect timeout).
    NotDelivered,
    /// The request may have been received and applied; the answer was lost.
    Ambiguous,
    /// The API answered with more than the host reads: the request arrived (a write may have
    /// been applied) and asking again would bring the same answer.
    Oversized,
    /// Retrying cannot help (denied by the host, TLS certificate rejected).
    Fatal,
}

impl Failure {
    /// Statuses that say "try later": overload, maintenance, upstream timeouts.
    pub fn is_transient_status(status: u16) -> bool {
        matches!(status, 429 | 500 | 502 | 503 | 504 | 524)
    }

    /// Whether another attempt may succeed and cannot duplicate anything.
    pub fn should_retry(self, replay: Replay) -> bool {
        match self {
            // 429 means the API refused the request without acting on it.
            Failure::Status(429) | Failure::NotDelivered => true,
            Failure::Status(status) => replay == Replay::Safe && Self::is_transient_status(status),
            Failure::Ambiguous => replay == Replay::Safe,
            Failure::Oversized | Failure::Fatal => false,
        }
    }
}

impl Policy {
    /// The upper bound of the backoff before retry number `retry` (1-based): the base
    /// delay doubled `retry - 1` times, capped.
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 1u64
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u64::MAX);
        let millis = (self.base_delay.as_millis() as u64).saturating_mul(factor);
        Duration::from_millis(millis).min(self.max_delay)
    }

    /// The backoff before retry number `retry`, with "equal jitter": half the ceiling plus
    /// a random share of the other half, so parallel callers spread out but never retry
    /// sooner than half the schedule. `random` is any value in [0, 1).
    pub fn backoff(&self, retry: u32, random: f64) -> Duration {
        let ceiling = self.backoff_ceiling(retry);
        let half = ceiling / 2;
        half + half.mul_f64(random.clamp(0.0, 1.0))
    }

    /// How long to wait before retry `retry`: the server's Retry-After when it gave one
    /// (capped), otherwise the backoff.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, random: f64) -> Duration {
        match retry_after {
            Some(wait) => wait.min(self.max_delay),
            None => self.backoff(retry, random),
        }
    }
}

/// Parses a Retry-After value: delay-seconds, or an HTTP date (then relative to `now_unix`).
pub fn parse_retry_after(value: &str, now_unix: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        return Some(Duration::from_secs_f64(seconds.min(1e9)));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.timestamp() - now_unix;
    Some(Duration::from_secs(delta.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        max_retries: 3,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(30),
    };

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(POLICY.backoff_ceiling(1), Duration::from_secs(1));
        assert_eq!(POLICY.backoff_ceiling(2), Duration::from_secs(2));
        assert_eq!(POLICY.backoff_ceiling(5), Duration::from_secs(16));
        assert_eq!(POLICY.backoff_ceiling(6), Duration::from_secs(30));
        assert_eq!(POLICY.backoff_ceiling(200), Duration::from_secs(30));
        assert_eq!(POLICY.backoff(2, 0.0), Duration::from_secs(1));
        let top = POLICY.backoff(2, 0.999_999);
        assert!(
            top > Duration::from_millis(1999) && top < Duration::from_secs(2),
            "{top:?}"
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after("7", 0), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", 4),
            Some(Duration::from_secs(6))
        );
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(
            POLICY.delay(1, Some(Duration::from_secs(99)), 0.5),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn only_undelivered_or_refused_writes_are_replayed_blindly() {
        use Failure::*;
        let once = Replay::OnlyIfNotDelivered;
        assert!(Status(429).should_retry(once));
        assert!(NotDelivered.should_retry(once));
        assert!(!Status(503).should_retry(once));
        assert!(!Ambiguous.should_retry(once));
        assert!(Status(503).should_retry(Replay::Safe));
        assert!(Ambiguous.should_retry(Replay::Safe));
        assert!(!Status(401).should_retry(Replay::Safe));
        assert!(!Status(404).should_retry(Replay::Safe));
        assert!(!Fatal.should_retry(Replay::Safe));
        assert!(!Oversized.should_retry(Replay::Safe));
    }
}
