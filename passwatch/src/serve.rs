//! `passwatch serve --data DIR [--listen 127.0.0.1:8080] [--tls-cert F --tls-key F]`: the review
//! API over a data folder (`passwatch_server`), until SIGINT/SIGTERM.
//!
//! Prints `listening on http://ADDRESS` (or `https://`) on stdout once bound; with
//! `--listen 127.0.0.1:0`, the port the system chose. A non-loopback address needs TLS unless
//! `--insecure-http` is given.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use passwatch_server::{check_listen, open_state, ServerConfig};

/// `passwatch serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The data folder: events.jsonl, journal.db, evidence/ (as `run --out` / `replay --out`
    /// write it), and access.db and audit.db beside them.
    #[arg(long)]
    pub data: PathBuf,
    /// Address to listen on; port 0 picks one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// PEM certificate chain (with --tls-key): serve HTTPS.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (with --tls-cert).
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Allow a non-loopback address without TLS (behind a TLS-terminating proxy).
    #[arg(long)]
    pub insecure_http: bool,
    /// The registry database (default DATA/registry.db).
    #[arg(long, env = "PASSWATCH_REGISTRY")]
    pub registry: Option<PathBuf>,
    /// The site file: its `[retention]` is applied hourly and by POST /api/purge.
    #[arg(long)]
    pub site: Option<PathBuf>,
}

/// Serves until SIGINT/SIGTERM.
pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let tls = check_listen(
        args.listen,
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        args.insecure_http,
    )?;
    let mut config = ServerConfig::new(&args.data);
    if let Some(r) = &args.registry {
        config.registry = r.clone();
    }
    config.tls = tls.is_some();
    if let Some(site) = &args.site {
        let site = passwatch_registry::site::Site::load(site)?;
        config.retention = Some(passwatch_events::retention::RetentionPolicy::from(
            &site.retention,
        ));
    }
    let state =
        open_state(config, None).with_context(|| format!("--data {}", args.data.display()))?;
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("--listen {}: cannot listen", args.listen))?;
    let address = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("serve")
        .build()
        .context("starting the async runtime")?;
    {
        use std::io::Write;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {scheme}://{address}");
        let _ = out.flush();
    }
    tracing::info!(%address, data = %args.data.display(), "passwatch serve started");
    runtime.block_on(async move {
        let shutdown = async {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut t), Ok(mut i)) => {
                    tokio::select! {
                        _ = t.recv() => {},
                        _ = i.recv() => {},
                    }
                }
                _ => std::future::pending::<()>().await,
            }
            tracing::info!("stopping: finishing the requests in flight");
        };
        passwatch_server::spawn_hourly_purge(state.clone());
        passwatch_server::serve(listener, passwatch_server::router(state), tls, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}
