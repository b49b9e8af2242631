//! The benchmark harness: runs the release `lunatask-mcp` against the local fake API and
//! prints (and writes to `target/bench/`) start-up time, per-call latency, throughput, memory
//! and component size, each beside the floor: the same API requests sent directly by a
//! native HTTP client in the same run. Latencies use a minimal JSON-RPC client (see
//! [`RawClient`]); throughput uses rmcp's client. Both latency clients, ours and the floor's,
//! run in child processes of their own on one-thread runtimes, so they are measured alike.
//!
//! Run: `cargo build --release -p lunatask-mcp && cargo run --release -p lunatask-mcp-tests --bin bench`

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lunatask_mcp_tests::{AREA, FakeApi, HostBuilder, RawStdio, TOKEN, stateless_post};
use rmcp::RoleClient;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const CALLS: usize = 400;
const STARTS: usize = 10;
const THROUGHPUT_CALLS: usize = 2000;

struct Row {
    what: String,
    value: f64,
    unit: &'static str,
    floor: Option<f64>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i].as_secs_f64() * 1000.0
}

/// What a model's context pays: `tools/list` as a model sees it (names, titles,
/// descriptions, input schemas, annotations: what clients pass to the model), and the text of
/// a default `list_tasks` answer on a big account (1,000 fully filled-in tasks).
async fn context_rows(host: &Path, cache: &Path, fake: &FakeApi) -> Vec<Row> {
    let server = builder(host, cache, fake).start().await;
    let tools = server.client.list_all_tools().await.expect("tools/list");
    let listed = lunatask_mcp_tests::catalog_as_model_sees_it(&tools).len();
    fake.with(|s| s.tasks.clear());
    for i in 0..1_000 {
        fake.seed_task(json!({
            "area_id": AREA, "goal_id": AREA, "status": "next", "priority": (i % 5) - 2,
            "estimate": 30, "progress": 10, "scheduled_on": "2026-12-24",
            "sources": [{ "source": "github", "source_id": format!("issue-{i}") }],
        }));
    }
    let answer = server.call("list_tasks", json!({})).await;
    let answer = lunatask_mcp_tests::text(&answer).len();
    fake.with(|s| s.tasks.clear());
    let _ = server.stop().await;
    vec![
        Row {
            what: format!(
                "tools/list as a model sees it, {} tools (target ≤ 12000)",
                tools.len()
            ),
            value: listed as f64,
            unit: "chars",
            floor: None,
        },
        Row {
            what: "default list_tasks answer, 1,000-task account (target ≤ 16000)".into(),
            value: answer as f64,
            unit: "chars",
            floor: None,
        },
    ]
}

fn builder(host: &Path, cache: &Path, fake: &FakeApi) -> HostBuilder {
    tuned(HostBuilder::new(host, cache).against(fake))
}

/// No local rate limit or queueing in the way of the measurements; logs off.
fn tuned(b: HostBuilder) -> HostBuilder {
    b.env("LUNATASK_RATE_LIMIT_RPM", "100000000")
        .env("LUNATASK_RATE_LIMIT_BURST", "100000")
        .env("LUNATASK_LOG", "warn")
        .env("LUNATASK_MAX_CONCURRENT_CALLS", "64")
}

/// Spawns the server, sends initialize + tools/list as raw lines, and times the answer.
async fn start_up(b: HostBuilder) -> Duration {
    let mut cmd = b.command();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for message in [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
    ] {
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
    }
    stdin.flush().await.unwrap();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains("\"id\":2") {
            break;
        }
    }
    let elapsed = started.elapsed();
    let _ = child.kill().await;
    elapsed
}

fn args(tool: &str) -> Map<String, Value> {
    let value = match update_of(tool) {
        Some((task_id, _)) => json!({ "task_id": task_id, "priority": 1 }),
        None if tool == "create_task" => {
            json!({ "area_id": AREA, "name": "bench", "priority": 1 })
        }
        None => json!({}),
    };
    value.as_object().cloned().unwrap()
}

/// `update_task/TASK_ID/MODE`: an update of that task under `LUNATASK_JOURNAL=MODE`, to
/// measure what the journal's read before an update costs.
fn update_of(what: &str) -> Option<(&str, &str)> {
    let rest = what.strip_prefix("update_task/")?;
    rest.split_once('/')
}

/// The tool a bench call names (`update_task/...` is `update_task`).
fn tool_name(what: &str) -> &str {
    if update_of(what).is_some() {
        "update_task"
    } else {
        what
    }
}

/// A minimal MCP client: one JSON-RPC message per call and nothing else, so that the
/// latencies are the server's (and the transport's), not an SDK's. The floor is measured
/// with an equally plain HTTP client.
///
/// Like the floor's client, which stops its clock once the body has arrived and parses
/// nothing, this one stops its clock once the answer's message has arrived (framing only:
/// a line, or an event): parsing it is the client's work, done after the clock stops.
trait RawClient {
    /// Sends the request and returns the text of the answer with the same id.
    async fn receive(&mut self, message: &Value) -> String;

