//! A faithful local fake of the LunaTask REST API (as LunaTask's API reference documents
//! it), served on 127.0.0.1 with an ephemeral port. It checks the bearer token, answers with LunaTask's
//! shapes and status codes (201, 204 duplicate, 400, 401, 402, 404, 422), never returns the
//! end-to-end encrypted fields, records every request, and injects faults on demand.
//!
//! It is as strict as a production front end (see [`strict`]): a chunked upload gets 411, a
//! body on a GET 400, a wrong content type 415, an unknown method on a known path 405, and
//! a malformed field value 400 naming the field.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

mod strict;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path without the query, e.g. `/v1/tasks`.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// How many body bytes arrived.
    pub body_len: usize,
    /// When it arrived.
    pub at: std::time::Instant,
    /// The injected fault it met, if any.
    pub fault: Option<Fault>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A fault to inject instead of (or around) the normal answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and these headers, such as Retry-After, and an optional
    /// JSON body) without acting.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: Option<Value>,
    },
    /// Wait this long before handling the request normally.
    Delay(Duration),
    /// Close the connection without acting or answering.
    DropBeforeApply,
    /// Act on the request, then close the connection without answering.
    DropAfterApply,
}

impl Fault {
    pub fn status(status: u16) -> Self {
        Fault::Status {
            status,
            headers: Vec::new(),
            body: None,
        }
    }
}

#[derive(Debug)]
struct Rule {
    /// `"METHOD /path-prefix"`, or any request when `None`.
    matcher: Option<String>,
    /// Matching requests still to let through before the fault applies.
    skip: usize,
    remaining: usize,
    fault: Fault,
}

/// Everything the fake knows.
#[derive(Debug, Default)]
pub struct State {
    pub tasks: BTreeMap<String, Value>,
    pub notes: BTreeMap<String, Value>,
    pub people: BTreeMap<String, Value>,
    pub journal_entries: Vec<Value>,
    pub timeline_notes: Vec<Value>,
    pub habit_tracks: Vec<(String, String)>,
    /// Habits that exist; tracking any other id answers 404.
    pub habits: Vec<String>,
    /// The free plan's limit on people (402 beyond it).
    pub people_limit: Option<usize>,
    /// Whether the email/phone/birthday custom fields exist (422 when used without).
    pub person_custom_fields: bool,
    pub requests: Vec<Recorded>,
    /// TCP connections accepted (to see keep-alive at work).
    pub connections: usize,
    rules: VecDeque<Rule>,
    /// At most this many faults for the requests of one tool call (one correlation id).
    faults_per_call: Option<usize>,
    next_id: u64,
}

/// A running fake API. Dropping it stops the server.
pub struct FakeApi {
    pub addr: SocketAddr,
    pub token: String,
    /// The CA certificate (PEM) that signed the fake's certificate, when it serves TLS.
    pub ca_pem: Option<String>,
    state: Arc<Mutex<State>>,
    /// Stops the server when the handle that started it is dropped (the first of
    /// [`FakeApi::start_accounts`]).
    _shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Every account one fake serves: the bearer token that opens it and its state.
type Accounts = Arc<Vec<(String, Arc<Mutex<State>>)>>;

impl FakeApi {
    /// Starts the fake on 127.0.0.1 with an ephemeral port, accepting `token`.
    pub async fn start(token: &str) -> Self {
        Self::serve(token, None).await
    }

    /// Starts the fake serving https for `localhost`, with a certificate from a fresh CA
    /// (see [`FakeApi::ca_pem`]).
    pub async fn start_tls(token: &str) -> Self {
        let (acceptor, ca_pem) = tls_acceptor();
        let mut fake = Self::serve(token, Some(acceptor)).await;
        fake.ca_pem = Some(ca_pem);
        fake
    }

    async fn serve(token: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let mut fakes = Self::serve_accounts(&[token], tls).await;
        fakes.remove(0)
    }

    /// One fake serving an account per token, each with its own tasks, people and
    /// requests, as LunaTask keeps each user's account: a request is served from the
    /// account its bearer token opens. One handle per token, in order; dropping the first
    /// stops the server.
    pub async fn start_accounts(tokens: &[&str]) -> Vec<Self> {
        Self::serve_accounts(tokens, None).await
    }

