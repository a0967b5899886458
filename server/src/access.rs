//! Who may do what: users, their roles and scope, API tokens and browser sessions, in
//! `access.db` beside the events of a data folder.
//!
//! - Passwords are hashed with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes), and
//!   only the PHC string is stored.
//! - API tokens are 32 random bytes (`pwt_<id>_<secret>`, hex); only their SHA-256 is stored,
//!   so a stolen database holds no usable token. A token can expire and be revoked; the id
//!   names it in the audit log and to `passwatch tokens revoke`.
//! - Sessions are the browser's: a random cookie value (hashed at rest like a token), a CSRF
//!   token that every state-changing request of that session must echo, an idle limit and an
//!   absolute one.
//!
//! Roles ([`Role`]) add permissions ([`Permission`]); `admin` holds every one. A scope limits a
//! user to some zones and cameras: an event is visible when its zone or its camera is in the
//! scope.

use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use passwatch_base::time::WallTime;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A role: what a user is there to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Cameras and health.
    Viewer,
    /// Events, evidence, verdicts, case export (and what a viewer sees).
    Reviewer,
    /// Passes and the watchlist (and what a viewer sees).
    Registrar,
    /// The audit log, read only (and what a viewer sees).
    Auditor,
    /// Users, tokens, retention; and every permission of the others.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Reviewer,
        Role::Registrar,
        Role::Auditor,
        Role::Admin,
    ];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Reviewer => "reviewer",
            Role::Registrar => "registrar",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// Reads a role's name.
    pub fn parse(text: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == text.trim())
            .ok_or_else(|| {
                format!("unknown role {text:?}: one of viewer, reviewer, registrar, auditor, admin")
            })
    }

    fn grants(self, p: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Viewer => p == Permission::Cameras,
            Role::Reviewer => matches!(p, Permission::Cameras | Permission::Events),
            Role::Registrar => matches!(p, Permission::Cameras | Permission::Registry),
            Role::Auditor => matches!(p, Permission::Cameras | Permission::Audit),
        }
    }
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Cameras, health, metrics.
    Cameras,
    /// Events, evidence, verdicts, export.
    Events,
    /// Passes and the watchlist.
    Registry,
    /// The audit log.
    Audit,
    /// Users, tokens, retention.
    Admin,
}

/// The zones and cameras a user is limited to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Zone ids.
    pub zones: Vec<String>,
    /// Camera ids.
    pub cameras: Vec<String>,
}

impl Scope {
    /// Whether an event of `zone` seen by `camera` is in the scope.
    pub fn allows(&self, zone: &str, camera: &str) -> bool {
        self.zones.iter().any(|z| z == zone) || self.cameras.iter().any(|c| c == camera)
    }
}

/// A user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The login name.
    pub name: String,
    /// Roles, sorted.
    pub roles: Vec<Role>,
    /// The scope, or `None` for everything.
    pub scope: Option<Scope>,
    /// A disabled user can neither log in nor use a token.
    pub disabled: bool,
    /// When the user was added (RFC 3339).
    pub created_at: String,
}

impl User {
    /// Whether one of the user's roles grants `p`.
    pub fn can(&self, p: Permission) -> bool {
        self.roles.iter().any(|r| r.grants(p))
    }
}

/// An API token, without its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The token's public id.
    pub id: String,
    /// Whose it is.
    pub user: String,
    /// When it was made.
    pub created_at: String,
    /// When it stops working, if ever.
    pub expires_at: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// What a presented token turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// Good: the user and the token's id.
    Valid(User, String),
    /// Not a token this folder issued.
    Unknown,
    /// Revoked (its id).
    Revoked(String),
    /// Past its expiry (its id).
    Expired(String),
    /// Its user is disabled (the token's id).
    UserDisabled(String),
}

/// A live browser session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The session's public id (for the audit log).
    pub id: String,
    /// Its user.
    pub user: User,
    /// The token state-changing requests must echo in `X-CSRF-Token`.
    pub csrf: String,
    /// When it ends at the latest.
    pub expires_at: WallTime,
}

