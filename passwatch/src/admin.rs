//! The operator's commands on a data folder's people and records: `passwatch users`,
//! `passwatch tokens`, `passwatch audit verify`.
//!
//! Passwords are read from the terminal without echo, or, when stdin is not a terminal, as its
//! first line (for scripts: `printf '%s\n' "$PW" | passwatch users add …`); never from the
//! command line, where `ps` would show them. Every change is written to the audit log with the
//! actor `--actor` (default `$USER`) and `via: cli`.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use passwatch_base::time::{Clock, SystemClock};
use passwatch_events::audit::{AuditLog, AuditRecord};
use passwatch_server::access::{AccessStore, Role, Scope};

/// `passwatch users …`.
#[derive(Subcommand, Debug)]
pub enum UsersWhat {
    /// Add a user (the password is asked for, or read from stdin's first line).
    Add {
        /// The login name (a-z, 0-9, '.', '_', '-').
        name: String,
        /// Roles, comma-separated: viewer, reviewer, registrar, auditor, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        role: Vec<String>,
        /// Limit the user to these zones (repeatable, or comma-separated).
        #[arg(long = "zone", value_delimiter = ',')]
        zones: Vec<String>,
        /// Limit the user to these cameras (repeatable, or comma-separated).
        #[arg(long = "camera", value_delimiter = ',')]
        cameras: Vec<String>,
        /// The data folder.
        #[arg(long)]
        data: PathBuf,
        /// Who makes the change (audit log).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// Set a user's password (their sessions end).
    Passwd {
        /// The user.
        name: String,
        /// The data folder.
        #[arg(long)]
        data: PathBuf,
        /// Who makes the change (audit log).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// Disable a user: no login, no token, sessions ended.
    Disable {
        /// The user.
        name: String,
        /// The data folder.
        #[arg(long)]
        data: PathBuf,
        /// Who makes the change (audit log).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// List the users.
    List {
        /// The data folder.
        #[arg(long)]
        data: PathBuf,
    },
}

/// `passwatch tokens …`.
#[derive(Subcommand, Debug)]
pub enum TokensWhat {
    /// Make an API token; it is printed once, alone on the last line of stdout.
    Create {
        /// Whose token.
        #[arg(long)]
        user: String,
        /// When it stops working: RFC 3339, or a duration from now (`30d`, `12h`, `90m`, `45s`).
        #[arg(long)]
        expires: Option<String>,
        /// The data folder.
        #[arg(long)]
        data: PathBuf,
        /// Who makes the change (audit log).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// Revoke a token by id.
    Revoke {
        /// The token's id (the part after `pwt_`, before the second `_`).
        id: String,
        /// The data folder.
        #[arg(long)]
        data: PathBuf,
        /// Who makes the change (audit log).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// List the tokens (never their secrets).
    List {
        /// The data folder.
        #[arg(long)]
        data: PathBuf,
    },
}

/// `passwatch audit …`.
#[derive(Subcommand, Debug)]
pub enum AuditWhat {
    /// Walk the audit log's hash chain; exit 1 naming the first broken entry.
    Verify {
        /// The data folder.
        #[arg(long)]
        data: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn open(data: &Path) -> Result<(AccessStore, AuditLog)> {
    std::fs::create_dir_all(data).with_context(|| format!("--data {}", data.display()))?;
    Ok((
        AccessStore::open(data.join("access.db"))?,
        AuditLog::open(data.join("audit.db"))?,
    ))
}

fn audit(
    log: &mut AuditLog,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let mut r = AuditRecord::new(actor, action, Some(target));
    r.via = Some("cli".to_owned());
    r.detail = detail;
    log.append(&[r], SystemClock.now())?;
    Ok(())
}

fn read_password(prompt: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = rpassword::prompt_password(prompt)?;
        let again = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ: nothing changed");
        Ok(first)
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }
}

/// Runs a `users` command.
pub fn users(what: UsersWhat) -> Result<ExitCode> {
    let now = SystemClock.now();
    match what {
        UsersWhat::Add {
            name,
            role,
            zones,
            cameras,
            data,
            actor,
        } => {
            let roles = role
                .iter()
                .map(|r| Role::parse(r).map_err(anyhow::Error::msg))
                .collect::<Result<Vec<_>>>()
                .context("--role")?;
            let scope =
                (!zones.is_empty() || !cameras.is_empty()).then_some(Scope { zones, cameras });
            let (mut access, mut log) = open(&data)?;
            let password = read_password(&format!("password for {name}: "))?;
            let user = access.add_user(&name, &roles, scope.as_ref(), &password, now)?;
            let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
            audit(
                &mut log,
                &actor,
                "user.add",
                &name,
                serde_json::json!({ "roles": roles, "scoped": user.scope.is_some() }),
            )?;
            println!("added user {name} ({})", roles.join(", "));
        }
        UsersWhat::Passwd { name, data, actor } => {
            let (mut access, mut log) = open(&data)?;
            anyhow::ensure!(access.user(&name)?.is_some(), "no user {name:?}");
            let password = read_password(&format!("new password for {name}: "))?;
            access.set_password(&name, &password, now)?;
            audit(
                &mut log,
                &actor,
                "user.passwd",
                &name,
                serde_json::json!({}),
            )?;
            println!("password of {name} changed; their sessions have ended");
        }
        UsersWhat::Disable { name, data, actor } => {
            let (mut access, mut log) = open(&data)?;
            access.set_disabled(&name, true, now)?;
            audit(
                &mut log,
                &actor,
                "user.disable",
                &name,
                serde_json::json!({}),
            )?;
            println!("disabled {name}: no login, no token, sessions ended");
        }
        UsersWhat::List { data } => {
            let (access, _) = open(&data)?;
            for u in access.users()? {
                let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
                let scope = u
                    .scope
                    .map(|s| {
                        format!(
                            " scope zones={} cameras={}",
                            s.zones.join(","),
                            s.cameras.join(",")
                        )
                    })
                    .unwrap_or_default();
                println!(
                    "{}\t{}{}{}",
                    u.name,
                    roles.join(","),
                    scope,
                    if u.disabled { "\tdisabled" } else { "" }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `30d`, `12h`, `90m`, `45s`, or RFC 3339.
fn parse_expiry(
    text: &str,
    now: passwatch_base::time::WallTime,
) -> Result<passwatch_base::time::WallTime> {
    let (n, unit) = text.split_at(text.len().saturating_sub(1));
    if let Ok(n) = n.parse::<i64>() {
        let d = match unit {
            "d" => chrono::Duration::days(n),
            "h" => chrono::Duration::hours(n),
            "m" => chrono::Duration::minutes(n),
            "s" => chrono::Duration::seconds(n),
            _ => anyhow::bail!("--expires {text:?}: a duration ends in d, h, m or s"),
        };
        anyhow::ensure!(n > 0, "--expires {text:?}: must be in the future");
        return Ok(now + d);
    }
    passwatch_base::time::parse_time(text)
        .map_err(|e| anyhow::anyhow!("--expires {text:?}: {e} (or a duration: 30d, 12h, 90m, 45s)"))
}

/// Runs a `tokens` command.
pub fn tokens(what: TokensWhat) -> Result<ExitCode> {
    let now = SystemClock.now();
    match what {
        TokensWhat::Create {
            user,
            expires,
            data,
            actor,
        } => {
            let expires = expires.map(|e| parse_expiry(&e, now)).transpose()?;
            let (mut access, mut log) = open(&data)?;
            let (info, token) = access.create_token(&user, expires, now)?;
            audit(
                &mut log,
                &actor,
                "token.create",
                &user,
                serde_json::json!({ "token": info.id, "expires_at": info.expires_at }),
            )?;
            println!(
                "token {} for {user}, expires {}",
                info.id,
                info.expires_at.as_deref().unwrap_or("never")
            );
            println!("it is shown once; store it now");
            println!("{token}");
        }
        TokensWhat::Revoke { id, data, actor } => {
            let (mut access, mut log) = open(&data)?;
            let info = access.revoke_token(&id, now)?;
            audit(
                &mut log,
                &actor,
                "token.revoke",
                &id,
                serde_json::json!({ "user": info.user }),
            )?;
            println!("revoked token {id} of {}", info.user);
        }
        TokensWhat::List { data } => {
            let (access, _) = open(&data)?;
            for t in access.tokens(None)? {
                println!(
                    "{}\t{}\tcreated {}\texpires {}{}",
                    t.id,
                    t.user,
                    t.created_at,
                    t.expires_at.as_deref().unwrap_or("never"),
                    t.revoked_at
                        .map(|r| format!("\trevoked {r}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs an `audit` command.
pub fn audit_cmd(what: AuditWhat) -> Result<ExitCode> {
    match what {
        AuditWhat::Verify { data, json } => {
            let path = data.join("audit.db");
            anyhow::ensure!(path.exists(), "{}: no audit log here", path.display());
            let log = AuditLog::open(&path)?;
            let v = log.verify()?;
            if json {
                println!("{}", serde_json::to_string(&v)?);
            }
            match &v.broken {
                None => {
                    if !json {
                        println!(
                            "audit log {}: {} entries, chain whole, head {}",
                            path.display(),
                            v.entries,
                            v.head.as_deref().unwrap_or("(empty)")
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    eprintln!(
                        "audit log {}: broken at entry {}: {}",
                        path.display(),
                        b.seq,
                        b.why
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
