//! One attempt at a request and what its failure means: whether it may be sent again (the
//! tool's effect), the transport's failures in words that name what to change, and the
//! clocks and randomness the retries wait by.

use std::time::Duration;

use waki::ErrorCode;

use serde_json::Value;

use super::answer::without_secret;
use super::{
    ATTEMPT_HEADER, Answered, Api, CORRELATION_HEADER, Method, Reply, Subject, status_error,
};
use crate::effect::Effect;
use crate::error::{Code, ToolError};
use crate::retry::{Failure, Replay, parse_retry_after};

/// One attempt's failure, with what we need to report it.
pub(super) struct AttemptError {
    pub(super) failure: Failure,
    pub(super) error: ToolError,
    pub(super) retry_after: Option<Duration>,
}

/// Whether a request of a tool with `effect` may be sent again: a GET always may, a write
/// as the effect says; a read-only tool may send nothing else.
pub(super) fn replay_for(effect: Effect, method: Method, path: &str) -> Result<Replay, ToolError> {
    match method {
        Method::Get => Ok(Replay::Safe),
        _ if effect == Effect::Read => Err(ToolError::internal(format!(
            "a read-only tool tried to send {} {path}; nothing was sent",
            method.as_str()
        ))),
        _ => Ok(effect.replay()),
    }
}

