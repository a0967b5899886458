//! A synthetic but realistic `journal.db` for loading the review API (`bench/review_load.sh`).
//!
//! ```text
//! synthetic-journal --out DIR [--events 1000000] [--seed 1] [--cameras 20] [--zones 5]
//!                   [--days 90] [--end 2026-12-01T00:00:00Z] [--reviewed 0.3]
//! synthetic-journal --out DIR --append-rate 20 --duration 40 [--seed 2]
//! ```
//!
//! **Bulk** (the default) writes `DIR/journal.db`, which must not exist yet: `--events` events
//! over the `--days` before `--end`, in time order as a site writes them. The file is created by
//! `Journal::open`, so its schema is the product's; rows then go in through a second connection
//! in transactions of `--batch` rows (`Journal` has no batch insert and commits each event with a
//! full sync), with exactly the columns `Journal::insert` writes, computed as it computes them
//! (`time_key`, `confusable_key`, the priority names), plus what a review leaves: the row's
//! `review`, `review_version`, `queue`, and one `verdicts` row per verdict, as
//! `Journal::apply_verdict` writes them. The event JSON is an `Event` serialised by the product
//! (`review` in it stays `pending`, as decided). No `ANALYZE` is run: a real journal has no
//! statistics either. A summary (counts, sample plates, cameras, zones, the time span) goes to
//! `DIR/synthetic.json` for the load script to build its URLs from.
//!
//! Mix: 85% `no_valid_pass` (unknown_plate 55%, zone_not_allowed 20%, expired 15%, revoked 6%,
//! not_yet_valid 4%), 10% `needs_review` (doubtful, low priority), 5% `stay_home_breach`;
//! plates three letters and four digits, 30% of sightings from 5,000 regular vehicles, the rest
//! mostly one-off; cameras of unequal traffic, a camera's zone being `zone-<camera mod zones>`;
//! a day/night rhythm. An event is reviewed with a probability growing with its age (mean
//! `--reviewed`, 0.3 by default): confirmed, dismissed (with a reason), escalated (still open),
//! escalated then decided; a face event needs two confirmations by different reviewers.
//! Deterministic for a seed.
//!
//! **Append** (`--append-rate R`): what `passwatch run`'s sink does, at `R` events per second —
//! each event through `FolderSink::emit` (`events.jsonl` + `Journal::insert`) and a flush, into
//! an existing or new folder, times following `--end`. Stops after `--duration` seconds or
//! `--events` events, and prints how long each write took.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use passwatch_base::time::{format_time, parse_time, MediaTime, WallTime};
use passwatch_bench::synthetic::Rng;
use passwatch_events::review::time_key;
use passwatch_events::sink::{EventSink, FolderSink};
use passwatch_events::{
    event_id, CandidateRecord, DecisionRecord, Event, EventKind, FaceSubject, Journal, MediaSpan,
    OrderRecord, PassRecord, PlateSubject, Priority, ReadRecord, Review, Subject, EVENT_SCHEMA,
};
use passwatch_plate_reader::text::confusable_key;
use passwatch_registry::{PassStatus, SubjectStatus};
use rusqlite::params;
use serde_json::json;