    async fn serve_accounts(tokens: &[&str], tls: Option<tokio_rustls::TlsAcceptor>) -> Vec<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake API");
        let addr = listener.local_addr().expect("local addr");
        let accounts: Accounts = Arc::new(
            tokens
                .iter()
                .map(|token| {
                    let state = State {
                        person_custom_fields: true,
                        ..State::default()
                    };
                    (token.to_string(), Arc::new(Mutex::new(state)))
                })
                .collect(),
        );
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&accounts);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => accepted,
                };
                let Ok((stream, _)) = accepted else { continue };
                shared[0].1.lock().unwrap().connections += 1;
                let accounts = Arc::clone(&shared);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(Arc::clone(&accounts), req));
                    // An error here is an injected dropped connection or a client hang-up.
                    match tls {
                        Some(tls) => {
                            let Ok(stream) = tls.accept(stream).await else {
                                return;
                            };
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        None => {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        });
        let mut shutdown = Some(tx);
        accounts
            .iter()
            .map(|(token, state)| Self {
                addr,
                token: token.clone(),
                ca_pem: None,
                state: Arc::clone(state),
                _shutdown: shutdown.take(),
            })
            .collect()
    }

    /// The base URL to configure the server with.
    pub fn base_url(&self) -> String {
        match self.ca_pem {
            Some(_) => format!("https://localhost:{}/v1", self.addr.port()),
            None => format!("http://{}/v1", self.addr),
        }
    }

    /// Writes the CA certificate of a TLS fake to a file of its own (for LUNATASK_CA_CERT)
    /// and returns its path.
    pub fn ca_file(&self) -> std::path::PathBuf {
        let pem = self.ca_pem.as_ref().expect("a fake started with start_tls");
        let dir = std::env::temp_dir().join(format!(
            "lunatask-fake-ca-{}-{}",
            std::process::id(),
            self.addr.port()
        ));
        std::fs::create_dir_all(&dir).expect("create the CA folder");
        let path = dir.join("ca.pem");
        std::fs::write(&path, pem).expect("write the CA certificate");
        path
    }

    /// Runs `f` on the fake's state (to seed data or inspect it).
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Injects `fault` into the next `count` requests matching `matcher`
    /// (`"POST /v1/tasks"`, a method and path prefix), or any request when `None`.
    pub fn inject(&self, matcher: Option<&str>, count: usize, fault: Fault) {
        self.inject_after(matcher, 0, count, fault);
    }

    /// [`inject`](Self::inject), letting the first `skip` matching requests through
    /// untouched: a fault in the middle of a batch.
    pub fn inject_after(&self, matcher: Option<&str>, skip: usize, count: usize, fault: Fault) {
        self.with(|s| {
            s.rules.push_back(Rule {
                matcher: matcher.map(str::to_string),
                skip,
                remaining: count,
                fault,
            })
        });
    }

    /// Lets no more than `n` injected faults meet the requests of one tool call (those
    /// sharing an `X-Correlation-ID`), so that a retry budget above `n` must always suffice.
    pub fn cap_faults_per_call(&self, n: usize) {
        self.with(|s| s.faults_per_call = Some(n));
    }

    /// How many injected faults have not happened yet.
    pub fn pending_faults(&self) -> usize {
        self.with(|s| s.rules.iter().map(|r| r.remaining).sum())
    }

    /// How many requests arrived so far.
    pub fn request_count(&self) -> usize {
        self.with(|s| s.requests.len())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }

    /// Requests whose `"METHOD /path"` starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| format!("{} {}", r.method, r.path).starts_with(prefix))
            .collect()
    }

    /// Asserts that exactly `count` requests starting `prefix` ("POST /v1/tasks") arrived.
    #[track_caller]
    pub fn assert_sent(&self, prefix: &str, count: usize, why: &str) {
        let sent = self.requests_to(prefix).len();
        assert_eq!(sent, count, "{prefix}: {why}");
    }

    /// Adds a task directly, as if made in the app; returns its id.
    pub fn seed_task(&self, fields: Value) -> String {
        self.seed(|s| &mut s.tasks, task_defaults, fields)
    }

    /// Adds a person directly; returns the id.
    pub fn seed_person(&self, fields: Value) -> String {
        self.seed(|s| &mut s.people, person_defaults, fields)
    }

    fn seed(
        &self,
        collection: fn(&mut State) -> &mut BTreeMap<String, Value>,
        defaults: fn(&str) -> Map<String, Value>,
        fields: Value,
    ) -> String {
        self.with(|s| {
            let id = s.new_id();
            let mut entity = defaults(&id);
            merge(&mut entity, &fields);
            collection(s).insert(id.clone(), Value::Object(entity));
            id
        })
    }
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:08x}-0000-4000-8000-{:012x}", self.next_id, self.next_id)
    }

    /// The fault for this request, if a rule matches and the call's cap allows; consumes
    /// one use of the rule.
    fn take_fault(&mut self, method: &str, path: &str, call: Option<&str>) -> Option<Fault> {
        if let (Some(cap), Some(call)) = (self.faults_per_call, call) {
            let met = self
                .requests
                .iter()
                .filter(|r| r.fault.is_some() && r.header("x-correlation-id") == Some(call))
                .count();
            if met >= cap {
                return None;
            }
        }
        let key = format!("{method} {path}");
        let matches = |r: &Rule| {
            r.remaining > 0
                && r.matcher
                    .as_ref()
                    .is_none_or(|m| key.starts_with(m.as_str()))
        };
        // Every rule that is still letting requests through sees this one go by.
        let ready = self.rules.iter().position(|r| matches(r) && r.skip == 0);
        for rule in self.rules.iter_mut().filter(|r| matches(r) && r.skip > 0) {
            rule.skip -= 1;
        }
        let index = ready?;
        let rule = &mut self.rules[index];
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            self.rules.remove(index);
        }
        Some(fault)
    }
}

