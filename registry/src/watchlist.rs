//! The watchlist: stay-home orders and their reference face embeddings, in the registry database.
//!
//! A subject ([`SubjectSpec`], stored as [`SubjectInfo`]) is an opaque `subject_id`, the window
//! of its order (`order_from` inclusive, `order_until` exclusive), the zone of its home (cameras
//! of that zone are never a breach) and a status; it has one or more reference embeddings
//! enrolled from photos. The watchlist shares the passes' database and version counter: every
//! enrolment, change or removal is one new registry version in `registry_versions`, with the
//! actor, and one row in `watchlist_audit` holding the subject before and after as JSON (ids,
//! window, zone, status, how many embeddings and of which model: never the vectors).
//!
//! # Embeddings
//! Stored as little-endian `f32` blobs of `dim` values (exactly the values of
//! [`Embedding::as_slice`], bit for bit), with the model id, the quality score of the face and the
//! version that added them. One watchlist holds embeddings of one model only: similarities
//! between two models' embeddings mean nothing, so [`Registry::enroll`] refuses another model's
//! embeddings, and [`Registry::watchlist_snapshot`] refuses to build an index for searching with
//! another model. Changing models means removing and re-enrolling every subject.
//!
//! Re-enrolling an embedding already stored for the subject (bit for bit) adds nothing, so running
//! the same enrolment twice leaves one copy.
//!
//! # Privacy
//! - No photo and no crop is stored, only embeddings, unless the operator asks for a copy of the
//!   enrolment photos ([`Registry::enroll_keeping_photos`], into a folder the caller names). Those
//!   copies are deleted with the subject.
//! - [`Registry::remove_subject`] deletes the subject and its embeddings. The database runs with
//!   `PRAGMA secure_delete = ON`, so the deleted rows are overwritten with zeros instead of
//!   lingering in free pages, and the removal ends with `PRAGMA wal_checkpoint(TRUNCATE)`, which
//!   copies the zeroed pages into the main file and empties the WAL file (which still held the
//!   pages written at enrolment). If another connection is reading at that moment, the checkpoint
//!   cannot finish; the removal still stands and a warning is logged, and the next checkpoint
//!   (SQLite runs one automatically every 1000 pages) completes it. No `VACUUM` is needed.
//!
//! # Snapshots
//! [`WatchlistSnapshot`] is to faces what [`super::PassSnapshot`] is to plates: the subjects and
//! an exact [`WatchlistIndex`] over their embeddings, read in one transaction at one version,
//! plain memory. The index holds every subject, inactive ones included: a face is matched to the
//! enrolled person it is closest to, and the rule then says that this person's order is not in
//! force. Leaving inactive subjects out would let a face that is really theirs fall through to the
//! next-closest subject, who might be above the threshold: an accusation of the wrong person.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use passwatch_face_matcher::{Embedding, FaceError, Match, WatchlistIndex};
use rusqlite::{params, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::passes::{format_time, is_valid_id, parse_time};
use super::{check_actor, to_u64, Registry, RegistryError, RegistryVersion};
use passwatch_base::time::WallTime;

/// Whether a subject's order is to be enforced at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectStatus {
    /// The order is enforced while its window is open.
    Active,
    /// The order is suspended or lifted; the subject stays enrolled (and matchable, so that their
    /// face is not taken for someone else's) but never raises a breach.
    Inactive,
}

impl SubjectStatus {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectStatus::Active => "active",
            SubjectStatus::Inactive => "inactive",
        }
    }
}

impl fmt::Display for SubjectStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `active` or `inactive` (any case).
pub fn parse_subject_status(text: &str) -> Result<SubjectStatus, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "active" => Ok(SubjectStatus::Active),
        "inactive" => Ok(SubjectStatus::Inactive),
        _ => Err(format!("bad status {text:?}: must be active or inactive")),
    }
}

/// A subject as the operator gives it: what [`Registry::enroll`] creates or updates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectSpec {
    /// Opaque id: 1–64 ASCII letters, digits, `_`, `.` or `-` (no names are needed).
    pub subject_id: String,
    /// Start of the order (inclusive).
    pub order_from: WallTime,
    /// End of the order (exclusive); after `order_from`.
    pub order_until: WallTime,
    /// The zone of the subject's home: its cameras are not a breach.
    pub home_zone: String,
    /// Active or inactive.
    pub status: SubjectStatus,
}

impl SubjectSpec {
    /// A subject from text as an operator types it (times RFC 3339, status `active` when not
    /// given), every field checked; every problem is reported at once.
    pub fn parse(
        subject_id: &str,
        order_from: &str,
        order_until: &str,
        home_zone: &str,
        status: Option<&str>,
    ) -> Result<SubjectSpec, RegistryError> {
        let mut problems = Vec::new();
        let from = parse_time(order_from)
            .map_err(|e| problems.push(format!("order_from: {e}")))
            .ok();
        let until = parse_time(order_until)
            .map_err(|e| problems.push(format!("order_until: {e}")))
            .ok();
        let status = status
            .map_or(Ok(SubjectStatus::Active), parse_subject_status)
            .map_err(|e| problems.push(format!("status: {e}")))
            .unwrap_or(SubjectStatus::Active);
        // A time that did not parse is replaced by one that passes the window check, so that
        // the other fields are still checked and only the real problems are reported.
        let spec = SubjectSpec {
            subject_id: subject_id.trim().to_owned(),
            order_from: from.unwrap_or(WallTime::MIN_UTC),
            order_until: until.unwrap_or(WallTime::MAX_UTC),
            home_zone: home_zone.trim().to_owned(),
            status,
        };
        problems.extend(spec.problems());
        if problems.is_empty() {
            Ok(spec)
        } else {
            Err(RegistryError::InvalidSubject {
                subject_id: subject_id.to_owned(),
                problems,
            })
        }
    }

    /// Every problem with the fields, as `field: what is wrong`.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !is_valid_id(&self.subject_id) {
            problems.push(format!(
                "subject_id: bad id {:?}: use 1 to 64 ASCII letters, digits, '_', '.' or '-'",
                self.subject_id
            ));
        }
        if !is_valid_id(&self.home_zone) {
            problems.push(format!(
                "home_zone: bad zone id {:?}: use 1 to 64 ASCII letters, digits, '_', '.' or '-'",
                self.home_zone
            ));
        }
        if self.order_until <= self.order_from {
            problems.push(format!(
                "order_until: {} is not after order_from {}",
                format_time(self.order_until),
                format_time(self.order_from)
            ));
        }
        problems
    }

    /// Checks every field (see the field docs).
    pub fn check(&self) -> Result<(), RegistryError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::InvalidSubject {
                subject_id: self.subject_id.clone(),
                problems,
            })
        }
    }
}

/// A subject as stored, with a summary of its embeddings (never the vectors).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectInfo {
    /// Opaque id.
    pub subject_id: String,
    /// Start of the order (inclusive).
    pub order_from: WallTime,
    /// End of the order (exclusive).
    pub order_until: WallTime,
    /// The zone of the subject's home.
    pub home_zone: String,
    /// Active or inactive.
    pub status: SubjectStatus,
    /// How many reference embeddings are enrolled.
    pub embeddings: usize,
    /// Their model (none only for a subject without embeddings, which `enroll` never makes).
    pub model_id: Option<String>,
    /// The registry version that last changed the subject or added embeddings to it.
    pub version: u64,
}

