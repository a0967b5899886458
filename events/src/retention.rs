//! Retention: what a data folder forgets, and when.
//!
//! The brief asks that events and evidence expire after a configured period and that a purge
//! removes them: a record of a sighting, let alone a photo of a person, should not outlive its
//! use. The site's `[retention]` section gives three periods in days
//! ([`passwatch_registry::site::Retention`], here a [`RetentionPolicy`]), each counted back
//! from the purge's `now` against the sighting's time (`time`) of each event:
//!
//! - `events_days`: the event goes — its journal row, its verdicts, its evidence folder, and
//!   its line in `events.jsonl`;
//! - `dismissed_days`: the same for a dismissed event (`review = 'dismissed'` now), usually
//!   sooner: a dismissal clears the person;
//! - `evidence_days`: only the images go; the event stays, and `purged_evidence` records when,
//!   so that a later read says "evidence purged by retention on DATE" ([`evidence_purged`])
//!   instead of pointing at a missing file.
//!
//! [`purge`] does all the journal work in one transaction and removes files only after it
//! commits: a crash leaves at worst a folder nobody refers to, never an event whose evidence
//! vanished without a record. It only ever removes entries under `<data>/evidence/<event_id>/`
//! for ids that are safe folder names ([`is_safe_event_id`]), and never follows a symbolic
//! link.
//!
//! `events.jsonl` is append-only for its writer, so dropping lines means rewriting it (a
//! temporary file, fsync, rename): that is safe only while no writer holds it open, since a
//! writer keeps appending to the file it opened. Writers take an advisory exclusive `flock` on
//! `events.jsonl.lock` ([`lock_writer`]); the purge compacts only when it can take that lock.
//! Otherwise it leaves the ids it removed in `purged_jsonl` (ids and times only) and reports
//! `jsonl_compacted: false`, and the lock holder compacts later with [`purge_locked`] (or
//! [`compact_pending`]) and then reopens its [`crate::JsonlSink`].
//!
//! What stays: an event removed from the journal may be written again by a replay of the same
//! footage (its id is no longer in `events.jsonl` once compacted); that is a deliberate
//! re-analysis, not a leak. Evidence folders of events the journal does not know are never
//! touched: a writer stores evidence before its journal row.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use passwatch_base::time::WallTime;
use passwatch_registry::site::Retention;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::evidence::is_safe_event_id;
use crate::review::time_key;
use crate::{EventError, Journal};

/// The JSONL event file of a data folder.
pub const JSONL_FILE: &str = "events.jsonl";
/// The writer lock beside it.
pub const LOCK_FILE: &str = "events.jsonl.lock";
/// The journal of a data folder.
pub const JOURNAL_FILE: &str = "journal.db";
/// The evidence folder of a data folder.
pub const EVIDENCE_DIR: &str = "evidence";

/// Tables of the purge, created on first use (the journal's own migration does not know them):
/// evidence removed from events that stay, and ids removed from the journal whose lines are
/// still to be dropped from `events.jsonl`.
const RETENTION_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS purged_evidence (
    event_id TEXT PRIMARY KEY NOT NULL,
    at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS purged_jsonl (
    event_id TEXT PRIMARY KEY NOT NULL,
    at       TEXT NOT NULL
);
";

/// How long a data folder keeps events and evidence, in whole days; `None` keeps for ever.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Events older than this are removed with their verdicts and evidence.
    pub events_days: Option<u32>,
    /// Evidence of events older than this is removed; the events stay.
    pub evidence_days: Option<u32>,
    /// Dismissed events older than this are removed with their verdicts and evidence.
    pub dismissed_days: Option<u32>,
}

impl From<&Retention> for RetentionPolicy {
    fn from(r: &Retention) -> Self {
        RetentionPolicy {
            events_days: r.events_days,
            evidence_days: r.evidence_days,
            dismissed_days: r.dismissed_days,
        }
    }
}

impl RetentionPolicy {
    /// Whether nothing ever expires.
    pub fn keeps_forever(&self) -> bool {
        self.events_days.is_none() && self.evidence_days.is_none() && self.dismissed_days.is_none()
    }
}

/// `now` less `days`, as the journal's time key (`None` for no period, or one reaching before
/// the calendar's start, which expires nothing).
fn cutoff(days: Option<u32>, now: WallTime) -> Option<String> {
    let d = chrono::Duration::try_days(i64::from(days?))?;
    now.checked_sub_signed(d).map(time_key)
}