    /// Sends the request and returns the parsed answer, checking that its id matches.
    async fn request(&mut self, message: &Value) -> Value {
        let answer = self.receive(message).await;
        parse_answer(&answer, message)
    }
}

/// The answer to `message` in `text`, which must carry `message`'s id.
fn parse_answer(text: &str, message: &Value) -> Value {
    let answer: Value = serde_json::from_str(text).expect("the answer is JSON");
    assert_eq!(
        answer["id"], message["id"],
        "an answer to another request: {text}"
    );
    answer
}

/// Whether `line` is a JSON-RPC answer to the request with this id: told by its opening
/// when it is written as rmcp writes it, so that the answer is not parsed on the clock, and
/// by parsing otherwise (a notification, or another serializer's field order).
fn answers(line: &str, id: &Value) -> bool {
    let opening = line
        .strip_prefix(r#"{"jsonrpc":"2.0","id":"#)
        .is_some_and(|rest| rest.starts_with(&format!("{id},")));
    opening || serde_json::from_str::<Value>(line).is_ok_and(|message| message["id"] == *id)
}

/// Newline-delimited JSON-RPC over the server's stdin and stdout.
impl RawClient for RawStdio {
    async fn receive(&mut self, message: &Value) -> String {
        self.send(message.to_string().as_bytes()).await;
        loop {
            let line = self.next_line().await;
            if answers(&line, &message["id"]) {
                return line;
            }
        }
    }
}

/// Streamable HTTP: one POST per message, the answer read from the response (JSON or SSE).
struct RawHttp {
    web: reqwest::Client,
    url: String,
    session: Option<String>,
    /// MCP 2026-07-28: no handshake or session; every request carries its version.
    stateless: bool,
}

impl RawHttp {
    /// A client of protocol 2025-06-18, in a session opened by the handshake.
    async fn start(url: String) -> Self {
        let mut raw = Self {
            web: reqwest::Client::new(),
            url,
            session: None,
            stateless: false,
        };
        raw.request(&initialize()).await;
        raw.post(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        raw
    }

    /// A client of protocol 2026-07-28: no handshake, no session.
    fn stateless(url: String) -> Self {
        Self {
            web: reqwest::Client::new(),
            url,
            session: None,
            stateless: true,
        }
    }

    async fn post(&mut self, message: &Value) -> reqwest::Response {
        let mut request = if self.stateless {
            stateless_post(&self.web, &self.url, message)
        } else {
            self.web
                .post(&self.url)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-06-18")
                .json(message)
        };
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        if let Some(session) = response.headers().get("mcp-session-id") {
            self.session = Some(session.to_str().unwrap().to_string());
        }
        response
    }
}

impl RawClient for RawHttp {
    async fn receive(&mut self, message: &Value) -> String {
        let mut response = self.post(message).await;
        let is_json = response
            .headers()
            .get("content-type")
            .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
        // Read events as they come, as a client does: the stream may stay open a while
        // after the answer. A JSON answer is the whole body.
        let mut body = String::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            body.push_str(std::str::from_utf8(&chunk).unwrap());
            if !is_json && let Some(answer) = sse_answer(&body, &message["id"]) {
                return answer.to_string();
            }
        }
        assert!(is_json, "no answer to {message} in {body:?}");
        body
    }
}

/// The data of the first complete event in an SSE `body` that answers the request `id`.
fn sse_answer<'a>(body: &'a str, id: &Value) -> Option<&'a str> {
    body.split("\n\n")
        // The last piece may be an event still arriving.
        .take(body.matches("\n\n").count())
        .flat_map(str::lines)
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim_start)
        .find(|data| answers(data, id))
}

fn initialize() -> Value {
    json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}})
}

/// Stands for MCP's own `ping` request in place of a tool: answered by rmcp without the
/// sandbox or the API, it measures the transport and the SDK alone.
const TRANSPORT_ONLY: &str = "mcp-ping";

async fn latencies(client: &mut impl RawClient, tool: &str) -> Vec<Duration> {
    latencies_of(client, tool, 20, CALLS).await
}

