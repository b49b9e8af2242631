//! What every layer may use and which uses no layer: logging to stderr, the metrics, secrets
//! and the redaction of them, progress reports, the limits on token checks, what an HTTP
//! request carries (its bearer, its client's address), and base directories.
//!
//! May use: nothing of this crate's but itself.

pub mod logging;
pub mod metrics;
pub mod progress;
pub mod redact;
pub mod request;
pub mod secret;
pub mod token_checks;
pub mod xdg;