/// `synthetic-journal`.
#[derive(Parser, Debug)]
#[command(
    name = "synthetic-journal",
    about = "A synthetic journal.db for the review API load benchmark"
)]
struct Args {
    /// The data folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Events to write (bulk: default 1,000,000; append: no limit).
    #[arg(long)]
    events: Option<u64>,
    /// The seed: the same seed gives the same journal.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Cameras.
    #[arg(long, default_value_t = 20)]
    cameras: usize,
    /// Zones (camera i is in zone i mod zones).
    #[arg(long, default_value_t = 5)]
    zones: usize,
    /// Days the events span, ending at --end.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// End of the span (RFC 3339); appended events follow it.
    #[arg(long, default_value = "2026-12-01T00:00:00Z")]
    end: String,
    /// Mean share of events already reviewed.
    #[arg(long, default_value_t = 0.3)]
    reviewed: f64,
    /// Rows per transaction (bulk).
    #[arg(long, default_value_t = 20_000)]
    batch: usize,
    /// Append mode: events per second, each written as `passwatch run`'s sink writes it.
    #[arg(long)]
    append_rate: Option<f64>,
    /// Append mode: stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Diagnosis: print the query plan (`EXPLAIN QUERY PLAN`, with the SQLite the product is
    /// built with) and the time of this SQL on DIR/journal.db, then exit (repeatable).
    #[arg(long)]
    explain: Vec<String>,
    /// Diagnosis: runs of each --explain query (the median is printed).
    #[arg(long, default_value_t = 5)]
    explain_runs: usize,
}

const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const REVIEWERS: usize = 8;
const SUBJECTS: usize = 300;
const REGULARS: usize = 5_000;

/// Hour-of-day traffic weights (UTC taken as local time).
const HOURS: [u32; 24] = [
    1, 1, 1, 1, 1, 2, 4, 8, 10, 9, 8, 8, 8, 8, 8, 9, 10, 9, 7, 5, 4, 3, 2, 1,
];

fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn pick_weighted(rng: &mut Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut r = (rng.next_u64() % u64::from(total.max(1))) as u32;
    for (i, &w) in weights.iter().enumerate() {
        if r < w {
            return i;
        }
        r -= w;
    }
    weights.len() - 1
}

/// Three letters and four digits.
fn plate(rng: &mut Rng) -> String {
    let mut s = String::with_capacity(7);
    for _ in 0..3 {
        s.push(LETTERS[rng.below(26)] as char);
    }
    for _ in 0..4 {
        s.push((b'0' + rng.below(10) as u8) as char);
    }
    s
}

/// `plate` with one glyph swapped for a confusable one, as a misread gives it.
fn misread(rng: &mut Rng, plate: &str) -> String {
    const PAIRS: &[(char, char)] = &[
        ('O', '0'),
        ('0', 'O'),
        ('D', '0'),
        ('0', 'D'),
        ('I', '1'),
        ('1', 'I'),
        ('B', '8'),
        ('8', 'B'),
        ('S', '5'),
        ('5', 'S'),
        ('Z', '2'),
        ('2', 'Z'),
        ('G', '6'),
        ('6', 'G'),
    ];
    let chars: Vec<char> = plate.chars().collect();
    let swappable: Vec<usize> = (0..chars.len())
        .filter(|&i| PAIRS.iter().any(|(a, _)| *a == chars[i]))
        .collect();
    let mut out = chars.clone();
    if swappable.is_empty() {
        let i = rng.below(chars.len());
        out[i] = if chars[i].is_ascii_digit() {
            (b'0' + rng.below(10) as u8) as char
        } else {
            LETTERS[rng.below(26)] as char
        };
    } else {
        let i = swappable[rng.below(swappable.len())];
        let to: Vec<char> = PAIRS
            .iter()
            .filter(|(a, _)| *a == out[i])
            .map(|(_, b)| *b)
            .collect();
        out[i] = to[rng.below(to.len())];
    }
    out.into_iter().collect()
}

