//! Events, evidence and verdicts (reviewer role, within the user's scope).

use std::path::{Component, Path};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use passwatch_events::review::{
    DismissReason, EventQuery, Order, PlateMatch, RawListedEvent, ReviewError, ReviewedEvent,
    Verdict, VerdictRecord,
};
use passwatch_events::{EventKind, Review};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::access::Permission;
use crate::api::{audited, blocking, parse_time_param, Errors};
use crate::auth::Principal;
use crate::error::{json_body, ApiError, P, Q};
use crate::state::AppState;

/// Filters and page of `GET /api/events`. Every value is matched as data, never as SQL.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Camera id.
    pub camera: Option<String>,
    /// Zone id.
    pub zone: Option<String>,
    /// `no_valid_pass`, `needs_review`, `stay_home_breach` or `pass_check`.
    pub kind: Option<String>,
    /// The decision's reason (`unknown_plate`, `expired`, `doubtful`, …).
    pub reason: Option<String>,
    /// Review state: `pending`, `awaiting_second`, `escalated`, `confirmed`, `dismissed`.
    pub review: Option<String>,
    /// At or after (RFC 3339).
    pub since: Option<String>,
    /// Before (RFC 3339).
    pub until: Option<String>,
    /// A plate, matched as `plate_match` says.
    pub plate: Option<String>,
    /// `exact` (default), `prefix`, or `confusable` (equal up to O/0/D, I/1, B/8, S/5, Z/2, G/6).
    pub plate_match: Option<String>,
    /// A watchlist subject id.
    pub subject: Option<String>,
    /// Text in the explanation.
    pub text: Option<String>,
    /// `newest` (default) or `oldest_pending` (the review queue: open events, normal priority
    /// first, oldest first).
    pub order: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Events per page, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

fn parse_kind(text: &str) -> Result<EventKind, ApiError> {
    [
        EventKind::NoValidPass,
        EventKind::NeedsReview,
        EventKind::StayHomeBreach,
        EventKind::PassCheck,
    ]
    .into_iter()
    .find(|k| k.as_str() == text)
    .ok_or_else(|| {
        ApiError::bad_request(format!(
            "kind {text:?}: one of no_valid_pass, needs_review, stay_home_breach, pass_check"
        ))
    })
}

fn bounded(name: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().count() > 200 => Err(ApiError::bad_request(format!(
            "{name}: at most 200 characters"
        ))),
        other => Ok(other),
    }
}

impl ListParams {
    /// The journal query these parameters ask for, within `principal`'s scope.
    pub fn to_query(self, principal: &Principal) -> Result<EventQuery, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit {limit}: between 1 and 500"
            )));
        }
        let order = match self.order.as_deref() {
            None | Some("newest") => Order::Newest,
            Some("oldest_pending") => Order::OldestPending,
            Some(o) => {
                return Err(ApiError::bad_request(format!(
                    "order {o:?}: newest or oldest_pending"
                )))
            }
        };
        let plate_match = match self.plate_match.as_deref() {
            None | Some("exact") => PlateMatch::Exact,
            Some("prefix") => PlateMatch::Prefix,
            Some("confusable") => PlateMatch::Confusable,
            Some(m) => {
                return Err(ApiError::bad_request(format!(
                    "plate_match {m:?}: exact, prefix or confusable"
                )))
            }
        };
        let review = self
            .review
            .as_deref()
            .map(|r| {
                Review::parse(r).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "review {r:?}: pending, awaiting_second, escalated, confirmed or dismissed"
                    ))
                })
            })
            .transpose()?;
        Ok(EventQuery {
            camera: bounded("camera", self.camera)?,
            zone: bounded("zone", self.zone)?,
            kind: self.kind.as_deref().map(parse_kind).transpose()?,
            reason: bounded("reason", self.reason)?,
            review,
            since: parse_time_param("since", self.since.as_deref())?,
            until: parse_time_param("until", self.until.as_deref())?,
            plate: bounded("plate", self.plate)?,
            plate_match,
            subject_id: bounded("subject", self.subject)?,
            text: bounded("text", self.text)?,
            scope: principal.scope(),
            order,
            cursor: bounded("cursor", self.cursor)?,
            limit: limit as usize,
        })
    }
}

