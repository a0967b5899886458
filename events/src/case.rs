//! Case export: the events of an appeal, with their evidence, in one archive whose every byte
//! can be checked.
//!
//! Someone who contests a fine, and whoever hears the appeal, need the event as it was decided,
//! what reviewers did with it, and the images — and the assurance that none of it changed on
//! the way. [`write_case`] writes one uncompressed tar archive:
//!
//! ```text
//! events/<event_id>/event.json   the ReviewedEvent: the event as decided (its reads inside),
//!                                its review state now, every verdict
//! events/<event_id>/crop.jpg     the evidence, copied from the data folder after its SHA-256
//! events/<event_id>/frame.jpg    was checked against the hash the event recorded
//! manifest.json                  last: schema passwatch.case.v1, who exported it and when, the
//!                                event ids, every file's path, size and SHA-256, and the files
//!                                that are absent and why (purged by retention, never taken)
//! ```
//!
//! Evidence whose bytes do not match the hash its event recorded is never exported: the export
//! fails naming the event, the file and both hashes. Evidence purged by retention is listed as
//! absent with the day it was purged; evidence missing for any other reason is an error.
//! Everything is read and checked before the first byte is written, so a refused export writes
//! nothing.
//!
//! [`verify_case`] reads an archive back and checks every file against the manifest — missing,
//! extra and altered files are each named — and every image against the hash in its own
//! `event.json`. The manifest's own SHA-256 ([`CaseSummary::manifest_sha256`]) is what the
//! audit log records for an export, so a manifest rewritten to match altered files shows too.
//!
//! The archive is deterministic: the same events, state, actor and time give the same bytes
//! (entries in a fixed order, times set to the export's, owner 0).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use passwatch_base::time::WallTime;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::evidence::{is_safe_event_id, EvidenceFile};
use crate::retention::{evidence_purged, EVIDENCE_DIR};
use crate::review::{time_key, ReviewedEvent};
use crate::{EventError, Journal};

/// The schema id of a case manifest.
pub const CASE_SCHEMA: &str = "passwatch.case.v1";
/// The manifest's name in the archive.
pub const MANIFEST: &str = "manifest.json";
/// The most events one case holds.
pub const MAX_CASE_EVENTS: usize = 10_000;
/// The largest evidence file exported (evidence JPEGs are far smaller; a bigger file is not
/// evidence this program wrote).
pub const MAX_EVIDENCE_BYTES: u64 = 64 << 20;
/// The largest `manifest.json` or `event.json` read back.
const MAX_JSON_BYTES: u64 = 64 << 20;

/// One file in the archive, as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// Its path in the archive, `/`-separated.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
}

/// An evidence file the case does not hold, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbsentFile {
    /// The path it would have in the archive.
    pub path: String,
    /// Its event.
    pub event_id: String,
    /// The SHA-256 the event recorded for it, if it had one: whoever still holds the file can
    /// check it.
    pub recorded_sha256: Option<String>,
    /// Why it is absent, e.g. `evidence purged by retention on 2026-06-01`.
    pub reason: String,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`CASE_SCHEMA`].
    pub schema: String,
    /// Who exported the case.
    pub exported_by: String,
    /// When (RFC 3339 UTC, milliseconds).
    pub exported_at: String,
    /// The events, in the order given.
    pub events: Vec<String>,
    /// Every file of the archive but the manifest, in archive order.
    pub files: Vec<CaseFile>,
    /// Evidence the case does not hold.
    pub absent: Vec<AbsentFile>,
}

/// What a case holds: what [`write_case`] wrote or [`verify_case`] checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSummary {
    /// Who exported it.
    pub exported_by: String,
    /// When (RFC 3339 UTC, milliseconds).
    pub exported_at: String,
    /// The events.
    pub events: Vec<String>,
    /// Files in the archive, the manifest not counted.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Evidence the case does not hold, and why.
    pub absent: Vec<AbsentFile>,
    /// The SHA-256 of `manifest.json`: it names the whole archive.
    pub manifest_sha256: String,
}

