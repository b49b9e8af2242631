//! OAuth sign-in (`--oauth`): the real server as its own authorization server, driven over
//! HTTP the way a client and a person's browser drive it: registration, the consent form,
//! PKCE, the token exchange, refresh, revocation, and `/mcp` with the issued token. Each
//! refusal is checked by what the server answered and by what reached the fake.

use std::collections::HashMap;
use std::time::Duration;

use lunatask_mcp_tests::{AREA, FakeApi, HttpHost, ok, scratch_dir};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

use crate::builder;

const ALICE: &str = "lt-alice-token-1b2c3d4e5f";
const REDIRECT: &str = "http://127.0.0.1:9/callback";
/// RFC 7636's example pair.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A client and a browser, as one: no redirects followed, cookies carried by hand.
struct Agent {
    http: reqwest::Client,
    base: String,
}

/// What one sign-in gave the client.
struct Tokens {
    client_id: String,
    access: String,
    refresh: String,
    scope: String,
}

fn encoded(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

impl Agent {
    fn new(host: &HttpHost) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: host.url.clone(),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(encoded(fields));
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    async fn register(&self, metadata: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/register", self.base))
            .json(&metadata)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn client_id(&self) -> String {
        let (status, client) = self
            .register(json!({ "client_name": "Test Client", "redirect_uris": [REDIRECT] }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{client}");
        client["client_id"].as_str().unwrap().to_string()
    }

    /// `GET /authorize` with the usual parameters and `extra`; the page, its headers and
    /// the cookie it set.
    async fn authorize(
        &self,
        client_id: &str,
        extra: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let mut fields = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("state", "st-123"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        for (name, value) in extra {
            fields.retain(|(n, _)| n != name);
            fields.push((name, value));
        }
        let response = self.get(&format!("/authorize?{}", encoded(&fields))).await;
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.text().await.unwrap())
    }

    /// A fresh consent page: the cookie it set and the sealed request its form carries.
    async fn page(&self, client_id: &str) -> (String, String) {
        let (status, headers, page) = self.authorize(client_id, &[]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        (set_cookie(&headers), hidden(&page, "request"))
    }

    /// A page's answer (its `cookie` and `request`): allowed with `token`.
    async fn allow(
        &self,
        cookie: &str,
        request: &str,
        token: &str,
        write: bool,
    ) -> reqwest::Response {
        let mut fields = vec![
            ("request", request),
            ("lunatask_token", token),
            ("decision", "allow"),
        ];
        if write {
            fields.push(("allow_write", "true"));
        }
        self.post_form("/authorize", &fields, Some(cookie)).await
    }

    /// The consent page's answer: allowed with `token` (writes too when `write`).
    async fn consent(&self, client_id: &str, token: &str, write: bool) -> reqwest::Response {
        let (cookie, request) = self.page(client_id).await;
        self.allow(&cookie, &request, token, write).await
    }

    /// A whole sign-in: registration, consent, code exchange.
    async fn sign_in(&self, token: &str, write: bool) -> Tokens {
        let client_id = self.client_id().await;
        let answer = self.consent(&client_id, token, write).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let back = redirected(&answer);
        let (status, tokens) = self.token(&code_exchange(&back["code"], &client_id)).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        Tokens {
            client_id,
            access: tokens["access_token"].as_str().unwrap().into(),
            refresh: tokens["refresh_token"].as_str().unwrap().into(),
            scope: tokens["scope"].as_str().unwrap().into(),
        }
    }

    async fn token(&self, fields: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = self.post_form("/token", fields, None).await;
        let status = response.status();
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "no-store",
            "token answers are never cached"
        );
        (status, response.json().await.unwrap())
    }

    async fn refresh(&self, tokens: &Tokens, refresh: &str) -> (StatusCode, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &tokens.client_id),
        ])
        .await
    }

    /// `POST /mcp` (initialize) with `bearer`: its status and `WWW-Authenticate`.
    async fn mcp_status(&self, bearer: Option<&str>) -> (StatusCode, String) {
        let mut request = self
            .http
            .post(format!("{}/mcp", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(
                json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
                    "protocolVersion":"2025-06-18","capabilities":{},
                    "clientInfo":{"name":"t","version":"1"}}})
                .to_string(),
            );
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.unwrap();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (response.status(), challenge)
    }
}

