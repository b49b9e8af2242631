//! Removes every secret the host knows from API answers before the guest sees them.
//!
//! An API that echoes a request back ("Bad header Authorization: bearer …" in an error, or a
//! 200's `message`) would otherwise hand the token to the guest, which passes LunaTask's
//! message on to the agent. Written here rather than taken from a crate: it is a plain
//! substring replacement over bytes (with memchr's searcher), bound to our secret types.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

/// What replaces a secret in an answer.
const REDACTED: &[u8] = b"[redacted]";

/// Shorter strings are not searched for: they would match ordinary text, and no real token
/// is this short (LunaTask's are long opaque strings; the host refuses an empty one).
const MIN_SECRET_LEN: usize = 6;

/// The secrets to remove, each also in its JSON-escaped forms where those differ.
pub struct Redactor {
    secrets: Vec<SecretString>,
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut all: Vec<SecretString> = Vec::new();
        for secret in secrets {
            if secret.len() < MIN_SECRET_LEN {
                continue;
            }
            // JSON may escape `"`, `\\` and control characters, and may write `/` as `\/`.
            let escaped = serde_json::to_string(secret).unwrap_or_default();
            let escaped = escaped[1..escaped.len() - 1].to_string();
            let slashed = escaped.replace('/', "\\/");
            let mut forms = vec![secret.to_string(), escaped, slashed];
            forms.dedup();
            all.extend(forms.into_iter().map(SecretString::from));
        }
        Self { secrets: all }
    }

    /// `body` with every secret replaced; the same buffer when none occurs (the usual case,
    /// one fast scan per secret).
    pub fn body(&self, body: Bytes) -> Bytes {
        let mut current = body;
        for secret in &self.secrets {
            let needle = secret.expose_secret().as_bytes();
            if memchr::memmem::find(&current, needle).is_none() {
                continue;
            }
            current = replace_all(&current, needle);
        }
        current
    }

    /// Replaces every header value that contains a secret.
    pub fn headers(&self, headers: &mut HeaderMap) {
        for value in headers.values_mut() {
            let cleaned = self.body(Bytes::copy_from_slice(value.as_bytes()));
            if cleaned.as_ref() != value.as_bytes() {
                *value = HeaderValue::from_maybe_shared(cleaned)
                    .unwrap_or_else(|_| HeaderValue::from_static("[redacted]"));
            }
        }
    }
}

fn replace_all(haystack: &[u8], needle: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(haystack.len());
    let mut rest = 0;
    for at in memchr::memmem::find_iter(haystack, needle) {
        out.extend_from_slice(&haystack[rest..at]);
        out.extend_from_slice(REDACTED);
        rest = at + needle.len();
    }
    out.extend_from_slice(&haystack[rest..]);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_of_every_secret_is_replaced() {
        let r = Redactor::new(["tok-abc/123", "endpoint-secret", "ab"]);
        let body = br#"{"message":"bearer tok-abc/123 and tok-abc\/123, endpoint-secret; ab"}"#;
        let out = r.body(Bytes::from_static(body));
        let text = std::str::from_utf8(&out).unwrap();
        assert_eq!(
            text, r#"{"message":"bearer [redacted] and [redacted], [redacted]; ab"}"#,
            "short strings are left alone"
        );
        let clean = Bytes::from_static(b"nothing secret");
        assert_eq!(r.body(clean.clone()).as_ptr(), clean.as_ptr(), "no copy");

        let mut headers = HeaderMap::new();
        headers.insert("x-echo", HeaderValue::from_static("bearer tok-abc/123"));
        headers.insert("retry-after", HeaderValue::from_static("5"));
        r.headers(&mut headers);
        assert_eq!(headers["x-echo"], "bearer [redacted]");
        assert_eq!(headers["retry-after"], "5");
    }
}