/// One thing wrong with a case archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum CaseProblem {
    /// The manifest lists the file; the archive does not hold it.
    Missing {
        /// The file.
        path: String,
    },
    /// The archive holds a file the manifest does not list.
    Extra {
        /// The file.
        path: String,
    },
    /// The file's bytes are not the ones the manifest lists.
    Altered {
        /// The file.
        path: String,
        /// The size the manifest lists.
        expected_size: u64,
        /// Its size in the archive.
        found_size: u64,
        /// The SHA-256 the manifest lists.
        expected_sha256: String,
        /// Its SHA-256 in the archive.
        found_sha256: String,
    },
    /// An image whose SHA-256 is not the one its `event.json` recorded.
    NotTheRecordedEvidence {
        /// The file.
        path: String,
        /// The hash its event recorded.
        recorded_sha256: String,
        /// Its hash in the archive.
        found_sha256: String,
    },
    /// A file or entry that has no place in a case (a bad path, a duplicate, a link, an
    /// `event.json` that is not its event's).
    Unexpected {
        /// The entry.
        path: String,
        /// What is wrong with it.
        why: String,
    },
}

impl CaseProblem {
    /// The file it is about.
    pub fn path(&self) -> &str {
        match self {
            CaseProblem::Missing { path }
            | CaseProblem::Extra { path }
            | CaseProblem::Altered { path, .. }
            | CaseProblem::NotTheRecordedEvidence { path, .. }
            | CaseProblem::Unexpected { path, .. } => path,
        }
    }
}

impl fmt::Display for CaseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseProblem::Missing { path } => {
                write!(
                    f,
                    "{path}: listed in the manifest, missing from the archive"
                )
            }
            CaseProblem::Extra { path } => {
                write!(f, "{path}: in the archive, not listed in the manifest")
            }
            CaseProblem::Altered {
                path,
                expected_size,
                found_size,
                expected_sha256,
                found_sha256,
            } => write!(
                f,
                "{path}: altered: the manifest lists {expected_size} bytes with SHA-256 \
                 {expected_sha256}, the archive holds {found_size} bytes with SHA-256 \
                 {found_sha256}"
            ),
            CaseProblem::NotTheRecordedEvidence {
                path,
                recorded_sha256,
                found_sha256,
            } => write!(
                f,
                "{path}: SHA-256 {found_sha256} is not the {recorded_sha256} its event recorded"
            ),
            CaseProblem::Unexpected { path, why } => write!(f, "{path}: {why}"),
        }
    }
}

fn display_problems(problems: &[CaseProblem]) -> String {
    match problems {
        [one] => format!("case archive is broken: {one}"),
        _ => {
            let mut s = format!("case archive is broken: {} problems:", problems.len());
            for p in problems {
                s.push_str(&format!("\n  {p}"));
            }
            s
        }
    }
}

