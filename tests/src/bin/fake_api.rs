//! The fake LunaTask API as a process, for clients written in other languages (the interop
//! tests): prints its base URL on stdout, then serves until killed. The token is the first
//! argument (default: the test token).

use lunatask_mcp_tests::{FakeApi, TOKEN};

#[tokio::main]
async fn main() {
    let token = std::env::args().nth(1).unwrap_or_else(|| TOKEN.to_string());
    let fake = FakeApi::start(&token).await;
    println!("{}", fake.base_url());
    // Serve until the process is killed.
    std::future::pending::<()>().await;
}
