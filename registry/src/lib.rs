//! The registry: one SQLite file holding every pass, the watchlist (stay-home orders and their
//! reference face embeddings), one version counter for both, and the audit logs.
//!
//! - [`passes`]: the [`Pass`] type and the checks of each field;
//! - [`import`]: reading CSV and JSON pass files, all rows validated before anything is stored;
//! - [`schema`]: the tables and their migrations;
//! - [`snapshot`]: [`PassSnapshot`], the immutable, indexed copy that decisions use;
//! - [`watchlist`]: watchlist subjects, enrolment and removal, and [`WatchlistSnapshot`], the
//!   immutable copy with its face index that face decisions use.
//!
//! Every change goes through [`Registry`] and makes a new registry version (a monotonic integer,
//! recorded in `registry_versions` with the actor, the time, the action and the source file),
//! and every pass it inserts or changes gets an `audit_log` row with the actor and the pass
//! before and after. Imports are atomic: a file is validated as a whole first (see [`import`]),
//! then applied in one transaction, so either every row is applied or none is.
//!
//! The database is opened in WAL mode, so that readers (taking snapshots) do not block an import
//! and an import does not block them, and with `secure_delete` on, so that deleted rows (the
//! embeddings of a removed watchlist subject above all) are overwritten with zeros rather than
//! left in free pages; see [`watchlist`] for how the WAL file is emptied after a removal.
//!
//! [`site`] is the site file (zones, schedules, cameras, plate and face settings) that the
//! registry's zones refer to.
#![deny(missing_docs)]

pub mod import;
pub mod passes;
pub mod schema;
pub mod site;
pub mod snapshot;
pub mod watchlist;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use passwatch_base::time::{Clock, SystemClock, WallTime};

pub use import::{FileFormat, ImportErrors, Location, RowProblem};
pub use passes::{Pass, PassKind, PassStatus, PassValidity, ZoneSet};
pub use snapshot::PassSnapshot;
pub use watchlist::{
    SubjectInfo, SubjectSpec, SubjectStatus, WatchlistAuditEntry, WatchlistSnapshot,
};

/// Everything that can go wrong with the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// SQLite failed while doing `context`.
    #[error("registry database {}: {context}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        context: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer passwatch.
    #[error(
        "registry database {}: schema version {found} is newer than the {supported} this \
         passwatch knows; upgrade passwatch",
        path.display()
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The file's schema version.
        found: u32,
        /// The newest version this program knows.
        supported: u32,
    },
    /// A pass file could not be read.
    #[error("cannot read pass file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A pass file is not CSV or JSON of the expected shape at all (so it has no rows to report).
    #[error("{file}: {message}")]
    Malformed {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A pass file has bad rows: nothing of it was imported. Lists every problem (up to a cap).
    #[error("{0}")]
    InvalidFile(ImportErrors),
    /// A row in the database does not hold a valid pass (the file was edited by hand?).
    #[error("registry database {}: stored pass {code}: {message}", path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The pass code of the row.
        code: String,
        /// What is wrong.
        message: String,
    },
    /// A change named a pass code the registry does not hold.
    #[error("no pass with code {0}")]
    UnknownPass(String),
    /// A change was asked for without naming who asks for it.
    #[error("every registry change needs an actor (who makes it), and none was given")]
    MissingActor,
    /// A watchlist subject with bad fields: nothing was stored. Lists every problem.
    #[error("watchlist subject {subject_id:?}: {}, nothing stored", problems.join("; "))]
    InvalidSubject {
        /// The subject id as given.
        subject_id: String,
        /// Each problem, as `field: what is wrong`.
        problems: Vec<String>,
    },
    /// Embeddings of one model offered to a watchlist holding another's (or a search with
    /// another model): similarities across models mean nothing, so it is refused.
    #[error(
        "the watchlist holds embeddings of model {stored}; {action} with embeddings of model \
         {requested} is refused (re-enrol every subject with the new model, or use {stored})"
    )]
    WatchlistModel {
        /// The model of the embeddings stored.
        stored: String,
        /// The model offered.
        requested: String,
        /// What was refused: `enrolling` or `searching`.
        action: &'static str,
    },
    /// Embeddings of the watchlist's model but of another length (a model changed under the
    /// same id).
    #[error("watchlist embeddings of model {model} have {stored} dimensions; {offered} offered")]
    WatchlistDimension {
        /// The model id.
        model: String,
        /// The dimensions stored.
        stored: usize,
        /// The dimensions offered.
        offered: usize,
    },
    /// A change named a watchlist subject the registry does not hold.
    #[error("no watchlist subject {0:?}")]
    UnknownSubject(String),
    /// A stored watchlist row is not valid (the file was edited by hand?).
    #[error("registry database {}: watchlist subject {subject_id}: {message}", path.display())]
    CorruptWatchlist {
        /// The database file.
        path: PathBuf,
        /// The subject of the row.
        subject_id: String,
        /// What is wrong.
        message: String,
    },
    /// A kept enrolment photo (opt-in) could not be copied: nothing was stored.
    #[error("cannot keep the enrolment photo {}", path.display())]
    Photo {
        /// The file read or written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl RegistryError {
    /// Whether trying again later may succeed (another process holds the database lock).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RegistryError::Database {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            )
        )
    }
}