fn set_cookie(headers: &HeaderMap) -> String {
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// The value of the form's hidden field `name`.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

/// The query of the redirect an answer sends the browser to, which must be the client's.
fn redirected(answer: &reqwest::Response) -> HashMap<String, String> {
    let location = answer.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn alice() -> FakeApi {
    FakeApi::start_accounts(&[ALICE]).await.pop().unwrap()
}

/// The token request that exchanges `code` for `client_id`, with the verifier and redirect
/// URI the sign-in used.
fn code_exchange<'a>(code: &'a str, client_id: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id),
        ("code_verifier", VERIFIER),
    ]
}

/// Alice's account, an OAuth server in front of it (with `env`), and an agent for it.
async fn oauth_agent(env: &[(&str, &str)]) -> (FakeApi, HttpHost, Agent) {
    let fake = alice().await;
    let host = oauth_server(&fake, env).await;
    let agent = Agent::new(&host);
    (fake, host, agent)
}

async fn oauth_server(fake: &FakeApi, env: &[(&str, &str)]) -> HttpHost {
    env.iter()
        .fold(builder().multi_user(fake), |b, (k, v)| b.env(k, v))
        .start_oauth()
        .await
}

#[tokio::test]
async fn a_signed_in_client_calls_with_that_persons_token_and_refreshes() {
    let (fake, host, agent) = oauth_agent(&[]).await;
    let (status, challenge) = agent.mcp_status(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            host.url
        )),
        "{challenge}"
    );
    let tokens = agent.sign_in(ALICE, true).await;
    assert_eq!(tokens.scope, "lunatask:read lunatask:write");
    assert!(!tokens.access.contains(ALICE) && !tokens.refresh.contains(ALICE));
    // The consent page's check was LunaTask's /ping, with Alice's token.
    assert!(fake.requests().iter().any(|r| r.path.ends_with("/ping")));

    let client = host.client(Some(&tokens.access)).await.unwrap();
    let params = CallToolRequestParams::new("create_task")
        .with_arguments(json!({ "area_id": AREA }).as_object().unwrap().clone());
    ok(&client.call_tool(params).await.unwrap());
    assert_eq!(fake.with(|s| s.tasks.len()), 1);
    for request in fake.requests() {
        assert_eq!(
            request.header("authorization").unwrap_or_default(),
            format!("bearer {ALICE}")
        );
    }
    drop(client);

    // Refresh rotates: a new pair, and the old refresh token is spent.
    let (status, renewed) = agent.refresh(&tokens, &tokens.refresh).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let new_access = renewed["access_token"].as_str().unwrap();
    let new_refresh = renewed["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, tokens.refresh);
    assert_eq!(agent.mcp_status(Some(new_access)).await.0, StatusCode::OK);
    // The spent one again is a stolen copy: refused, and the whole grant revoked.
    let (status, reuse) = agent.refresh(&tokens, &tokens.refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(reuse["error"], "invalid_grant", "{reuse}");
    let (status, challenge) = agent.mcp_status(Some(new_access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(
        agent.refresh(&tokens, new_refresh).await.0,
        StatusCode::BAD_REQUEST
    );
    let log = host.stderr();
    assert!(!log.contains(ALICE) && !log.contains(&tokens.access) && !log.contains(new_refresh));
}

#[tokio::test]
async fn the_metadata_documents_name_this_server() {
    let (_fake, host, agent) = oauth_agent(&[]).await;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let prm: Value = agent.get(path).await.json().await.unwrap();
        assert_eq!(prm["resource"], format!("{}/mcp", host.url));
        assert_eq!(prm["authorization_servers"], json!([host.url]));
    }
    let asm: Value = agent
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(asm["issuer"], host.url);
    assert_eq!(asm["token_endpoint"], format!("{}/token", host.url));
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(asm["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        agent
            .get("/.well-known/openid-configuration")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // Registration refuses what could send a code somewhere unsafe.
    for (uris, why) in [
        (json!([]), "invalid_redirect_uri"),
        (json!(["http://example.com/cb"]), "invalid_redirect_uri"),
        (json!(["javascript:alert(1)"]), "invalid_redirect_uri"),
        (json!(["https://a.example/cb#x"]), "invalid_redirect_uri"),
    ] {
        let (status, answer) = agent.register(json!({ "redirect_uris": uris })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uris}");
        assert_eq!(answer["error"], why, "{answer}");
    }
    let (_, client) = agent
        .register(json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic" }))
        .await;
    assert_eq!(client["token_endpoint_auth_method"], "none");
    assert!(client.get("client_secret").is_none());
}

#[tokio::test]
async fn the_consent_page_is_private_and_shows_a_wrong_token_again() {
    let (_fake, host, agent) = oauth_agent(&[]).await;
    let client_id = agent.client_id().await;
    let (status, headers, page) = agent
        .authorize(&client_id, &[("scope", "lunatask:read lunatask:write")])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Test Client") && page.contains("type=\"password\""));
    assert!(!page.contains("<script"));
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:9"),
        "{csp}"
    );
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));

    let answer = agent.consent(&client_id, "lt-wrong-token-000", true).await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    assert!(answer.headers().get(header::LOCATION).is_none());
    let again = answer.text().await.unwrap();
    assert!(
        again.contains("LunaTask did not accept this access token"),
        "{again}"
    );
    assert!(again.contains("type=\"password\"") && !again.contains("lt-wrong-token-000"));

    // Without the page's cookie (a form posted from elsewhere), nothing happens.
    let (_, _, page) = agent.authorize(&client_id, &[]).await;
    let request = hidden(&page, "request");
    let forged = agent
        .post_form(
            "/authorize",
            &[
                ("request", &request),
                ("lunatask_token", ALICE),
                ("decision", "allow"),
            ],
            None,
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.headers().get(header::LOCATION).is_none());
    // Denying goes back to the client with access_denied, its state and the issuer.
    let (_, headers, page) = agent.authorize(&client_id, &[]).await;
    let denied = agent
        .post_form(
            "/authorize",
            &[("request", &hidden(&page, "request")), ("decision", "deny")],
            Some(&set_cookie(&headers)),
        )
        .await;
    let back = redirected(&denied);
    assert_eq!(back["error"], "access_denied");
    assert_eq!(back["state"], "st-123");
    assert_eq!(back["iss"], host.url);
}

