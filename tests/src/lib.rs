//! Shared helpers for the end-to-end tests: the fake LunaTask API ([`fake`]) and a handle on
//! a real `lunatask-mcp` process spoken to over MCP with rmcp's client.

pub mod account;
pub mod api_values;
pub mod checked;
pub mod fake;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams};
use rmcp::service::{RunningService, ServiceError};
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::process::Command;

pub use fake::{FakeApi, Fault, Recorded};

/// The hostile test component, built by `tests/build.rs`.
pub const HOSTILE_GUEST_WASM: &str = env!("HOSTILE_GUEST_WASM");

/// The guest built for its `portable` world, built by `tests/build.rs`.
pub const PORTABLE_GUEST_WASM: &str = env!("PORTABLE_GUEST_WASM");
/// The portable build that reads `wasi:config/store@0.2.0-rc.1` first.
pub const PORTABLE_CONFIG_GUEST_WASM: &str = env!("PORTABLE_CONFIG_GUEST_WASM");
/// The portable build that reads `wasi:config/store@0.2.0-draft` first.
pub const PORTABLE_CONFIG_DRAFT_GUEST_WASM: &str = env!("PORTABLE_CONFIG_DRAFT_GUEST_WASM");

/// A token distinctive enough to search logs for.
pub const TOKEN: &str = "lt-test-token-9f3a1c7e5b2d";

/// A well-formed id nothing has.
pub const MISSING_ID: &str = "99999999-9999-4999-8999-999999999999";
/// An area id for tests.
pub const AREA: &str = "aaaaaaaa-0000-4000-8000-000000000001";

/// The MCP revision without handshake or session (SEP-2567).
pub const STATELESS_VERSION: &str = "2026-07-28";

/// A POST of `message` to an MCP endpoint as a stateless (2026-07-28) client sends it: the
/// version and client capabilities in the request's `_meta`, and the version, method and
/// (for named requests such as `tools/call`) the name as headers.
pub fn stateless_post(
    web: &reqwest::Client,
    url: &str,
    message: &Value,
) -> reqwest::RequestBuilder {
    let mut message = message.clone();
    message["params"]["_meta"] = serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let method = message["method"]
        .as_str()
        .expect("a request names its method");
    let mut request = web
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", STATELESS_VERSION)
        .header("mcp-method", method);
    if let Some(name) = message["params"]["name"].as_str() {
        request = request.header("mcp-name", name);
    }
    request.json(&message)
}

/// How to start the server under test.
pub struct HostBuilder {
    bin: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
    /// The directory the server is started in (the test's own when `None`).
    dir: Option<PathBuf>,
}

impl HostBuilder {
    /// `bin` is the `lunatask-mcp` binary; `cache_dir` holds the compiled component
    /// between test processes.
    pub fn new(bin: &Path, cache_dir: &Path) -> Self {
        Self {
            bin: bin.to_path_buf(),
            env: vec![
                ("LUNATASK_CACHE_DIR".into(), cache_dir.display().to_string()),
                // Each host its own action journal, unless a test shares one on purpose.
                (
                    "LUNATASK_STATE_DIR".into(),
                    fresh_state_dir().display().to_string(),
                ),
            ],
            args: Vec::new(),
            dir: None,
        }
    }

