//! Events: what a violation looks like on the wire, its stable id, and where it is written.
//!
//! An [`Event`] is one JSON object of the versioned schema [`EVENT_SCHEMA`], written as one line.
//! Its fields come in a fixed order, maps are sorted, times are UTC with milliseconds and every
//! float is rounded to 3 decimals, so the same sighting decided the same way gives the same
//! bytes: two replays of a file give identical event files.
//!
//! The [`event_id`] is derived from the camera, the source, the track's first media time, the
//! subject (plate or watchlist subject) and the rule, so a replay or a redelivery of a sighting
//! makes the same id, and two tracks first seen in one frame make two. Both sinks de-duplicate
//! by it, which turns at-least-once delivery upstream into exactly-once in the file:
//!
//! - [`JsonlSink`] appends to `events.jsonl`, and reads the ids already in the file when it
//!   opens it;
//! - [`Journal`] keeps events in SQLite (`journal.db`) under `INSERT OR IGNORE`.
//!
//! Privacy: events are built only from violations and doubtful sightings left for review
//! (`needs_review`, low priority) ([`build_plate_event`] and
//! [`build_face_event`] return `None` for any other decision), and nothing in this module is
//! given, let alone stores, a sighting that raised no event. Plate reads that raise nothing are
//! only counted upstream. A face event carries the subject's id, the similarity and the media
//! times of the faces matched, never an embedding (a [`FaceSighting`] holds none).
//!
//! ```json
//! {"schema":"passwatch.event.v1","event_id":"ev-…","kind":"no_valid_pass","camera":"gate-north",
//!  "zone":"centre","source":"/clips/clip.mp4","time":"2026-04-10T12:00:00.250Z",
//!  "media_time":{"first":12.25,"last":13.5},
//!  "subject":{"type":"plate","plate":"ABC123","region":"us","confidence":0.912,"reads":[…]},
//!  "decision":{"rule":"no_valid_pass","reason":"expired","matched_pass":{…},"edit_cost":0.0,
//!              "registry_version":4,"explanation":"pass … for ABC123 expired at …",
//!              "plate_probability":0.912,
//!              "candidates":[{"code":"…","plate":"ABC128","probability":0.0000031,"reason":null}]},
//!  "evidence":{"crop":{"file":"evidence/ev-…/crop.jpg","sha256":"…"},"frame":{…}},
//!  "models":{"plate_detector":"…","plate_ocr":"…"},"review":"pending","priority":"normal"}
//! ```
//!
//! A `needs_review` event (a sighting the rules could neither clear nor accuse) has the same
//! fields, `"reason":"doubtful"`, no matched pass, its candidates, and `"priority":"low"`.
//! `plate_probability` and each candidate's `probability` are the probabilities the track's
//! reads give those plates, to 3 significant digits; `candidates` is left out when empty.
//!
//! A `stay_home_breach` event has the same fields; its subject and decision read
//!
//! ```json
//!  "subject":{"type":"face","subject_id":"S-17","similarity":0.58,"threshold":0.43,"far":0.0001,
//!             "faces_used":3,"comparisons":36,"media_times":[4.0,4.5,5.0]},
//!  "decision":{"rule":"stay_home_breach","reason":"outside_home_zone","matched_pass":null,
//!              "edit_cost":null,"registry_version":7,"explanation":"face matches subject S-17 …",
//!              "matched_order":{"order_from":"…","order_until":"…","home_zone":"north",
//!                               "status":"active"}},
//! ```
//!
//! and its `review` is always `pending`: a face match is never final. `far` is the false-accept
//! rate the threshold was measured at (`null` for a threshold set by hand), written exactly;
//! `matched_order` appears only in face events, so plate events are unchanged.
#![deny(missing_docs)]

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod audit;
pub mod case;
pub mod evidence;
pub mod privacy;
pub mod retention;
pub mod review;
pub mod sink;

pub use crate::evidence::{write_evidence, Evidence, EvidenceFile};
pub use crate::sink::{EventSink, FolderSink, MemorySink, NullSink};
use passwatch_base::time::{MediaTime, WallTime};
use passwatch_registry::passes::{format_time, parse_time};
use passwatch_registry::{Pass, PassStatus, SubjectInfo, SubjectStatus};
use passwatch_rules::face_sighting::FaceSighting;
use passwatch_rules::sighting::PlateSighting;
use passwatch_rules::{
    FaceDecision, FaceOutcome, PlateDecision, PlateOutcome, RULE_NO_VALID_PASS,
    RULE_STAY_HOME_BREACH,
};

/// The schema id every event carries.
pub const EVENT_SCHEMA: &str = "passwatch.event.v1";

/// Everything that can go wrong writing or reading events and evidence.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An evidence image could not be encoded.
    #[error("cannot encode the {what} of event {event_id} as JPEG")]
    Encode {
        /// The event.
        event_id: String,
        /// `crop.jpg` or `frame.jpg`.
        what: String,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
    /// An event could not be serialised (not expected: events hold only plain data).
    #[error("cannot serialise event {event_id}")]
    Serialise {
        /// The event.
        event_id: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The journal was written by a newer passwatch.
    #[error(
        "event journal {}: schema version {found} is newer than the {supported} this passwatch \
         knows; upgrade passwatch",
        path.display()
    )]
    NewerJournal {
        /// The journal file.
        path: PathBuf,
        /// The file's schema version.
        found: u32,
        /// The newest version this program knows.
        supported: u32,
    },
    /// The SQLite journal failed while doing `context`.
    #[error("event journal {}: {context}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What was being done.
        context: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored event does not parse as an event.
    #[error("event journal {}: stored event {event_id} is not a valid event", path.display())]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// The event.
        event_id: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// An event id that cannot name an evidence folder.
    #[error("bad event id {0:?}: use 1 to 64 ASCII letters, digits, '-' or '_'")]
    BadEventId(String),
}

