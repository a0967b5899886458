//! Who is asking: the [`Principal`] of a request, from `Authorization: Bearer TOKEN` (API
//! clients) or the `pw_session` cookie (the browser), with the CSRF check that cookie requests
//! which change state must pass.
//!
//! - No credentials, or credentials that do not check out (unknown, revoked or expired token,
//!   ended session, disabled user): 401. A revoked, expired or disabled token's use is audited.
//! - A cookie request with a method other than GET/HEAD whose `X-CSRF-Token` header is not the
//!   session's token: 403. The cookie is `SameSite=Strict` as well; the token is the second
//!   line, for browsers or proxies that do not honour it.
//! - Roles and scope are checked by each handler ([`Principal::require`],
//!   [`Principal::allows`]): 403.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use passwatch_events::audit::AuditRecord;

use crate::access::{Permission, TokenCheck, User};
use crate::error::ApiError;
use crate::state::{lock, AppState};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "pw_session";
/// The header a cookie request that changes state must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a request proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// An API token, by id.
    Token(String),
    /// A browser session, by id, with its CSRF token.
    Session {
        /// The session id.
        id: String,
        /// Its CSRF token.
        csrf: String,
    },
}

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// The credential.
    pub via: Via,
}

impl Principal {
    /// 403 unless one of the user's roles grants `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.user.can(p) {
            Ok(())
        } else {
            let roles: Vec<&str> = self.user.roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::forbidden(format!(
                "user {} ({}) may not do this: it needs the {} permission",
                self.user.name,
                roles.join(", "),
                match p {
                    Permission::Cameras => "cameras (viewer)",
                    Permission::Events => "events (reviewer)",
                    Permission::Registry => "registry (registrar)",
                    Permission::Audit => "audit (auditor)",
                    Permission::Admin => "admin",
                }
            )))
        }
    }

    /// Whether an event of `zone` seen by `camera` is within the user's scope.
    pub fn allows(&self, zone: &str, camera: &str) -> bool {
        self.user
            .scope
            .as_ref()
            .is_none_or(|s| s.allows(zone, camera))
    }

    /// The scope as the journal's listing takes it.
    pub fn scope(&self) -> Option<(Vec<String>, Vec<String>)> {
        self.user
            .scope
            .as_ref()
            .map(|s| (s.zones.clone(), s.cameras.clone()))
    }

    /// The credential as the audit log names it.
    pub fn via_text(&self) -> String {
        match &self.via {
            Via::Token(id) => format!("token:{id}"),
            Via::Session { id, .. } => format!("session:{id}"),
        }
    }

    /// An audit record of `action` on `target` by this caller.
    pub fn record(&self, action: &str, target: Option<&str>) -> AuditRecord {
        let mut r = AuditRecord::new(&self.user.name, action, target);
        r.via = Some(self.via_text());
        r
    }
}

fn cookie_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Constant-time equality of two strings (for the CSRF token).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| {
                v.to_str()
                    .ok()
                    .and_then(|t| t.strip_prefix("Bearer "))
                    .map(|t| t.trim().to_owned())
                    .ok_or_else(|| {
                        ApiError::unauthenticated(
                            "Authorization: expected `Bearer TOKEN` (a token from `passwatch \
                             tokens create`)",
                        )
                    })
            })
            .transpose()?;
        let now = state.now();
        if let Some(token) = bearer {
            let st = state.clone();
            let check =
                tokio::task::spawn_blocking(move || lock(&st.0.access).check_token(&token, now))
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?
                    .map_err(|e| ApiError::internal(e.to_string()))?;
            let refused = |id: &str, why: &str| {
                let mut r = AuditRecord::new("-", "auth.refused", Some(&format!("token:{id}")));
                r.outcome = "401".to_owned();
                r.detail = serde_json::json!({ "why": why, "route": parts.uri.path() });
                r
            };
            return match check {
                TokenCheck::Valid(user, id) => Ok(Principal {
                    user,
                    via: Via::Token(id),
                }),
                TokenCheck::Unknown => Err(ApiError::unauthenticated(
                    "the bearer token is not one this server issued",
                )),
                TokenCheck::Revoked(id) => {
                    let _ = state.0.audit.record(refused(&id, "revoked")).await;
                    Err(ApiError::unauthenticated(format!("token {id} was revoked")))
                }
                TokenCheck::Expired(id) => {
                    let _ = state.0.audit.record(refused(&id, "expired")).await;
                    Err(ApiError::unauthenticated(format!("token {id} has expired")))
                }
                TokenCheck::UserDisabled(id) => {
                    let _ = state.0.audit.record(refused(&id, "user disabled")).await;
                    Err(ApiError::unauthenticated(format!(
                        "token {id} belongs to a disabled user"
                    )))
                }
            };
        }
        let Some(cookie) = cookie_value(parts, SESSION_COOKIE).map(str::to_owned) else {
            return Err(ApiError::unauthenticated(
                "no credentials: send `Authorization: Bearer TOKEN`, or log in (POST /api/login)",
            ));
        };
        let st = state.clone();
        let session = tokio::task::spawn_blocking(move || lock(&st.0.access).session(&cookie, now))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::internal(e.to_string()))?
            .ok_or_else(|| ApiError::unauthenticated("the session has ended: log in again"))?;
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            let given = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same(given, &session.csrf) {
                return Err(ApiError::forbidden(format!(
                    "{} {}: a request with the session cookie that changes state must carry \
                     the session's {CSRF_HEADER} header",
                    parts.method,
                    parts.uri.path()
                )));
            }
        }
        Ok(Principal {
            user: session.user,
            via: Via::Session {
                id: session.id,
                csrf: session.csrf,
            },
        })
    }
}
