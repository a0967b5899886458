//! # passwatch-server
//!
//! The review API of a data folder: `passwatch serve`, and the same router mounted by
//! `passwatch run --http`. Officials review events (with evidence checked against its SHA-256
//! on every read), give verdicts, manage passes and the watchlist, and audit each other; every
//! one of their actions is written to the hash-chained audit log (`passwatch_events::audit`).
//!
//! - [`access`]: users, roles, scopes, API tokens and browser sessions (`access.db`);
//! - [`auth`]: the [`auth::Principal`] of a request (bearer token or session cookie + CSRF);
//! - [`api`]: the routes and the OpenAPI document built from them (`/api/openapi.json`);
//! - [`state`]: what the handlers share (journal pool, audit writer, login limiter);
//! - [`error`]: every error as a status and a JSON body naming what is at fault.
//!
//! The data folder may be written by `passwatch run` or `replay` at the same time: every
//! SQLite file is in WAL mode, so the server's reads never block the pipeline's writes.
//! [`serve`] binds nothing itself: it takes a listener (port 0 in tests), and [`check_listen`]
//! holds the rule that a non-loopback address needs TLS.
#![deny(missing_docs)]

pub mod access;
pub mod api;
pub mod auth;
pub mod error;
pub mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use api::router;
pub use state::{AppState, ServerConfig, StartError};

/// TLS material for the listener.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Why a listen address is refused.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A non-loopback address without TLS.
    #[error(
        "--listen {0}: not a loopback address, and no TLS: passwords, tokens and evidence would \
         cross the network in clear. Give --tls-cert and --tls-key, or --insecure-http to accept \
         that (behind a TLS proxy on the same host, say)"
    )]
    InsecureNonLoopback(SocketAddr),
    /// Only one of the TLS files.
    #[error("--tls-cert and --tls-key go together: give both or neither")]
    HalfTls,
}

/// Checks the listen rule: loopback is always allowed; any other address needs TLS, unless
/// the operator says `insecure_http`.
pub fn check_listen(
    addr: SocketAddr,
    cert: Option<&Path>,
    key: Option<&Path>,
    insecure_http: bool,
) -> Result<Option<TlsFiles>, ListenError> {
    let tls = match (cert, key) {
        (Some(c), Some(k)) => Some(TlsFiles {
            cert: c.to_owned(),
            key: k.to_owned(),
        }),
        (None, None) => None,
        _ => return Err(ListenError::HalfTls),
    };
    if tls.is_none() && !addr.ip().is_loopback() && !insecure_http {
        return Err(ListenError::InsecureNonLoopback(addr));
    }
    Ok(tls)
}

/// Why serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS files could not be read.
    #[error("TLS certificate {} / key {}", cert.display(), key.display())]
    Tls {
        /// The certificate.
        cert: PathBuf,
        /// The key.
        key: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The listener failed.
    #[error("serving HTTP")]
    Io(#[from] std::io::Error),
}

/// Serves `router` on `listener` (TLS when `tls` is given) until `shutdown` completes.
pub async fn serve(
    listener: std::net::TcpListener,
    router: axum::Router,
    tls: Option<TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    listener.set_nonblocking(true)?;
    match tls {
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, service)
                .with_graceful_shutdown(shutdown)
                .await?;
        }
        Some(files) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config =
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                    .await
                    .map_err(|source| ServeError::Tls {
                        cert: files.cert.clone(),
                        key: files.key.clone(),
                        source,
                    })?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                stopper.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
            });
            axum_server::from_tcp_rustls(listener, config)
                .handle(handle)
                .serve(service)
                .await?;
        }
    }
    Ok(())
}

/// The state of a data folder on the system clock.
pub fn open_state(
    config: ServerConfig,
    metrics: Option<Arc<passwatch_pipeline::live::metrics::Metrics>>,
) -> Result<AppState, StartError> {
    AppState::open(config, Arc::new(passwatch_base::time::SystemClock), metrics)
}

/// Applies the configured retention at start and then hourly, as `system`, for as long as the
/// runtime runs (`passwatch serve`; `passwatch run` purges under its own writer lock instead).
pub fn spawn_hourly_purge(state: AppState) {
    let Some(policy) = state.0.config.retention else {
        return;
    };
    if policy.keeps_forever() {
        return;
    }
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            match api::admin::run_purge(&state, &policy, "system", Some("serve".to_owned())).await {
                Ok(report) => tracing::info!(%report, "retention applied"),
                Err(e) => tracing::error!(error = %e.message, "the retention purge failed"),
            }
        }
    });
}
