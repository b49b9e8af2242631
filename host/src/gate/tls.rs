//! The client that carries requests to LunaTask: rustls with the web's roots plus
//! LUNATASK_CA_CERT's, a keep-alive pool, the connect timeout; and what its failures mean
//! as wasi-http error codes.

use std::sync::Arc;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use wasmtime_wasi_http::Error as HttpError;

use super::PooledClient;
use crate::settings::Config;

/// How long an idle pooled connection to the API is kept: long enough to serve an agent's
/// bursts of calls, short enough to let servers' own keep-alive limits win rarely.
const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

pub(super) fn pooled_client(config: &Config) -> anyhow::Result<PooledClient> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &config.settings.ca_cert {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("LUNATASK_CA_CERT {}: {e}", path.display()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.map_err(|e| anyhow::anyhow!("LUNATASK_CA_CERT {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("LUNATASK_CA_CERT {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            anyhow::bail!(
                "LUNATASK_CA_CERT {}: no PEM certificates found",
                path.display()
            );
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.settings.connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(https))
}

/// Maps a client failure to the wasi-http code the guest classifies: connect-phase errors
/// mean the request was never delivered; anything later is ambiguous.
pub(super) fn client_error(error: &hyper_util::client::legacy::Error) -> HttpError {
    if !error.is_connect() {
        return HttpError::ConnectionTerminated;
    }
    let mut io_kind = None;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(_) => HttpError::TlsCertificateError,
                _ => HttpError::TlsProtocolError,
            };
        }
        // io::Error's `source` skips the error it wraps; look inside explicitly.
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => {
                io_kind.get_or_insert(io.kind());
                io.get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static))
            }
            None => e.source(),
        };
    }
    match io_kind {
        Some(std::io::ErrorKind::TimedOut) => HttpError::ConnectionTimeout,
        Some(std::io::ErrorKind::ConnectionRefused) => HttpError::ConnectionRefused,
        _ => HttpError::DestinationUnavailable,
    }
}
