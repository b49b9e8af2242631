//! The fake LunaTask API as a process, for clients written in other languages (the interop
//! tests) and for profiling: prints its base URL on stdout, then serves until killed. The
//! token is the first argument (default: the test token). With `--tls CA_PEM` as the next
//! two arguments it serves https for `localhost` and writes its CA certificate to CA_PEM.

use lunatask_mcp_tests::{FakeApi, TOKEN};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let token = args.first().cloned().unwrap_or_else(|| TOKEN.to_string());
    let fake = match args.get(1..3) {
        Some([flag, ca]) if flag == "--tls" => {
            let fake = FakeApi::start_tls(&token).await;
            std::fs::write(ca, fake.ca_pem.as_deref().unwrap_or_default())
                .expect("write the CA certificate");
            fake
        }
        _ => FakeApi::start(&token).await,
    };
    println!("{}", fake.base_url());
    // Serve until the process is killed.
    std::future::pending::<()>().await;
}
