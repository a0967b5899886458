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

use rusqlite::Connection;

/// The schema version this program writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The migrations, in order: entry `i` moves a file from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[r#"
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
"#];

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