/// Everything that can go wrong with the access store.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// SQLite failed while doing `context`.
    #[error("access database {}: {context}", path.display())]
    Database {
        /// The file.
        path: PathBuf,
        /// What was being done.
        context: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A user name that is not 1–64 of `a-z 0-9 . _ -`.
    #[error("user name {0:?}: 1 to 64 characters of a-z, 0-9, '.', '_', '-'")]
    BadName(String),
    /// A user that exists already.
    #[error("user {0:?} exists already")]
    UserExists(String),
    /// No such user.
    #[error("no user {0:?}")]
    UnknownUser(String),
    /// No such token.
    #[error("no token {0:?}")]
    UnknownToken(String),
    /// A password too short or too long.
    #[error("password: {0}")]
    BadPassword(String),
    /// A user without roles, or a malformed scope.
    #[error("{0}")]
    Invalid(String),
    /// Hashing failed (out of memory?).
    #[error("hashing a password failed: {0}")]
    Hash(String),
    /// The system's random source failed.
    #[error("the system's random source failed: {0}")]
    Random(String),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    name          TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT,
    roles         TEXT NOT NULL,
    scope_zones   TEXT,
    scope_cameras TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS tokens (
    id         TEXT PRIMARY KEY NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    user       TEXT NOT NULL REFERENCES users (name),
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS sessions (
    id         TEXT PRIMARY KEY NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    user       TEXT NOT NULL REFERENCES users (name),
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
";

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// How long a session lives without a request.
pub const SESSION_IDLE: chrono::Duration = chrono::Duration::minutes(30);
/// How long a session lives at most.
pub const SESSION_MAX: chrono::Duration = chrono::Duration::hours(12);

fn random_hex(bytes: usize) -> Result<String, AccessError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| AccessError::Random(e.to_string()))?;
    Ok(hex::encode(buf))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn time_text(t: WallTime) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_time_text(text: &str) -> Option<WallTime> {
    passwatch_base::time::parse_time(text).ok()
}

/// Checks a user name.
pub fn check_name(name: &str) -> Result<(), AccessError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AccessError::BadName(name.to_owned()))
    }
}

fn check_password(password: &str) -> Result<(), AccessError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(AccessError::BadPassword(format!(
            "at least {MIN_PASSWORD_CHARS} characters ({n} given)"
        )));
    }
    if password.len() > 1024 {
        return Err(AccessError::BadPassword("at most 1024 bytes".to_owned()));
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String, AccessError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AccessError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccessError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccessError::Hash(e.to_string()))
}

/// A PHC string of a password nobody has, verified against when a user is unknown, so that
/// a wrong name costs as much time as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("passwatch-no-such-user").unwrap_or_default())
}

fn join(items: &[String]) -> String {
    items.join(";")
}