    /// Starts the server in `dir`, as a client launches it from wherever it runs.
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_path_buf());
        self
    }

    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.into(), value.to_string()));
        self
    }

    /// Leaves `key` out of the environment (the builder's own defaults included).
    pub fn without_env(mut self, key: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    pub fn arg(mut self, arg: impl ToString) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// The usual set-up against `fake`, with fast retries so tests stay quick.
    pub fn against(self, fake: &FakeApi) -> Self {
        self.env("LUNATASK_API_TOKEN", &fake.token).pointed_at(fake)
    }

    /// [`against`](Self::against) without a token: a multi-user server, each of whose
    /// callers brings their own.
    pub fn multi_user(self, fake: &FakeApi) -> Self {
        self.env("LUNATASK_MCP_MULTI_USER", "true").pointed_at(fake)
    }

    fn pointed_at(self, fake: &FakeApi) -> Self {
        self.env("LUNATASK_BASE_URL", fake.base_url())
            .env("LUNATASK_RETRY_BASE_DELAY", "0.05")
            .env("LUNATASK_RETRY_MAX_DELAY", "0.5")
            .env("LUNATASK_RATE_LIMIT_RPM", "6000")
            .env("LUNATASK_RATE_LIMIT_BURST", "100")
    }

    /// [`against`](Self::against) `fake`, trusting the CA that signed its certificate when
    /// it serves TLS.
    pub fn against_trusted(self, fake: &FakeApi) -> Self {
        match fake.ca_pem {
            Some(_) => self
                .against(fake)
                .env("LUNATASK_CA_CERT", fake.ca_file().display()),
            None => self.against(fake),
        }
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        // Nothing from the developer's environment leaks into the test.
        cmd.env_clear();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.args(&self.args);
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Starts the server and completes the MCP handshake over stdio.
    pub async fn start(self) -> Host {
        let (transport, stderr) = TokioChildProcess::builder(self.command())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lunatask-mcp");
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = stderr {
            keep_log(stderr, Arc::clone(&log), |_| {});
        }
        let client = match ().serve(checked::Checked::new(transport)).await {
            Ok(client) => client,
            Err(e) => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                panic!(
                    "MCP handshake failed: {e}\nstderr:\n{}",
                    String::from_utf8_lossy(&log.lock().unwrap())
                );
            }
        };
        Host { client, log }
    }

    /// Starts the server with `--http 127.0.0.1:0` and waits for it to announce its address.
    pub async fn start_http(self) -> HttpHost {
        self.start_http_at("127.0.0.1:0").await
    }

    /// An OAuth server (multi-user, `--oauth`) on a free loopback port, its public URL
    /// that port's (the URL must be known before it starts).
    pub async fn start_oauth(self) -> HttpHost {
        self.start_oauth_on(free_port()).await
    }

    /// [`start_oauth`](Self::start_oauth) on `port` (a restart keeps its issuer).
    pub async fn start_oauth_on(self, port: u16) -> HttpHost {
        self.env("LUNATASK_MCP_OAUTH", "true")
            .env(
                "LUNATASK_MCP_PUBLIC_URL",
                format!("http://127.0.0.1:{port}"),
            )
            .start_http_at(&format!("127.0.0.1:{port}"))
            .await
    }

    /// Starts the server with `--http ADDR` and waits for it to announce its address.
    pub async fn start_http_at(self, addr: &str) -> HttpHost {
        let mut cmd = self.arg("--http").arg(addr).command();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn lunatask-mcp --http");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        let mut tx = Some(tx);
        keep_log(stderr, Arc::clone(&log), move |log| {
            let text = String::from_utf8_lossy(log);
            // Only whole lines: a read may end mid-line.
            if let Some(line) = text
                .split_inclusive('\n')
                .find(|l| l.ends_with('\n') && l.contains("listening on http://"))
                && let Some(tx) = tx.take()
            {
                let url = line.split("listening on ").nth(1).unwrap_or("").trim();
                let _ = tx.send(url.trim_end_matches("/mcp").to_string());
            }
        });
        let url = tokio::time::timeout(std::time::Duration::from_secs(60), rx)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no address announced: {}",
                    String::from_utf8_lossy(&log.lock().unwrap())
                )
            })
            .unwrap_or_else(|_| {
                panic!(
                    "server exited: {}",
                    String::from_utf8_lossy(&log.lock().unwrap())
                )
            });
        HttpHost { child, url, log }
    }

    /// Starts the server and speaks raw JSON-RPC lines to it (for malformed input); the
    /// handshake is done.
    pub async fn start_raw(self) -> RawStdio {
        self.spawn_raw(false).await
    }

    /// As [`HostBuilder::start_raw`], with the read end of the server's stderr closed at
    /// once, as by a launcher that stopped reading it.
    pub async fn start_raw_with_stderr_closed(self) -> RawStdio {
        self.spawn_raw(true).await
    }

    async fn spawn_raw(self, close_stderr: bool) -> RawStdio {
        let stderr = if close_stderr {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn lunatask-mcp");
        drop(child.stderr.take());
        let stdin = child.stdin.take().expect("piped stdin");
        let lines = tokio::io::BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut raw = RawStdio {
            child,
            stdin: Some(stdin),
            lines,
        };
        let init = serde_json::json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}});
        raw.send(init.to_string().as_bytes()).await;
        raw.answer(0).await;
        raw.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        raw
    }

    /// Runs the binary to completion (for start-up failures and `check`).
    pub async fn run(self) -> std::process::Output {
        let mut cmd = self.command();
        cmd.stdin(Stdio::null());
        tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
            .await
            .expect("the process ends")
            .expect("run lunatask-mcp")
    }
}

