//! The audit log (auditor role, read only) and users and tokens (admin role).

use axum::extract::State;
use axum::Json;
use passwatch_events::audit::{AuditEntry, AuditQuery, Verification};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::{AccessError, Permission, Role, Scope, TokenInfo, User};
use crate::api::{audited, blocking, parse_time_param, Errors};
use crate::auth::Principal;
use crate::error::{json_body, ApiError, P, Q};
use crate::state::{lock, AppState};

/// Audit log filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action, or every action under a prefix ending in `.` (`pass.`).
    pub action: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<String>,
    /// Before (RFC 3339).
    pub until: Option<String>,
    /// Entries after this sequence number (the `seq` of the last entry of the previous page).
    pub after: Option<u64>,
    /// At most this many (1 to 1000, default 100).
    pub limit: Option<u32>,
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryDoc {
    /// Position in the chain.
    pub seq: u64,
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// With which credential.
    pub via: Option<String>,
    /// How it ended.
    pub outcome: String,
    /// Particulars (JSON text).
    pub detail: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl From<AuditEntry> for AuditEntryDoc {
    fn from(e: AuditEntry) -> Self {
        AuditEntryDoc {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            via: e.via,
            outcome: e.outcome,
            detail: e.detail,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// The audit log, oldest first.
#[utoipa::path(get, path = "/api/audit", tag = "admin", params(AuditParams),
    responses((status = 200, description = "Entries", body = Vec<AuditEntryDoc>), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    principal: Principal,
    Q(params): Q<AuditParams>,
) -> Result<Json<Vec<AuditEntryDoc>>, ApiError> {
    principal.require(Permission::Audit)?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit {limit}: 1 to 1000")));
    }
    let q = AuditQuery {
        actor: params.actor.clone(),
        action: params.action.clone(),
        since: parse_time_param("since", params.since.as_deref())?,
        until: parse_time_param("until", params.until.as_deref())?,
        after: params.after,
        limit: limit as usize,
    };
    let st = state.clone();
    let entries = blocking(move || lock(&st.0.audit_reader).entries(&q))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut record = principal.record("audit.read", None);
    record.detail = serde_json::json!({
        "actor": params.actor, "action": params.action, "returned": entries.len(),
    });
    audited(&state, record).await?;
    Ok(Json(entries.into_iter().map(AuditEntryDoc::from).collect()))
}

/// The hash-chain check.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationDoc {
    /// Entries checked.
    pub entries: u64,
    /// Whether the chain is whole.
    pub ok: bool,
    /// The last entry's hash, when whole.
    pub head: Option<String>,
    /// The first broken entry.
    pub broken_seq: Option<u64>,
    /// Why it is broken.
    pub why: Option<String>,
}

fn verification_doc(v: Verification) -> VerificationDoc {
    VerificationDoc {
        entries: v.entries,
        ok: v.broken.is_none(),
        head: v.head,
        broken_seq: v.broken.as_ref().map(|b| b.seq),
        why: v.broken.map(|b| b.why),
    }
}

/// Walks the audit log's hash chain and names the first broken entry.
#[utoipa::path(get, path = "/api/audit/verify", tag = "admin",
    responses((status = 200, description = "The result", body = VerificationDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<VerificationDoc>, ApiError> {
    principal.require(Permission::Audit)?;
    let st = state.clone();
    let v = blocking(move || lock(&st.0.audit_reader).verify())
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut record = principal.record("audit.verify", None);
    record.detail = serde_json::json!({ "entries": v.entries, "ok": v.broken.is_none() });
    audited(&state, record).await?;
    Ok(Json(verification_doc(v)))
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDoc {
    /// Name.
    pub name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Scope zones (empty: no zone limit).
    pub scope_zones: Vec<String>,
    /// Scope cameras.
    pub scope_cameras: Vec<String>,
    /// Disabled.
    pub disabled: bool,
    /// Added at.
    pub created_at: String,
}

fn user_doc(u: User) -> UserDoc {
    let scope = u.scope.unwrap_or_default();
    UserDoc {
        name: u.name,
        roles: u.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        scope_zones: scope.zones,
        scope_cameras: scope.cameras,
        disabled: u.disabled,
        created_at: u.created_at,
    }
}

fn access_error(e: AccessError) -> ApiError {
    match e {
        AccessError::UnknownUser(_) | AccessError::UnknownToken(_) => {
            ApiError::not_found(e.to_string())
        }
        AccessError::UserExists(_) => ApiError::conflict(e.to_string()),
        AccessError::BadName(_) | AccessError::BadPassword(_) | AccessError::Invalid(_) => {
            ApiError::invalid(e.to_string())
        }
        e => ApiError::internal(e.to_string()),
    }
}

/// Every user.
#[utoipa::path(get, path = "/api/users", tag = "admin",
    responses((status = 200, description = "Users", body = Vec<UserDoc>), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn users(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<UserDoc>>, ApiError> {
    principal.require(Permission::Admin)?;
    let st = state.clone();
    let users = blocking(move || lock(&st.0.access).users())
        .await?
        .map_err(access_error)?;
    audited(&state, principal.record("users.list", None)).await?;
    Ok(Json(users.into_iter().map(user_doc).collect()))
}

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Name: 1 to 64 of a-z, 0-9, '.', '_', '-'.
    pub name: String,
    /// Roles: viewer, reviewer, registrar, auditor, admin.
    pub roles: Vec<String>,
    /// The password (at least 10 characters).
    pub password: String,
    /// Limit to these zones.
    #[serde(default)]
    pub scope_zones: Vec<String>,
    /// Limit to these cameras.
    #[serde(default)]
    pub scope_cameras: Vec<String>,
}

/// Adds a user.
#[utoipa::path(post, path = "/api/users", tag = "admin", request_body = NewUser,
    responses((status = 200, description = "The user", body = UserDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn add_user(
    State(state): State<AppState>,
    principal: Principal,
    body: axum::body::Bytes,
) -> Result<Json<UserDoc>, ApiError> {
    principal.require(Permission::Admin)?;
    let req: NewUser = json_body(&body)?;
    let roles = req
        .roles
        .iter()
        .map(|r| Role::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::invalid(format!("roles: {e}")))?;
    let scope = (!req.scope_zones.is_empty() || !req.scope_cameras.is_empty()).then(|| Scope {
        zones: req.scope_zones.clone(),
        cameras: req.scope_cameras.clone(),
    });
    let st = state.clone();
    let now = state.now();
    let name = req.name.clone();
    let result = blocking(move || {
        lock(&st.0.access).add_user(&req.name, &roles, scope.as_ref(), &req.password, now)
    })
    .await?
    .map_err(access_error);
    let mut record = principal.record("user.add", Some(&name));
    match &result {
        Ok(u) => {
            record.detail = serde_json::json!({
                "roles": u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "scoped": u.scope.is_some(),
            })
        }
        Err(e) => record.outcome = e.status.as_u16().to_string(),
    }
    audited(&state, record).await?;
    Ok(Json(user_doc(result?)))
}

/// Disables a user: their sessions end and their tokens stop working.
#[utoipa::path(post, path = "/api/users/{name}/disable", tag = "admin",
    params(("name" = String, Path, description = "The user")),
    responses((status = 200, description = "The user", body = UserDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn disable_user(
    State(state): State<AppState>,
    principal: Principal,
    P(name): P<String>,
) -> Result<Json<UserDoc>, ApiError> {
    principal.require(Permission::Admin)?;
    if name == principal.user.name {
        return Err(ApiError::conflict(format!(
            "user {name} cannot disable themselves (another admin, or `passwatch users disable` \
             on the box, can)"
        )));
    }
    let st = state.clone();
    let now = state.now();
    let n = name.clone();
    let result = blocking(move || {
        let mut access = lock(&st.0.access);
        let admins = access
            .users()?
            .into_iter()
            .filter(|u| !u.disabled && u.roles.contains(&Role::Admin))
            .count();
        let target_is_admin = access
            .user(&n)?
            .is_some_and(|u| !u.disabled && u.roles.contains(&Role::Admin));
        if target_is_admin && admins <= 1 {
            return Err(AccessError::Invalid(format!(
                "user {n} is the last enabled admin: disabling them would lock every admin out"
            )));
        }
        access.set_disabled(&n, true, now)?;
        access.user(&n)?.ok_or(AccessError::UnknownUser(n))
    })
    .await?
    .map_err(access_error);
    let mut record = principal.record("user.disable", Some(&name));
    if let Err(e) = &result {
        record.outcome = e.status.as_u16().to_string();
    }
    audited(&state, record).await?;
    Ok(Json(user_doc(result?)))
}

/// A token as the API shows it (never its secret, except once at creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenDoc {
    /// The public id.
    pub id: String,
    /// Whose.
    pub user: String,
    /// Made at.
    pub created_at: String,
    /// Expires at.
    pub expires_at: Option<String>,
    /// Revoked at.
    pub revoked_at: Option<String>,
    /// The token itself: only in the answer that creates it.
    pub token: Option<String>,
}

fn token_doc(t: TokenInfo, token: Option<String>) -> TokenDoc {
    TokenDoc {
        id: t.id,
        user: t.user,
        created_at: t.created_at,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
        token,
    }
}

/// Every token.
#[utoipa::path(get, path = "/api/tokens", tag = "admin",
    responses((status = 200, description = "Tokens", body = Vec<TokenDoc>), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn tokens(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<TokenDoc>>, ApiError> {
    principal.require(Permission::Admin)?;
    let st = state.clone();
    let tokens = blocking(move || lock(&st.0.access).tokens(None))
        .await?
        .map_err(access_error)?;
    audited(&state, principal.record("tokens.list", None)).await?;
    Ok(Json(
        tokens.into_iter().map(|t| token_doc(t, None)).collect(),
    ))
}

/// A new token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Whose.
    pub user: String,
    /// When it stops working (RFC 3339); never when absent.
    pub expires_at: Option<String>,
}

/// Makes a token; the answer is the only time it is shown.
#[utoipa::path(post, path = "/api/tokens", tag = "admin", request_body = NewToken,
    responses((status = 200, description = "The token", body = TokenDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    body: axum::body::Bytes,
) -> Result<Json<TokenDoc>, ApiError> {
    principal.require(Permission::Admin)?;
    let req: NewToken = json_body(&body)?;
    let expires = parse_time_param("expires_at", req.expires_at.as_deref())
        .map_err(|e| ApiError::invalid(e.message))?;
    let st = state.clone();
    let now = state.now();
    let user = req.user.clone();
    let result = blocking(move || lock(&st.0.access).create_token(&req.user, expires, now))
        .await?
        .map_err(access_error);
    let mut record = principal.record("token.create", Some(&user));
    match &result {
        Ok((t, _)) => {
            record.detail = serde_json::json!({ "token": t.id, "expires_at": t.expires_at })
        }
        Err(e) => record.outcome = e.status.as_u16().to_string(),
    }
    audited(&state, record).await?;
    let (info, token) = result?;
    Ok(Json(token_doc(info, Some(token))))
}

/// Revokes a token.
#[utoipa::path(post, path = "/api/tokens/{id}/revoke", tag = "admin",
    params(("id" = String, Path, description = "The token id")),
    responses((status = 200, description = "The token", body = TokenDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    P(id): P<String>,
) -> Result<Json<TokenDoc>, ApiError> {
    principal.require(Permission::Admin)?;
    if principal.via == crate::auth::Via::Token(id.clone()) {
        return Err(ApiError::conflict(format!(
            "token {id} is the one this request uses: revoke it from another session, or with \
             `passwatch tokens revoke` on the box"
        )));
    }
    let st = state.clone();
    let now = state.now();
    let i = id.clone();
    let result = blocking(move || lock(&st.0.access).revoke_token(&i, now))
        .await?
        .map_err(access_error);
    let mut record = principal.record("token.revoke", Some(&id));
    if let Err(e) = &result {
        record.outcome = e.status.as_u16().to_string();
    }
    audited(&state, record).await?;
    Ok(Json(token_doc(result?, None)))
}

/// What a purge removed (counts only).
#[derive(Debug, Serialize, ToSchema)]
pub struct PurgeDoc {
    /// The report: events, dismissed events, evidence folders, verdicts and files removed,
    /// bytes freed, and whether `events.jsonl` was compacted (only when no writer holds it).
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
}

/// Applies the site's retention now (it also runs hourly).
#[utoipa::path(post, path = "/api/purge", tag = "admin",
    responses((status = 200, description = "What was removed", body = PurgeDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn purge(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<PurgeDoc>, ApiError> {
    principal.require(Permission::Admin)?;
    let Some(policy) = state.0.config.retention else {
        return Err(ApiError::conflict(
            "no retention is configured (serve --site FILE with a [retention] section)",
        ));
    };
    let report = run_purge(
        &state,
        &policy,
        &principal.user.name,
        Some(principal.via_text()),
    )
    .await?;
    Ok(Json(PurgeDoc { report }))
}

/// Runs one purge of the data folder and audits it (counts, not contents) as `actor`.
pub async fn run_purge(
    state: &AppState,
    policy: &passwatch_events::retention::RetentionPolicy,
    actor: &str,
    via: Option<String>,
) -> Result<serde_json::Value, ApiError> {
    let (dir, policy2, now) = (state.0.config.data_dir.clone(), *policy, state.now());
    let report = blocking(move || passwatch_events::retention::purge(&dir, &policy2, now))
        .await?
        .map_err(|e| ApiError::internal(format!("purge: {e}")))?;
    let report = serde_json::to_value(&report)
        .map_err(|e| ApiError::internal(format!("purge report: {e}")))?;
    let mut record = passwatch_events::audit::AuditRecord::new(actor, "purge", None);
    record.via = via;
    record.detail = serde_json::json!({ "report": report });
    audited(state, record).await?;
    Ok(report)
}
