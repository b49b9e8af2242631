//! Arbitrary bytes on stdin: the server answers what it can, drops what it cannot parse, and
//! keeps serving. Seeded, so a failure reproduces.

use std::time::Duration;

use lunatask_mcp_tests::{FakeApi, TOKEN};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::builder;

/// A small deterministic generator (xorshift), to avoid a dependency for noise.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn line(&mut self) -> Vec<u8> {
        let len = (self.next() % 300) as usize;
        let kind = self.next() % 4;
        let mut out: Vec<u8> = match kind {
            // Raw bytes (no newline inside).
            0 => (0..len).map(|_| (self.next() % 255) as u8).filter(|b| *b != b'\n').collect(),
            // JSON-ish punctuation soup.
            1 => (0..len).map(|_| b"{}[]\":,0123456789.-truefalsenull"[(self.next() % 32) as usize]).collect(),
            // Valid JSON, wrong shapes.
            2 => json!({ "jsonrpc": "2.0", "id": self.next() % 1000 + 1000, "method": "tools/call",
                "params": { "name": "create_task", "arguments": { "area_id": self.next(), "priority": "x" } } })
                .to_string().into_bytes(),
            _ => json!({ "jsonrpc": "1.0", "id": [], "method": 5 }).to_string().into_bytes(),
        };
        out.push(b'\n');
        out
    }
}

#[tokio::test]
async fn random_bytes_on_stdin_never_stop_the_server() {
    let fake = FakeApi::start(TOKEN).await;
    let mut child = builder()
        .against(&fake)
        .command()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"noise","version":"1"}}});
    stdin
        .write_all(format!("{init}\n").as_bytes())
        .await
        .unwrap();
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
        .await
        .unwrap();
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        stdin.write_all(&noise.line()).await.unwrap();
    }
    let probe = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ping","arguments":{}}});
    stdin
        .write_all(format!("{probe}\n").as_bytes())
        .await
        .unwrap();
    stdin.flush().await.unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let message: serde_json::Value =
                serde_json::from_str(&line).expect("stdout carries JSON-RPC only");
            if message["id"] == 7 {
                return message;
            }
        }
        panic!("the server stopped");
    })
    .await
    .expect("answered in time");
    assert_eq!(answered["result"]["structuredContent"]["message"], "pong");
    assert_eq!(child.try_wait().unwrap(), None, "still running");
}
