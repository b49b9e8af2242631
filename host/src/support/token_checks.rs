//! Bounds on asking LunaTask whether a token works. The consent page and, in bearer-token
//! mode, the first request with a token this server has not seen each cost a `/ping` to
//! LunaTask from this server's address; unbounded, they make the server an oracle for
//! guessed or stolen tokens, and can get its address blocked by LunaTask for every user.
//! So checks are limited in total, per client address (with a delay that doubles after
//! each failure from that address) and, on the consent page, per consent request; and a
//! token LunaTask accepted is remembered (by its keyed hash) for a while, so its owner's
//! later requests cost nothing.
//!
//! Hand-written: a fixed window and a failure counter per address are a few lines, and the
//! limiter crates' keyed limiters have no notion of a penalty that grows with failures.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The window the per-minute limits count in.
const WINDOW: Duration = Duration::from_secs(60);
/// The longest delay failures from one address earn.
const MAX_PENALTY: Duration = Duration::from_secs(64);
/// How long a token LunaTask accepted counts as a user without another check.
const VERIFIED_FOR: Duration = Duration::from_secs(15 * 60);
/// Entries beyond which the expired ones are swept out of a map.
const SWEEP_AT: usize = 10_000;

/// The limits, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Checks per minute in all (LUNATASK_MCP_TOKEN_CHECKS_PER_MINUTE).
    pub total_per_minute: u32,
    /// Checks per minute from one client address (LUNATASK_MCP_TOKEN_CHECKS_PER_ADDRESS).
    pub per_address_per_minute: u32,
    /// Checks one consent request may make.
    pub per_request: u32,
}

/// Why a check may not be made now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("too many token checks; try again in {} s", .0.as_secs().max(1))]
    Wait(Duration),
    #[error("this sign-in page has had its tries; start the sign-in again from your app")]
    RequestSpent,
}