/// One registry version: what one import or change did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RegistryVersion {
    /// The version number, from 1, increasing by one per change.
    pub version: u64,
    /// When it was made.
    pub created_at: WallTime,
    /// Who made it.
    pub actor: String,
    /// What it was: `import` or `revoke` (passes), `enroll` or `remove_subject` (watchlist).
    pub action: String,
    /// The file imported, if any.
    pub source: Option<String>,
    /// Passes (or watchlist subjects) inserted.
    pub inserted: u64,
    /// Passes (or watchlist subjects) changed.
    pub updated: u64,
    /// Passes in the file (or the subject enrolled) that were already stored exactly so.
    pub unchanged: u64,
    /// Watchlist subjects removed (passes are never removed, only revoked).
    pub removed: u64,
}

impl fmt::Display for RegistryVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "version {} ({} by {}{}): {} inserted, {} updated, {} unchanged",
            self.version,
            self.action,
            self.actor,
            self.source
                .as_deref()
                .map(|s| format!(" from {s}"))
                .unwrap_or_default(),
            self.inserted,
            self.updated,
            self.unchanged
        )?;
        if self.removed > 0 {
            write!(f, ", {} removed", self.removed)?;
        }
        Ok(())
    }
}

/// One row of the audit log: one pass inserted or changed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// The registry version of the change.
    pub version: u64,
    /// When.
    pub at: WallTime,
    /// Who.
    pub actor: String,
    /// `insert`, `update` or `revoke`.
    pub action: String,
    /// The pass code.
    pub code: String,
    /// The pass before, as JSON (`None` for an insert).
    pub before: Option<String>,
    /// The pass after, as JSON.
    pub after: Option<String>,
}

/// The pass registry, open on one SQLite file.
pub struct Registry {
    conn: Connection,
    path: PathBuf,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("path", &self.path)
            .finish()
    }
}