fn prob3(p: f64) -> String {
    format!("{p:.3}")
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn significant3(x: f64) -> f64 {
    format!("{x:.2e}").parse().unwrap_or(0.0)
}

/// The fixed world events are drawn from.
struct World {
    cameras: Vec<String>,
    camera_zone: Vec<usize>,
    camera_weight: Vec<u32>,
    zones: Vec<String>,
    regulars: Vec<String>,
    start: WallTime,
    end: WallTime,
}

impl World {
    fn new(args: &Args, rng: &mut Rng) -> Result<World> {
        if args.cameras == 0 || args.zones == 0 || args.days == 0 {
            bail!("--cameras, --zones and --days must be at least 1");
        }
        let end = parse_time(&args.end).map_err(|e| anyhow::anyhow!("--end {}: {e}", args.end))?;
        let zones: Vec<String> = (0..args.zones)
            .map(|z| {
                if z < 26 {
                    format!("zone-{}", LETTERS[z].to_ascii_lowercase() as char)
                } else {
                    format!("zone-{z}")
                }
            })
            .collect();
        Ok(World {
            cameras: (0..args.cameras)
                .map(|c| format!("cam-{:02}", c + 1))
                .collect(),
            camera_zone: (0..args.cameras).map(|c| c % args.zones).collect(),
            // Unequal traffic: weights 1 to 5.
            camera_weight: (0..args.cameras).map(|c| 1 + (c as u32 * 7) % 5).collect(),
            zones,
            regulars: (0..REGULARS).map(|_| plate(rng)).collect(),
            start: end - chrono::TimeDelta::days(i64::from(args.days)),
            end,
        })
    }

    /// Sorted millisecond offsets from `start` of `n` sightings with a day/night rhythm.
    fn times(&self, rng: &mut Rng, n: u64) -> Vec<u64> {
        let days = (self.end - self.start).num_days().max(1) as usize;
        let mut t: Vec<u64> = (0..n)
            .map(|_| {
                let day = rng.below(days) as u64;
                let hour = pick_weighted(rng, &HOURS) as u64;
                let ms = rng.below(3_600_000) as u64;
                (day * 24 + hour) * 3_600_000 + ms
            })
            .collect();
        t.sort_unstable();
        t
    }

    fn camera(&self, rng: &mut Rng) -> usize {
        pick_weighted(rng, &self.camera_weight)
    }
}

fn models(face: bool) -> BTreeMap<String, String> {
    let pairs: &[(&str, &str)] = if face {
        &[
            ("face_detector", "yunet-2023mar"),
            ("face_embedder", "fr-feature-512"),
        ]
    } else {
        &[("plate_detector", "platedet"), ("plate_ocr", "ppocrv4-rec")]
    };
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn pass_record(rng: &mut Rng, plate: &str, reason: &str, at: WallTime, zone: &str) -> PassRecord {
    let day = chrono::TimeDelta::days(1);
    let (from, until) = match reason {
        "expired" => {
            let until = at - day * (1 + rng.below(60) as i32);
            (until - day * 365, until)
        }
        "not_yet_valid" => {
            let from = at + day * (1 + rng.below(20) as i32);
            (from, from + day * 365)
        }
        _ => (at - day * (30 + rng.below(300) as i32), at + day * 200),
    };
    let zones = if reason == "zone_not_allowed" {
        vec![format!("{zone}-annex")]
    } else {
        vec!["*".to_owned()]
    };
    PassRecord {
        code: format!("P-{:06}", rng.below(1_000_000)),
        plate: Some(plate.to_owned()),
        valid_from: from,
        valid_until: until,
        zones,
        status: if reason == "revoked" {
            PassStatus::Revoked
        } else {
            PassStatus::Active
        },
    }
}

fn reads(rng: &mut Rng, plate: &str, first: u64) -> Vec<ReadRecord> {
    let n = 3 + rng.below(6);
    (0..n)
        .map(|i| ReadRecord {
            media_time: MediaTime::from_nanos((first + i as u64 * 200) * 1_000_000),
            text: if rng.below(6) == 0 {
                misread(rng, plate)
            } else {
                plate.to_owned()
            },
            confidence: round3(0.75 + 0.24 * unit(rng)),
        })
        .collect()
}

/// One synthetic event: `i`-th of its camera's sightings, at `offset_ms` after `world.start`.
fn event(world: &World, rng: &mut Rng, offset_ms: u64, registry_version: u64) -> Event {
    let cam = world.camera(rng);
    let camera = world.cameras[cam].clone();
    let zone = world.zones[world.camera_zone[cam]].clone();
    let at = world.start + chrono::TimeDelta::milliseconds(offset_ms as i64);
    let source = format!("rtsp://{camera}.site.local/stream1");
    // Media time since the camera's stream started (at the span's start).
    let first = offset_ms;
    let last = first + 600 + rng.below(2400) as u64;
    let media_time = MediaSpan {
        first: MediaTime::from_nanos(first * 1_000_000),
        last: MediaTime::from_nanos(last * 1_000_000),
    };
    let u = unit(rng);
    if u >= 0.95 {
        let subject_id = format!("S-{:04}", 1 + rng.below(SUBJECTS));
        let home = (world.camera_zone[cam] + 1 + rng.below(world.zones.len().max(2) - 1))
            % world.zones.len();
        let home_zone = world.zones[home].clone();
        let faces = 1 + rng.below(6);
        let similarity = round3(0.45 + 0.35 * unit(rng));
        let order_from = at - chrono::TimeDelta::days(1 + rng.below(60) as i64);
        let order_until = order_from + chrono::TimeDelta::days(90);
        let explanation = format!(
            "face matches subject {subject_id} (similarity {similarity:.3} > threshold 0.430, FAR \
             1e-4 per comparison, best of {faces} faces over {} comparisons) on camera {camera} \
             in zone {zone}, outside home zone {home_zone}, while the order is in force ({} \
             until {})",
            faces * 2,
            format_time(order_from),
            format_time(order_until)
        );
        return Event {
            schema: EVENT_SCHEMA.to_owned(),
            event_id: event_id(
                &camera,
                &source,
                media_time.first,
                &subject_id,
                "stay_home_breach",
            ),
            kind: EventKind::StayHomeBreach,
            camera,
            zone,
            source,
            time: at,
            media_time,
            subject: Subject::Face(FaceSubject {
                subject_id,
                similarity,
                threshold: 0.43,
                far: Some(1e-4),
                faces_used: faces,
                comparisons: faces as u64 * 2,
                media_times: (0..faces)
                    .map(|i| MediaTime::from_nanos((first + i as u64 * 200) * 1_000_000))
                    .collect(),
            }),
            decision: DecisionRecord {
                rule: "stay_home_breach".to_owned(),
                reason: "outside_home_zone".to_owned(),
                matched_pass: None,
                edit_cost: None,
                registry_version,
                explanation,
                matched_order: Some(OrderRecord {
                    order_from,
                    order_until,
                    home_zone,
                    status: SubjectStatus::Active,
                }),
                plate_probability: None,
                candidates: Vec::new(),
            },
            evidence: None,
            models: models(true),
            review: Review::Pending,
            priority: Priority::Normal,
        };
    }
    let plate = if rng.below(10) < 3 {
        world.regulars[rng.below(world.regulars.len())].clone()
    } else {
        self::plate(rng)
    };
    let reads = reads(rng, &plate, first);
    let (kind, reason, priority) = if u < 0.85 {
        let reason = match pick_weighted(rng, &[55, 20, 15, 6, 4]) {
            0 => "unknown_plate",
            1 => "zone_not_allowed",
            2 => "expired",
            3 => "revoked",
            _ => "not_yet_valid",
        };
        (EventKind::NoValidPass, reason, Priority::Normal)
    } else {
        (EventKind::NeedsReview, "doubtful", Priority::Low)
    };
    let probability = if kind == EventKind::NeedsReview {
        0.2 + 0.6 * unit(rng)
    } else {
        0.9 + 0.099 * unit(rng)
    };
    let mut candidates = Vec::new();
    let with_candidate = kind == EventKind::NeedsReview || rng.below(5) == 0;
    if with_candidate {
        let near = misread(rng, &plate);
        candidates.push(CandidateRecord {
            code: format!("P-{:06}", rng.below(1_000_000)),
            plate: near,
            probability: significant3(if kind == EventKind::NeedsReview {
                0.1 + 0.5 * unit(rng)
            } else {
                0.001 + 0.05 * unit(rng)
            }),
            reason: if kind == EventKind::NeedsReview {
                None
            } else {
                Some("expired".to_owned())
            },
        });
    }
    let matched_pass = (kind == EventKind::NoValidPass && reason != "unknown_plate")
        .then(|| pass_record(rng, &plate, reason, at, &zone));
    let mut explanation = match (&matched_pass, kind) {
        (_, EventKind::NeedsReview) => match candidates.first() {
            Some(c) => format!(
                "read {plate} is doubtful: pass {} for {} is plausible (probability {}, clears at \
                 0.900)",
                c.code,
                c.plate,
                prob3(c.probability)
            ),
            None => format!(
                "read {plate} is doubtful: the reads give it probability {}, below the 0.500 an \
                 accusation needs",
                prob3(probability)
            ),
        },
        (Some(p), _) => {
            let phrase = match reason {
                "expired" => format!("expired at {}", format_time(p.valid_until)),
                "not_yet_valid" => format!("not valid until {}", format_time(p.valid_from)),
                "revoked" => "is revoked".to_owned(),
                _ => format!("does not allow zone {zone} (allows {})", p.zones.join(",")),
            };
            format!("pass {} for {plate} {phrase}", p.code)
        }
        (None, _) => format!("no pass for plate {plate}"),
    };
    if kind == EventKind::NoValidPass {
        explanation.push_str(&format!(
            "; the reads give {plate} probability {}",
            prob3(probability)
        ));
        if let Some(c) = candidates.first() {
            explanation.push_str(&format!(
                "; nearest other plate: pass {} for {} (probability {}) expired",
                c.code,
                c.plate,
                prob3(c.probability)
            ));
        }
    }
    Event {
        schema: EVENT_SCHEMA.to_owned(),
        event_id: event_id(&camera, &source, media_time.first, &plate, "no_valid_pass"),
        kind,
        camera,
        zone,
        source,
        time: at,
        media_time,
        subject: Subject::Plate(PlateSubject {
            plate,
            region: Some("eu".to_owned()),
            confidence: round3(0.8 + 0.19 * unit(rng)),
            reads,
        }),
        decision: DecisionRecord {
            rule: "no_valid_pass".to_owned(),
            reason: reason.to_owned(),
            edit_cost: matched_pass.as_ref().map(|_| 0.0),
            matched_pass,
            registry_version,
            explanation,
            matched_order: None,
            plate_probability: Some(significant3(probability)),
            candidates,
        },
        evidence: None,
        models: models(false),
        review: Review::Pending,
        priority,
    }
}

/// A verdict row, as `Journal::apply_verdict` writes it.
struct VerdictRow {
    at: String,
    actor: String,
    verdict: &'static str,
    reason: Option<&'static str>,
    note: Option<&'static str>,
    review_after: Review,
}

/// The review an event of `age` (0 newest, 1 oldest) has had by `end`: its verdicts, oldest
/// first (none: still pending).
fn review(rng: &mut Rng, event: &Event, age: f64, mean: f64, end: WallTime) -> Vec<VerdictRow> {
    if unit(rng) >= (2.0 * mean * age).min(1.0) {
        return Vec::new();
    }
    let mut at = event.time;
    let mut rows = Vec::new();
    let mut actors: Vec<usize> = Vec::new();
    let mut verdict = |rng: &mut Rng,
                       rows: &mut Vec<VerdictRow>,
                       verdict: &'static str,
                       reason: Option<&'static str>,
                       note: Option<&'static str>,
                       after: Review| {
        at = (at + chrono::TimeDelta::minutes(5 + rng.below(3 * 24 * 60) as i64)).min(end);
        let mut who = rng.below(REVIEWERS);
        while actors.contains(&who) {
            who = (who + 1) % REVIEWERS;
        }
        actors.push(who);
        rows.push(VerdictRow {
            at: time_key(at),
            actor: format!("reviewer{:02}", who + 1),
            verdict,
            reason,
            note,
            review_after: after,
        });
    };
    let dismiss_reason = |rng: &mut Rng| match pick_weighted(rng, &[50, 20, 10, 10, 5, 5]) {
        0 => ("misread", None),
        1 => ("pass_shown", None),
        2 => ("wrong_zone", None),
        3 => ("duplicate", None),
        4 => ("not_a_vehicle", None),
        _ => ("other", Some("vehicle of the emergency services")),
    };
    let face = event.kind == EventKind::StayHomeBreach;
    match pick_weighted(rng, &[50, 35, 5, 10]) {
        0 if face => {
            verdict(
                rng,
                &mut rows,
                "confirm",
                None,
                None,
                Review::AwaitingSecond,
            );
            if rng.below(5) != 0 {
                verdict(rng, &mut rows, "confirm", None, None, Review::Confirmed);
            }
        }
        0 => verdict(rng, &mut rows, "confirm", None, None, Review::Confirmed),
        1 => {
            let (r, note) = dismiss_reason(rng);
            verdict(rng, &mut rows, "dismiss", Some(r), note, Review::Dismissed);
        }
        2 => verdict(
            rng,
            &mut rows,
            "escalate",
            None,
            Some("check with the site manager"),
            Review::Escalated,
        ),
        _ => {
            verdict(
                rng,
                &mut rows,
                "escalate",
                None,
                Some("check with the site manager"),
                Review::Escalated,
            );
            if face || rng.below(2) == 0 {
                let (r, note) = dismiss_reason(rng);
                verdict(rng, &mut rows, "dismiss", Some(r), note, Review::Dismissed);
            } else {
                verdict(rng, &mut rows, "confirm", None, None, Review::Confirmed);
            }
        }
    }
    rows
}

/// The columns `Journal::insert` derives from an event (`review::Columns::of`).
fn plate_columns(event: &Event) -> (Option<String>, Option<String>, Option<String>) {
    match &event.subject {
        Subject::Plate(p) => (Some(p.plate.clone()), Some(confusable_key(&p.plate)), None),
        Subject::Face(f) => (None, None, Some(f.subject_id.clone())),
    }
}

fn priority_str(p: Priority) -> &'static str {
    match p {
        Priority::Normal => "normal",
        Priority::Low => "low",
    }
}

/// The review queue column (`review::queue_of`): NULL once decided, else 0 or 1 (low).
fn queue_of(review: Review, priority: Priority) -> Option<i64> {
    review
        .is_open()
        .then_some(i64::from(priority == Priority::Low))
}

fn bulk(args: &Args) -> Result<()> {
    let path = args.out.join("journal.db");
    if path.exists() {
        bail!(
            "{} exists: bulk mode writes a new journal (use --append-rate to add to one)",
            path.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    // The product's schema, made by the product.
    drop(Journal::open(&path).with_context(|| format!("creating {}", path.display()))?);
    let mut conn = rusqlite::Connection::open(&path)?;
    // Speed for loading only; the file stays in WAL mode, as Journal::open left it.
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")?;

    let n = args.events.unwrap_or(1_000_000);
    let mut rng = Rng::new(args.seed);
    let world = World::new(args, &mut rng)?;
    let times = world.times(&mut rng, n);
    let span_ms = (world.end - world.start).num_milliseconds().max(1) as f64;
    let started = Instant::now();
    let (mut inserted, mut duplicates, mut verdict_rows) = (0u64, 0u64, 0u64);
    let mut by_kind: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut by_review: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut plate_counts: BTreeMap<String, u64> = BTreeMap::new();
    let regulars: std::collections::HashSet<&str> =
        world.regulars.iter().map(String::as_str).collect();
    let mut json_bytes = 0u64;
    let batch = args.batch.max(1);
    for chunk in times.chunks(batch) {
        let tx = conn.transaction()?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO events (event_id, kind, camera, time, json, review, zone,
                     reason, plate, plate_key, subject_id, priority, explanation,
                     review_version, queue)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?;
            let mut ver = tx.prepare_cached(
                "INSERT INTO verdicts (event_id, at, actor, verdict, reason, note, review_after,
                     version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for &offset in chunk {
                let registry_version = 1 + offset / (3 * 86_400_000);
                let e = event(&world, &mut rng, offset, registry_version);
                let age = 1.0 - offset as f64 / span_ms;
                let verdicts = review(&mut rng, &e, age, args.reviewed, world.end);
                let state = verdicts.last().map_or(Review::Pending, |v| v.review_after);
                let json = e.to_json_line()?;
                json_bytes += json.len() as u64;
                let (plate, plate_key, subject_id) = plate_columns(&e);
                let n = ins.execute(params![
                    e.event_id,
                    e.kind.as_str(),
                    e.camera,
                    time_key(e.time),
                    json,
                    state.as_str(),
                    e.zone,
                    e.decision.reason,
                    plate,
                    plate_key,
                    subject_id,
                    priority_str(e.priority),
                    e.decision.explanation,
                    verdicts.len() as i64,
                    queue_of(state, e.priority),
                ])?;
                if n == 0 {
                    duplicates += 1;
                    continue;
                }
                inserted += 1;
                *by_kind.entry(e.kind.as_str()).or_default() += 1;
                *by_review.entry(state.as_str()).or_default() += 1;
                if let Some(p) = plate.filter(|p| regulars.contains(p.as_str())) {
                    *plate_counts.entry(p).or_default() += 1;
                }
                for (i, v) in verdicts.iter().enumerate() {
                    ver.execute(params![
                        e.event_id,
                        v.at,
                        v.actor,
                        v.verdict,
                        v.reason,
                        v.note,
                        v.review_after.as_str(),
                        (i + 1) as i64,
                    ])?;
                    verdict_rows += 1;
                }
            }
        }
        tx.commit()?;
    }
    let insert_s = started.elapsed().as_secs_f64();
    let t = Instant::now();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let checkpoint_s = t.elapsed().as_secs_f64();
    drop(conn);
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    // Sample values for the load's URLs: the busiest regular plates, one with confusable
    // glyphs, and the span.
    let mut busiest: Vec<(&String, &u64)> = plate_counts.iter().collect();
    busiest.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let confusable = busiest
        .iter()
        .find(|(p, _)| p.chars().any(|c| "ODIBSZG0128567".contains(c)))
        .map(|(p, _)| (*p).clone());
    let summary = json!({
        "journal": path.display().to_string(),
        "seed": args.seed,
        "events": inserted,
        "duplicate_ids_skipped": duplicates,
        "verdicts": verdict_rows,
        "by_kind": by_kind,
        "by_review": by_review,
        "mean_json_bytes": json_bytes.checked_div(inserted).unwrap_or(0),
        "file_bytes": bytes,
        "insert_s": insert_s,
        "checkpoint_s": checkpoint_s,
        "rows_per_s": inserted as f64 / insert_s,
        "start": time_key(world.start),
        "end": time_key(world.end),
        "cameras": world.cameras,
        "zones": world.zones,
        "busiest_plates": busiest.iter().take(10)
            .map(|(p, n)| json!({"plate": p, "events": n})).collect::<Vec<_>>(),
        "confusable_plate": confusable,
        "one_off_plate": first_one_off(&path)?,
    });
    std::fs::write(
        args.out.join("synthetic.json"),
        serde_json::to_string_pretty(&summary)? + "\n",
    )?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    eprintln!(
        "synthetic-journal: {inserted} events, {verdict_rows} verdicts in {insert_s:.1} s: {:.0} \
         rows/s ({:.0} events/s with their verdicts)",
        (inserted + verdict_rows) as f64 / insert_s,
        inserted as f64 / insert_s
    );
    Ok(())
}

/// A plate seen exactly once (a one-off vehicle), for an exact search with a single answer.
fn first_one_off(path: &Path) -> Result<Option<String>> {
    let conn = rusqlite::Connection::open(path)?;
    let mut stmt = conn.prepare(
        "SELECT plate FROM events WHERE plate IS NOT NULL AND rowid % 9973 = 17 LIMIT 50",
    )?;
    let plates: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for p in plates {
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM events WHERE plate = ?1", [&p], |r| {
            r.get(0)
        })?;
        if n == 1 {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

fn append(args: &Args, rate: f64) -> Result<()> {
    if !(rate > 0.0 && rate.is_finite()) {
        bail!("--append-rate {rate}: events per second, above 0");
    }
    let limit = args.events.unwrap_or(u64::MAX);
    let duration = args.duration.map(Duration::from_secs_f64);
    let mut sink =
        FolderSink::open(&args.out).with_context(|| format!("opening {}", args.out.display()))?;
    let mut rng = Rng::new(args.seed);
    let world = World::new(args, &mut rng)?;
    let span_ms = (world.end - world.start).num_milliseconds().max(0) as u64;
    let period = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut lat_ms: Vec<f64> = Vec::new();
    let mut written = 0u64;
    while written < limit && duration.is_none_or(|d| started.elapsed() < d) {
        let due = started + period.mul_f64(written as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // Times follow the bulk span's end, one period apart.
        let offset = span_ms + (written as f64 * 1000.0 / rate) as u64;
        let e = event(&world, &mut rng, offset, 1 + offset / (3 * 86_400_000));
        let t = Instant::now();
        sink.emit(&e)?;
        sink.flush()?;
        lat_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        written += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat_ms.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if lat_ms.is_empty() {
            0.0
        } else {
            lat_ms[((lat_ms.len() - 1) as f64 * p).round() as usize]
        }
    };
    let summary = json!({
        "mode": "append (FolderSink::emit + flush per event, as passwatch run's sink)",
        "events": written,
        "seconds": elapsed,
        "rate_per_s": written as f64 / elapsed.max(1e-9),
        "target_rate_per_s": rate,
        "write_ms": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": q(1.0)},
    });
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

/// `--explain`: each query's plan and time, reading every column of every row it returns.
fn explain(args: &Args) -> Result<()> {
    let path = args.out.join("journal.db");
    if !path.exists() {
        bail!("{} not found", path.display());
    }
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    println!("SQLite {}", rusqlite::version());
    for sql in &args.explain {
        println!("\n{sql}");
        let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows: Vec<(i64, i64, String)> = plan
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        let mut depth: BTreeMap<i64, usize> = BTreeMap::new();
        for (id, parent, detail) in rows {
            let d = depth.get(&parent).map_or(0, |d| d + 1);
            depth.insert(id, d);
            println!("  {}{detail}", "  ".repeat(d));
        }
        let mut times = Vec::new();
        let mut returned = 0usize;
        for _ in 0..args.explain_runs.max(1) {
            let t = Instant::now();
            let mut stmt = conn.prepare(sql)?;
            let n = stmt.column_count();
            let mut rows = stmt.query([])?;
            returned = 0;
            while let Some(row) = rows.next()? {
                for i in 0..n {
                    std::hint::black_box(row.get_ref(i)?);
                }
                returned += 1;
            }
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let first = times[0];
        times.sort_by(f64::total_cmp);
        println!(
            "  rows {returned}; ms: first {first:.2}, median {:.2}, min {:.2} ({} runs)",
            times[times.len() / 2],
            times[0],
            times.len()
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !args.explain.is_empty() {
        return explain(&args);
    }
    match args.append_rate {
        Some(rate) => append(&args, rate),
        None => bulk(&args),
    }
}
