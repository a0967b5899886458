//! `passwatch replay`: recorded footage through the whole plate path, deterministically.
//!
//! For each file in order: decode (GStreamer, on its own thread, blocking queue: no frame that
//! is due for analysis is ever dropped), read plates in the frames due at `analyse_fps`, track,
//! close tracks into sightings by consensus, decide each sighting against one registry snapshot
//! and the site's zones, and write an event (JSONL + journal + evidence) for each violation.
//! Sightings that raise nothing are counted by outcome, never stored.
//!
//! Time: the wall time of a frame is the recording's start plus the frame's media time. The
//! start is `--recorded-at` when given (several files are then taken as consecutive parts of one
//! recording), else the file's modification time minus its duration (when a recorder closes a
//! file, its mtime is the end of the recording). Both depend only on the inputs, so replaying
//! the same files gives the same events, byte for byte.

use crate::events::{build_plate_event, Event, EventSink, Journal, JsonlSink};
use crate::evidence::write_evidence;
use crate::ingest::{FrameSelection, Ingest, IngestError, IngestMessage};
use crate::registry::PassSnapshot;
use crate::rules::{decide_plate, PlateOutcome};
use crate::sighting::{PlateRead, PlateSighting, SightingImages};
use crate::site::Site;
use crate::time::{MediaTime, WallTime};
use crate::track::{is_sighting, Track, Tracker, TrackerConfig};
use anyhow::{Context, Result};
use passwatch_plate_reader::formats::PlateFormats;
use passwatch_plate_reader::reader::PlateReader;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Default analysis rate for plates: a car crossing a frame in about a second gives five reads
/// to vote on, and the plate detector (the costly stage) runs five times a second.
pub const DEFAULT_PLATE_ANALYSE_FPS: f64 = 5.0;

/// What a replay needs besides the files.
pub struct ReplaySetup<'a> {
    /// The site (zones, schedules, plate settings).
    pub site: &'a Site,
    /// The camera the footage is from.
    pub camera: String,
    /// Frames per second of media time to analyse; overrides the camera's `analyse_fps`
    /// (default [`DEFAULT_PLATE_ANALYSE_FPS`]).
    pub analyse_fps: Option<f64>,
    /// Wall time at which the (first) recording started; `None` = from the file's mtime.
    pub recorded_at: Option<WallTime>,
    /// The registry snapshot every decision is taken against.
    pub passes: &'a PassSnapshot,
    /// Tracker settings.
    pub tracker: TrackerConfig,
    /// Output folder (events.jsonl, journal.db, evidence/).
    pub out_dir: PathBuf,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// Counts of sightings by outcome.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct OutcomeCounts {
    /// Tracks closed.
    pub tracks: u64,
    /// Tracks with too few reads to be a sighting.
    pub too_few_reads: u64,
    /// Sightings decided.
    pub sightings: u64,
    /// Zone not restricted at the time.
    pub not_restricted: u64,
    /// Below the confidence floor.
    pub unreadable: u64,
    /// Cleared by an exact pass.
    pub valid: u64,
    /// Cleared by a fuzzy match (benefit of the doubt).
    pub cleared_by_fuzzy_match: u64,
    /// Violations (events).
    pub violations: u64,
}

/// Seconds spent per stage, over the whole replay.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StageSeconds {
    /// Decoding (the decode thread's time waiting for frames from GStreamer).
    pub decode: f64,
    /// I420 → RGB conversion of analysed frames.
    pub convert: f64,
    /// Plate detection.
    pub detect: f64,
    /// Text lines inside plate boxes.
    pub refine: f64,
    /// Cropping and OCR.
    pub ocr: f64,
    /// Tracking, consensus, matching, rules and event writing.
    pub match_and_rules: f64,
}

/// One file's outcome.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FileSummary {
    /// The file.
    pub path: PathBuf,
    /// Frames decoded.
    pub frames_decoded: u64,
    /// Frames analysed.
    pub frames_analysed: u64,
    /// Where the recording starts in wall time, and how that was chosen.
    pub recorded_at: String,
    /// The error that stopped the file early, if any (frames before it were analysed).
    pub error: Option<String>,
}

/// What a replay did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReplaySummary {
    /// Per file.
    pub files: Vec<FileSummary>,
    /// Sightings by outcome.
    pub outcomes: OutcomeCounts,
    /// The events raised, in order.
    pub events: Vec<Event>,
    /// Events already present in the output (a repeated replay), not written again.
    pub duplicates: u64,
    /// Stage times.
    pub stages: StageSeconds,
    /// Wall-clock seconds of the whole replay.
    pub elapsed_s: f64,
    /// Frames decoded in all.
    pub frames_decoded: u64,
    /// Frames analysed in all.
    pub frames_analysed: u64,
}