/// `count` timed calls of `what` after `warm_up` untimed ones: a tool (called with its
/// bench arguments), a `lunatask://` resource (read), or [`TRANSPORT_ONLY`].
async fn latencies_of(
    client: &mut impl RawClient,
    what: &str,
    warm_up: usize,
    count: usize,
) -> Vec<Duration> {
    let call = |id: usize| match what {
        TRANSPORT_ONLY => json!({"jsonrpc":"2.0","id":id,"method":"ping"}),
        uri if uri.starts_with("lunatask://") => json!({"jsonrpc":"2.0","id":id,
            "method":"resources/read","params":{"uri":uri}}),
        _ => json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
                    "params":{"name":tool_name(what),"arguments":args(what)}}),
    };
    for id in 1..=warm_up {
        client.request(&call(id)).await;
    }
    let mut samples = Vec::with_capacity(count);
    for id in 100..100 + count {
        let message = call(id);
        let t = Instant::now();
        let text = client.receive(&message).await;
        samples.push(t.elapsed());
        let answer = parse_answer(&text, &message);
        let ok = match what {
            TRANSPORT_ONLY => answer["result"].is_object(),
            uri if uri.starts_with("lunatask://") => answer["result"]["contents"].is_array(),
            _ => answer["result"]["isError"] == Value::Bool(false),
        };
        assert!(ok, "{what} failed during the benchmark: {answer}");
    }
    samples
}

/// The floor's HTTP client: hyper's pooled client over rustls (ring), the stack the server's
/// gate uses, for http and https alike, so that the two floors differ only by TLS.
type FloorClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

fn floor_client(ca: Option<&Path>) -> FloorClient {
    let tls = match ca {
        Some(ca) => tls_trusting(ca),
        None => tls_trusting_nothing(),
    };
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)
}

/// The floor of a list on a big account: the same GET, its whole answer read and parsed
/// (into a `serde_json::Value`, as a native client without our streaming would), `count`
/// times after one untimed.
async fn floor_parse_latencies(
    web: &FloorClient,
    base_url: &str,
    path: &str,
    count: usize,
) -> Vec<Duration> {
    use http_body_util::BodyExt;
    let get = || async {
        let request = hyper::Request::builder()
            .uri(format!("{base_url}/{path}"))
            .header("authorization", format!("bearer {TOKEN}"))
            .header("accept", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let response = web.request(request).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let parsed: Value = serde_json::from_slice(&body).expect("a JSON answer");
        assert!(parsed.is_object());
    };
    get().await;
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        get().await;
        samples.push(t.elapsed());
    }
    samples
}

/// The floor: the API request a tool makes, sent directly with a kept-alive native client
/// (the body with its length, as every mainstream client sends it). Runs in a child process
/// (see [`floor_child`]), as the server does.
async fn floor_latencies(web: &FloorClient, base_url: &str, tool: &str) -> Vec<Duration> {
    use http_body_util::BodyExt;
    let send = || {
        let (method, path, body) = match tool {
            "ping" => ("GET", "ping", None),
            "list_tasks" => ("GET", "tasks", None),
            _ => (
                "POST",
                "tasks",
                Some(json!({
                "area_id": AREA, "name": "bench", "priority": 1,
                "source": "lunatask-mcp", "source_id": format!("{:?}", Instant::now()) })),
            ),
        };
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{base_url}/{path}"))
            .header("authorization", format!("bearer {TOKEN}"))
            .header("accept", "application/json");
        let body = match body {
            Some(body) => {
                let bytes = body.to_string();
                request = request
                    .header("content-type", "application/json")
                    .header("content-length", bytes.len());
                bytes::Bytes::from(bytes)
            }
            None => bytes::Bytes::new(),
        };
        web.request(request.body(http_body_util::Full::new(body)).unwrap())
    };
    for _ in 0..20 {
        send().await.unwrap().into_body().collect().await.unwrap();
    }
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        let response = send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.into_body().collect().await.unwrap();
        samples.push(t.elapsed());
    }
    samples
}

async fn stdio_latencies(host: &Path, cache: &Path, fake: &FakeApi, tool: &str) -> Vec<Duration> {
    durations(
        &apart(&[
            "--client",
            "stdio",
            &host.display().to_string(),
            &cache.display().to_string(),
            &fake.base_url(),
            tool,
        ])
        .await,
    )
}

/// The p50 and p99 rows for one latency measurement, beside the floor's.
fn latency_rows(what: &str, mut ours: Vec<Duration>, mut floor: Vec<Duration>) -> Vec<Row> {
    [(0.5, "p50"), (0.99, "p99")]
        .into_iter()
        .map(|(p, name)| Row {
            what: format!("{what}, {name}"),
            value: percentile(&mut ours, p),
            unit: "ms",
            floor: Some(percentile(&mut floor, p)),
        })
        .collect()
}

/// Gives our client and the floor's the same account to write to: the fake's `POST /tasks`
/// checks every task for a duplicate, so it slows as the tasks each run creates pile up.
fn start_even(fake: &FakeApi, tool: &str) {
    if tool == "create_task" {
        fake.with(|s| s.tasks.clear());
    }
}

/// The transport's share of every call: MCP's `ping` request, p50.
fn transport_row(transport: &str, mut samples: Vec<Duration>) -> Row {
    Row {
        what: format!(
            "MCP ping request (transport and SDK only, no sandbox) over {transport}, p50"
        ),
        value: percentile(&mut samples, 0.5),
        unit: "ms",
        floor: None,
    }
}

