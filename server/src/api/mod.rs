//! The routes, one module per resource, and what they share.
//!
//! | route | who |
//! |---|---|
//! | `GET /healthz`, `GET /api/openapi.json`, `POST /api/login` | anyone (no data) |
//! | `GET /api/session`, `POST /api/logout` | any user |
//! | `GET /api/cameras`, `GET /metrics` | viewer |
//! | `/api/events…` (list, counts, detail, evidence, verdicts, export) | reviewer, within scope |
//! | `/api/passes…`, `/api/watchlist…`, `/api/registry/versions` | registrar |
//! | `GET /api/audit`, `GET /api/audit/verify` | auditor |
//! | `/api/users…`, `/api/tokens…`, `POST /api/purge` | admin |
//!
//! `admin` holds every permission. Every request with credentials is written to the audit log
//! before its answer leaves (reads of events and evidence included); a request the audit log
//! cannot record is refused (503).

pub mod admin;
pub mod events;
pub mod registry;
pub mod session;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use passwatch_base::time::WallTime;
use passwatch_events::audit::AuditRecord;
use utoipa::OpenApi;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Largest request body, except imports and enrolment photos.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Largest pass file a registrar may upload.
pub const IMPORT_LIMIT: usize = 16 * 1024 * 1024;

/// The error answers every authenticated route may give.
#[derive(utoipa::IntoResponses)]
pub enum Errors {
    /// A malformed parameter or body.
    #[response(status = 400, description = "Bad request")]
    BadRequest(#[to_schema] ErrorBody),
    /// No or bad credentials.
    #[response(status = 401, description = "No or bad credentials")]
    Unauthenticated(ErrorBody),
    /// The role or scope does not allow it, or a cookie request lacks its CSRF token.
    #[response(status = 403, description = "Forbidden")]
    Forbidden(ErrorBody),
    /// No such thing.
    #[response(status = 404, description = "Not found")]
    NotFound(ErrorBody),
    /// A stale version, a four-eyes conflict, or tampered evidence.
    #[response(status = 409, description = "Conflict")]
    Conflict(ErrorBody),
    /// The body is too large.
    #[response(status = 413, description = "Body too large")]
    TooLarge(ErrorBody),
    /// The body is not of a type this route takes.
    #[response(status = 415, description = "Unsupported media type")]
    Unsupported(ErrorBody),
    /// Well-formed but invalid (fields named).
    #[response(status = 422, description = "Invalid")]
    Invalid(ErrorBody),
    /// The audit log cannot record the request.
    #[response(status = 503, description = "Unavailable")]
    Unavailable(ErrorBody),
}

/// Runs blocking work (SQLite, files, hashing) off the async threads.
pub async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a worker failed: {e}")))
}

/// Writes `record` to the audit log and waits until it is durable; 503 if it cannot be.
pub async fn audited(state: &AppState, record: AuditRecord) -> Result<u64, ApiError> {
    state
        .0
        .audit
        .record(record)
        .await
        .map_err(|e| ApiError::audit_unavailable(&e))
}

/// An optional RFC 3339 query parameter.
pub fn parse_time_param(name: &str, value: Option<&str>) -> Result<Option<WallTime>, ApiError> {
    value
        .map(|v| {
            passwatch_base::time::parse_time(v)
                .map_err(|e| ApiError::bad_request(format!("{name} {v:?}: {e}")))
        })
        .transpose()
}

async fn healthz() -> &'static str {
    "ok\n"
}

#[derive(OpenApi)]
#[openapi(
    info(title = "passwatch review API", description = "Events, evidence, verdicts, registries and the audit log of a passwatch data folder."),
    paths(
        session::login, session::logout, session::current,
        session::cameras, session::metrics,
        events::list, events::open_by_camera, events::detail, events::evidence, events::verdict,
        events::export,
        registry::passes, registry::import, registry::revoke, registry::reinstate,
        registry::versions, registry::subjects, registry::remove_subject, registry::enrol,
        admin::audit, admin::verify, admin::users, admin::add_user, admin::disable_user,
        admin::tokens, admin::create_token, admin::revoke_token, admin::purge,
    ),
    modifiers(&Security),
    tags((name = "session"), (name = "events"), (name = "registry"), (name = "admin"))
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// The OpenAPI document of the API, built from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

async fn openapi_json() -> Response {
    match openapi().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => ApiError::internal(format!("building the OpenAPI document: {e}")).into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Every route over `state`.
pub fn router(state: AppState) -> Router {
    let import = Router::new()
        .route("/api/passes/import", post(registry::import))
        .layer(DefaultBodyLimit::max(IMPORT_LIMIT));
    let enrol = Router::new()
        .route("/api/watchlist/{subject}/enrol", post(registry::enrol))
        .layer(DefaultBodyLimit::max(registry::ENROL_LIMIT));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi_json))
        .route("/api/login", post(session::login))
        .route("/api/logout", post(session::logout))
        .route("/api/session", get(session::current))
        .route("/api/cameras", get(session::cameras))
        .route("/metrics", get(session::metrics))
        .route("/api/events", get(events::list))
        .route("/api/events/open-by-camera", get(events::open_by_camera))
        .route("/api/events/{id}", get(events::detail))
        .route("/api/events/{id}/evidence/{which}", get(events::evidence))
        .route("/api/events/{id}/verdicts", post(events::verdict))
        .route("/api/export", post(events::export))
        .route("/api/passes", get(registry::passes))
        .route("/api/passes/{code}/revoke", post(registry::revoke))
        .route("/api/passes/{code}/reinstate", post(registry::reinstate))
        .route("/api/registry/versions", get(registry::versions))
        .route("/api/watchlist", get(registry::subjects))
        .route("/api/watchlist/{subject}", delete(registry::remove_subject))
        .route("/api/audit", get(admin::audit))
        .route("/api/audit/verify", get(admin::verify))
        .route("/api/users", get(admin::users).post(admin::add_user))
        .route("/api/users/{name}/disable", post(admin::disable_user))
        .route("/api/tokens", get(admin::tokens).post(admin::create_token))
        .route("/api/tokens/{id}/revoke", post(admin::revoke_token))
        .route("/api/purge", post(admin::purge))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .merge(import)
        .merge(enrol)
        .fallback(not_found)
        .with_state(state)
}
