//! The one error type every tool returns, with the stable codes agents branch on.

/// A stable, documented error code. Agents and tests branch on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The arguments were rejected before anything was sent.
    ValidationError,
    /// 401: the token is missing, wrong or revoked.
    AuthenticationError,
    /// 402: the free plan's limit was reached.
    SubscriptionRequired,
    /// 404: no such entity (also a second delete).
    NotFound,
    /// 429, after the configured retries.
    RateLimited,
    /// Any other non-2xx answer (400, 422, 5xx after retries, an unreadable body).
    UpstreamError,
    /// A connect, read or write timeout, or the call's deadline.
    Timeout,
    /// The connection failed or dropped.
    NetworkError,
    /// The destination was refused: by our host (only the configured LunaTask API is
    /// reachable) or, for the portable component, by its runtime's network policy.
    EgressDenied,
    /// A bug or an exhausted limit inside this server.
    InternalError,
}

impl Code {
    /// Every code, in documentation order (for the portable world's WIT enum). A new code
    /// belongs here too; `as_str` below will not compile without it.
    pub const ALL: [Code; 10] = [
        Code::ValidationError,
        Code::AuthenticationError,
        Code::SubscriptionRequired,
        Code::NotFound,
        Code::RateLimited,
        Code::UpstreamError,
        Code::Timeout,
        Code::NetworkError,
        Code::EgressDenied,
        Code::InternalError,
    ];

    /// The code as agents see it, e.g. `not_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ValidationError => "validation_error",
            Code::AuthenticationError => "authentication_error",
            Code::SubscriptionRequired => "subscription_required",
            Code::NotFound => "not_found",
            Code::RateLimited => "rate_limited",
            Code::UpstreamError => "upstream_error",
            Code::Timeout => "timeout",
            Code::NetworkError => "network_error",
            Code::EgressDenied => "egress_denied",
            Code::InternalError => "internal_error",
        }
    }
}

/// Whether a failed write may or may not have been applied by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The request certainly changed nothing (refused before sending, or rejected).
    NotApplied,
    /// The request may have been applied: the answer was lost. Check before retrying.
    Unknown,
}

/// Converts a [`ToolError`] into a world's WIT `tool-error` record. Each world generates
/// its own types, with the same case names; `$tool_error`, `$code` and `$outcome` name them
/// at the call site, and `$field: $value` fills the fields one world adds.
#[macro_export]
macro_rules! to_wit_error {
    ($error:expr, $tool_error:ident, $code:ident, $outcome:ident $(, $field:ident: $value:expr)*) => {{
        let error: $crate::error::ToolError = $error;
        $tool_error {
            code: match error.code {
                $crate::error::Code::ValidationError => $code::ValidationError,
                $crate::error::Code::AuthenticationError => $code::AuthenticationError,
                $crate::error::Code::SubscriptionRequired => $code::SubscriptionRequired,
                $crate::error::Code::NotFound => $code::NotFound,
                $crate::error::Code::RateLimited => $code::RateLimited,
                $crate::error::Code::UpstreamError => $code::UpstreamError,
                $crate::error::Code::Timeout => $code::Timeout,
                $crate::error::Code::NetworkError => $code::NetworkError,
                $crate::error::Code::EgressDenied => $code::EgressDenied,
                $crate::error::Code::InternalError => $code::InternalError,
            },
            message: error.message,
            field: error.field,
            http_status: error.http_status,
            retryable: error.retryable,
            outcome: error.outcome.map(|outcome| match outcome {
                $crate::error::WriteOutcome::NotApplied => $outcome::NotApplied,
                $crate::error::WriteOutcome::Unknown => $outcome::Unknown,
            }),
            $($field: $value,)*
        }
    }};
}

/// A tool failure: what went wrong, in words a person can act on. Each world turns it into
/// its WIT `tool-error` (see [`to_wit_error`]); the host renders the JSON agents see.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ToolError {
    pub code: Code,
    pub message: String,
    /// The argument at fault, for validation errors.
    pub field: Option<String>,
    /// The HTTP status the API answered, where there was one.
    pub http_status: Option<u16>,
    /// Whether trying again later may succeed.
    pub retryable: bool,
    /// For writes that failed in transit: whether they may have been applied.
    pub outcome: Option<WriteOutcome>,
    /// For batch tools: each item's result, as a JSON array (text).
    pub items: Option<String>,
}

impl ToolError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            http_status: None,
            retryable: matches!(code, Code::RateLimited | Code::Timeout | Code::NetworkError),
            outcome: None,
            items: None,
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        let message = if field.is_empty() {
            message
        } else {
            format!("{field}: {message}")
        };
        Self {
            field: Some(field).filter(|f| !f.is_empty()),
            ..Self::new(Code::ValidationError, message)
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::InternalError, message)
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    pub fn with_outcome(mut self, outcome: WriteOutcome) -> Self {
        self.outcome = Some(outcome);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_and_named_as_agents_see_it() {
        for code in Code::ALL {
            let debug = format!("{code:?}");
            let snake: String = debug
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let gap = (i > 0 && c.is_uppercase()).then_some('_');
                    gap.into_iter().chain(c.to_lowercase())
                })
                .collect();
            assert_eq!(code.as_str(), snake);
        }
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
    }
}