impl ReplaySummary {
    /// Whether any file stopped on an error.
    pub fn had_errors(&self) -> bool {
        self.files.iter().any(|f| f.error.is_some())
    }
}

/// The files a list of paths names: files as given, folders expanded (sorted, video extensions
/// only, not recursive).
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    const VIDEO: &[&str] = &[
        "mp4", "mkv", "mov", "ts", "m4v", "avi", "webm", "mts", "h264", "h265",
    ];
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}: cannot list the folder", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file()
                        && f.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| VIDEO.contains(&e.to_ascii_lowercase().as_str()))
                })
                .collect();
            found.sort();
            if found.is_empty() {
                anyhow::bail!("{}: no video files in the folder", p.display());
            }
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Replays files through the plate path. Errors of one file (corrupt, truncated) are recorded
/// in its summary and the replay goes on with the next; errors of the output (disk full) stop it.
pub fn replay(
    files: &[PathBuf],
    setup: &ReplaySetup<'_>,
    reader: &mut PlateReader,
) -> Result<ReplaySummary> {
    let camera = setup
        .site
        .camera(&setup.camera)
        .with_context(|| format!("camera {:?} is not in the site config", setup.camera))?
        .clone();
    anyhow::ensure!(
        camera.runs(crate::site::Analysis::Plates),
        "camera {:?} does not run plate analysis (its analyses in the site config: {:?})",
        camera.id,
        camera.analyses
    );
    std::fs::create_dir_all(&setup.out_dir).with_context(|| {
        format!(
            "{}: cannot create the output folder",
            setup.out_dir.display()
        )
    })?;
    let mut jsonl = JsonlSink::open(setup.out_dir.join("events.jsonl"))?;
    let journal = Journal::open(setup.out_dir.join("journal.db"))?;
    let models: BTreeMap<String, String> = reader
        .model_ids()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let regions: Vec<&str> = setup
        .site
        .plates
        .regions
        .iter()
        .map(String::as_str)
        .collect();
    let formats = PlateFormats::builtin();
    let analyse_fps = setup
        .analyse_fps
        .or(camera.analyse_fps)
        .unwrap_or(DEFAULT_PLATE_ANALYSE_FPS);

    let mut summary = ReplaySummary::default();
    let started = Instant::now();
    let times_before = reader.times;
    let mut segment_start = setup.recorded_at;
    let progress = ProgressLine::new(setup.progress);
    for (file_no, path) in files.iter().enumerate() {
        let mut ingest = match Ingest::open_file(path, FrameSelection::Rate(analyse_fps), 4) {
            Ok(i) => i,
            Err(e) => {
                summary.files.push(FileSummary {
                    path: path.clone(),
                    frames_decoded: 0,
                    frames_analysed: 0,
                    recorded_at: String::new(),
                    error: Some(e.to_string()),
                });
                continue;
            }
        };
        let duration = ingest.info.duration.unwrap_or(MediaTime::ZERO);
        let (start, how) = match segment_start {
            Some(t) => (t, "given"),
            None => (
                file_start_from_mtime(path, duration)?,
                "file mtime minus duration",
            ),
        };
        if setup.recorded_at.is_some() {
            if ingest.info.duration.is_none() {
                tracing::warn!(file = %path.display(),
                    "duration unknown: the next file is taken to start where this one starts");
            }
            segment_start = Some(duration.to_wall(start));
        }
        progress.start_file(file_no, files.len(), path, ingest.info.estimated_frames());
        let source = std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.clone())
            .display()
            .to_string();
        let source_key = source_key(path);
        let mut tracker = Tracker::new(setup.tracker.clone());
        let mut ctx = DecideCtx {
            setup,
            camera_id: &camera.id,
            source: &source,
            source_key: &source_key,
            start,
            models: &models,
            regions: &regions,
            formats,
            jsonl: &mut jsonl,
            journal: &journal,
            summary: &mut summary,
        };
        let mut error = None;
        let mut analysed = 0u64;
        let counters = ingest.counters.clone();
        for msg in ingest.by_ref() {
            match msg {
                IngestMessage::Frame(frame) => {
                    analysed += 1;
                    let obs = reader
                        .read_frame(&frame.image)
                        .with_context(|| format!("{}: frame at {}", source, frame.media_time))?;
                    let t = Instant::now();
                    let ended = tracker.update(frame.media_time, frame.index, &frame.image, obs);
                    for track in ended {
                        ctx.close(track)?;
                    }
                    ctx.summary.stages.match_and_rules += t.elapsed().as_secs_f64();
                    progress.tick(counters.decoded.load(Ordering::Relaxed), frame.media_time);
                }
                IngestMessage::End(result) => {
                    if let Err(e) = result {
                        error = Some(e);
                    }
                    break;
                }
            }
        }
        let t = Instant::now();
        for track in tracker.finish() {
            ctx.close(track)?;
        }
        summary.stages.match_and_rules += t.elapsed().as_secs_f64();
        let decoded = ingest.counters.decoded.load(Ordering::Relaxed);
        summary.stages.decode += ingest.counters.pull_ns.load(Ordering::Relaxed) as f64 / 1e9;
        summary.stages.convert += ingest.counters.convert_ns.load(Ordering::Relaxed) as f64 / 1e9;
        summary.frames_decoded += decoded;
        summary.frames_analysed += analysed;
        summary.files.push(FileSummary {
            path: path.clone(),
            frames_decoded: decoded,
            frames_analysed: analysed,
            recorded_at: format!(
                "{} ({how})",
                start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
            error: error.as_ref().map(IngestError::to_string),
        });
        progress.finish_file(decoded);
    }
    jsonl.flush()?;
    let times = reader.times;
    summary.stages.detect = times.detect_s - times_before.detect_s;
    summary.stages.refine = times.refine_s - times_before.refine_s;
    summary.stages.ocr = times.ocr_s - times_before.ocr_s;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Everything needed to turn a closed track into a decision and maybe an event.
struct DecideCtx<'a, 'b> {
    setup: &'a ReplaySetup<'b>,
    camera_id: &'a str,
    source: &'a str,
    source_key: &'a str,
    start: WallTime,
    models: &'a BTreeMap<String, String>,
    regions: &'a [&'a str],
    formats: &'static PlateFormats,
    jsonl: &'a mut JsonlSink,
    journal: &'a Journal,
    summary: &'a mut ReplaySummary,
}