#[tokio::test]
async fn codes_need_their_verifier_their_redirect_and_one_use() {
    let (_fake, host, agent) = oauth_agent(&[]).await;
    let client_id = agent.client_id().await;

    // A redirect URI the client did not register: a page, never a redirect.
    let (status, headers, page) = agent
        .authorize(&client_id, &[("redirect_uri", "http://127.0.0.1:9/other")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers.get(header::LOCATION).is_none());
    assert!(page.contains("not one this client registered"), "{page}");
    // No PKCE: back to the client with invalid_request.
    let response = agent
        .get(&format!(
            "/authorize?{}",
            encoded(&[
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", REDIRECT),
                ("state", "s"),
            ])
        ))
        .await;
    assert_eq!(redirected(&response)["error"], "invalid_request");
    // A resource (RFC 8707) that is not this server.
    let (status, headers, _) = agent
        .authorize(&client_id, &[("resource", "https://other.example/mcp")])
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let location = headers[header::LOCATION].to_str().unwrap();
    assert!(location.contains("error=invalid_target"), "{location}");

    let answer = agent.consent(&client_id, ALICE, true).await;
    let back = redirected(&answer);
    assert_eq!(back["state"], "st-123");
    assert_eq!(back["iss"], host.url);
    let code = back["code"].as_str();
    let exchange = |verifier: &'static str, redirect: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", client_id.as_str()),
            ("code_verifier", verifier),
        ]
    };
    let wrong_verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX";
    let (status, answer) = agent.token(&exchange(wrong_verifier, REDIRECT)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "invalid_grant");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("PKCE")
    );
    let (status, answer) = agent
        .token(&exchange(VERIFIER, "http://127.0.0.1:9/other"))
        .await;
    assert_eq!(
        (status, &answer["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let (status, tokens) = agent.token(&exchange(VERIFIER, REDIRECT)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(agent.mcp_status(Some(access)).await.0, StatusCode::OK);
    // The code again: refused, and what it gave is revoked.
    let (status, replay) = agent.token(&exchange(VERIFIER, REDIRECT)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(replay["error"], "invalid_grant");
    assert_eq!(
        agent.mcp_status(Some(access)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Another client cannot exchange a code issued to this one.
    let other = agent.client_id().await;
    let back = redirected(&agent.consent(&client_id, ALICE, true).await);
    let (_, stolen) = agent.token(&code_exchange(&back["code"], &other)).await;
    assert_eq!(stolen["error"], "invalid_grant", "{stolen}");
}

#[tokio::test]
async fn tampered_expired_misused_and_revoked_tokens_are_refused() {
    let (fake, _host, agent) = oauth_agent(&[("LUNATASK_MCP_OAUTH_ACCESS_TOKEN_TTL", "2")]).await;
    let tokens = agent.sign_in(ALICE, true).await;
    assert_eq!(
        agent.mcp_status(Some(&tokens.access)).await.0,
        StatusCode::OK
    );
    let mut tampered = tokens.access.clone().into_bytes();
    let at = tampered.len() - 10;
    tampered[at] = if tampered[at] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (bearer, what) in [
        (tampered.as_str(), "tampered"),
        (tokens.refresh.as_str(), "a refresh token"),
        (ALICE, "a LunaTask token itself"),
    ] {
        let (status, challenge) = agent.mcp_status(Some(bearer)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert!(challenge.contains("invalid_token"), "{what}: {challenge}");
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, challenge) = agent.mcp_status(Some(&tokens.access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "expired");
    assert!(challenge.contains("expired"), "{challenge}");

    // Revoking the refresh token ends the grant: it no longer refreshes.
    let (_, renewed) = agent.refresh(&tokens, &tokens.refresh).await;
    let renewed_refresh = renewed["refresh_token"].as_str().unwrap();
    let renewed_access = renewed["access_token"].as_str().unwrap();
    let revoked = agent
        .post_form(
            "/revoke",
            &[
                ("token", renewed_refresh),
                ("token_type_hint", "refresh_token"),
                ("client_id", &tokens.client_id),
            ],
            None,
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let (status, answer) = agent.refresh(&tokens, renewed_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "invalid_grant");
    assert_eq!(
        agent.mcp_status(Some(renewed_access)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Nothing refused above reached LunaTask beyond the consent page's check.
    assert!(
        fake.requests().iter().all(|r| r.path.ends_with("/ping")),
        "{:?}",
        fake.requests()
    );
}

#[tokio::test]
async fn a_read_only_grant_offers_and_runs_only_the_reading_tools() {
    let (fake, host, agent) = oauth_agent(&[]).await;
    let tokens = agent.sign_in(ALICE, false).await;
    assert_eq!(tokens.scope, "lunatask:read");
    let client = host.client(Some(&tokens.access)).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(
        names.contains(&"list_tasks") && !names.contains(&"create_task"),
        "{names:?}"
    );
    let params = CallToolRequestParams::new("create_task")
        .with_arguments(json!({ "area_id": AREA }).as_object().unwrap().clone());
    let refused = client.call_tool(params).await.unwrap();
    let error = lunatask_mcp_tests::err(&refused);
    assert_eq!(error["code"], "tool_not_allowed", "{error}");
    assert_eq!(error["setting"], "lunatask:write");
    assert_eq!(fake.with(|s| s.tasks.len()), 0);
    // A refresh cannot widen it.
    let (status, answer) = agent
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.refresh),
            ("client_id", &tokens.client_id),
            ("scope", "lunatask:read lunatask:write"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "invalid_scope");
}

/// A sealing key file of `byte` repeated, readable by its owner only.
fn key_file(dir: &std::path::Path, name: &str, byte: u8) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, [byte; 32]).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn tokens_outlive_a_restart_and_a_key_rotation_with_the_key_file() {
    let fake = alice().await;
    let dir = scratch_dir("oauth-keys");
    let old = key_file(&dir, "old", 1);
    let new = key_file(&dir, "new", 2);
    let port = lunatask_mcp_tests::free_port();
    let start = |keys: Vec<(&'static str, String)>| {
        let builder = keys
            .into_iter()
            .fold(builder().multi_user(&fake), |b, (k, v)| b.env(k, v));
        builder.start_oauth_on(port)
    };
    let host = start(vec![("LUNATASK_MCP_SEALING_KEY_FILE", old.clone())]).await;
    let first = Agent::new(&host).sign_in(ALICE, true).await;
    host.terminate().await;
    // Rotated: the new key seals, the old one still reads.
    let host = start(vec![
        ("LUNATASK_MCP_SEALING_KEY_FILE", new.clone()),
        ("LUNATASK_MCP_PREVIOUS_SEALING_KEY_FILE", old),
    ])
    .await;
    let agent = Agent::new(&host);
    assert_eq!(
        agent.mcp_status(Some(&first.access)).await.0,
        StatusCode::OK
    );
    let second = agent.sign_in(ALICE, true).await;
    host.terminate().await;
    // The old key retired: what it sealed is refused, what the new one sealed is served.
    let host = start(vec![("LUNATASK_MCP_SEALING_KEY_FILE", new)]).await;
    let agent = Agent::new(&host);
    assert_eq!(
        agent.mcp_status(Some(&first.access)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        agent.mcp_status(Some(&second.access)).await.0,
        StatusCode::OK
    );
    let (status, _) = agent.refresh(&second, &second.refresh).await;
    assert_eq!(status, StatusCode::OK);

    // A key file others can read is refused at start-up.
    let shared = dir.join("shared");
    std::fs::write(&shared, [3u8; 32]).unwrap();
    let refused = builder()
        .multi_user(&fake)
        .env("LUNATASK_MCP_OAUTH", "true")
        .env("LUNATASK_MCP_PUBLIC_URL", "http://127.0.0.1:9")
        .env("LUNATASK_MCP_SEALING_KEY_FILE", shared.display())
        .arg("--http")
        .arg("127.0.0.1:0")
        .run()
        .await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
}

#[tokio::test]
async fn oauth_settings_that_cannot_work_stop_the_server_naming_the_setting() {
    let fake = alice().await;
    for (env, named) in [
        (
            vec![
                ("LUNATASK_MCP_OAUTH", "true"),
                ("LUNATASK_MCP_MULTI_USER", "false"),
            ],
            "LUNATASK_MCP_MULTI_USER",
        ),
        (
            vec![("LUNATASK_MCP_OAUTH", "true")],
            "LUNATASK_MCP_PUBLIC_URL",
        ),
        (
            vec![
                ("LUNATASK_MCP_OAUTH", "true"),
                ("LUNATASK_MCP_PUBLIC_URL", "https://mcp.example.com"),
            ],
            "LUNATASK_MCP_ALLOWED_HOSTS",
        ),
        (
            vec![("LUNATASK_MCP_PUBLIC_URL", "http://mcp.example.com")],
            "loopback",
        ),
        (
            vec![("LUNATASK_MCP_PUBLIC_URL", "https://127.0.0.1:9/mcp")],
            "origin only",
        ),
    ] {
        let output = env
            .iter()
            .fold(builder().multi_user(&fake), |b, (k, v)| b.env(k, v))
            .arg("--http")
            .arg("127.0.0.1:0")
            .run()
            .await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(stderr.contains(named), "{env:?}: {stderr}");
    }
}

#[tokio::test]
async fn replicas_sharing_redis_and_the_key_share_replays_and_revocations() {
    let fake = alice().await;
    let redis = lunatask_mcp_tests::Redis::start();
    let dir = scratch_dir("oauth-replicas");
    let key = key_file(&dir, "key", 9);
    // Both replicas are reached at one public URL (the load balancer's); the test speaks to
    // each on its own port.
    let public = format!("http://127.0.0.1:{}", lunatask_mcp_tests::free_port());
    let replica = || {
        builder()
            .multi_user(&fake)
            .env("LUNATASK_MCP_OAUTH", "true")
            .env("LUNATASK_MCP_PUBLIC_URL", &public)
            .env("LUNATASK_MCP_SEALING_KEY_FILE", &key)
            .env("LUNATASK_REDIS_URL", &redis.url)
            .start_http()
    };
    let (one, two) = tokio::join!(replica(), replica());
    let (on_one, on_two) = (Agent::new(&one), Agent::new(&two));
    let client_id = on_one.client_id().await;
    // A code exchanged on one replica is spent on the other.
    let answer = on_one.consent(&client_id, ALICE, true).await;
    let back = redirected(&answer);
    let exchange = code_exchange(back["code"].as_str(), client_id.as_str());
    let (status, tokens) = on_one.token(&exchange).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (status, replay) = on_two.token(&exchange).await;
    assert_eq!(
        (status, &replay["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    // ...and the replay revoked the grant on both.
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        on_one.mcp_status(Some(access)).await.0,
        StatusCode::UNAUTHORIZED
    );

    // A fresh sign-in on one replica serves on the other; revoked on one, refused on both.
    let tokens = on_one.sign_in(ALICE, true).await;
    assert_eq!(
        on_two.mcp_status(Some(&tokens.access)).await.0,
        StatusCode::OK
    );
    let revoked = on_two
        .post_form("/revoke", &[("token", &tokens.refresh)], None)
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        on_one.mcp_status(Some(&tokens.access)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = on_one.refresh(&tokens, &tokens.refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// The review tested 301 guessed tokens in 5.9 s through one consent form, each a `/ping` to
/// LunaTask from the server's address. Now a page has a few tries, an address a few per
/// minute with a doubling wait after failures, and the server a total.
#[tokio::test]
async fn the_consent_page_is_no_oracle_for_guessed_tokens() {
    let (fake, _host, agent) = oauth_agent(&[]).await;
    let client_id = agent.client_id().await;
    let (cookie, request) = agent.page(&client_id).await;
    let mut statuses = Vec::new();
    // 150 guesses through one form, and 150 through a fresh form each.
    for n in 0..300 {
        let guess = format!("lt-guess-{n:04}");
        let (cookie, request) = match n < 150 {
            true => (cookie.clone(), request.clone()),
            false => agent.page(&client_id).await,
        };
        let answer = agent.allow(&cookie, &request, &guess, false).await;
        assert!(answer.headers().get(header::LOCATION).is_none(), "no code");
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(answer.headers().get(header::RETRY_AFTER).is_some());
        }
        statuses.push(answer.status());
    }
    let checked = fake.requests_to("GET /v1/ping").len();
    assert!(checked <= 5, "{checked} guesses reached LunaTask");
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS || **s == StatusCode::BAD_REQUEST)
        .count();
    assert_eq!(refused, 300, "{statuses:?}");
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS));
}

/// A consent page whose token was accepted is spent: the same form cannot mint a second
/// code.
#[tokio::test]
async fn a_consent_page_gives_one_code() {
    let (_fake, _host, agent) = oauth_agent(&[]).await;
    let client_id = agent.client_id().await;
    let (cookie, request) = agent.page(&client_id).await;
    let first = agent.allow(&cookie, &request, ALICE, false).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = agent.allow(&cookie, &request, ALICE, false).await;
    assert_eq!(second.status(), StatusCode::BAD_REQUEST);
    assert!(second.headers().get(header::LOCATION).is_none());
    assert!(second.text().await.unwrap().contains("used already"));
}

/// Two deployments sharing a sealing key (and no Redis): the review redeemed one code at
/// both and posted one's consent forms to the other. Codes and pages now carry their
/// issuer, as tokens did.
#[tokio::test]
async fn codes_and_consent_pages_are_bound_to_their_deployment() {
    let fake = alice().await;
    let dir = scratch_dir("oauth-two-deployments");
    let key = key_file(&dir, "key", 7);
    let deployment = || {
        builder()
            .multi_user(&fake)
            .env("LUNATASK_MCP_SEALING_KEY_FILE", &key)
            .start_oauth()
    };
    let (one, two) = tokio::join!(deployment(), deployment());
    let (at_one, at_two) = (Agent::new(&one), Agent::new(&two));
    let client_id = at_one.client_id().await;
    // One's consent form, posted to two.
    let (cookie, request) = at_one.page(&client_id).await;
    let crossed = at_two.allow(&cookie, &request, ALICE, false).await;
    assert_eq!(crossed.status(), StatusCode::BAD_REQUEST);
    assert!(crossed.headers().get(header::LOCATION).is_none());
    // One's code, at two.
    let back = redirected(&at_one.consent(&client_id, ALICE, true).await);
    let exchange = code_exchange(back["code"].as_str(), client_id.as_str());
    let (status, answer) = at_two.token(&exchange).await;
    assert_eq!(
        (status, &answer["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let (status, tokens) = at_one.token(&exchange).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "still good where it was issued: {tokens}"
    );
}

/// RFC 6749 §4.1.3: the authorization request named a redirect URI, so the token request
/// must name the same.
#[tokio::test]
async fn a_code_is_exchanged_only_with_the_redirect_uri_its_request_named() {
    let (_fake, _host, agent) = oauth_agent(&[]).await;
    let client_id = agent.client_id().await;
    let back = redirected(&agent.consent(&client_id, ALICE, true).await);
    let with = code_exchange(&back["code"], &client_id);
    let without: Vec<_> = with
        .iter()
        .copied()
        .filter(|(name, _)| *name != "redirect_uri")
        .collect();
    let (status, answer) = agent.token(&without).await;
    assert_eq!(
        (status, &answer["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_request"))
    );
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("redirect_uri")
    );
    let (status, tokens) = agent.token(&with).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
}

/// The review planted `lunatask_mcp_consent=<value>` and `GET /authorize` adopted it. Now
/// every page has a value of the server's own, in a cookie named after the page.
#[tokio::test]
async fn the_consent_pages_csrf_value_is_always_the_servers_own() {
    let (_fake, host, agent) = oauth_agent(&[]).await;
    let client_id = agent.client_id().await;
    let planted = "A".repeat(43);
    let mut fields = vec![
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    fields.push(("state", "s"));
    let page = agent
        .http
        .get(format!("{}/authorize?{}", host.url, encoded(&fields)))
        .header(header::COOKIE, format!("lunatask_mcp_consent={planted}"))
        .send()
        .await
        .unwrap();
    let issued = set_cookie(page.headers());
    assert!(!issued.contains(&planted), "{issued}");
    let (name, value) = issued.split_once('=').unwrap();
    assert!(
        name.starts_with("lunatask_mcp_consent_") && value.len() == 43,
        "{issued}"
    );
    let request = hidden(&page.text().await.unwrap(), "request");
    // Posted with the planted value under the page's cookie name: refused.
    let answer = agent
        .allow(&format!("{name}={planted}"), &request, ALICE, false)
        .await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
}

/// Each refresh is remembered for the refresh lifetime; the review made 40,000 in 50 s.
/// One grant now refreshes at most LUNATASK_MCP_OAUTH_MAX_REFRESHES times.
#[tokio::test]
async fn a_grant_refreshes_at_most_its_cap() {
    let (_fake, _host, agent) = oauth_agent(&[("LUNATASK_MCP_OAUTH_MAX_REFRESHES", "5")]).await;
    let tokens = agent.sign_in(ALICE, true).await;
    let mut refresh = tokens.refresh.clone();
    for _ in 0..5 {
        let (status, answer) = agent.refresh(&tokens, &refresh).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        refresh = answer["refresh_token"].as_str().unwrap().to_string();
    }
    let (status, answer) = agent.refresh(&tokens, &refresh).await;
    assert_eq!(
        (status, &answer["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("LUNATASK_MCP_OAUTH_MAX_REFRESHES"),
        "{answer}"
    );
}

/// Redirect URIs by allow-list: the review registered `view-source:`, `jar:` and
/// `custom:"><script>`.
#[tokio::test]
async fn redirect_uris_are_allowed_by_list_not_refused_by_one() {
    let (_fake, _host, agent) = oauth_agent(&[]).await;
    for refused in [
        "view-source:https://a.example/cb",
        "jar:https://a.example/x.jar!/cb",
        "custom:\"><script>alert(1)</script>",
        "ftp://a.example/cb",
    ] {
        let (status, answer) = agent
            .register(json!({ "client_name": "x", "redirect_uris": [refused] }))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(answer["error"], "invalid_redirect_uri", "{refused}");
    }
    for allowed in [
        "com.example.app:/oauth2redirect",
        "cursor://anysphere.cursor-retrieval/oauth/callback",
        "https://claude.ai/api/mcp/auth_callback",
    ] {
        let (status, answer) = agent
            .register(json!({ "client_name": "x", "redirect_uris": [allowed] }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{allowed}: {answer}");
    }
}