/// An event with its review state now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedEventDoc {
    /// The event (schema `passwatch.event.v1`), `review` being the state now: its stored JSON,
    /// copied into the page without being parsed.
    #[schema(value_type = Object)]
    pub event: Box<serde_json::value::RawValue>,
    /// The version a verdict must name.
    pub review_version: u64,
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageDoc {
    /// The events.
    pub events: Vec<ListedEventDoc>,
    /// The cursor of the next page; absent at the end.
    pub next: Option<String>,
}

/// One verdict of an event's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerdictDoc {
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub actor: String,
    /// `confirm`, `dismiss` or `escalate`.
    pub verdict: String,
    /// The dismissal reason.
    pub reason: Option<String>,
    /// The note.
    pub note: Option<String>,
    /// The review state it left.
    pub review_after: String,
    /// The review version it made.
    pub version: u64,
}

impl From<VerdictRecord> for VerdictDoc {
    fn from(v: VerdictRecord) -> Self {
        VerdictDoc {
            at: v.at,
            actor: v.actor,
            verdict: v.verdict,
            reason: v.reason,
            note: v.note,
            review_after: v.review_after,
            version: v.version,
        }
    }
}

/// An event as a reviewer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetailDoc {
    /// The event as decided (schema `passwatch.event.v1`: reads history, explanation, matched
    /// pass, candidates, registry version, models), `review` being the state now.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    /// The version a verdict must name.
    pub review_version: u64,
    /// Every verdict, oldest first.
    pub verdicts: Vec<VerdictDoc>,
    /// Confirmations a face event still needs (0 for plates and decided events).
    pub confirmations_needed: u32,
}

fn to_value<T: Serialize>(t: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(t).map_err(|e| ApiError::internal(format!("serialising: {e}")))
}

fn detail_doc(r: ReviewedEvent) -> Result<EventDetailDoc, ApiError> {
    let needed = match (r.event.kind, r.event.review) {
        (EventKind::StayHomeBreach, Review::Pending | Review::Escalated) => 2,
        (EventKind::StayHomeBreach, Review::AwaitingSecond) => 1,
        _ => 0,
    };
    Ok(EventDetailDoc {
        event: to_value(&r.event)?,
        review_version: r.review_version,
        verdicts: r.verdicts.into_iter().map(VerdictDoc::from).collect(),
        confirmations_needed: needed,
    })
}

fn listed_doc(e: RawListedEvent) -> Result<ListedEventDoc, ApiError> {
    Ok(ListedEventDoc {
        event: serde_json::value::RawValue::from_string(e.json).map_err(|err| {
            ApiError::internal(format!("event {}: stored JSON: {err}", e.event_id))
        })?,
        review_version: e.review_version,
    })
}

/// Lists events, newest first or as the review queue.
#[utoipa::path(get, path = "/api/events", tag = "events", params(ListParams),
    responses((status = 200, description = "A page of events", body = PageDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Q(params): Q<ListParams>,
) -> Result<Json<PageDoc>, ApiError> {
    principal.require(Permission::Events)?;
    let query = params.to_query(&principal)?;
    let detail = serde_json::json!({
        "camera": query.camera, "zone": query.zone, "kind": query.kind.map(|k| k.as_str()),
        "reason": query.reason, "review": query.review.map(|r| r.as_str()),
        "plate_search": query.plate.is_some(), "subject": query.subject_id,
        "text_search": query.text.is_some(),
    });
    let st = state.clone();
    let page = blocking(move || st.0.journal.with(|j| j.list_raw(&query))).await?;
    let page = page.map_err(|e| match e {
        passwatch_events::review::ListError::Cursor(c) => ApiError::bad_request(c.to_string()),
        other => ApiError::internal(other.to_string()),
    })?;
    let mut record = principal.record("events.list", None);
    record.detail = serde_json::json!({ "filters": detail, "returned": page.events.len() });
    audited(&state, record).await?;
    Ok(Json(PageDoc {
        events: page
            .events
            .into_iter()
            .map(listed_doc)
            .collect::<Result<_, _>>()?,
        next: page.next,
    }))
}

/// Open events per camera.
#[derive(Debug, Serialize, ToSchema)]
pub struct CameraCount {
    /// The camera.
    pub camera: String,
    /// Its open events (pending, escalated, awaiting a second confirmation).
    pub open: u64,
}

/// Open events per camera, within the caller's scope.
#[utoipa::path(get, path = "/api/events/open-by-camera", tag = "events",
    responses((status = 200, description = "Open events per camera", body = Vec<CameraCount>), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn open_by_camera(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<CameraCount>>, ApiError> {
    principal.require(Permission::Events)?;
    let scope = principal.scope();
    let st = state.clone();
    let counts = blocking(move || st.0.journal.with(|j| j.open_by_camera(scope.as_ref())))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    audited(&state, principal.record("events.counts", None)).await?;
    Ok(Json(
        counts
            .into_iter()
            .map(|(camera, open)| CameraCount { camera, open })
            .collect(),
    ))
}

fn check_event_id(id: &str) -> Result<(), ApiError> {
    if passwatch_events::evidence::is_safe_event_id(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "event id {:?}: 1 to 64 of A-Z, a-z, 0-9, '-', '_'",
            id.chars().take(80).collect::<String>()
        )))
    }
}

