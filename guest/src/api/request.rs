//! What a request is before it is sent: its method, path (ids escaped into segments), query
//! and JSON body; and a successful answer read whole.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use std::collections::BTreeMap;

use serde::de::IgnoredAny;

use crate::error::{Code, ToolError};

/// Everything but unreserved characters is escaped, `.` included, so an id can never
/// become a path separator or a `..` segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// The header carrying the call's correlation id on every attempt.
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// Tells the host which attempt this is (for its retry metrics); the host strips it.
pub const ATTEMPT_HEADER: &str = "x-lunatask-mcp-attempt";

/// Escapes one path segment.
pub fn segment(raw: &str) -> String {
    utf8_percent_encode(raw, SEGMENT).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One request to the API, built up before [`Api::send`] sends it.
#[derive(Debug)]
pub struct Request<'a> {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: Vec<(&'a str, &'a str)>,
    pub(super) body: Option<Vec<u8>>,
}

impl<'a> Request<'a> {
    pub(super) fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::Get, path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::Post, path)
    }

    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::Put, path)
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::Delete, path)
    }

    /// Adds `key=value` to the query, escaped.
    pub fn query(mut self, key: &'a str, value: &'a str) -> Self {
        self.query.push((key, value));
        self
    }

    /// Adds `key=value` when there is a value.
    pub fn query_opt(self, key: &'a str, value: Option<&'a str>) -> Self {
        match value {
            Some(value) => self.query(key, value),
            None => self,
        }
    }

    /// The JSON body: a typed value, serialized once.
    pub fn json(mut self, body: &impl Serialize) -> Self {
        self.body = Some(serde_json::to_vec(body).unwrap_or_default());
        self
    }
}

/// A successful (2xx) answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    /// Reads `{"<key>": T}` from the body.
    pub fn field<T: DeserializeOwned>(&self, key: &str) -> Result<T, ToolError> {
        // Only the top level is split up; `T` is read straight from its text. A `Value` of
        // the whole answer would cost a map per entity (200 tasks: most of a call's time).
        let top: Option<BTreeMap<String, &RawValue>> = match serde_json::from_slice(&self.body) {
            Ok(top) => Some(top),
            Err(_) if serde_json::from_slice::<IgnoredAny>(&self.body).is_ok() => None,
            Err(e) => {
                return Err(ToolError::new(
                    Code::UpstreamError,
                    format!("LunaTask answered with a body that is not JSON: {e}"),
                )
                .with_status(self.status));
            }
        };
        let inner = top.and_then(|mut top| top.remove(key)).ok_or_else(|| {
            ToolError::new(
                Code::UpstreamError,
                format!("LunaTask's answer has no `{key}` field"),
            )
            .with_status(self.status)
        })?;
        serde_json::from_str(inner.get()).map_err(|e| {
            ToolError::new(
                Code::UpstreamError,
                format!("LunaTask's `{key}` has an unexpected shape: {e}"),
            )
            .with_status(self.status)
        })
    }
}