impl Registry {
    /// Opens (creating if needed) the registry at `path`, migrating its schema to the current
    /// version; version times come from the system clock.
    pub fn open(path: impl AsRef<Path>) -> Result<Registry, RegistryError> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// [`Registry::open`] with the clock that stamps versions and audit rows (tests use a fixed
    /// one).
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Registry, RegistryError> {
        let path = path.as_ref().to_owned();
        let db = |context| {
            let path = path.clone();
            move |source| RegistryError::Database {
                path,
                context,
                source,
            }
        };
        let mut conn = Connection::open(&path).map_err(db("opening"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(db("setting the busy timeout"))?;
        // journal_mode answers with a row, so it is a query, not an update.
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(db("switching to WAL mode"))?;
        // Imports are rare and the audit log must survive a power cut: full sync.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db("setting synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db("enabling foreign keys"))?;
        // Deleted rows are overwritten with zeros, not left in free pages: a removed watchlist
        // subject's embeddings must not be recoverable from the file (BRIEF, privacy).
        conn.query_row("PRAGMA secure_delete = ON", [], |r| r.get::<_, i64>(0))
            .map_err(db("enabling secure delete"))?;
        match schema::migrate(&mut conn) {
            Ok(_) => {}
            Err(schema::MigrateError::Newer(found)) => {
                return Err(RegistryError::NewerSchema {
                    path,
                    found,
                    supported: schema::SCHEMA_VERSION,
                })
            }
            Err(schema::MigrateError::Sqlite(e)) => return Err(db("migrating the schema")(e)),
        }
        Ok(Registry { conn, path, clock })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self, context: &'static str) -> impl FnOnce(rusqlite::Error) -> RegistryError + '_ {
        move |source| RegistryError::Database {
            path: self.path.clone(),
            context,
            source,
        }
    }

    /// Imports a CSV or JSON pass file (see [`import`] for the columns) on behalf of `actor`.
    ///
    /// The whole file is checked first; any problem returns [`RegistryError::InvalidFile`] (or
    /// [`RegistryError::Malformed`]) and changes nothing. A valid file makes one new version in
    /// one transaction: new codes are inserted, known codes whose content differs are updated
    /// (so a re-import can revoke or extend passes), and identical ones are counted as
    /// unchanged. Passes absent from the file are left as they are.
    pub fn import_file(
        &mut self,
        path: impl AsRef<Path>,
        actor: &str,
    ) -> Result<RegistryVersion, RegistryError> {
        let path = path.as_ref();
        check_actor(actor)?;
        let passes = import::read_passes_file(path)?;
        let source = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        self.apply(passes, Some(&source), actor)
    }

    /// [`Registry::import_file`] for text already in memory; `source` names it in errors and in
    /// the version record.
    pub fn import_text(
        &mut self,
        text: &str,
        format: FileFormat,
        source: &str,
        actor: &str,
    ) -> Result<RegistryVersion, RegistryError> {
        check_actor(actor)?;
        let passes = import::parse_passes(text, format, source)?;
        self.apply(passes, Some(source), actor)
    }

    /// Revokes one pass on behalf of `actor`, as a new version of its own. Revoking a revoked
    /// pass still makes a version (counted unchanged), so that the request is on record.
    pub fn revoke(&mut self, code: &str, actor: &str) -> Result<RegistryVersion, RegistryError> {
        check_actor(actor)?;
        let pass = self
            .pass(code)?
            .ok_or_else(|| RegistryError::UnknownPass(code.to_owned()))?;
        let revoked = Pass {
            status: PassStatus::Revoked,
            ..pass
        };
        self.write_version(vec![revoked], None, actor, "revoke")
    }

    /// Reinstates one revoked pass on behalf of `actor`, as a new version of its own (the
    /// undo of [`Registry::revoke`]; an active pass is counted unchanged).
    pub fn reinstate(&mut self, code: &str, actor: &str) -> Result<RegistryVersion, RegistryError> {
        check_actor(actor)?;
        let pass = self
            .pass(code)?
            .ok_or_else(|| RegistryError::UnknownPass(code.to_owned()))?;
        let active = Pass {
            status: PassStatus::Active,
            ..pass
        };
        self.write_version(vec![active], None, actor, "reinstate")
    }

    fn apply(
        &mut self,
        passes: Vec<Pass>,
        source: Option<&str>,
        actor: &str,
    ) -> Result<RegistryVersion, RegistryError> {
        self.write_version(passes, source, actor, "import")
    }

    /// Applies already validated passes as one new version, in one transaction.
    fn write_version(
        &mut self,
        passes: Vec<Pass>,
        source: Option<&str>,
        actor: &str,
        action: &str,
    ) -> Result<RegistryVersion, RegistryError> {
        let now = self.clock.now();
        let now_text = passes::format_time(now);
        let path = self.path.clone();
        let db = |context| {
            let path = path.clone();
            move |source| RegistryError::Database {
                path,
                context,
                source,
            }
        };
        // IMMEDIATE: take the write lock before reading the version, so two importers cannot
        // both claim the same next version.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("starting the import transaction"))?;
        let version: u64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM registry_versions",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(to_u64)
            .map_err(db("reading the current version"))?;
        // SQLite integers are i64; versions and counts never come near its limit.
        let sql_version = version as i64;
        tx.execute(
            "INSERT INTO registry_versions
                 (version, created_at, actor, action, source, inserted, updated, unchanged)
             VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 0)",
            params![sql_version, now_text, actor, action, source],
        )
        .map_err(db("recording the version"))?;
        let (mut inserted, mut updated, mut unchanged) = (0u64, 0u64, 0u64);
        {
            let mut select = tx
                .prepare_cached(SELECT_PASS_BY_CODE)
                .map_err(db("preparing"))?;
            let mut upsert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO passes (code, kind, plate, region, valid_from,
                         valid_until, zones, purpose, status, holder_ref, version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(db("preparing"))?;
            let mut audit = tx
                .prepare_cached(
                    "INSERT INTO audit_log (version, at, actor, action, code, before, after)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(db("preparing"))?;
            for pass in passes {
                let before = select
                    .query_row([&pass.code], read_row)
                    .optional()
                    .map_err(db("reading a stored pass"))?
                    .map(|row| row.into_pass(&self.path))
                    .transpose()?;
                if before.as_ref().is_some_and(|b| b.same_content(&pass)) {
                    unchanged += 1;
                    continue;
                }
                let change = if before.is_some() {
                    updated += 1;
                    match action {
                        "revoke" => "revoke",
                        "reinstate" => "reinstate",
                        _ => "update",
                    }
                } else {
                    inserted += 1;
                    "insert"
                };
                let after = Pass { version, ..pass };
                upsert
                    .execute(params![
                        after.code,
                        after.kind.as_str(),
                        after.plate,
                        after.region,
                        passes::format_time(after.valid_from),
                        passes::format_time(after.valid_until),
                        after.zones.to_file_form(),
                        after.purpose,
                        after.status.as_str(),
                        after.holder_ref,
                        sql_version,
                    ])
                    .map_err(db("storing a pass"))?;
                audit
                    .execute(params![
                        sql_version,
                        now_text,
                        actor,
                        change,
                        after.code,
                        before.as_ref().map(to_json),
                        Some(to_json(&after)),
                    ])
                    .map_err(db("writing the audit log"))?;
            }
        }
        tx.execute(
            "UPDATE registry_versions SET inserted = ?2, updated = ?3, unchanged = ?4
             WHERE version = ?1",
            params![
                sql_version,
                inserted as i64,
                updated as i64,
                unchanged as i64
            ],
        )
        .map_err(db("recording the version"))?;
        tx.commit().map_err(db("committing the import"))?;
        tracing::info!(
            registry = %self.path.display(),
            version, actor, action, source, inserted, updated, unchanged,
            "registry changed"
        );
        Ok(RegistryVersion {
            version,
            created_at: now,
            actor: actor.to_owned(),
            action: action.to_owned(),
            source: source.map(str::to_owned),
            inserted,
            updated,
            unchanged,
            removed: 0,
        })
    }

    /// The current version: the latest change, 0 for a registry never changed.
    pub fn current_version(&self) -> Result<u64, RegistryError> {
        self.conn
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM registry_versions",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(to_u64)
            .map_err(self.db("reading the current version"))
    }

    /// Every version, oldest first.
    pub fn versions(&self) -> Result<Vec<RegistryVersion>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT version, created_at, actor, action, source, inserted, updated, unchanged,
                     removed
                 FROM registry_versions ORDER BY version",
            )
            .map_err(self.db("reading versions"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    to_u64(r.get::<_, i64>(0)?),
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    to_u64(r.get::<_, i64>(5)?),
                    to_u64(r.get::<_, i64>(6)?),
                    to_u64(r.get::<_, i64>(7)?),
                    to_u64(r.get::<_, i64>(8)?),
                ))
            })
            .map_err(self.db("reading versions"))?;
        let mut out = Vec::new();
        for row in rows {
            let (version, created_at, actor, action, source, inserted, updated, unchanged, removed) =
                row.map_err(self.db("reading versions"))?;
            out.push(RegistryVersion {
                version,
                created_at: self.stored_time(&format!("version {version}"), &created_at)?,
                actor,
                action,
                source,
                inserted,
                updated,
                unchanged,
                removed,
            });
        }
        Ok(out)
    }

