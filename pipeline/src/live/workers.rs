//! Inference workers, shared by every camera, and each camera's decision state.
//!
//! A worker is a named OS thread (`infer-<n>`) that owns its models (ONNX Runtime's
//! `Session::run` takes `&mut self`, so sessions are not shared): the plate reader, the face
//! matcher, and the face detector that blurs faces in evidence. It takes work from the
//! [`FrameBoard`] round-robin, one camera at a time, and for a frame:
//!
//! 1. runs the models the camera's analyses ask for (no lock held: workers infer in parallel);
//! 2. takes the registry snapshots current at that moment (one `Arc`: one version per frame);
//! 3. with the event output locked, tracks the findings and decides the tracks that end with
//!    **the same code as `replay`** (`replay::StreamTrackers`, `replay::DecideCtx::apply` /
//!    `finish`): sightings, rules, evidence, events in `events.jsonl` and the journal;
//! 4. syncs `events.jsonl` to disk when an event was written, before anything else happens,
//!    so an event decided is an event kept, even if the process is killed next.
//!
//! Wall time: a track first seen at media time `t` was seen at `captured_at − media_time + t`
//! of the frame being analysed (its arrival on the run's clock), so rules are checked at the
//! arrival time of the track's first frame, to within the stream's jitter.
//!
//! Batching: the plate recogniser already batches the crops of a frame; detector inputs are
//! not batched across cameras (a camera's next frame cannot be analysed before its previous
//! one, and on a CPU a batch of 640×640 detector inputs costs what the frames cost one by one).

use super::metrics::Metrics;
use super::queue::{FrameBoard, LiveFrame, SessionId, Work};
use super::snapshots::{SnapshotCell, Snapshots};
use super::Clocks;
use crate::events::{EventSink, Journal, JsonlSink, Subject};
use crate::faces::FaceTrackerConfig;
use crate::ingest::Frame;
use crate::replay::{
    DecideCtx, FaceSetup, PendingBreach, ReplayModels, ReplaySetup, ReplaySummary, StreamTrackers,
};
use crate::rules::FaceThreshold;
use crate::site::Site;
use crate::time::WallTime;
use crate::track::TrackerConfig;
use passwatch_plate_reader::formats::PlateFormats;
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the workers need to know of a camera.
#[derive(Clone, Debug)]
pub struct CameraInfo {
    /// Camera id.
    pub id: String,
    /// Its source as events show it (credentials hidden).
    pub source: String,
    /// Whether it runs plate analysis.
    pub plates: bool,
    /// Whether it runs face analysis.
    pub faces: bool,
}

/// Where events go: one JSONL file and one journal for the whole run.
pub struct EventOutput {
    /// `events.jsonl`.
    pub jsonl: JsonlSink,
    /// `journal.db`.
    pub journal: Journal,
}

/// A camera's state between frames, owned by whichever worker analyses it.
#[derive(Default)]
struct CameraAnalysis {
    /// The session whose tracks are open.
    session: Option<SessionId>,
    streams: Option<StreamTrackers>,
    /// Wall time of media time zero in the session, from the latest analysed frame.
    anchor: Option<WallTime>,
    /// Outcome counts; its `events` are taken out after every step.
    summary: ReplaySummary,
    pending: Vec<PendingBreach>,
}

/// Everything the workers share.
pub struct Shared {
    /// The site.
    pub site: Arc<Site>,
    /// The cameras, in the board's order.
    pub cameras: Vec<CameraInfo>,
    /// The hand-over from the cameras.
    pub board: Arc<FrameBoard>,
    /// The registry snapshots.
    pub snapshots: Arc<SnapshotCell>,
    /// Events out.
    pub events: Mutex<EventOutput>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The run's clocks.
    pub clocks: Arc<dyn Clocks>,
    /// Plate tracker settings.
    pub tracker: TrackerConfig,
    /// Face tracker settings.
    pub face_tracker: FaceTrackerConfig,
    /// The face threshold, when a camera runs faces.
    pub threshold: Option<FaceThreshold>,
    /// The plate-format regions the reader reads with (the consensus votes with the same).
    pub regions: Vec<String>,
    /// Output folder (evidence).
    pub out_dir: PathBuf,
    /// Print one line per event on stdout.
    pub print_events: bool,
    analyses: Vec<Mutex<CameraAnalysis>>,
}

