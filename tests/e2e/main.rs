//! End-to-end tests: the real `lunatask-mcp` binary, spoken to over MCP by rmcp's client,
//! against the fake LunaTask API. Each test checks what the fake received and what the
//! client got back.

mod abuse;
mod answers;
mod batch;
mod big_accounts;
mod controls;
mod errors;
mod faults;
mod foundation;
mod hosted_limits;
mod http_edges;
mod journal;
mod load;
mod multi_user;
mod notes_journal_habits;
mod oauth;
mod people;
mod portable;
mod prompts;
mod random_stdin;
mod resources;
mod sandbox;
mod serving;
mod tasks;
mod undo_races;
mod upstream;

use std::path::PathBuf;

use lunatask_mcp_tests::{FakeApi, Host, HostBuilder, HttpHost, TOKEN};

/// A builder for the binary under test, sharing one component cache per test run.
pub fn builder() -> HostBuilder {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    HostBuilder::new(
        std::path::Path::new(env!("CARGO_BIN_EXE_lunatask-mcp")),
        &cache,
    )
}

/// A fake API and a builder for a server against it, with these settings.
pub async fn prepare(env: &[(&str, &str)]) -> (FakeApi, HostBuilder) {
    let fake = FakeApi::start(TOKEN).await;
    let builder = env
        .iter()
        .fold(builder().against(&fake), |b, (key, value)| {
            b.env(key, value)
        });
    (fake, builder)
}

/// A fake API and a server connected to it over stdio, with these settings.
pub async fn serve_with(env: &[(&str, &str)]) -> (FakeApi, Host) {
    let (fake, builder) = prepare(env).await;
    (fake, builder.start().await)
}

/// A fake API and a server connected to it serving Streamable HTTP, with these settings.
pub async fn serve_http_with(env: &[(&str, &str)]) -> (FakeApi, HttpHost) {
    let (fake, builder) = prepare(env).await;
    (fake, builder.start_http().await)
}

/// A fake API and a server connected to it.
pub async fn setup() -> (FakeApi, Host) {
    let fake = FakeApi::start(TOKEN).await;
    let host = builder().against(&fake).start().await;
    (fake, host)
}

/// Two multi-user replicas in front of `fake`, sharing `redis`.
pub async fn redis_replicas(
    fake: &FakeApi,
    redis: &lunatask_mcp_tests::Redis,
) -> (HttpHost, HttpHost) {
    let replica = || {
        builder()
            .multi_user(fake)
            .env("LUNATASK_REDIS_URL", &redis.url)
            .start_http()
    };
    (replica().await, replica().await)
}