impl EventError {
    /// Whether trying again may succeed (a busy database, an interrupted write); the sinks keep
    /// no half state, so emitting the same event again is safe.
    pub fn is_retryable(&self) -> bool {
        match self {
            EventError::Write { source, .. } | EventError::Read { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
            ),
            EventError::Journal {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}

/// What kind of event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A vehicle in a restricted zone without a valid pass.
    NoValidPass,
    /// A vehicle in a restricted zone that the rules could neither clear nor accuse: a valid
    /// pass is plausible but not probable enough, or the read is not sure of its own plate.
    /// Low priority; its decision lists the candidates.
    NeedsReview,
    /// A person under a stay-home order seen outside their home zone.
    StayHomeBreach,
    /// A pass checked at a checkpoint (QR).
    PassCheck,
}

impl EventKind {
    /// The name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::NoValidPass => "no_valid_pass",
            EventKind::NeedsReview => "needs_review",
            EventKind::StayHomeBreach => "stay_home_breach",
            EventKind::PassCheck => "pass_check",
        }
    }
}

/// Where an event is in its human review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Review {
    /// Not reviewed yet (every new event).
    Pending,
    /// A reviewer confirmed it.
    Confirmed,
    /// A reviewer dismissed it.
    Dismissed,
    /// A reviewer escalated it to a supervisor: still to be decided.
    Escalated,
    /// A face event one reviewer confirmed: a second, different reviewer must confirm it too
    /// (four eyes) before it is confirmed.
    AwaitingSecond,
}

impl Review {
    /// The name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Review::Pending => "pending",
            Review::Confirmed => "confirmed",
            Review::Dismissed => "dismissed",
            Review::Escalated => "escalated",
            Review::AwaitingSecond => "awaiting_second",
        }
    }

    /// Reads the name used in events.
    pub fn parse(text: &str) -> Option<Review> {
        [
            Review::Pending,
            Review::Confirmed,
            Review::Dismissed,
            Review::Escalated,
            Review::AwaitingSecond,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }

    /// Whether a reviewer still has to act on it (pending, escalated or awaiting a second
    /// confirmation).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Review::Pending | Review::Escalated | Review::AwaitingSecond
        )
    }
}

/// The first and last media times of the sighting, written as seconds with 3 decimals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaSpan {
    /// First analysed frame of the track.
    #[serde(with = "media_secs")]
    pub first: MediaTime,
    /// Last analysed frame of the track.
    #[serde(with = "media_secs")]
    pub last: MediaTime,
}

/// One read of the plate, in the subject's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadRecord {
    /// Media time of the frame (seconds, 3 decimals).
    #[serde(with = "media_secs")]
    pub media_time: MediaTime,
    /// The text read in that frame.
    pub text: String,
    /// Its confidence (3 decimals).
    #[serde(with = "fixed3")]
    pub confidence: f64,
}

/// A plate subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlateSubject {
    /// The consensus plate, normalised.
    pub plate: String,
    /// The plate-format region the consensus fits, if any.
    pub region: Option<String>,
    /// The consensus confidence (3 decimals).
    #[serde(with = "fixed3")]
    pub confidence: f64,
    /// Every read of the track, in frame order.
    pub reads: Vec<ReadRecord>,
}

/// A watchlist subject, matched by face.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceSubject {
    /// The subject's opaque id.
    pub subject_id: String,
    /// Cosine similarity of the best face to the subject's best reference (3 decimals).
    #[serde(with = "fixed3")]
    pub similarity: f64,
    /// The threshold it was above (3 decimals; the explanation shows more digits where 3 would
    /// show the two equal).
    #[serde(with = "fixed3")]
    pub threshold: f64,
    /// The false-accept rate the threshold stands for, as measured; `None` for a threshold set
    /// by hand.
    pub far: Option<f64>,
    /// How many faces of the track were matched.
    pub faces_used: usize,
    /// Face-to-reference comparisons behind the decision; `far` is per comparison, so the
    /// chance of a false match for this passer-by is up to `far × comparisons`.
    pub comparisons: u64,
    /// Their media times (seconds, 3 decimals), in frame order.
    #[serde(with = "media_secs_list")]
    pub media_times: Vec<MediaTime>,
}

/// Who or what the event is about, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Subject {
    /// A vehicle, by its plate.
    Plate(PlateSubject),
    /// A person under a stay-home order, by face.
    Face(FaceSubject),
}

/// The pass a decision matched, as shown in an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PassRecord {
    /// The pass code.
    pub code: String,
    /// Its plate.
    pub plate: Option<String>,
    /// Start of validity (RFC 3339 UTC).
    #[serde(with = "rfc3339")]
    pub valid_from: WallTime,
    /// End of validity (RFC 3339 UTC).
    #[serde(with = "rfc3339")]
    pub valid_until: WallTime,
    /// The zones it allows (`["*"]` for every zone).
    pub zones: Vec<String>,
    /// Active or revoked.
    pub status: PassStatus,
}

impl From<&Pass> for PassRecord {
    fn from(p: &Pass) -> Self {
        PassRecord {
            code: p.code.clone(),
            plate: p.plate.clone(),
            valid_from: p.valid_from,
            valid_until: p.valid_until,
            zones: p.zones.clone().into(),
            status: p.status,
        }
    }
}

/// The stay-home order a face decision matched, as shown in an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// Start of the order (RFC 3339 UTC, inclusive).
    #[serde(with = "rfc3339")]
    pub order_from: WallTime,
    /// End of the order (RFC 3339 UTC, exclusive).
    #[serde(with = "rfc3339")]
    pub order_until: WallTime,
    /// The subject's home zone.
    pub home_zone: String,
    /// Active or inactive.
    pub status: SubjectStatus,
}

impl From<&SubjectInfo> for OrderRecord {
    fn from(s: &SubjectInfo) -> Self {
        OrderRecord {
            order_from: s.order_from,
            order_until: s.order_until,
            home_zone: s.home_zone.clone(),
            status: s.status,
        }
    }
}

/// Why the event was raised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The rule, e.g. `no_valid_pass`.
    pub rule: String,
    /// The reason, e.g. `expired`.
    pub reason: String,
    /// The pass matched, if any.
    pub matched_pass: Option<PassRecord>,
    /// The edit cost of the matched pass (3 decimals), if any.
    #[serde(with = "fixed3_opt")]
    pub edit_cost: Option<f64>,
    /// The registry version the decision was taken against.
    pub registry_version: u64,
    /// One line for a person: why.
    pub explanation: String,
    /// The stay-home order matched (face events only; absent from plate events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_order: Option<OrderRecord>,
    /// The probability the track's reads give the event's plate, 3 significant digits (plate
    /// events only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "significant3_opt"
    )]
    pub plate_probability: Option<f64>,
    /// The near passes weighed, most probable first (plate events with any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<CandidateRecord>,
}

