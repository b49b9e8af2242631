//! Arbitrary API answers (status and body): mapping them to errors and reading entities
//! out of them never panics, and error statuses always give an error with that status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lunatask_mcp_guest::api::{Reply, status_error};
use lunatask_mcp_guest::entities::{Person, Task};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 500;
    let body = &data[2..];
    if !(200..300).contains(&status) {
        let error = status_error(status, body);
        assert_eq!(error.http_status, Some(status));
    }
    let reply = Reply { status, body: body.to_vec() };
    let _ = reply.field::<Task>("task");
    let _ = reply.field::<Vec<Task>>("tasks");
    let _ = reply.field::<Person>("person");
});
