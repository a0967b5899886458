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

use crate::events::{build_face_event, build_plate_event, Event, EventSink, Journal, JsonlSink};
use crate::evidence::write_evidence;
use crate::face_sighting::{FaceMatch, FaceSighting, FaceUsed};
use crate::faces::{FaceTrack, FaceTracker, FaceTrackerConfig, TrackFace};
use crate::ingest::{FrameSelection, Ingest, IngestError, IngestMessage};
use crate::privacy::{blur_faces, FaceBox};
use crate::registry::PassSnapshot;
use crate::registry::WatchlistSnapshot;
use crate::rules::{decide_face, FaceDecision, FaceOutcome, FaceThreshold};
use crate::rules::{decide_plate, PlateOutcome};
use crate::sighting::PlateSighting;
use crate::site::Site;
use crate::time::{MediaTime, WallTime};
use crate::track::{is_sighting, Track, Tracker, TrackerConfig};
use anyhow::{Context, Result};
use passwatch_face_matcher::{FaceDetector, FaceMatcher};
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
    /// Plate tracker settings.
    pub tracker: TrackerConfig,
    /// The watchlist and threshold of the face path (cameras that run `faces`).
    pub faces: Option<FaceSetup<'a>>,
    /// Face tracker settings (`best_k` comes from the site's `faces.max_faces`).
    pub face_tracker: FaceTrackerConfig,
    /// Output folder (events.jsonl, journal.db, evidence/).
    pub out_dir: PathBuf,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// The watchlist a replay matches faces against, and at what threshold.
#[derive(Clone, Copy)]
pub struct FaceSetup<'a> {
    /// One watchlist version for the whole replay.
    pub watchlist: &'a WatchlistSnapshot,
    /// The similarity threshold (and the false-accept rate it stands for).
    pub threshold: FaceThreshold,
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
    /// Face tracks closed.
    pub face_tracks: u64,
    /// Face tracks with no face good enough to match.
    pub faces_unusable: u64,
    /// Face tracks matching nobody above the threshold.
    pub face_no_match: u64,
    /// Matches whose subject's order was not in force.
    pub face_not_in_force: u64,
    /// Matches on a camera of the subject's home zone.
    pub face_home_zone: u64,
    /// Face tracks that matched a subject breaching an order.
    pub face_tracks_breaching: u64,
    /// Stay-home breaches after merging the tracks of one passage (events).
    pub face_breaches: u64,
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
    /// Face detection.
    pub face_detect: f64,
    /// Face alignment and quality.
    pub face_align: f64,
    /// Face embedding.
    pub face_embed: f64,
    /// Face tracking, watchlist search, rules and event writing.
    pub face_match: f64,
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

/// The models a replay runs: the plate reader and the face matcher, as the camera's analyses
/// ask, and a face detector that finds the faces to blur in the evidence of plate events.
pub struct ReplayModels {
    /// Plates (cameras with `plates` among their analyses).
    pub plates: Option<PlateReader>,
    /// Faces (cameras with `faces`).
    pub faces: Option<FaceMatcher>,
    /// Finds faces in plate evidence frames, to blur them (privacy).
    pub privacy: FaceDetector,
}

impl ReplayModels {
    /// Model id by role, as events record them.
    pub(crate) fn model_ids(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if let Some(r) = &self.plates {
            for (k, v) in r.model_ids() {
                m.insert(k.to_string(), v);
            }
        }
        if let Some(f) = &self.faces {
            m.insert("face_detector".into(), f.detector_model_id().to_string());
            m.insert("face_embedder".into(), f.embedder_model_id().to_string());
        }
        m
    }
}

