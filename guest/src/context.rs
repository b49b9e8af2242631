//! What one call needs to know beyond its arguments: where LunaTask is, how long it may
//! take and how to retry. The host world hands it over with every call; the portable world
//! reads it from the environment (see [`crate::portable`]).

/// Per-call settings, independent of the world the component was built for.
#[derive(Clone, PartialEq, Eq)]
pub struct Context {
    /// The LunaTask API base URL, e.g. `https://api.lunatask.app/v1`.
    pub base_url: String,
    /// Milliseconds before the call must give up.
    pub deadline_ms: u64,
    /// Retries after the first attempt for a retryable failure.
    pub max_retries: u32,
    /// First backoff delay in milliseconds; doubles each retry.
    pub retry_base_delay_ms: u64,
    /// Cap on any single wait, backoff or Retry-After, in milliseconds.
    pub retry_max_delay_ms: u64,
    /// The user's offset from UTC in minutes, for what "today" means in task views.
    pub utc_offset_minutes: i32,
    /// The call's correlation id when the host made one; otherwise the call makes its own.
    pub correlation_id: Option<String>,
    /// The API token, only in the portable world: there nobody adds it on the way out.
    /// In the host's world this is always `None` and the host adds the token.
    pub token: Option<String>,
}

impl Context {
    /// The id for this call's requests and result: the host's, or a fresh one.
    pub fn correlation_id(&self) -> String {
        self.correlation_id
            .clone()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(crate::ids::uuid_v4)
    }
}

// By hand, so that the token can never reach a log line or an error through `{:?}`.
impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("base_url", &self.base_url)
            .field("deadline_ms", &self.deadline_ms)
            .field("max_retries", &self.max_retries)
            .field("correlation_id", &self.correlation_id)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}