impl DecideCtx<'_, '_> {
    fn close(&mut self, track: Track) -> Result<()> {
        let counts = &mut self.summary.outcomes;
        counts.tracks += 1;
        if !is_sighting(&track, &self.setup.tracker) {
            counts.too_few_reads += 1;
            return Ok(());
        }
        let Some(consensus) = track.consensus(self.formats, self.regions) else {
            counts.too_few_reads += 1;
            return Ok(());
        };
        let sighting = PlateSighting {
            camera_id: self.camera_id.to_string(),
            source: self.source.to_string(),
            source_key: self.source_key.to_string(),
            track_id: track.id,
            first_seen: track.first_seen(),
            last_seen: track.last_seen(),
            wall_time: track.first_seen().to_wall(self.start),
            plate: consensus.text.clone(),
            region: consensus.region.clone(),
            confidence: consensus.confidence,
            reads: track
                .reads
                .iter()
                .map(|r| PlateRead {
                    media_time: r.media_time,
                    text: r.observation.text.clone(),
                    confidence: r.observation.confidence,
                    bbox_in_frame: r.bbox_in_frame,
                })
                .collect(),
            images: track.evidence.as_ref().map(|e| SightingImages {
                crop: e.crop.clone(),
                frame: e.frame.clone(),
                media_time: e.media_time,
            }),
        };
        let decision = decide_plate(&sighting, self.setup.site, self.setup.passes);
        counts.sightings += 1;
        match &decision.outcome {
            PlateOutcome::UnknownCamera | PlateOutcome::NotRestricted => counts.not_restricted += 1,
            PlateOutcome::Unreadable => counts.unreadable += 1,
            PlateOutcome::Valid { .. } => counts.valid += 1,
            PlateOutcome::ClearedByFuzzyMatch { .. } => counts.cleared_by_fuzzy_match += 1,
            PlateOutcome::Violation { .. } => counts.violations += 1,
        }
        tracing::debug!(camera = %self.camera_id, track = track.id, plate = %sighting.plate,
            confidence = sighting.confidence, outcome = ?decision.outcome, "sighting decided");
        if !decision.is_violation() {
            return Ok(()); // nothing about this vehicle is kept
        }
        let event_id = crate::events::event_id(
            self.camera_id,
            self.source_key,
            sighting.first_seen,
            crate::rules::RULE_NO_VALID_PASS,
        );
        if self.jsonl.contains(&event_id) {
            // Raised by an earlier replay into this folder: that event and its evidence stay as
            // they are (a replay with other settings must not rewrite evidence under it).
            self.summary.duplicates += 1;
            return Ok(());
        }
        // Evidence bytes are deterministic, so a repeated replay rewrites identical files.
        let evidence = match &sighting.images {
            Some(img) => Some(write_evidence(
                &self.setup.out_dir,
                &event_id,
                &img.crop,
                &img.frame,
            )?),
            None => None,
        };
        let Some(event) = build_plate_event(&sighting, &decision, self.models, evidence) else {
            return Ok(());
        };
        self.jsonl.emit(&event)?;
        self.journal.insert(&event)?;
        self.summary.events.push(event);
        Ok(())
    }
}

