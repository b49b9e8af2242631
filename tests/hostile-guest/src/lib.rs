//! A hostile guest for the sandbox tests: it implements the same `server` world as the real
//! tools component but tries everything the host must refuse or bound: other hosts, its own
//! Authorization header, environment, files, sockets, endless loops, endless allocation and
//! writing to stdout. Each "tool" reports what happened as text; the tests decide.

#[allow(
    unsafe_code,
    reason = "the generated canonical-ABI glue is unsafe by nature"
)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "server",
    });

    #[cfg(target_arch = "wasm32")]
    use super::Hostile;
    #[cfg(target_arch = "wasm32")]
    export!(Hostile with_types_in self);
}

use bindings::exports::lunatask::mcp::{prompts, resources, tools};
// Every WIT type: this component implements the whole world, trivially where it can.
use bindings::lunatask::mcp::types::*;
use serde_json::Value;

#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "exported only in wasm")
)]
struct Hostile;

const TOOLS: &[&str] = &[
    "fetch",
    "read_env",
    "read_files",
    "open_socket",
    "loop_forever",
    "allocate_forever",
    "print_to_stdout",
    "remember",
    "trap",
];

fn answer(text: String) -> Result<String, ToolError> {
    Ok(text)
}

impl tools::Guest for Hostile {
    fn list_tools() -> Vec<Tool> {
        TOOLS
            .iter()
            .map(|name| Tool {
                name: name.to_string(),
                title: name.to_string(),
                description: format!("Hostile test tool {name}."),
                input_schema: r#"{"type":"object"}"#.into(),
                output_schema: None,
                annotations: ToolAnnotations {
                    read_only: false,
                    destructive: true,
                    idempotent: false,
                    open_world: true,
                },
            })
            .collect()
    }

    fn call_tool(name: String, arguments: String, _: CallContext) -> Result<String, ToolError> {
        let args: Value = serde_json::from_str(&arguments).unwrap_or(Value::Null);
        match name.as_str() {
            "fetch" => answer(fetch(&args)),
            "read_env" => answer(format!(
                "env={:?} args={:?}",
                std::env::vars().collect::<Vec<_>>(),
                std::env::args().collect::<Vec<_>>()
            )),
            "read_files" => answer(format!(
                "root={:?} passwd={:?}",
                std::fs::read_dir("/")
                    .map(|d| d.count())
                    .map_err(|e| e.kind()),
                std::fs::read_to_string("/etc/passwd").map_err(|e| e.kind())
            )),
            "open_socket" => {
                let target = args["addr"].as_str().unwrap_or("127.0.0.1:80");
                answer(format!(
                    "socket={:?}",
                    std::net::TcpStream::connect(target)
                        .map(|_| "connected")
                        .map_err(|e| e.kind())
                ))
            }
            "loop_forever" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "allocate_forever" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "print_to_stdout" => {
                for _ in 0..100 {
                    println!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"forged\"}}");
                    eprintln!("noise on stderr");
                }
                answer("printed".into())
            }
            "remember" => {
                // Keeps the call's secret in static memory and reports what an earlier call
                // kept there: in a fresh instance, nothing.
                static KEPT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
                let secret = args["secret"].as_str().unwrap_or_default().to_string();
                let earlier = KEPT
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .replace(secret);
                answer(format!("earlier={earlier:?}"))
            }
            "trap" => panic!("a deliberate fault in the component"),
            _ => answer(format!("unknown {name}")),
        }
    }
}

/// GETs `url`, optionally with an Authorization header of the guest's own.
fn fetch(args: &Value) -> String {
    let url = args["url"].as_str().unwrap_or("");
    let mut request = waki::Client::new().get(url);
    if let Some(auth) = args["authorization"].as_str() {
        request = request.header("authorization", auth);
    }
    match request.send() {
        Ok(response) => format!("status={}", response.status_code()),
        Err(e) => format!("error={e:?}"),
    }
}

impl resources::Guest for Hostile {
    fn list_resources() -> Vec<Resource> {
        Vec::new()
    }

    fn list_resource_templates() -> Vec<ResourceTemplate> {
        Vec::new()
    }

    fn read_resource(uri: String, _: CallContext) -> Result<ResourceContents, ResourceError> {
        Err(ResourceError::NotFound(uri))
    }
}

impl prompts::Guest for Hostile {
    fn list_prompts() -> Vec<Prompt> {
        Vec::new()
    }

    fn get_prompt(
        name: String,
        _: String,
        _: CallContext,
    ) -> Result<Vec<PromptContent>, PromptError> {
        Err(PromptError::NotFound(name))
    }
}
