//! `passwatch purge`: applies the site's `[retention]` to a data folder, by hand or from cron.
//!
//! A thin driver over `passwatch_events::retention::purge`: read the site file's periods,
//! purge, write one audit entry (`purge`, the counts only — never an event id or a plate, which
//! are exactly what the purge is there to forget), print the report. A site without
//! `[retention]` keeps everything and the command says so. `--dry-run` reports what would go
//! and changes nothing, so it writes no audit entry.
//!
//! The audit entry's actor is `--actor`, by default `$USER` (whoever ran the command is
//! accountable for it), else `system` (cron without a user); `via` is `cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use passwatch_base::time::{Clock, SystemClock};
use passwatch_events::audit::{AuditLog, AuditRecord};
use passwatch_events::retention::{self, PurgeReport, RetentionPolicy};
use passwatch_registry::site::Site;

/// `passwatch purge`.
#[derive(clap::Args, Debug)]
pub struct PurgeArgs {
    /// The data folder (journal.db, events.jsonl, evidence/).
    #[arg(long)]
    pub data: PathBuf,
    /// The site file whose `[retention]` says what expires.
    #[arg(long)]
    pub site: PathBuf,
    /// Report what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Who runs the purge (audit log).
    #[arg(long, env = "USER", default_value = "system")]
    pub actor: String,
}

/// Runs `passwatch purge`: 0 when done (or nothing to do), an error (exit 1) for a bad site
/// file, a folder without a journal, or a failed purge or audit write.
pub fn purge(args: PurgeArgs) -> Result<ExitCode> {
    let site = Site::load(&args.site)?;
    let policy = RetentionPolicy::from(&site.retention);
    if !args.data.join(retention::JOURNAL_FILE).is_file() {
        bail!(
            "{} holds no {}: not a data folder",
            args.data.display(),
            retention::JOURNAL_FILE
        );
    }
    let now = SystemClock.now();
    let report = if args.dry_run {
        retention::preview(&args.data, &policy, now)
    } else {
        retention::purge(&args.data, &policy, now)
    }
    .with_context(|| format!("purging {}", args.data.display()))?;
    if !args.dry_run && !policy.keeps_forever() {
        let mut record = AuditRecord::new(&args.actor, "purge", None);
        record.via = Some("cli".to_owned());
        record.detail = serde_json::json!({
            "report": report,
            "policy": policy,
        });
        AuditLog::open(args.data.join("audit.db"))?
            .append(&[record], now)
            .context("writing the purge to the audit log")?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", describe(&report, &policy));
    }
    Ok(ExitCode::SUCCESS)
}

fn period(days: Option<u32>) -> String {
    days.map_or_else(|| "for ever".to_owned(), |d| format!("{d} days"))
}

/// The report for a person.
fn describe(r: &PurgeReport, policy: &RetentionPolicy) -> String {
    let mut s = String::new();
    if policy.keeps_forever() {
        s.push_str("the site has no [retention]: everything is kept, nothing removed\n");
        return s;
    }
    s.push_str(&format!(
        "retention: events {}, evidence {}, dismissed events {}\n",
        period(policy.events_days),
        period(policy.evidence_days),
        period(policy.dismissed_days)
    ));
    let verb = if r.dry_run { "would remove" } else { "removed" };
    s.push_str(&format!(
        "{verb}: {} expired events, {} dismissed events ({} verdicts), the evidence of {} \
         more; {} files, {} bytes\n",
        r.events_removed,
        r.dismissed_removed,
        r.verdicts_removed,
        r.evidence_removed,
        r.files_removed,
        r.bytes_freed
    ));
    if r.files_failed > 0 {
        s.push_str(&format!(
            "warning: {} files could not be removed (see the log)\n",
            r.files_failed
        ));
    }
    if r.jsonl_compacted {
        s.push_str(&format!(
            "events.jsonl compacted: {} lines dropped\n",
            r.jsonl_lines_removed
        ));
    } else if r.jsonl_pending > 0 {
        s.push_str(&format!(
            "events.jsonl {}: {} lines of removed events {}\n",
            if r.dry_run {
                "not touched by a dry run"
            } else {
                "is held by a running writer"
            },
            r.jsonl_pending,
            if r.dry_run {
                "would be dropped"
            } else {
                "stay until that writer's own purge compacts it"
            },
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::folder;

    #[test]
    fn a_purge_applies_the_site_and_audits_counts_only() {
        let dir = folder();
        let d = dir.path();
        let site = d.join("site.toml");
        std::fs::write(&site, "[retention]\nevents_days = 365\nevidence_days = 2\n").unwrap();
        let args = |dry_run| PurgeArgs {
            data: d.to_owned(),
            site: site.clone(),
            dry_run,
            json: true,
            actor: "ops".to_owned(),
        };
        assert_eq!(purge(args(true)).unwrap(), ExitCode::SUCCESS);
        assert_eq!(
            AuditLog::open(d.join("audit.db"))
                .unwrap()
                .verify()
                .unwrap()
                .entries,
            0
        );
        assert!(
            d.join("evidence/ev-old").exists(),
            "a dry run changes nothing"
        );
        assert_eq!(purge(args(false)).unwrap(), ExitCode::SUCCESS);
        assert!(!d.join("evidence/ev-old").exists());
        assert!(!d.join("evidence/ev-new").exists(), "evidence past 2 days");
        let log = AuditLog::open(d.join("audit.db")).unwrap();
        let entries = log
            .entries(&passwatch_events::audit::AuditQuery {
                action: Some("purge".to_owned()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!((e.actor.as_str(), e.target.as_deref()), ("ops", None));
        assert!(e.detail.contains("\"events_removed\":1"), "{}", e.detail);
        assert!(e.detail.contains("\"evidence_removed\":2"), "{}", e.detail);
        assert!(
            !e.detail.contains("ev-") && !e.detail.contains("ABC123"),
            "{}",
            e.detail
        );
        // A site without [retention] removes nothing and audits nothing.
        std::fs::write(&site, "").unwrap();
        assert_eq!(purge(args(false)).unwrap(), ExitCode::SUCCESS);
        assert_eq!(log.verify().unwrap().entries, 1);
        // Not a data folder.
        let empty = tempfile::tempdir().unwrap();
        let e = purge(PurgeArgs {
            data: empty.path().to_owned(),
            ..args(false)
        })
        .unwrap_err();
        assert!(e.to_string().contains("not a data folder"), "{e}");
    }

    #[test]
    fn the_report_reads_as_a_sentence() {
        let policy = RetentionPolicy {
            events_days: Some(365),
            evidence_days: Some(30),
            dismissed_days: None,
        };
        let r = PurgeReport {
            events_removed: 2,
            dismissed_removed: 1,
            evidence_removed: 4,
            verdicts_removed: 3,
            files_removed: 14,
            bytes_freed: 1234,
            jsonl_pending: 3,
            ..PurgeReport::default()
        };
        let text = describe(&r, &policy);
        assert!(
            text.contains(
                "retention: events 365 days, evidence 30 days, dismissed events for ever"
            ),
            "{text}"
        );
        assert!(text.contains("removed: 2 expired events, 1 dismissed events (3 verdicts), the evidence of 4 more; 14 files, 1234 bytes"), "{text}");
        assert!(text.contains("held by a running writer: 3 lines"), "{text}");
        assert!(describe(&r, &RetentionPolicy::default()).contains("everything is kept"));
    }
}