async fn load(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<ReviewedEvent, ApiError> {
    check_event_id(id)?;
    let st = state.clone();
    let owned = id.to_owned();
    let event = blocking(move || st.0.journal.with(|j| j.reviewed(&owned)))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::not_found(format!("no event {id}")))?;
    if !principal.allows(&event.event.zone, &event.event.camera) {
        let mut r = principal.record("event.read", Some(id));
        r.outcome = "403".to_owned();
        audited(state, r).await?;
        return Err(ApiError::forbidden(format!(
            "event {id} (camera {}, zone {}) is outside the scope of user {}",
            event.event.camera, event.event.zone, principal.user.name
        )));
    }
    Ok(event)
}

/// One event: reads history, explanation, matched pass, registry version, models, verdicts.
#[utoipa::path(get, path = "/api/events/{id}", tag = "events",
    params(("id" = String, Path, description = "The event id")),
    responses((status = 200, description = "The event", body = EventDetailDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    P(id): P<String>,
) -> Result<Json<EventDetailDoc>, ApiError> {
    principal.require(Permission::Events)?;
    let event = load(&state, &principal, &id).await?;
    audited(&state, principal.record("event.read", Some(&id))).await?;
    Ok(Json(detail_doc(event)?))
}

/// Reads `file` (relative to `data_dir`) if it stays inside `data_dir/evidence/`.
fn read_inside(data_dir: &Path, file: &str) -> Result<Vec<u8>, String> {
    let rel = Path::new(file);
    let normal = rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !normal || rel.components().next() != Some(Component::Normal("evidence".as_ref())) {
        return Err(format!(
            "evidence name {file:?} leaves the evidence folder: refused"
        ));
    }
    let root = data_dir
        .join("evidence")
        .canonicalize()
        .map_err(|e| format!("evidence folder: {e}"))?;
    let path = data_dir
        .join(rel)
        .canonicalize()
        .map_err(|e| format!("{file}: {e}"))?;
    if !path.starts_with(&root) {
        return Err(format!(
            "evidence {file:?} resolves outside the evidence folder: refused"
        ));
    }
    std::fs::read(&path).map_err(|e| format!("{file}: {e}"))
}

/// One evidence image, its SHA-256 checked against the event's record on every read.
#[utoipa::path(get, path = "/api/events/{id}/evidence/{which}", tag = "events",
    params(("id" = String, Path, description = "The event id"),
           ("which" = String, Path, description = "`crop` or `frame`")),
    responses((status = 200, description = "The JPEG", content_type = "image/jpeg", body = Vec<u8>),
              (status = 410, description = "Evidence removed (retention) or missing", body = crate::error::ErrorBody),
              Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn evidence(
    State(state): State<AppState>,
    principal: Principal,
    P((id, which)): P<(String, String)>,
) -> Result<Response, ApiError> {
    principal.require(Permission::Events)?;
    if which != "crop" && which != "frame" {
        return Err(ApiError::bad_request(format!(
            "evidence {which:?}: crop or frame"
        )));
    }
    let event = load(&state, &principal, &id).await?;
    let Some(ev) = event.event.evidence.as_ref() else {
        return Err(ApiError::new(
            StatusCode::GONE,
            "gone",
            format!("event {id} has no evidence"),
        ));
    };
    let file = if which == "crop" { &ev.crop } else { &ev.frame };
    let (name, want) = (file.file.clone(), file.sha256.clone());
    let data_dir = state.0.config.data_dir.clone();
    let bytes = blocking(move || read_inside(&data_dir, &name)).await?;
    let mut record = principal.record("evidence.read", Some(&id));
    record.detail = serde_json::json!({ "which": which });
    let bytes = match bytes {
        Ok(b) => b,
        Err(why) => {
            record.outcome = "410".to_owned();
            audited(&state, record).await?;
            return Err(ApiError::new(
                StatusCode::GONE,
                "gone",
                format!("event {id}: {why}"),
            ));
        }
    };
    let got = hex::encode(Sha256::digest(&bytes));
    if got != want {
        record.outcome = "tampered".to_owned();
        record.detail = serde_json::json!({ "which": which, "expected": want, "found": got });
        audited(&state, record).await?;
        tracing::error!(event = %id, file = %file.file, expected = %want, found = %got,
            "evidence does not match its recorded hash: refused");
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "tampered",
            format!(
                "event {id}: evidence {} has SHA-256 {got}, the event records {want}: the file \
                 was changed after it was written, and is not served",
                file.file
            ),
        ));
    }
    audited(&state, record).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg".to_owned()),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
            (header::ETAG, format!("\"{want}\"")),
        ],
        bytes,
    )
        .into_response())
}

