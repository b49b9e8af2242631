//! The consent page: one plain HTML form (no script), where a person sees which client asks
//! for what and gives their LunaTask access token. Everything the client chose (its name,
//! its redirect URI) is escaped with `html-escape`; the page cannot be framed, cached or
//! given a script, and its form may post only here and go on only to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

/// The name of the cookie holding the CSRF value the form must match.
pub const CSRF_COOKIE: &str = "lunatask_mcp_consent";

/// What the form shows.
pub struct Page<'a> {
    pub client_name: &'a str,
    pub redirect_uri: &'a str,
    pub write: bool,
    /// The sealed request the form carries back.
    pub request: &'a str,
    /// Why the last answer was not accepted, if it was not.
    pub problem: Option<&'a str>,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;\
padding:0 1rem;color:#1d1d1f;line-height:1.45}h1{font-size:1.4rem}label{display:block;\
font-weight:600;margin-top:1.2rem}input[type=password]{width:100%;padding:.55rem;font-size:1rem;\
box-sizing:border-box;margin-top:.3rem}.problem{background:#fde8e8;border:1px solid #e0a0a0;\
padding:.7rem;border-radius:6px}.hint{color:#555;font-size:.9rem}.write{font-weight:400}\
button{font-size:1rem;padding:.55rem 1.2rem;margin:1.4rem .6rem 0 0}code{word-break:break-all}";

impl Page<'_> {
    /// The page, with the headers that keep it private; `csrf` is set as the cookie when
    /// it is new.
    pub fn render(&self, status: StatusCode, csrf_cookie: Option<String>) -> Response {
        let client = text(self.client_name);
        let destination = text(self.redirect_uri);
        let problem = self
            .problem
            .map(|p| format!("<p class=\"problem\" role=\"alert\">{}</p>", text(p)))
            .unwrap_or_default();
        let write = if self.write {
            "<label class=\"write\"><input type=\"checkbox\" name=\"allow_write\" value=\"true\" \
             checked> Also let it make changes: create, update and delete tasks, notes, \
             people and journal entries, and track habits</label>"
        } else {
            "<p>It asks to read only: it will not be able to change anything.</p>"
        };
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <meta name=\"referrer\" content=\"same-origin\">\
             <title>Connect {client} to LunaTask</title><style>{STYLE}</style></head><body>\
             <h1>Connect <em>{client}</em> to your LunaTask account</h1>{problem}\
             <p><strong>{client}</strong> asks to read your LunaTask tasks, notes, people \
             and habits. After you allow it, you are sent back to <code>{destination}</code>.</p>\
             <form method=\"post\" action=\"/authorize\">\
             <input type=\"hidden\" name=\"request\" value=\"{request}\">{write}\
             <label for=\"token\">Your LunaTask access token</label>\
             <input id=\"token\" type=\"password\" name=\"lunatask_token\" autocomplete=\"off\" \
             spellcheck=\"false\" required>\
             <p class=\"hint\">Make one in the LunaTask app: Settings, Access tokens. It is \
             checked with LunaTask now, then kept only sealed inside the sign-in this server \
             issues; {client} never sees it.</p>\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>Deny</button>\
             </form></body></html>",
            request = attr(self.request),
        );
        let mut response = (status, body).into_response();
        secure(
            &mut response,
            crate::oauth::grants::redirect_source(self.redirect_uri),
        );
        if let Some(cookie) = csrf_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        response
    }
}

/// A page that says the sign-in cannot go on, when the client cannot be told (its id or
/// redirect URI is not one it registered): nothing is sent to an unknown destination.
pub fn refusal(status: StatusCode, reason: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Sign-in refused</title><style>{STYLE}</style></head><body>\
         <h1>This sign-in cannot go on</h1><p class=\"problem\">{}</p>\
         <p>Start it again from your app; if it happens again, the app's OAuth set-up does not \
         match this server.</p></body></html>",
        text(reason)
    );
    let mut response = (status, body).into_response();
    secure(&mut response, None);
    response
}

/// Headers for every page: HTML, never cached, never framed, no script, form answers only
/// to this server and on to `redirect` (a browser checks a form's redirects too).
fn secure(response: &mut Response, redirect: Option<String>) {
    let form_action = match redirect {
        Some(source) => format!("'self' {source}"),
        None => "'self'".into(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: under it a browser posts the form with `Origin: null`, which the
        // Origin guard must refuse. `same-origin` tells other sites nothing either.
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
}