/// A near pass a plate decision weighed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// The pass code.
    pub code: String,
    /// Its plate.
    pub plate: String,
    /// The probability the track's reads give that plate, 3 significant digits.
    #[serde(with = "significant3")]
    pub probability: f64,
    /// Why the pass does not clear the vehicle here and now (`expired`, …), or `null` for a
    /// valid pass that was not probable enough.
    pub reason: Option<String>,
}

/// How urgent a review is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// A violation or a breach.
    #[default]
    Normal,
    /// A doubtful sighting (`needs_review`).
    Low,
}

/// One event, schema [`EVENT_SCHEMA`]. Field order is the order written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Always [`EVENT_SCHEMA`].
    pub schema: String,
    /// Stable id; see [`event_id`].
    pub event_id: String,
    /// What kind of event.
    pub kind: EventKind,
    /// The camera id.
    pub camera: String,
    /// The camera's zone.
    pub zone: String,
    /// The source the frames came from.
    pub source: String,
    /// Wall-clock time of the sighting, UTC, written with milliseconds.
    #[serde(with = "millis_time")]
    pub time: WallTime,
    /// Media times of the sighting.
    pub media_time: MediaSpan,
    /// Who or what.
    pub subject: Subject,
    /// Why.
    pub decision: DecisionRecord,
    /// The images, when the sighting had them.
    pub evidence: Option<Evidence>,
    /// Model ids used, by role (sorted by role).
    pub models: BTreeMap<String, String>,
    /// Review state.
    pub review: Review,
    /// How urgent its review is.
    #[serde(default)]
    pub priority: Priority,
}

impl Event {
    /// The event as one JSON line (without the newline). Deterministic: see the module docs.
    pub fn to_json_line(&self) -> Result<String, EventError> {
        serde_json::to_string(self).map_err(|source| EventError::Serialise {
            event_id: self.event_id.clone(),
            source,
        })
    }
}

/// The stable id of the event a rule raises for one track: `ev-` and the first 20 hex digits
/// (80 bits) of SHA-256 over a versioned encoding of the camera, the source, the track's first
/// media time (nanoseconds) and the rule. Each text is length-prefixed, so no two different
/// inputs share an encoding.
pub fn event_id(
    camera: &str,
    source: &str,
    track_first_seen: MediaTime,
    subject: &str,
    rule: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(b"passwatch.event_id.v2\0");
    for text in [camera, source] {
        h.update((text.len() as u64).to_be_bytes());
        h.update(text.as_bytes());
    }
    h.update(track_first_seen.as_nanos().to_be_bytes());
    // Two vehicles or people first seen in the same frame are told apart by what they are.
    h.update((subject.len() as u64).to_be_bytes());
    h.update(subject.as_bytes());
    h.update((rule.len() as u64).to_be_bytes());
    h.update(rule.as_bytes());
    let digest = hex::encode(h.finalize());
    format!("ev-{}", &digest[..20])
}

/// Builds the event of a plate violation; `None` for a decision that raises no event. `models`
/// maps each model role to the id of the model used; `evidence` is what [`write_evidence`]
/// returned, if the sighting had images.
pub fn build_plate_event(
    sighting: &PlateSighting,
    decision: &PlateDecision,
    models: &BTreeMap<String, String>,
    evidence: Option<Evidence>,
) -> Option<Event> {
    let (kind, reason, matched_pass, cost, probability, candidates, priority) =
        match &decision.outcome {
            PlateOutcome::Violation {
                reason,
                matched_pass,
                cost,
                candidates,
                probability,
            } => (
                EventKind::NoValidPass,
                reason.as_str(),
                matched_pass.as_ref(),
                *cost,
                *probability,
                candidates,
                Priority::Normal,
            ),
            PlateOutcome::NeedsReview {
                probability,
                candidates,
            } => (
                EventKind::NeedsReview,
                "doubtful",
                None,
                None,
                *probability,
                candidates,
                Priority::Low,
            ),
            _ => return None,
        };
    Some(Event {
        schema: EVENT_SCHEMA.to_owned(),
        event_id: event_id(
            &sighting.camera_id,
            &sighting.source_key,
            sighting.first_seen,
            &sighting.plate,
            RULE_NO_VALID_PASS,
        ),
        kind,
        camera: sighting.camera_id.clone(),
        zone: decision.zone.clone().unwrap_or_default(),
        source: sighting.source.clone(),
        // Held at the precision written, so an event read back equals the one built.
        time: truncate_to_millis(sighting.wall_time),
        media_time: MediaSpan {
            first: truncate_media(sighting.first_seen),
            last: truncate_media(sighting.last_seen),
        },
        subject: Subject::Plate(PlateSubject {
            plate: sighting.plate.clone(),
            region: sighting.region.clone(),
            confidence: round3(f64::from(sighting.confidence)),
            reads: sighting
                .reads
                .iter()
                .map(|r| ReadRecord {
                    media_time: truncate_media(r.media_time),
                    text: r.text.clone(),
                    confidence: round3(f64::from(r.confidence)),
                })
                .collect(),
        }),
        decision: DecisionRecord {
            rule: RULE_NO_VALID_PASS.to_owned(),
            reason: reason.to_owned(),
            matched_pass: matched_pass.map(PassRecord::from),
            edit_cost: cost.map(|c| round3(f64::from(c))),
            registry_version: decision.registry_version,
            explanation: decision.explanation.clone(),
            matched_order: None,
            plate_probability: Some(significant3(probability)),
            candidates: candidates
                .iter()
                .map(|c| CandidateRecord {
                    code: c.pass.code.clone(),
                    plate: c.pass.plate.clone().unwrap_or_default(),
                    probability: significant3(c.probability),
                    reason: c.reason.map(|r| r.as_str().to_owned()),
                })
                .collect(),
        },
        evidence,
        models: models.clone(),
        review: Review::Pending,
        priority,
    })
}

/// The reason of every stay-home breach (the rule has one way to be broken).
pub const REASON_OUTSIDE_HOME_ZONE: &str = "outside_home_zone";

