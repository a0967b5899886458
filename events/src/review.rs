//! Human review of stored events: the journal's review columns, the queries the review API
//! serves, and verdicts.
//!
//! `journal.db` version 2 adds to each event row the fields reviewers filter on (zone, reason,
//! plate, its [`confusable_key`], watchlist subject, priority, explanation), its current review
//! state with a version that every verdict increments, and a `verdicts` table: one row per
//! verdict, never updated, never deleted but with its event (retention). The event's JSON stays
//! as it was decided (`review` in it is the state at decision time, always `pending`); the row's
//! `review` column is the state now, and [`ReviewedEvent`] shows the event with it.
//!
//! Verdicts ([`Verdict`]): `confirm`, `dismiss` with a [`DismissReason`] (and a note, required
//! for `other`), `escalate`. Each names the review version it was made on: a verdict on a
//! stale version is refused ([`ReviewError::Stale`]), so two reviewers never overwrite each
//! other unknowingly. A face event (`stay_home_breach`) needs the confirmations of two different
//! reviewers: the first makes it [`Review::AwaitingSecond`], a second confirmation by the same
//! reviewer is refused ([`ReviewError::SameReviewer`]).
//!
//! Listing ([`EventQuery`]) pages with an opaque cursor, newest first or the review queue
//! (open events, normal priority before low, oldest first). Every filter value is bound as a
//! parameter, never spliced into the SQL.

use passwatch_base::time::WallTime;
use passwatch_plate_reader::text::{confusable_key, normalise_plate};
use rusqlite::{params, params_from_iter, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::{Event, EventError, EventKind, Journal, Priority, Review, Subject, JOURNAL_SCHEMA_1};

/// The journal schema version this program writes.
pub const JOURNAL_VERSION: u32 = 2;

/// Version 1 → 2: review columns, their indexes, and the verdicts.
pub const MIGRATION_2: &str = "
ALTER TABLE events ADD COLUMN zone TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN plate TEXT;
ALTER TABLE events ADD COLUMN plate_key TEXT;
ALTER TABLE events ADD COLUMN subject_id TEXT;
ALTER TABLE events ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
ALTER TABLE events ADD COLUMN explanation TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN review_version INTEGER NOT NULL DEFAULT 0;
-- The review queue: NULL once decided, else 0 (normal priority) or 1 (low).
ALTER TABLE events ADD COLUMN queue INTEGER;
CREATE INDEX events_by_time_id ON events (time, event_id);
CREATE INDEX events_by_camera ON events (camera, time, event_id);
CREATE INDEX events_by_zone ON events (zone, time, event_id);
CREATE INDEX events_by_review ON events (review, time, event_id);
CREATE INDEX events_by_kind ON events (kind, time, event_id);
CREATE INDEX events_by_plate ON events (plate);
CREATE INDEX events_by_plate_key ON events (plate_key);
CREATE INDEX events_by_subject ON events (subject_id);
CREATE INDEX events_queue ON events (queue, time, event_id);
CREATE TABLE verdicts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    verdict      TEXT NOT NULL CHECK (verdict IN ('confirm', 'dismiss', 'escalate')),
    reason       TEXT,
    note         TEXT,
    review_after TEXT NOT NULL,
    version      INTEGER NOT NULL
);
CREATE INDEX verdicts_by_event ON verdicts (event_id, id);
CREATE INDEX verdicts_by_reason ON verdicts (verdict, reason);
";

/// The columns of an event row derived from its JSON.
pub(crate) struct Columns {
    pub plate: Option<String>,
    pub plate_key: Option<String>,
    pub subject_id: Option<String>,
    pub priority: &'static str,
}

impl Columns {
    pub(crate) fn of(event: &Event) -> Columns {
        let (plate, subject_id) = match &event.subject {
            Subject::Plate(p) => (Some(p.plate.clone()), None),
            Subject::Face(f) => (None, Some(f.subject_id.clone())),
        };
        Columns {
            plate_key: plate.as_deref().map(confusable_key),
            plate,
            subject_id,
            priority: priority_str(event.priority),
        }
    }
}

impl Columns {
    /// The event's place in the review queue in `review` state.
    pub(crate) fn queue(&self, review: Review) -> Option<i64> {
        queue_of(review, self.priority)
    }
}

fn priority_str(p: Priority) -> &'static str {
    match p {
        Priority::Normal => "normal",
        Priority::Low => "low",
    }
}

fn queue_of(review: Review, priority: &str) -> Option<i64> {
    review
        .is_open()
        .then_some(if priority == "low" { 1 } else { 0 })
}