/// What a purge removed (or, for [`preview`], would remove). Counts only: never an id or a
/// plate, so it can go in the audit log as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Events removed for being older than `events_days`.
    pub events_removed: u64,
    /// Dismissed events removed for being older than `dismissed_days` (and not counted in
    /// `events_removed`).
    pub dismissed_removed: u64,
    /// Events whose evidence was removed for being older than `evidence_days` (the events
    /// stay).
    pub evidence_removed: u64,
    /// Verdicts removed with their events.
    pub verdicts_removed: u64,
    /// Files removed under `evidence/`.
    pub files_removed: u64,
    /// Bytes those files held, plus the bytes dropped from `events.jsonl`.
    pub bytes_freed: u64,
    /// Files under `evidence/` that could not be removed (each logged with its path).
    pub files_failed: u64,
    /// Whether `events.jsonl` was rewritten without the lines of removed events.
    pub jsonl_compacted: bool,
    /// Lines dropped from `events.jsonl`.
    pub jsonl_lines_removed: u64,
    /// Removed events whose lines are still in `events.jsonl` (the writer lock was held, or
    /// the file changed under the compaction): the lock holder's purge drops them.
    pub jsonl_pending: u64,
    /// Whether this was a [`preview`]: nothing was changed.
    pub dry_run: bool,
}

/// The advisory exclusive lock a writer of `events.jsonl` holds (`flock` on
/// `events.jsonl.lock`), released when dropped (or when the process dies). Advisory: it keeps
/// out only those who ask for it, which every writer and the purge do. `flock` is not reliable
/// on network file systems; keep data folders on a local one.
#[derive(Debug)]
pub struct WriterLock {
    // Held open for the lock's life: closing the file releases the lock.
    _file: File,
    dir: PathBuf,
}

impl WriterLock {
    /// The data folder it locks.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `events.jsonl` in that folder.
    pub fn jsonl_path(&self) -> PathBuf {
        self.dir.join(JSONL_FILE)
    }
}

/// Takes the writer lock of data folder `dir` (creating `events.jsonl.lock` if needed), or
/// fails at once if another process or handle holds it: two writers in one folder would
/// interleave their lines. The error is a [`EventError::Write`] of kind `WouldBlock` naming the
/// holder's process id.
pub fn lock_writer(dir: impl AsRef<Path>) -> Result<WriterLock, EventError> {
    let dir = dir.as_ref();
    match try_lock_writer(dir)? {
        Some(lock) => Ok(lock),
        None => {
            let path = dir.join(LOCK_FILE);
            let holder = std::fs::read_to_string(&path)
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
            let message = match holder {
                Some(pid) => format!("held by another writer (process {pid})"),
                None => "held by another writer".to_owned(),
            };
            Err(EventError::Write {
                path,
                source: std::io::Error::new(std::io::ErrorKind::WouldBlock, message),
            })
        }
    }
}

/// Takes the writer lock of data folder `dir` if nobody holds it; `None` if somebody does.
pub fn try_lock_writer(dir: impl AsRef<Path>) -> Result<Option<WriterLock>, EventError> {
    let dir = dir.as_ref().to_owned();
    let path = dir.join(LOCK_FILE);
    let err = |source| EventError::Write {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(err)?;
    loop {
        // SAFETY: flock on a descriptor this function owns; no memory is shared with the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        match e.kind() {
            std::io::ErrorKind::Interrupted => continue,
            std::io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(err(e)),
        }
    }
    // Who holds it, for the error a second writer gets; best effort, the lock is what counts.
    let _ = file
        .set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| writeln!(file, "{}", std::process::id()));
    Ok(Some(WriterLock { _file: file, dir }))
}

/// What [`compact_jsonl`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Compaction {
    /// Lines kept.
    pub kept: u64,
    /// Lines dropped.
    pub dropped: u64,
    /// The file's size before.
    pub bytes_before: u64,
    /// Its size after (the same when it was not rewritten).
    pub bytes_after: u64,
    /// Whether the file was rewritten (nothing to drop, no file, or a file that changed during
    /// the compaction leave it as it was).
    pub rewritten: bool,
    /// Whether the file changed while it was being compacted (a writer without the lock), so
    /// that it was left as it was.
    pub interrupted: bool,
}