/// Why a case could not be exported or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// No event was asked for.
    #[error("no event to export")]
    NoEvents,
    /// More events than [`MAX_CASE_EVENTS`].
    #[error("{0} events are more than a case holds ({MAX_CASE_EVENTS}): split the case")]
    TooManyEvents(usize),
    /// An id that cannot be an event id.
    #[error("bad event id {0:?}: use 1 to 64 ASCII letters, digits, '-' or '_'")]
    BadEventId(String),
    /// An id the journal does not hold.
    #[error("no event {0} in the journal")]
    UnknownEvent(String),
    /// The exporter's name is empty, too long or not printable.
    #[error("bad exporter name {0:?}: use 1 to 128 printable characters")]
    BadActor(String),
    /// An event's evidence record names a file outside its own evidence folder.
    #[error("event {event_id}: its evidence record names {file:?}, not {expected:?}")]
    EvidenceRecord {
        /// The event.
        event_id: String,
        /// The file it names.
        file: String,
        /// The file it should name.
        expected: String,
    },
    /// Evidence the event recorded is not on disk, and retention did not purge it.
    #[error(
        "event {event_id}: evidence {} is missing, and retention did not purge it",
        path.display()
    )]
    EvidenceMissing {
        /// The event.
        event_id: String,
        /// The file.
        path: PathBuf,
    },
    /// Evidence whose bytes are not the ones the event recorded: never exported.
    #[error(
        "event {event_id}: {file} has SHA-256 {found}, but the event recorded {recorded}: the \
         evidence changed after the decision; nothing exported"
    )]
    EvidenceMismatch {
        /// The event.
        event_id: String,
        /// The file, relative to the data folder.
        file: String,
        /// The hash the event recorded.
        recorded: String,
        /// The hash of the file now.
        found: String,
    },
    /// An evidence file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] EventError),
    /// The archive could not be written.
    #[error("cannot write the case archive")]
    Write(#[source] std::io::Error),
    /// The input is not a readable tar archive.
    #[error("cannot read the case archive")]
    Archive(#[source] std::io::Error),
    /// The archive holds no `manifest.json`.
    #[error("the archive holds no {MANIFEST}: not a passwatch case")]
    NoManifest,
    /// `manifest.json` is not a case manifest.
    #[error("{MANIFEST} is not a case manifest")]
    Manifest(#[source] serde_json::Error),
    /// `manifest.json` is of another schema.
    #[error("{MANIFEST} has schema {0:?}; this passwatch reads {CASE_SCHEMA}")]
    UnknownSchema(String),
    /// The archive does not match its manifest: every problem found.
    #[error("{}", display_problems(problems))]
    Invalid {
        /// Every problem, each naming its file.
        problems: Vec<CaseProblem>,
    },
}

/// One file to put in the archive.
struct Member {
    path: String,
    bytes: Vec<u8>,
}

/// The evidence file `name` of `event_id`, read and checked against `record`.
fn load_evidence(
    data_dir: &Path,
    event_id: &str,
    name: &str,
    record: &EvidenceFile,
) -> Result<Vec<u8>, CaseError> {
    let expected = format!("{EVIDENCE_DIR}/{event_id}/{name}");
    if record.file != expected {
        return Err(CaseError::EvidenceRecord {
            event_id: event_id.to_owned(),
            file: record.file.clone(),
            expected,
        });
    }
    let path = data_dir.join(EVIDENCE_DIR).join(event_id).join(name);
    let read_err = |source| CaseError::Read {
        path: path.clone(),
        source,
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CaseError::EvidenceMissing {
                event_id: event_id.to_owned(),
                path: path.clone(),
            })
        }
        Err(e) => return Err(read_err(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_EVIDENCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let found = hex::encode(Sha256::digest(&bytes));
    if bytes.len() as u64 > MAX_EVIDENCE_BYTES || !found.eq_ignore_ascii_case(&record.sha256) {
        return Err(CaseError::EvidenceMismatch {
            event_id: event_id.to_owned(),
            file: expected,
            recorded: record.sha256.clone(),
            found,
        });
    }
    Ok(bytes)
}

fn valid_actor(actor: &str) -> bool {
    let n = actor.chars().count();
    (1..=128).contains(&n) && !actor.chars().any(char::is_control) && actor.trim() == actor
}

/// Writes the case of `event_ids` (duplicates dropped, order kept) from data folder `data_dir`
/// and its `journal`, exported by `exported_by` at `at`, as one tar archive to `out`; see the
/// module docs. Every event and evidence file is read and checked before anything is written:
/// an unknown id, a missing or altered evidence file is an error, and `out` gets nothing.
pub fn write_case(
    data_dir: &Path,
    journal: &Journal,
    event_ids: &[String],
    exported_by: &str,
    at: WallTime,
    mut out: impl Write,
) -> Result<CaseSummary, CaseError> {
    if !valid_actor(exported_by) {
        return Err(CaseError::BadActor(exported_by.to_owned()));
    }
    let mut seen = HashSet::new();
    let ids: Vec<&str> = event_ids
        .iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect();
    if ids.is_empty() {
        return Err(CaseError::NoEvents);
    }
    if ids.len() > MAX_CASE_EVENTS {
        return Err(CaseError::TooManyEvents(ids.len()));
    }
    if let Some(bad) = ids.iter().find(|id| !is_safe_event_id(id)) {
        return Err(CaseError::BadEventId((*bad).to_owned()));
    }
    let mut members: Vec<Member> = Vec::new();
    let mut absent: Vec<AbsentFile> = Vec::new();
    for id in &ids {
        let reviewed: ReviewedEvent = journal
            .reviewed(id)?
            .ok_or_else(|| CaseError::UnknownEvent((*id).to_owned()))?;
        let mut json =
            serde_json::to_vec_pretty(&reviewed).map_err(|source| EventError::Serialise {
                event_id: (*id).to_owned(),
                source,
            })?;
        json.push(b'\n');
        members.push(Member {
            path: format!("events/{id}/event.json"),
            bytes: json,
        });
        let purged = evidence_purged(journal, id)?;
        let evidence = reviewed.event.evidence.as_ref();
        for (name, record) in [
            ("crop.jpg", evidence.map(|e| &e.crop)),
            ("frame.jpg", evidence.map(|e| &e.frame)),
        ] {
            let path = format!("events/{id}/{name}");
            let absent_because = |reason: String| AbsentFile {
                path: path.clone(),
                event_id: (*id).to_owned(),
                recorded_sha256: record.map(|r| r.sha256.clone()),
                reason,
            };
            match (record, &purged) {
                (None, _) => absent.push(absent_because("the event has no evidence".to_owned())),
                (Some(_), Some(p)) => absent.push(absent_because(p.to_string())),
                (Some(record), None) => {
                    let bytes = load_evidence(data_dir, id, name, record)?;
                    members.push(Member { path, bytes });
                }
            }
        }
    }
    let files: Vec<CaseFile> = members
        .iter()
        .map(|m| CaseFile {
            path: m.path.clone(),
            size: m.bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&m.bytes)),
        })
        .collect();
    let manifest = Manifest {
        schema: CASE_SCHEMA.to_owned(),
        exported_by: exported_by.to_owned(),
        exported_at: time_key(at),
        events: ids.iter().map(|id| (*id).to_owned()).collect(),
        files,
        absent,
    };
    let mut manifest_bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|source| EventError::Serialise {
            event_id: ids[0].to_owned(),
            source,
        })?;
    manifest_bytes.push(b'\n');

    let mtime = u64::try_from(at.timestamp()).unwrap_or(0);
    let mut builder = tar::Builder::new(&mut out);
    for m in members.iter().chain(std::iter::once(&Member {
        path: MANIFEST.to_owned(),
        bytes: manifest_bytes.clone(),
    })) {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(m.bytes.len() as u64);
        header.set_mode(0o444);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(&mut header, &m.path, m.bytes.as_slice())
            .map_err(CaseError::Write)?;
    }
    builder.into_inner().map_err(CaseError::Write)?;
    out.flush().map_err(CaseError::Write)?;
    Ok(summary(&manifest, &manifest_bytes))
}

