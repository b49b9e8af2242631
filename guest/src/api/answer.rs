//! What an answer means when it is not a success: LunaTask's error statuses mapped to the
//! errors agents see, naming what the request concerned; and secrets kept out of what
//! reaches the agent.

use serde_json::Value;

use super::Subject;
use crate::error::{Code, ToolError};
use crate::retry::Failure;

/// Maps an API error status to the error agents see, naming what the request concerned.
pub fn status_error(status: u16, body: &[u8], subject: Subject) -> ToolError {
    let said = api_message(body)
        .map(|m| format!(" LunaTask said: {}.", m.trim_end_matches('.')))
        .unwrap_or_default();
    let what = subject.noun();
    let (code, message) = match status {
        400 | 422 => (
            Code::ValidationError,
            format!(
                "LunaTask {} the {what} ({status}).{said} {}",
                if status == 400 {
                    "rejected the request for"
                } else {
                    "could not accept"
                },
                subject.rejection_hint(status)
            ),
        ),
        401 => (
            Code::AuthenticationError,
            format!(
                "LunaTask rejected the access token (401): it is missing, wrong or revoked. \
                 Create a new one in the LunaTask desktop app (Settings → Access tokens) and \
                 restart this server with it.{said}"
            ),
        ),
        402 => (
            Code::SubscriptionRequired,
            format!(
                "LunaTask's free-plan limit was reached (402) for this {what}: this needs a \
                 paid subscription.{said}"
            ),
        ),
        404 => (
            Code::NotFound,
            format!("LunaTask has no such {what} (404): check the id, or it was deleted.{said}"),
        ),
        429 => (
            Code::RateLimited,
            format!("LunaTask is rate limiting requests (429): wait a minute and try again.{said}"),
        ),
        503 => (
            Code::UpstreamError,
            format!("LunaTask is offline for maintenance (503): try again later.{said}"),
        ),
        524 => (
            Code::UpstreamError,
            format!("LunaTask timed out upstream (524): try again.{said}"),
        ),
        s if s >= 500 => (
            Code::UpstreamError,
            format!("LunaTask had a server error ({s}): try again later.{said}"),
        ),
        s => (
            Code::UpstreamError,
            format!("LunaTask answered the {what} with an unexpected status {s}.{said}"),
        ),
    };
    ToolError::new(code, message)
        .with_status(status)
        .retryable(Failure::is_transient_status(status))
}

/// Shorter strings are not searched for: they would match ordinary text, and no real token
/// is this short.
const MIN_SECRET_LEN: usize = 6;

/// `body` with every occurrence of `secret` replaced by `[redacted]`. By hand, not with a
/// search crate: it runs only in the portable world, and the component's size matters more
/// than the speed of a scan that almost always finds nothing.
/// Whether `secret` (long enough to be one) occurs in `text`.
pub(super) fn contains(text: &[u8], secret: &[u8]) -> bool {
    secret.len() >= MIN_SECRET_LEN && text.windows(secret.len()).any(|w| w == secret)
}

pub(super) fn without_secret(body: Vec<u8>, secret: &[u8]) -> Vec<u8> {
    let found = |at: usize| body[at..].starts_with(secret);
    if secret.len() < MIN_SECRET_LEN || !(0..body.len()).any(found) {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut at = 0;
    while at < body.len() {
        if found(at) {
            out.extend_from_slice(b"[redacted]");
            at += secret.len();
        } else {
            out.push(body[at]);
            at += 1;
        }
    }
    out
}

/// The `message` of an error body, shortened; error bodies carry no user text.
pub(super) fn api_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let message = value
        .get("message")
        .or_else(|| value.get("error"))?
        .as_str()?;
    Some(message.chars().take(300).collect())
}