    /// The audit log, oldest first; only the rows of `code` when given.
    pub fn audit_log(&self, code: Option<&str>) -> Result<Vec<AuditEntry>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT version, at, actor, action, code, before, after FROM audit_log
                 WHERE ?1 IS NULL OR code = ?1 ORDER BY id",
            )
            .map_err(self.db("reading the audit log"))?;
        let rows = stmt
            .query_map([code], |r| {
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
            .map_err(self.db("reading the audit log"))?;
        let mut out = Vec::new();
        for row in rows {
            let (version, at, actor, action, code, before, after) =
                row.map_err(self.db("reading the audit log"))?;
            out.push(AuditEntry {
                version,
                at: self.stored_time(&code, &at)?,
                actor,
                action,
                code,
                before,
                after,
            });
        }
        Ok(out)
    }

    /// One pass by code.
    pub fn pass(&self, code: &str) -> Result<Option<Pass>, RegistryError> {
        self.conn
            .query_row(SELECT_PASS_BY_CODE, [code], read_row)
            .optional()
            .map_err(self.db("reading a pass"))?
            .map(|row| row.into_pass(&self.path))
            .transpose()
    }

    /// Every pass, by code.
    pub fn list_passes(&self) -> Result<Vec<Pass>, RegistryError> {
        let mut stmt = self
            .conn
            .prepare(SELECT_ALL_PASSES)
            .map_err(self.db("listing passes"))?;
        let rows = stmt
            .query_map([], read_row)
            .map_err(self.db("listing passes"))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(
                row.map_err(self.db("listing passes"))?
                    .into_pass(&self.path)?,
            );
        }
        Ok(out)
    }

    /// An immutable, indexed copy of every pass at the current version, read in one
    /// transaction so that the passes and the version agree.
    pub fn snapshot(&self) -> Result<PassSnapshot, RegistryError> {
        // A read transaction: an import committing meanwhile is not seen half-way.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(self.db("starting a snapshot"))?;
        let version = self.current_version()?;
        let passes = self.list_passes()?;
        tx.finish().map_err(self.db("ending a snapshot"))?;
        Ok(PassSnapshot::from_passes(version, passes))
    }

    fn stored_time(&self, what: &str, text: &str) -> Result<WallTime, RegistryError> {
        passes::parse_time(text).map_err(|message| RegistryError::Corrupt {
            path: self.path.clone(),
            code: what.to_owned(),
            message,
        })
    }
}