/// Builds the event of a stay-home breach; `None` for a decision that raises no event. `models`
/// maps each model role (`face_detector`, `face_embedder`) to the id of the model used;
/// `evidence` is what [`write_evidence`] returned for the face crop and its frame (other faces
/// blurred), if the sighting had images. The event is always pending review.
pub fn build_face_event(
    sighting: &FaceSighting,
    decision: &FaceDecision,
    models: &BTreeMap<String, String>,
    evidence: Option<Evidence>,
) -> Option<Event> {
    let FaceOutcome::Breach {
        subject_id,
        similarity,
    } = &decision.outcome
    else {
        return None;
    };
    Some(Event {
        schema: EVENT_SCHEMA.to_owned(),
        event_id: event_id(
            &sighting.camera_id,
            &sighting.source_key,
            sighting.first_seen,
            subject_id,
            RULE_STAY_HOME_BREACH,
        ),
        kind: EventKind::StayHomeBreach,
        camera: sighting.camera_id.clone(),
        zone: decision.zone.clone().unwrap_or_default(),
        source: sighting.source.clone(),
        time: truncate_to_millis(sighting.wall_time),
        media_time: MediaSpan {
            first: truncate_media(sighting.first_seen),
            last: truncate_media(sighting.last_seen),
        },
        subject: Subject::Face(FaceSubject {
            subject_id: subject_id.clone(),
            similarity: round3(f64::from(*similarity)),
            threshold: round3(f64::from(decision.threshold.cosine)),
            far: decision.threshold.far.filter(|f| f.is_finite()),
            faces_used: sighting.faces.len(),
            comparisons: decision.comparisons,
            media_times: sighting
                .faces
                .iter()
                .map(|f| truncate_media(f.media_time))
                .collect(),
        }),
        decision: DecisionRecord {
            rule: RULE_STAY_HOME_BREACH.to_owned(),
            reason: REASON_OUTSIDE_HOME_ZONE.to_owned(),
            matched_pass: None,
            edit_cost: None,
            registry_version: decision.registry_version,
            explanation: decision.explanation.clone(),
            matched_order: decision.subject.as_ref().map(OrderRecord::from),
            plate_probability: None,
            candidates: Vec::new(),
        },
        evidence,
        models: models.clone(),
        review: Review::Pending,
        priority: Priority::Normal,
    })
}

fn truncate_to_millis(t: WallTime) -> WallTime {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

fn truncate_media(t: MediaTime) -> MediaTime {
    MediaTime::from_nanos(t.as_millis() * 1_000_000)
}

/// Rounds to 3 decimals; non-finite values become 0 (JSON has no NaN).
/// `x` to 3 significant digits (0 for a non-finite value): probabilities span many decades.
fn significant3(x: f64) -> f64 {
    if x.is_finite() && x != 0.0 {
        format!("{x:.2e}").parse().unwrap_or(0.0)
    } else {
        0.0
    }
}

mod significant3 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(super::significant3(*x))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        f64::deserialize(d)
    }
}

mod significant3_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(x) => s.serialize_f64(super::significant3(*x)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<f64>::deserialize(d)
    }
}

fn round3(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

mod fixed3 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(super::round3(*x))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        f64::deserialize(d)
    }
}

mod fixed3_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(x) => s.serialize_f64(super::round3(*x)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<f64>::deserialize(d)
    }
}

