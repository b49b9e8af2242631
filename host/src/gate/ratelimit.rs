//! A token bucket shared by every concurrent tool call, so that agents calling in parallel
//! cannot push the API into 429s, served fairly between callers.
//!
//! A call that finds no token waits in its caller's queue; when a token comes, the callers
//! with waiting calls take turns (round robin), so one session that queues seventy calls
//! makes another session's call wait for one token, not seventy. A token is taken only when
//! a call is let through: a waiting call that is cancelled or runs out of time leaves its
//! queue and takes nothing, so abandoned calls are never sent and cost no one a place.
//!
//! Written here rather than taken from a crate: the crates (governor and its kin) give each
//! key its own bucket or one shared FIFO; one shared bucket with per-caller turns is ours.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::gate::users::User;
// Tokio's clock, so that tests can run the limiter on a paused clock.
use tokio::time::Instant;

/// Who a call is made for: the unit of fairness (a session), and in multi-user mode the
/// user whose token and rate limit the call uses. Cheap to clone; equal by name.
#[derive(Debug, Clone)]
pub struct Caller {
    name: Arc<str>,
    user: Option<User>,
}

impl Caller {
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            user: None,
        }
    }

    /// This caller, making its calls as `user`.
    pub fn as_user(&self, user: User) -> Self {
        Self {
            name: Arc::clone(&self.name),
            user: Some(user),
        }
    }

    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }
}

impl PartialEq for Caller {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Caller {}

impl std::hash::Hash for Caller {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// At most `burst` requests at once, then `per_minute` a minute, in any window.
#[derive(Debug)]
pub struct RateLimiter {
    /// Seconds between two tokens.
    interval: f64,
    burst: f64,
    state: Mutex<State>,
    /// Woken when a token is taken or a waiting call leaves: the next in turn may go.
    turn: Notify,
}

#[derive(Debug)]
struct State {
    /// Tokens available at `at`.
    tokens: f64,
    at: Instant,
    /// Callers with waiting calls, in turn order; each caller's calls in arrival order.
    turns: VecDeque<Caller>,
    waiting: HashMap<Caller, VecDeque<u64>>,
    next_ticket: u64,
}

impl State {
    fn refill(&mut self, now: Instant, interval: f64, burst: f64) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed / interval).min(burst);
        self.at = self.at.max(now);
    }

    /// The ticket whose turn it is: the first call of the first caller in turn.
    fn first(&self) -> Option<u64> {
        let caller = self.turns.front()?;
        self.waiting.get(caller)?.front().copied()
    }

    fn calls_waiting(&self, caller: &Caller) -> usize {
        self.waiting.get(caller).map_or(0, VecDeque::len)
    }

    /// Removes `ticket` from `caller`'s queue; a caller with no calls left loses its turn,
    /// and one whose call was let through goes to the back.
    fn leave(&mut self, caller: &Caller, ticket: u64, served: bool) {
        let Some(queue) = self.waiting.get_mut(caller) else {
            return;
        };
        queue.retain(|t| *t != ticket);
        let empty = queue.is_empty();
        if empty {
            self.waiting.remove(caller);
        }
        if let Some(at) = self.turns.iter().position(|c| c == caller) {
            if empty {
                self.turns.remove(at);
            } else if served && at == 0 {
                self.turns.rotate_left(1);
            }
        }
    }
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
                turns: VecDeque::new(),
                waiting: HashMap::new(),
                next_ticket: 0,
            }),
            turn: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot for `caller`, at most until `deadline`; returns how long it waited.
    /// Refused at once when even this caller's own earlier calls leave no slot before the
    /// deadline. Dropping the future (a cancelled call) leaves the queue and takes nothing.
    pub async fn acquire(
        &self,
        caller: &Caller,
        deadline: std::time::Instant,
    ) -> Result<Duration, Exhausted> {
        let deadline = Instant::from_std(deadline);
        let started = Instant::now();
        let ticket = {
            let mut state = self.lock();
            state.refill(started, self.interval, self.burst);
            if state.turns.is_empty() && state.tokens >= 1.0 {
                state.tokens -= 1.0;
                return Ok(Duration::ZERO);
            }
            // This caller's own calls go first; no later turn can make that shorter.
            let ahead = state.calls_waiting(caller) as f64;
            let soonest = ((ahead + 1.0 - state.tokens).max(0.0)) * self.interval;
            if started + Duration::from_secs_f64(soonest) > deadline {
                return Err(Exhausted);
            }
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            let queue = state.waiting.entry(caller.clone()).or_default();
            queue.push_back(ticket);
            if queue.len() == 1 {
                state.turns.push_back(caller.clone());
            }
            ticket
        };
        let mut place = Place {
            limiter: self,
            caller,
            ticket,
            served: false,
        };
        place.wait(deadline).await?;
        Ok(started.elapsed())
    }
}

/// A waiting call's place in its caller's queue; leaving (served, cancelled or out of time)
/// lets the next in turn go.
struct Place<'a> {
    limiter: &'a RateLimiter,
    caller: &'a Caller,
    ticket: u64,
    served: bool,
}

