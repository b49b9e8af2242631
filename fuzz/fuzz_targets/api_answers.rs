//! Arbitrary API answers (status and body): mapping them to errors and reading entities
//! out of them never panics, and error statuses always give an error with that status.
//! Splitting a streamed list never panics, and gives the same elements in any chunking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lunatask_mcp_guest::api::{Reply, Subject, status_error};
use lunatask_mcp_guest::entities::{Person, Task};
use lunatask_mcp_guest::stream::{Elements, ShapeError};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 500;
    let body = &data[2..];
    let paths = [
        "/tasks",
        "/notes/x",
        "/journal_entries",
        "/people",
        "/person_timeline_notes",
        "/habits/x/track",
        "/ping",
    ];
    let subject = Subject::of_path(paths[usize::from(data[0]) % paths.len()]);
    if !(200..300).contains(&status) {
        let error = status_error(status, body, subject);
        assert_eq!(error.http_status, Some(status));
    }
    let reply = Reply {
        status,
        body: body.to_vec(),
    };
    let _ = reply.field::<Task>("task");
    let _ = reply.field::<Vec<Task>>("tasks");
    let _ = reply.field::<Person>("person");

    let split = |size: usize| {
        let mut elements = Elements::new("tasks");
        let mut out: Vec<Vec<u8>> = Vec::new();
        let fed = body.chunks(size).try_for_each(|chunk| {
            elements.feed(chunk, |e: &[u8]| {
                let _ = serde_json::from_slice::<Task>(e);
                out.push(e.to_vec());
                Ok::<_, ShapeError>(())
            })
        });
        fed.and_then(|()| elements.finish()).map(|()| out)
    };
    let whole = split(body.len().max(1));
    let bytewise = split(1);
    assert_eq!(whole.is_ok(), bytewise.is_ok());
    if let (Ok(a), Ok(b)) = (whole, bytewise) {
        assert_eq!(a, b);
    }
});