/// A running server with an MCP client connected over stdio.
pub struct Host {
    pub client: RunningService<RoleClient, ()>,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Host {
    /// Calls a tool; `arguments` must be a JSON object.
    pub async fn call(&self, name: &str, arguments: Value) -> CallToolResult {
        self.try_call(name, arguments)
            .await
            .unwrap_or_else(|e| panic!("tools/call {name} failed at the protocol level: {e}"))
    }

    pub async fn try_call(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<CallToolResult, ServiceError> {
        let Value::Object(arguments) = arguments else {
            panic!("arguments must be an object");
        };
        self.client
            .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(arguments))
            .await
    }

    pub async fn read(&self, uri: &str) -> Result<Value, ServiceError> {
        let result = self
            .client
            .read_resource(ReadResourceRequestParams::new(uri))
            .await?;
        let text = match &result.contents[0] {
            rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("unexpected contents {other:?}"),
        };
        Ok(serde_json::from_str(&text).expect("resource text is JSON"))
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    pub async fn stop(self) -> String {
        let _ = self.client.cancel().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }
}

/// Copies the server's stderr into `log` as it comes, calling `seen` with all of it after
/// each read.
fn keep_log(
    mut stderr: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    log: Arc<Mutex<Vec<u8>>>,
    mut seen: impl FnMut(&[u8]) + Send + 'static,
) {
    tokio::spawn(async move {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let mut log = log.lock().unwrap();
            log.extend_from_slice(&buf[..n]);
            seen(&log);
        }
    });
}

/// A folder no other host uses, for one host's action journal.
pub fn fresh_state_dir() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("lunatask-state-{}-{n}", std::process::id()))
}

/// A fresh folder for one test's files, `name` and this process's id in its name.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lunatask-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a scratch folder");
    dir
}

/// A process's memory figure from /proc in KiB: `VmRSS` (resident now) or `VmHWM` (the
/// resident peak); 0 once the process is gone.
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A server on stdio spoken to with raw lines.
pub struct RawStdio {
    pub child: tokio::process::Child,
    /// `None` once closed.
    stdin: Option<tokio::process::ChildStdin>,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl RawStdio {
    /// Writes `bytes` and a newline.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.write(bytes).await;
        self.write(b"\n").await;
    }

    /// Writes `bytes` as they are.
    pub async fn write(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).await.expect("write stdin");
        stdin.flush().await.expect("flush stdin");
    }

    /// Closes stdin: the server sees the end of its input.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line on stdout, as it came (the bench checks ids without parsing).
    pub async fn next_line(&mut self) -> String {
        let line = self.lines.next_line().await.expect("read stdout");
        line.expect("the server closed stdout")
    }

    /// The next message on stdout (which must be JSON).
    pub async fn next_message(&mut self) -> Value {
        let read = async {
            let line = self.lines.next_line().await.expect("read stdout");
            let line = line.expect("the server closed stdout");
            serde_json::from_str(&line).expect("stdout carries JSON-RPC only")
        };
        tokio::time::timeout(std::time::Duration::from_secs(20), read)
            .await
            .expect("a message in time")
    }

    /// Closes stdin (EOF) and waits for the server to exit.
    pub async fn finish(self) -> std::process::ExitStatus {
        let Self {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
            .await
            .expect("exits at EOF")
            .expect("wait")
    }

    /// Reads stdout until the answer with `id`, checking every line is JSON-RPC; the
    /// answers to other ids read on the way are returned too.
    pub async fn answer(&mut self, id: i64) -> (Value, Vec<Value>) {
        let mut others = Vec::new();
        let read = async {
            while let Some(line) = self.lines.next_line().await.expect("read stdout") {
                let message: Value =
                    serde_json::from_str(&line).expect("stdout carries JSON-RPC only");
                if message["id"] == id {
                    return message;
                }
                others.push(message);
            }
            panic!("the server closed stdout before answering {id}");
        };
        let answer = tokio::time::timeout(std::time::Duration::from_secs(60), read)
            .await
            .expect("answered in time");
        (answer, others)
    }
}