fn split(text: Option<String>) -> Vec<String> {
    text.map(|t| {
        t.split(';')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// The access store of one data folder.
#[derive(Debug)]
pub struct AccessStore {
    conn: Connection,
    path: PathBuf,
}

impl AccessStore {
    /// Opens (creating if needed) `access.db` at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<AccessStore, AccessError> {
        let path = path.as_ref().to_owned();
        let db = |context| {
            let path = path.clone();
            move |source| AccessError::Database {
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
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db("enabling foreign keys"))?;
        conn.execute_batch(SCHEMA)
            .map_err(db("creating the schema"))?;
        Ok(AccessStore { conn, path })
    }

    fn db(&self, context: &'static str) -> impl FnOnce(rusqlite::Error) -> AccessError + '_ {
        move |source| AccessError::Database {
            path: self.path.clone(),
            context,
            source,
        }
    }

    /// Adds a user with `roles`, an optional `scope`, and `password`.
    pub fn add_user(
        &mut self,
        name: &str,
        roles: &[Role],
        scope: Option<&Scope>,
        password: &str,
        now: WallTime,
    ) -> Result<User, AccessError> {
        check_name(name)?;
        if roles.is_empty() {
            return Err(AccessError::Invalid(format!(
                "user {name:?}: at least one role is needed"
            )));
        }
        if let Some(s) = scope {
            if s.zones.is_empty() && s.cameras.is_empty() {
                return Err(AccessError::Invalid(format!(
                    "user {name:?}: a scope names at least one zone or camera"
                )));
            }
            for id in s.zones.iter().chain(&s.cameras) {
                if id.is_empty() || id.contains(';') {
                    return Err(AccessError::Invalid(format!(
                        "user {name:?}: scope entry {id:?} is empty or holds ';'"
                    )));
                }
            }
        }
        check_password(password)?;
        if self.user(name)?.is_some() {
            return Err(AccessError::UserExists(name.to_owned()));
        }
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let hash = hash_password(password)?;
        let roles_text: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
        self.conn
            .execute(
                "INSERT INTO users (name, password_hash, roles, scope_zones, scope_cameras,
                     disabled, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6)",
                params![
                    name,
                    hash,
                    join(&roles_text),
                    scope.map(|s| join(&s.zones)),
                    scope.map(|s| join(&s.cameras)),
                    time_text(now)
                ],
            )
            .map_err(self.db("adding a user"))?;
        self.user(name)?
            .ok_or_else(|| AccessError::UnknownUser(name.to_owned()))
    }

    /// Sets a user's password (every session of the user ends).
    pub fn set_password(
        &mut self,
        name: &str,
        password: &str,
        now: WallTime,
    ) -> Result<(), AccessError> {
        check_password(password)?;
        let hash = hash_password(password)?;
        let n = self
            .conn
            .execute(
                "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, hash, time_text(now)],
            )
            .map_err(self.db("setting a password"))?;
        if n == 0 {
            return Err(AccessError::UnknownUser(name.to_owned()));
        }
        self.end_sessions_of(name)
    }

    /// Disables (or enables again) a user; disabling ends the user's sessions.
    pub fn set_disabled(
        &mut self,
        name: &str,
        disabled: bool,
        now: WallTime,
    ) -> Result<(), AccessError> {
        let n = self
            .conn
            .execute(
                "UPDATE users SET disabled = ?2, updated_at = ?3 WHERE name = ?1",
                params![name, disabled as i64, time_text(now)],
            )
            .map_err(self.db("disabling a user"))?;
        if n == 0 {
            return Err(AccessError::UnknownUser(name.to_owned()));
        }
        if disabled {
            self.end_sessions_of(name)?;
        }
        Ok(())
    }

    fn end_sessions_of(&mut self, name: &str) -> Result<(), AccessError> {
        self.conn
            .execute("DELETE FROM sessions WHERE user = ?1", [name])
            .map_err(self.db("ending sessions"))
            .map(|_| ())
    }

    /// One user, or `None`.
    pub fn user(&self, name: &str) -> Result<Option<User>, AccessError> {
        self.conn
            .query_row(
                "SELECT name, roles, scope_zones, scope_cameras, disabled, created_at
                 FROM users WHERE name = ?1",
                [name],
                read_user,
            )
            .optional()
            .map_err(self.db("reading a user"))
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>, AccessError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, roles, scope_zones, scope_cameras, disabled, created_at
                 FROM users ORDER BY name",
            )
            .map_err(self.db("listing users"))?;
        stmt.query_map([], read_user)
            .and_then(|rows| rows.collect())
            .map_err(self.db("listing users"))
    }

    /// The user, if `password` is theirs and they are not disabled. Costs one Argon2
    /// verification whatever the outcome.
    pub fn check_password(&self, name: &str, password: &str) -> Result<Option<User>, AccessError> {
        let row: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT password_hash FROM users WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db("reading a user"))?;
        let stored = row.flatten();
        let phc = stored.as_deref().unwrap_or_else(|| dummy_hash());
        let good = PasswordHash::new(phc)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        if !good || stored.is_none() {
            return Ok(None);
        }
        Ok(self.user(name)?.filter(|u| !u.disabled))
    }

    /// Makes a token for `user`, valid until `expires` (or until revoked); returns its record
    /// and the token itself, which is not stored and cannot be shown again.
    pub fn create_token(
        &mut self,
        user: &str,
        expires: Option<WallTime>,
        now: WallTime,
    ) -> Result<(TokenInfo, String), AccessError> {
        let u = self
            .user(user)?
            .ok_or_else(|| AccessError::UnknownUser(user.to_owned()))?;
        if u.disabled {
            return Err(AccessError::Invalid(format!(
                "user {user:?} is disabled: no token for them"
            )));
        }
        if expires.is_some_and(|e| e <= now) {
            return Err(AccessError::Invalid(
                "expires: the expiry is in the past".to_owned(),
            ));
        }
        let id = random_hex(6)?;
        let token = format!("pwt_{id}_{}", random_hex(32)?);
        self.conn
            .execute(
                "INSERT INTO tokens (id, hash, user, created_at, expires_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                params![
                    id,
                    sha256_hex(&token),
                    user,
                    time_text(now),
                    expires.map(time_text)
                ],
            )
            .map_err(self.db("storing a token"))?;
        let info = self
            .token(&id)?
            .ok_or_else(|| AccessError::UnknownToken(id.clone()))?;
        Ok((info, token))
    }

    /// One token's record.
    pub fn token(&self, id: &str) -> Result<Option<TokenInfo>, AccessError> {
        self.conn
            .query_row(
                "SELECT id, user, created_at, expires_at, revoked_at FROM tokens WHERE id = ?1",
                [id],
                read_token,
            )
            .optional()
            .map_err(self.db("reading a token"))
    }

    /// Every token (of `user`, when given), newest first.
    pub fn tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>, AccessError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, user, created_at, expires_at, revoked_at FROM tokens
                 WHERE ?1 IS NULL OR user = ?1 ORDER BY created_at DESC, id",
            )
            .map_err(self.db("listing tokens"))?;
        stmt.query_map([user], read_token)
            .and_then(|rows| rows.collect())
            .map_err(self.db("listing tokens"))
    }

    /// Revokes a token by id (revoking twice keeps the first time).
    pub fn revoke_token(&mut self, id: &str, now: WallTime) -> Result<TokenInfo, AccessError> {
        self.conn
            .execute(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, time_text(now)],
            )
            .map_err(self.db("revoking a token"))?;
        self.token(id)?
            .ok_or_else(|| AccessError::UnknownToken(id.to_owned()))
    }

    /// What the token presented is.
    pub fn check_token(&self, token: &str, now: WallTime) -> Result<TokenCheck, AccessError> {
        let row: Option<(String, String, Option<String>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT id, user, expires_at, revoked_at FROM tokens WHERE hash = ?1",
                [sha256_hex(token)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(self.db("checking a token"))?;
        let Some((id, user, expires, revoked)) = row else {
            return Ok(TokenCheck::Unknown);
        };
        if revoked.is_some() {
            return Ok(TokenCheck::Revoked(id));
        }
        if expires
            .as_deref()
            .and_then(parse_time_text)
            .is_some_and(|e| e <= now)
        {
            return Ok(TokenCheck::Expired(id));
        }
        match self.user(&user)? {
            Some(u) if !u.disabled => Ok(TokenCheck::Valid(u, id)),
            _ => Ok(TokenCheck::UserDisabled(id)),
        }
    }

    /// Starts a session for a user who just logged in; returns the session and the cookie
    /// value (not stored).
    pub fn create_session(
        &mut self,
        user: &User,
        now: WallTime,
    ) -> Result<(Session, String), AccessError> {
        // Old sessions are swept here, so the table stays small without a timer.
        self.conn
            .execute(
                "DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen <= ?2",
                params![time_text(now), time_text(now - SESSION_IDLE)],
            )
            .map_err(self.db("sweeping sessions"))?;
        let id = random_hex(6)?;
        let secret = random_hex(32)?;
        let csrf = random_hex(32)?;
        let expires_at = now + SESSION_MAX;
        self.conn
            .execute(
                "INSERT INTO sessions (id, hash, user, csrf, created_at, last_seen, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                params![
                    id,
                    sha256_hex(&secret),
                    user.name,
                    csrf,
                    time_text(now),
                    time_text(expires_at)
                ],
            )
            .map_err(self.db("starting a session"))?;
        Ok((
            Session {
                id,
                user: user.clone(),
                csrf,
                expires_at,
            },
            secret,
        ))
    }

    /// The live session of a cookie value, touched (its idle limit moves on); `None` when
    /// unknown, expired, idle too long, or its user is disabled.
    pub fn session(&mut self, secret: &str, now: WallTime) -> Result<Option<Session>, AccessError> {
        let hash = sha256_hex(secret);
        let row: Option<(String, String, String, String, String)> = self
            .conn
            .query_row(
                "SELECT id, user, csrf, last_seen, expires_at FROM sessions WHERE hash = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(self.db("reading a session"))?;
        let Some((id, user, csrf, last_seen, expires)) = row else {
            return Ok(None);
        };
        let expires_at = parse_time_text(&expires).unwrap_or(now);
        let idle_out = parse_time_text(&last_seen).is_none_or(|t| t + SESSION_IDLE <= now);
        if expires_at <= now || idle_out {
            self.conn
                .execute("DELETE FROM sessions WHERE id = ?1", [&id])
                .map_err(self.db("ending a session"))?;
            return Ok(None);
        }
        let Some(user) = self.user(&user)?.filter(|u| !u.disabled) else {
            return Ok(None);
        };
        self.conn
            .execute(
                "UPDATE sessions SET last_seen = ?2 WHERE id = ?1",
                params![id, time_text(now)],
            )
            .map_err(self.db("touching a session"))?;
        Ok(Some(Session {
            id,
            user,
            csrf,
            expires_at,
        }))
    }

    /// Ends a session (logout).
    pub fn end_session(&mut self, id: &str) -> Result<(), AccessError> {
        self.conn
            .execute("DELETE FROM sessions WHERE id = ?1", [id])
            .map_err(self.db("ending a session"))
            .map(|_| ())
    }
}

fn read_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let roles: String = r.get(1)?;
    let zones = split(r.get(2)?);
    let cameras = split(r.get(3)?);
    Ok(User {
        name: r.get(0)?,
        roles: roles
            .split(';')
            .filter_map(|s| Role::parse(s).ok())
            .collect(),
        scope: (!zones.is_empty() || !cameras.is_empty()).then_some(Scope { zones, cameras }),
        disabled: r.get::<_, i64>(4)? != 0,
        created_at: r.get(5)?,
    })
}

