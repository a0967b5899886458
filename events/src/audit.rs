//! The tamper-evident audit log of a data folder (`audit.db`): every login, token use, change,
//! verdict and read of an event or evidence, with the actor.
//!
//! The log is append-only and hash-chained: entry `n` stores the SHA-256 of its own fields
//! together with entry `n − 1`'s hash, starting from 64 zeros. Editing an entry breaks its hash;
//! deleting one breaks the next entry's link (its `prev_hash` no longer matches, and its `seq`
//! skips); deleting the newest entries is caught by the head (`audit_head`: the last sequence
//! number and hash, written in the same transaction as every append). [`AuditLog::verify`] walks
//! the chain and names the first broken entry.
//!
//! What the chain cannot do alone: someone able to rewrite the whole file can recompute every
//! hash. Anchoring the head outside the box (the fleet's hub, design/review-api.md) closes that.
//!
//! Appends are batched ([`AuditLog::append`] takes many records, one transaction, one fsync):
//! the server's audit writer commits the entries of every request waiting at that moment
//! together, and answers each request only once its entry is durable.
//!
//! Privacy: `detail` holds what was done (filters, counts, a verdict's reason, an event id),
//! never an embedding, a photo or a plate read that raised no event.

use std::path::{Path, PathBuf};

use passwatch_base::time::WallTime;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::review::time_key;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const AUDIT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    seq       INTEGER PRIMARY KEY NOT NULL,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT,
    via       TEXT,
    outcome   TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit (actor, seq);
CREATE INDEX IF NOT EXISTS audit_by_action ON audit (action, seq);
CREATE INDEX IF NOT EXISTS audit_by_at ON audit (at);
CREATE TABLE IF NOT EXISTS audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
) STRICT;
";

/// Everything that can go wrong with the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// SQLite failed while doing `context`.
    #[error("audit log {}: {context}", path.display())]
    Database {
        /// The file.
        path: PathBuf,
        /// What was being done.
        context: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
}

/// What to record: one action of one actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Who: a user name, or `system` (the hourly purge), or `-` for an unknown caller.
    pub actor: String,
    /// What, as a dotted name: `login`, `login.failed`, `event.read`, `evidence.read`,
    /// `events.list`, `verdict`, `pass.revoke`, `purge`, ….
    pub action: String,
    /// On what: an event id, a pass code, a user name, a route.
    pub target: Option<String>,
    /// With which credential: `token:<id>`, `session`, `cli`.
    pub via: Option<String>,
    /// How it ended: `ok`, or the HTTP status / error kind.
    pub outcome: String,
    /// A small JSON object with the particulars (filters, counts, reason codes).
    pub detail: serde_json::Value,
}

impl AuditRecord {
    /// A record with an `ok` outcome and an empty detail.
    pub fn new(actor: &str, action: &str, target: Option<&str>) -> AuditRecord {
        AuditRecord {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            via: None,
            outcome: "ok".to_owned(),
            detail: serde_json::Value::Object(Default::default()),
        }
    }
}

/// One stored entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its position in the chain, from 1.
    pub seq: u64,
    /// When (RFC 3339 UTC, milliseconds).
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// With which credential.
    pub via: Option<String>,
    /// How it ended.
    pub outcome: String,
    /// The particulars, as stored (JSON text).
    pub detail: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry's fields and `prev_hash` give.
    pub fn computed_hash(&self) -> String {
        entry_hash(
            self.seq,
            &self.at,
            &self.actor,
            &self.action,
            self.target.as_deref(),
            self.via.as_deref(),
            &self.outcome,
            &self.detail,
            &self.prev_hash,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn entry_hash(
    seq: u64,
    at: &str,
    actor: &str,
    action: &str,
    target: Option<&str>,
    via: Option<&str>,
    outcome: &str,
    detail: &str,
    prev_hash: &str,
) -> String {
    // A JSON array is an unambiguous encoding of the fields (no separator can be forged).
    let canonical =
        serde_json::json!([seq, at, actor, action, target, via, outcome, detail, prev_hash])
            .to_string();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Which entries to list.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this action (exact), or a prefix ending in `.` (`pass.` for every pass change).
    pub action: Option<String>,
    /// At or after this time.
    pub since: Option<WallTime>,
    /// Before this time.
    pub until: Option<WallTime>,
    /// Entries after this sequence number (the cursor of newest-last listing).
    pub after: Option<u64>,
    /// At most this many (1..=1000).
    pub limit: usize,
}

/// The result of walking the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Entries checked.
    pub entries: u64,
    /// The last entry's hash, when the chain is whole.
    pub head: Option<String>,
    /// The first broken entry and why, or `None` when the chain is whole.
    pub broken: Option<Broken>,
}

/// Where the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broken {
    /// The sequence number of the first entry that does not check out (for entries deleted at
    /// the end, the first missing one).
    pub seq: u64,
    /// What is wrong with it.
    pub why: String,
}