mod media_secs {
    use passwatch_base::time::MediaTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &MediaTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(t.as_millis() as f64 / 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MediaTime, D::Error> {
        let secs = f64::deserialize(d)?;
        Ok(MediaTime::from_nanos(
            ((secs.max(0.0) * 1000.0).round() as u64) * 1_000_000,
        ))
    }
}

mod media_secs_list {
    use passwatch_base::time::MediaTime;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(times: &[MediaTime], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(times.len()))?;
        for t in times {
            seq.serialize_element(&(t.as_millis() as f64 / 1000.0))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<MediaTime>, D::Error> {
        Ok(Vec::<f64>::deserialize(d)?
            .into_iter()
            .map(|secs| {
                MediaTime::from_nanos(((secs.max(0.0) * 1000.0).round() as u64) * 1_000_000)
            })
            .collect())
    }
}

mod millis_time {
    use chrono::SecondsFormat;
    use passwatch_base::time::WallTime;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &WallTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<WallTime, D::Error> {
        let text = String::deserialize(d)?;
        passwatch_registry::passes::parse_time(&text).map_err(D::Error::custom)
    }
}

mod rfc3339 {
    use passwatch_base::time::WallTime;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &WallTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<WallTime, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_time(&text).map_err(D::Error::custom)
    }
}

/// Appends events to a JSONL file (`events.jsonl`), one line each, never the same id twice.
#[derive(Debug)]
pub struct JsonlSink {
    path: PathBuf,
    writer: BufWriter<File>,
    ids: HashSet<String>,
    written: u64,
    duplicates: u64,
    skipped_lines: u64,
}

/// Just the id of a stored line.
#[derive(Deserialize)]
struct IdOnly {
    event_id: String,
}

impl JsonlSink {
    /// Opens (creating if needed) a JSONL event file for appending, after reading the ids of the
    /// events already in it.
    ///
    /// A last line without its newline (a crash mid-write) is dropped if it is not a whole
    /// event, and completed with a newline if it is. Lines that are not events are skipped with
    /// a warning and counted ([`JsonlSink::skipped_lines`]); they are left in the file.
    pub fn open(path: impl AsRef<Path>) -> Result<JsonlSink, EventError> {
        let path = path.as_ref().to_owned();
        let read_err = |source| EventError::Read {
            path: path.clone(),
            source,
        };
        let write_err = |source| EventError::Write {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(write_err)?;
        let mut ids = HashSet::new();
        let mut skipped_lines = 0u64;
        let mut needs_newline = false;
        let mut truncate_at = None;
        {
            let mut reader = BufReader::new(&mut file);
            let mut line = Vec::new();
            let mut offset = 0u64;
            let mut number = 0u64;
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).map_err(read_err)?;
                if n == 0 {
                    break;
                }
                number += 1;
                let complete = line.last() == Some(&b'\n');
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                if text.iter().all(u8::is_ascii_whitespace) {
                    offset += n as u64;
                    continue;
                }
                match serde_json::from_slice::<IdOnly>(text) {
                    Ok(row) => {
                        ids.insert(row.event_id);
                        needs_newline = !complete;
                    }
                    Err(e) if !complete => {
                        tracing::warn!(
                            file = %path.display(), line = number, error = %e,
                            "dropping a partly written last line"
                        );
                        truncate_at = Some(offset);
                    }
                    Err(e) => {
                        tracing::warn!(
                            file = %path.display(), line = number, error = %e,
                            "skipping a line that is not an event"
                        );
                        skipped_lines += 1;
                    }
                }
                offset += n as u64;
            }
        }
        if let Some(len) = truncate_at {
            file.set_len(len).map_err(write_err)?;
        }
        file.seek(SeekFrom::End(0)).map_err(write_err)?;
        let mut writer = BufWriter::new(file);
        if needs_newline {
            writer.write_all(b"\n").map_err(write_err)?;
        }
        Ok(JsonlSink {
            path,
            writer,
            ids,
            written: 0,
            duplicates: 0,
            skipped_lines,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether an event with this id is in the file.
    pub fn contains(&self, event_id: &str) -> bool {
        self.ids.contains(event_id)
    }

    /// How many events are in the file.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the file holds no event.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Events written since opening.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Events not written since opening because their id was already in the file.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Lines of the file that were not events when it was opened.
    pub fn skipped_lines(&self) -> u64 {
        self.skipped_lines
    }
}

impl JsonlSink {
    /// Writes one event (or nothing, if its id was written before).
    pub fn emit(&mut self, event: &Event) -> Result<(), EventError> {
        if self.ids.contains(&event.event_id) {
            self.duplicates += 1;
            tracing::debug!(event_id = %event.event_id, "event already in the file");
            return Ok(());
        }
        let mut line = event.to_json_line()?;
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|source| EventError::Write {
                path: self.path.clone(),
                source,
            })?;
        self.ids.insert(event.event_id.clone());
        self.written += 1;
        Ok(())
    }

    /// Makes everything written so far durable (flushed and synced).
    pub fn flush(&mut self) -> Result<(), EventError> {
        let err = |source| EventError::Write {
            path: self.path.clone(),
            source,
        };
        self.writer.flush().map_err(err)?;
        self.writer.get_ref().sync_data().map_err(err)
    }
}

/// The event journal: every event in SQLite (`journal.db`), keyed by `event_id`.
#[derive(Debug)]
pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

/// Version 1: the events, keyed by id, with their JSON as written. Version 2
/// ([`review::MIGRATION_2`]) adds the columns the review API filters on and the verdicts.
pub(crate) const JOURNAL_SCHEMA_1: &str = "
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY NOT NULL,
    kind     TEXT NOT NULL,
    camera   TEXT NOT NULL,
    time     TEXT NOT NULL,
    json     TEXT NOT NULL,
    review   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time);
";

impl Journal {
    /// Opens (creating if needed) the journal at `path`, in WAL mode with full sync.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, EventError> {
        let path = path.as_ref().to_owned();
        let db = |context| {
            let path = path.clone();
            move |source| EventError::Journal {
                path,
                context,
                source,
            }
        };
        let conn = Connection::open(&path).map_err(db("opening"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db("setting the busy timeout"))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(db("switching to WAL mode"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db("setting synchronous"))?;
        let mut journal = Journal { conn, path };
        journal.migrate()?;
        Ok(journal)
    }

    fn db(&self, context: &'static str) -> impl FnOnce(rusqlite::Error) -> EventError + '_ {
        move |source| EventError::Journal {
            path: self.path.clone(),
            context,
            source,
        }
    }

    /// Stores an event unless its id is stored already; returns whether it was new.
    pub fn insert(&self, event: &Event) -> Result<bool, EventError> {
        let json = event.to_json_line()?;
        let columns = review::Columns::of(event);
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO events (event_id, kind, camera, time, json, review, zone,
                     reason, plate, plate_key, subject_id, priority, explanation, queue)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    event.event_id,
                    event.kind.as_str(),
                    event.camera,
                    review::time_key(event.time),
                    json,
                    event.review.as_str(),
                    event.zone,
                    event.decision.reason,
                    columns.plate,
                    columns.plate_key,
                    columns.subject_id,
                    columns.priority,
                    event.decision.explanation,
                    columns.queue(event.review),
                ])
            })
            .map_err(self.db("storing an event"))?;
        Ok(n == 1)
    }

    /// How many events are stored.
    pub fn count(&self) -> Result<u64, EventError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(self.db("counting events"))
    }

    /// One event by id.
    pub fn get(&self, event_id: &str) -> Result<Option<Event>, EventError> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT json FROM events WHERE event_id = ?1",
                [event_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db("reading an event"))?;
        json.map(|j| self.parse(event_id, &j)).transpose()
    }

    /// Every event, by time then id.
    pub fn events(&self) -> Result<Vec<Event>, EventError> {
        let mut stmt = self
            .conn
            .prepare("SELECT event_id, json FROM events ORDER BY time, event_id")
            .map_err(self.db("reading events"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.db("reading events"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, json) = row.map_err(self.db("reading events"))?;
            out.push(self.parse(&id, &json)?);
        }
        Ok(out)
    }

    fn parse(&self, event_id: &str, json: &str) -> Result<Event, EventError> {
        serde_json::from_str(json).map_err(|source| EventError::Corrupt {
            path: self.path.clone(),
            event_id: event_id.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passwatch_plate_reader::geometry::BBox;
    use passwatch_registry::site::Site;
    use passwatch_registry::{PassKind, PassSnapshot, ZoneSet};
    use passwatch_rules::decide_plate;
    use passwatch_rules::sighting::PlateRead;

    fn t(s: &str) -> WallTime {
        s.parse().unwrap()
    }

    fn sighting() -> PlateSighting {
        let read = |s: f64, text: &str, c: f32| PlateRead {
            media_time: MediaTime::from_secs_f64(s),
            text: text.into(),
            confidence: c,
            bbox_in_frame: BBox::new(10.0, 20.0, 120.0, 30.0),
            weight: 1.0,
            lattice: None,
        };
        PlateSighting {
            camera_id: "gate-north".into(),
            source: "file:///clips/north.mp4".into(),
            source_key: "file:///clips/north.mp4".into(),
            track_id: 3,
            first_seen: MediaTime::from_nanos(12_250_400_000),
            last_seen: MediaTime::from_secs_f64(13.5),
            wall_time: t("2026-04-10T12:00:00.250999Z"),
            plate: "ABC123".into(),
            region: Some("us".into()),
            confidence: 0.912_345,
            reads: vec![
                read(12.2504, "ABC123", 0.9),
                read(12.45, "A8C123", 0.71234),
                read(13.5, "ABC123", 0.95),
            ],
            images: None,
        }
    }

    fn decision() -> PlateDecision {
        let site = Site::from_toml_str(
            "[[cameras]]\nid = \"gate-north\"\nzone = \"centre\"\n\
             [[zones]]\nid = \"centre\"\n[[zones.restrictions]]\n",
            "site.toml",
        )
        .unwrap();
        let pass = Pass {
            code: "K3X9Q2M7B4T1W8Z9".into(),
            kind: PassKind::Vehicle,
            plate: Some("ABC123".into()),
            region: Some("us".into()),
            valid_from: t("2026-03-01T00:00:00Z"),
            valid_until: t("2026-03-31T23:59:59Z"),
            zones: ZoneSet::parse("centre;north").unwrap(),
            purpose: "work".into(),
            status: PassStatus::Active,
            holder_ref: "h-17".into(),
            version: 4,
        };
        decide_plate(
            &sighting(),
            &site,
            &PassSnapshot::from_passes(4, vec![pass]),
        )
    }

    fn models() -> BTreeMap<String, String> {
        [
            ("plate_ocr", "pp-ocrv4-rec-en@1"),
            ("plate_detector", "yolov8n-plate@2"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
    }

    fn event() -> Event {
        let evidence = Evidence {
            crop: EvidenceFile {
                file: "evidence/x/crop.jpg".into(),
                sha256: "00".repeat(32),
            },
            frame: EvidenceFile {
                file: "evidence/x/frame.jpg".into(),
                sha256: "11".repeat(32),
            },
        };
        build_plate_event(&sighting(), &decision(), &models(), Some(evidence)).unwrap()
    }

    #[test]
    fn event_ids_are_stable_and_distinct() {
        let a = event_id(
            "cam",
            "src",
            MediaTime::from_nanos(1),
            "ABC123",
            "no_valid_pass",
        );
        assert_eq!(
            a,
            event_id(
                "cam",
                "src",
                MediaTime::from_nanos(1),
                "ABC123",
                "no_valid_pass"
            )
        );
        assert_eq!(a.len(), 23);
        assert!(a.starts_with("ev-"));
        // Moving a byte between fields changes the id (length prefixes).
        assert_ne!(
            a,
            event_id(
                "cams",
                "rc",
                MediaTime::from_nanos(1),
                "ABC123",
                "no_valid_pass"
            )
        );
        assert_ne!(
            a,
            event_id(
                "cam",
                "src",
                MediaTime::from_nanos(2),
                "ABC123",
                "no_valid_pass"
            )
        );
        assert_ne!(
            a,
            event_id(
                "cam",
                "src",
                MediaTime::from_nanos(1),
                "ABC123",
                "pass_check"
            )
        );
        // Pinned: changing the encoding changes every id, which must be a deliberate new version
        // (v2 added the subject: two tracks first seen in one frame are two events).
        assert_eq!(a, "ev-5fe669061565645b3e0c");
    }

    #[test]
    fn serialises_in_schema_order_with_fixed_precision() {
        let line = event().to_json_line().unwrap();
        println!("{line}");
        let keys = [
            "\"schema\":\"passwatch.event.v1\"",
            "\"event_id\":\"ev-",
            "\"kind\":\"no_valid_pass\"",
            "\"camera\":\"gate-north\"",
            "\"zone\":\"centre\"",
            "\"source\":",
            "\"time\":\"2026-04-10T12:00:00.250Z\"",
            "\"media_time\":{\"first\":12.25,\"last\":13.5}",
            "\"subject\":{\"type\":\"plate\",\"plate\":\"ABC123\",\"region\":\"us\",\"confidence\":0.912,",
            "{\"media_time\":12.45,\"text\":\"A8C123\",\"confidence\":0.712}",
            "\"decision\":{\"rule\":\"no_valid_pass\",\"reason\":\"expired\",\"matched_pass\":{\"code\":\"K3X9Q2M7B4T1W8Z9\",\"plate\":\"ABC123\",\"valid_from\":\"2026-03-01T00:00:00Z\",\"valid_until\":\"2026-03-31T23:59:59Z\",\"zones\":[\"centre\",\"north\"],\"status\":\"active\"},\"edit_cost\":0.0,\"registry_version\":4,\"explanation\":\"pass K3X9Q2M7B4T1W8Z9 for ABC123 expired at 2026-03-31T23:59:59Z; the reads give ABC123 probability 0.412\",\"plate_probability\":0.412}",
            "\"evidence\":{\"crop\":{\"file\":\"evidence/x/crop.jpg\",",
            "\"models\":{\"plate_detector\":\"yolov8n-plate@2\",\"plate_ocr\":\"pp-ocrv4-rec-en@1\"}",
            "\"review\":\"pending\",\"priority\":\"normal\"}",
        ];
        let mut from = 0;
        for k in keys {
            let at = line[from..]
                .find(k)
                .unwrap_or_else(|| panic!("{k} after {from} in {line}"));
            from += at + k.len();
        }
    }

    #[test]
    fn round_trips_and_is_byte_identical() {
        let e = event();
        let line = e.to_json_line().unwrap();
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.to_json_line().unwrap(), line);
        assert_eq!(event().to_json_line().unwrap(), line);
    }

    #[test]
    fn same_sighting_gives_the_same_bytes_with_real_evidence() {
        let crop =
            image::RgbImage::from_fn(96, 24, |x, y| image::Rgb([x as u8 * 2, y as u8 * 9, 40]));
        let frame =
            image::RgbImage::from_fn(320, 180, |x, y| image::Rgb([(x / 2) as u8, y as u8, 90]));
        let run = || {
            let dir = tempfile::tempdir().unwrap();
            let id = event_id(
                "gate-north",
                "file:///clips/north.mp4",
                sighting().first_seen,
                "ABC123",
                RULE_NO_VALID_PASS,
            );
            let evidence = write_evidence(dir.path(), &id, &crop, &frame).unwrap();
            let event =
                build_plate_event(&sighting(), &decision(), &models(), Some(evidence)).unwrap();
            assert_eq!(event.event_id, id);
            let mut sink = JsonlSink::open(dir.path().join("events.jsonl")).unwrap();
            sink.emit(&event).unwrap();
            sink.flush().unwrap();
            std::fs::read(dir.path().join("events.jsonl")).unwrap()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.ends_with(b"\n"));
    }

    #[test]
    fn a_doubtful_sighting_is_a_low_priority_needs_review_event_with_its_candidates() {
        let mut d = decision();
        let PlateOutcome::Violation { matched_pass, .. } = &d.outcome else {
            panic!("{d:?}");
        };
        let pass = matched_pass.clone().unwrap();
        d.outcome = PlateOutcome::NeedsReview {
            probability: 0.0123456,
            candidates: vec![passwatch_rules::Candidate {
                pass: Pass {
                    plate: Some("A8C123".into()),
                    ..pass
                },
                cost: 0.25,
                probability: 0.000031,
                reason: None,
            }],
        };
        let e = build_plate_event(&sighting(), &d, &models(), None).unwrap();
        assert_eq!(e.kind, EventKind::NeedsReview);
        assert_eq!(e.priority, Priority::Low);
        assert_eq!(e.decision.rule, RULE_NO_VALID_PASS);
        assert_eq!(e.decision.reason, "doubtful");
        assert!(e.decision.matched_pass.is_none());
        let line = e.to_json_line().unwrap();
        assert!(line.contains("\"kind\":\"needs_review\""), "{line}");
        assert!(
            line.contains(
                "\"plate_probability\":0.0123,\"candidates\":[{\"code\":\"K3X9Q2M7B4T1W8Z9\",\
                 \"plate\":\"A8C123\",\"probability\":0.000031,\"reason\":null}]}"
            ),
            "{line}"
        );
        assert!(
            line.ends_with("\"review\":\"pending\",\"priority\":\"low\"}"),
            "{line}"
        );
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn no_event_for_a_non_violation() {
        let mut d = decision();
        d.outcome = PlateOutcome::NotRestricted;
        assert!(build_plate_event(&sighting(), &d, &models(), None).is_none());
    }

    fn other_event(id: &str) -> Event {
        Event {
            event_id: id.into(),
            ..event()
        }
    }

    #[test]
    fn jsonl_deduplicates_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        {
            let mut sink = JsonlSink::open(&path).unwrap();
            sink.emit(&event()).unwrap();
            sink.emit(&event()).unwrap();
            sink.emit(&other_event("ev-b")).unwrap();
            sink.flush().unwrap();
            assert_eq!((sink.written(), sink.duplicates(), sink.len()), (2, 1, 2));
        }
        {
            let mut sink = JsonlSink::open(&path).unwrap();
            assert!(sink.contains(&event().event_id));
            sink.emit(&event()).unwrap();
            sink.emit(&other_event("ev-c")).unwrap();
            sink.flush().unwrap();
            assert_eq!((sink.written(), sink.duplicates()), (1, 1));
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<Event>(l).unwrap().event_id)
            .collect();
        assert_eq!(ids, [event().event_id, "ev-b".into(), "ev-c".into()]);
    }

    #[test]
    fn jsonl_recovers_from_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let whole = event().to_json_line().unwrap();
        // A whole event missing its newline, then a torn one.
        std::fs::write(&path, format!("not json\n{whole}")).unwrap();
        {
            let mut sink = JsonlSink::open(&path).unwrap();
            assert_eq!(sink.skipped_lines(), 1);
            sink.emit(&other_event("ev-b")).unwrap();
            sink.flush().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}{{\"schema\":\"passw")).unwrap();
        {
            let mut sink = JsonlSink::open(&path).unwrap();
            assert_eq!(sink.len(), 2);
            sink.emit(&other_event("ev-c")).unwrap();
            sink.flush().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[1], whole);
        assert!(lines[3].contains("\"ev-c\""));
    }

    mod faces {
        use super::*;
        use passwatch_face_matcher::Embedding;
        use passwatch_registry::WatchlistSnapshot;
        use passwatch_rules::face_sighting::{FaceMatch, FaceUsed};
        use passwatch_rules::{decide_face, FaceThreshold};

        fn sighting() -> FaceSighting {
            FaceSighting {
                camera_id: "gate-north".into(),
                source: "/clips/north.mp4".into(),
                source_key: "north.mp4:73400320".into(),
                track_id: 5,
                first_seen: MediaTime::from_nanos(4_000_400_000),
                last_seen: MediaTime::from_secs_f64(6.5),
                wall_time: t("2026-04-10T12:00:04.000400Z"),
                faces: [4.0004, 4.5, 5.25]
                    .iter()
                    .map(|&s| FaceUsed {
                        media_time: MediaTime::from_secs_f64(s),
                        quality: 0.8,
                    })
                    .collect(),
                best_match: Some(FaceMatch {
                    subject_id: "S-17".into(),
                    similarity: 0.583_41,
                }),
                images: None,
            }
        }

        fn watchlist() -> WatchlistSnapshot {
            let info = SubjectInfo {
                subject_id: "S-17".into(),
                order_from: t("2026-04-01T00:00:00Z"),
                order_until: t("2026-05-01T00:00:00Z"),
                home_zone: "north".into(),
                status: SubjectStatus::Active,
                embeddings: 1,
                model_id: Some("fr-feature-512".into()),
                version: 6,
            };
            let e = Embedding::from_raw("fr-feature-512", vec![1.0, 0.0, 0.0]).unwrap();
            WatchlistSnapshot::new(7, "fr-feature-512", vec![(info, vec![e])]).unwrap()
        }

        fn decision() -> FaceDecision {
            let site = Site::from_toml_str(
                "[[cameras]]\nid = \"gate-north\"\nzone = \"centre\"\nanalyses = [\"faces\"]\n\
                 [[zones]]\nid = \"centre\"\n[[zones]]\nid = \"north\"\n",
                "site.toml",
            )
            .unwrap();
            decide_face(
                &sighting(),
                &site,
                &watchlist(),
                FaceThreshold {
                    cosine: 0.43,
                    far: Some(1e-4),
                },
            )
        }

        fn models() -> BTreeMap<String, String> {
            [
                ("face_detector", "yunet-2023mar"),
                ("face_embedder", "fr-feature-512"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect()
        }

        fn event(evidence: Option<Evidence>) -> Event {
            build_face_event(&sighting(), &decision(), &models(), evidence).unwrap()
        }

        #[test]
        fn serialises_a_breach_in_schema_order() {
            let e = event(None);
            assert_eq!(
                e.event_id,
                event_id(
                    "gate-north",
                    "north.mp4:73400320",
                    MediaTime::from_nanos(4_000_400_000),
                    "S-17",
                    "stay_home_breach"
                )
            );
            let line = e.to_json_line().unwrap();
            let expected = format!(
                "{{\"schema\":\"passwatch.event.v1\",\"event_id\":\"{}\",\
                 \"kind\":\"stay_home_breach\",\"camera\":\"gate-north\",\"zone\":\"centre\",\
                 \"source\":\"/clips/north.mp4\",\"time\":\"2026-04-10T12:00:04.000Z\",\
                 \"media_time\":{{\"first\":4.0,\"last\":6.5}},\
                 \"subject\":{{\"type\":\"face\",\"subject_id\":\"S-17\",\"similarity\":0.583,\
                 \"threshold\":0.43,\"far\":0.0001,\"faces_used\":3,\"comparisons\":3,\"media_times\":[4.0,4.5,5.25]}},\
                 \"decision\":{{\"rule\":\"stay_home_breach\",\"reason\":\"outside_home_zone\",\
                 \"matched_pass\":null,\"edit_cost\":null,\"registry_version\":7,\
                 \"explanation\":\"face matches subject S-17 (similarity 0.583 > threshold 0.430, \
                 FAR 1e-4 per comparison, best of 3 faces over 3 comparisons) on camera gate-north in zone centre, outside home zone \
                 north, while the order is in force (2026-04-01T00:00:00Z until \
                 2026-05-01T00:00:00Z)\",\"matched_order\":{{\"order_from\":\"2026-04-01T00:00:00Z\",\
                 \"order_until\":\"2026-05-01T00:00:00Z\",\"home_zone\":\"north\",\
                 \"status\":\"active\"}}}},\"evidence\":null,\
                 \"models\":{{\"face_detector\":\"yunet-2023mar\",\"face_embedder\":\"fr-feature-512\"}},\
                 \"review\":\"pending\",\"priority\":\"normal\"}}",
                e.event_id
            );
            assert_eq!(line, expected);
            // The same track under the plate rule is another event.
            assert_ne!(
                e.event_id,
                event_id(
                    "gate-north",
                    "north.mp4:73400320",
                    MediaTime::from_nanos(4_000_400_000),
                    "ABC123",
                    RULE_NO_VALID_PASS
                )
            );
        }

        #[test]
        fn is_deterministic_and_round_trips_with_real_evidence() {
            let crop =
                image::RgbImage::from_fn(112, 112, |x, y| image::Rgb([x as u8 * 2, y as u8, 77]));
            let frame =
                image::RgbImage::from_fn(320, 180, |x, y| image::Rgb([(x / 2) as u8, y as u8, 30]));
            let run = || {
                let dir = tempfile::tempdir().unwrap();
                let id = event(None).event_id;
                let evidence = write_evidence(dir.path(), &id, &crop, &frame).unwrap();
                let e = event(Some(evidence));
                let line = e.to_json_line().unwrap();
                let back: Event = serde_json::from_str(&line).unwrap();
                assert_eq!(back, e);
                assert_eq!(back.to_json_line().unwrap(), line);
                let mut sink = JsonlSink::open(dir.path().join("events.jsonl")).unwrap();
                sink.emit(&e).unwrap();
                sink.emit(&e).unwrap();
                sink.flush().unwrap();
                assert_eq!(sink.duplicates(), 1);
                std::fs::read(dir.path().join("events.jsonl")).unwrap()
            };
            let a = run();
            assert_eq!(a, run());
            let text = String::from_utf8(a).unwrap();
            println!("{text}");
            assert!(text.contains("\"crop\":{\"file\":\"evidence/ev-"));
        }

        #[test]
        fn only_a_breach_makes_an_event_and_it_is_always_pending() {
            let mut d = decision();
            assert!(d.is_breach());
            assert_eq!(event(None).review, Review::Pending);
            for outcome in [
                FaceOutcome::NoMatch,
                FaceOutcome::UnknownCamera,
                FaceOutcome::HomeZone {
                    subject_id: "S-17".into(),
                    similarity: 0.9,
                },
                FaceOutcome::NotInForce {
                    subject_id: "S-17".into(),
                    similarity: 0.9,
                },
            ] {
                d.outcome = outcome;
                assert!(build_face_event(&sighting(), &d, &models(), None).is_none());
            }
        }

        #[test]
        fn a_threshold_set_by_hand_has_no_rate() {
            let mut d = decision();
            d.threshold.far = None;
            let line = build_face_event(&sighting(), &d, &models(), None)
                .unwrap()
                .to_json_line()
                .unwrap();
            assert!(line.contains("\"threshold\":0.43,\"far\":null,"), "{line}");
        }

        #[test]
        fn a_plate_event_has_no_matched_order() {
            let line = super::event().to_json_line().unwrap();
            assert!(!line.contains("matched_order"));
            assert!(
                line.contains(
                    "\"explanation\":\"pass K3X9Q2M7B4T1W8Z9 for ABC123 expired at \
                     2026-03-31T23:59:59Z; the reads give ABC123 probability 0.412\",\
                     \"plate_probability\":0.412}"
                ),
                "{line}"
            );
        }
    }

    #[test]
    fn journal_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let journal = Journal::open(&path).unwrap();
        assert!(journal.insert(&event()).unwrap());
        assert!(!journal.insert(&event()).unwrap());
        assert!(!journal.insert(&event()).unwrap());
        assert!(journal.insert(&other_event("ev-b")).unwrap());
        assert_eq!(journal.count().unwrap(), 2);
        drop(journal);
        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.count().unwrap(), 2);
        assert_eq!(journal.get(&event().event_id).unwrap(), Some(event()));
        assert_eq!(journal.get("nope").unwrap(), None);
        let events = journal.events().unwrap();
        assert_eq!(events.len(), 2);
        assert!(events.contains(&event()));
    }
}
