//! Arbitrary argument text for every tool: validation answers with a value or a
//! validation error naming a field, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lunatask_mcp_guest::error::Code;
use lunatask_mcp_guest::tools;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for tool in tools::all() {
        if let Err(error) = tools::parse_arguments(tool.name, text) {
            assert_eq!(error.code, Code::ValidationError);
            assert!(!error.message.is_empty());
        }
    }
});