/// Rewrites `events.jsonl` of the locked folder keeping the lines `keep` accepts (each given
/// without its newline; lines that are not UTF-8 are kept without asking), byte for byte and in
/// order, through a synced temporary file and a rename. A last line without its newline is kept
/// as it is, for [`crate::JsonlSink::open`] to judge.
///
/// The caller holds the lock, and must have flushed its own [`crate::JsonlSink`] first and
/// reopen it after a rewrite: an open sink keeps writing to the file it opened, which the
/// rename has replaced. If the file grows while it is read (a writer that did not take the
/// lock), nothing is replaced.
pub fn compact_jsonl(
    lock: &WriterLock,
    mut keep: impl FnMut(&str) -> bool,
) -> Result<Compaction, EventError> {
    let path = lock.jsonl_path();
    let read_err = |source| EventError::Read {
        path: path.clone(),
        source,
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Compaction::default()),
        Err(e) => return Err(read_err(e)),
    };
    let meta = file.metadata().map_err(read_err)?;
    let mut out = Compaction {
        bytes_before: meta.len(),
        ..Compaction::default()
    };
    // First pass: is there anything to drop? Most purges remove nothing.
    let mut drop_lines: HashSet<u64> = HashSet::new();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(read_err)? == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let kept = std::str::from_utf8(text).map_or(true, &mut keep);
        if kept {
            out.kept += 1;
        } else {
            out.dropped += 1;
            drop_lines.insert(number);
        }
        number += 1;
    }
    if out.dropped == 0 {
        out.bytes_after = out.bytes_before;
        out.kept = number;
        return Ok(out);
    }
    let tmp = lock.dir().join(format!("{JSONL_FILE}.compact.tmp"));
    let write_err = |source| EventError::Write {
        path: tmp.clone(),
        source,
    };
    let mut reader = reader.into_inner();
    reader.seek(SeekFrom::Start(0)).map_err(read_err)?;
    let mut reader = BufReader::new(reader.take(out.bytes_before));
    let mut writer = BufWriter::new(File::create(&tmp).map_err(write_err)?);
    let mut number = 0u64;
    let mut written = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(read_err)? == 0 {
            break;
        }
        if !drop_lines.contains(&number) {
            writer.write_all(&line).map_err(write_err)?;
            written += line.len() as u64;
        }
        number += 1;
    }
    let tmp_file = writer.into_inner().map_err(|e| write_err(e.into_error()))?;
    tmp_file
        .set_permissions(meta.permissions())
        .map_err(write_err)?;
    tmp_file.sync_all().map_err(write_err)?;
    drop(tmp_file);
    let now_len = std::fs::metadata(&path).map_err(read_err)?.len();
    if now_len != out.bytes_before {
        tracing::warn!(
            file = %path.display(), before = out.bytes_before, now = now_len,
            "events.jsonl changed during its compaction (a writer without the lock?): left as it was"
        );
        let _ = std::fs::remove_file(&tmp);
        return Ok(Compaction {
            kept: number,
            dropped: 0,
            bytes_after: now_len,
            interrupted: true,
            ..out
        });
    }
    std::fs::rename(&tmp, &path).map_err(|source| EventError::Write {
        path: path.clone(),
        source,
    })?;
    sync_dir(lock.dir())?;
    out.bytes_after = written;
    out.rewritten = true;
    Ok(out)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), EventError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| EventError::Write {
            path: dir.to_owned(),
            source,
        })
}

/// Just the id of a stored line.
#[derive(Deserialize)]
struct IdOnly {
    event_id: String,
}

/// Whether a JSONL line is the event of one of `ids`.
fn names_one_of(line: &str, ids: &HashSet<String>) -> bool {
    serde_json::from_str::<IdOnly>(line).is_ok_and(|row| ids.contains(&row.event_id))
}

/// Evidence removed from an event that stays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgedEvidence {
    /// The event.
    pub event_id: String,
    /// When the purge removed it (RFC 3339 UTC, milliseconds).
    pub at: String,
}

impl PurgedEvidence {
    /// The day of the purge (`YYYY-MM-DD`, UTC).
    pub fn date(&self) -> &str {
        self.at.get(..10).unwrap_or(&self.at)
    }
}

impl std::fmt::Display for PurgedEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "evidence purged by retention on {}", self.date())
    }
}