impl Place<'_> {
    async fn wait(&mut self, deadline: Instant) -> Result<(), Exhausted> {
        let limiter = self.limiter;
        loop {
            // Registered before the state is read, so a turn given in between is not missed.
            let turn = limiter.turn.notified();
            let now = Instant::now();
            let next_token = {
                let mut state = limiter.lock();
                state.refill(now, limiter.interval, limiter.burst);
                // A token that float rounding leaves a hair short is a token.
                if state.first() == Some(self.ticket) && state.tokens >= 1.0 - 1e-9 {
                    state.tokens -= 1.0;
                    state.leave(self.caller, self.ticket, true);
                    self.served = true;
                    drop(state);
                    limiter.turn.notify_waiters();
                    return Ok(());
                }
                if state.tokens >= 1.0 - 1e-9 {
                    // A token is there but another call's turn: it takes it and wakes us.
                    deadline
                } else {
                    let missing = (1.0 - state.tokens) * limiter.interval;
                    now + Duration::from_secs_f64(missing)
                }
            };
            if now >= deadline {
                return Err(Exhausted);
            }
            tokio::select! {
                () = turn => {}
                () = tokio::time::sleep_until(next_token.min(deadline)) => {}
            }
        }
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if !self.served {
            self.limiter.lock().leave(self.caller, self.ticket, false);
            self.limiter.turn.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use proptest::prelude::*;

    use super::*;

    fn far() -> std::time::Instant {
        std::time::Instant::now() + Duration::from_secs(3600)
    }

    /// Runs `calls` (caller, arrival offset) against a limiter on tokio's paused clock and
    /// returns the send offsets, in call order.
    async fn send_times(limiter: Arc<RateLimiter>, calls: Vec<(u8, Duration)>) -> Vec<Duration> {
        let t0 = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for (who, at) in calls {
            let limiter = Arc::clone(&limiter);
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(t0 + at).await;
                limiter
                    .acquire(&Caller::new(format!("c{who}")), far())
                    .await
                    .unwrap();
                t0.elapsed()
            }));
        }
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the arrival pattern and however many callers, the send times never
        /// exceed the burst plus the rate in any window.
        #[test]
        fn never_exceeds_the_rate_in_any_window(
            per_minute in 600u32..6_000,
            burst in 1u32..8,
            calls in proptest::collection::vec((0u8..4, 0u64..500), 1..40),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            let calls: Vec<_> = calls.into_iter().map(|(c, ms)| (c, Duration::from_millis(ms))).collect();
            let mut sends = rt.block_on(send_times(Arc::new(RateLimiter::new(per_minute, burst)), calls));
            sends.sort();
            let interval = 60.0 / f64::from(per_minute);
            for (i, start) in sends.iter().enumerate() {
                for (j, end) in sends.iter().enumerate().skip(i) {
                    let window = (*end - *start).as_secs_f64();
                    // The paused clock advances in whole milliseconds.
                    let allowed = f64::from(burst) + (window + 0.002) / interval + 1e-6;
                    prop_assert!(((j - i + 1) as f64) <= allowed,
                        "{} sends in {window}s with burst {burst}, {per_minute}/min", j - i + 1);
                }
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_rate() {
        let limiter = Arc::new(RateLimiter::new(60, 2));
        let sends = send_times(limiter, vec![(0, Duration::ZERO); 4]).await;
        let secs: Vec<u64> = sends.iter().map(|d| d.as_millis() as u64 / 100).collect();
        assert_eq!(secs, vec![0, 0, 10, 20], "{sends:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_caller_waits_for_one_turn_not_for_the_first_callers_queue() {
        let limiter = Arc::new(RateLimiter::new(60, 1));
        let mut calls = vec![(0, Duration::ZERO); 10];
        calls.push((1, Duration::from_millis(10)));
        let sends = send_times(limiter, calls).await;
        // Caller 1 arrived behind nine waiting calls of caller 0: caller 0, first in turn,
        // took the token at 1 s, caller 1 the next one; the rest of caller 0's follow.
        assert_eq!(sends[1].as_millis() / 100, 10, "{sends:?}");
        assert_eq!(sends[10].as_millis() / 100, 20, "{sends:?}");
        assert_eq!(sends[9].as_millis() / 100, 100, "{sends:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn refused_at_once_when_its_own_queue_outlasts_the_deadline() {
        let limiter = RateLimiter::new(60, 1);
        let me = Caller::new("me");
        limiter.acquire(&me, far()).await.unwrap();
        let started = tokio::time::Instant::now();
        let soon = std::time::Instant::now() + Duration::from_millis(500);
        assert_eq!(limiter.acquire(&me, soon).await, Err(Exhausted));
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_wait_takes_no_token_and_gives_its_place_back() {
        let limiter = Arc::new(RateLimiter::new(60, 1));
        let a = Caller::new("a");
        limiter.acquire(&a, far()).await.unwrap();
        let sent = Arc::new(AtomicUsize::new(0));
        let mut cancelled = Vec::new();
        for _ in 0..20 {
            let (limiter, a, sent) = (Arc::clone(&limiter), a.clone(), Arc::clone(&sent));
            cancelled.push(tokio::spawn(async move {
                limiter.acquire(&a, far()).await.unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        for task in &cancelled {
            task.abort();
        }
        let started = tokio::time::Instant::now();
        limiter.acquire(&a, far()).await.unwrap();
        // The next token was due 1 s after the first call, 0.9 s from now.
        assert_eq!(started.elapsed().as_millis() / 100, 9);
        assert_eq!(sent.load(Ordering::SeqCst), 0);
        let state = limiter.lock();
        assert!(state.turns.is_empty() && state.waiting.is_empty());
    }
}