impl SubjectInfo {
    /// Whether the order's window is open at `at` (`order_from` ≤ `at` < `order_until`),
    /// whatever the status.
    pub fn order_window_open(&self, at: WallTime) -> bool {
        self.order_from <= at && at < self.order_until
    }

    /// Whether the order is in force at `at`: active, and its window open.
    pub fn order_in_force(&self, at: WallTime) -> bool {
        self.status == SubjectStatus::Active && self.order_window_open(at)
    }

    fn same_spec(&self, spec: &SubjectSpec) -> bool {
        self.subject_id == spec.subject_id
            && self.order_from == spec.order_from
            && self.order_until == spec.order_until
            && self.home_zone == spec.home_zone
            && self.status == spec.status
    }
}

/// One row of the watchlist audit log: one subject enrolled, changed or removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WatchlistAuditEntry {
    /// The registry version of the change.
    pub version: u64,
    /// When.
    pub at: WallTime,
    /// Who.
    pub actor: String,
    /// `insert`, `update` or `remove`.
    pub action: String,
    /// The subject.
    pub subject_id: String,
    /// The subject before, as [`SubjectInfo`] JSON (`None` for an insert).
    pub before: Option<String>,
    /// The subject after, as [`SubjectInfo`] JSON (`None` for a removal).
    pub after: Option<String>,
}

/// An immutable copy of the watchlist at one registry version, with its face index.
#[derive(Clone, Debug)]
pub struct WatchlistSnapshot {
    /// The registry version this snapshot holds (0 for an empty registry).
    pub version: u64,
    model_id: String,
    /// Every subject, by id.
    subjects: Vec<SubjectInfo>,
    by_id: HashMap<String, usize>,
    /// Every subject's embeddings (inactive subjects too: see the module docs).
    index: WatchlistIndex,
}

impl WatchlistSnapshot {
    /// A snapshot of subjects and their reference embeddings, all of model `model_id`
    /// (refused otherwise, or if their dimensions differ). Subjects are kept by id; each
    /// subject's embeddings go into the index in the order given.
    pub fn new(
        version: u64,
        model_id: &str,
        mut entries: Vec<(SubjectInfo, Vec<Embedding>)>,
    ) -> Result<WatchlistSnapshot, FaceError> {
        entries.sort_by(|a, b| a.0.subject_id.cmp(&b.0.subject_id));
        let dim = entries
            .iter()
            .flat_map(|(_, e)| e.first())
            .map(Embedding::dim)
            .next()
            .unwrap_or(0);
        let mut index = WatchlistIndex::new(model_id, dim);
        let mut subjects = Vec::with_capacity(entries.len());
        for (subject, embeddings) in entries {
            if !embeddings.is_empty() {
                index.add(&subject.subject_id, &embeddings)?;
            }
            subjects.push(subject);
        }
        let by_id = subjects
            .iter()
            .enumerate()
            .map(|(i, s)| (s.subject_id.clone(), i))
            .collect();
        Ok(WatchlistSnapshot {
            version,
            model_id: model_id.to_owned(),
            subjects,
            by_id,
            index,
        })
    }

    /// An empty watchlist for `model_id` at version 0 (a run without a registry): it matches
    /// nobody.
    pub fn empty(model_id: &str) -> WatchlistSnapshot {
        WatchlistSnapshot {
            version: 0,
            model_id: model_id.to_owned(),
            subjects: Vec::new(),
            by_id: HashMap::new(),
            index: WatchlistIndex::new(model_id, 0),
        }
    }

    /// The model the watchlist's embeddings (and the queries) come from.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Every subject, by id.
    pub fn subjects(&self) -> &[SubjectInfo] {
        &self.subjects
    }

    /// The subject with this id.
    pub fn subject(&self, subject_id: &str) -> Option<&SubjectInfo> {
        self.by_id.get(subject_id).map(|&i| &self.subjects[i])
    }

    /// How many subjects.
    pub fn len(&self) -> usize {
        self.subjects.len()
    }

    /// Whether there is no subject.
    pub fn is_empty(&self) -> bool {
        self.subjects.is_empty()
    }

    /// The face index. Prefer [`WatchlistSnapshot::search`], which also answers for an empty
    /// watchlist (whose index does not know the embedding length).
    pub fn index(&self) -> &WatchlistIndex {
        &self.index
    }

    /// The `k` best subjects for each query face, best first (see [`WatchlistIndex::search`]).
    /// Queries must come from the watchlist's model; an empty watchlist answers empty lists.
    pub fn search(&self, queries: &[Embedding], k: usize) -> Result<Vec<Vec<Match>>, FaceError> {
        if self.index.is_empty() {
            if let Some(q) = queries.iter().find(|q| q.model_id() != self.model_id) {
                return Err(FaceError::IndexModelMismatch {
                    index_model: self.model_id.clone(),
                    embedding_model: q.model_id().to_owned(),
                });
            }
            return Ok(vec![Vec::new(); queries.len()]);
        }
        self.index.search(queries, k)
    }

    /// The best (subject, similarity) over all the query faces of one track: what a face
    /// sighting is decided on. `None` when the watchlist is empty or there is no query. Ties go to
    /// the earlier query, then to the subject first by id.
    pub fn best_match(&self, queries: &[Embedding]) -> Result<Option<Match>, FaceError> {
        let mut best: Option<Match> = None;
        for list in self.search(queries, 1)? {
            if let Some(m) = list.into_iter().next() {
                if best.as_ref().is_none_or(|b| m.score > b.score) {
                    best = Some(m);
                }
            }
        }
        Ok(best)
    }
}

/// One reference embedding to enrol, with the photo it came from when a copy is to be kept.
struct NewReference {
    embedding: Embedding,
    quality: f32,
    photo: Option<PathBuf>,
}

impl Registry {
    /// Creates or updates a watchlist subject and adds reference embeddings to it, as one new
    /// registry version, atomically (on any error nothing is stored). `embeddings` are already
    /// checked faces (see `passwatch_face_matcher::EnrolmentCheck`) with their quality scores
    /// (0..1).
    ///
    /// Refused: a bad field ([`RegistryError::InvalidSubject`]); a new subject without any
    /// embedding; embeddings of several models or lengths in one call, or of another model or
    /// length than those already in the watchlist ([`RegistryError::WatchlistModel`],
    /// [`RegistryError::WatchlistDimension`]). An existing subject's order, zone and status are
    /// replaced by `subject`'s; embeddings are only ever added (bit-identical ones already stored
    /// for the subject are skipped). A call that changes nothing still makes a version, counted
    /// unchanged, so that the request is on record.
    pub fn enroll(
        &mut self,
        subject: SubjectSpec,
        embeddings: Vec<(Embedding, f32)>,
        actor: &str,
    ) -> Result<RegistryVersion, RegistryError> {
        let refs = embeddings
            .into_iter()
            .map(|(embedding, quality)| NewReference {
                embedding,
                quality,
                photo: None,
            })
            .collect();
        self.enroll_references(subject, refs, None, actor)
    }