/// When the evidence of `event_id` was purged by retention, if it was; what a read of the
/// evidence of an event that has none on disk should say.
pub fn evidence_purged(
    journal: &Journal,
    event_id: &str,
) -> Result<Option<PurgedEvidence>, EventError> {
    let db = |context| {
        let path = journal.path.clone();
        move |source| EventError::Journal {
            path,
            context,
            source,
        }
    };
    // A journal never purged has no table, and a read must not create one.
    let exists: bool = journal
        .conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table'
                 AND name = 'purged_evidence')",
            [],
            |r| r.get(0),
        )
        .map_err(db("looking for purged evidence"))?;
    if !exists {
        return Ok(None);
    }
    let at: Option<String> = journal
        .conn
        .query_row(
            "SELECT at FROM purged_evidence WHERE event_id = ?1",
            [event_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(db("reading purged evidence"))?;
    Ok(at.map(|at| PurgedEvidence {
        event_id: event_id.to_owned(),
        at,
    }))
}

/// Applies `policy` at `now` to data folder `data_dir` (`journal.db`, `evidence/`,
/// `events.jsonl`; see the module docs). Compacts `events.jsonl` when it can take the writer
/// lock; a folder whose writer is running is compacted by that writer's own
/// [`purge_locked`]. A folder without `journal.db` is an error (nothing to purge by).
pub fn purge(
    data_dir: &Path,
    policy: &RetentionPolicy,
    now: WallTime,
) -> Result<PurgeReport, EventError> {
    require_journal(data_dir)?;
    let lock = try_lock_writer(data_dir)?;
    run(data_dir, policy, now, lock.as_ref(), false)
}

/// [`purge`] by the holder of the folder's writer lock, which compacts `events.jsonl` (also of
/// lines left by earlier purges that could not). Flush the sink first, and reopen it when
/// [`PurgeReport::jsonl_compacted`] (see [`compact_jsonl`]).
pub fn purge_locked(
    lock: &WriterLock,
    policy: &RetentionPolicy,
    now: WallTime,
) -> Result<PurgeReport, EventError> {
    require_journal(lock.dir())?;
    run(lock.dir(), policy, now, Some(lock), false)
}

/// What [`purge`] would remove at `now`, changing nothing (`files_removed` and `bytes_freed`
/// are what the files hold now; `jsonl_pending` counts the lines compaction would drop).
pub fn preview(
    data_dir: &Path,
    policy: &RetentionPolicy,
    now: WallTime,
) -> Result<PurgeReport, EventError> {
    require_journal(data_dir)?;
    run(data_dir, policy, now, None, true)
}

/// Drops from `events.jsonl` the lines of events earlier purges removed from the journal but
/// could not compact; for the lock holder, e.g. at start-up before it opens its sink. Returns
/// how many lines were dropped.
pub fn compact_pending(lock: &WriterLock) -> Result<u64, EventError> {
    require_journal(lock.dir())?;
    let mut journal = Journal::open(lock.dir().join(JOURNAL_FILE))?;
    let mut report = PurgeReport::default();
    compact(&mut journal, lock, &mut report)?;
    Ok(report.jsonl_lines_removed)
}

fn require_journal(data_dir: &Path) -> Result<(), EventError> {
    let path = data_dir.join(JOURNAL_FILE);
    if path.is_file() {
        Ok(())
    } else {
        Err(EventError::Read {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no event journal in this folder",
            ),
        })
    }
}

/// The error of the journal at `path` failing while doing `context`.
fn journal_err(path: &Path, context: &'static str) -> impl FnOnce(rusqlite::Error) -> EventError {
    let path = path.to_owned();
    move |source| EventError::Journal {
        path,
        context,
        source,
    }
}