impl Refused {
    /// How long to wait before trying again, for a Retry-After header.
    pub fn retry_after(&self) -> Duration {
        match self {
            Refused::Wait(wait) => *wait,
            Refused::RequestSpent => WINDOW,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl Window {
    fn new(now: Instant) -> Self {
        Self {
            started: now,
            count: 0,
        }
    }

    /// Counts one if the window has room; otherwise how long until it opens again.
    fn take(&mut self, limit: u32, now: Instant) -> Result<(), Duration> {
        if now.duration_since(self.started) >= WINDOW {
            *self = Self::new(now);
        }
        if self.count >= limit {
            return Err(WINDOW.saturating_sub(now.duration_since(self.started)));
        }
        self.count += 1;
        Ok(())
    }
}

#[derive(Debug)]
struct Address {
    window: Window,
    failures: u32,
    not_before: Instant,
}

#[derive(Debug)]
struct State {
    total: Window,
    addresses: HashMap<IpAddr, Address>,
    requests: HashMap<String, (u32, Instant)>,
    verified: HashMap<Arc<str>, Instant>,
}

pub struct TokenChecks {
    limits: Limits,
    state: Mutex<State>,
}

impl TokenChecks {
    pub fn new(limits: Limits) -> Self {
        let now = Instant::now();
        Self {
            limits,
            state: Mutex::new(State {
                total: Window::new(now),
                addresses: HashMap::new(),
                requests: HashMap::new(),
                verified: HashMap::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a turn for one check from `address` (for the consent request `request`, on
    /// the consent page), or says why not. Nothing is counted when it is refused.
    pub fn admit(&self, address: Option<IpAddr>, request: Option<&str>) -> Result<(), Refused> {
        let now = Instant::now();
        let limits = self.limits;
        let mut state = self.state();
        let state = &mut *state;
        if let Some(request) = request {
            let used = state.requests.get(request).map_or(0, |(n, _)| *n);
            if used >= limits.per_request {
                return Err(Refused::RequestSpent);
            }
        }
        if let Some(address) = address {
            sweep(&mut state.addresses, |a| {
                now.duration_since(a.window.started) < WINDOW * 2 || a.not_before > now
            });
            let entry = state.addresses.entry(address).or_insert_with(|| Address {
                window: Window::new(now),
                failures: 0,
                not_before: now,
            });
            if entry.not_before > now {
                return Err(Refused::Wait(entry.not_before - now));
            }
            // Counted only once the total has room too, so a refusal costs nothing.
            let mut window = entry.window;
            window
                .take(limits.per_address_per_minute, now)
                .map_err(Refused::Wait)?;
            state
                .total
                .take(limits.total_per_minute, now)
                .map_err(Refused::Wait)?;
            entry.window = window;
        } else {
            state
                .total
                .take(limits.total_per_minute, now)
                .map_err(Refused::Wait)?;
        }
        if let Some(request) = request {
            sweep(&mut state.requests, |(_, at)| {
                now.duration_since(*at) < WINDOW * 30
            });
            state
                .requests
                .entry(request.to_string())
                .or_insert((0, now))
                .0 += 1;
        }
        Ok(())
    }

    /// LunaTask refused the token checked for `address`. One mistake is free (a person
    /// who mistyped tries again at once); after that each check waits twice as long as the
    /// last (1 s, 2 s, 4 s ... up to about a minute).
    pub fn failed(&self, address: Option<IpAddr>) {
        let Some(address) = address else { return };
        let now = Instant::now();
        if let Some(entry) = self.state().addresses.get_mut(&address) {
            entry.failures += 1;
            if entry.failures >= 2 {
                let doublings = (entry.failures - 2).min(6);
                entry.not_before = now + Duration::from_secs(1u64 << doublings).min(MAX_PENALTY);
            }
        }
    }

    /// LunaTask accepted the token with keyed hash `key`, checked for `address`.
    pub fn succeeded(&self, address: Option<IpAddr>, key: &Arc<str>) {
        let now = Instant::now();
        let mut state = self.state();
        if let Some(entry) = address.and_then(|a| state.addresses.get_mut(&a)) {
            entry.failures = 0;
        }
        sweep(&mut state.verified, |at| {
            now.duration_since(*at) < VERIFIED_FOR
        });
        state.verified.insert(Arc::clone(key), now);
    }

    /// Whether the token with keyed hash `key` was accepted by LunaTask lately.
    pub fn verified(&self, key: &str) -> bool {
        self.state()
            .verified
            .get(key)
            .is_some_and(|at| at.elapsed() < VERIFIED_FOR)
    }
}

/// Drops the entries `keep` refuses once the map is large, so that it stays bounded.
fn sweep<K, V>(map: &mut HashMap<K, V>, keep: impl Fn(&V) -> bool) {
    if map.len() >= SWEEP_AT {
        map.retain(|_, v| keep(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: u32, per_address: u32) -> Limits {
        Limits {
            total_per_minute: total,
            per_address_per_minute: per_address,
            per_request: 3,
        }
    }

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn each_address_and_the_total_are_bounded() {
        let checks = TokenChecks::new(limits(3, 2));
        assert!(checks.admit(A, None).is_ok());
        assert!(checks.admit(A, None).is_ok());
        assert!(matches!(checks.admit(A, None), Err(Refused::Wait(_))));
        assert!(checks.admit(B, None).is_ok());
        assert!(
            matches!(checks.admit(B, None), Err(Refused::Wait(_))),
            "the total is spent"
        );
    }

    #[test]
    fn failures_earn_a_growing_delay_and_a_request_only_a_few_tries() {
        let checks = TokenChecks::new(limits(100, 100));
        assert!(checks.admit(A, Some("r")).is_ok());
        checks.failed(A);
        assert!(checks.admit(A, None).is_ok(), "one mistake is free");
        checks.failed(A);
        let Err(Refused::Wait(wait)) = checks.admit(A, Some("r")) else {
            panic!("a failure is followed by a wait");
        };
        assert!(wait <= Duration::from_secs(1));
        // r has had one try; two more, from anywhere, then it is spent.
        assert!(checks.admit(B, Some("r")).is_ok());
        assert!(checks.admit(B, Some("r")).is_ok());
        assert_eq!(checks.admit(B, Some("r")), Err(Refused::RequestSpent));
    }

    #[test]
    fn an_accepted_token_is_remembered() {
        let checks = TokenChecks::new(limits(1, 1));
        let key: Arc<str> = "k".into();
        assert!(!checks.verified(&key));
        checks.succeeded(A, &key);
        assert!(checks.verified(&key));
    }
}