    /// [`Registry::enroll`], also keeping a copy of each embedding's photo (opt-in: the brief's
    /// default is to keep no photo). Each photo is copied to
    /// `photo_dir/<subject_id>/<first 16 hex digits of its SHA-256>.<extension>` before anything
    /// is stored, and the copies made are deleted again if the enrolment fails; they are deleted
    /// with the subject by [`Registry::remove_subject`].
    pub fn enroll_keeping_photos(
        &mut self,
        subject: SubjectSpec,
        embeddings: Vec<(Embedding, f32, PathBuf)>,
        photo_dir: &Path,
        actor: &str,
    ) -> Result<RegistryVersion, RegistryError> {
        let refs = embeddings
            .into_iter()
            .map(|(embedding, quality, photo)| NewReference {
                embedding,
                quality,
                photo: Some(photo),
            })
            .collect();
        self.enroll_references(subject, refs, Some(photo_dir), actor)
    }

    fn enroll_references(
        &mut self,
        subject: SubjectSpec,
        refs: Vec<NewReference>,
        photo_dir: Option<&Path>,
        actor: &str,
    ) -> Result<RegistryVersion, RegistryError> {
        check_actor(actor)?;
        subject.check()?;
        let mut problems = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            if !(r.quality.is_finite() && (0.0..=1.0).contains(&r.quality)) {
                problems.push(format!(
                    "embeddings[{i}]: quality {} is not in 0..1",
                    r.quality
                ));
            }
        }
        if let Some(first) = refs.first() {
            let (model, dim) = (first.embedding.model_id(), first.embedding.dim());
            for (i, r) in refs.iter().enumerate().skip(1) {
                if r.embedding.model_id() != model || r.embedding.dim() != dim {
                    problems.push(format!(
                        "embeddings[{i}]: model {} with {} dimensions, where embeddings[0] is \
                         model {model} with {dim}",
                        r.embedding.model_id(),
                        r.embedding.dim()
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(RegistryError::InvalidSubject {
                subject_id: subject.subject_id,
                problems,
            });
        }

        // Photos first, outside the transaction: a copy that fails stores nothing; a
        // transaction that fails deletes the copies made.
        let mut copies: Vec<Option<String>> = vec![None; refs.len()];
        let mut created: Vec<PathBuf> = Vec::new();
        if let Some(dir) = photo_dir {
            for (i, r) in refs.iter().enumerate() {
                if let Some(photo) = &r.photo {
                    match keep_photo(dir, &subject.subject_id, photo) {
                        Ok((path, new)) => {
                            if new {
                                created.push(path.clone());
                            }
                            copies[i] = Some(path.display().to_string());
                        }
                        Err(e) => {
                            remove_files(&created);
                            return Err(e);
                        }
                    }
                }
            }
        }
        let result = self.write_enrolment(&subject, &refs, &copies, actor);
        if result.is_err() {
            remove_files(&created);
        }
        result
    }

    fn write_enrolment(
        &mut self,
        subject: &SubjectSpec,
        refs: &[NewReference],
        photos: &[Option<String>],
        actor: &str,
    ) -> Result<RegistryVersion, RegistryError> {
        let now = self.clock.now();
        let now_text = format_time(now);
        let path = self.path.clone();
        // IMMEDIATE: the write lock before reading the model and the version (see
        // `write_version`).
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(dbe(&path, "starting the enrolment transaction"))?;
        if let (Some((stored, stored_dim)), Some(first)) = (stored_model(&tx, &path)?, refs.first())
        {
            if first.embedding.model_id() != stored {
                return Err(RegistryError::WatchlistModel {
                    stored,
                    requested: first.embedding.model_id().to_owned(),
                    action: "enrolling",
                });
            }
            if first.embedding.dim() != stored_dim {
                return Err(RegistryError::WatchlistDimension {
                    model: stored,
                    stored: stored_dim,
                    offered: first.embedding.dim(),
                });
            }
        }
        let before = read_subjects(&tx, &path, Some(&subject.subject_id))?.pop();
        if before.is_none() && refs.is_empty() {
            return Err(RegistryError::InvalidSubject {
                subject_id: subject.subject_id.clone(),
                problems: vec![
                    "embeddings: a new subject needs at least one reference embedding".into(),
                ],
            });
        }
        let version = next_version(&tx, &path)?;
        let sql_version = version as i64;

        // Embeddings not stored yet for the subject, nor earlier in this call.
        let mut new_refs: Vec<(usize, Vec<u8>)> = Vec::new();
        {
            let mut exists = tx
                .prepare_cached(
                    "SELECT 1 FROM watchlist_embeddings WHERE subject_id = ?1 AND vector = ?2",
                )
                .map_err(dbe(&path, "preparing"))?;
            let mut seen = HashSet::new();
            for (i, r) in refs.iter().enumerate() {
                let blob = encode_vector(r.embedding.as_slice());
                let stored = exists
                    .exists(params![subject.subject_id, blob])
                    .map_err(dbe(&path, "reading stored embeddings"))?;
                if !stored && seen.insert(blob.clone()) {
                    new_refs.push((i, blob));
                }
            }
        }
        let spec_changed = before.as_ref().is_none_or(|b| !b.same_spec(subject));
        let changed = spec_changed || !new_refs.is_empty();
        let (inserted, updated, unchanged) = match (&before, changed) {
            (None, _) => (1u64, 0u64, 0u64),
            (Some(_), true) => (0, 1, 0),
            (Some(_), false) => (0, 0, 1),
        };
        tx.execute(
            "INSERT INTO registry_versions
                 (version, created_at, actor, action, source, inserted, updated, unchanged,
                  removed)
             VALUES (?1, ?2, ?3, 'enroll', NULL, ?4, ?5, ?6, 0)",
            params![
                sql_version,
                now_text,
                actor,
                inserted as i64,
                updated as i64,
                unchanged as i64
            ],
        )
        .map_err(dbe(&path, "recording the version"))?;
        if changed {
            // An upsert that keeps the row: `INSERT OR REPLACE` would delete it first, and the
            // foreign key's cascade would take the subject's embeddings with it.
            tx.execute(
                "INSERT INTO watchlist_subjects
                     (subject_id, order_from, order_until, home_zone, status, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (subject_id) DO UPDATE SET order_from = excluded.order_from,
                     order_until = excluded.order_until, home_zone = excluded.home_zone,
                     status = excluded.status, version = excluded.version",
                params![
                    subject.subject_id,
                    format_time(subject.order_from),
                    format_time(subject.order_until),
                    subject.home_zone,
                    subject.status.as_str(),
                    sql_version
                ],
            )
            .map_err(dbe(&path, "storing the subject"))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO watchlist_embeddings
                         (subject_id, model_id, dim, vector, quality, version, photo)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(dbe(&path, "preparing"))?;
            for (i, blob) in &new_refs {
                let r = &refs[*i];
                insert
                    .execute(params![
                        subject.subject_id,
                        r.embedding.model_id(),
                        r.embedding.dim() as i64,
                        blob,
                        f64::from(r.quality),
                        sql_version,
                        photos[*i],
                    ])
                    .map_err(dbe(&path, "storing an embedding"))?;
            }
            drop(insert);
            let after = read_subjects(&tx, &path, Some(&subject.subject_id))?.pop();
            write_audit(
                &tx,
                &path,
                version,
                &now_text,
                actor,
                if before.is_some() { "update" } else { "insert" },
                &subject.subject_id,
                before.as_ref(),
                after.as_ref(),
            )?;
        }
        tx.commit()
            .map_err(dbe(&path, "committing the enrolment"))?;
        tracing::info!(
            registry = %self.path.display(),
            version, actor, subject = %subject.subject_id, embeddings_added = new_refs.len(),
            inserted, updated, unchanged,
            "watchlist subject enrolled"
        );
        Ok(RegistryVersion {
            version,
            created_at: now,
            actor: actor.to_owned(),
            action: "enroll".to_owned(),
            source: None,
            inserted,
            updated,
            unchanged,
            removed: 0,
        })
    }

    /// Removes a watchlist subject and every embedding of it (and the kept photo copies, if
    /// any), as one new registry version. The audit log keeps that it happened and the subject's
    /// summary, never the vectors. See the module docs for how the removed vectors are
    /// overwritten in the file.
    pub fn remove_subject(
        &mut self,
        subject_id: &str,
        actor: &str,
    ) -> Result<RegistryVersion, RegistryError> {
        check_actor(actor)?;
        let now = self.clock.now();
        let now_text = format_time(now);
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(dbe(&path, "starting the removal transaction"))?;
        let before = read_subjects(&tx, &path, Some(subject_id))?
            .pop()
            .ok_or_else(|| RegistryError::UnknownSubject(subject_id.to_owned()))?;
        let photos: Vec<String> = {
            let mut stmt = tx
                .prepare(
                    "SELECT photo FROM watchlist_embeddings
                     WHERE subject_id = ?1 AND photo IS NOT NULL",
                )
                .map_err(dbe(&path, "reading kept photos"))?;
            let rows = stmt
                .query_map([subject_id], |r| r.get::<_, String>(0))
                .map_err(dbe(&path, "reading kept photos"))?;
            rows.collect::<Result<_, _>>()
                .map_err(dbe(&path, "reading kept photos"))?
        };
        let version = next_version(&tx, &path)?;
        tx.execute(
            "INSERT INTO registry_versions
                 (version, created_at, actor, action, source, inserted, updated, unchanged,
                  removed)
             VALUES (?1, ?2, ?3, 'remove_subject', NULL, 0, 0, 0, 1)",
            params![version as i64, now_text, actor],
        )
        .map_err(dbe(&path, "recording the version"))?;
        tx.execute(
            "DELETE FROM watchlist_embeddings WHERE subject_id = ?1",
            [subject_id],
        )
        .map_err(dbe(&path, "deleting embeddings"))?;
        tx.execute(
            "DELETE FROM watchlist_subjects WHERE subject_id = ?1",
            [subject_id],
        )
        .map_err(dbe(&path, "deleting the subject"))?;
        write_audit(
            &tx,
            &path,
            version,
            &now_text,
            actor,
            "remove",
            subject_id,
            Some(&before),
            None,
        )?;
        tx.commit().map_err(dbe(&path, "committing the removal"))?;
        tracing::info!(
            registry = %self.path.display(), version, actor, subject = subject_id,
            embeddings = before.embeddings, "watchlist subject removed"
        );
        self.checkpoint_after_removal();
        let files: Vec<PathBuf> = photos.iter().map(PathBuf::from).collect();
        remove_files(&files);
        if let Some(dir) = files.first().and_then(|f| f.parent()) {
            // Only if empty: other files there are not ours to delete.
            let _ = std::fs::remove_dir(dir);
        }
        Ok(RegistryVersion {
            version,
            created_at: now,
            actor: actor.to_owned(),
            action: "remove_subject".to_owned(),
            source: None,
            inserted: 0,
            updated: 0,
            unchanged: 0,
            removed: 1,
        })
    }

    /// Copies the pages zeroed by a removal into the main file and empties the WAL file, which
    /// still holds the pages written when the embeddings were enrolled.
    fn checkpoint_after_removal(&self) {
        let result = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        match result {
            Ok(0) => {}
            Ok(_) => tracing::warn!(
                registry = %self.path.display(),
                "another connection is reading the registry: the removed embeddings stay in the \
                 WAL file until the next checkpoint"
            ),
            Err(e) => tracing::warn!(
                registry = %self.path.display(), error = %e,
                "checkpoint after a removal failed: the removed embeddings stay in the WAL file \
                 until the next checkpoint"
            ),
        }
    }

    /// One watchlist subject by id.
    pub fn subject(&self, subject_id: &str) -> Result<Option<SubjectInfo>, RegistryError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(self.db("reading a subject"))?;
        let subject = read_subjects(&tx, &self.path, Some(subject_id))?.pop();
        tx.finish().map_err(self.db("reading a subject"))?;
        Ok(subject)
    }

    /// Every watchlist subject, by id.
    pub fn list_subjects(&self) -> Result<Vec<SubjectInfo>, RegistryError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(self.db("listing subjects"))?;
        let subjects = read_subjects(&tx, &self.path, None)?;
        tx.finish().map_err(self.db("listing subjects"))?;
        Ok(subjects)
    }

    /// The model id and dimensions of the watchlist's embeddings; none while it has none.
    pub fn watchlist_model(&self) -> Result<Option<(String, usize)>, RegistryError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(self.db("reading the watchlist model"))?;
        let model = stored_model(&tx, &self.path)?;
        tx.finish()
            .map_err(self.db("reading the watchlist model"))?;
        Ok(model)
    }

    /// The watchlist audit log, oldest first; only the rows of `subject_id` when given.
    pub fn watchlist_audit_log(
        &self,
        subject_id: Option<&str>,
    ) -> Result<Vec<WatchlistAuditEntry>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT version, at, actor, action, subject_id, before, after
                 FROM watchlist_audit WHERE ?1 IS NULL OR subject_id = ?1 ORDER BY id",
            )
            .map_err(self.db("reading the watchlist audit log"))?;
        let rows = stmt
            .query_map([subject_id], |r| {
                Ok((
                    to_u64(r.get::<_, i64>(0)?),
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(self.db("reading the watchlist audit log"))?;
        let mut out = Vec::new();
        for row in rows {
            let (version, at, actor, action, subject_id, before, after) =
                row.map_err(self.db("reading the watchlist audit log"))?;
            let at = parse_time(&at).map_err(|message| RegistryError::CorruptWatchlist {
                path: self.path.clone(),
                subject_id: subject_id.clone(),
                message,
            })?;
            out.push(WatchlistAuditEntry {
                version,
                at,
                actor,
                action,
                subject_id,
                before,
                after,
            });
        }
        Ok(out)
    }

    /// An immutable copy of the watchlist at the current version, with an index over every
    /// subject's embeddings, read in one transaction. Refused when the stored embeddings come
    /// from another model than `expected_model_id` (the embedder the caller will search with).
    /// An empty watchlist gives an empty snapshot, which matches nobody.
    pub fn watchlist_snapshot(
        &self,
        expected_model_id: &str,
    ) -> Result<WatchlistSnapshot, RegistryError> {
        let path = &self.path;
        // A read transaction: an enrolment committing meanwhile is not seen half-way.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(dbe(path, "starting a watchlist snapshot"))?;
        if let Some((stored, _)) = stored_model(&tx, path)? {
            if stored != expected_model_id {
                return Err(RegistryError::WatchlistModel {
                    stored,
                    requested: expected_model_id.to_owned(),
                    action: "searching",
                });
            }
        }
        let version: u64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM registry_versions",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(to_u64)
            .map_err(dbe(path, "reading the current version"))?;
        let subjects = read_subjects(&tx, path, None)?;
        let mut vectors: HashMap<String, Vec<Embedding>> = HashMap::new();
        {
            let mut stmt = tx
                .prepare(
                    "SELECT subject_id, model_id, dim, vector FROM watchlist_embeddings
                     ORDER BY id",
                )
                .map_err(dbe(path, "reading embeddings"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        to_u64(r.get::<_, i64>(2)?) as usize,
                        r.get::<_, Vec<u8>>(3)?,
                    ))
                })
                .map_err(dbe(path, "reading embeddings"))?;
            for row in rows {
                let (subject_id, model_id, dim, blob) =
                    row.map_err(dbe(path, "reading embeddings"))?;
                let corrupt = |message: String| RegistryError::CorruptWatchlist {
                    path: path.clone(),
                    subject_id: subject_id.clone(),
                    message,
                };
                let values = decode_vector(&blob, dim).map_err(corrupt)?;
                let embedding = Embedding::from_raw(model_id.as_str(), values)
                    .map_err(|e| corrupt(e.to_string()))?;
                vectors.entry(subject_id).or_default().push(embedding);
            }
        }
        tx.finish()
            .map_err(dbe(path, "ending a watchlist snapshot"))?;
        let entries = subjects
            .into_iter()
            .map(|s| {
                let refs = vectors.remove(&s.subject_id).unwrap_or_default();
                (s, refs)
            })
            .collect();
        WatchlistSnapshot::new(version, expected_model_id, entries).map_err(|e| {
            RegistryError::CorruptWatchlist {
                path: path.clone(),
                subject_id: "*".to_owned(),
                message: e.to_string(),
            }
        })
    }
}

/// The error of SQLite failing at `context` on the registry at `path`.
fn dbe(path: &Path, context: &'static str) -> impl FnOnce(rusqlite::Error) -> RegistryError {
    let path = path.to_owned();
    move |source| RegistryError::Database {
        path,
        context,
        source,
    }
}

/// The next version number, inside a write transaction.
fn next_version(tx: &Transaction<'_>, path: &Path) -> Result<u64, RegistryError> {
    tx.query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM registry_versions",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(to_u64)
    .map_err(dbe(path, "reading the current version"))
}

/// The model and dimensions of the stored embeddings, none while there are none; more than one
/// is a corrupt file (`enroll` never stores a second).
fn stored_model(
    conn: &rusqlite::Connection,
    path: &Path,
) -> Result<Option<(String, usize)>, RegistryError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT model_id, dim FROM watchlist_embeddings GROUP BY model_id, dim LIMIT 2",
        )
        .map_err(dbe(path, "reading the watchlist model"))?;
    let rows: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(dbe(path, "reading the watchlist model"))?
        .collect::<Result<_, _>>()
        .map_err(dbe(path, "reading the watchlist model"))?;
    match rows.as_slice() {
        [] => Ok(None),
        [(model, dim)] => Ok(Some((model.clone(), to_u64(*dim) as usize))),
        [(a, da), (b, dbim), ..] => Err(RegistryError::CorruptWatchlist {
            path: path.to_owned(),
            subject_id: "*".to_owned(),
            message: format!(
                "embeddings of two models or lengths are stored: {a} ({da}) and {b} ({dbim})"
            ),
        }),
    }
}

