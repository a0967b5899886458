//! Passes and the watchlist over the API (registrar role). Every change is a new registry
//! version, made by the same `Registry` calls as the command line, so a running `passwatch run`
//! picks it up by its version poll as it does an import from the shell.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use passwatch_plate_reader::text::normalise_plate;
use passwatch_registry::{FileFormat, Location, Pass, RegistryError, RegistryVersion};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::Permission;
use crate::api::{audited, blocking, Errors};
use crate::auth::Principal;
use crate::error::{ApiError, P, Q};
use crate::state::{lock, AppState};

/// A pass as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PassDoc {
    /// The 16-character code.
    pub code: String,
    /// `vehicle` or `person`.
    pub kind: String,
    /// The plate (vehicle passes).
    pub plate: Option<String>,
    /// The plate's region.
    pub region: Option<String>,
    /// Start of validity (RFC 3339).
    pub valid_from: String,
    /// End of validity (RFC 3339).
    pub valid_until: String,
    /// Zone ids, or `["*"]`.
    pub zones: Vec<String>,
    /// Purpose.
    pub purpose: String,
    /// `active` or `revoked`.
    pub status: String,
    /// The holder's opaque reference.
    pub holder_ref: String,
    /// The registry version that last changed it.
    pub version: u64,
    /// The confusable-aware edit cost to the plate searched for (fuzzy searches).
    pub cost: Option<f32>,
}

fn pass_doc(p: &Pass, cost: Option<f32>) -> PassDoc {
    PassDoc {
        code: p.code.clone(),
        kind: p.kind.as_str().to_owned(),
        plate: p.plate.clone(),
        region: p.region.clone(),
        valid_from: passwatch_registry::passes::format_time(p.valid_from),
        valid_until: passwatch_registry::passes::format_time(p.valid_until),
        zones: p.zones.clone().into(),
        purpose: p.purpose.clone(),
        status: p.status.as_str().to_owned(),
        holder_ref: p.holder_ref.clone(),
        version: p.version,
        cost,
    }
}

/// A registry version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDoc {
    /// The version number.
    pub version: u64,
    /// When (RFC 3339).
    pub created_at: String,
    /// Who.
    pub actor: String,
    /// `import`, `revoke`, `reinstate`, `enroll`, `remove_subject`, ….
    pub action: String,
    /// The file imported.
    pub source: Option<String>,
    /// Inserted.
    pub inserted: u64,
    /// Updated.
    pub updated: u64,
    /// Unchanged.
    pub unchanged: u64,
    /// Removed.
    pub removed: u64,
}

fn version_doc(v: RegistryVersion) -> VersionDoc {
    VersionDoc {
        version: v.version,
        created_at: passwatch_registry::passes::format_time(v.created_at),
        actor: v.actor,
        action: v.action,
        source: v.source,
        inserted: v.inserted,
        updated: v.updated,
        unchanged: v.unchanged,
        removed: v.removed,
    }
}

fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::UnknownPass(c) => ApiError::not_found(format!("no pass with code {c}")),
        RegistryError::UnknownSubject(s) => {
            ApiError::not_found(format!("no watchlist subject {s:?}"))
        }
        RegistryError::InvalidFile(errors) => {
            let problems: Vec<serde_json::Value> = errors
                .problems
                .iter()
                .map(|p| {
                    let (row, index) = match p.location {
                        Location::Row(r) => (Some(r), None),
                        Location::Index(i) => (None, Some(i)),
                    };
                    serde_json::json!({
                        "row": row, "index": index, "field": p.field, "message": p.message,
                    })
                })
                .collect();
            let mut err = ApiError::invalid(errors.to_string());
            err.details = Some(serde_json::json!({
                "file": errors.file,
                "total_problems": errors.total_problems,
                "bad_rows": errors.bad_rows,
                "problems": problems,
            }));
            err
        }
        RegistryError::Malformed { file, message } => {
            ApiError::invalid(format!("{file}: {message}"))
        }
        e @ (RegistryError::InvalidSubject { .. } | RegistryError::MissingActor) => {
            ApiError::invalid(e.to_string())
        }
        e @ (RegistryError::WatchlistModel { .. } | RegistryError::WatchlistDimension { .. }) => {
            ApiError::conflict(e.to_string())
        }
        e if e.is_retryable() => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{e}: try again"),
        ),
        e => ApiError::internal(e.to_string()),
    }
}