/// The text form of a time in the journal (RFC 3339 UTC with milliseconds): it sorts as the
/// times do.
pub fn time_key(t: WallTime) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Journal {
    /// Brings the file to [`JOURNAL_VERSION`] under the write lock, so that two processes opening
    /// one folder at once migrate it once.
    pub(crate) fn migrate(&mut self) -> Result<(), EventError> {
        let path = self.path.clone();
        let db = |context| {
            let path = path.clone();
            move |source| EventError::Journal {
                path,
                context,
                source,
            }
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("starting the schema migration"))?;
        let found: u32 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db("reading the schema version"))?;
        if found > JOURNAL_VERSION {
            return Err(EventError::NewerJournal {
                path: self.path.clone(),
                found,
                supported: JOURNAL_VERSION,
            });
        }
        if found == JOURNAL_VERSION {
            return Ok(());
        }
        tx.execute_batch(JOURNAL_SCHEMA_1)
            .map_err(db("creating the schema"))?;
        tx.execute_batch(MIGRATION_2)
            .map_err(db("migrating the schema to version 2"))?;
        {
            let mut read = tx
                .prepare("SELECT event_id, json, review FROM events")
                .map_err(db("reading events to migrate"))?;
            let rows: Vec<(String, String, String)> = read
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|rows| rows.collect())
                .map_err(db("reading events to migrate"))?;
            let mut write = tx
                .prepare(
                    "UPDATE events SET zone = ?2, reason = ?3, plate = ?4, plate_key = ?5,
                         subject_id = ?6, priority = ?7, explanation = ?8, queue = ?9
                     WHERE event_id = ?1",
                )
                .map_err(db("migrating events"))?;
            for (id, json, review) in rows {
                let event: Event =
                    serde_json::from_str(&json).map_err(|source| EventError::Corrupt {
                        path: self.path.clone(),
                        event_id: id.clone(),
                        source,
                    })?;
                let c = Columns::of(&event);
                let review = Review::parse(&review).unwrap_or(Review::Pending);
                write
                    .execute(params![
                        id,
                        event.zone,
                        event.decision.reason,
                        c.plate,
                        c.plate_key,
                        c.subject_id,
                        c.priority,
                        event.decision.explanation,
                        queue_of(review, c.priority),
                    ])
                    .map_err(db("migrating events"))?;
            }
        }
        tx.pragma_update(None, "user_version", JOURNAL_VERSION)
            .map_err(db("recording the schema version"))?;
        tx.commit().map_err(db("committing the schema migration"))
    }
}

/// Why a reviewer dismissed an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DismissReason {
    /// The plate was misread (or the face mismatched): the camera's reading is at fault.
    Misread,
    /// The vehicle or person showed a valid pass the system did not know.
    PassShown,
    /// The camera's zone does not apply to where the subject was.
    WrongZone,
    /// Another event covers the same sighting.
    Duplicate,
    /// What was read is not a vehicle's plate (a sign, a poster).
    NotAVehicle,
    /// Anything else; a note is required.
    Other,
}

impl DismissReason {
    /// Every reason, in the order a reviewer is offered them.
    pub const ALL: [DismissReason; 6] = [
        DismissReason::Misread,
        DismissReason::PassShown,
        DismissReason::WrongZone,
        DismissReason::Duplicate,
        DismissReason::NotAVehicle,
        DismissReason::Other,
    ];

    /// The name used in verdicts.
    pub fn as_str(self) -> &'static str {
        match self {
            DismissReason::Misread => "misread",
            DismissReason::PassShown => "pass_shown",
            DismissReason::WrongZone => "wrong_zone",
            DismissReason::Duplicate => "duplicate",
            DismissReason::NotAVehicle => "not_a_vehicle",
            DismissReason::Other => "other",
        }
    }
}

/// A reviewer's verdict on an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The event is right.
    Confirm,
    /// The event is wrong, for this reason; `note` is required for [`DismissReason::Other`].
    Dismiss {
        /// Why.
        reason: DismissReason,
        /// Free text.
        note: Option<String>,
    },
    /// Someone more senior must decide.
    Escalate {
        /// Free text.
        note: Option<String>,
    },
}

impl Verdict {
    fn name(&self) -> &'static str {
        match self {
            Verdict::Confirm => "confirm",
            Verdict::Dismiss { .. } => "dismiss",
            Verdict::Escalate { .. } => "escalate",
        }
    }
}

