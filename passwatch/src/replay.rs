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

use anyhow::{Context, Result};
use passwatch_base::time::{MediaTime, WallTime};
use passwatch_events::{Event, EventSink, FolderSink};
use passwatch_pipeline::engine::{
    DecideSetup, DecideState, Decider, Models, OutcomeCounts, StageSeconds, StreamId,
    StreamTrackers, DEFAULT_PLATE_ANALYSE_FPS,
};
use passwatch_pipeline::ingest::{FrameSelection, Ingest, IngestError, IngestMessage};
use passwatch_plate_reader::formats::PlateFormats;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// What a replay needs besides the files.
pub struct ReplaySetup<'a> {
    /// The site, the registry snapshot, the watchlist and the tracker settings every decision
    /// is taken with (one registry version for the whole replay).
    pub decide: DecideSetup<'a>,
    /// The camera the footage is from.
    pub camera: String,
    /// Frames per second of media time to analyse; overrides the camera's `analyse_fps`
    /// (default [`DEFAULT_PLATE_ANALYSE_FPS`]).
    pub analyse_fps: Option<f64>,
    /// Wall time at which the (first) recording started; `None` = from the file's mtime.
    pub recorded_at: Option<WallTime>,
    /// Output folder (events.jsonl, journal.db, evidence/).
    pub out_dir: PathBuf,
    /// Show a progress bar on stderr.
    pub progress: bool,
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
    /// Faces embedded in all.
    pub faces_embedded: u64,
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