/// Pass search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PassParams {
    /// A pass code, exactly.
    pub code: Option<String>,
    /// A plate: exact passes first, then, with `fuzzy=true`, passes within the confusable-aware
    /// edit cost `max_cost` (default 1).
    pub plate: Option<String>,
    /// Fuzzy plate search.
    pub fuzzy: Option<bool>,
    /// The largest edit cost of a fuzzy search (0 to 3).
    pub max_cost: Option<f32>,
    /// At most this many (1 to 500, default 50).
    pub limit: Option<u32>,
}

/// Searches passes by code, or by plate (exact or fuzzy).
#[utoipa::path(get, path = "/api/passes", tag = "registry", params(PassParams),
    responses((status = 200, description = "Matching passes", body = Vec<PassDoc>), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn passes(
    State(state): State<AppState>,
    principal: Principal,
    Q(params): Q<PassParams>,
) -> Result<Json<Vec<PassDoc>>, ApiError> {
    principal.require(Permission::Registry)?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit {limit}: 1 to 500")));
    }
    let max_cost = params.max_cost.unwrap_or(1.0);
    if !(0.0..=3.0).contains(&max_cost) {
        return Err(ApiError::bad_request(format!(
            "max_cost {max_cost}: 0 to 3"
        )));
    }
    let (code, plate, fuzzy) = (params.code.clone(), params.plate.clone(), params.fuzzy);
    if code.as_ref().is_some_and(|c| c.len() > 64) || plate.as_ref().is_some_and(|p| p.len() > 64) {
        return Err(ApiError::bad_request("code, plate: at most 64 characters"));
    }
    let st = state.clone();
    let found = blocking(move || -> Result<Vec<PassDoc>, RegistryError> {
        let registry = lock(&st.0.registry);
        if let Some(code) = code {
            return Ok(registry
                .pass(&code)?
                .map(|p| vec![pass_doc(&p, None)])
                .unwrap_or_default());
        }
        let snapshot = registry.snapshot()?;
        match plate {
            Some(plate) if fuzzy.unwrap_or(false) => {
                let plate = normalise_plate(&plate);
                let mut near = snapshot.fuzzy(&plate, max_cost);
                near.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.code.cmp(&b.0.code)));
                Ok(near
                    .into_iter()
                    .take(limit as usize)
                    .map(|(p, c)| pass_doc(p, Some(c)))
                    .collect())
            }
            Some(plate) => Ok(snapshot
                .exact(&normalise_plate(&plate))
                .iter()
                .take(limit as usize)
                .map(|p| pass_doc(p, None))
                .collect()),
            None => Ok(snapshot
                .passes()
                .iter()
                .take(limit as usize)
                .map(|p| pass_doc(p, None))
                .collect()),
        }
    })
    .await?
    .map_err(registry_error)?;
    let mut record = principal.record("passes.search", None);
    record.detail = serde_json::json!({
        "by_code": params.code.is_some(), "by_plate": params.plate.is_some(),
        "fuzzy": params.fuzzy.unwrap_or(false), "returned": found.len(),
    });
    audited(&state, record).await?;
    Ok(Json(found))
}

/// Imports a pass file (CSV with `Content-Type: text/csv`, or JSON), atomically: a file with any
/// bad row changes nothing, and the answer lists every row and field at fault (422).
#[utoipa::path(post, path = "/api/passes/import", tag = "registry",
    request_body(content = String, content_type = "text/csv", description = "The pass file (CSV or JSON, as `passwatch registry import-passes` takes)"),
    responses((status = 200, description = "The new registry version", body = VersionDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn import(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<VersionDoc>, ApiError> {
    principal.require(Permission::Registry)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let format = match content_type.as_str() {
        "text/csv" => FileFormat::Csv,
        "application/json" => FileFormat::Json,
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported",
                format!("Content-Type {other:?}: text/csv or application/json"),
            ))
        }
    };
    let text = String::from_utf8(body.to_vec())
        .map_err(|e| ApiError::invalid(format!("the pass file is not UTF-8: {e}")))?;
    let st = state.clone();
    let actor = principal.user.name.clone();
    let source = format!("api upload by {actor}");
    let result =
        blocking(move || lock(&st.0.registry).import_text(&text, format, &source, &actor)).await?;
    let mut record = principal.record("passes.import", None);
    let outcome = result.map_err(registry_error);
    match &outcome {
        Ok(v) => {
            record.detail = serde_json::json!({
                "version": v.version, "inserted": v.inserted, "updated": v.updated,
                "unchanged": v.unchanged,
            })
        }
        Err(e) => record.outcome = e.status.as_u16().to_string(),
    }
    audited(&state, record).await?;
    Ok(Json(version_doc(outcome?)))
}

