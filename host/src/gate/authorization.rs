//! The one place the upstream `Authorization` header is made, in the one spelling LunaTask's
//! documentation gives (`bearer <access-token>`; schemes are case-insensitive, but a strict
//! server behind a proxy need not be): for the server's own token and for each caller's.

use http::header::HeaderValue;

/// `bearer <token>`, marked sensitive so that no log or debug output shows it; `None` when
/// the token has characters a header cannot carry.
pub fn authorization(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_sensitive_and_refuses_what_a_header_cannot_carry() {
        let value = authorization("tok-1").unwrap();
        assert_eq!(value, "bearer tok-1");
        assert!(value.is_sensitive());
        assert!(authorization("bad\ntoken").is_none());
    }
}