/// When a file's recording started, from its modification time (the end of the recording)
/// minus its duration.
fn file_start_from_mtime(path: &Path, duration: MediaTime) -> Result<WallTime> {
    let end: WallTime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(WallTime::from)
        .with_context(|| {
            format!(
                "{}: no modification time to date the recording by; give --recorded-at",
                path.display()
            )
        })?;
    Ok(end - chrono::Duration::nanoseconds(duration.as_nanos() as i64))
}

/// A file's identity in event ids: its name and size, so the same recording gives the same ids
/// whether it is named by a relative path, an absolute one or its folder.
fn source_key(path: &Path) -> String {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    match std::fs::metadata(path) {
        Ok(m) => format!("file:{name}:{}", m.len()),
        Err(_) => format!("file:{name}"),
    }
}

/// A one-line progress display on stderr: frames, frames/s, ETA.
struct ProgressLine {
    bar: Option<indicatif::ProgressBar>,
}

impl ProgressLine {
    fn new(enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let b = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            );
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} frames  {per_sec}  ETA {eta}  {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        ProgressLine { bar }
    }

    fn start_file(&self, no: usize, of: usize, path: &Path, frames: Option<u64>) {
        if let Some(b) = &self.bar {
            b.reset();
            b.set_length(frames.unwrap_or(0));
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().to_string(),
            );
            b.set_prefix(format!("[{}/{}] {}", no + 1, of, name));
        }
    }

    fn tick(&self, decoded: u64, at: MediaTime) {
        if let Some(b) = &self.bar {
            b.set_position(decoded);
            b.set_message(at.to_string());
        }
    }

    fn finish_file(&self, decoded: u64) {
        if let Some(b) = &self.bar {
            b.set_position(decoded);
            b.finish();
        }
    }
}

/// The terminal summary: files, sightings by outcome, stage times, and a table of violations.
pub fn summary_table(s: &ReplaySummary, out_dir: &Path) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    for f in &s.files {
        let _ = writeln!(
            t,
            "{}: {} frames decoded, {} analysed{}",
            f.path.display(),
            f.frames_decoded,
            f.frames_analysed,
            if f.error.is_some() {
                " — STOPPED EARLY (see the error below)"
            } else {
                ""
            }
        );
    }
    let o = &s.outcomes;
    let _ = writeln!(
        t,
        "{} sightings: {} violations, {} valid, {} cleared by a near match, {} unreadable, {} outside restriction hours ({} short tracks ignored)",
        o.sightings, o.violations, o.valid, o.cleared_by_fuzzy_match, o.unreadable, o.not_restricted, o.too_few_reads
    );
    let n = s.frames_analysed.max(1) as f64;
    let st = &s.stages;
    let _ = writeln!(
        t,
        "{:.1} s, {:.1} frames/s decoded, {:.2} analysed/s; per analysed frame: decode {:.1} ms, convert {:.1} ms, detect {:.1} ms, refine {:.1} ms, OCR {:.1} ms, match {:.2} ms",
        s.elapsed_s,
        s.frames_decoded as f64 / s.elapsed_s.max(1e-9),
        s.frames_analysed as f64 / s.elapsed_s.max(1e-9),
        st.decode * 1e3 / n,
        st.convert * 1e3 / n,
        st.detect * 1e3 / n,
        st.refine * 1e3 / n,
        st.ocr * 1e3 / n,
        st.match_and_rules * 1e3 / n
    );
    if s.events.is_empty() {
        let _ = writeln!(t, "no violations");
    } else {
        let _ = writeln!(
            t,
            "\n{:<10} {:<17} {:<12} {:>5}  {:<24} explanation",
            "plate", "reason", "at", "conf", "time"
        );
        for e in &s.events {
            let (plate, conf) = match &e.subject {
                crate::events::Subject::Plate(p) => (p.plate.as_str(), p.confidence),
                crate::events::Subject::Face(f) => (f.subject_id.as_str(), f.similarity),
            };
            let _ = writeln!(
                t,
                "{:<10} {:<17} {:<12} {:>5.2}  {:<24} {}",
                plate,
                e.decision.reason,
                e.media_time.first.to_string(),
                conf,
                e.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                e.decision.explanation
            );
        }
    }
    let _ = writeln!(
        t,
        "\nevents: {}  evidence: {}",
        out_dir.join("events.jsonl").display(),
        out_dir.join("evidence").display()
    );
    t
}