async fn change_pass(
    state: AppState,
    principal: Principal,
    code: String,
    action: &'static str,
) -> Result<Json<VersionDoc>, ApiError> {
    principal.require(Permission::Registry)?;
    if code.len() > 64 {
        return Err(ApiError::bad_request("code: at most 64 characters"));
    }
    let st = state.clone();
    let (c, actor) = (code.clone(), principal.user.name.clone());
    let result = blocking(move || {
        let mut registry = lock(&st.0.registry);
        if action == "revoke" {
            registry.revoke(&c, &actor)
        } else {
            registry.reinstate(&c, &actor)
        }
    })
    .await?
    .map_err(registry_error);
    let mut record = principal.record(&format!("pass.{action}"), Some(&code));
    match &result {
        Ok(v) => record.detail = serde_json::json!({ "version": v.version }),
        Err(e) => record.outcome = e.status.as_u16().to_string(),
    }
    audited(&state, record).await?;
    Ok(Json(version_doc(result?)))
}

/// Revokes a pass (a new registry version).
#[utoipa::path(post, path = "/api/passes/{code}/revoke", tag = "registry",
    params(("code" = String, Path, description = "The pass code")),
    responses((status = 200, description = "The new registry version", body = VersionDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    P(code): P<String>,
) -> Result<Json<VersionDoc>, ApiError> {
    change_pass(state, principal, code, "revoke").await
}

/// Reinstates a revoked pass (a new registry version).
#[utoipa::path(post, path = "/api/passes/{code}/reinstate", tag = "registry",
    params(("code" = String, Path, description = "The pass code")),
    responses((status = 200, description = "The new registry version", body = VersionDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn reinstate(
    State(state): State<AppState>,
    principal: Principal,
    P(code): P<String>,
) -> Result<Json<VersionDoc>, ApiError> {
    change_pass(state, principal, code, "reinstate").await
}

/// Every registry version, newest first.
#[utoipa::path(get, path = "/api/registry/versions", tag = "registry",
    responses((status = 200, description = "The versions", body = Vec<VersionDoc>), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<VersionDoc>>, ApiError> {
    principal.require(Permission::Registry)?;
    let st = state.clone();
    let mut versions = blocking(move || lock(&st.0.registry).versions())
        .await?
        .map_err(registry_error)?;
    versions.reverse();
    audited(&state, principal.record("registry.versions", None)).await?;
    Ok(Json(versions.into_iter().map(version_doc).collect()))
}

/// A watchlist subject (never its embeddings or photos).
#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectDoc {
    /// The opaque id.
    pub subject_id: String,
    /// Start of the order.
    pub order_from: String,
    /// End of the order (exclusive).
    pub order_until: String,
    /// Home zone.
    pub home_zone: String,
    /// `active` or `inactive`.
    pub status: String,
    /// The registry version that last changed it.
    pub version: u64,
}

/// The watchlist's subjects.
#[utoipa::path(get, path = "/api/watchlist", tag = "registry",
    responses((status = 200, description = "The subjects", body = Vec<SubjectDoc>), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn subjects(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<SubjectDoc>>, ApiError> {
    principal.require(Permission::Registry)?;
    let st = state.clone();
    let subjects = blocking(move || lock(&st.0.registry).list_subjects())
        .await?
        .map_err(registry_error)?;
    audited(&state, principal.record("watchlist.list", None)).await?;
    Ok(Json(
        subjects
            .into_iter()
            .map(|s| SubjectDoc {
                subject_id: s.subject_id,
                order_from: passwatch_registry::passes::format_time(s.order_from),
                order_until: passwatch_registry::passes::format_time(s.order_until),
                home_zone: s.home_zone,
                status: s.status.as_str().to_owned(),
                version: s.version,
            })
            .collect(),
    ))
}

/// Removes a subject and every reference embedding (secure delete, as the command line).
#[utoipa::path(delete, path = "/api/watchlist/{subject}", tag = "registry",
    params(("subject" = String, Path, description = "The subject id")),
    responses((status = 200, description = "The new registry version", body = VersionDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn remove_subject(
    State(state): State<AppState>,
    principal: Principal,
    P(subject): P<String>,
) -> Result<Json<VersionDoc>, ApiError> {
    principal.require(Permission::Registry)?;
    if subject.len() > 128 {
        return Err(ApiError::bad_request("subject: at most 128 characters"));
    }
    let st = state.clone();
    let (s, actor) = (subject.clone(), principal.user.name.clone());
    let result = blocking(move || lock(&st.0.registry).remove_subject(&s, &actor))
        .await?
        .map_err(registry_error);
    let mut record = principal.record("subject.remove", Some(&subject));
    match &result {
        Ok(v) => record.detail = serde_json::json!({ "version": v.version }),
        Err(e) => record.outcome = e.status.as_u16().to_string(),
    }
    audited(&state, record).await?;
    Ok(Json(version_doc(result?)))
}

/// The largest side of an enrolment photo (as the command line).
pub const MAX_PHOTO_SIDE: u32 = 12_000;
/// Largest enrolment upload (all photos together).
pub const ENROL_LIMIT: usize = 32 * 1024 * 1024;

/// An enrolment upload (`multipart/form-data`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct EnrolForm {
    /// Start of the order (RFC 3339); required for a new subject.
    order_from: Option<String>,
    /// End of the order (RFC 3339, exclusive); required for a new subject.
    order_until: Option<String>,
    /// Home zone; required for a new subject.
    home_zone: Option<String>,
    /// `active` or `inactive`.
    status: Option<String>,
    /// Reference photos, one face each (repeat the field).
    #[schema(value_type = Vec<String>, format = Binary)]
    photo: Vec<Vec<u8>>,
}

/// An enrolment's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolDoc {
    /// The new registry version.
    pub version: VersionDoc,
    /// Reference embeddings stored (the photos are not kept).
    pub references: usize,
}

fn decode_photo(bytes: &[u8]) -> Result<image::RgbImage, String> {
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("not_an_image: cannot read: {e}"))
    };
    let r = reader()?;
    if r.format().is_none() {
        return Err("not_an_image: unknown format".into());
    }
    // The header first: the declared size is checked before a pixel is allocated.
    let (w, h) = r
        .into_dimensions()
        .map_err(|e| format!("not_an_image: {e}"))?;
    if w > MAX_PHOTO_SIDE || h > MAX_PHOTO_SIDE {
        return Err(format!(
            "too_large: image of {w}×{h} pixels (at most {MAX_PHOTO_SIDE} per side)"
        ));
    }
    reader()?
        .decode()
        .map(|i| i.to_rgb8())
        .map_err(|e| format!("not_an_image: {e}"))
}

/// Enrols (or updates) a watchlist subject from uploaded photos: every photo must hold exactly
/// one good face, or nothing is stored and each refusal is listed with its photo (422), as
/// `passwatch registry enroll` does. Photos are never kept; only the embeddings are.
#[utoipa::path(post, path = "/api/watchlist/{subject}/enrol", tag = "registry",
    params(("subject" = String, Path, description = "The subject id")),
    request_body(content = EnrolForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "Enrolled", body = EnrolDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn enrol(
    State(state): State<AppState>,
    principal: Principal,
    P(subject): P<String>,
    request: axum::extract::Request,
) -> Result<Json<EnrolDoc>, ApiError> {
    use axum::extract::FromRequest;
    principal.require(Permission::Registry)?;
    if subject.len() > 128 {
        return Err(ApiError::bad_request("subject: at most 128 characters"));
    }
    let mut form = axum::extract::Multipart::from_request(request, &state)
        .await
        .map_err(|e| {
            ApiError::new(
                e.status(),
                "bad_request",
                format!("body: {}", e.body_text()),
            )
        })?;
    let (mut fields, mut photos) = (std::collections::BTreeMap::new(), Vec::new());
    while let Some(field) = form.next_field().await.map_err(|e| {
        ApiError::new(
            e.status(),
            "bad_request",
            format!("body: {}", e.body_text()),
        )
    })? {
        let name = field.name().unwrap_or("").to_owned();
        let file = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| {
            ApiError::new(
                e.status(),
                "bad_request",
                format!("{name}: {}", e.body_text()),
            )
        })?;
        match name.as_str() {
            "photo" => photos.push((
                file.unwrap_or_else(|| format!("photo {}", photos.len() + 1)),
                bytes,
            )),
            "order_from" | "order_until" | "home_zone" | "status" => {
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| ApiError::invalid(format!("{name}: not UTF-8 text")))?;
                fields.insert(name, text);
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "field {other:?}: order_from, order_until, home_zone, status or photo"
                )))
            }
        }
    }
    let st = state.clone();
    let actor = principal.user.name.clone();
    let sub = subject.clone();
    let outcome = blocking(move || -> Result<(RegistryVersion, usize), ApiError> {
        let existing = lock(&st.0.registry).subject(&sub).map_err(registry_error)?;
        if existing.is_none() && photos.is_empty() {
            return Err(ApiError::invalid(format!(
                "subject {sub}: a new subject needs at least one photo"
            )));
        }
        let fmt = |t: passwatch_base::time::WallTime| passwatch_registry::passes::format_time(t);
        let get = |key: &str, old: Option<String>| -> Result<String, ApiError> {
            fields
                .get(key)
                .cloned()
                .or(old)
                .ok_or_else(|| ApiError::invalid(format!("{key}: needed for a new subject")))
        };
        let spec = passwatch_registry::SubjectSpec::parse(
            &sub,
            &get("order_from", existing.as_ref().map(|s| fmt(s.order_from)))?,
            &get("order_until", existing.as_ref().map(|s| fmt(s.order_until)))?,
            &get("home_zone", existing.as_ref().map(|s| s.home_zone.clone()))?,
            fields.get("status").map(String::as_str),
        )
        .map_err(registry_error)?;
        let mut faces = lock(&st.0.faces);
        if faces.is_none() {
            let options = passwatch_models::SessionOptions::default();
            *faces = Some(
                passwatch_pipeline::options::load_face_matcher(&options).map_err(|e| {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        format!("the face models cannot be loaded: {e}"),
                    )
                })?,
            );
        }
        let matcher = faces.as_mut().expect("loaded above");
        let check = passwatch_face_matcher::EnrolmentCheck::default();
        let (mut accepted, mut refused) = (Vec::new(), Vec::new());
        for (name, bytes) in &photos {
            let image = match decode_photo(bytes) {
                Ok(i) => i,
                Err(why) => {
                    refused.push(serde_json::json!({ "photo": name, "reason": why }));
                    continue;
                }
            };
            match matcher
                .check_enrolment(&image, &check)
                .map_err(|e| ApiError::internal(format!("{name}: {e}")))?
            {
                passwatch_face_matcher::Enrolment::Accepted(face) => {
                    accepted.push((face.embedding.clone(), face.quality.score))
                }
                passwatch_face_matcher::Enrolment::Rejected(r) => {
                    refused.push(serde_json::json!({ "photo": name, "reason": r.to_string() }))
                }
            }
        }
        if !refused.is_empty() {
            let mut e = ApiError::invalid(format!(
                "subject {sub}: {} of {} photos refused, nothing stored",
                refused.len(),
                photos.len()
            ));
            e.details = Some(serde_json::json!({ "refused": refused }));
            return Err(e);
        }
        let n = accepted.len();
        let version = lock(&st.0.registry)
            .enroll(spec, accepted, &actor)
            .map_err(registry_error)?;
        Ok((version, n))
    })
    .await?;
    let mut record = principal.record("subject.enrol", Some(&subject));
    match &outcome {
        Ok((v, n)) => record.detail = serde_json::json!({ "version": v.version, "references": n }),
        Err(e) => {
            record.outcome = e.status.as_u16().to_string();
            record.detail = serde_json::json!({ "refused": e.details.as_ref().map(|d| d["refused"].as_array().map(|a| a.len())) });
        }
    }
    audited(&state, record).await?;
    let (version, references) = outcome?;
    Ok(Json(EnrolDoc {
        version: version_doc(version),
        references,
    }))
}