fn run(
    data_dir: &Path,
    policy: &RetentionPolicy,
    now: WallTime,
    lock: Option<&WriterLock>,
    dry_run: bool,
) -> Result<PurgeReport, EventError> {
    let mut journal = Journal::open(data_dir.join(JOURNAL_FILE))?;
    let jpath = journal.path.clone();
    let db = |context| journal_err(&jpath, context);
    let mut report = PurgeReport {
        dry_run,
        ..PurgeReport::default()
    };
    let events_cut = cutoff(policy.events_days, now);
    let dismissed_cut = cutoff(policy.dismissed_days, now);
    let evidence_cut = cutoff(policy.evidence_days, now);
    let at = time_key(now);
    let evidence_root = data_dir.join(EVIDENCE_DIR);
    let folder_of = |id: &str| {
        if is_safe_event_id(id) {
            Some(evidence_root.join(id))
        } else {
            tracing::warn!(
                event_id = ?id,
                "an event id that names no evidence folder: no file removed for it"
            );
            None
        }
    };
    let mut folders: Vec<PathBuf> = Vec::new();

    let tx = journal
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("starting a purge"))?;
    tx.execute_batch(RETENTION_SCHEMA)
        .map_err(db("creating the purge's tables"))?;
    // Events to remove: older than events_days, or dismissed and older than dismissed_days.
    // A NULL cut-off compares as unknown, which selects nothing.
    let expired: Vec<(String, bool)> = tx
        .prepare(
            "SELECT event_id, (time < ?1) IS 1 FROM events
             WHERE time < ?1 OR (review = 'dismissed' AND time < ?2)
             ORDER BY time, event_id",
        )
        .and_then(|mut stmt| {
            stmt.query_map(params![events_cut, dismissed_cut], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
        .map_err(db("finding expired events"))?;
    for (id, by_age) in &expired {
        if *by_age {
            report.events_removed += 1;
        } else {
            report.dismissed_removed += 1;
        }
        let remove = |sql: &str| tx.prepare_cached(sql).and_then(|mut s| s.execute([id]));
        report.verdicts_removed += remove("DELETE FROM verdicts WHERE event_id = ?1")
            .map_err(db("removing the verdicts of an expired event"))?
            as u64;
        remove("DELETE FROM events WHERE event_id = ?1")
            .map_err(db("removing an expired event"))?;
        remove("DELETE FROM purged_evidence WHERE event_id = ?1")
            .map_err(db("removing an expired event"))?;
        tx.prepare_cached(
            "INSERT INTO purged_jsonl (event_id, at) VALUES (?1, ?2)
             ON CONFLICT (event_id) DO UPDATE SET at = excluded.at",
        )
        .and_then(|mut s| s.execute(params![id, at]))
        .map_err(db("noting a line to compact"))?;
        folders.extend(folder_of(id));
    }
    // Evidence to remove from events that stay (those removed above are gone from `events`).
    if evidence_cut.is_some() {
        let due: Vec<(String, bool)> = tx
            .prepare(
                "SELECT event_id, json_extract(json, '$.evidence') IS NOT NULL FROM events
                 WHERE time < ?1 AND event_id NOT IN (SELECT event_id FROM purged_evidence)
                 ORDER BY time, event_id",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![evidence_cut], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(db("finding expired evidence"))?;
        for (id, recorded) in due {
            let folder = folder_of(&id);
            let on_disk = folder
                .as_deref()
                .is_some_and(|f| std::fs::symlink_metadata(f).is_ok());
            if !(recorded || on_disk) {
                continue; // an event without evidence: nothing to purge, nothing to say
            }
            tx.prepare_cached(
                "INSERT OR IGNORE INTO purged_evidence (event_id, at) VALUES (?1, ?2)",
            )
            .and_then(|mut s| s.execute(params![id, at]))
            .map_err(db("recording purged evidence"))?;
            report.evidence_removed += 1;
            folders.extend(folder);
        }
    }
    let pending: i64 = tx
        .query_row("SELECT COUNT(*) FROM purged_jsonl", [], |r| r.get(0))
        .map_err(db("counting lines still to compact"))?;
    report.jsonl_pending = pending.max(0) as u64;
    if dry_run {
        drop(tx); // rolled back
        for folder in &folders {
            measure(folder, &mut report);
        }
        return Ok(report);
    }
    tx.commit().map_err(db("committing a purge"))?;
    for folder in &folders {
        remove_folder(folder, &mut report);
    }
    if !folders.is_empty() {
        // Best effort: the removals are done; a lost directory entry would only bring back a
        // folder nothing refers to.
        let _ = sync_dir(&evidence_root);
    }
    if let Some(lock) = lock {
        // The purge is done and committed: a compaction that fails leaves its lines pending
        // for the next one, and must not lose the report of what was removed.
        if let Err(e) = compact(&mut journal, lock, &mut report) {
            tracing::warn!(error = %e, "events.jsonl not compacted: its lines stay pending");
        }
    }
    Ok(report)
}

/// Drops the lines of the ids in `purged_jsonl` from `events.jsonl`, then forgets those ids.
fn compact(
    journal: &mut Journal,
    lock: &WriterLock,
    report: &mut PurgeReport,
) -> Result<(), EventError> {
    let jpath = journal.path.clone();
    journal
        .conn
        .execute_batch(RETENTION_SCHEMA)
        .map_err(journal_err(&jpath, "creating the purge's tables"))?;
    let ids: HashSet<String> = journal
        .conn
        .prepare("SELECT event_id FROM purged_jsonl")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect())
        })
        .map_err(journal_err(&jpath, "reading lines still to compact"))?;
    if ids.is_empty() {
        report.jsonl_pending = 0;
        return Ok(());
    }
    let c = compact_jsonl(lock, |line| !names_one_of(line, &ids))?;
    if !c.interrupted {
        // The file holds none of these lines now (or never did).
        let tx = journal
            .conn
            .transaction()
            .map_err(journal_err(&jpath, "forgetting compacted ids"))?;
        {
            let mut forget = tx
                .prepare("DELETE FROM purged_jsonl WHERE event_id = ?1")
                .map_err(journal_err(&jpath, "forgetting compacted ids"))?;
            for id in &ids {
                forget
                    .execute([id])
                    .map_err(journal_err(&jpath, "forgetting compacted ids"))?;
            }
        }
        tx.commit()
            .map_err(journal_err(&jpath, "forgetting compacted ids"))?;
        report.jsonl_pending = 0;
    }
    report.jsonl_compacted = c.rewritten;
    report.jsonl_lines_removed += if c.rewritten { c.dropped } else { 0 };
    if c.rewritten {
        report.bytes_freed += c.bytes_before.saturating_sub(c.bytes_after);
    }
    Ok(())
}

/// Removes `path` (an evidence folder) and what it holds, counting files and bytes; never
/// follows a link: a link is removed, not what it points to.
fn remove_folder(path: &Path, report: &mut PurgeReport) {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove expired evidence");
            report.files_failed += 1;
            return;
        }
    };
    if !meta.is_dir() {
        match std::fs::remove_file(path) {
            Ok(()) => {
                report.files_removed += 1;
                report.bytes_freed += meta.len();
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove expired evidence");
                report.files_failed += 1;
            }
        }
        return;
    }
    match std::fs::read_dir(path) {
        Ok(entries) => {
            for entry in entries {
                match entry {
                    Ok(entry) => remove_folder(&entry.path(), report),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot list expired evidence");
                        report.files_failed += 1;
                    }
                }
            }
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot list expired evidence");
            report.files_failed += 1;
            return;
        }
    }
    if let Err(e) = std::fs::remove_dir(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove an expired evidence folder");
        report.files_failed += 1;
    }
}