/// Subjects with their embedding counts, by id; only `subject_id` when given.
fn read_subjects(
    conn: &rusqlite::Connection,
    path: &Path,
    subject_id: Option<&str>,
) -> Result<Vec<SubjectInfo>, RegistryError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.subject_id, s.order_from, s.order_until, s.home_zone, s.status, s.version,
                 COUNT(e.id), MIN(e.model_id)
             FROM watchlist_subjects s
             LEFT JOIN watchlist_embeddings e ON e.subject_id = s.subject_id
             WHERE ?1 IS NULL OR s.subject_id = ?1
             GROUP BY s.subject_id ORDER BY s.subject_id",
        )
        .map_err(dbe(path, "reading subjects"))?;
    let rows = stmt
        .query_map([subject_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                to_u64(r.get::<_, i64>(5)?),
                to_u64(r.get::<_, i64>(6)?) as usize,
                r.get::<_, Option<String>>(7)?,
            ))
        })
        .map_err(dbe(path, "reading subjects"))?;
    let mut out = Vec::new();
    for row in rows {
        let (subject_id, from, until, home_zone, status, version, embeddings, model_id) =
            row.map_err(dbe(path, "reading subjects"))?;
        let corrupt = |message: String| RegistryError::CorruptWatchlist {
            path: path.to_owned(),
            subject_id: subject_id.clone(),
            message,
        };
        out.push(SubjectInfo {
            order_from: parse_time(&from).map_err(corrupt)?,
            order_until: parse_time(&until).map_err(corrupt)?,
            status: parse_subject_status(&status).map_err(corrupt)?,
            subject_id,
            home_zone,
            embeddings,
            model_id,
            version,
        });
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn write_audit(
    tx: &Transaction<'_>,
    path: &Path,
    version: u64,
    at: &str,
    actor: &str,
    action: &str,
    subject_id: &str,
    before: Option<&SubjectInfo>,
    after: Option<&SubjectInfo>,
) -> Result<(), RegistryError> {
    // A SubjectInfo is strings, enums, times and counts: serialising it cannot fail.
    let json = |s: &SubjectInfo| serde_json::to_string(s).unwrap_or_default();
    tx.execute(
        "INSERT INTO watchlist_audit (version, at, actor, action, subject_id, before, after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            version as i64,
            at,
            actor,
            action,
            subject_id,
            before.map(json),
            after.map(json)
        ],
    )
    .map_err(dbe(path, "writing the watchlist audit log"))?;
    Ok(())
}

