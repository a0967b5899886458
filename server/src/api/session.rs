//! Logging in and out, the caller's own session, and the operator's read-only views (cameras,
//! metrics).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passwatch_events::audit::AuditRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{Permission, Scope, SESSION_MAX};
use crate::api::{audited, blocking, Errors};
use crate::auth::{Principal, Via, SESSION_COOKIE};
use crate::error::{ApiError, ErrorBody, J};
use crate::state::{lock, AppState};

/// A login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    /// The user name.
    pub user: String,
    /// The user's roles.
    pub roles: Vec<String>,
    /// The zones and cameras the user is limited to; absent for everything.
    #[schema(value_type = Option<Object>)]
    pub scope: Option<Scope>,
    /// The token to echo in `X-CSRF-Token` on state-changing requests (sessions only).
    pub csrf_token: Option<String>,
    /// When the session ends at the latest (sessions only).
    pub expires_at: Option<String>,
    /// `session` or `token`.
    pub via: String,
}

fn info(principal: &Principal, expires_at: Option<String>) -> SessionInfo {
    SessionInfo {
        user: principal.user.name.clone(),
        roles: principal
            .user
            .roles
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        scope: principal.user.scope.clone(),
        csrf_token: match &principal.via {
            Via::Session { csrf, .. } => Some(csrf.clone()),
            Via::Token(_) => None,
        },
        expires_at,
        via: match principal.via {
            Via::Session { .. } => "session".to_owned(),
            Via::Token(_) => "token".to_owned(),
        },
    }
}

fn session_cookie(value: &str, max_age: i64, secure: bool) -> Result<HeaderValue, ApiError> {
    let mut cookie =
        format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    if secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.to_string()))
}

/// Logs in with a password; sets the session cookie (HttpOnly, SameSite=Strict, Secure under
/// TLS). Five failures for a user or an address within 15 minutes get 429 until the oldest
/// leaves the window.
#[utoipa::path(post, path = "/api/login", tag = "session", request_body = LoginRequest,
    responses((status = 200, description = "Logged in", body = SessionInfo),
              (status = 429, description = "Too many failed logins", body = ErrorBody),
              Errors))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    J(req): J<LoginRequest>,
) -> Result<Response, ApiError> {
    let ip = Some(peer.ip());
    let name: String = req.user.chars().take(64).collect();
    if let Some(wait) = state.0.limiter.blocked(&name, ip) {
        let mut r = AuditRecord::new(&name, "login.limited", None);
        r.outcome = "429".to_owned();
        r.detail = serde_json::json!({ "address": peer.ip().to_string() });
        audited(&state, r).await?;
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many failed logins for {name:?} or from this address: wait {wait} s"),
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let st = state.clone();
    let (user_name, password, now) = (name.clone(), req.password, state.now());
    let started = blocking(move || {
        let mut access = lock(&st.0.access);
        match access.check_password(&user_name, &password)? {
            Some(user) => access.create_session(&user, now).map(Some),
            None => Ok(None),
        }
    })
    .await?
    .map_err(|e: crate::access::AccessError| ApiError::internal(e.to_string()))?;
    let Some((session, secret)) = started else {
        state.0.limiter.failed(&name, ip);
        let mut r = AuditRecord::new(&name, "login.failed", None);
        r.outcome = "401".to_owned();
        r.detail = serde_json::json!({ "address": peer.ip().to_string() });
        audited(&state, r).await?;
        return Err(ApiError::unauthenticated(
            "wrong user name or password, or the user is disabled",
        ));
    };
    state.0.limiter.succeeded(&name);
    let principal = Principal {
        user: session.user.clone(),
        via: Via::Session {
            id: session.id.clone(),
            csrf: session.csrf.clone(),
        },
    };
    let mut r = principal.record("login", None);
    r.detail = serde_json::json!({ "address": peer.ip().to_string() });
    audited(&state, r).await?;
    let cookie = session_cookie(&secret, SESSION_MAX.num_seconds(), state.0.config.tls)?;
    let body = info(
        &principal,
        Some(passwatch_events::review::time_key(session.expires_at)),
    );
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// Ends the caller's session (a token caller: nothing to end).
#[utoipa::path(post, path = "/api/logout", tag = "session",
    responses((status = 204, description = "Logged out"), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    if let Via::Session { id, .. } = &principal.via {
        let st = state.clone();
        let id = id.clone();
        blocking(move || lock(&st.0.access).end_session(&id))
            .await?
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    audited(&state, principal.record("logout", None)).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie("", 0, state.0.config.tls)?,
    );
    Ok(response)
}

/// Who the caller is, with the CSRF token of a session.
#[utoipa::path(get, path = "/api/session", tag = "session",
    responses((status = 200, description = "The caller", body = SessionInfo), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn current(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<SessionInfo>, ApiError> {
    audited(&state, principal.record("session.read", None)).await?;
    Ok(Json(info(&principal, None)))
}

/// Every camera's state and counters (in `passwatch run`; empty in a `serve` alone).
#[utoipa::path(get, path = "/api/cameras", tag = "session",
    responses((status = 200, description = "The cameras", body = Vec<Object>), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn cameras(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    principal.require(Permission::Cameras)?;
    audited(&state, principal.record("cameras.read", None)).await?;
    let json = match &state.0.metrics {
        Some(m) => m.cameras_json(),
        None => "[]".to_owned(),
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// Prometheus text: the live metrics (in `passwatch run`), dismissals per camera and reason,
/// and open events per camera.
#[utoipa::path(get, path = "/metrics", tag = "session",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn metrics(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    principal.require(Permission::Cameras)?;
    let st = state.clone();
    let (dismissals, open) = blocking(move || {
        st.0.journal.with(|j| {
            Ok::<_, passwatch_events::EventError>((j.dismissals()?, j.open_by_camera(None)?))
        })
    })
    .await?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    audited(&state, principal.record("metrics.read", None)).await?;
    let mut text = state
        .0
        .metrics
        .as_ref()
        .map(|m| m.render())
        .unwrap_or_default();
    text.push_str(
        "# HELP passwatch_dismissals_total Events dismissed by reviewers, by camera and reason \
         (a camera with many misread dismissals is miscalibrated).\n\
         # TYPE passwatch_dismissals_total gauge\n",
    );
    for (camera, reason, n) in dismissals {
        text.push_str(&format!(
            "passwatch_dismissals_total{{camera=\"{}\",reason=\"{}\"}} {n}\n",
            escape_label(&camera),
            escape_label(&reason)
        ));
    }
    text.push_str(
        "# HELP passwatch_events_open Events waiting for review, by camera.\n\
         # TYPE passwatch_events_open gauge\n",
    );
    for (camera, n) in open {
        text.push_str(&format!(
            "passwatch_events_open{{camera=\"{}\"}} {n}\n",
            escape_label(&camera)
        ));
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