/// A CA and a `localhost` certificate it signed, as a TLS acceptor and the CA's PEM.
fn tls_acceptor() -> (tokio_rustls::TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .expect("server certificate");
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        ca_cert.pem(),
    )
}

const NOW: &str = "2024-05-10T12:00:00Z";

fn merge(target: &mut Map<String, Value>, fields: &Value) {
    if let Some(fields) = fields.as_object() {
        for (k, v) in fields {
            target.insert(k.clone(), v.clone());
        }
    }
}

/// The fields of a JSON object (every caller passes one).
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(fields) => fields,
        _ => Map::new(),
    }
}

fn task_defaults(id: &str) -> Map<String, Value> {
    object(json!({
        "id": id, "area_id": null, "goal_id": null, "status": "later", "previous_status": null,
        "estimate": null, "priority": 0, "progress": null, "motivation": "unknown",
        "eisenhower": 0, "sources": [], "scheduled_on": null, "completed_at": null,
        "created_at": NOW, "updated_at": NOW, "deleted_at": null
    }))
}

fn note_defaults(id: &str) -> Map<String, Value> {
    object(json!({
        "id": id, "notebook_id": null, "date_on": null, "sources": [],
        "created_at": NOW, "updated_at": NOW, "deleted_at": null
    }))
}

fn person_defaults(id: &str) -> Map<String, Value> {
    object(json!({
        "id": id, "relationship_strength": "casual-friends", "sources": [],
        "created_at": NOW, "updated_at": NOW, "deleted_at": null,
        "agreed_reconnect_on": null, "last_reconnect_on": null, "next_reconnect_on": null,
        "relationship_direction": null
    }))
}

/// Fields the API accepts but never returns (end-to-end encrypted).
const ENCRYPTED: &[&str] = &["name", "note", "content", "first_name", "last_name"];

type Reply = Response<Full<Bytes>>;

fn reply(status: u16, body: Option<Value>) -> Reply {
    let mut builder = Response::builder().status(status);
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    builder
        .body(Full::new(Bytes::from(bytes)))
        .expect("valid response")
}

fn error(status: u16, message: &str) -> Reply {
    reply(
        status,
        Some(json!({ "status": "error", "message": message })),
    )
}

/// The connection is closed without an answer when the service fails.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected dropped connection")
    }
}