/// The stored form of an embedding: its values as little-endian `f32`s.
pub fn encode_vector(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The values of a stored embedding of `dim` values.
pub fn decode_vector(blob: &[u8], dim: usize) -> Result<Vec<f32>, String> {
    if dim == 0 || blob.len() != 4 * dim {
        return Err(format!(
            "embedding blob of {} bytes for {dim} dimensions",
            blob.len()
        ));
    }
    Ok(blob
        .chunks_exact(4)
        .map(|c| {
            let mut b = [0u8; 4];
            b.copy_from_slice(c);
            f32::from_le_bytes(b)
        })
        .collect())
}

/// Copies `photo` to `dir/<subject_id>/<sha256[..16]>.<ext>`; returns the copy's path and
/// whether this call created it (an identical copy may be there already).
fn keep_photo(
    dir: &Path,
    subject_id: &str,
    photo: &Path,
) -> Result<(PathBuf, bool), RegistryError> {
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| RegistryError::Photo { path, source }
    };
    let bytes = std::fs::read(photo).map_err(err(photo))?;
    let folder = dir.join(subject_id);
    std::fs::create_dir_all(&folder).map_err(err(&folder))?;
    // Absolute, so that a removal run from another folder finds the copy.
    let folder = std::fs::canonicalize(&folder).map_err(err(&folder))?;
    let ext = photo
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "img".to_owned());
    let digest = hex::encode(Sha256::digest(&bytes));
    let target = folder.join(format!("{}.{ext}", &digest[..16]));
    if target.exists() {
        return Ok((target, false));
    }
    let tmp = target.with_extension(format!("{ext}.tmp"));
    std::fs::write(&tmp, &bytes).map_err(err(&tmp))?;
    std::fs::rename(&tmp, &target).map_err(err(&target))?;
    Ok((target, true))
}

