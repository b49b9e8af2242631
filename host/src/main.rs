//! `lunatask-mcp`: the host binary. Parses configuration, starts the sandbox and serves MCP
//! over stdio (the default) or Streamable HTTP. Logs go to stderr; in stdio mode stdout
//! carries only MCP messages.

mod bindings;
mod config;
mod egress;
mod mcp;
mod metrics;
mod ratelimit;
mod runtime;
mod secret;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use rmcp::ServiceExt;
use tracing_subscriber::EnvFilter;

use crate::config::{Cli, Command, Config};
use crate::mcp::{Catalog, LunaTaskServer};
use crate::metrics::Metrics;
use crate::runtime::Runtime;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log.as_deref());
    let config = match Config::resolve(&cli, std::env::var("LUNATASK_API_TOKEN").ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("lunatask-mcp: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lunatask-mcp: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lunatask-mcp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A bare level applies to this server's own logs (host and guest); other crates log
/// warnings only. rmcp is never let below info: at debug it logs whole messages, and tool
/// arguments carry the user's end-to-end encrypted text.
fn log_filter(raw: &str) -> String {
    let raw = raw.trim();
    if ["error", "warn", "info", "debug", "trace"].contains(&raw.to_ascii_lowercase().as_str()) {
        format!("warn,lunatask_mcp={raw},guest={raw}")
    } else if raw.contains("rmcp") {
        raw.to_string()
    } else {
        format!("{raw},rmcp=info")
    }
}

fn init_logging(filter: Option<&str>) {
    let filter = EnvFilter::try_new(log_filter(filter.unwrap_or("info"))).unwrap_or_else(|e| {
        eprintln!("lunatask-mcp: LUNATASK_LOG / --log is not a valid filter ({e}); using info");
        EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let runtime = Arc::new(Runtime::new(&config, Metrics::new())?);
    let catalog = Arc::new(Catalog::load(&runtime).await?);
    tracing::debug!(
        ms = started.elapsed().as_secs_f64() * 1000.0,
        tools = catalog.tools.len(),
        "component ready"
    );
    let server = LunaTaskServer::new(runtime, catalog);
    match command {
        Command::Check => check(&server, &config).await,
        Command::Serve => {
            serve_stdio(server).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `lunatask-mcp check`: the configuration is valid (we got here) and /ping answers.
async fn check(server: &LunaTaskServer, config: &Config) -> anyhow::Result<ExitCode> {
    let result = server.call("ping", None).await;
    let text = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    if result.is_error == Some(true) {
        println!("lunatask-mcp check: FAILED against {}\n{text}", config.base_url.url);
        Ok(ExitCode::FAILURE)
    } else {
        println!("lunatask-mcp check: OK, {} answered {text}", config.base_url.url);
        Ok(ExitCode::SUCCESS)
    }
}

async fn serve_stdio(server: LunaTaskServer) -> anyhow::Result<()> {
    tracing::info!("serving MCP on stdio");
    let service = server.serve(rmcp::transport::stdio()).await?;
    service.waiting().await?;
    Ok(())
}