impl std::error::Error for Dropped {}

async fn handle(accounts: Accounts, req: Request<Incoming>) -> Result<Reply, Dropped> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Option<Value> = if bytes.is_empty() {
        None
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    // The account the bearer token opens; a request with none is recorded in the first,
    // and refused below.
    let account = accounts
        .iter()
        .find(|(token, _)| authorized(&headers, token))
        .unwrap_or(&accounts[0]);
    let (token, state) = (&account.0, &account.1);
    let fault = {
        let mut s = state.lock().unwrap();
        let call = headers
            .iter()
            .find(|(n, _)| n == "x-correlation-id")
            .map(|(_, v)| v.as_str());
        let fault = s.take_fault(&method, &path, call);
        s.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: headers.clone(),
            body: body.clone(),
            body_len: bytes.len(),
            at: std::time::Instant::now(),
            fault: fault.clone(),
        });
        fault
    };
    match fault {
        Some(Fault::Status {
            status,
            headers,
            body,
        }) => {
            let mut response = reply(
                status,
                Some(body.unwrap_or_else(|| json!({ "status": "error", "message": "injected" }))),
            );
            for (name, value) in headers {
                let name: hyper::header::HeaderName = name.parse().expect("a header name");
                response
                    .headers_mut()
                    .insert(name, value.parse().expect("valid header"));
            }
            return Ok(response);
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::DropBeforeApply) => return Err(Dropped),
        Some(Fault::DropAfterApply) | None => {}
    }
    let head = strict::Head {
        method: &method,
        headers: &headers,
        body_len: bytes.len(),
    };
    let response = match strict::check_head(&head) {
        Err((status, message)) => error(status, &message),
        Ok(()) if !authorized(&headers, token) => error(401, "unauthorized"),
        Ok(()) => {
            let mut s = state.lock().unwrap();
            checked_route(&mut s, &method, &path, query.as_deref(), &bytes)
        }
    };
    if matches!(fault, Some(Fault::DropAfterApply)) {
        return Err(Dropped);
    }
    Ok(response)
}

fn authorized(headers: &[(String, String)], token: &str) -> bool {
    headers.iter().any(|(n, v)| {
        n == "authorization"
            && v.split_once(' ')
                .is_some_and(|(scheme, t)| scheme.eq_ignore_ascii_case("bearer") && t == token)
    })
}

