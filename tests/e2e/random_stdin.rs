//! Arbitrary bytes on stdin: the server answers what it can, drops what it cannot parse, and
//! keeps serving. Seeded, so a failure reproduces.

use lunatask_mcp_tests::{FakeApi, TOKEN};
use serde_json::json;

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
    let mut raw = builder().against(&fake).start_raw().await;
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    for _ in 0..300 {
        let line = noise.line();
        raw.send(&line[..line.len() - 1]).await;
    }
    let probe = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ping","arguments":{}}});
    raw.send(probe.to_string().as_bytes()).await;
    let (answer, _) = raw.answer(7).await;
    assert_eq!(answer["result"]["structuredContent"]["message"], "pong");
    assert_eq!(raw.child.try_wait().unwrap(), None, "still running");
}
