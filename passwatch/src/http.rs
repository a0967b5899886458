//! The HTTP surface of `passwatch run` (axum, on the control thread's tokio runtime): the review
//! API of `passwatch serve` (`passwatch_server::router`) over the run's own data folder
//! (`--out`) and registry, with the live cameras' metrics mounted, so that a single box needs
//! one process.
//!
//! | path | what | who |
//! |---|---|---|
//! | `/healthz` | `200 ok` while the process runs (liveness) | anyone |
//! | `/metrics` | Prometheus text: per camera state, frames in / analysed / dropped, reconnects, last frame age; per stage latency histograms; events by kind; registry version; dismissals per camera and reason | viewer |
//! | `/api/cameras` | JSON: every camera's state, counters, last error, next retry | viewer |
//! | `/api/…` | events, evidence, verdicts, registries, audit (design/review-api.md) | by role |
//!
//! Everything but `/healthz`, `/api/login` and `/api/openapi.json` needs credentials: a token
//! from `passwatch tokens create --data OUT`, or a session.

use std::net::SocketAddr;
use std::sync::Arc;

use passwatch_pipeline::live::metrics::Metrics;
use passwatch_server::{open_state, AppState, ServerConfig, StartError};

/// The review API's state over the run's data folder, with its metrics.
pub fn state(
    out: &std::path::Path,
    registry: &std::path::Path,
    retention: &passwatch_registry::site::Retention,
    metrics: Arc<Metrics>,
) -> Result<AppState, StartError> {
    let mut config = ServerConfig::new(out);
    config.registry = registry.to_owned();
    // POST /api/purge removes journal rows and evidence at once; events.jsonl is compacted by
    // the run's own hourly purge, which holds the writer lock.
    config.retention = Some(passwatch_events::retention::RetentionPolicy::from(
        retention,
    ));
    open_state(config, Some(metrics))
}

/// Serves the routes on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        passwatch_server::router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