/// One verdict in an event's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictRecord {
    /// When it was given (RFC 3339 UTC, milliseconds).
    pub at: String,
    /// Who gave it (a user name).
    pub actor: String,
    /// `confirm`, `dismiss` or `escalate`.
    pub verdict: String,
    /// The dismissal reason, for `dismiss`.
    pub reason: Option<String>,
    /// The reviewer's note.
    pub note: Option<String>,
    /// The review state it left the event in.
    pub review_after: String,
    /// The review version it made.
    pub version: u64,
}

/// An event as a reviewer sees it: as decided, with its review state now, the version a
/// verdict must name, and every verdict so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewedEvent {
    /// The event, its `review` the current state.
    pub event: Event,
    /// The review version (0 before any verdict).
    pub review_version: u64,
    /// The verdicts, oldest first.
    pub verdicts: Vec<VerdictRecord>,
}

/// Why a verdict was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// No event with this id.
    #[error("no event {0}")]
    UnknownEvent(String),
    /// The verdict named an older review version than the event's.
    #[error(
        "event {event_id} is at review version {current}, the verdict was made on version \
         {given}: reload it and decide again"
    )]
    Stale {
        /// The event.
        event_id: String,
        /// Its version now.
        current: u64,
        /// The version the verdict named.
        given: u64,
    },
    /// A face event's second confirmation came from its first confirmer.
    #[error(
        "event {event_id} is a face match: it needs a second confirmation from a reviewer other \
         than {actor}"
    )]
    SameReviewer {
        /// The event.
        event_id: String,
        /// The reviewer who confirmed it already.
        actor: String,
    },
    /// A verdict that needs a note had none, or a note was too long.
    #[error("{0}")]
    Invalid(String),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] EventError),
}

/// The most characters a verdict's note may hold.
pub const MAX_NOTE_CHARS: usize = 2000;

/// How a listing is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Every matching event, newest first.
    #[default]
    Newest,
    /// The review queue: open events only, normal priority before low, oldest first.
    OldestPending,
}

/// How a plate filter matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateMatch {
    /// The normalised plate, exactly.
    #[default]
    Exact,
    /// Plates starting with it.
    Prefix,
    /// Plates equal to it up to confusable glyphs (O/0/D, I/1, B/8, S/5, Z/2, G/6).
    Confusable,
}

/// A listing's filters (all optional, combined with AND) and its page.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    /// Only these cameras.
    pub camera: Option<String>,
    /// Only this zone.
    pub zone: Option<String>,
    /// Only this kind.
    pub kind: Option<EventKind>,
    /// Only this reason (`expired`, `doubtful`, …).
    pub reason: Option<String>,
    /// Only this review state.
    pub review: Option<Review>,
    /// At or after this time.
    pub since: Option<WallTime>,
    /// Before this time.
    pub until: Option<WallTime>,
    /// A plate, matched as [`EventQuery::plate_match`] says.
    pub plate: Option<String>,
    /// How [`EventQuery::plate`] matches.
    pub plate_match: PlateMatch,
    /// Only this watchlist subject.
    pub subject_id: Option<String>,
    /// Text the explanation contains (case-insensitive for ASCII).
    pub text: Option<String>,
    /// The caller's scope: when set, only events whose zone is in `zones` or whose camera is
    /// in `cameras`.
    pub scope: Option<(Vec<String>, Vec<String>)>,
    /// The order.
    pub order: Order,
    /// Where the previous page ended ([`Page::next`]).
    pub cursor: Option<String>,
    /// Events per page (1..=500).
    pub limit: usize,
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Page {
    /// The events, with their review state now.
    pub events: Vec<ListedEvent>,
    /// The cursor of the next page, or `None` at the end.
    pub next: Option<String>,
}

/// An event in a listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListedEvent {
    /// The event, its `review` the current state.
    pub event: Event,
    /// Its review version.
    pub review_version: u64,
}

/// A page of events as stored JSON ([`Journal::list_raw`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RawPage {
    /// The events.
    pub events: Vec<RawListedEvent>,
    /// The cursor of the next page, or `None` at the end.
    pub next: Option<String>,
}

/// An event of a [`RawPage`].
#[derive(Clone, Debug, PartialEq)]
pub struct RawListedEvent {
    /// Its id.
    pub event_id: String,
    /// Its JSON, `review` being the state now.
    pub json: String,
    /// Its review version.
    pub review_version: u64,
}

/// A cursor that does not come from a page of this order.
#[derive(Debug, thiserror::Error)]
#[error("cursor {0:?} is not one this listing gave out")]
pub struct BadCursor(pub String);