async fn throughput(clients: &[Arc<RunningService<RoleClient, ()>>], concurrency: usize) -> f64 {
    let per_worker = THROUGHPUT_CALLS / concurrency;
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|i| {
            let client = Arc::clone(&clients[i % clients.len()]);
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    let r = client
                        .call_tool(CallToolRequestParams::new("ping").with_arguments(Map::new()))
                        .await
                        .unwrap();
                    assert_ne!(r.is_error, Some(true));
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    (per_worker * concurrency) as f64 / started.elapsed().as_secs_f64()
}

async fn floor_throughput(web: &reqwest::Client, base_url: &str, concurrency: usize) -> f64 {
    let per_worker = THROUGHPUT_CALLS / concurrency;
    let started = Instant::now();
    let url = format!("{base_url}/ping");
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let web = web.clone();
            let url = url.clone();
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    web.get(&url)
                        .bearer_auth(TOKEN)
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    (per_worker * concurrency) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--floor") => return floor_child(&args[2..]),
        Some("--client") => return client_child(&args[2..]),
        _ => {}
    }
    tokio::runtime::Runtime::new().unwrap().block_on(run());
}

/// The floor's client, in a process of its own like the server under test, on the same
/// kind of runtime (one thread): `--floor BASE_URL latency TOOL [CA_PEM]` prints one
/// latency in nanoseconds per line (over https trusting only `CA_PEM`, when given);
/// `--floor BASE_URL throughput CONCURRENCY` prints calls per second;
/// `--floor BASE_URL parse PATH COUNT` times a GET of `PATH` with its whole answer parsed.
/// In the benchmark's own process the floor took shortcuts no separate process can (an
/// answer from the fake's thread straight to a spinning worker), and measured from 16 µs
/// to 100 µs a request depending only on which thread asked.
fn floor_child(args: &[String]) {
    let (base_url, kind, what, ca) = match args {
        [base_url, kind, what] => (base_url, kind, what, None),
        [base_url, kind, what, ca] => (base_url, kind, what, Some(Path::new(ca))),
        _ => {
            panic!(
                "usage: bench --floor BASE_URL (latency TOOL [CA_PEM] | throughput CONCURRENCY | parse PATH COUNT)"
            )
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        match kind.as_str() {
            "latency" => {
                let web = floor_client(ca);
                for sample in floor_latencies(&web, base_url, what).await {
                    println!("{}", sample.as_nanos());
                }
            }
            "parse" => {
                let web = floor_client(None);
                let count = args[3].parse().expect("parse PATH COUNT");
                for sample in floor_parse_latencies(&web, base_url, what, count).await {
                    println!("{}", sample.as_nanos());
                }
            }
            _ => println!(
                "{}",
                floor_throughput(&reqwest::Client::new(), base_url, what.parse().unwrap()).await
            ),
        }
    });
}

/// A rustls client configuration (ring, as the server's) trusting only the CA in `pem`.
fn tls_trusting(pem: &Path) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(pem).unwrap();
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// For plain http: no certificate is ever checked.
fn tls_trusting_nothing() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// lunatask-mcp's latency client, in a process of its own on the same kind of runtime as
/// the floor's, so that both sides are measured alike: `--client stdio HOST CACHE BASE_URL
/// TOOL [CA_PEM]` starts the server on its stdio (trusting `CA_PEM` for an https API);
/// `--client http URL TOOL` speaks to a running one; `--client http-big URL WHAT COUNT`
/// times `COUNT` calls of a tool or reads of a resource (after one untimed).
/// Prints one latency in nanoseconds per line.
fn client_child(args: &[String]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let samples = runtime.block_on(async {
        match args {
            [kind, host, cache, base_url, tool, ca @ ..] if kind == "stdio" => {
                let mut b = HostBuilder::new(Path::new(host), Path::new(cache))
                    .env("LUNATASK_API_TOKEN", TOKEN)
                    .env("LUNATASK_BASE_URL", base_url);
                if let [ca] = ca {
                    b = b.env("LUNATASK_CA_CERT", ca);
                }
                if let Some((_, mode)) = update_of(tool) {
                    b = b.env("LUNATASK_JOURNAL", mode);
                }
                latencies(&mut tuned(b).start_raw().await, tool).await
            }
            [kind, url, tool] if kind == "http" => {
                latencies(&mut RawHttp::start(url.clone()).await, tool).await
            }
            [kind, url, what, count] if kind == "http-big" => {
                let mut client = RawHttp::start(url.clone()).await;
                latencies_of(&mut client, what, 1, count.parse().unwrap()).await
            }
            [kind, url, tool] if kind == "http-stateless" => {
                latencies(&mut RawHttp::stateless(url.clone()), tool).await
            }
            _ => panic!(
                "usage: bench --client (stdio HOST CACHE BASE_URL TOOL [CA_PEM] | http URL TOOL | http-big URL WHAT COUNT | http-stateless URL TOOL)"
            ),
        }
    });
    for sample in samples {
        println!("{}", sample.as_nanos());
    }
}