/// The path and method must exist (404, 405 with `Allow`), a write's body must be one JSON
/// object with valid fields (400); then the request is acted on.
fn checked_route(
    s: &mut State,
    method: &str,
    path: &str,
    query: Option<&str>,
    bytes: &[u8],
) -> Reply {
    let Some(rest) = path.strip_prefix("/v1/") else {
        return error(404, "not found");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let Some(allowed) = strict::allowed_methods(&parts) else {
        return error(404, "not found");
    };
    if !allowed.contains(&method) {
        let mut response = error(405, "method not allowed");
        response
            .headers_mut()
            .insert("allow", allowed.join(", ").parse().expect("valid header"));
        return response;
    }
    let body = match method {
        "POST" | "PUT" => match strict::parse_body(bytes) {
            Ok(body) => body,
            Err((status, message)) => return error(status, &message),
        },
        _ => Value::Null,
    };
    if let Err((status, message)) = strict::check_fields(method, &parts, &body) {
        return error(status, &message);
    }
    route(s, method, &parts, &parse_query(query), body)
}

fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn has_source(entity: &Value, source: &str, source_id: &str) -> bool {
    entity["sources"].as_array().is_some_and(|sources| {
        sources
            .iter()
            .any(|s| s["source"] == source && s["source_id"] == source_id)
    })
}

fn source_filter(entity: &Value, query: &BTreeMap<String, String>) -> bool {
    let want_source = query.get("source");
    let want_id = query.get("source_id");
    if want_source.is_none() && want_id.is_none() {
        return true;
    }
    entity["sources"].as_array().is_some_and(|sources| {
        sources.iter().any(|s| {
            want_source.is_none_or(|w| s["source"] == w.as_str())
                && want_id.is_none_or(|w| s["source_id"] == w.as_str())
        })
    })
}

/// Copies the request's fields into the entity, minus encrypted and source fields.
fn apply_fields(entity: &mut Map<String, Value>, body: &Value, allowed: &[&str]) {
    if let Some(fields) = body.as_object() {
        for (k, v) in fields {
            if allowed.contains(&k.as_str()) && !ENCRYPTED.contains(&k.as_str()) {
                entity.insert(k.clone(), v.clone());
            }
        }
    }
}

fn sources_of(body: &Value) -> Vec<Value> {
    match (body["source"].as_str(), body["source_id"].as_str()) {
        (Some(s), Some(id)) => vec![json!({ "source": s, "source_id": id })],
        _ => vec![],
    }
}

const TASK_FIELDS: &[&str] = &[
    "area_id",
    "goal_id",
    "status",
    "motivation",
    "eisenhower",
    "estimate",
    "priority",
    "scheduled_on",
    "completed_at",
];

const NOTE_FIELDS: &[&str] = &["notebook_id", "date_on"];
const PERSON_FIELDS: &[&str] = &["relationship_strength"];

/// Whether the body names a source pair that an entity of `map` in the same scope already
/// has: LunaTask then answers 204 and creates nothing.
fn duplicate(
    map: &BTreeMap<String, Value>,
    body: &Value,
    same_scope: impl Fn(&Value) -> bool,
) -> bool {
    let (Some(source), Some(source_id)) = (body["source"].as_str(), body["source_id"].as_str())
    else {
        return false;
    };
    map.values()
        .any(|e| same_scope(e) && has_source(e, source, source_id))
}

/// `GET /<kind>`: every entity, narrowed by the source filter, under the plural key.
fn list(map: &BTreeMap<String, Value>, query: &BTreeMap<String, String>, plural: &str) -> Reply {
    let all: Vec<&Value> = map.values().filter(|e| source_filter(e, query)).collect();
    reply(200, Some(json!({ plural: all })))
}

/// `GET /<kind>/<id>`.
fn get(map: &BTreeMap<String, Value>, id: &str, singular: &str) -> Reply {
    match map.get(id) {
        Some(entity) => reply(200, Some(json!({ singular: entity }))),
        None => error(404, &format!("{singular} not found")),
    }
}

/// `POST /<kind>`: `entity` (its defaults) takes the body's allowed fields and sources.
fn insert(
    map: &mut BTreeMap<String, Value>,
    mut entity: Map<String, Value>,
    body: &Value,
    fields: &[&str],
    singular: &str,
) -> Reply {
    apply_fields(&mut entity, body, fields);
    entity.insert("sources".into(), Value::Array(sources_of(body)));
    let id = entity["id"].as_str().unwrap_or_default().to_string();
    let entity = Value::Object(entity);
    map.insert(id, entity.clone());
    reply(201, Some(json!({ singular: entity })))
}

/// `PUT /<kind>/<id>`: `before` sees the entity as it was, then the allowed fields apply.
fn update(
    map: &mut BTreeMap<String, Value>,
    id: &str,
    body: &Value,
    fields: &[&str],
    singular: &str,
    before: impl FnOnce(&mut Map<String, Value>),
) -> Reply {
    let Some(Value::Object(entity)) = map.get_mut(id) else {
        return error(404, &format!("{singular} not found"));
    };
    before(entity);
    apply_fields(entity, body, fields);
    entity.insert("updated_at".into(), json!(NOW));
    reply(200, Some(json!({ singular: entity })))
}

/// `DELETE /<kind>/<id>`: the entity as it was, with its deletion time.
fn delete(map: &mut BTreeMap<String, Value>, id: &str, singular: &str) -> Reply {
    match map.remove(id) {
        Some(mut entity) => {
            entity["deleted_at"] = json!(NOW);
            reply(200, Some(json!({ singular: entity })))
        }
        None => error(404, &format!("{singular} not found")),
    }
}

/// A completed task remembers the status it had, and gets a completion time if it had none.
fn track_status(task: &mut Map<String, Value>, body: &Value) {
    if let Some(status) = body["status"].as_str() {
        let previous = task.get("status").cloned().unwrap_or(Value::Null);
        task.insert("previous_status".into(), previous);
        if status == "completed" && task["completed_at"].is_null() {
            task.insert("completed_at".into(), json!(NOW));
        }
    }
}

fn route(
    s: &mut State,
    method: &str,
    parts: &[&str],
    query: &BTreeMap<String, String>,
    body: Value,
) -> Reply {
    match (method, parts) {
        ("GET", ["ping"]) => reply(200, Some(json!({ "message": "pong" }))),

        ("GET", ["tasks"]) => list(&s.tasks, query, "tasks"),
        ("GET", ["tasks", id]) => get(&s.tasks, id, "task"),
        ("POST", ["tasks"]) => {
            let Some(area_id) = body["area_id"].as_str() else {
                return error(400, "area_id is required");
            };
            // The API de-duplicates against open tasks in the same area only.
            if duplicate(&s.tasks, &body, |t| {
                t["area_id"] == area_id && t["status"] != "completed"
            }) {
                return reply(204, None);
            }
            let task = task_defaults(&s.new_id());
            insert(&mut s.tasks, task, &body, TASK_FIELDS, "task")
        }
        ("PUT", ["tasks", id]) => update(&mut s.tasks, id, &body, TASK_FIELDS, "task", |t| {
            track_status(t, &body)
        }),
        ("DELETE", ["tasks", id]) => delete(&mut s.tasks, id, "task"),

        ("POST", ["notes"]) => {
            if duplicate(&s.notes, &body, |n| n["notebook_id"] == body["notebook_id"]) {
                return reply(204, None);
            }
            let note = note_defaults(&s.new_id());
            insert(&mut s.notes, note, &body, NOTE_FIELDS, "note")
        }
        ("PUT", ["notes", id]) => update(&mut s.notes, id, &body, NOTE_FIELDS, "note", |_| ()),
        ("DELETE", ["notes", id]) => delete(&mut s.notes, id, "note"),

        ("POST", ["journal_entries"]) => {
            let Some(date_on) = body["date_on"].as_str() else {
                return error(400, "date_on is required");
            };
            let id = s.new_id();
            let entry = json!({ "id": id, "date_on": date_on, "created_at": NOW,
                "updated_at": NOW, "deleted_at": null });
            s.journal_entries.push(entry.clone());
            reply(201, Some(json!({ "journal_entry": entry })))
        }

        ("GET", ["people"]) => list(&s.people, query, "people"),
        ("GET", ["people", id]) => get(&s.people, id, "person"),
        ("POST", ["people"]) => {
            if duplicate(&s.people, &body, |_| true) {
                return reply(204, None);
            }
            if s.people_limit.is_some_and(|limit| s.people.len() >= limit) {
                return error(402, "the free plan allows no more people");
            }
            let custom = ["email", "phone", "birthday"]
                .iter()
                .any(|f| !body[*f].is_null());
            if custom && !s.person_custom_fields {
                return error(422, "custom field is not defined");
            }
            let person = person_defaults(&s.new_id());
            insert(&mut s.people, person, &body, PERSON_FIELDS, "person")
        }
        ("DELETE", ["people", id]) => delete(&mut s.people, id, "person"),

        ("POST", ["person_timeline_notes"]) => {
            let Some(person_id) = body["person_id"].as_str() else {
                return error(400, "person_id is required");
            };
            if !s.people.contains_key(person_id) {
                return error(404, "person not found");
            }
            let id = s.new_id();
            let date_on = body["date_on"].as_str().unwrap_or("2024-05-10");
            let note =
                json!({ "id": id, "date_on": date_on, "created_at": NOW, "updated_at": NOW });
            s.timeline_notes
                .push(json!({ "person_id": person_id, "note": note.clone() }));
            reply(201, Some(json!({ "person_timeline_note": note })))
        }

        ("POST", ["habits", id, "track"]) => {
            let Some(performed_on) = body["performed_on"].as_str() else {
                return error(400, "performed_on is required");
            };
            if !s.habits.iter().any(|h| h == id) {
                return error(404, "habit not found");
            }
            s.habit_tracks
                .push((id.to_string(), performed_on.to_string()));
            reply(200, Some(json!({ "status": "ok" })))
        }

        _ => error(404, "not found"),
    }
}