/// A verdict.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictRequest {
    /// `confirm`, `dismiss` or `escalate`.
    pub verdict: String,
    /// For `dismiss`: `misread`, `pass_shown`, `wrong_zone`, `duplicate`, `not_a_vehicle`,
    /// `other`.
    pub reason: Option<String>,
    /// A note (required with reason `other`; at most 2000 characters).
    pub note: Option<String>,
    /// The review version the reviewer saw (`review_version` of the event).
    pub version: u64,
}

/// Confirms, dismisses or escalates an event. A stale `version` gets 409, as does a face
/// event's second confirmation by its first confirmer (four eyes).
#[utoipa::path(post, path = "/api/events/{id}/verdicts", tag = "events",
    params(("id" = String, Path, description = "The event id")),
    request_body = VerdictRequest,
    responses((status = 200, description = "The event after the verdict", body = EventDetailDoc), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn verdict(
    State(state): State<AppState>,
    principal: Principal,
    P(id): P<String>,
    body: axum::body::Bytes,
) -> Result<Json<EventDetailDoc>, ApiError> {
    principal.require(Permission::Events)?;
    let req: VerdictRequest = json_body(&body)?;
    let verdict = match req.verdict.as_str() {
        "confirm" => {
            if req.reason.is_some() {
                return Err(ApiError::invalid("reason: only a dismissal has a reason"));
            }
            Verdict::Confirm
        }
        "dismiss" => {
            let reason = req.reason.as_deref().ok_or_else(|| {
                ApiError::invalid(
                    "reason: a dismissal needs one of misread, pass_shown, wrong_zone, \
                     duplicate, not_a_vehicle, other",
                )
            })?;
            let reason = DismissReason::ALL
                .into_iter()
                .find(|r| r.as_str() == reason)
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "reason {reason:?}: one of misread, pass_shown, wrong_zone, duplicate, \
                         not_a_vehicle, other"
                    ))
                })?;
            Verdict::Dismiss {
                reason,
                note: req.note.clone(),
            }
        }
        "escalate" => Verdict::Escalate {
            note: req.note.clone(),
        },
        other => {
            return Err(ApiError::invalid(format!(
                "verdict {other:?}: confirm, dismiss or escalate"
            )))
        }
    };
    // Loading checks the id, existence and scope first.
    load(&state, &principal, &id).await?;
    let st = state.clone();
    let (owned, actor, now) = (id.clone(), principal.user.name.clone(), state.now());
    let v = verdict.clone();
    let result = blocking(move || {
        st.0.journal
            .with(|j| j.apply_verdict(&owned, req.version, &v, &actor, now))
    })
    .await?;
    let mut record = principal.record("verdict", Some(&id));
    record.detail = serde_json::json!({
        "verdict": req.verdict,
        "reason": req.reason,
        "version": req.version,
    });
    let outcome = match result {
        Ok(r) => Ok(r),
        Err(e @ (ReviewError::Stale { .. } | ReviewError::SameReviewer { .. })) => {
            Err(ApiError::conflict(e.to_string()))
        }
        Err(ReviewError::Invalid(m)) => Err(ApiError::invalid(m)),
        Err(ReviewError::UnknownEvent(e)) => Err(ApiError::not_found(format!("no event {e}"))),
        Err(e @ ReviewError::Journal(_)) => Err(ApiError::internal(e.to_string())),
    };
    if let Err(e) = &outcome {
        record.outcome = e.status.as_u16().to_string();
    }
    audited(&state, record).await?;
    Ok(Json(detail_doc(outcome?)?))
}