fn remove_files(files: &[PathBuf]) {
    for f in files {
        if let Err(e) = std::fs::remove_file(f) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(file = %f.display(), error = %e, "cannot delete a kept photo");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passwatch_base::time::Clock;
    use std::sync::Arc;

    struct FixedClock(WallTime);
    impl Clock for FixedClock {
        fn now(&self) -> WallTime {
            self.0
        }
    }

    fn t(s: &str) -> WallTime {
        s.parse().unwrap()
    }

    fn open(dir: &tempfile::TempDir) -> Registry {
        Registry::open_with_clock(
            dir.path().join("registry.db"),
            Arc::new(FixedClock(t("2026-04-01T12:00:00Z"))),
        )
        .unwrap()
    }

    fn spec(id: &str, zone: &str) -> SubjectSpec {
        SubjectSpec {
            subject_id: id.into(),
            order_from: t("2026-04-01T00:00:00Z"),
            order_until: t("2026-05-01T00:00:00Z"),
            home_zone: zone.into(),
            status: SubjectStatus::Active,
        }
    }

    /// A unit vector of `dim` values, mostly along axis `axis`.
    fn emb(model: &str, dim: usize, axis: usize, tilt: f32) -> Embedding {
        let mut v = vec![0.01f32; dim];
        v[axis % dim] = 1.0;
        v[(axis + 1) % dim] += tilt;
        Embedding::from_raw(model, v).unwrap()
    }

    #[test]
    fn enrol_list_remove_with_versions_and_audit() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = open(&dir);
        reg.import_text(
            "code,kind,plate,valid_from,valid_until,zones\n\
             AAAAAAAAAAAAAAA1,vehicle,ABC123,2026-04-01T00:00:00Z,2026-04-30T00:00:00Z,*",
            crate::FileFormat::Csv,
            "passes.csv",
            "alice",
        )
        .unwrap();

        let v2 = reg
            .enroll(
                spec("S-17", "north"),
                vec![(emb("m", 8, 0, 0.0), 0.9), (emb("m", 8, 0, 0.3), 0.7)],
                "bob",
            )
            .unwrap();
        assert_eq!(
            (v2.version, v2.action.as_str(), v2.inserted, v2.removed),
            (2, "enroll", 1, 0)
        );
        assert_eq!(
            v2.to_string(),
            "version 2 (enroll by bob): 1 inserted, 0 updated, 0 unchanged"
        );
        let v3 = reg
            .enroll(
                spec("S-18", "south"),
                vec![(emb("m", 8, 3, 0.0), 0.8)],
                "bob",
            )
            .unwrap();
        assert_eq!(v3.version, 3);

        // An update: a new window and one more embedding, plus one already stored (skipped).
        let mut changed = spec("S-17", "north");
        changed.order_until = t("2026-06-01T00:00:00Z");
        let v4 = reg
            .enroll(
                changed.clone(),
                vec![(emb("m", 8, 0, 0.0), 0.9), (emb("m", 8, 0, 0.6), 0.5)],
                "carol",
            )
            .unwrap();
        assert_eq!((v4.version, v4.inserted, v4.updated), (4, 0, 1));
        // The same again: nothing changes, but the request is on record.
        let v5 = reg
            .enroll(changed, vec![(emb("m", 8, 0, 0.6), 0.5)], "carol")
            .unwrap();
        assert_eq!((v5.version, v5.unchanged), (5, 1));

        let subjects = reg.list_subjects().unwrap();
        assert_eq!(subjects.len(), 2);
        let s17 = &subjects[0];
        assert_eq!(s17.subject_id, "S-17");
        assert_eq!(s17.embeddings, 3);
        assert_eq!(s17.model_id.as_deref(), Some("m"));
        assert_eq!(s17.version, 4);
        assert_eq!(s17.order_until, t("2026-06-01T00:00:00Z"));
        assert_eq!(reg.subject("S-18").unwrap().unwrap().embeddings, 1);
        assert_eq!(reg.subject("nobody").unwrap(), None);
        assert_eq!(reg.watchlist_model().unwrap(), Some(("m".into(), 8)));

        let v6 = reg.remove_subject("S-17", "dave").unwrap();
        assert_eq!((v6.version, v6.removed), (6, 1));
        assert_eq!(
            v6.to_string(),
            "version 6 (remove_subject by dave): 0 inserted, 0 updated, 0 unchanged, 1 removed"
        );
        assert!(reg.subject("S-17").unwrap().is_none());
        assert_eq!(reg.list_subjects().unwrap().len(), 1);
        let left: i64 = reg
            .conn
            .query_row(
                "SELECT COUNT(*) FROM watchlist_embeddings WHERE subject_id = 'S-17'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
        assert!(matches!(
            reg.remove_subject("S-17", "dave"),
            Err(RegistryError::UnknownSubject(_))
        ));

        // One version counter for passes and the watchlist.
        let versions = reg.versions().unwrap();
        let actions: Vec<(u64, &str, &str)> = versions
            .iter()
            .map(|v| (v.version, v.action.as_str(), v.actor.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                (1, "import", "alice"),
                (2, "enroll", "bob"),
                (3, "enroll", "bob"),
                (4, "enroll", "carol"),
                (5, "enroll", "carol"),
                (6, "remove_subject", "dave"),
            ]
        );
        assert_eq!(versions[5].removed, 1);
        assert_eq!(versions[0].removed, 0);

        let audit = reg.watchlist_audit_log(Some("S-17")).unwrap();
        let rows: Vec<(u64, &str, &str)> = audit
            .iter()
            .map(|e| (e.version, e.action.as_str(), e.actor.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (2, "insert", "bob"),
                (4, "update", "carol"),
                (6, "remove", "dave")
            ]
        );
        assert!(audit[0].before.is_none());
        let after: SubjectInfo = serde_json::from_str(audit[1].after.as_deref().unwrap()).unwrap();
        assert_eq!(after.embeddings, 3);
        assert_eq!(after.version, 4);
        let removed: SubjectInfo =
            serde_json::from_str(audit[2].before.as_deref().unwrap()).unwrap();
        assert_eq!(removed.embeddings, 3);
        assert!(audit[2].after.is_none());
        // The audit holds summaries, never vectors.
        for e in reg.watchlist_audit_log(None).unwrap() {
            for text in [e.before, e.after].into_iter().flatten() {
                assert!(!text.contains("vector") && text.len() < 400, "{text}");
            }
        }
        // The pass audit log is untouched by the watchlist.
        assert_eq!(reg.audit_log(None).unwrap().len(), 1);
    }

    #[test]
    fn bad_subjects_and_embeddings_store_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = open(&dir);
        let err = SubjectSpec::parse(
            "S 17",
            "2026-05-01T00:00:00Z",
            "2026-04-01T00:00:00Z",
            "",
            Some("paused"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("watchlist subject \"S 17\": status: bad status"),
            "{msg}"
        );
        assert!(msg.contains("subject_id: bad id \"S 17\""), "{msg}");
        assert!(msg.contains("home_zone: bad zone id \"\""), "{msg}");
        let err = SubjectSpec::parse(
            "S-17",
            "2026-05-01T00:00:00Z",
            "2026-04-01T00:00:00Z",
            "north",
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "watchlist subject \"S-17\": order_until: 2026-04-01T00:00:00Z is not after \
             order_from 2026-05-01T00:00:00Z, nothing stored"
        );
        let ok = SubjectSpec::parse(
            "S-17",
            "2026-04-01T02:00:00+02:00",
            "2026-05-01T00:00:00Z",
            "north",
            Some("Inactive"),
        )
        .unwrap();
        assert_eq!(ok.order_from, t("2026-04-01T00:00:00Z"));
        assert_eq!(ok.status, SubjectStatus::Inactive);

        // A new subject needs an embedding; qualities must be in 0..1; no actor, no change.
        assert!(matches!(
            reg.enroll(spec("S-1", "north"), vec![], "alice"),
            Err(RegistryError::InvalidSubject { .. })
        ));
        assert!(matches!(
            reg.enroll(
                spec("S-1", "north"),
                vec![(emb("m", 4, 0, 0.0), f32::NAN)],
                "alice"
            ),
            Err(RegistryError::InvalidSubject { .. })
        ));
        assert!(matches!(
            reg.enroll(spec("S-1", "north"), vec![(emb("m", 4, 0, 0.0), 0.5)], " "),
            Err(RegistryError::MissingActor)
        ));
        // Mixed models or dimensions in one call.
        let err = reg
            .enroll(
                spec("S-1", "north"),
                vec![(emb("m", 4, 0, 0.0), 0.5), (emb("m", 5, 0, 0.0), 0.5)],
                "alice",
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "watchlist subject \"S-1\": embeddings[1]: model m with 5 dimensions, where \
             embeddings[0] is model m with 4, nothing stored"
        );
        assert_eq!(reg.current_version().unwrap(), 0);
        assert!(reg.list_subjects().unwrap().is_empty());
    }

    #[test]
    fn another_model_is_refused_on_enrol_and_on_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = open(&dir);
        // Before anything is enrolled, any model may search (and finds nobody).
        let empty = reg.watchlist_snapshot("fr-feature-512").unwrap();
        assert!(empty.is_empty());
        assert_eq!(
            empty
                .best_match(&[emb("fr-feature-512", 8, 0, 0.0)])
                .unwrap(),
            None
        );
        assert!(empty.best_match(&[emb("other", 8, 0, 0.0)]).is_err());

        reg.enroll(
            spec("S-1", "north"),
            vec![(emb("fr-feature-512", 8, 0, 0.0), 0.9)],
            "alice",
        )
        .unwrap();
        let err = reg
            .enroll(
                spec("S-2", "north"),
                vec![(emb("arcface-r100", 8, 1, 0.0), 0.9)],
                "alice",
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the watchlist holds embeddings of model fr-feature-512; enrolling with embeddings \
             of model arcface-r100 is refused (re-enrol every subject with the new model, or \
             use fr-feature-512)"
        );
        // Another length under the same model id.
        assert!(matches!(
            reg.enroll(
                spec("S-2", "north"),
                vec![(emb("fr-feature-512", 9, 1, 0.0), 0.9)],
                "alice"
            ),
            Err(RegistryError::WatchlistDimension {
                stored: 8,
                offered: 9,
                ..
            })
        ));
        assert_eq!(reg.current_version().unwrap(), 1);
        assert!(reg.subject("S-2").unwrap().is_none());

        let err = reg.watchlist_snapshot("arcface-r100").unwrap_err();
        assert!(
            matches!(
                &err,
                RegistryError::WatchlistModel {
                    action: "searching",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("fr-feature-512"), "{err}");
        assert!(err.to_string().contains("arcface-r100"), "{err}");
    }

    #[test]
    fn embeddings_round_trip_bit_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = open(&dir);
        // Awkward values: subnormal-ish, negative, many significant bits.
        let raw: Vec<f32> = (0..512)
            .map(|i| ((i as f32) * 0.618_034).sin() * if i % 7 == 0 { 1e-30 } else { 1.0 })
            .collect();
        let e = Embedding::from_raw("m", raw).unwrap();
        reg.enroll(
            spec("S-1", "north"),
            vec![(e.clone(), 0.123_456_79)],
            "alice",
        )
        .unwrap();
        let (blob, dim, quality): (Vec<u8>, i64, f64) = reg
            .conn
            .query_row(
                "SELECT vector, dim, quality FROM watchlist_embeddings",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(dim, 512);
        assert_eq!(blob.len(), 2048);
        assert_eq!(&blob[..4], &e.as_slice()[0].to_le_bytes());
        let back = decode_vector(&blob, 512).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(e.as_slice()));
        assert_eq!(quality as f32, 0.123_456_79);
        assert!(decode_vector(&blob[..2047], 512).is_err());
        assert!(decode_vector(&[], 0).is_err());

        // Through the snapshot: `Embedding::from_raw` normalises again, which may move a value
        // by a rounding step at most.
        let snap = reg.watchlist_snapshot("m").unwrap();
        let stored = snap.index().references_of("S-1");
        assert_eq!(stored.len(), 1);
        for (a, b) in stored[0].as_slice().iter().zip(e.as_slice()) {
            assert!(
                (a.to_bits() as i64 - b.to_bits() as i64).abs() <= 1,
                "{a} vs {b}"
            );
        }
    }

    #[test]
    fn snapshot_search_finds_the_enrolled_subject() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = open(&dir);
        reg.enroll(spec("S-1", "north"), vec![(emb("m", 16, 0, 0.0), 0.9)], "a")
            .unwrap();
        reg.enroll(
            spec("S-2", "south"),
            vec![(emb("m", 16, 5, 0.0), 0.9), (emb("m", 16, 9, 0.0), 0.8)],
            "a",
        )
        .unwrap();
        let mut gone = spec("S-3", "east");
        gone.status = SubjectStatus::Inactive;
        reg.enroll(gone, vec![(emb("m", 16, 12, 0.0), 0.9)], "a")
            .unwrap();
        let snap = reg.watchlist_snapshot("m").unwrap();
        assert_eq!(snap.version, 3);
        assert_eq!(snap.len(), 3);
        assert_eq!(snap.model_id(), "m");
        assert_eq!(snap.index().references(), 4);
        assert_eq!(snap.subject("S-2").unwrap().home_zone, "south");

        // A face near S-2's second reference, and a poorer one near S-1: S-2 wins.
        let queries = [emb("m", 16, 9, 0.2), emb("m", 16, 0, 0.9)];
        let best = snap.best_match(&queries).unwrap().unwrap();
        assert_eq!(best.subject_id, "S-2");
        assert_eq!(best.reference, 1);
        assert!(best.score > 0.95, "{best:?}");
        // Inactive subjects are in the index (see the module docs).
        let best = snap.best_match(&[emb("m", 16, 12, 0.0)]).unwrap().unwrap();
        assert_eq!(best.subject_id, "S-3");
        assert!(best.score > 0.9999);
        // A snapshot is a copy: later changes do not reach it.
        reg.remove_subject("S-2", "a").unwrap();
        assert_eq!(
            snap.best_match(&queries).unwrap().unwrap().subject_id,
            "S-2"
        );
        let after = reg.watchlist_snapshot("m").unwrap();
        assert_eq!(after.version, 4);
        assert_eq!(
            after.best_match(&queries).unwrap().unwrap().subject_id,
            "S-1"
        );
        assert!(snap.search(&[emb("x", 16, 0, 0.0)], 1).is_err());
    }

    /// A window of bytes that only this vector's blob holds.
    fn pattern_of(e: &Embedding) -> Vec<u8> {
        encode_vector(&e.as_slice()[..16])
    }

    fn file_holds(path: &Path, pattern: &[u8]) -> bool {
        let bytes = std::fs::read(path).unwrap_or_default();
        bytes.windows(pattern.len()).any(|w| w == pattern)
    }

    /// A unit vector of `dim` pseudo-random values: its bytes occur nowhere else.
    fn distinctive(seed: u64, dim: usize) -> Embedding {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let raw = (0..dim)
            .map(|_| {
                // xorshift64
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 24) as f32 + 0.01
            })
            .collect();
        Embedding::from_raw("m", raw).unwrap()
    }

    #[test]
    fn removal_overwrites_the_vectors_in_the_file() {
        // 64 values: many rows per page, so the removed row shares its page with rows that
        // stay. 512 values (the default embedder's): a row per page, freed by the removal.
        removal_overwrites(64);
        removal_overwrites(512);
    }

    fn removal_overwrites(dim: usize) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("registry.db");
        let wal = dir.path().join("registry.db-wal");
        let mut reg = open(&dir);
        let vectors: Vec<Embedding> = (1..=6).map(|seed| distinctive(seed, dim)).collect();
        for (i, e) in vectors.iter().enumerate() {
            reg.enroll(
                spec(&format!("S-{i}"), "north"),
                vec![(e.clone(), 0.9)],
                "a",
            )
            .unwrap();
        }
        // Enrolled, and checkpointed: every vector is in the main file.
        reg.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap();
        assert!(vectors.iter().all(|e| file_holds(&db, &pattern_of(e))));

        reg.remove_subject("S-2", "a").unwrap();
        let gone = pattern_of(&vectors[2]);
        assert!(!file_holds(&db, &gone), "removed vector in the db file");
        assert!(!file_holds(&wal, &gone), "removed vector in the WAL");
        assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
        // The others are still found: the scan does see vectors that are there.
        for (i, e) in vectors.iter().enumerate() {
            assert_eq!(file_holds(&db, &pattern_of(e)), i != 2, "subject {i}");
        }
        // Still so after closing.
        drop(reg);
        assert!(!file_holds(&db, &gone));
    }

    /// The control for the test above: without `secure_delete`, SQLite leaves a deleted blob in
    /// the file, and the same scan finds it.
    #[test]
    fn without_secure_delete_a_deleted_blob_stays_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.db");
        let vectors: Vec<Embedding> = (1..=6).map(|seed| distinctive(seed, 64)).collect();
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.query_row("PRAGMA secure_delete = OFF", [], |r| r.get::<_, i64>(0))
                .unwrap();
            conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
                .unwrap();
            for e in &vectors {
                conn.execute(
                    "INSERT INTO t (v) VALUES (?1)",
                    [encode_vector(e.as_slice())],
                )
                .unwrap();
            }
            conn.execute("DELETE FROM t WHERE id = 3", []).unwrap();
        }
        assert!(file_holds(&path, &pattern_of(&vectors[2])));
    }

    #[test]
    fn photos_are_kept_only_when_asked_and_go_with_the_subject() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = open(&dir);
        let photo = dir.path().join("Face_01.JPG");
        std::fs::write(&photo, b"not really a jpeg").unwrap();
        let kept_dir = dir.path().join("kept");

        // Default: nothing is copied.
        reg.enroll(spec("S-1", "north"), vec![(emb("m", 4, 0, 0.0), 0.9)], "a")
            .unwrap();
        assert!(!kept_dir.exists());

        reg.enroll_keeping_photos(
            spec("S-2", "north"),
            vec![(emb("m", 4, 1, 0.0), 0.9, photo.clone())],
            &kept_dir,
            "a",
        )
        .unwrap();
        let copies: Vec<PathBuf> = std::fs::read_dir(kept_dir.join("S-2"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(copies.len(), 1);
        assert_eq!(std::fs::read(&copies[0]).unwrap(), b"not really a jpeg");
        assert!(copies[0].to_str().unwrap().ends_with(".jpg"));

        // A failed enrolment leaves no copy behind.
        let other = dir.path().join("other.png");
        std::fs::write(&other, b"another photo").unwrap();
        assert!(reg
            .enroll_keeping_photos(
                spec("S-3", "north"),
                vec![(emb("x", 4, 1, 0.0), 0.9, other)],
                &kept_dir,
                "a",
            )
            .is_err());
        assert!(std::fs::read_dir(kept_dir.join("S-3"))
            .map(|d| d.count() == 0)
            .unwrap_or(true));
        // A missing photo: nothing stored.
        assert!(matches!(
            reg.enroll_keeping_photos(
                spec("S-4", "north"),
                vec![(emb("m", 4, 2, 0.0), 0.9, dir.path().join("missing.jpg"))],
                &kept_dir,
                "a",
            ),
            Err(RegistryError::Photo { .. })
        ));
        assert!(reg.subject("S-4").unwrap().is_none());

        reg.remove_subject("S-2", "a").unwrap();
        assert!(!copies[0].exists());
        assert!(!kept_dir.join("S-2").exists());
    }

    #[test]
    fn a_version_1_file_is_migrated_with_its_passes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(super::super::schema::MIGRATIONS[0])
                .unwrap();
            conn.execute_batch(
                "INSERT INTO registry_versions VALUES (1, '2026-04-01T00:00:00Z', 'alice',
                     'import', 'p.csv', 1, 0, 0);
                 INSERT INTO passes VALUES ('AAAAAAAAAAAAAAA1', 'vehicle', 'ABC123', NULL,
                     '2026-04-01T00:00:00Z', '2026-04-30T00:00:00Z', '*', '', 'active', '', 1);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let mut reg = open(&dir);
        let versions = reg.versions().unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].removed, 0);
        assert!(reg.pass("AAAAAAAAAAAAAAA1").unwrap().is_some());
        let v = reg
            .enroll(spec("S-1", "north"), vec![(emb("m", 4, 0, 0.0), 0.9)], "a")
            .unwrap();
        assert_eq!(v.version, 2);
    }
}
