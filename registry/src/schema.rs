//! The registry database schema and its migrations.
//!
//! The schema version is SQLite's `PRAGMA user_version`: 0 is a new, empty file, and each entry
//! of [`MIGRATIONS`] moves the file one version up, inside one transaction. A file written by a
//! newer passwatch (a higher version than this program knows) is refused rather than guessed at.
//!
//! Tables:
//! - `passes`: one row per pass code, its current state, and the registry version that last
//!   changed it. Times are RFC 3339 UTC text (readable with the `sqlite3` shell), zones are `*`
//!   or ids joined by `;`.
//! - `registry_versions`: one row per import or change: who, when, what, from which file, and how
//!   many passes were inserted, updated and left unchanged.
//! - `audit_log`: one row per changed pass, with the actor and the pass before and after as JSON.
//!
//! Version 2 adds the watchlist (see [`super::watchlist`]):
//! - `watchlist_subjects`: one row per stay-home order: subject id, order window, home zone,
//!   status, and the registry version that last changed it;
//! - `watchlist_embeddings`: the subjects' reference embeddings, each a little-endian `f32` blob
//!   of `dim` values with its model id, quality score and the version that added it, and the path
//!   of a kept photo copy (empty unless the operator asked for one);
//! - `watchlist_audit`: one row per subject enrolled, changed or removed, with the actor and the
//!   subject before and after as JSON (never the vectors);
//! - `registry_versions.removed`: subjects removed by a version (0 for every pass change).

use rusqlite::Connection;

/// The schema version this program writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The migrations, in order: entry `i` moves a file from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE passes (
    code        TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('vehicle', 'person')),
    plate       TEXT,
    region      TEXT,
    valid_from  TEXT NOT NULL,
    valid_until TEXT NOT NULL,
    zones       TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    holder_ref  TEXT NOT NULL,
    version     INTEGER NOT NULL
) STRICT;
CREATE INDEX passes_by_plate ON passes (plate);

CREATE TABLE registry_versions (
    version    INTEGER PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    source     TEXT,
    inserted   INTEGER NOT NULL,
    updated    INTEGER NOT NULL,
    unchanged  INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    version INTEGER NOT NULL REFERENCES registry_versions (version),
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    code    TEXT NOT NULL,
    before  TEXT,
    after   TEXT
) STRICT;
CREATE INDEX audit_log_by_code ON audit_log (code);
"#,
    r#"
ALTER TABLE registry_versions ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE watchlist_subjects (
    subject_id  TEXT PRIMARY KEY NOT NULL,
    order_from  TEXT NOT NULL,
    order_until TEXT NOT NULL,
    home_zone   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    version     INTEGER NOT NULL
) STRICT;

CREATE TABLE watchlist_embeddings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_id TEXT NOT NULL REFERENCES watchlist_subjects (subject_id) ON DELETE CASCADE,
    model_id   TEXT NOT NULL,
    dim        INTEGER NOT NULL CHECK (dim > 0),
    vector     BLOB NOT NULL CHECK (length(vector) = 4 * dim),
    quality    REAL NOT NULL,
    version    INTEGER NOT NULL,
    photo      TEXT
) STRICT;
CREATE INDEX watchlist_embeddings_by_subject ON watchlist_embeddings (subject_id);

CREATE TABLE watchlist_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    version    INTEGER NOT NULL REFERENCES registry_versions (version),
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    before     TEXT,
    after      TEXT
) STRICT;
CREATE INDEX watchlist_audit_by_subject ON watchlist_audit (subject_id);
"#,
];

/// Why a database could not be brought to [`SCHEMA_VERSION`].
#[derive(Debug)]
pub enum MigrateError {
    /// SQLite failed.
    Sqlite(rusqlite::Error),
    /// The file's version is newer than this program's.
    Newer(u32),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sqlite(e)
    }
}

/// Brings the database to [`SCHEMA_VERSION`], one transaction per step; returns the version found.
pub fn migrate(conn: &mut Connection) -> Result<u32, MigrateError> {
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(MigrateError::Newer(found));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)?;
        tx.commit()?;
    }
    Ok(found)
}