/// A case export: events by id, or every event matching filters.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// Event ids (at most 500).
    #[serde(default)]
    pub events: Vec<String>,
    /// Or filters, as `GET /api/events` takes them (`camera`, `zone`, `kind`, `reason`,
    /// `review`, `since`, `until`, `plate`, `plate_match`, `subject`, `text`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub filter: std::collections::BTreeMap<String, String>,
}

/// The most events one API export holds (larger cases: `passwatch export` on the box).
pub const MAX_API_EXPORT: usize = 500;

/// Exports events as one case archive (tar): each event with its reads and verdict history, its
/// evidence (checked against its SHA-256), and a manifest of every file's SHA-256. The
/// `X-Case-Manifest-Sha256` header names the archive; `passwatch export verify` checks it.
#[utoipa::path(post, path = "/api/export", tag = "events", request_body = ExportRequest,
    responses((status = 200, description = "The case archive", content_type = "application/x-tar", body = Vec<u8>), Errors),
    security(("bearer" = []), ("session" = [])))]
pub async fn export(
    State(state): State<AppState>,
    principal: Principal,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    principal.require(Permission::Events)?;
    let req: ExportRequest = json_body(&body)?;
    let mut ids: Vec<String> = req.events.clone();
    if ids.is_empty() == req.filter.is_empty() {
        return Err(ApiError::invalid(
            "give either `events` (ids) or `filter`, not both and not neither",
        ));
    }
    const FILTER_KEYS: [&str; 11] = [
        "camera",
        "zone",
        "kind",
        "reason",
        "review",
        "since",
        "until",
        "plate",
        "plate_match",
        "subject",
        "text",
    ];
    if let Some(k) = req
        .filter
        .keys()
        .find(|k| !FILTER_KEYS.contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "filter key {k:?}: one of {}",
            FILTER_KEYS.join(", ")
        )));
    }
    if !req.filter.is_empty() {
        let params: ListParams = serde_json::to_value(&req.filter)
            .and_then(serde_json::from_value)
            .map_err(|e| ApiError::invalid(format!("filter: {e}")))?;
        let mut query = ListParams {
            limit: Some(500),
            order: None,
            cursor: None,
            ..params
        }
        .to_query(&principal)?;
        loop {
            let st = state.clone();
            let q = query.clone();
            let page = blocking(move || st.0.journal.with(|j| j.list(&q)))
                .await?
                .map_err(|e| ApiError::internal(e.to_string()))?;
            ids.extend(page.events.into_iter().map(|e| e.event.event_id));
            if ids.len() > MAX_API_EXPORT {
                break;
            }
            match page.next {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
    }
    if ids.len() > MAX_API_EXPORT {
        return Err(ApiError::invalid(format!(
            "{} events or more: at most {MAX_API_EXPORT} per API export (narrow the filter, or \
             use `passwatch export` on the box)",
            ids.len()
        )));
    }
    for id in &ids {
        load(&state, &principal, id).await?;
    }
    let st = state.clone();
    let (actor, now, owned) = (principal.user.name.clone(), state.now(), ids.clone());
    let written = blocking(move || {
        let mut out = Vec::new();
        st.0.journal
            .with(|j| {
                passwatch_events::case::write_case(
                    &st.0.config.data_dir,
                    j,
                    &owned,
                    &actor,
                    now,
                    &mut out,
                )
            })
            .map(|summary| (summary, out))
    })
    .await?;
    let mut record = principal.record("export", None);
    let (summary, bytes) = match written {
        Ok(w) => w,
        Err(e) => {
            record.outcome = "409".to_owned();
            record.detail = serde_json::json!({ "events": ids.len(), "error": e.to_string() });
            audited(&state, record).await?;
            return Err(ApiError::conflict(format!(
                "the case cannot be exported: {e}"
            )));
        }
    };
    record.detail = serde_json::json!({
        "events": summary.events.len(),
        "event_ids": summary.events,
        "files": summary.files,
        "absent": summary.absent.len(),
        "manifest_sha256": summary.manifest_sha256,
    });
    audited(&state, record).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"case-{}.tar\"",
                    &summary.manifest_sha256[..12.min(summary.manifest_sha256.len())]
                ),
            ),
            (
                header::HeaderName::from_static("x-case-manifest-sha256"),
                summary.manifest_sha256.clone(),
            ),
        ],
        bytes,
    )
        .into_response())
}