impl Shared {
    /// Shared state for `cameras` (in the board's order).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        site: Arc<Site>,
        cameras: Vec<CameraInfo>,
        board: Arc<FrameBoard>,
        snapshots: Arc<SnapshotCell>,
        events: EventOutput,
        metrics: Arc<Metrics>,
        clocks: Arc<dyn Clocks>,
        threshold: Option<FaceThreshold>,
        regions: Vec<String>,
        out_dir: PathBuf,
    ) -> Self {
        let analyses = cameras
            .iter()
            .map(|_| Mutex::new(CameraAnalysis::default()))
            .collect();
        Shared {
            site,
            cameras,
            board,
            snapshots,
            events: Mutex::new(events),
            metrics,
            clocks,
            tracker: TrackerConfig::default(),
            face_tracker: FaceTrackerConfig::default(),
            threshold,
            regions,
            out_dir,
            print_events: true,
            analyses,
        }
    }

    /// Makes everything written so far durable (the journal commits every insert; the JSONL
    /// file is synced after every event already, this is for the end of the run).
    pub fn flush(&self) -> anyhow::Result<()> {
        lock(&self.events).jsonl.flush()?;
        Ok(())
    }

    /// Events in `events.jsonl` (including those of earlier runs).
    pub fn events_in_file(&self) -> usize {
        lock(&self.events).jsonl.len()
    }

    fn setup<'a>(&'a self, camera: &CameraInfo, snap: &'a Snapshots) -> ReplaySetup<'a> {
        ReplaySetup {
            site: &self.site,
            camera: camera.id.clone(),
            analyse_fps: None,
            recorded_at: None,
            passes: &snap.passes,
            tracker: self.tracker.clone(),
            faces: match (&snap.watchlist, self.threshold) {
                (Some(watchlist), Some(threshold)) => Some(FaceSetup {
                    watchlist,
                    threshold,
                }),
                _ => None,
            },
            face_tracker: self.face_tracker.clone(),
            out_dir: self.out_dir.clone(),
            progress: false,
        }
    }
}

/// A worker's loop: takes work until the board is closed and empty.
pub fn run_worker(shared: Arc<Shared>, mut models: ReplayModels) {
    let model_ids = models.model_ids();
    while let Some(work) = shared.board.take() {
        let camera = work.camera;
        let handled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            handle(&shared, &mut models, &model_ids, work)
        }));
        if handled.is_err() {
            // A bug in one camera's analysis: its state is reset (its open tracks are lost),
            // the other cameras and this worker go on.
            if let (Some(info), Some(a)) = (shared.cameras.get(camera), shared.analyses.get(camera))
            {
                tracing::error!(camera = %info.id, "the analysis panicked; the camera's open tracks are dropped");
                *lock(a) = CameraAnalysis::default();
                shared.metrics.cameras[camera].analysis_error();
            }
        }
        shared.board.done(camera);
    }
}

fn handle(
    shared: &Shared,
    models: &mut ReplayModels,
    model_ids: &BTreeMap<String, String>,
    work: Work,
) {
    let Some(info) = shared.cameras.get(work.camera) else {
        return;
    };
    let span = tracing::info_span!("camera", camera = %info.id);
    let _enter = span.enter();
    let mut analysis = lock(&shared.analyses[work.camera]);
    let step = Step {
        shared,
        camera: work.camera,
        info,
        model_ids,
    };
    match (work.frame, work.ended) {
        // A frame of the ended session (it came before the end): analyse it, then close.
        (Some(frame), Some(end)) if frame.session.number <= end.number => {
            step.analyse(models, &mut analysis, frame);
            step.end_session(models, &mut analysis, end);
        }
        // A frame of a newer session: close the old one first.
        (Some(frame), Some(end)) => {
            step.end_session(models, &mut analysis, end);
            step.analyse(models, &mut analysis, frame);
        }
        (Some(frame), None) => step.analyse(models, &mut analysis, frame),
        (None, Some(end)) => step.end_session(models, &mut analysis, end),
        (None, None) => {}
    }
}

/// One camera's work on one worker.
struct Step<'a> {
    shared: &'a Shared,
    camera: usize,
    info: &'a CameraInfo,
    model_ids: &'a BTreeMap<String, String>,
}

