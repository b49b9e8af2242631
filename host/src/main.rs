//! `lunatask-mcp`: the host binary, and its one composition root. Parses configuration,
//! builds every layer (the journal, the sandbox, the handler and, for a multi-user server,
//! how callers are known) and serves MCP over stdio (the default) or Streamable HTTP. Logs
//! go to stderr; in stdio mode stdout carries only MCP messages.

mod bindings;
mod front;
mod gate;
mod journal;
mod mcp;
mod oauth;
mod sandbox;
mod settings;
mod support;

use std::process::ExitCode;
use std::sync::Arc;

use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;

use crate::front::{http, stdio};
use crate::gate::shared_limits::SharedLimits;
use crate::gate::users::Users;
use crate::mcp::selection::Selection;
use crate::mcp::{Catalog, LunaTaskServer};
use crate::oauth::OAuth;
use crate::sandbox::Sandbox;
use crate::settings::{Command, Config, Secrets};
use crate::support::logging;
use crate::support::metrics::Metrics;
use crate::support::token_checks::{Limits, TokenChecks};

fn main() -> ExitCode {
    let cli = match settings::parse() {
        Ok(cli) => cli,
        Err(e) => {
            logging::say(format_args!("lunatask-mcp: {e}"));
            return ExitCode::from(2);
        }
    };
    // The file's log level applies from the first line, before the secrets are read.
    logging::init(&cli.settings.log);
    let secrets = Secrets {
        api_token: std::env::var("LUNATASK_API_TOKEN").ok(),
        http_auth_token: std::env::var("LUNATASK_MCP_AUTH_TOKEN").ok(),
        metrics_token: std::env::var("LUNATASK_MCP_METRICS_TOKEN").ok(),
    };
    let config = match Config::resolve(cli.settings, secrets) {
        Ok(config) => config,
        Err(e) => {
            logging::say(format_args!("lunatask-mcp: {e}"));
            return ExitCode::from(2);
        }
    };
    // One thread: measured on 2 cores, it answers sooner (no cross-thread wake-ups per
    // request) and serves more calls per second than a work-stealing pool. A busy guest still
    // yields every epoch tick, so it cannot starve other calls.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            logging::say(format_args!(
                "lunatask-mcp: could not start the async runtime: {e}"
            ));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config));
    match result {
        Ok(code) => code,
        Err(e) => {
            logging::say(format_args!("lunatask-mcp: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// How long in-flight calls may take to finish after SIGINT/SIGTERM.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let metrics = Metrics::new();
    // Connected once, at start-up: an unreachable Redis stops the server here.
    let shared = match &config.settings.redis_url {
        Some(url) => Some(Arc::new(
            SharedLimits::connect(
                &url.0,
                config.settings.rate_limit_rpm,
                config.settings.rate_limit_burst,
            )
            .await?,
        )),
        None => None,
    };
    // A damaged or unwritable journal stops the server here, never later with a lost record.
    let journal = Arc::new(journal::Journal::open(&config.settings, shared.as_deref())?);
    tracing::info!(journal = journal.location(), "action journal");
    let runtime = Arc::new(Sandbox::new(
        &config,
        metrics.clone(),
        shared.clone(),
        Arc::clone(&journal),
    )?);
    let catalog = Arc::new(Catalog::load(&runtime).await?);
    tracing::debug!(
        ms = started.elapsed().as_secs_f64() * 1000.0,
        tools = catalog.tools.len(),
        "component ready"
    );
    let pending = Arc::new(crate::mcp::admission::PendingBytes::new(
        config.settings.max_pending_bytes as usize,
    ));
    // A name that is not a tool stops the server here: a typo must not offer every tool.
    let selection =
        Selection::from_settings(&config.settings, &catalog.tools).map_err(anyhow::Error::msg)?;
    let server = LunaTaskServer::new(
        Arc::clone(&runtime),
        catalog,
        Arc::new(selection),
        pending,
        metrics.clone(),
        config.settings.user_max_concurrent_calls as usize,
    );
    if command == Command::Check {
        return check(&server, &config).await;
    }
    // On SIGINT/SIGTERM: refuse new calls, let running ones finish (bounded), then stop
    // the transport so their answers are still delivered.
    let stop = CancellationToken::new();
    tokio::spawn(stop_after_signal(Arc::clone(&runtime), stop.clone()));
    match config.settings.http {
        Some(_) => {
            let identify = match config.settings.multi_user {
                true => Some(identify(&config, &server, shared.as_deref(), &journal).await?),
                false => None,
            };
            http::serve(server, metrics, &config, stop, identify).await?
        }
        None => serve_stdio(server, config.settings.max_message_bytes(), stop).await?,
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// How many tokens one consent page may try.
const CONSENT_TRIES: u32 = 5;

/// How a multi-user server knows each request's caller: its bearer is a LunaTask token,
/// known by its keyed hash and checked with LunaTask (within the token-check limits), or,
/// with OAuth, an access token this server issued.
async fn identify(
    config: &Config,
    server: &LunaTaskServer,
    shared: Option<&SharedLimits>,
    journal: &journal::Journal,
) -> anyhow::Result<http::Identify> {
    let settings = &config.settings;
    let users = match shared {
        // Every replica must hash a token alike: the key is the one they share.
        Some(shared) => Users::with_key(shared.hash_key(Users::random_key()?).await?),
        // One server: the key kept with its journal, so that a user's hash, which names
        // their journal, is the same after a restart.
        None => match journal.user_hash_key(Users::random_key()?)? {
            Some(key) => Users::with_key(key),
            None => Users::new()?,
        },
    };
    let checks = Arc::new(TokenChecks::new(Limits {
        total_per_minute: settings.token_checks_per_minute,
        per_address_per_minute: settings.token_checks_per_address,
        per_request: CONSENT_TRIES,
    }));
    Ok(match settings.oauth {
        true => http::Identify::OAuth(Arc::new(OAuth::new(
            settings,
            users,
            server.clone(),
            shared,
            checks,
        )?)),
        false => http::Identify::Tokens {
            users,
            checks,
            server: server.clone(),
        },
    })
}

async fn stop_after_signal(runtime: Arc<Sandbox>, stop: CancellationToken) {
    wait_for_signal().await;
    tracing::info!("shutting down: finishing calls in flight");
    runtime.close();
    if !runtime.drain(SHUTDOWN_GRACE).await {
        tracing::warn!("some calls were still running after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    // The last answers are written by the transport after the call returns.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.cancel();
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `lunatask-mcp check`: the configuration is valid (we got here) and /ping answers.
async fn check(server: &LunaTaskServer, config: &Config) -> anyhow::Result<ExitCode> {
    let result = server.call("ping", None, None).await;
    let text = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    if result.is_error == Some(true) {
        println!(
            "lunatask-mcp check: FAILED against {}\n{text}",
            config.settings.base_url.url
        );
        Ok(ExitCode::FAILURE)
    } else {
        println!(
            "lunatask-mcp check: OK, {} answered {text}",
            config.settings.base_url.url
        );
        Ok(ExitCode::SUCCESS)
    }
}

async fn serve_stdio(
    server: LunaTaskServer,
    max_message_bytes: usize,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!("serving MCP on stdio");
    // Every line gets an answer: an error for one that is too long or not a request.
    let (stdin, stdout) = stdio::streams();
    let transport = stdio::StdioTransport::new(stdin, stdout, max_message_bytes);
    let service = server.serve(transport).await?;
    let cancel = service.cancellation_token();
    tokio::spawn(async move {
        stop.cancelled().await;
        cancel.cancel();
    });
    service.waiting().await?;
    Ok(())
}