fn check_actor(actor: &str) -> Result<(), RegistryError> {
    if actor.trim().is_empty() {
        Err(RegistryError::MissingActor)
    } else {
        Ok(())
    }
}

/// A stored count or version: never negative unless the file was edited by hand.
fn to_u64(i: i64) -> u64 {
    i.max(0) as u64
}

fn to_json(p: &Pass) -> String {
    // A Pass has only strings, enums and times: serialising it cannot fail.
    serde_json::to_string(p).unwrap_or_default()
}

const SELECT_PASS_BY_CODE: &str =
    "SELECT code, kind, plate, region, valid_from, valid_until, zones,
    purpose, status, holder_ref, version FROM passes WHERE code = ?1";
const SELECT_ALL_PASSES: &str = "SELECT code, kind, plate, region, valid_from, valid_until, zones,
    purpose, status, holder_ref, version FROM passes ORDER BY code";

/// A `passes` row as stored, before its values are checked.
struct StoredRow {
    code: String,
    kind: String,
    plate: Option<String>,
    region: Option<String>,
    valid_from: String,
    valid_until: String,
    zones: String,
    purpose: String,
    status: String,
    holder_ref: String,
    version: u64,
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
    Ok(StoredRow {
        code: r.get(0)?,
        kind: r.get(1)?,
        plate: r.get(2)?,
        region: r.get(3)?,
        valid_from: r.get(4)?,
        valid_until: r.get(5)?,
        zones: r.get(6)?,
        purpose: r.get(7)?,
        status: r.get(8)?,
        holder_ref: r.get(9)?,
        version: to_u64(r.get::<_, i64>(10)?),
    })
}