/// A loopback port nothing listens on now (the OS's next ephemeral one).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A server serving Streamable HTTP.
pub struct HttpHost {
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`, without a path.
    pub url: String,
    log: Arc<Mutex<Vec<u8>>>,
}

impl HttpHost {
    /// An MCP client over Streamable HTTP, optionally with a bearer token.
    pub async fn client(
        &self,
        bearer: Option<&str>,
    ) -> Result<RunningService<RoleClient, ()>, String> {
        use rmcp::transport::StreamableHttpClientTransport;
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
        let mut config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", self.url));
        if let Some(token) = bearer {
            config = config.auth_header(token);
        }
        let transport = StreamableHttpClientTransport::from_config(config);
        ().serve(checked::Checked::new(transport))
            .await
            .map_err(|e| e.to_string())
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, String) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let status = tokio::time::timeout(std::time::Duration::from_secs(30), self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .expect("wait");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        (status, self.stderr())
    }
}

/// `tools/list` as a model sees it: what clients pass into the model's context for each tool
/// (name, title, description, input schema, annotations), as JSON text.
pub fn catalog_as_model_sees_it(tools: &[rmcp::model::Tool]) -> String {
    let visible: Vec<Value> = tools
        .iter()
        .map(|t| {
            serde_json::json!({ "name": t.name, "title": t.title, "description": t.description,
                "inputSchema": t.input_schema, "annotations": t.annotations })
        })
        .collect();
    serde_json::to_string(&visible).unwrap_or_default()
}

/// The date `days` from today (negative: before) at `offset_secs` from UTC, as
/// YYYY-MM-DD: what the server's views call that day.
pub fn day(days: i64, offset_secs: i64) -> String {
    let now = chrono::Utc::now() + chrono::Duration::seconds(offset_secs);
    (now.date_naive() + chrono::Duration::days(days)).to_string()
}

/// A `redis-server` of the test's own on a free loopback port, without persistence; stopped
/// when dropped. `.ci/run` installs it (Debian's `redis-server`).
pub struct Redis {
    child: std::process::Child,
    pub url: String,
}

impl Redis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed (Debian: apt install redis-server)");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The message of a failed result's error.
pub fn message(result: &CallToolResult) -> String {
    err(result)["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The structured content of a successful result (and checks the text matches it).
pub fn ok(result: &CallToolResult) -> Value {
    assert_ne!(
        result.is_error,
        Some(true),
        "expected success, got {:?}",
        text(result)
    );
    let structured = result
        .structured_content
        .clone()
        .expect("a success carries structuredContent");
    let as_text: Value = serde_json::from_str(&text(result)).expect("text is JSON");
    assert_eq!(as_text, structured, "text and structuredContent agree");
    structured
}

/// The error object of a failed result.
pub fn err(result: &CallToolResult) -> Value {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected an error, got {:?}",
        text(result)
    );
    let body: Value = serde_json::from_str(&text(result)).expect("error text is JSON");
    body["error"].clone()
}

/// The error code of a failed result.
pub fn code(result: &CallToolResult) -> String {
    err(result)["code"].as_str().unwrap_or("").to_string()
}

pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The ids of the `tasks` array in a tool result or view.
pub fn task_ids(out: &Value) -> Vec<String> {
    out["tasks"]
        .as_array()
        .expect("a tasks array")
        .iter()
        .map(|t| t["id"].as_str().expect("an id").to_string())
        .collect()
}

/// The correlation id in the result's `_meta`.
pub fn correlation_id(result: &CallToolResult) -> String {
    result
        .meta
        .as_ref()
        .and_then(|m| m.0.get("correlationId"))
        .and_then(Value::as_str)
        .expect("_meta.correlationId")
        .to_string()
}