/// Why a listing failed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The cursor is not valid for this order.
    #[error(transparent)]
    Cursor(#[from] BadCursor),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] EventError),
}

fn encode_cursor(order: Order, queue: Option<i64>, time: &str, id: &str) -> String {
    let text = match order {
        Order::Newest => format!("n|{time}|{id}"),
        Order::OldestPending => format!("q|{}|{time}|{id}", queue.unwrap_or(0)),
    };
    hex::encode(text)
}

fn decode_cursor(order: Order, cursor: &str) -> Result<(i64, String, String), BadCursor> {
    let bad = || BadCursor(cursor.to_owned());
    let bytes = hex::decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let parts: Vec<&str> = text.split('|').collect();
    match (order, parts.as_slice()) {
        (Order::Newest, ["n", time, id]) => Ok((0, (*time).to_owned(), (*id).to_owned())),
        (Order::OldestPending, ["q", queue, time, id]) => Ok((
            queue.parse().map_err(|_| bad())?,
            (*time).to_owned(),
            (*id).to_owned(),
        )),
        _ => Err(bad()),
    }
}

/// `%`, `_` and `\` escaped for `LIKE … ESCAPE '\'`.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Journal {
    /// One page of events matching `q`.
    pub fn list(&self, q: &EventQuery) -> Result<Page, ListError> {
        let (rows, limit) = self.list_rows(q, "json")?;
        // The query asked for one row more than a page: only then is there a next page.
        let more = rows.len() > limit;
        let mut events = Vec::with_capacity(rows.len().min(limit));
        let mut next = None;
        for (i, (id, json, review, version, queue, time)) in
            rows.into_iter().take(limit).enumerate()
        {
            if more && i + 1 == limit {
                next = Some(encode_cursor(q.order, queue, &time, &id));
            }
            let mut event = self.parse(&id, &json)?;
            event.review = Review::parse(&review).unwrap_or(event.review);
            events.push(ListedEvent {
                event,
                review_version: version.max(0) as u64,
            });
        }
        Ok(Page { events, next })
    }

    /// [`Journal::list`] without parsing the events: each as its stored JSON text with `review`
    /// set to the state now (by SQLite's `json_set`), for a server that only copies it into a
    /// response (a page of 50 events costs a third as much).
    pub fn list_raw(&self, q: &EventQuery) -> Result<RawPage, ListError> {
        let (rows, limit) = self.list_rows(q, "json_set(json, '$.review', review)")?;
        let more = rows.len() > limit;
        let mut events = Vec::with_capacity(rows.len().min(limit));
        let mut next = None;
        for (i, (id, json, _review, version, queue, time)) in
            rows.into_iter().take(limit).enumerate()
        {
            if more && i + 1 == limit {
                next = Some(encode_cursor(q.order, queue, &time, &id));
            }
            events.push(RawListedEvent {
                event_id: id,
                json,
                review_version: version.max(0) as u64,
            });
        }
        Ok(RawPage { events, next })
    }

    #[allow(clippy::type_complexity)]
    fn list_rows(
        &self,
        q: &EventQuery,
        json_column: &str,
    ) -> Result<
        (
            Vec<(String, String, String, i64, Option<i64>, String)>,
            usize,
        ),
        ListError,
    > {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut bind = |clause: &str, value: rusqlite::types::Value| {
            args.push(value);
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        };
        use rusqlite::types::Value::{Integer, Text};
        if let Some(c) = &q.camera {
            bind("camera = ?", Text(c.clone()));
        }
        if let Some(z) = &q.zone {
            bind("zone = ?", Text(z.clone()));
        }
        if let Some(k) = q.kind {
            bind("kind = ?", Text(k.as_str().to_owned()));
        }
        if let Some(r) = &q.reason {
            bind("reason = ?", Text(r.clone()));
        }
        if let Some(r) = q.review {
            bind("review = ?", Text(r.as_str().to_owned()));
        }
        if let Some(t) = q.since {
            bind("time >= ?", Text(time_key(t)));
        }
        if let Some(t) = q.until {
            bind("time < ?", Text(time_key(t)));
        }
        if let Some(p) = &q.plate {
            let p = normalise_plate(p);
            match q.plate_match {
                PlateMatch::Exact => bind("plate = ?", Text(p)),
                PlateMatch::Prefix => {
                    // A range on the indexed column (LIKE would scan every row): every plate
                    // starting with `p` sorts at or after `p` and before `p` + U+10FFFF.
                    bind("plate >= ?", Text(p.clone()));
                    bind("plate < ?", Text(format!("{p}\u{10FFFF}")));
                }
                PlateMatch::Confusable => bind("plate_key = ?", Text(confusable_key(&p))),
            }
        }
        if let Some(s) = &q.subject_id {
            bind("subject_id = ?", Text(s.clone()));
        }
        if let Some(t) = &q.text {
            bind(
                "explanation LIKE ? ESCAPE '\\'",
                Text(format!("%{}%", like_escape(t))),
            );
        }
        if let Some((zones, cameras)) = &q.scope {
            let mut ors = Vec::new();
            for z in zones {
                args.push(Text(z.clone()));
                ors.push(format!("zone = ?{}", args.len()));
            }
            for c in cameras {
                args.push(Text(c.clone()));
                ors.push(format!("camera = ?{}", args.len()));
            }
            clauses.push(if ors.is_empty() {
                "0".to_owned()
            } else {
                format!("({})", ors.join(" OR "))
            });
        }
        let order_sql = match q.order {
            Order::Newest => {
                if let Some(c) = &q.cursor {
                    let (_, time, id) = decode_cursor(q.order, c)?;
                    args.push(Text(time));
                    args.push(Text(id));
                    clauses.push(format!(
                        "(time, event_id) < (?{}, ?{})",
                        args.len() - 1,
                        args.len()
                    ));
                }
                "ORDER BY time DESC, event_id DESC"
            }
            Order::OldestPending => {
                clauses.push("queue IS NOT NULL".to_owned());
                if let Some(c) = &q.cursor {
                    let (queue, time, id) = decode_cursor(q.order, c)?;
                    args.push(Integer(queue));
                    args.push(Text(time));
                    args.push(Text(id));
                    clauses.push(format!(
                        "(queue, time, event_id) > (?{}, ?{}, ?{})",
                        args.len() - 2,
                        args.len() - 1,
                        args.len()
                    ));
                }
                "ORDER BY queue, time, event_id"
            }
        };
        let limit = q.limit.clamp(1, 500);
        let sql = format!(
            "SELECT event_id, {json_column}, review, review_version, queue, time FROM events {} {} LIMIT {}",
            if clauses.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", clauses.join(" AND "))
            },
            order_sql,
            limit + 1
        );
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(self.db("listing events"))?;
        type Row = (String, String, String, i64, Option<i64>, String);
        let rows: Vec<Row> = stmt
            .query_map(params_from_iter(args.iter()), |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(self.db("listing events"))?;
        Ok((rows, limit))
    }

    /// One event as a reviewer sees it, or `None`.
    pub fn reviewed(&self, event_id: &str) -> Result<Option<ReviewedEvent>, EventError> {
        let row: Option<(String, String, i64)> = self
            .conn
            .query_row(
                "SELECT json, review, review_version FROM events WHERE event_id = ?1",
                [event_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(self.db("reading an event"))?;
        let Some((json, review, version)) = row else {
            return Ok(None);
        };
        let mut event = self.parse(event_id, &json)?;
        event.review = Review::parse(&review).unwrap_or(event.review);
        Ok(Some(ReviewedEvent {
            event,
            review_version: version.max(0) as u64,
            verdicts: self.verdicts(event_id)?,
        }))
    }

    /// The verdicts of one event, oldest first.
    pub fn verdicts(&self, event_id: &str) -> Result<Vec<VerdictRecord>, EventError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at, actor, verdict, reason, note, review_after, version FROM verdicts
                 WHERE event_id = ?1 ORDER BY id",
            )
            .map_err(self.db("reading verdicts"))?;
        stmt.query_map([event_id], |r| {
            Ok(VerdictRecord {
                at: r.get(0)?,
                actor: r.get(1)?,
                verdict: r.get(2)?,
                reason: r.get(3)?,
                note: r.get(4)?,
                review_after: r.get(5)?,
                version: r.get::<_, i64>(6)?.max(0) as u64,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.db("reading verdicts"))
    }

    /// Records `verdict` by `actor` at `at` on `event_id`, made on review version
    /// `expected_version`, in one transaction; returns the event as it now stands.
    pub fn apply_verdict(
        &mut self,
        event_id: &str,
        expected_version: u64,
        verdict: &Verdict,
        actor: &str,
        at: WallTime,
    ) -> Result<ReviewedEvent, ReviewError> {
        let note = match verdict {
            Verdict::Confirm => None,
            Verdict::Dismiss { note, .. } | Verdict::Escalate { note } => {
                note.as_deref().map(str::trim).filter(|n| !n.is_empty())
            }
        };
        if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
            return Err(ReviewError::Invalid(format!(
                "note: at most {MAX_NOTE_CHARS} characters"
            )));
        }
        if matches!(
            verdict,
            Verdict::Dismiss {
                reason: DismissReason::Other,
                ..
            }
        ) && note.is_none()
        {
            return Err(ReviewError::Invalid(
                "note: a dismissal for reason `other` needs a note saying why".to_owned(),
            ));
        }
        let path = self.path.clone();
        let db = |context| {
            let path = path.clone();
            move |source| EventError::Journal {
                path,
                context,
                source,
            }
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("starting a verdict"))?;
        let row: Option<(String, String, i64)> = tx
            .query_row(
                "SELECT kind, priority, review_version FROM events WHERE event_id = ?1",
                [event_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db("reading an event"))?;
        let Some((kind, priority, version)) = row else {
            return Err(ReviewError::UnknownEvent(event_id.to_owned()));
        };
        let current = version.max(0) as u64;
        if current != expected_version {
            return Err(ReviewError::Stale {
                event_id: event_id.to_owned(),
                current,
                given: expected_version,
            });
        }
        let four_eyes = kind == EventKind::StayHomeBreach.as_str();
        let review = match verdict {
            Verdict::Confirm if four_eyes => {
                // Confirmations since the event was last dismissed or escalated.
                let mut stmt = tx
                    .prepare(
                        "SELECT verdict, actor FROM verdicts WHERE event_id = ?1 ORDER BY id DESC",
                    )
                    .map_err(db("reading verdicts"))?;
                let history: Vec<(String, String)> = stmt
                    .query_map([event_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .and_then(|rows| rows.collect())
                    .map_err(db("reading verdicts"))?;
                let confirmers: Vec<&str> = history
                    .iter()
                    .take_while(|(v, _)| v == "confirm")
                    .map(|(_, a)| a.as_str())
                    .collect();
                if confirmers.contains(&actor) {
                    return Err(ReviewError::SameReviewer {
                        event_id: event_id.to_owned(),
                        actor: actor.to_owned(),
                    });
                }
                if confirmers.is_empty() {
                    Review::AwaitingSecond
                } else {
                    Review::Confirmed
                }
            }
            Verdict::Confirm => Review::Confirmed,
            Verdict::Dismiss { .. } => Review::Dismissed,
            Verdict::Escalate { .. } => Review::Escalated,
        };
        let new_version = current + 1;
        let reason = match verdict {
            Verdict::Dismiss { reason, .. } => Some(reason.as_str()),
            _ => None,
        };
        tx.execute(
            "INSERT INTO verdicts (event_id, at, actor, verdict, reason, note, review_after, version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                event_id,
                time_key(at),
                actor,
                verdict.name(),
                reason,
                note,
                review.as_str(),
                new_version as i64
            ],
        )
        .map_err(db("recording a verdict"))?;
        tx.execute(
            "UPDATE events SET review = ?2, review_version = ?3, queue = ?4 WHERE event_id = ?1",
            params![
                event_id,
                review.as_str(),
                new_version as i64,
                queue_of(review, &priority)
            ],
        )
        .map_err(db("recording a verdict"))?;
        tx.commit().map_err(db("committing a verdict"))?;
        self.reviewed(event_id)?
            .ok_or_else(|| ReviewError::UnknownEvent(event_id.to_owned()))
    }

    /// Dismissals per camera and reason: `(camera, reason, count)`, counting each event's
    /// latest verdict only when it is a dismissal.
    pub fn dismissals(&self) -> Result<Vec<(String, String, u64)>, EventError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT e.camera, v.reason, COUNT(*) FROM verdicts v JOIN events e USING (event_id)
                 WHERE v.verdict = 'dismiss' AND e.review = 'dismissed'
                   AND v.id = (SELECT MAX(id) FROM verdicts w WHERE w.event_id = v.event_id)
                 GROUP BY e.camera, v.reason ORDER BY e.camera, v.reason",
            )
            .map_err(self.db("counting dismissals"))?;
        stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                r.get::<_, i64>(2)?.max(0) as u64,
            ))
        })
        .and_then(|rows| rows.collect())
        .map_err(self.db("counting dismissals"))
    }

    /// Open events (pending, escalated, awaiting a second confirmation) per camera, within
    /// `scope` when given (zones, cameras).
    pub fn open_by_camera(
        &self,
        scope: Option<&(Vec<String>, Vec<String>)>,
    ) -> Result<Vec<(String, u64)>, EventError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT camera, zone, COUNT(*) FROM events WHERE queue IS NOT NULL
                 GROUP BY camera, zone ORDER BY camera",
            )
            .map_err(self.db("counting open events"))?;
        let rows: Vec<(String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect())
            .map_err(self.db("counting open events"))?;
        let mut out: Vec<(String, u64)> = Vec::new();
        for (camera, zone, n) in rows {
            if let Some((zones, cameras)) = scope {
                if !zones.contains(&zone) && !cameras.contains(&camera) {
                    continue;
                }
            }
            match out.last_mut() {
                Some((c, total)) if *c == camera => *total += n.max(0) as u64,
                _ => out.push((camera, n.max(0) as u64)),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecisionRecord, FaceSubject, MediaSpan, PlateSubject, EVENT_SCHEMA};
    use passwatch_base::time::MediaTime;
    use std::collections::BTreeMap;

    fn t(s: &str) -> WallTime {
        passwatch_base::time::parse_time(s).unwrap()
    }

    fn event(id: &str, time: &str, camera: &str, plate: Option<&str>) -> Event {
        let subject = match plate {
            Some(p) => Subject::Plate(PlateSubject {
                plate: p.to_owned(),
                region: None,
                confidence: 0.9,
                reads: vec![],
            }),
            None => Subject::Face(FaceSubject {
                subject_id: "S-1".to_owned(),
                similarity: 0.6,
                threshold: 0.4,
                far: None,
                faces_used: 1,
                comparisons: 1,
                media_times: vec![],
            }),
        };
        Event {
            schema: EVENT_SCHEMA.to_owned(),
            event_id: id.to_owned(),
            kind: if plate.is_some() {
                EventKind::NoValidPass
            } else {
                EventKind::StayHomeBreach
            },
            camera: camera.to_owned(),
            zone: format!("zone-{camera}"),
            source: "clip.mp4".to_owned(),
            time: t(time),
            media_time: MediaSpan {
                first: MediaTime::ZERO,
                last: MediaTime::ZERO,
            },
            subject,
            decision: DecisionRecord {
                rule: "no_valid_pass".to_owned(),
                reason: "unknown_plate".to_owned(),
                matched_pass: None,
                edit_cost: None,
                registry_version: 1,
                explanation: format!("no pass for {}", plate.unwrap_or("-")),
                matched_order: None,
                plate_probability: None,
                candidates: vec![],
            },
            evidence: None,
            models: BTreeMap::new(),
            review: Review::Pending,
            priority: Priority::Normal,
        }
    }

    fn journal() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path().join("journal.db")).unwrap();
        (dir, j)
    }

    #[test]
    fn pages_newest_first_without_gaps_or_repeats() {
        let (_d, j) = journal();
        for i in 0..23 {
            let time = format!("2026-04-10T12:00:{:02}.000Z", i / 2);
            j.insert(&event(&format!("ev-{i:02}"), &time, "a", Some("ABC123")))
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut q = EventQuery {
            limit: 5,
            ..EventQuery::default()
        };
        loop {
            let page = j.list(&q).unwrap();
            seen.extend(page.events.iter().map(|e| e.event.event_id.clone()));
            match page.next {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        let mut want: Vec<String> = (0..23).map(|i| format!("ev-{i:02}")).collect();
        want.reverse();
        assert_eq!(seen, want);
        // The raw page holds the same events, with the same review state.
        let q = EventQuery {
            limit: 5,
            ..EventQuery::default()
        };
        let (parsed, raw) = (j.list(&q).unwrap(), j.list_raw(&q).unwrap());
        assert_eq!(parsed.next, raw.next);
        for (p, r) in parsed.events.iter().zip(&raw.events) {
            let back: Event = serde_json::from_str(&r.json).unwrap();
            assert_eq!(back, p.event);
        }
    }

    #[test]
    fn plate_filters_exact_prefix_and_confusable_and_sql_is_inert() {
        let (_d, j) = journal();
        j.insert(&event(
            "ev-1",
            "2026-04-10T12:00:00.000Z",
            "a",
            Some("5DJ0529"),
        ))
        .unwrap();
        j.insert(&event(
            "ev-2",
            "2026-04-10T12:00:01.000Z",
            "a",
            Some("SDJO529"),
        ))
        .unwrap();
        j.insert(&event(
            "ev-3",
            "2026-04-10T12:00:02.000Z",
            "b",
            Some("XYZ999"),
        ))
        .unwrap();
        let ids = |q: EventQuery| -> Vec<String> {
            j.list(&EventQuery { limit: 50, ..q })
                .unwrap()
                .events
                .into_iter()
                .map(|e| e.event.event_id)
                .collect()
        };
        let plate = |p: &str, m| EventQuery {
            plate: Some(p.to_owned()),
            plate_match: m,
            ..EventQuery::default()
        };
        assert_eq!(ids(plate("5dj-0529", PlateMatch::Exact)), ["ev-1"]);
        assert_eq!(
            ids(plate("S0J0529", PlateMatch::Confusable)),
            ["ev-2", "ev-1"]
        );
        assert_eq!(ids(plate("XY", PlateMatch::Prefix)), ["ev-3"]);
        assert!(ids(plate("%", PlateMatch::Prefix)).is_empty());
        let inert = EventQuery {
            camera: Some("a' OR '1'='1".to_owned()),
            ..EventQuery::default()
        };
        assert!(ids(inert).is_empty());
        let scoped = EventQuery {
            scope: Some((vec!["zone-b".to_owned()], vec![])),
            ..EventQuery::default()
        };
        assert_eq!(ids(scoped), ["ev-3"]);
    }

    #[test]
    fn verdicts_follow_the_version_and_a_face_needs_two_reviewers() {
        let (_d, mut j) = journal();
        j.insert(&event(
            "ev-p",
            "2026-04-10T12:00:00.000Z",
            "a",
            Some("ABC123"),
        ))
        .unwrap();
        j.insert(&event("ev-f", "2026-04-10T12:00:01.000Z", "a", None))
            .unwrap();
        let now = t("2026-04-11T08:00:00Z");
        let r = j
            .apply_verdict("ev-p", 0, &Verdict::Confirm, "ann", now)
            .unwrap();
        assert_eq!((r.event.review, r.review_version), (Review::Confirmed, 1));
        assert!(matches!(
            j.apply_verdict("ev-p", 0, &Verdict::Escalate { note: None }, "bob", now),
            Err(ReviewError::Stale {
                current: 1,
                given: 0,
                ..
            })
        ));
        let r = j
            .apply_verdict("ev-f", 0, &Verdict::Confirm, "ann", now)
            .unwrap();
        assert_eq!(r.event.review, Review::AwaitingSecond);
        assert!(matches!(
            j.apply_verdict("ev-f", 1, &Verdict::Confirm, "ann", now),
            Err(ReviewError::SameReviewer { .. })
        ));
        let r = j
            .apply_verdict("ev-f", 1, &Verdict::Confirm, "bob", now)
            .unwrap();
        assert_eq!(r.event.review, Review::Confirmed);
        assert_eq!(r.verdicts.len(), 2);
        assert!(matches!(
            j.apply_verdict(
                "ev-f",
                2,
                &Verdict::Dismiss {
                    reason: DismissReason::Other,
                    note: Some("  ".into())
                },
                "bob",
                now
            ),
            Err(ReviewError::Invalid(_))
        ));
        j.apply_verdict(
            "ev-f",
            2,
            &Verdict::Dismiss {
                reason: DismissReason::Misread,
                note: None,
            },
            "bob",
            now,
        )
        .unwrap();
        assert_eq!(
            j.dismissals().unwrap(),
            [("a".to_owned(), "misread".to_owned(), 1)]
        );
        // The queue holds neither now.
        let q = EventQuery {
            order: Order::OldestPending,
            limit: 10,
            ..EventQuery::default()
        };
        assert!(j.list(&q).unwrap().events.is_empty());
    }

    #[test]
    fn a_version_1_journal_is_migrated_with_its_events_filterable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(JOURNAL_SCHEMA_1).unwrap();
            conn.execute_batch("PRAGMA user_version = 1").unwrap();
            let e = event("ev-old", "2026-04-10T12:00:00.000Z", "a", Some("OLD123"));
            conn.execute(
                "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    e.event_id,
                    e.kind.as_str(),
                    e.camera,
                    time_key(e.time),
                    e.to_json_line().unwrap(),
                    "pending"
                ],
            )
            .unwrap();
        }
        let j = Journal::open(&path).unwrap();
        let q = EventQuery {
            plate: Some("0LD123".to_owned()),
            plate_match: PlateMatch::Confusable,
            order: Order::OldestPending,
            limit: 10,
            ..EventQuery::default()
        };
        let page = j.list(&q).unwrap();
        assert_eq!(page.events.len(), 1);
        assert_eq!(page.events[0].event.event_id, "ev-old");
    }
}