/// The audit log of one data folder.
#[derive(Debug)]
pub struct AuditLog {
    conn: Connection,
    path: PathBuf,
}

impl AuditLog {
    /// Opens (creating if needed) `audit.db` at `path`, in WAL mode with full sync.
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog, AuditError> {
        let path = path.as_ref().to_owned();
        let db = |context| {
            let path = path.clone();
            move |source| AuditError::Database {
                path,
                context,
                source,
            }
        };
        let conn = Connection::open(&path).map_err(db("opening"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db("setting the busy timeout"))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(db("switching to WAL mode"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db("setting synchronous"))?;
        conn.execute_batch(AUDIT_SCHEMA)
            .map_err(db("creating the schema"))?;
        Ok(AuditLog { conn, path })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops this connection from checkpointing the WAL itself (SQLite's default runs a
    /// checkpoint inside whichever commit crosses 1000 pages, and every request waiting on that
    /// commit waits for it); [`AuditLog::checkpoint`] from another connection does it instead.
    pub fn without_autocheckpoint(self) -> Result<AuditLog, AuditError> {
        self.conn
            .query_row("PRAGMA wal_autocheckpoint = 0", [], |_| Ok(()))
            .map_err(self.db("turning off automatic checkpoints"))?;
        Ok(self)
    }

    /// Copies what the WAL holds into the database without waiting for, or blocking, the
    /// writer (a passive checkpoint).
    pub fn checkpoint(&self) -> Result<(), AuditError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(self.db("checkpointing"))
    }

    fn db(&self, context: &'static str) -> impl FnOnce(rusqlite::Error) -> AuditError + '_ {
        move |source| AuditError::Database {
            path: self.path.clone(),
            context,
            source,
        }
    }

    /// Appends `records`, in order, at time `at`, in one transaction; returns their sequence
    /// numbers. Durable when it returns.
    pub fn append(
        &mut self,
        records: &[AuditRecord],
        at: WallTime,
    ) -> Result<Vec<u64>, AuditError> {
        let path = self.path.clone();
        let db = |context| {
            let path = path.clone();
            move |source| AuditError::Database {
                path,
                context,
                source,
            }
        };
        let at = time_key(at);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("starting an append"))?;
        let head: Option<(i64, String)> = tx
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db("reading the head"))?;
        let (mut seq, mut prev) = head
            .map(|(s, h)| (s.max(0) as u64, h))
            .unwrap_or((0, GENESIS.to_owned()));
        let mut out = Vec::with_capacity(records.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO audit (seq, at, actor, action, target, via, outcome, detail,
                         prev_hash, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(db("preparing"))?;
            for r in records {
                seq += 1;
                let detail = r.detail.to_string();
                let hash = entry_hash(
                    seq,
                    &at,
                    &r.actor,
                    &r.action,
                    r.target.as_deref(),
                    r.via.as_deref(),
                    &r.outcome,
                    &detail,
                    &prev,
                );
                insert
                    .execute(params![
                        seq as i64, at, r.actor, r.action, r.target, r.via, r.outcome, detail,
                        prev, hash
                    ])
                    .map_err(db("appending an entry"))?;
                out.push(seq);
                prev = hash;
            }
        }
        tx.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            params![seq as i64, prev],
        )
        .map_err(db("moving the head"))?;
        tx.commit().map_err(db("committing an append"))?;
        Ok(out)
    }

    /// Entries matching `q`, oldest first.
    pub fn entries(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, AuditError> {
        let mut clauses = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        use rusqlite::types::Value::{Integer, Text};
        if let Some(a) = &q.actor {
            args.push(Text(a.clone()));
            clauses.push(format!("actor = ?{}", args.len()));
        }
        if let Some(a) = &q.action {
            if let Some(prefix) = a.strip_suffix('.') {
                args.push(Text(format!("{prefix}.")));
                clauses.push(format!(
                    "substr(action, 1, length(?{0})) = ?{0}",
                    args.len()
                ));
            } else {
                args.push(Text(a.clone()));
                clauses.push(format!("action = ?{}", args.len()));
            }
        }
        if let Some(t) = q.since {
            args.push(Text(time_key(t)));
            clauses.push(format!("at >= ?{}", args.len()));
        }
        if let Some(t) = q.until {
            args.push(Text(time_key(t)));
            clauses.push(format!("at < ?{}", args.len()));
        }
        if let Some(s) = q.after {
            args.push(Integer(s.min(i64::MAX as u64) as i64));
            clauses.push(format!("seq > ?{}", args.len()));
        }
        let sql = format!(
            "SELECT seq, at, actor, action, target, via, outcome, detail, prev_hash, hash
             FROM audit {} ORDER BY seq LIMIT {}",
            if clauses.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", clauses.join(" AND "))
            },
            q.limit.clamp(1, 1000)
        );
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(self.db("listing entries"))?;
        stmt.query_map(params_from_iter(args.iter()), read_entry)
            .and_then(|rows| rows.collect())
            .map_err(self.db("listing entries"))
    }

    /// Walks the whole chain: each entry's hash, its link to the previous one, no gap in the
    /// sequence, and the head.
    pub fn verify(&self) -> Result<Verification, AuditError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, at, actor, action, target, via, outcome, detail, prev_hash, hash
                 FROM audit ORDER BY seq",
            )
            .map_err(self.db("reading the chain"))?;
        let mut rows = stmt.query([]).map_err(self.db("reading the chain"))?;
        let mut expected_seq = 1u64;
        let mut prev = GENESIS.to_owned();
        let mut entries = 0u64;
        let broken = |seq: u64, why: String| Broken { seq, why };
        while let Some(row) = rows.next().map_err(self.db("reading the chain"))? {
            let e = read_entry(row).map_err(self.db("reading the chain"))?;
            entries += 1;
            let fail = if e.seq != expected_seq {
                Some(broken(
                    expected_seq,
                    format!(
                        "entry {expected_seq} is missing (the next entry is {}): deleted",
                        e.seq
                    ),
                ))
            } else if e.prev_hash != prev {
                Some(broken(
                    e.seq,
                    format!(
                        "entry {} links to {} but entry {} hashes to {prev}: the entry before \
                         it was changed or removed",
                        e.seq,
                        e.prev_hash,
                        e.seq - 1
                    ),
                ))
            } else if e.computed_hash() != e.hash {
                Some(broken(
                    e.seq,
                    format!(
                        "entry {} stores hash {} but its fields hash to {}: edited",
                        e.seq,
                        e.hash,
                        e.computed_hash()
                    ),
                ))
            } else {
                None
            };
            if let Some(b) = fail {
                return Ok(Verification {
                    entries,
                    head: None,
                    broken: Some(b),
                });
            }
            prev = e.hash;
            expected_seq += 1;
        }
        let head: Option<(i64, String)> = self
            .conn
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(self.db("reading the head"))?;
        let last = expected_seq - 1;
        let broken_head = match head {
            None if last == 0 => None,
            None => Some(broken(last, "the head record is missing".to_owned())),
            Some((seq, _)) if (seq.max(0) as u64) > last => Some(broken(
                last + 1,
                format!(
                    "the head says {seq} entries were written, the log holds {last}: entries \
                     {}..={seq} were deleted",
                    last + 1
                ),
            )),
            Some((seq, hash)) if seq.max(0) as u64 != last || hash != prev => Some(broken(
                last,
                format!("the head ({seq}, {hash}) does not match entry {last} ({prev})"),
            )),
            Some(_) => None,
        };
        Ok(Verification {
            entries,
            head: broken_head.is_none().then_some(prev),
            broken: broken_head,
        })
    }
}