/// Replays files through the camera's analyses. Errors of one file (corrupt, truncated) are
/// recorded in its summary and the replay goes on with the next; errors of the output (disk
/// full) stop it.
pub fn replay(
    files: &[PathBuf],
    setup: &ReplaySetup<'_>,
    models: &mut ReplayModels,
) -> Result<ReplaySummary> {
    let camera = setup
        .site
        .camera(&setup.camera)
        .with_context(|| format!("camera {:?} is not in the site config", setup.camera))?
        .clone();
    let run_plates = camera.runs(crate::site::Analysis::Plates);
    let run_faces = camera.runs(crate::site::Analysis::Faces);
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
        !run_faces || (models.faces.is_some() && setup.faces.is_some()),
        "camera {:?} runs face analysis but no face models or watchlist are loaded",
        camera.id
    );
    std::fs::create_dir_all(&setup.out_dir).with_context(|| {
        format!(
            "{}: cannot create the output folder",
            setup.out_dir.display()
        )
    })?;
    let mut jsonl = JsonlSink::open(setup.out_dir.join("events.jsonl"))?;
    let journal = Journal::open(setup.out_dir.join("journal.db"))?;
    let model_ids = models.model_ids();
    // The consensus votes with the formats the reader read with (the site's, unless the
    // command line chose others).
    let region_ids: Vec<String> = match &models.plates {
        Some(r) => r.config().regions.clone(),
        None => setup.site.plates.regions.clone(),
    };
    let regions: Vec<&str> = region_ids.iter().map(String::as_str).collect();
    let formats = PlateFormats::builtin();
    let analyse_fps = setup
        .analyse_fps
        .or(camera.analyse_fps)
        .unwrap_or(DEFAULT_PLATE_ANALYSE_FPS);

    let mut summary = ReplaySummary::default();
    let started = Instant::now();
    let plate_times_before = models.plates.as_ref().map(|r| r.times).unwrap_or_default();
    let face_times_before = models
        .faces
        .as_ref()
        .map(|f| f.timings())
        .unwrap_or_default();
    let mut segment_start = setup.recorded_at;
    let progress = ProgressLine::new(setup.progress);
    let ReplayModels {
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
        let mut streams = StreamTrackers::new(setup);
        let mut ctx = DecideCtx {
            setup,
            camera_id: &camera.id,
            source: &source,
            source_key: &source_key,
            start,
            models: &model_ids,
            regions: &regions,
            formats,
            jsonl: &mut jsonl,
            journal: &journal,
            summary: &mut summary,
            privacy: &mut *privacy,
            pending: Vec::new(),
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
                    ctx.apply(&mut streams, &frame, found)?;
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
        ctx.finish(&mut streams)?;
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

/// One stream's tracking state between analysed frames (a replayed file, or one session of a
/// live camera in `run`): its plate and face trackers.
pub(crate) struct StreamTrackers {
    pub(crate) plates: Tracker,
    pub(crate) faces: FaceTracker,
    plate_reads: crate::plates::PlateAnalyser,
}

/// What the models found in one analysed frame, before tracking.
pub(crate) struct Findings {
    plates: Option<Vec<passwatch_plate_reader::reader::PlateObservation>>,
    faces: Option<Vec<passwatch_face_matcher::DetectedFace>>,
}

impl StreamTrackers {
    /// Empty trackers with the setup's settings.
    pub(crate) fn new(setup: &ReplaySetup<'_>) -> Self {
        StreamTrackers {
            plate_reads: crate::plates::PlateAnalyser::new(setup.tracker.schedule.clone()),
            plates: Tracker::new(setup.tracker.clone()),
            faces: FaceTracker::new(FaceTrackerConfig {
                best_k: setup.site.faces.max_faces,
                ..setup.face_tracker.clone()
            }),
        }
    }

    /// Runs the models on one analysed frame; `plates` and `faces` are the models of the
    /// analyses the camera runs (`None`: not run). Keeps no state of its own: inference can run
    /// without holding the event sinks.
    pub(crate) fn infer(
        &mut self,
        plates: Option<&mut PlateReader>,
        faces: Option<&mut FaceMatcher>,
        frame: &crate::ingest::Frame,
    ) -> Result<Findings> {
        Ok(Findings {
            plates: match plates {
                Some(reader) => Some(self.plate_reads.read(
                    reader,
                    &self.plates,
                    &frame.image,
                    frame.media_time,
                )?),
                None => None,
            },
            faces: match faces {
                Some(matcher) => Some(matcher.faces_in_frame(&frame.image)?),
                None => None,
            },
        })
    }
}

/// Everything needed to turn a closed track into a decision and maybe an event. `replay` makes
/// one per file; `run` one per analysed frame of a camera (with the registry snapshot of that
/// moment), so both decide with the same code.
pub(crate) struct DecideCtx<'a, 'b> {
    pub(crate) setup: &'a ReplaySetup<'b>,
    pub(crate) camera_id: &'a str,
    pub(crate) source: &'a str,
    pub(crate) source_key: &'a str,
    /// Wall time of media time zero: a track first seen at media time `t` was seen at
    /// `start + t`.
    pub(crate) start: WallTime,
    pub(crate) models: &'a BTreeMap<String, String>,
    pub(crate) regions: &'a [&'a str],
    pub(crate) formats: &'static PlateFormats,
    pub(crate) jsonl: &'a mut JsonlSink,
    pub(crate) journal: &'a Journal,
    pub(crate) summary: &'a mut ReplaySummary,
    pub(crate) privacy: &'a mut FaceDetector,
    pub(crate) pending: Vec<PendingBreach>,
}

impl DecideCtx<'_, '_> {
    /// Tracks one analysed frame's findings and decides every track that ends with it.
    pub(crate) fn apply(
        &mut self,
        streams: &mut StreamTrackers,
        frame: &crate::ingest::Frame,
        found: Findings,
    ) -> Result<()> {
        if let Some(obs) = found.plates {
            let t = Instant::now();
            let ended = streams
                .plates
                .update(frame.media_time, frame.index, &frame.image, obs);
            for track in ended {
                self.close(track)?;
            }
            self.summary.stages.match_and_rules += t.elapsed().as_secs_f64();
        }
        if let Some(faces) = found.faces {
            let t = Instant::now();
            let ended = streams.faces.update(frame.media_time, &frame.image, faces);
            for track in ended {
                self.close_face(track)?;
            }
            self.flush_breaches(Some(frame.media_time))?;
            self.summary.stages.face_match += t.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// The stream ended (a file's end, a camera's disconnect): every open track is closed and
    /// decided, and the breaches held for merging are raised.
    pub(crate) fn finish(&mut self, streams: &mut StreamTrackers) -> Result<()> {
        let t = Instant::now();
        for track in streams.plates.finish() {
            self.close(track)?;
        }
        self.summary.stages.match_and_rules += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for track in streams.faces.finish() {
            self.close_face(track)?;
        }
        self.flush_breaches(None)?;
        self.summary.stages.face_match += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// An event id not raised yet by an earlier replay into this folder; `None` (and counted as
    /// a duplicate) when it was — that event and its evidence stay as they are, so a replay with
    /// other settings never rewrites evidence under an existing event.
    fn new_event_id(&mut self, first_seen: MediaTime, subject: &str, rule: &str) -> Option<String> {
        let id =
            crate::events::event_id(self.camera_id, self.source_key, first_seen, subject, rule);
        if self.jsonl.contains(&id) {
            self.summary.duplicates += 1;
            None
        } else {
            Some(id)
        }
    }

    fn write(&mut self, event: Event) -> Result<()> {
        self.jsonl.emit(&event)?;
        self.journal.insert(&event)?;
        self.summary.events.push(event);
        Ok(())
    }

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
        let sighting = PlateSighting::of_track(
            &track,
            &consensus,
            self.camera_id,
            self.source,
            self.source_key,
            self.start,
        );
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
        let Some(event_id) = self.new_event_id(
            sighting.first_seen,
            &sighting.plate,
            crate::rules::RULE_NO_VALID_PASS,
        ) else {
            return Ok(());
        };
        // Evidence: the best read's crop and frame, every face in the frame blurred (a plate
        // event has no matched face). Bytes are deterministic.
        let evidence = match &track.evidence {
            Some(e) => {
                let mut frame = e.frame.clone();
                let faces: Vec<FaceBox> = self
                    .privacy
                    .detect(&frame)?
                    .iter()
                    .map(|f| FaceBox::from(&f.bbox_in_frame))
                    .collect();
                blur_faces(&mut frame, &faces, None);
                Some(write_evidence(
                    &self.setup.out_dir,
                    &event_id,
                    &e.crop,
                    &frame,
                )?)
            }
            None => None,
        };
        if let Some(event) = build_plate_event(&sighting, &decision, self.models, evidence) {
            self.write(event)?;
        }
        Ok(())
    }

    /// A person's track ended: match its best faces, decide, and hold a breach for merging or
    /// drop every trace of the track.
    fn close_face(&mut self, track: FaceTrack) -> Result<()> {
        let Some(faces_setup) = &self.setup.faces else {
            return Ok(());
        };
        let settings = &self.setup.site.faces;
        let counts = &mut self.summary.outcomes;
        counts.face_tracks += 1;
        let usable: Vec<&TrackFace> = track
            .best
            .iter()
            .filter(|f| f.quality >= settings.min_quality)
            .take(settings.max_faces)
            .collect();
        if usable.is_empty() {
            counts.faces_unusable += 1;
            return Ok(());
        }
        let embeddings: Vec<passwatch_face_matcher::Embedding> =
            usable.iter().map(|f| f.embedding.clone()).collect();
        let best_match = faces_setup.watchlist.best_match(&embeddings)?;
        let mut faces_used: Vec<FaceUsed> = usable
            .iter()
            .map(|f| FaceUsed {
                media_time: f.media_time,
                quality: f.quality,
            })
            .collect();
        faces_used.sort_by_key(|f| f.media_time);
        let sighting = FaceSighting {
            camera_id: self.camera_id.to_string(),
            source: self.source.to_string(),
            source_key: self.source_key.to_string(),
            track_id: track.id,
            first_seen: track.first_seen,
            last_seen: track.last_seen,
            wall_time: track.first_seen.to_wall(self.start),
            faces: faces_used,
            best_match: best_match.map(FaceMatch::from),
            images: None,
        };
        let decision = decide_face(
            &sighting,
            self.setup.site,
            faces_setup.watchlist,
            faces_setup.threshold,
        );
        match &decision.outcome {
            FaceOutcome::UnknownCamera | FaceOutcome::NoMatch => counts.face_no_match += 1,
            FaceOutcome::NotInForce { .. } => counts.face_not_in_force += 1,
            FaceOutcome::HomeZone { .. } => counts.face_home_zone += 1,
            FaceOutcome::Breach { .. } => counts.face_tracks_breaching += 1,
        }
        let FaceOutcome::Breach {
            subject_id,
            similarity,
        } = &decision.outcome
        else {
            // The track, its embeddings and crops are dropped here: nothing of a face that
            // raised nothing is written anywhere, and logs do not say whom it resembled.
            return Ok(());
        };
        // Evidence images now (the track goes away): the best face's frame with every other
        // face blurred, and a crop of the face.
        let images = track.best.first().and_then(|best| {
            let frame = best.frame.as_ref()?;
            let b = &best.bbox_in_frame;
            let crop_box = passwatch_plate_reader::geometry::BBox::new(b.x, b.y, b.w, b.h);
            let mut shown = (**frame).clone();
            blur_faces(&mut shown, &best.faces_in_frame, Some(best.index_in_frame));
            // Cut from the blurred frame: a neighbour inside the padding stays blurred.
            let crop = passwatch_plate_reader::crop::crop_bbox(&shown, &crop_box, 0.25);
            Some((crop, shown))
        });
        let breach = PendingBreach {
            subject_id: subject_id.clone(),
            similarity: *similarity,
            sighting,
            decision,
            images,
        };
        let window = MediaTime::from_secs_f64(settings.merge_window_s);
        let merging = settings.merge_window_s > 0.0;
        let near = |p: &PendingBreach| {
            merging
                && p.subject_id == breach.subject_id
                && breach.sighting.first_seen.as_nanos()
                    <= p.sighting.last_seen.as_nanos() + window.as_nanos()
                && p.sighting.first_seen.as_nanos()
                    <= breach.sighting.last_seen.as_nanos() + window.as_nanos()
        };
        match self.pending.iter_mut().find(|p| near(p)) {
            Some(p) => p.merge(breach, self.start),
            None => self.pending.push(breach),
        }
        Ok(())
    }

    /// Raises the held breaches that nothing can merge into any more (`now` is past their end
    /// by the merge window), or all of them (`now` = `None`, the source ended).
    fn flush_breaches(&mut self, now: Option<MediaTime>) -> Result<()> {
        let window = MediaTime::from_secs_f64(self.setup.site.faces.merge_window_s).as_nanos();
        let (due, keep): (Vec<PendingBreach>, Vec<PendingBreach>) =
            std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|p| {
                    now.is_none_or(|n| n.as_nanos() > p.sighting.last_seen.as_nanos() + window)
                });
        self.pending = keep;
        for p in due {
            self.summary.outcomes.face_breaches += 1;
            let Some(event_id) = self.new_event_id(
                p.sighting.first_seen,
                &p.subject_id,
                crate::rules::RULE_STAY_HOME_BREACH,
            ) else {
                continue;
            };
            let evidence = match &p.images {
                Some((crop, frame)) => {
                    Some(write_evidence(&self.setup.out_dir, &event_id, crop, frame)?)
                }
                None => None,
            };
            let models = self.models.clone();
            if let Some(event) = build_face_event(&p.sighting, &p.decision, &models, evidence) {
                self.write(event)?;
            }
        }
        Ok(())
    }
}

/// A breach held back until no other track of the same subject on the same camera can join it:
/// one person's passage raises one event, however often the track broke (turning away, a cut).
pub(crate) struct PendingBreach {
    subject_id: String,
    similarity: f32,
    sighting: FaceSighting,
    decision: FaceDecision,
    images: Option<(image::RgbImage, image::RgbImage)>,
}

impl PendingBreach {
    /// Joins another breach of the same subject: the span covers both, the faces are those of
    /// both, and the decision and evidence are those of the better match.
    fn merge(&mut self, other: PendingBreach, start: WallTime) {
        let first = self.sighting.first_seen.min(other.sighting.first_seen);
        let last = self.sighting.last_seen.max(other.sighting.last_seen);
        let mut faces = std::mem::take(&mut self.sighting.faces);
        faces.extend(other.sighting.faces.iter().cloned());
        faces.sort_by_key(|f| f.media_time);
        if other.similarity > self.similarity {
            let track_id = self.sighting.track_id.min(other.sighting.track_id);
            *self = other;
            self.sighting.track_id = track_id;
        }
        self.sighting.first_seen = first;
        self.sighting.last_seen = last;
        self.sighting.wall_time = first.to_wall(start);
        self.sighting.faces = faces;
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
            "plates: {} sightings: {} violations, {} valid, {} cleared by a near match, {} unreadable, {} outside restriction hours ({} short tracks ignored)",
            o.sightings, o.violations, o.valid, o.cleared_by_fuzzy_match, o.unreadable, o.not_restricted, o.too_few_reads
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
                crate::events::Subject::Plate(p) => (p.plate.as_str(), p.confidence),
                crate::events::Subject::Face(f) => (f.subject_id.as_str(), f.similarity),
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