impl StoredRow {
    fn into_pass(self, path: &Path) -> Result<Pass, RegistryError> {
        let corrupt = |message: String| RegistryError::Corrupt {
            path: path.to_owned(),
            code: self.code.clone(),
            message,
        };
        Ok(Pass {
            kind: passes::parse_kind(&self.kind).map_err(corrupt)?,
            valid_from: passes::parse_time(&self.valid_from).map_err(corrupt)?,
            valid_until: passes::parse_time(&self.valid_until).map_err(corrupt)?,
            zones: ZoneSet::parse(&self.zones).map_err(corrupt)?,
            status: passes::parse_status(&self.status).map_err(corrupt)?,
            code: self.code,
            plate: self.plate,
            region: self.region,
            purpose: self.purpose,
            holder_ref: self.holder_ref,
            version: self.version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FixedClock(WallTime);
    impl Clock for FixedClock {
        fn now(&self) -> WallTime {
            self.0
        }
    }

    const HEADER: &str =
        "code,kind,plate,region,valid_from,valid_until,zones,purpose,status,holder_ref";

    fn open(dir: &tempfile::TempDir) -> Registry {
        Registry::open_with_clock(
            dir.path().join("registry.db"),
            Arc::new(FixedClock("2026-04-01T12:00:00Z".parse().unwrap())),
        )
        .unwrap()
    }

    fn write(dir: &tempfile::TempDir, name: &str, rows: &[&str]) -> PathBuf {
        let path = dir.path().join(name);
        let mut text = HEADER.to_owned();
        for r in rows {
            text.push('\n');
            text.push_str(r);
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    const A: &str = "AAAAAAAAAAAAAAA1,vehicle,ABC123,us,2026-04-01T00:00:00Z,2026-04-30T23:59:59Z,*,work,active,h1";
    const B: &str = "AAAAAAAAAAAAAAA2,vehicle,XYZ 789,eu,2026-04-01T00:00:00Z,2026-04-30T23:59:59Z,centre;north,medical,active,h2";
    const P: &str =
        "AAAAAAAAAAAAAAA3,person,,,2026-04-01T00:00:00Z,2026-04-30T23:59:59Z,*,work,active,h3";

    #[test]
    fn imports_and_versions() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = open(&dir);
        assert_eq!(reg.current_version().unwrap(), 0);
        let v1 = reg
            .import_file(write(&dir, "passes.csv", &[A, B, P]), "alice")
            .unwrap();
        assert_eq!(
            (v1.version, v1.inserted, v1.updated, v1.unchanged),
            (1, 3, 0, 0)
        );
        assert_eq!(v1.source.as_deref(), Some("passes.csv"));
        let passes = reg.list_passes().unwrap();
        assert_eq!(passes.len(), 3);
        assert_eq!(passes[1].plate.as_deref(), Some("XYZ789"));
        assert!(passes.iter().all(|p| p.version == 1));

        // Re-import: one revoked, one extended, one unchanged.
        let a2 = A.replace(",active,", ",revoked,");
        let b2 = B.replace("2026-04-30T23:59:59Z", "2026-05-31T23:59:59Z");
        let v2 = reg
            .import_file(write(&dir, "passes2.csv", &[&a2, &b2, P]), "bob")
            .unwrap();
        assert_eq!(
            (v2.version, v2.inserted, v2.updated, v2.unchanged),
            (2, 0, 2, 1)
        );
        let a = reg.pass("AAAAAAAAAAAAAAA1").unwrap().unwrap();
        assert_eq!((a.status, a.version), (PassStatus::Revoked, 2));
        let p = reg.pass("AAAAAAAAAAAAAAA3").unwrap().unwrap();
        assert_eq!(p.version, 1);

        let v3 = reg.revoke("AAAAAAAAAAAAAAA2", "carol").unwrap();
        assert_eq!((v3.version, v3.updated), (3, 1));
        let versions = reg.versions().unwrap();
        let numbers: Vec<u64> = versions.iter().map(|v| v.version).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert_eq!(versions[2].action, "revoke");
        assert_eq!(
            versions[0].to_string(),
            "version 1 (import by alice from passes.csv): 3 inserted, 0 updated, 0 unchanged"
        );

        let audit = reg.audit_log(None).unwrap();
        assert_eq!(audit.len(), 3 + 2 + 1);
        assert!(audit[..3]
            .iter()
            .all(|e| e.actor == "alice" && e.action == "insert"));
        let a_log = reg.audit_log(Some("AAAAAAAAAAAAAAA1")).unwrap();
        assert_eq!(a_log.len(), 2);
        assert_eq!(a_log[1].action, "update");
        assert!(a_log[1].before.as_deref().unwrap().contains("\"active\""));
        assert!(a_log[1].after.as_deref().unwrap().contains("\"revoked\""));
        assert_eq!(
            reg.audit_log(Some("AAAAAAAAAAAAAAA2")).unwrap()[2].action,
            "revoke"
        );
    }

    #[test]
    fn bad_file_changes_nothing_and_names_rows_and_fields() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = open(&dir);
        reg.import_file(write(&dir, "first.csv", &[A]), "alice")
            .unwrap();
        let bad_date = B.replace("2026-04-01T00:00:00Z", "2026-04-31T00:00:00Z");
        let bad_plate = P.replace("AAAAAAAAAAAAAAA3,person,,", "AAAAAAAAAAAAAAA4,vehicle,A-,");
        let dup = P.replace(",h3", ",h9");
        let path = write(&dir, "bad.csv", &[&bad_date, &bad_plate, P, &dup]);
        let err = reg.import_file(&path, "alice").unwrap_err();
        let msg = err.to_string();
        let name = path.display().to_string();
        assert!(
            msg.starts_with(&format!("{name}: 3 problems in 3 rows, nothing imported:")),
            "{msg}"
        );
        assert!(
            msg.contains("\n  row 2, valid_from: bad date \"2026-04-31T00:00:00Z\""),
            "{msg}"
        );
        assert!(msg.contains("\n  row 3, plate: bad plate \"A-\""), "{msg}");
        assert!(
            msg.contains("\n  row 5, code: duplicate code AAAAAAAAAAAAAAA3, first on row 4"),
            "{msg}"
        );
        // Nothing changed: no new version, the valid row of the file (P) was not inserted.
        assert_eq!(reg.current_version().unwrap(), 1);
        assert_eq!(reg.list_passes().unwrap().len(), 1);
        assert!(reg.pass("AAAAAAAAAAAAAAA3").unwrap().is_none());
        assert!(!err.is_retryable());
    }

    #[test]
    fn snapshot_is_isolated_from_later_imports() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = open(&dir);
        reg.import_file(write(&dir, "a.csv", &[A]), "alice")
            .unwrap();
        let before = reg.snapshot().unwrap();
        let a2 = A.replace(",active,", ",revoked,");
        reg.import_file(write(&dir, "b.csv", &[&a2, B]), "alice")
            .unwrap();
        let after = reg.snapshot().unwrap();
        assert_eq!(before.version, 1);
        assert_eq!(before.len(), 1);
        assert_eq!(before.exact("ABC123")[0].status, PassStatus::Active);
        assert_eq!(after.version, 2);
        assert_eq!(after.len(), 2);
        assert_eq!(after.exact("ABC123")[0].status, PassStatus::Revoked);
        assert_eq!(after.exact("XYZ789").len(), 1);
    }

    #[test]
    fn reopening_keeps_everything_and_imports_json() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut reg = open(&dir);
            let json = r#"{"passes": [{"code": "BBBBBBBBBBBBBBB1", "kind": "vehicle",
                "plate": "京A·12345", "region": "cn", "valid_from": "2026-04-01T00:00:00Z",
                "valid_until": "2026-04-02T00:00:00Z", "zones": ["b", "a"]}]}"#;
            let path = dir.path().join("passes.data");
            std::fs::write(&path, json).unwrap();
            reg.import_file(&path, "alice").unwrap();
        }
        let reg = open(&dir);
        assert_eq!(reg.current_version().unwrap(), 1);
        let p = reg.pass("BBBBBBBBBBBBBBB1").unwrap().unwrap();
        assert_eq!(p.plate.as_deref(), Some("京A12345"));
        assert_eq!(p.zones, ZoneSet::List(vec!["a".into(), "b".into()]));
        let version: u32 = reg
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema::SCHEMA_VERSION);
    }

    /// Times importing a large file (run with `--release --ignored`).
    #[test]
    #[ignore = "slow; a timing, not a check"]
    fn import_timing() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = open(&dir);
        let n = 200_000;
        let mut text = HEADER.to_owned();
        for i in 0..n {
            text.push_str(&format!(
                "\n{i:016},vehicle,P{i:07},us,2026-04-01T00:00:00Z,2026-04-30T23:59:59Z,*,work,active,h{i}"
            ));
        }
        let t = std::time::Instant::now();
        reg.import_text(&text, FileFormat::Csv, "big.csv", "alice")
            .unwrap();
        let imported = t.elapsed();
        let t = std::time::Instant::now();
        let snapshot = reg.snapshot().unwrap();
        println!(
            "{n} passes: import {imported:?}, snapshot {:?}",
            t.elapsed()
        );
        assert_eq!(snapshot.len(), n);
    }

    #[test]
    fn refuses_newer_schema_and_missing_actor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = Registry::open(&path).unwrap_err();
        assert!(
            matches!(err, RegistryError::NewerSchema { found: 99, .. }),
            "{err}"
        );

        let mut reg = open(&tempfile::tempdir().unwrap());
        let err = reg
            .import_text(HEADER, FileFormat::Csv, "x.csv", " ")
            .unwrap_err();
        assert!(matches!(err, RegistryError::MissingActor));
        assert!(matches!(
            reg.revoke("NOPE", "alice"),
            Err(RegistryError::UnknownPass(_))
        ));
    }
}