impl Step<'_> {
    fn analyse(&self, models: &mut ReplayModels, a: &mut CameraAnalysis, frame: LiveFrame) {
        let shared = self.shared;
        let metrics = &shared.metrics;
        let waited = shared.clocks.monotonic().saturating_sub(frame.arrived);
        metrics.stages.queue.observe(waited);
        if let Some(open) = a.session.filter(|s| *s != frame.session) {
            self.close_session(models, a, open);
        }
        a.session = Some(frame.session);
        let snap = shared.snapshots.current();
        let setup = shared.setup(self.info, &snap);
        let streams = a.streams.get_or_insert_with(|| StreamTrackers::new(&setup));
        let arrived = frame.arrived;
        let anchor =
            frame.captured_at - chrono::Duration::nanoseconds(frame.media_time.as_nanos() as i64);
        let frame = Frame {
            index: frame.index,
            media_time: frame.media_time,
            image: frame.image,
        };
        let t = Instant::now();
        let found = streams.infer(
            models.plates.as_mut().filter(|_| self.info.plates),
            models.faces.as_mut().filter(|_| self.info.faces),
            &frame,
        );
        metrics.stages.inference.observe(t.elapsed());
        let found = match found {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), media_time = %frame.media_time,
                    "analysis of a frame failed; frame skipped");
                metrics.cameras[self.camera].analysis_error();
                return;
            }
        };
        a.anchor = Some(anchor);
        let t = Instant::now();
        self.decide(models, a, &setup, |ctx, streams| {
            ctx.apply(streams, &frame, found)
        });
        metrics.stages.decide.observe(t.elapsed());
        metrics.cameras[self.camera].analysed();
        metrics
            .stages
            .frame
            .observe(shared.clocks.monotonic().saturating_sub(arrived));
    }

    fn end_session(&self, models: &mut ReplayModels, a: &mut CameraAnalysis, end: SessionId) {
        // A marker for this session or a later one: the open session is over. An older marker
        // (its session was closed when a newer frame came) changes nothing.
        if let Some(open) = a.session.filter(|s| s.number <= end.number) {
            self.close_session(models, a, open);
        }
    }

    /// Closes every open track of the session, decides them, raises held breaches.
    fn close_session(&self, models: &mut ReplayModels, a: &mut CameraAnalysis, session: SessionId) {
        let open = a
            .streams
            .as_ref()
            .map_or(0, |s| s.plates.active().len() + s.faces.active().len());
        let snap = self.shared.snapshots.current();
        let setup = self.shared.setup(self.info, &snap);
        self.decide(models, a, &setup, |ctx, streams| ctx.finish(streams));
        tracing::debug!(
            session = session.number,
            open_tracks = open,
            "session closed"
        );
        a.session = None;
        a.streams = None;
        a.anchor = None;
    }

    /// Runs one decision step with the event output locked, then publishes what it raised.
    fn decide(
        &self,
        models: &mut ReplayModels,
        a: &mut CameraAnalysis,
        setup: &ReplaySetup<'_>,
        step: impl FnOnce(&mut DecideCtx<'_, '_>, &mut StreamTrackers) -> anyhow::Result<()>,
    ) {
        let shared = self.shared;
        let (Some(session), Some(streams)) = (a.session, a.streams.as_mut()) else {
            return;
        };
        let start = a.anchor.unwrap_or(session.started);
        // Unique per camera session: media times restart with every session, and a new run
        // must not reuse the ids of an earlier one in the same folder.
        let source_key = format!(
            "live:{}@{}",
            self.info.source,
            session
                .started
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        let regions: Vec<&str> = shared.regions.iter().map(String::as_str).collect();
        let before = a.summary.outcomes.sightings + a.summary.outcomes.face_tracks;
        let mut out = lock(&shared.events);
        let EventOutput { jsonl, journal } = &mut *out;
        let mut ctx = DecideCtx {
            setup,
            camera_id: &self.info.id,
            source: &self.info.source,
            source_key: &source_key,
            start,
            models: self.model_ids,
            regions: &regions,
            formats: PlateFormats::builtin(),
            jsonl,
            journal,
            summary: &mut a.summary,
            privacy: &mut models.privacy,
            pending: std::mem::take(&mut a.pending),
        };
        let result = step(&mut ctx, streams);
        a.pending = std::mem::take(&mut ctx.pending);
        drop(ctx);
        let events = std::mem::take(&mut a.summary.events);
        // Durable before anything else happens: a signal, a crash, a kill.
        let synced = if events.is_empty() {
            Ok(())
        } else {
            out.jsonl.flush()
        };
        drop(out);
        let metrics = &shared.metrics;
        let camera = &metrics.cameras[self.camera];
        let after = a.summary.outcomes.sightings + a.summary.outcomes.face_tracks;
        camera.decided(after - before, events.len() as u64);
        let now = shared.clocks.now();
        for e in &events {
            let last_capture = e.media_time.last.to_wall(start);
            let latency = (now - last_capture).to_std().unwrap_or_default();
            metrics.event(e.kind.as_str());
            metrics.stages.event.observe(latency);
            let subject = match &e.subject {
                Subject::Plate(p) => p.plate.as_str(),
                Subject::Face(f) => f.subject_id.as_str(),
            };
            tracing::info!(event_id = %e.event_id, kind = e.kind.as_str(), reason = %e.decision.reason,
                subject, registry_version = e.decision.registry_version,
                latency_ms = latency.as_millis() as u64, "event raised");
            if shared.print_events {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(
                    stdout,
                    "event {} {} {} camera={} subject={} registry_version={} latency_ms={}",
                    e.event_id,
                    e.kind.as_str(),
                    e.decision.reason,
                    e.camera,
                    subject,
                    e.decision.registry_version,
                    latency.as_millis()
                );
                let _ = stdout.flush();
            }
        }
        if let Err(e) = result.and(synced.map_err(anyhow::Error::from)) {
            metrics.event_write_error();
            camera.analysis_error();
            tracing::error!(
                error = format!("{e:#}"),
                "deciding or writing events failed"
            );
        }
    }
}