/// Replays files through the camera's analyses. Errors of one file (corrupt, truncated) are
/// recorded in its summary and the replay goes on with the next; errors of the output (disk
/// full) stop it.
pub fn replay(
    files: &[PathBuf],
    setup: &ReplaySetup<'_>,
    models: &mut Models,
) -> Result<ReplaySummary> {
    let site = setup.decide.site;
    let camera = site
        .camera(&setup.camera)
        .with_context(|| format!("camera {:?} is not in the site config", setup.camera))?
        .clone();
    let run_plates = camera.runs(passwatch_registry::site::Analysis::Plates);
    let run_faces = camera.runs(passwatch_registry::site::Analysis::Faces);
    anyhow::ensure!(
        run_plates || run_faces,
        "camera {:?} runs neither plate nor face analysis (its analyses: {:?})",
        camera.id,
        camera.analyses
    );
    anyhow::ensure!(
        !run_plates || models.plates.is_some(),
        "camera {:?} runs plate analysis but no plate models are loaded",
        camera.id
    );
    anyhow::ensure!(
        !run_faces || (models.faces.is_some() && setup.decide.faces.is_some()),
        "camera {:?} runs face analysis but no face models or watchlist are loaded",
        camera.id
    );
    std::fs::create_dir_all(&setup.out_dir).with_context(|| {
        format!(
            "{}: cannot create the output folder",
            setup.out_dir.display()
        )
    })?;
    let mut sink = FolderSink::open(&setup.out_dir)?;
    let model_ids = models.model_ids();
    // The consensus votes with the formats the reader read with (the site's, unless the
    // command line chose others).
    let region_ids: Vec<String> = match &models.plates {
        Some(r) => r.config().regions.clone(),
        None => site.plates.regions.clone(),
    };
    let regions: Vec<&str> = region_ids.iter().map(String::as_str).collect();
    let formats = PlateFormats::builtin();
    let analyse_fps = setup
        .analyse_fps
        .or(camera.analyse_fps)
        .unwrap_or(DEFAULT_PLATE_ANALYSE_FPS);

    let mut summary = ReplaySummary::default();
    let mut state = DecideState::default();
    let started = Instant::now();
    let plate_times_before = models.plates.as_ref().map(|r| r.times).unwrap_or_default();
    let face_times_before = models
        .faces
        .as_ref()
        .map(|f| f.timings())
        .unwrap_or_default();
    let mut segment_start = setup.recorded_at;
    let progress = ProgressLine::new(setup.progress);
    let Models {
        plates: plate_reader,
        faces: face_matcher,
        privacy,
    } = models;
    let mut plate_reader = plate_reader.as_mut().filter(|_| run_plates);
    let mut face_matcher = face_matcher.as_mut().filter(|_| run_faces);
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
        let decide = &setup.decide;
        let mut streams = StreamTrackers::new(&decide.tracker, &decide.face_tracker, site);
        let mut decider = Decider {
            setup: decide,
            stream: StreamId {
                camera_id: &camera.id,
                source: &source,
                source_key: &source_key,
                start,
            },
            models: &model_ids,
            regions: &regions,
            formats,
            sink: &mut sink,
            privacy: &mut *privacy,
            state: &mut state,
            observer: None,
        };
        let mut error = None;
        let mut analysed = 0u64;
        let counters = ingest.counters.clone();
        for msg in ingest.by_ref() {
            match msg {
                IngestMessage::Frame(frame) => {
                    analysed += 1;
                    let found = streams
                        .infer(
                            plate_reader.as_deref_mut(),
                            face_matcher.as_deref_mut(),
                            &frame,
                        )
                        .with_context(|| format!("{}: frame at {}", source, frame.media_time))?;
                    decider.apply(&mut streams, &frame, found)?;
                    if let Some(e) = decider.take_write_error() {
                        return Err(e).context("events could not be written; the replay stops");
                    }
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
        decider.finish(&mut streams)?;
        if let Some(e) = decider.take_write_error() {
            return Err(e).context("events could not be written; the replay stops");
        }
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
    sink.flush()?;
    summary.outcomes = state.outcomes;
    summary.events = state.events;
    summary.duplicates = state.duplicates;
    summary.stages.match_and_rules = state.stages.match_and_rules;
    summary.stages.face_match = state.stages.face_match;
    if let Some(r) = plate_reader {
        let times = r.times;
        summary.stages.detect = times.detect_s - plate_times_before.detect_s;
        summary.stages.refine = times.refine_s - plate_times_before.refine_s;
        summary.stages.ocr = times.ocr_s - plate_times_before.ocr_s;
    }
    if let Some(f) = face_matcher {
        let t = f.timings();
        summary.stages.face_detect = (t.detect - face_times_before.detect).as_secs_f64();
        summary.stages.face_align = (t.align - face_times_before.align).as_secs_f64();
        summary.stages.face_embed = (t.embed - face_times_before.embed).as_secs_f64();
        summary.faces_embedded = t.faces - face_times_before.faces;
    }
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
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
    let n = s.frames_analysed.max(1) as f64;
    let st = &s.stages;
    let _ = writeln!(
        t,
        "{:.1} s, {:.1} frames/s decoded, {:.2} analysed/s",
        s.elapsed_s,
        s.frames_decoded as f64 / s.elapsed_s.max(1e-9),
        s.frames_analysed as f64 / s.elapsed_s.max(1e-9),
    );
    if o.tracks > 0 || st.detect > 0.0 {
        let _ = writeln!(
            t,
            "plates: {} sightings: {} violations, {} left for review, {} valid, {} cleared by a near match, {} unreadable, {} outside restriction hours ({} short tracks ignored)",
            o.sightings, o.violations, o.needs_review, o.valid, o.cleared_by_fuzzy_match, o.unreadable, o.not_restricted, o.too_few_reads
        );
        let _ = writeln!(
            t,
            "  per analysed frame: decode {:.1} ms, convert {:.1} ms, detect {:.1} ms, refine {:.1} ms, OCR {:.1} ms, match {:.2} ms",
            st.decode * 1e3 / n,
            st.convert * 1e3 / n,
            st.detect * 1e3 / n,
            st.refine * 1e3 / n,
            st.ocr * 1e3 / n,
            st.match_and_rules * 1e3 / n
        );
    }
    if o.face_tracks > 0 || st.face_detect > 0.0 {
        let _ = writeln!(
            t,
            "faces: {} tracks: {} breaches (from {} tracks), {} matched nobody, {} too poor to match, {} order not in force, {} in the home zone",
            o.face_tracks, o.face_breaches, o.face_tracks_breaching, o.face_no_match, o.faces_unusable, o.face_not_in_force, o.face_home_zone
        );
        let _ = writeln!(
            t,
            "  per analysed frame: detect {:.1} ms, align {:.1} ms, embed {:.1} ms ({} faces), match {:.2} ms",
            st.face_detect * 1e3 / n,
            st.face_align * 1e3 / n,
            st.face_embed * 1e3 / n,
            s.faces_embedded,
            st.face_match * 1e3 / n
        );
    }
    if s.events.is_empty() {
        let _ = writeln!(t, "no events");
    } else {
        let _ = writeln!(
            t,
            "\n{:<18} {:<17} {:<12} {:>5}  {:<24} explanation",
            "plate/subject", "reason", "at", "score", "time"
        );
        for e in &s.events {
            let (plate, conf) = match &e.subject {
                passwatch_events::Subject::Plate(p) => (p.plate.as_str(), p.confidence),
                passwatch_events::Subject::Face(f) => (f.subject_id.as_str(), f.similarity),
            };
            let _ = writeln!(
                t,
                "{:<18} {:<17} {:<12} {:>5.2}  {:<24} {}",
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
