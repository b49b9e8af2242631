//! The error object agents see, rendered in this one place for the guest's failures (a
//! typed `tool-error` across the WIT boundary) and the host's own (a call the sandbox
//! stopped or refused): `{"error": {"code", "message", "retryable", "correlation_id", ...}}`.

use serde::Serialize;
use serde_json::{Value, json};

use crate::bindings::{ErrorCode, ToolError, WriteOutcome};
use crate::mcp::selection::Refusal;
use crate::sandbox::Stop;

/// One failure, in the shape of the JSON agents branch on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorObject {
    /// The stable code, e.g. `not_found`.
    pub code: &'static str,
    pub message: String,
    /// The argument at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The HTTP status LunaTask answered, where there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub retryable: bool,
    /// For writes: `not_applied` or `unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// The setting that changes the limit the call hit, for the host's own stops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setting: Option<&'static str>,
    /// For batch tools: what became of each item, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Value>,
}

impl ErrorObject {
    /// `{"error": {...}}` with the call's correlation id, as a tool result's text or a
    /// resource error's data.
    pub fn envelope(&self, correlation_id: &str) -> Value {
        let mut body = serde_json::to_value(self).unwrap_or_default();
        body["correlation_id"] = correlation_id.into();
        json!({ "error": body })
    }

    pub fn is_not_found(&self) -> bool {
        self.code == "not_found"
    }

    /// A call the sandbox stopped or refused. For a tool that writes, whether it may have
    /// reached LunaTask: stopped before it began, it sent nothing; stopped midway, a
    /// request may have been applied.
    pub fn stopped(stop: &Stop, writes: bool) -> Self {
        let (code, retryable) = match stop {
            Stop::Deadline(_) => ("timeout", true),
            Stop::MemoryLimit { .. } => ("memory_limit", false),
            Stop::Trap(_) => ("internal_error", false),
            Stop::Instantiate(_) | Stop::ShuttingDown => ("internal_error", true),
            Stop::Overloaded { .. } => ("overloaded", true),
        };
        let began = !matches!(
            stop,
            Stop::Instantiate(_) | Stop::ShuttingDown | Stop::Overloaded { .. }
        );
        Self {
            code,
            message: stop.to_string(),
            field: None,
            http_status: None,
            retryable,
            outcome: writes.then_some(if began { "unknown" } else { "not_applied" }),
            setting: stop.setting(),
            items: None,
        }
    }
}

impl ErrorObject {
    /// A call of a tool this server, or this request, does not offer: nothing was sent.
    pub fn refused(refusal: Refusal, writes: bool) -> Self {
        Self {
            code: "tool_not_allowed",
            message: refusal.message,
            field: None,
            http_status: None,
            retryable: false,
            outcome: writes.then_some("not_applied"),
            setting: Some(refusal.setting),
            items: None,
        }
    }
}

impl From<ToolError> for ErrorObject {
    fn from(e: ToolError) -> Self {
        Self {
            code: match e.code {
                ErrorCode::ValidationError => "validation_error",
                ErrorCode::AuthenticationError => "authentication_error",
                ErrorCode::SubscriptionRequired => "subscription_required",
                ErrorCode::NotFound => "not_found",
                ErrorCode::RateLimited => "rate_limited",
                ErrorCode::UpstreamError => "upstream_error",
                ErrorCode::Timeout => "timeout",
                ErrorCode::NetworkError => "network_error",
                ErrorCode::EgressDenied => "egress_denied",
                ErrorCode::InternalError => "internal_error",
            },
            message: e.message,
            field: e.field,
            http_status: e.http_status,
            retryable: e.retryable,
            outcome: e.outcome.map(|o| match o {
                WriteOutcome::NotApplied => "not_applied",
                WriteOutcome::Unknown => "unknown",
            }),
            setting: None,
            // The guest's own JSON; a batch's error without it still says what failed.
            items: e.items.and_then(|text| serde_json::from_str(&text).ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_carries_the_correlation_id_and_only_the_fields_that_are_set() {
        let error = ErrorObject::from(ToolError {
            code: ErrorCode::NotFound,
            message: "no such task".into(),
            field: None,
            http_status: Some(404),
            retryable: false,
            outcome: None,
            items: None,
        });
        assert!(error.is_not_found());
        assert_eq!(
            error.envelope("c-1"),
            json!({ "error": {
                "code": "not_found", "message": "no such task", "http_status": 404,
                "retryable": false, "correlation_id": "c-1"
            }})
        );
        let stopped =
            ErrorObject::stopped(&Stop::Deadline(std::time::Duration::from_secs(1)), true);
        let body = &stopped.envelope("c-2")["error"];
        assert_eq!(body["code"], "timeout");
        assert_eq!(body["outcome"], "unknown");
        assert_eq!(body["setting"], "LUNATASK_CALL_TIMEOUT");
    }
}