/// What [`remove_folder`] would count, removing nothing.
fn measure(path: &Path, report: &mut PurgeReport) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        report.files_removed += 1;
        report.bytes_freed += meta.len();
        return;
    }
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            measure(&entry.path(), report);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::review::{DismissReason, Verdict};
    use crate::{
        DecisionRecord, Event, EventKind, EventSink, FolderSink, MediaSpan, PlateSubject, Priority,
        Review, Subject, EVENT_SCHEMA,
    };
    use passwatch_base::time::MediaTime;
    use std::collections::BTreeMap;

    pub(crate) fn t(s: &str) -> WallTime {
        passwatch_base::time::parse_time(s).unwrap()
    }

    pub(crate) fn event(id: &str, time: WallTime) -> Event {
        Event {
            schema: EVENT_SCHEMA.to_owned(),
            event_id: id.to_owned(),
            kind: EventKind::NoValidPass,
            camera: "gate-north".to_owned(),
            zone: "centre".to_owned(),
            source: "clip.mp4".to_owned(),
            time,
            media_time: MediaSpan {
                first: MediaTime::ZERO,
                last: MediaTime::ZERO,
            },
            subject: Subject::Plate(PlateSubject {
                plate: "ABC123".to_owned(),
                region: None,
                confidence: 0.9,
                reads: vec![],
            }),
            decision: DecisionRecord {
                rule: "no_valid_pass".to_owned(),
                reason: "unknown_plate".to_owned(),
                matched_pass: None,
                edit_cost: None,
                registry_version: 1,
                explanation: "no pass for ABC123".to_owned(),
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

    /// Stores an event `days` old at `now` in the folder, with evidence unless `bare`.
    pub(crate) fn store(sink: &mut FolderSink, id: &str, now: WallTime, days: i64, bare: bool) {
        let mut e = event(id, now - chrono::Duration::days(days));
        if !bare {
            let crop = image::RgbImage::from_fn(40, 12, |x, y| image::Rgb([x as u8, y as u8, 9]));
            let frame =
                image::RgbImage::from_fn(64, 36, |x, y| image::Rgb([y as u8, x as u8, 200]));
            e.evidence = Some(sink.store_evidence(id, &crop, &frame).unwrap());
        }
        sink.emit(&e).unwrap();
    }

    fn dismiss(sink: &mut FolderSink, id: &str, now: WallTime) {
        let v = Verdict::Dismiss {
            reason: DismissReason::Misread,
            note: None,
        };
        sink.journal.apply_verdict(id, 0, &v, "ann", now).unwrap();
    }

    fn jsonl_ids(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join(JSONL_FILE))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<IdOnly>(l).unwrap().event_id)
            .collect()
    }

    fn policy() -> RetentionPolicy {
        RetentionPolicy {
            events_days: Some(365),
            evidence_days: Some(30),
            dismissed_days: Some(60),
        }
    }

    /// A folder of six events at `now`: `old` (400 days, an escalation), `dismissed-old`
    /// (90 days, dismissed), `confirmed` (90 days, confirmed), `dismissed-new` (40 days,
    /// dismissed), `bare` (45 days, no evidence), `fresh` (10 days).
    fn folder(now: WallTime) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FolderSink::open(dir.path()).unwrap();
        store(&mut sink, "ev-old", now, 400, false);
        store(&mut sink, "ev-dismissed-old", now, 90, false);
        store(&mut sink, "ev-confirmed", now, 90, false);
        store(&mut sink, "ev-dismissed-new", now, 40, false);
        store(&mut sink, "ev-bare", now, 45, true);
        store(&mut sink, "ev-fresh", now, 10, false);
        sink.flush().unwrap();
        sink.journal
            .apply_verdict("ev-old", 0, &Verdict::Escalate { note: None }, "ann", now)
            .unwrap();
        dismiss(&mut sink, "ev-dismissed-old", now);
        dismiss(&mut sink, "ev-dismissed-new", now);
        sink.journal
            .apply_verdict("ev-confirmed", 0, &Verdict::Confirm, "ann", now)
            .unwrap();
        dir
    }

    fn evidence_bytes(dir: &Path, id: &str) -> u64 {
        ["crop.jpg", "frame.jpg"]
            .iter()
            .map(|f| {
                std::fs::metadata(dir.join(EVIDENCE_DIR).join(id).join(f))
                    .unwrap()
                    .len()
            })
            .sum()
    }

    #[test]
    fn each_period_removes_what_it_should_and_nothing_else() {
        let now = t("2026-06-01T12:00:00Z");
        let dir = folder(now);
        let d = dir.path();
        // A link inside an expired folder, to a file outside it: the link goes, the file stays.
        std::fs::write(d.join("precious.txt"), b"keep me").unwrap();
        std::os::unix::fs::symlink(d.join("precious.txt"), d.join("evidence/ev-old/link.jpg"))
            .unwrap();
        let jsonl_before = std::fs::metadata(d.join(JSONL_FILE)).unwrap().len();
        let link_len = std::fs::symlink_metadata(d.join("evidence/ev-old/link.jpg"))
            .unwrap()
            .len();
        let file_bytes: u64 = [
            "ev-old",
            "ev-dismissed-old",
            "ev-confirmed",
            "ev-dismissed-new",
        ]
        .iter()
        .map(|id| evidence_bytes(d, id))
        .sum::<u64>()
            + link_len;

        let preview_report = preview(d, &policy(), now).unwrap();
        assert!(preview_report.dry_run);
        assert_eq!(preview_report.bytes_freed, file_bytes);
        let r = purge(d, &policy(), now).unwrap();
        assert_eq!(
            (r.events_removed, r.dismissed_removed, r.evidence_removed),
            (1, 1, 2),
            "{r:?}"
        );
        assert_eq!(r.verdicts_removed, 2);
        assert_eq!(r.files_removed, 4 * 2 + 1, "{r:?}");
        assert_eq!(r.files_failed, 0);
        assert!(r.jsonl_compacted && !r.dry_run);
        assert_eq!((r.jsonl_lines_removed, r.jsonl_pending), (2, 0));
        let jsonl_after = std::fs::metadata(d.join(JSONL_FILE)).unwrap().len();
        assert_eq!(r.bytes_freed, file_bytes + jsonl_before - jsonl_after);
        // The preview counted the same, before the purge changed anything.
        assert_eq!(
            PurgeReport {
                dry_run: false,
                jsonl_compacted: true,
                jsonl_lines_removed: 2,
                jsonl_pending: 0,
                bytes_freed: r.bytes_freed,
                ..preview_report.clone()
            },
            r
        );
        assert_eq!(preview_report.jsonl_pending, 2);

        // The journal: the two removed events and their verdicts are gone.
        let j = Journal::open(d.join(JOURNAL_FILE)).unwrap();
        assert_eq!(j.count().unwrap(), 4);
        assert!(j.get("ev-old").unwrap().is_none());
        assert!(j.get("ev-dismissed-old").unwrap().is_none());
        assert!(j.verdicts("ev-old").unwrap().is_empty());
        assert_eq!(j.verdicts("ev-confirmed").unwrap().len(), 1);
        // Files: removed folders gone, the rest untouched, nothing outside evidence/ touched.
        for gone in [
            "ev-old",
            "ev-dismissed-old",
            "ev-confirmed",
            "ev-dismissed-new",
        ] {
            assert!(!d.join("evidence").join(gone).exists(), "{gone}");
        }
        assert!(d.join("evidence/ev-fresh/crop.jpg").is_file());
        assert_eq!(std::fs::read(d.join("precious.txt")).unwrap(), b"keep me");
        // Evidence purged from events that stay says so, with the day.
        let p = evidence_purged(&j, "ev-confirmed").unwrap().unwrap();
        assert_eq!(p.to_string(), "evidence purged by retention on 2026-06-01");
        assert!(evidence_purged(&j, "ev-dismissed-new").unwrap().is_some());
        assert!(evidence_purged(&j, "ev-fresh").unwrap().is_none());
        assert!(evidence_purged(&j, "ev-bare").unwrap().is_none());
        // events.jsonl: the removed events' lines are gone, the others in their order.
        assert_eq!(
            jsonl_ids(d),
            ["ev-confirmed", "ev-dismissed-new", "ev-bare", "ev-fresh"]
        );
        assert!(!d.join("events.jsonl.compact.tmp").exists());
        // A sink reopens the compacted file and keeps de-duplicating.
        let sink = crate::JsonlSink::open(d.join(JSONL_FILE)).unwrap();
        assert_eq!((sink.len(), sink.skipped_lines()), (4, 0));
        drop(sink);

        // Again at the same time: nothing more to do.
        let again = purge(d, &policy(), now).unwrap();
        assert_eq!(again, PurgeReport::default());
        // A year later everything is past events_days.
        let later = purge(d, &policy(), now + chrono::Duration::days(365)).unwrap();
        assert_eq!(later.events_removed, 4);
        assert_eq!(later.verdicts_removed, 2);
        assert!(jsonl_ids(d).is_empty());
    }

    #[test]
    fn a_held_lock_defers_compaction_to_its_holder() {
        let now = t("2026-06-01T12:00:00Z");
        let dir = folder(now);
        let d = dir.path();
        let lock = lock_writer(d).unwrap();
        // A second writer is refused at once, naming the holder.
        let e = lock_writer(d).unwrap_err();
        assert!(
            matches!(&e, EventError::Write { source, .. }
            if source.kind() == std::io::ErrorKind::WouldBlock
                && source.to_string().contains(&std::process::id().to_string())),
            "{e:?}"
        );
        assert!(try_lock_writer(d).unwrap().is_none());

        let r = purge(d, &policy(), now).unwrap();
        assert_eq!((r.events_removed, r.dismissed_removed), (1, 1));
        assert!(!r.jsonl_compacted);
        assert_eq!((r.jsonl_pending, r.jsonl_lines_removed), (2, 0));
        assert_eq!(jsonl_ids(d).len(), 6, "the holder's file is left alone");
        assert!(!d.join("evidence/ev-old").exists(), "the rest is done");

        // The holder's own purge compacts, though nothing new expired.
        let r = purge_locked(&lock, &policy(), now).unwrap();
        assert_eq!((r.events_removed, r.evidence_removed), (0, 0));
        assert!(r.jsonl_compacted);
        assert_eq!((r.jsonl_pending, r.jsonl_lines_removed), (0, 2));
        assert_eq!(
            jsonl_ids(d),
            ["ev-confirmed", "ev-dismissed-new", "ev-bare", "ev-fresh"]
        );
        assert_eq!(compact_pending(&lock).unwrap(), 0);
        drop(lock);
        assert!(
            try_lock_writer(d).unwrap().is_some(),
            "released when dropped"
        );
    }

    #[test]
    fn compact_pending_drops_lines_left_behind() {
        let now = t("2026-06-01T12:00:00Z");
        let dir = folder(now);
        let d = dir.path();
        let held = lock_writer(d).unwrap();
        purge(d, &policy(), now).unwrap();
        assert_eq!(compact_pending(&held).unwrap(), 2);
        assert_eq!(jsonl_ids(d).len(), 4);
    }

    #[test]
    fn compaction_is_byte_exact_and_keeps_what_is_not_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JSONL_FILE);
        let text: &[u8] = b"{\"event_id\":\"a\"}\nnot json\n\n{\"event_id\":\"b\"}\n\xff\xfe\n{\"event_id\":\"c\"}\n{\"sche";
        std::fs::write(&path, text).unwrap();
        let lock = lock_writer(dir.path()).unwrap();
        let ids: HashSet<String> = ["b".to_owned()].into();
        let c = compact_jsonl(&lock, |l| !names_one_of(l, &ids)).unwrap();
        assert!(c.rewritten && !c.interrupted);
        assert_eq!((c.kept, c.dropped), (6, 1));
        let after = std::fs::read(&path).unwrap();
        assert_eq!(
            after,
            b"{\"event_id\":\"a\"}\nnot json\n\n\xff\xfe\n{\"event_id\":\"c\"}\n{\"sche"
        );
        assert_eq!(c.bytes_after, after.len() as u64);
        // Nothing to drop: the file is not rewritten.
        let c = compact_jsonl(&lock, |_| true).unwrap();
        assert!(!c.rewritten);
        assert_eq!(c.bytes_after, c.bytes_before);
        // No file: nothing to do.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            compact_jsonl(&lock, |_| false).unwrap(),
            Compaction::default()
        );
    }

    #[test]
    fn a_policy_that_keeps_for_ever_removes_nothing_and_a_folder_needs_a_journal() {
        let now = t("2026-06-01T12:00:00Z");
        let dir = folder(now);
        let keep = RetentionPolicy::from(&Retention::default());
        assert!(keep.keeps_forever());
        let r = purge(dir.path(), &keep, now + chrono::Duration::days(10_000)).unwrap();
        assert_eq!(r, PurgeReport::default());
        assert_eq!(jsonl_ids(dir.path()).len(), 6);
        let empty = tempfile::tempdir().unwrap();
        let e = purge(empty.path(), &policy(), now).unwrap_err();
        assert!(matches!(e, EventError::Read { ref path, .. } if path.ends_with(JOURNAL_FILE)));
        assert!(
            !empty.path().join(JOURNAL_FILE).exists(),
            "no journal made up"
        );
        let from_site = RetentionPolicy::from(&Retention {
            events_days: Some(3),
            evidence_days: None,
            dismissed_days: Some(1),
        });
        assert_eq!(from_site.events_days, Some(3));
        assert_eq!(from_site.dismissed_days, Some(1));
    }

    #[test]
    fn an_id_that_is_no_folder_name_loses_its_row_but_touches_no_file() {
        let now = t("2026-06-01T12:00:00Z");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("victim")).unwrap();
        std::fs::write(d.join("victim/file"), b"x").unwrap();
        let j = Journal::open(d.join(JOURNAL_FILE)).unwrap();
        j.insert(&event("../victim", now - chrono::Duration::days(500)))
            .unwrap();
        drop(j);
        let r = purge(d, &policy(), now).unwrap();
        assert_eq!((r.events_removed, r.files_removed), (1, 0));
        assert!(d.join("victim/file").is_file());
    }
}
