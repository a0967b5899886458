//! `passwatch export` and `passwatch export verify`: the case of an appeal out of a data
//! folder, and the check of one that comes back.
//!
//! A thin driver over `passwatch_events::case`. The events are named (`--events`) or found by
//! filters (`--filter camera=gate-north --filter since=2026-05-01T00:00:00Z`), which page
//! through the journal's listing. The archive is written beside its destination and renamed
//! into place only once it is whole and its export is in the audit log (`export`: who, how many
//! events, which, the filters, and the manifest's SHA-256, which names the archive), so no case
//! leaves the folder unrecorded, and an existing file is never overwritten.
//!
//! `export verify` re-reads an archive and checks every file against its manifest and every
//! image against its event's recorded hash; with `--data` it also looks for the export's audit
//! entry in that folder, by the manifest's hash. Exit 0 when it holds, 1 naming what is broken.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use passwatch_base::time::{parse_time, Clock, SystemClock};
use passwatch_events::audit::{AuditEntry, AuditLog, AuditQuery, AuditRecord};
use passwatch_events::case::{self, CaseError, CaseSummary, MAX_CASE_EVENTS};
use passwatch_events::review::{EventQuery, Order};
use passwatch_events::{EventKind, Journal, Review};

/// `passwatch export`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["events", "filter"])))]
pub struct ExportArgs {
    /// The data folder (journal.db, evidence/).
    #[arg(long)]
    pub data: PathBuf,
    /// The events to export, by id (repeatable, or comma-separated).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub events: Vec<String>,
    /// Export every event matching KEY=VALUE (repeatable, all must hold): camera, zone, kind,
    /// reason, review, since, until (RFC 3339), plate (exact), subject.
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// The archive to write (a tar file); must not exist.
    #[arg(long)]
    pub out: PathBuf,
    /// Who exports the case (manifest and audit log).
    #[arg(long, env = "USER", default_value = "unknown")]
    pub actor: String,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `passwatch export verify`.
#[derive(clap::Args, Debug)]
pub struct ExportVerifyArgs {
    /// The case archive.
    pub archive: PathBuf,
    /// Also find the export's entry in this data folder's audit log (by the manifest's hash).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The filter keys `--filter` takes.
const FILTER_KEYS: [&str; 9] = [
    "camera", "zone", "kind", "reason", "review", "since", "until", "plate", "subject",
];

/// The journal query that `--filter KEY=VALUE…` stands for.
fn query_of(filters: &[String]) -> Result<EventQuery> {
    let mut q = EventQuery {
        order: Order::Newest,
        limit: 500,
        ..EventQuery::default()
    };
    let mut seen = BTreeSet::new();
    for f in filters {
        let Some((key, value)) = f.split_once('=') else {
            bail!(
                "--filter {f:?}: write KEY=VALUE, KEY one of {}",
                FILTER_KEYS.join(", ")
            );
        };
        let (key, value) = (key.trim(), value.trim());
        if value.is_empty() {
            bail!("--filter {key}: empty value");
        }
        if !seen.insert(key.to_owned()) {
            bail!("--filter {key}: given twice");
        }
        let text = Some(value.to_owned());
        match key {
            "camera" => q.camera = text,
            "zone" => q.zone = text,
            "reason" => q.reason = text,
            "plate" => q.plate = text,
            "subject" => q.subject_id = text,
            "kind" => {
                let kinds = [
                    EventKind::NoValidPass,
                    EventKind::NeedsReview,
                    EventKind::StayHomeBreach,
                    EventKind::PassCheck,
                ];
                q.kind = Some(
                    kinds
                        .into_iter()
                        .find(|k| k.as_str() == value)
                        .with_context(|| {
                            format!(
                                "--filter kind={value}: use one of {}",
                                kinds.map(EventKind::as_str).join(", ")
                            )
                        })?,
                );
            }
            "review" => {
                q.review = Some(Review::parse(value).with_context(|| {
                    format!(
                        "--filter review={value}: use pending, confirmed, dismissed, escalated \
                         or awaiting_second"
                    )
                })?);
            }
            "since" | "until" => {
                let t = parse_time(value)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("--filter {key}={value}"))?;
                if key == "since" {
                    q.since = Some(t);
                } else {
                    q.until = Some(t);
                }
            }
            _ => bail!(
                "--filter {key}: unknown key; use one of {}",
                FILTER_KEYS.join(", ")
            ),
        }
    }
    Ok(q)
}

/// The ids of every event matching `q`, oldest first.
fn matching_ids(journal: &Journal, mut q: EventQuery) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    loop {
        let page = journal.list(&q).context("listing the events to export")?;
        ids.extend(page.events.into_iter().map(|e| e.event.event_id));
        if ids.len() > MAX_CASE_EVENTS {
            bail!("more than {MAX_CASE_EVENTS} events match: narrow the filters");
        }
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    ids.reverse();
    Ok(ids)
}

/// `out` with `.partial` added to its name: where the archive is written until it is whole.
fn partial_path(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .with_context(|| format!("--out {}: not a file name", out.display()))?;
    let mut partial = name.to_owned();
    partial.push(".partial");
    Ok(out.with_file_name(partial))
}

/// Runs `passwatch export`: writes the archive and its audit entry, prints a summary. Exit 0;
/// an error (exit 1) names an unknown event, altered or missing evidence, a bad filter, or an
/// `--out` that exists.
pub fn export(args: ExportArgs) -> Result<ExitCode> {
    let journal_path = args.data.join("journal.db");
    if !journal_path.is_file() {
        bail!(
            "{} holds no journal.db: not a data folder",
            args.data.display()
        );
    }
    if args.out.exists() {
        bail!(
            "{} exists: a case archive is never overwritten",
            args.out.display()
        );
    }
    let journal = Journal::open(&journal_path)?;
    let ids = if args.filter.is_empty() {
        args.events.clone()
    } else {
        let ids = matching_ids(&journal, query_of(&args.filter)?)?;
        if ids.is_empty() {
            bail!("no event matches {}", args.filter.join(" "));
        }
        ids
    };
    let now = SystemClock.now();
    let partial = partial_path(&args.out)?;
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let written = (|| -> Result<CaseSummary> {
        let mut w = BufWriter::new(file);
        let summary = case::write_case(&args.data, &journal, &ids, &args.actor, now, &mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let mut record = AuditRecord::new(&args.actor, "export", None);
        record.via = Some("cli".to_owned());
        record.detail = serde_json::json!({
            "events": summary.events.len(),
            "event_ids": summary.events,
            "filters": args.filter,
            "files": summary.files,
            "absent": summary.absent.len(),
            "manifest_sha256": summary.manifest_sha256,
        });
        AuditLog::open(args.data.join("audit.db"))?
            .append(&[record], now)
            .context("writing the export to the audit log")?;
        Ok(summary)
    })();
    let summary = match written {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, &args.out)
        .with_context(|| format!("moving the archive to {}", args.out.display()))?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("exported to {}\n{}", args.out.display(), describe(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

/// The export entries of `data`'s audit log whose manifest hash is `sha256`.
fn audit_entries_for(data: &Path, sha256: &str) -> Result<Vec<AuditEntry>> {
    let path = data.join("audit.db");
    if !path.is_file() {
        bail!("{} holds no audit.db", data.display());
    }
    let log = AuditLog::open(&path)?;
    let mut q = AuditQuery {
        action: Some("export".to_owned()),
        limit: 1000,
        ..AuditQuery::default()
    };
    let mut out = Vec::new();
    loop {
        let page = log.entries(&q)?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        out.extend(page.into_iter().filter(|e| {
            serde_json::from_str::<serde_json::Value>(&e.detail)
                .ok()
                .and_then(|d| d.get("manifest_sha256")?.as_str().map(|s| s == sha256))
                .unwrap_or(false)
        }));
        q.after = Some(last);
    }
    Ok(out)
}

/// Runs `passwatch export verify`: 0 when the archive holds (and, with `--data`, its export is
/// in that folder's audit log), 1 naming every problem.
pub fn export_verify(args: ExportVerifyArgs) -> Result<ExitCode> {
    let file =
        File::open(&args.archive).with_context(|| format!("opening {}", args.archive.display()))?;
    let summary = match case::verify_case(BufReader::new(file)) {
        Ok(s) => s,
        Err(
            e @ (CaseError::Invalid { .. }
            | CaseError::NoManifest
            | CaseError::Manifest(_)
            | CaseError::UnknownSchema(_)
            | CaseError::Archive(_)),
        ) => {
            eprintln!(
                "{}: {}",
                args.archive.display(),
                anyhow::Error::from(e)
                    .chain()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(": ")
            );
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let audited = match &args.data {
        None => None,
        Some(data) => {
            let entries = audit_entries_for(data, &summary.manifest_sha256)?;
            if entries.is_empty() {
                eprintln!(
                    "{}: the files hold, but no export in {}'s audit log has manifest SHA-256 {}: \
                     not a case exported from this folder",
                    args.archive.display(),
                    data.display(),
                    summary.manifest_sha256
                );
                return Ok(ExitCode::FAILURE);
            }
            Some(entries)
        }
    };
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        if let (Some(entries), Some(obj)) = (&audited, v.as_object_mut()) {
            obj.insert(
                "audit_seq".to_owned(),
                entries.iter().map(|e| e.seq).collect::<Vec<_>>().into(),
            );
        }
        println!("{v}");
    } else {
        let mut out = std::io::stdout().lock();
        write!(
            out,
            "{}: the case holds\n{}",
            args.archive.display(),
            describe(&summary)
        )?;
        for e in audited.iter().flatten() {
            writeln!(
                out,
                "audit log: entry {} — export by {} at {}",
                e.seq, e.actor, e.at
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A case for a person.
fn describe(s: &CaseSummary) -> String {
    let mut out = format!(
        "{} events, {} files ({} bytes), exported by {} at {}\nmanifest SHA-256 {}\n",
        s.events.len(),
        s.files,
        s.bytes,
        s.exported_by,
        s.exported_at,
        s.manifest_sha256
    );
    for a in &s.absent {
        out.push_str(&format!("absent: {}: {}\n", a.path, a.reason));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn filters_map_to_the_journal_query() {
        let q = query_of(&filters(&[
            "camera=gate-north",
            "kind=stay_home_breach",
            "review=dismissed",
            "since=2026-05-01T00:00:00Z",
            "plate = ABC123",
            "subject=S-17",
        ]))
        .unwrap();
        assert_eq!(q.camera.as_deref(), Some("gate-north"));
        assert_eq!(q.kind, Some(EventKind::StayHomeBreach));
        assert_eq!(q.review, Some(Review::Dismissed));
        assert_eq!(q.since, Some(parse_time("2026-05-01T00:00:00Z").unwrap()));
        assert_eq!(q.plate.as_deref(), Some("ABC123"));
        assert_eq!(q.subject_id.as_deref(), Some("S-17"));
        for (bad, says) in [
            ("colour=red", "unknown key"),
            ("camera", "KEY=VALUE"),
            ("kind=speeding", "use one of no_valid_pass"),
            ("review=maybe", "pending, confirmed"),
            ("since=yesterday", "since=yesterday"),
            ("zone=", "empty value"),
        ] {
            let e = format!("{:#}", query_of(&filters(&[bad])).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e = query_of(&filters(&["zone=a", "zone=b"])).unwrap_err();
        assert!(e.to_string().contains("twice"));
    }

    use crate::test_support::folder;

    fn args(data: &Path, out: &Path, events: &[&str], filter: &[&str]) -> ExportArgs {
        ExportArgs {
            data: data.to_owned(),
            events: filters(events),
            filter: filters(filter),
            out: out.to_owned(),
            actor: "bob".to_owned(),
            json: false,
        }
    }

    fn verify(archive: &Path, data: Option<&Path>) -> ExitCode {
        export_verify(ExportVerifyArgs {
            archive: archive.to_owned(),
            data: data.map(Path::to_owned),
            json: false,
        })
        .unwrap()
    }

    #[test]
    fn an_export_is_audited_verifies_and_is_never_overwritten() {
        let dir = folder();
        let d = dir.path();
        let out = d.join("case.tar");
        let code = export(args(d, &out, &[], &["camera=gate-north"])).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        assert!(out.is_file() && !d.join("case.tar.partial").exists());
        let summary = case::verify_case(File::open(&out).unwrap()).unwrap();
        assert_eq!(
            summary.events,
            ["ev-old", "ev-new"],
            "oldest first, gate-north only"
        );
        let log = AuditLog::open(d.join("audit.db")).unwrap();
        let entries = log
            .entries(&AuditQuery {
                action: Some("export".to_owned()),
                limit: 10,
                ..AuditQuery::default()
            })
            .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].actor.as_str(), entries[0].via.as_deref()),
            ("bob", Some("cli"))
        );
        assert!(entries[0].detail.contains(&summary.manifest_sha256));
        assert!(entries[0].detail.contains("\"events\":2"));
        // Verified alone and against the folder's audit log.
        assert_eq!(verify(&out, None), ExitCode::SUCCESS);
        assert_eq!(verify(&out, Some(d)), ExitCode::SUCCESS);
        let elsewhere = tempfile::tempdir().unwrap();
        AuditLog::open(elsewhere.path().join("audit.db")).unwrap();
        assert_eq!(verify(&out, Some(elsewhere.path())), ExitCode::FAILURE);
        // One flipped byte fails it.
        let mut bytes = std::fs::read(&out).unwrap();
        let middle = bytes.len() / 3;
        bytes[middle] ^= 0x20;
        let broken = d.join("broken.tar");
        std::fs::write(&broken, &bytes).unwrap();
        assert_eq!(verify(&broken, None), ExitCode::FAILURE);
        // Never overwritten.
        let e = export(args(d, &out, &["ev-new"], &[])).unwrap_err();
        assert!(e.to_string().contains("never overwritten"), "{e}");
    }

    #[test]
    fn a_refused_export_leaves_no_file_and_no_audit_entry() {
        let dir = folder();
        let d = dir.path();
        let out = d.join("case.tar");
        let e = export(args(d, &out, &["ev-new", "ev-nope"], &[])).unwrap_err();
        assert!(format!("{e:#}").contains("ev-nope"), "{e:#}");
        std::fs::write(d.join("evidence/ev-new/frame.jpg"), b"not the frame").unwrap();
        let e = export(args(d, &out, &["ev-new"], &[])).unwrap_err();
        assert!(format!("{e:#}").contains("ev-new"), "{e:#}");
        let e = export(args(d, &out, &[], &["camera=nowhere"])).unwrap_err();
        assert!(e.to_string().contains("no event matches"), "{e}");
        assert!(!out.exists() && !d.join("case.tar.partial").exists());
        let log = AuditLog::open(d.join("audit.db")).unwrap();
        assert!(log.verify().unwrap().entries == 0);
    }

    #[test]
    fn the_archive_is_written_beside_its_destination() {
        assert_eq!(
            partial_path(Path::new("/tmp/case.tar")).unwrap(),
            Path::new("/tmp/case.tar.partial")
        );
        assert!(partial_path(Path::new("/")).is_err());
    }
}
