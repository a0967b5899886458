//! The operator's HTTP surface (axum, on the control thread's tokio runtime):
//!
//! | path | what |
//! |---|---|
//! | `/healthz` | `200 ok` while the process runs (liveness; per-camera health is in the others) |
//! | `/metrics` | Prometheus text format: per camera state, frames in / analysed / dropped, reconnects, last frame age; per stage latency histograms; events by kind; registry version |
//! | `/api/cameras` | JSON: every camera's state, counters, last error, next retry |
//!
//! Read-only, no personal data (no plates, no faces, no event contents): it can face an
//! operations network. Events and evidence are not served here.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use passwatch_pipeline::live::metrics::Metrics;
use std::sync::Arc;

/// The routes, over the run's metrics.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(
                |axum::extract::State(m): axum::extract::State<Arc<Metrics>>| async move {
                    (
                        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                        m.render(),
                    )
                        .into_response()
                },
            ),
        )
        .route(
            "/api/cameras",
            get(
                |axum::extract::State(m): axum::extract::State<Arc<Metrics>>| async move {
                    ([(CONTENT_TYPE, "application/json")], m.cameras_json()).into_response()
                },
            ),
        )
        .with_state(metrics)
}

/// Serves the routes on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics))
        .with_graceful_shutdown(shutdown)
        .await
}