fn summary(manifest: &Manifest, manifest_bytes: &[u8]) -> CaseSummary {
    CaseSummary {
        exported_by: manifest.exported_by.clone(),
        exported_at: manifest.exported_at.clone(),
        events: manifest.events.clone(),
        files: manifest.files.len() as u64,
        bytes: manifest.files.iter().map(|f| f.size).sum(),
        absent: manifest.absent.clone(),
        manifest_sha256: hex::encode(Sha256::digest(manifest_bytes)),
    }
}

/// A file read back from the archive.
struct Found {
    size: u64,
    sha256: String,
    /// The bytes of `event.json` files (to check the images against), none for others.
    json: Option<Vec<u8>>,
}

/// Reads `entry` to its end, hashing it; keeps the bytes when `keep` (up to [`MAX_JSON_BYTES`]).
fn read_entry(entry: &mut impl Read, keep: bool) -> std::io::Result<Found> {
    let mut hasher = Sha256::new();
    let mut kept = keep.then(Vec::new);
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
        if let Some(k) = kept.as_mut() {
            if size <= MAX_JSON_BYTES {
                k.extend_from_slice(&buf[..n]);
            }
        }
    }
    Ok(Found {
        size,
        sha256: hex::encode(hasher.finalize()),
        json: kept.filter(|_| size <= MAX_JSON_BYTES),
    })
}