fn read_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get::<_, i64>(0)?.max(0) as u64,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        via: r.get(5)?,
        outcome: r.get(6)?,
        detail: r.get(7)?,
        prev_hash: r.get(8)?,
        hash: r.get(9)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(n: usize) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path().join("audit.db")).unwrap();
        let at = passwatch_base::time::parse_time("2026-04-10T12:00:00Z").unwrap();
        let records: Vec<AuditRecord> = (0..n)
            .map(|i| AuditRecord::new("ann", "event.read", Some(&format!("ev-{i}"))))
            .collect();
        log.append(&records[..n / 2], at).unwrap();
        log.append(&records[n / 2..], at).unwrap();
        (dir, log)
    }

    #[test]
    fn a_whole_chain_verifies_and_lists() {
        let (_d, log) = log_with(6);
        let v = log.verify().unwrap();
        assert_eq!((v.entries, v.broken.is_none()), (6, true));
        let q = AuditQuery {
            action: Some("event.".to_owned()),
            after: Some(2),
            limit: 10,
            ..AuditQuery::default()
        };
        let seqs: Vec<u64> = log.entries(&q).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3, 4, 5, 6]);
    }

    #[test]
    fn an_edited_a_deleted_and_a_truncated_entry_are_each_found() {
        let (_d, log) = log_with(6);
        log.conn
            .execute("UPDATE audit SET actor = 'mallory' WHERE seq = 3", [])
            .unwrap();
        assert_eq!(log.verify().unwrap().broken.unwrap().seq, 3);

        let (_d, log) = log_with(6);
        log.conn
            .execute("DELETE FROM audit WHERE seq = 4", [])
            .unwrap();
        let b = log.verify().unwrap().broken.unwrap();
        assert_eq!(b.seq, 4, "{}", b.why);

        let (_d, log) = log_with(6);
        log.conn
            .execute("DELETE FROM audit WHERE seq >= 5", [])
            .unwrap();
        let b = log.verify().unwrap().broken.unwrap();
        assert_eq!(b.seq, 5, "{}", b.why);
    }
}
