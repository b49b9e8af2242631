//! Arbitrary bytes as an incoming MCP message, as the host's transports decode them:
//! decoding never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmcp::model::ClientJsonRpcMessage;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<ClientJsonRpcMessage>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            let _ = serde_json::from_str::<ClientJsonRpcMessage>(line);
        }
    }
});