/// A path in the archive as text, if it is a plain relative path (no `..`, no root).
fn plain_path(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Reads a case archive and checks it whole: every file the manifest lists is there with its
/// size and SHA-256, nothing else is, each `event.json` is its folder's event, and each image
/// has the hash its event recorded. Returns what the case holds, or every problem found, each
/// naming its file ([`CaseError::Invalid`]).
pub fn verify_case(input: impl Read) -> Result<CaseSummary, CaseError> {
    let mut archive = tar::Archive::new(input);
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut manifest_bytes: Option<Vec<u8>> = None;
    let mut problems: Vec<CaseProblem> = Vec::new();
    for entry in archive.entries().map_err(CaseError::Archive)? {
        let mut entry = entry.map_err(CaseError::Archive)?;
        let raw = entry.path().map_err(CaseError::Archive)?.into_owned();
        let Some(path) = plain_path(&raw) else {
            problems.push(CaseProblem::Unexpected {
                path: raw.to_string_lossy().into_owned(),
                why: "not a plain relative path".to_owned(),
            });
            continue;
        };
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            if !kind.is_dir() {
                problems.push(CaseProblem::Unexpected {
                    path,
                    why: format!("an entry of type {kind:?}, not a file"),
                });
            }
            continue;
        }
        let is_manifest = path == MANIFEST;
        let keep = is_manifest || path.ends_with("/event.json");
        let f = read_entry(&mut entry, keep).map_err(CaseError::Archive)?;
        if is_manifest {
            if manifest_bytes.is_some() {
                problems.push(CaseProblem::Unexpected {
                    path,
                    why: "a second manifest".to_owned(),
                });
            } else {
                manifest_bytes = Some(f.json.ok_or_else(|| {
                    CaseError::Archive(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{MANIFEST} is larger than {MAX_JSON_BYTES} bytes"),
                    ))
                })?);
            }
        } else {
            match found.entry(path) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    problems.push(CaseProblem::Unexpected {
                        path: e.key().clone(),
                        why: "in the archive twice".to_owned(),
                    })
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(f);
                }
            }
        }
    }
    let manifest_bytes = manifest_bytes.ok_or(CaseError::NoManifest)?;
    let schema: Option<String> = serde_json::from_slice::<serde_json::Value>(&manifest_bytes)
        .ok()
        .and_then(|v| v.get("schema")?.as_str().map(str::to_owned));
    if let Some(s) = schema.filter(|s| s != CASE_SCHEMA) {
        return Err(CaseError::UnknownSchema(s));
    }
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(CaseError::Manifest)?;

    let events: BTreeSet<&str> = manifest.events.iter().map(String::as_str).collect();
    let mut listed: BTreeSet<&str> = BTreeSet::new();
    let mut intact: BTreeSet<&str> = BTreeSet::new();
    for f in &manifest.files {
        if !listed.insert(&f.path) {
            problems.push(CaseProblem::Unexpected {
                path: f.path.clone(),
                why: "listed in the manifest twice".to_owned(),
            });
            continue;
        }
        let in_place = f
            .path
            .strip_prefix("events/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(id, name)| {
                events.contains(id) && ["event.json", "crop.jpg", "frame.jpg"].contains(&name)
            });
        if !in_place {
            problems.push(CaseProblem::Unexpected {
                path: f.path.clone(),
                why: "not a file of an event the manifest lists".to_owned(),
            });
        }
        match found.get(&f.path) {
            None => problems.push(CaseProblem::Missing {
                path: f.path.clone(),
            }),
            Some(got) if got.size != f.size || !got.sha256.eq_ignore_ascii_case(&f.sha256) => {
                problems.push(CaseProblem::Altered {
                    path: f.path.clone(),
                    expected_size: f.size,
                    found_size: got.size,
                    expected_sha256: f.sha256.clone(),
                    found_sha256: got.sha256.clone(),
                })
            }
            Some(_) => {
                intact.insert(&f.path);
            }
        }
    }
    for path in found.keys() {
        if !listed.contains(path.as_str()) {
            problems.push(CaseProblem::Extra { path: path.clone() });
        }
    }
    for id in &manifest.events {
        let path = format!("events/{id}/event.json");
        if !listed.contains(path.as_str()) {
            problems.push(CaseProblem::Missing { path });
        }
    }
    // Each intact event.json names its own event, and each image in the archive has the hash
    // that event recorded.
    for id in &manifest.events {
        let path = format!("events/{id}/event.json");
        if !intact.contains(path.as_str()) {
            continue;
        }
        let Some(json) = found.get(&path).and_then(|f| f.json.as_deref()) else {
            continue;
        };
        let reviewed: ReviewedEvent = match serde_json::from_slice(json) {
            Ok(r) => r,
            Err(e) => {
                problems.push(CaseProblem::Unexpected {
                    path,
                    why: format!("not an event: {e}"),
                });
                continue;
            }
        };
        if reviewed.event.event_id != *id {
            problems.push(CaseProblem::Unexpected {
                path,
                why: format!("holds event {}", reviewed.event.event_id),
            });
            continue;
        }
        let evidence = reviewed.event.evidence.as_ref();
        for (name, record) in [
            ("crop.jpg", evidence.map(|e| &e.crop)),
            ("frame.jpg", evidence.map(|e| &e.frame)),
        ] {
            let image = format!("events/{id}/{name}");
            let Some(got) = found.get(&image) else {
                continue;
            };
            match record {
                Some(r) if got.sha256.eq_ignore_ascii_case(&r.sha256) => {}
                Some(r) => problems.push(CaseProblem::NotTheRecordedEvidence {
                    path: image,
                    recorded_sha256: r.sha256.clone(),
                    found_sha256: got.sha256.clone(),
                }),
                None => problems.push(CaseProblem::Unexpected {
                    path: image,
                    why: "its event recorded no evidence".to_owned(),
                }),
            }
        }
    }
    if problems.is_empty() {
        Ok(summary(&manifest, &manifest_bytes))
    } else {
        Err(CaseError::Invalid { problems })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::tests::{store, t};
    use crate::review::Verdict;
    use crate::{EventSink, FolderSink};

    fn at() -> WallTime {
        t("2026-06-01T12:00:00Z")
    }

    /// A folder with two events with evidence (`ev-a` confirmed) and one without (`ev-bare`).
    fn folder() -> (tempfile::TempDir, FolderSink) {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FolderSink::open(dir.path()).unwrap();
        store(&mut sink, "ev-a", at(), 3, false);
        store(&mut sink, "ev-b", at(), 2, false);
        store(&mut sink, "ev-bare", at(), 1, true);
        sink.flush().unwrap();
        sink.journal
            .apply_verdict("ev-a", 0, &Verdict::Confirm, "ann", at())
            .unwrap();
        (dir, sink)
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn export(dir: &Path, journal: &Journal, list: &[&str]) -> Result<Vec<u8>, CaseError> {
        let mut out = Vec::new();
        write_case(dir, journal, &ids(list), "bob", at(), &mut out)?;
        Ok(out)
    }

    /// The archive's entries: path → (offset of its data, its bytes).
    fn entries(archive: &[u8]) -> BTreeMap<String, (u64, Vec<u8>)> {
        let mut a = tar::Archive::new(archive);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let offset = e.raw_file_position();
                let mut bytes = Vec::new();
                e.read_to_end(&mut bytes).unwrap();
                (path, (offset, bytes))
            })
            .collect()
    }

    /// An archive of `members` as they are (no manifest added).
    fn rebuild(members: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, bytes) in members {
            let mut h = tar::Header::new_ustar();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o444);
            b.append_data(&mut h, path, bytes.as_slice()).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn problems(archive: &[u8]) -> Vec<CaseProblem> {
        match verify_case(archive) {
            Err(CaseError::Invalid { problems }) => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn an_export_verifies_and_holds_the_events_as_reviewed() {
        let (dir, sink) = folder();
        let archive = export(dir.path(), &sink.journal, &["ev-a", "ev-bare", "ev-a"]).unwrap();
        let summary = verify_case(archive.as_slice()).unwrap();
        assert_eq!(summary.events, ["ev-a", "ev-bare"]);
        assert_eq!((summary.exported_by.as_str(), summary.files), ("bob", 4));
        assert_eq!(summary.exported_at, "2026-06-01T12:00:00.000Z");
        assert_eq!(summary.absent.len(), 2);
        assert_eq!(summary.absent[0].reason, "the event has no evidence");
        let got = entries(&archive);
        let names: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "events/ev-a/crop.jpg",
                "events/ev-a/event.json",
                "events/ev-a/frame.jpg",
                "events/ev-bare/event.json",
                "manifest.json"
            ]
        );
        // event.json is the event as the reviewer sees it: state now and the verdicts.
        let reviewed: ReviewedEvent =
            serde_json::from_slice(&got["events/ev-a/event.json"].1).unwrap();
        assert_eq!(reviewed, sink.journal.reviewed("ev-a").unwrap().unwrap());
        assert_eq!(reviewed.verdicts.len(), 1);
        // The images are the data folder's, byte for byte.
        assert_eq!(
            got["events/ev-a/crop.jpg"].1,
            std::fs::read(dir.path().join("evidence/ev-a/crop.jpg")).unwrap()
        );
        // The manifest is last, and its hash is the summary's.
        let manifest = &got["manifest.json"].1;
        assert_eq!(
            summary.manifest_sha256,
            hex::encode(Sha256::digest(manifest))
        );
        assert!(got["manifest.json"].0 > got["events/ev-bare/event.json"].0);
        let m: Manifest = serde_json::from_slice(manifest).unwrap();
        assert_eq!(m.schema, CASE_SCHEMA);
        // Deterministic.
        let again = export(dir.path(), &sink.journal, &["ev-a", "ev-bare"]).unwrap();
        assert_eq!(again, archive);
    }

    #[test]
    fn a_flipped_byte_a_missing_file_and_an_extra_file_are_each_named() {
        let (dir, sink) = folder();
        let archive = export(dir.path(), &sink.journal, &["ev-a", "ev-b"]).unwrap();
        let got = entries(&archive);

        let mut flipped = archive.clone();
        let at = got["events/ev-b/frame.jpg"].0 as usize + 100;
        flipped[at] ^= 0x01;
        let p = problems(&flipped);
        assert!(
            p.iter().all(|p| p.path() == "events/ev-b/frame.jpg"),
            "{p:?}"
        );
        assert!(matches!(p[0], CaseProblem::Altered { .. }), "{p:?}");
        let msg = verify_case(flipped.as_slice()).unwrap_err().to_string();
        assert!(msg.contains("events/ev-b/frame.jpg: altered"), "{msg}");

        let without: Vec<(String, Vec<u8>)> = got
            .iter()
            .filter(|(p, _)| *p != "events/ev-a/crop.jpg")
            .map(|(p, (_, b))| (p.clone(), b.clone()))
            .collect();
        assert_eq!(
            problems(&rebuild(&without)),
            [CaseProblem::Missing {
                path: "events/ev-a/crop.jpg".to_owned()
            }]
        );

        let mut with: Vec<(String, Vec<u8>)> = got
            .iter()
            .map(|(p, (_, b))| (p.clone(), b.clone()))
            .collect();
        with.push(("events/ev-a/note.txt".to_owned(), b"planted".to_vec()));
        assert_eq!(
            problems(&rebuild(&with)),
            [CaseProblem::Extra {
                path: "events/ev-a/note.txt".to_owned()
            }]
        );

        // An image swapped and the manifest rewritten to match: its event's hash still tells.
        let mut swapped: Vec<(String, Vec<u8>)> = Vec::new();
        let mut m: Manifest = serde_json::from_slice(&got["manifest.json"].1).unwrap();
        let other = got["events/ev-a/frame.jpg"].1.clone();
        for f in m.files.iter_mut() {
            if f.path == "events/ev-a/crop.jpg" {
                f.sha256 = hex::encode(Sha256::digest(&other));
                f.size = other.len() as u64;
            }
        }
        for (p, (_, b)) in &got {
            match p.as_str() {
                "events/ev-a/crop.jpg" => swapped.push((p.clone(), other.clone())),
                "manifest.json" => {}
                _ => swapped.push((p.clone(), b.clone())),
            }
        }
        swapped.push(("manifest.json".to_owned(), serde_json::to_vec(&m).unwrap()));
        let p = problems(&rebuild(&swapped));
        assert!(
            matches!(&p[..], [CaseProblem::NotTheRecordedEvidence { path, .. }]
                if path == "events/ev-a/crop.jpg"),
            "{p:?}"
        );

        // Not a case at all.
        assert!(matches!(
            verify_case(rebuild(&[("x".to_owned(), vec![1])]).as_slice()),
            Err(CaseError::NoManifest)
        ));
    }

    #[test]
    fn an_unknown_or_bad_id_is_named_and_nothing_is_written() {
        let (dir, sink) = folder();
        let mut out = Vec::new();
        let e = write_case(
            dir.path(),
            &sink.journal,
            &ids(&["ev-a", "ev-nope"]),
            "bob",
            at(),
            &mut out,
        )
        .unwrap_err();
        assert!(
            matches!(&e, CaseError::UnknownEvent(id) if id == "ev-nope"),
            "{e:?}"
        );
        assert!(e.to_string().contains("ev-nope"));
        assert!(out.is_empty());
        assert!(matches!(
            export(dir.path(), &sink.journal, &["../etc"]),
            Err(CaseError::BadEventId(_))
        ));
        assert!(matches!(
            export(dir.path(), &sink.journal, &[]),
            Err(CaseError::NoEvents)
        ));
        let e = write_case(
            dir.path(),
            &sink.journal,
            &ids(&["ev-a"]),
            "",
            at(),
            &mut out,
        );
        assert!(matches!(e, Err(CaseError::BadActor(_))));
    }

    #[test]
    fn tampered_evidence_refuses_the_export() {
        let (dir, sink) = folder();
        let crop = dir.path().join("evidence/ev-b/crop.jpg");
        let mut bytes = std::fs::read(&crop).unwrap();
        let recorded = hex::encode(Sha256::digest(&bytes));
        bytes[50] ^= 0xFF;
        std::fs::write(&crop, &bytes).unwrap();
        let mut out = Vec::new();
        let e = write_case(
            dir.path(),
            &sink.journal,
            &ids(&["ev-a", "ev-b"]),
            "bob",
            at(),
            &mut out,
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(&e, CaseError::EvidenceMismatch { event_id, file, recorded: r, found }
                if event_id == "ev-b" && file == "evidence/ev-b/crop.jpg" && *r == recorded
                    && *found == hex::encode(Sha256::digest(&bytes))),
            "{e:?}"
        );
        assert!(msg.contains(&recorded) && msg.contains("ev-b"), "{msg}");
        assert!(out.is_empty(), "nothing written");
        // Deleted evidence that retention did not purge is an error too.
        std::fs::remove_file(&crop).unwrap();
        assert!(matches!(
            export(dir.path(), &sink.journal, &["ev-b"]),
            Err(CaseError::EvidenceMissing { event_id, .. }) if event_id == "ev-b"
        ));
    }

    #[test]
    fn evidence_purged_by_retention_is_listed_absent_with_its_day() {
        let (dir, sink) = folder();
        drop(sink);
        let policy = crate::retention::RetentionPolicy {
            evidence_days: Some(2),
            ..Default::default()
        };
        let r = crate::retention::purge(dir.path(), &policy, at()).unwrap();
        assert_eq!(r.evidence_removed, 1, "{r:?}");
        let journal = Journal::open(dir.path().join("journal.db")).unwrap();
        let archive = export(dir.path(), &journal, &["ev-a", "ev-b"]).unwrap();
        let s = verify_case(archive.as_slice()).unwrap();
        assert_eq!(s.files, 4, "ev-a's event.json, ev-b's three files");
        assert_eq!(s.absent.len(), 2);
        for a in &s.absent {
            assert_eq!(a.event_id, "ev-a");
            assert_eq!(a.reason, "evidence purged by retention on 2026-06-01");
            assert!(a.recorded_sha256.is_some());
        }
    }
}