impl Api<'_> {
    pub(super) fn attempt(
        &self,
        method: Method,
        url: &str,
        subject: Subject,
        body: Option<&[u8]>,
        attempt: u32,
        open: bool,
    ) -> Result<Answered, AttemptError> {
        let client = waki::Client::new();
        let mut request = match method {
            Method::Get => client.get(url),
            Method::Post => client.post(url),
            Method::Put => client.put(url),
            Method::Delete => client.delete(url),
        }
        .header("accept", "application/json")
        .header(CORRELATION_HEADER, self.correlation_id)
        .header(ATTEMPT_HEADER, attempt.to_string());
        // Only the portable world holds a token; in the host's world the host adds it.
        if let Some(token) = &self.ctx.token {
            request = request.header("authorization", format!("bearer {token}"));
        }
        if let Some(body) = body {
            // Declared here too, not only by our host's gate: in other runtimes (the portable
            // world) nothing else would, and the body would leave chunked.
            request = request
                .header("content-type", "application/json")
                .header("content-length", body.len().to_string())
                .body(body.to_vec());
        }
        let response = request.send().map_err(transport_error)?;
        let status = response.status_code();
        // Our host's own 401 when it has no token to add: nothing reached LunaTask.
        let no_token = status == 401 && response.header("x-lunatask-mcp-no-token").is_some();
        let retry_after = response
            .header("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, wall_now_unix()));
        if open && (200..300).contains(&status) {
            return Ok(Answered::Open { status, response });
        }
        let body = response.body().map_err(|e| AttemptError {
            failure: Failure::Ambiguous,
            error: ToolError::new(
                Code::NetworkError,
                format!("the connection to LunaTask broke while reading the answer: {e}"),
            )
            .with_status(status),
            retry_after: None,
        })?;
        // In the host's world the host removes its secrets from answers; the portable world
        // holds its token itself, so an answer echoing it back must lose it here.
        let body = match &self.ctx.token {
            Some(token) => without_secret(body, token.as_bytes()),
            None => body,
        };
        if (200..300).contains(&status) {
            return Ok(Answered::Read(Reply { status, body }));
        }
        let error = if no_token {
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|b| b["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| "no LunaTask access token".into());
            ToolError::new(
                Code::AuthenticationError,
                format!("This server has {message}."),
            )
            .with_status(status)
        } else {
            status_error(status, &body, subject)
        };
        Err(AttemptError {
            failure: Failure::Status(status),
            error,
            retry_after,
        })
    }
}

/// Why a destination was refused, as the world this component runs in says it: our host
/// allows the configured API only; another runtime refuses by its own policy.
#[cfg(not(feature = "portable"))]
pub(super) const EGRESS_DENIED: &str =
    "the host refused this destination: only the configured LunaTask API may be reached";
#[cfg(feature = "portable")]
pub(super) const EGRESS_DENIED: &str = "the runtime's network policy refused this destination: grant this \
    component access to the LunaTask API's host (api.lunatask.app, or LUNATASK_BASE_URL's)";

/// Who sends this component's requests, as errors name it: our host, or another runtime.
#[cfg(not(feature = "portable"))]
pub(super) const SENDER: &str = "the host";
#[cfg(feature = "portable")]
pub(super) const SENDER: &str = "the runtime";

/// The settings the transport messages name. In another runtime they are lunatask-mcp's,
/// not the runtime's: said so.
#[cfg(not(feature = "portable"))]
pub(super) const CONNECT_TIMEOUT: &str = "LUNATASK_HTTP_TIMEOUT_CONNECT";
#[cfg(feature = "portable")]
pub(super) const CONNECT_TIMEOUT: &str = "the runtime's connect timeout";
#[cfg(not(feature = "portable"))]
pub(super) const READ_TIMEOUT: &str = "LUNATASK_HTTP_TIMEOUT_READ";
#[cfg(feature = "portable")]
pub(super) const READ_TIMEOUT: &str = "the runtime's read timeout";
#[cfg(not(feature = "portable"))]
pub(super) const STALL_TIMEOUT: &str = "LUNATASK_HTTP_TIMEOUT_WRITE";
#[cfg(feature = "portable")]
pub(super) const STALL_TIMEOUT: &str = "the runtime's between-bytes timeout";
#[cfg(not(feature = "portable"))]
pub(super) const TRUST_CA: &str = "set LUNATASK_CA_CERT to the proxy's CA certificate (a PEM file)";
#[cfg(feature = "portable")]
pub(super) const TRUST_CA: &str =
    "add the proxy's CA certificate to the certificates the runtime trusts";
pub(super) const BASE_URL_DEFAULT: &str = ", https://api.lunatask.app/v1 by default";

/// Classifies a failed send in words a person can act on, each naming what to change (never
/// a Rust type's name); waki reports wasi-http error codes inside `anyhow::Error`.
pub(super) fn transport_error(err: anyhow::Error) -> AttemptError {
    let code = err.downcast_ref::<ErrorCode>().cloned();
    let (failure, code, message) = match &code {
        Some(ErrorCode::HttpRequestDenied) => (
            Failure::Fatal,
            Code::EgressDenied,
            EGRESS_DENIED.to_string(),
        ),
        Some(ErrorCode::ConnectionLimitReached) => (
            Failure::Fatal,
            Code::RateLimited,
            "the local rate limit could not grant a request before this call's deadline; \
             try again shortly"
                .to_string(),
        ),
        Some(ErrorCode::ConnectionRefused) => (
            Failure::NotDelivered,
            Code::NetworkError,
            format!(
                "LunaTask's address refused the connection: check LUNATASK_BASE_URL (the \
                 API's address{BASE_URL_DEFAULT}) and that this machine's network reaches it"
            ),
        ),
        Some(ErrorCode::DnsTimeout | ErrorCode::DnsError(_) | ErrorCode::DestinationNotFound) => (
            Failure::NotDelivered,
            Code::NetworkError,
            format!(
                "LunaTask's host name could not be resolved (DNS): check this machine's \
                 network connection, and the host in LUNATASK_BASE_URL{BASE_URL_DEFAULT}"
            ),
        ),
        Some(ErrorCode::DestinationUnavailable | ErrorCode::DestinationIpUnroutable) => (
            Failure::NotDelivered,
            Code::NetworkError,
            format!(
                "LunaTask could not be reached: check this machine's network connection, \
                 and LUNATASK_BASE_URL{BASE_URL_DEFAULT}"
            ),
        ),
        Some(ErrorCode::ConnectionTimeout) => (
            Failure::NotDelivered,
            Code::Timeout,
            format!(
                "connecting to LunaTask timed out: check this machine's network connection \
                 ({CONNECT_TIMEOUT} sets how long a connect may take)"
            ),
        ),
        Some(ErrorCode::ConnectionReadTimeout) => (
            Failure::Ambiguous,
            Code::Timeout,
            format!(
                "LunaTask did not answer in time ({READ_TIMEOUT} sets how long its answer may \
                 take to start)"
            ),
        ),
        Some(ErrorCode::HttpResponseTimeout) => (
            Failure::Ambiguous,
            Code::Timeout,
            format!(
                "LunaTask's answer stopped arriving midway ({STALL_TIMEOUT} sets how long a \
                 pause between its bytes may be)"
            ),
        ),
        Some(ErrorCode::HttpResponseBodySize(limit)) => (
            Failure::Oversized,
            Code::UpstreamError,
            format!(
                "LunaTask's answer was larger than {SENDER} reads ({}; with lunatask-mcp, \
                 LUNATASK_MAX_ANSWER_BYTES raises it); it was not retried, since it would be as \
                 large again",
                limit.map_or("its limit".to_string(), |bytes| format!("{bytes} bytes"))
            ),
        ),
        Some(ErrorCode::HttpRequestBodySize(_)) => (
            Failure::Fatal,
            Code::InternalError,
            format!(
                "{SENDER} refused to send the request: its body did not end in time or was \
                 larger than this call's memory"
            ),
        ),
        Some(ErrorCode::TlsCertificateError) => (
            Failure::Fatal,
            Code::NetworkError,
            format!(
                "LunaTask's TLS certificate was not trusted, so nothing was sent. Behind a \
                 TLS-intercepting proxy (common on company networks), {TRUST_CA}; otherwise \
                 check LUNATASK_BASE_URL{BASE_URL_DEFAULT}"
            ),
        ),
        Some(ErrorCode::TlsProtocolError | ErrorCode::TlsAlertReceived(_)) => (
            Failure::Fatal,
            Code::NetworkError,
            format!(
                "the secure (TLS) connection to LunaTask could not be set up, so nothing was \
                 sent: check that LUNATASK_BASE_URL is the API's https address{BASE_URL_DEFAULT}; \
                 behind a TLS-intercepting proxy, {TRUST_CA}"
            ),
        ),
        _ => (
            Failure::Ambiguous,
            Code::NetworkError,
            "the connection to LunaTask broke before its answer arrived: check this \
             machine's network connection"
                .to_string(),
        ),
    };
    let retryable =
        !matches!(failure, Failure::Fatal | Failure::Oversized) || code == Code::RateLimited;
    AttemptError {
        failure,
        error: ToolError::new(code, message).retryable(retryable),
        retry_after: None,
    }
}

pub fn monotonic_now() -> u64 {
    wasi::clocks::monotonic_clock::now()
}

pub fn wall_now_unix() -> i64 {
    wasi::clocks::wall_clock::now().seconds as i64
}

pub(super) fn sleep(duration: Duration) {
    wasi::clocks::monotonic_clock::subscribe_duration(duration.as_nanos() as u64).block();
}

/// A uniform random number in [0, 1) from `wasi:random`.
pub(super) fn random_unit() -> f64 {
    (wasi::random::random::get_random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_destination_is_explained_for_the_world_it_runs_in() {
        let refused = transport_error(anyhow::Error::new(ErrorCode::HttpRequestDenied));
        assert_eq!(refused.error.code, Code::EgressDenied);
        let says = &refused.error.message;
        if cfg!(feature = "portable") {
            assert!(
                says.contains("runtime's network policy") && !says.contains("the host"),
                "{says}"
            );
        } else {
            assert!(says.contains("only the configured LunaTask API"), "{says}");
        }
    }

    #[test]
    fn the_tool_effect_decides_what_may_be_sent_and_sent_again() {
        use Method::*;
        assert_eq!(replay_for(Effect::Append, Get, "/x"), Ok(Replay::Safe));
        assert_eq!(
            replay_for(Effect::Append, Post, "/journal_entries"),
            Ok(Replay::OnlyIfNotDelivered)
        );
        for effect in [Effect::Create, Effect::Update, Effect::Delete] {
            assert_eq!(replay_for(effect, Put, "/x"), Ok(Replay::Safe));
        }
        let refused = replay_for(Effect::Read, Delete, "/tasks/x").unwrap_err();
        assert_eq!(refused.code, Code::InternalError);
        assert!(refused.message.contains("nothing was sent"));
    }
}