fn read_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        id: r.get(0)?,
        user: r.get(1)?,
        created_at: r.get(2)?,
        expires_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> WallTime {
        passwatch_base::time::parse_time("2026-04-10T12:00:00Z").unwrap()
    }

    fn store() -> (tempfile::TempDir, AccessStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = AccessStore::open(dir.path().join("access.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn passwords_tokens_and_sessions() {
        let (_d, mut s) = store();
        let u = s
            .add_user("ann", &[Role::Reviewer], None, "correct horse", now())
            .unwrap();
        assert!(u.can(Permission::Events) && !u.can(Permission::Admin));
        assert!(s.check_password("ann", "correct horse").unwrap().is_some());
        assert!(s.check_password("ann", "wrong horse!").unwrap().is_none());
        assert!(s
            .check_password("nobody", "correct horse")
            .unwrap()
            .is_none());
        assert!(matches!(
            s.add_user("ann", &[Role::Viewer], None, "correct horse", now()),
            Err(AccessError::UserExists(_))
        ));
        assert!(matches!(
            s.add_user("bob", &[Role::Viewer], None, "short", now()),
            Err(AccessError::BadPassword(_))
        ));

        let later = now() + chrono::Duration::hours(1);
        let (info, token) = s.create_token("ann", Some(later), now()).unwrap();
        assert!(matches!(
            s.check_token(&token, now()).unwrap(),
            TokenCheck::Valid(..)
        ));
        assert_eq!(
            s.check_token(&token, later).unwrap(),
            TokenCheck::Expired(info.id.clone())
        );
        assert_eq!(
            s.check_token("pwt_x_y", now()).unwrap(),
            TokenCheck::Unknown
        );
        s.revoke_token(&info.id, now()).unwrap();
        assert_eq!(
            s.check_token(&token, now()).unwrap(),
            TokenCheck::Revoked(info.id.clone())
        );

        let (session, cookie) = s.create_session(&u, now()).unwrap();
        assert_eq!(s.session(&cookie, now()).unwrap().unwrap().id, session.id);
        let idle = now() + SESSION_IDLE + chrono::Duration::seconds(1);
        assert!(s.session(&cookie, idle).unwrap().is_none());
        let (_, cookie) = s.create_session(&u, now()).unwrap();
        s.set_disabled("ann", true, now()).unwrap();
        assert!(s.session(&cookie, now()).unwrap().is_none());
        assert!(s.check_password("ann", "correct horse").unwrap().is_none());
    }

    #[test]
    fn a_scope_limits_by_zone_or_camera() {
        let scope = Scope {
            zones: vec!["north".into()],
            cameras: vec!["gate-7".into()],
        };
        assert!(scope.allows("north", "any"));
        assert!(scope.allows("south", "gate-7"));
        assert!(!scope.allows("south", "gate-1"));
    }
}