/// Runs this binary with `args` in a child process and returns what it printed.
async fn apart(args: &[&str]) -> Vec<String> {
    let output = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("run a child client");
    assert!(output.status.success(), "the child client {args:?} failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn durations(lines: &[String]) -> Vec<Duration> {
    lines
        .iter()
        .map(|line| Duration::from_nanos(line.parse().unwrap()))
        .collect()
}

async fn floor_latencies_apart(base_url: &str, tool: &str) -> Vec<Duration> {
    durations(&apart(&["--floor", base_url, "latency", tool]).await)
}

async fn floor_throughput_apart(base_url: &str, concurrency: usize) -> f64 {
    apart(&["--floor", base_url, "throughput", &concurrency.to_string()]).await[0]
        .parse()
        .unwrap()
}

/// How many alternating rounds the TLS comparison pools: this VM's floor is bimodal from
/// run to run (0.13 or 0.2 ms for `create_task`), more than the difference being measured.
const TLS_ROUNDS: usize = 3;

/// `create_task` and `ping` over stdio to an https API (a private CA, as a user always
/// reaches LunaTask over TLS) beside the same over plain http, ours and the floor's: rounds
/// alternate the four runs, each from an even start, and pool their samples; then what TLS
/// adds to our overhead beyond what it adds to the floor's.
async fn tls_rows(
    host: &Path,
    cache: &Path,
    plain: &FakeApi,
    tls: &FakeApi,
    ca: &Path,
) -> Vec<Row> {
    let ca_arg = ca.display().to_string();
    let mut rows = Vec::new();
    for tool in ["ping", "create_task"] {
        let mut series: [Vec<Duration>; 4] = Default::default();
        for _ in 0..TLS_ROUNDS {
            for (i, (fake, ca)) in [(plain, None), (tls, Some(ca_arg.as_str()))]
                .into_iter()
                .enumerate()
            {
                let base_url = fake.base_url();
                start_even(fake, tool);
                let host = host.display().to_string();
                let cache = cache.display().to_string();
                let mut ours = vec!["--client", "stdio", &host, &cache, &base_url, tool];
                ours.extend(ca);
                series[i].extend(durations(&apart(&ours).await));
                start_even(fake, tool);
                let mut floor = vec!["--floor", &base_url, "latency", tool];
                floor.extend(ca);
                series[2 + i].extend(durations(&apart(&floor).await));
            }
        }
        let [ours_plain, ours_tls, floor_plain, floor_tls] = series;
        let plain_rows = latency_rows(
            &format!("{tool} over stdio, plain http, {TLS_ROUNDS} rounds pooled"),
            ours_plain,
            floor_plain,
        );
        let tls_rows = latency_rows(
            &format!("{tool} over stdio, TLS to the API, {TLS_ROUNDS} rounds pooled"),
            ours_tls,
            floor_tls,
        );
        let overhead = |rows: &[Row]| rows[0].value - rows[0].floor.unwrap_or(0.0);
        let extra = overhead(&tls_rows) - overhead(&plain_rows);
        rows.extend(plain_rows);
        rows.extend(tls_rows);
        rows.push(Row {
            what: format!(
                "{tool} over stdio: TLS overhead minus plain overhead, p50 (target ≤ 0.05)"
            ),
            value: extra,
            unit: "ms",
            floor: None,
        });
    }
    rows
}

/// Account sizes the big-account rows are measured at, and how many calls each times.
const ACCOUNTS: [(usize, usize); 3] = [(1_000, 30), (10_000, 10), (100_000, 5)];

/// list_tasks, one view and list_people on accounts of 1,000 to 100,000 tasks and as many
/// people, over HTTP: p50 beside the floor (the same GET by a native client, parsing the
/// whole answer), and the guest's peak memory for the call (its mean over the run's calls,
/// the untimed one included, from the server's own metric).
async fn big_account_rows(fake: &FakeApi, server: &str) -> Vec<Row> {
    let mcp_url = format!("{server}/mcp");
    let view = format!("lunatask://area/{AREA}/high-priority");
    let mut rows = Vec::new();
    for (size, count) in ACCOUNTS {
        lunatask_mcp_tests::account::seed(fake, size, size);
        for (label, what, path, call) in [
            ("list_tasks", "list_tasks", "tasks", "list_tasks"),
            ("view high-priority", view.as_str(), "tasks", "resource"),
            ("list_people", "list_people", "people", "list_people"),
        ] {
            let before = guest_memory(server, call).await;
            let ours = apart(&["--client", "http-big", &mcp_url, what, &count.to_string()]).await;
            let after = guest_memory(server, call).await;
            let floor = durations(
                &apart(&[
                    "--floor",
                    &fake.base_url(),
                    "parse",
                    path,
                    &count.to_string(),
                ])
                .await,
            );
            let what = format!("{label} on {size} (target ≤ 1.5× at 100000)");
            let mut rows_here = latency_rows(&what, durations(&ours), floor);
            rows_here.truncate(1);
            rows.extend(rows_here);
            let calls = after.1 - before.1;
            rows.push(Row {
                what: format!("{label} on {size}: guest peak memory (target ≤ 16 MiB)"),
                value: (after.0 - before.0) / calls.max(1.0) / (1024.0 * 1024.0),
                unit: "MiB",
                floor: None,
            });
        }
    }
    fake.with(|s| {
        s.tasks.clear();
        s.people.clear();
    });
    rows
}

/// The sum and count of the guest memory peaks the server has measured for `call`, from
/// its Prometheus `/metrics`.
async fn guest_memory(server: &str, call: &str) -> (f64, f64) {
    let text = reqwest::get(format!("{server}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let read = |suffix: &str| {
        let key = format!("lunatask_mcp_guest_memory_peak_bytes_{suffix}{{call=\"{call}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(key.as_str()))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    };
    (read("sum"), read("count"))
}

async fn run() {
    let root = workspace();
    let host = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or(root.join("target/release/lunatask-mcp"));
    assert!(
        host.exists(),
        "{} is missing: run `cargo build --release -p lunatask-mcp` first",
        host.display()
    );
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir).unwrap();
    let cache = out_dir.join("cache");
    // The fake API gets a runtime and thread of its own, as a real server would be apart
    // from its clients, rather than sharing the benchmark's worker threads.
    let fake_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fake = fake_runtime
        .spawn(FakeApi::start(TOKEN))
        .await
        .expect("the fake API starts");
    let mut rows: Vec<Row> = Vec::new();

    // Start-up: first run compiles the component; later runs load the cached artifact.
    let _ = std::fs::remove_dir_all(&cache);
    let first = start_up(builder(&host, &cache, &fake)).await;
    rows.push(Row {
        what: "start-up to tools/list, first run (compiles)".into(),
        value: first.as_secs_f64() * 1000.0,
        unit: "ms",
        floor: None,
    });
    let mut starts: Vec<Duration> = Vec::new();
    for _ in 0..STARTS {
        starts.push(start_up(builder(&host, &cache, &fake)).await);
    }
    rows.push(Row {
        what: "start-up to tools/list, cached (median)".into(),
        value: percentile(&mut starts, 0.5),
        unit: "ms",
        floor: None,
    });

    // Latency over stdio: the client starts a server of its own.
    let transport = stdio_latencies(&host, &cache, &fake, TRANSPORT_ONLY).await;
    rows.push(transport_row("stdio", transport));
    for tool in ["ping", "create_task", "list_tasks"] {
        if tool == "list_tasks" {
            // A realistic account: 200 tasks to filter and sort.
            fake.with(|s| s.tasks.clear());
            for i in 0..200 {
                fake.seed_task(json!({ "area_id": AREA, "priority": (i % 5) - 2 }));
            }
        }
        start_even(&fake, tool);
        let ours = stdio_latencies(&host, &cache, &fake, tool).await;
        start_even(&fake, tool);
        let floor = floor_latencies_apart(&fake.base_url(), tool).await;
        rows.extend(latency_rows(&format!("{tool} over stdio"), ours, floor));
    }
    // What the action journal costs an update: full mode reads the task first.
    let task = fake.seed_task(json!({ "area_id": AREA, "priority": 0 }));
    for mode in ["off", "writes", "full"] {
        let what = format!("update_task/{task}/{mode}");
        let mut ours = stdio_latencies(&host, &cache, &fake, &what).await;
        rows.push(Row {
            what: format!("update_task over stdio, LUNATASK_JOURNAL={mode}, p50"),
            value: percentile(&mut ours, 0.5),
            unit: "ms",
            floor: None,
        });
    }
    let tls_fake = fake_runtime
        .spawn(FakeApi::start_tls(TOKEN))
        .await
        .expect("the TLS fake API starts");
    let ca = out_dir.join("fake-ca.pem");
    std::fs::write(&ca, tls_fake.ca_pem.as_ref().expect("a CA")).unwrap();
    let tls = tls_rows(&host, &cache, &fake, &tls_fake, &ca).await;
    rows.extend(tls);
    drop(tls_fake);

    // HTTP: latency, throughput, memory.
    fake.with(|s| s.tasks.clear());
    let http = builder(&host, &cache, &fake).start_http().await;
    let pid = http.child.id().expect("pid");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = lunatask_mcp_tests::memory_kib(pid, "VmRSS") as f64;
    let mcp_url = format!("{}/mcp", http.url);
    // Two kinds of client: a session (2025-06-18, answers as event streams) and stateless
    // (2026-07-28, quick answers as plain JSON; that revision has no `ping` request).
    let transport = durations(&apart(&["--client", "http", &mcp_url, TRANSPORT_ONLY]).await);
    rows.push(transport_row("HTTP", transport));
    for (kind, label) in [("http", "HTTP"), ("http-stateless", "HTTP, stateless")] {
        for tool in ["ping", "create_task"] {
            start_even(&fake, tool);
            let ours = durations(&apart(&["--client", kind, &mcp_url, tool]).await);
            start_even(&fake, tool);
            let floor = floor_latencies_apart(&fake.base_url(), tool).await;
            rows.extend(latency_rows(&format!("{tool} over {label}"), ours, floor));
        }
    }
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(Arc::new(http.client(None).await.unwrap()));
    }
    for concurrency in [1, 8, 32] {
        let ours = throughput(&clients, concurrency).await;
        let floor = floor_throughput_apart(&fake.base_url(), concurrency).await;
        rows.push(Row {
            what: format!("ping throughput over HTTP, concurrency {concurrency}"),
            value: ours,
            unit: "calls/s",
            floor: Some(floor),
        });
    }
    let peak = lunatask_mcp_tests::memory_kib(pid, "VmHWM") as f64;
    rows.push(Row {
        what: "resident memory, idle".into(),
        value: idle / 1024.0,
        unit: "MB",
        floor: None,
    });
    rows.push(Row {
        what: "resident memory, peak".into(),
        value: peak / 1024.0,
        unit: "MB",
        floor: None,
    });
    let wasm = root.join("target/guest-build/wasm32-wasip2/guest/lunatask_mcp_guest.wasm");
    let size = std::fs::metadata(&wasm)
        .map(|m| m.len() as f64 / 1024.0)
        .unwrap_or(0.0);
    rows.push(Row {
        what: "component size".into(),
        value: size,
        unit: "KiB",
        floor: None,
    });
    drop(clients);
    rows.extend(big_account_rows(&fake, &http.url).await);
    let _ = http.terminate().await;

    rows.extend(context_rows(&host, &cache, &fake).await);

    let tokens: Vec<String> = (0..LOAD_USERS)
        .map(|i| format!("lt-bench-user-{i:04}-token"))
        .collect();
    let accounts = fake_runtime
        .spawn(async move {
            let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
            FakeApi::start_accounts(&tokens).await
        })
        .await
        .expect("the fake accounts start");
    rows.extend(multi_user_rows(&host, &cache, &accounts).await);
    drop(accounts);

    let table = markdown(&rows);
    println!("{table}");
    std::fs::write(out_dir.join("results.md"), &table).unwrap();
    std::fs::write(out_dir.join("latency.svg"), svg(&rows)).unwrap();
    println!(
        "wrote {} and {}",
        out_dir.join("results.md").display(),
        out_dir.join("latency.svg").display()
    );
    drop(fake);
    // Dropping a runtime blocks, which an async context forbids.
    fake_runtime.shutdown_background();
}

/// How many users the multi-user load has, and how many pings each makes.
const LOAD_USERS: usize = 200;
const LOAD_CALLS_EACH: usize = 5;

/// Multi-user mode under load: 200 users, each a few pings, all at once over HTTP, beside a
/// single-user server at the same concurrency (200 sessions of one user); calls per second,
/// p99 and the multi-user server's peak memory; and how many upstream requests carried
/// another caller's token (each account must have received only its own).
async fn multi_user_rows(host: &Path, cache: &Path, accounts: &[FakeApi]) -> Vec<Row> {
    // The default sandbox slots (32), as a hosted server would run: not the bench's 64.
    let slots = ("LUNATASK_MAX_CONCURRENT_CALLS", "32");
    let single = builder(host, cache, &accounts[0])
        .env(slots.0, slots.1)
        .start_http()
        .await;
    let single_pid = single.child.id().expect("pid");
    let mut clients = Vec::new();
    for _ in 0..LOAD_USERS {
        clients.push(Arc::new(single.client(None).await.expect("a session")));
    }
    // One round first, so that neither server is measured while it warms up (its
    // instance supply and its connections to the API).
    load(&clients).await;
    let (single_rate, single_p99) = load(&clients).await;
    let single_peak = lunatask_mcp_tests::memory_kib(single_pid, "VmHWM") as f64 / 1024.0;
    drop(clients);
    let _ = single.terminate().await;
    for account in accounts {
        account.with(|s| s.requests.clear());
    }

    let multi = tuned(HostBuilder::new(host, cache).multi_user(&accounts[0]))
        .env(slots.0, slots.1)
        .start_http()
        .await;
    let pid = multi.child.id().expect("pid");
    let mut clients = Vec::new();
    for account in accounts {
        let client = multi.client(Some(&account.token)).await.expect("a session");
        clients.push(Arc::new(client));
    }
    load(&clients).await;
    for account in accounts {
        account.with(|s| s.requests.clear());
    }
    let (multi_rate, multi_p99) = load(&clients).await;
    let peak = lunatask_mcp_tests::memory_kib(pid, "VmHWM") as f64 / 1024.0;
    drop(clients);
    let _ = multi.terminate().await;
    let crossed = accounts
        .iter()
        .flat_map(|a| {
            let own = format!("Bearer {}", a.token);
            a.requests()
                .into_iter()
                .filter(move |r| r.header("authorization") != Some(own.as_str()))
        })
        .count();
    let sent: usize = accounts.iter().map(|a| a.requests().len()).sum();
    assert_eq!(
        sent,
        LOAD_USERS * LOAD_CALLS_EACH,
        "every ping reached its account"
    );
    let what =
        |m: &str| format!("{m}, {LOAD_USERS} users x {LOAD_CALLS_EACH} pings at once over HTTP");
    vec![
        Row {
            what: what("multi-user throughput (floor: one user's server)"),
            value: multi_rate,
            unit: "calls/s",
            floor: Some(single_rate),
        },
        Row {
            what: what("multi-user p99 (floor: one user's server)"),
            value: multi_p99,
            unit: "ms",
            floor: Some(single_p99),
        },
        Row {
            what: what("multi-user resident memory, peak (floor: one user's server)"),
            value: peak,
            unit: "MB",
            floor: Some(single_peak),
        },
        Row {
            what: what("upstream requests carrying another caller's token"),
            value: crossed as f64,
            unit: "requests",
            floor: None,
        },
    ]
}

/// Every client makes its pings one after another, all clients at once: calls per second
/// and the p99 latency in milliseconds.
async fn load(clients: &[Arc<RunningService<RoleClient, ()>>]) -> (f64, f64) {
    let started = Instant::now();
    let workers: Vec<_> = clients
        .iter()
        .map(|client| {
            let client = Arc::clone(client);
            tokio::spawn(async move {
                let mut took = Vec::with_capacity(LOAD_CALLS_EACH);
                for _ in 0..LOAD_CALLS_EACH {
                    let asked = Instant::now();
                    let ping = CallToolRequestParams::new("ping").with_arguments(Map::new());
                    let result = client.call_tool(ping).await.expect("answered");
                    assert_ne!(result.is_error, Some(true), "{result:?}");
                    took.push(asked.elapsed());
                }
                took
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.expect("a worker"));
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    (rate, percentile(&mut all, 0.99))
}

fn markdown(rows: &[Row]) -> String {
    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_default()
    );
    let mut out = format!(
        "Machine: {machine}\n\n| measure | lunatask-mcp | floor (direct HTTP) | ratio | overhead |\n|---|---|---|---|---|\n"
    );
    for r in rows {
        let (floor, ratio, overhead) = match r.floor {
            Some(f) if r.unit == "ms" => (
                format!("{f:.3} ms"),
                format!("{:.2}×", r.value / f),
                format!("{:+.3} ms", r.value - f),
            ),
            Some(f) => (
                format!("{f:.0} {}", r.unit),
                format!("{:.2}×", r.value / f),
                String::new(),
            ),
            None => (String::new(), String::new(), String::new()),
        };
        let value = if r.unit == "ms" {
            format!("{:.3} ms", r.value)
        } else {
            format!("{:.1} {}", r.value, r.unit)
        };
        out.push_str(&format!(
            "| {} | {value} | {floor} | {ratio} | {overhead} |\n",
            r.what
        ));
    }
    out
}

/// A horizontal bar chart of the latency rows: ours beside the floor.
fn svg(rows: &[Row]) -> String {
    let bars: Vec<&Row> = rows
        .iter()
        .filter(|r| r.unit == "ms" && r.floor.is_some())
        .collect();
    let max = bars
        .iter()
        .map(|r| r.value.max(r.floor.unwrap_or(0.0)))
        .fold(0.0, f64::max)
        .max(0.001);
    let (width, left, row_h) = (900.0, 260.0, 34.0);
    let height = 40.0 + row_h * bars.len() as f64;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12"><text x="10" y="20" font-size="14">tools/call latency (ms): lunatask-mcp (blue) vs direct HTTP floor (grey)</text>"#
    );
    for (i, r) in bars.iter().enumerate() {
        let y = 34.0 + i as f64 * row_h;
        let scale = (width - left - 80.0) / max;
        let floor = r.floor.unwrap_or(0.0);
        out.push_str(&format!(
            r##"<text x="10" y="{:.0}">{}</text><rect x="{left}" y="{y:.0}" width="{:.1}" height="12" fill="#3b6fd8"/><text x="{:.1}" y="{:.0}">{:.3}</text><rect x="{left}" y="{:.0}" width="{:.1}" height="10" fill="#999"/><text x="{:.1}" y="{:.0}">{:.3}</text>"##,
            y + 14.0, r.what, r.value * scale, left + r.value * scale + 4.0, y + 10.0, r.value,
            y + 13.0, floor * scale, left + floor * scale + 4.0, y + 22.0, floor
        ));
    }
    out.push_str("</svg>\n");
    out
}
