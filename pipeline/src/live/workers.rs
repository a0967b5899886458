//! Inference workers, shared by every camera, and each camera's decision state.
//!
//! A worker is a named OS thread (`infer-<n>`) that owns its models (ONNX Runtime's
//! `Session::run` takes `&mut self`, so sessions are not shared): the plate reader, the face
//! matcher, and the face detector that blurs faces in evidence. It takes work from the
//! [`FrameBoard`] round-robin, one camera at a time, and for a frame:
//!
//! 1. runs the models the camera's analyses ask for (no lock held: workers infer in parallel);
//! 2. takes the registry snapshots current at that moment (one `Arc`: one version per frame);
//! 3. under the camera's own state only, tracks the findings and decides the tracks that end
//!    with **the stream engine** ([`crate::engine`], the code `replay` and `bench` drive):
//!    sightings, rules, evidence blurred, encoded and written — no lock shared with other
//!    cameras is held for any of it;
//! 4. appends each event through [`LiveSink`]: the one shared lock is taken only for the append
//!    to `events.jsonl`, its sync to disk, and the journal insert, so an event decided is an
//!    event kept, even if the process is killed next.
//!
//! Errors: a model error skips the frame and is counted (`model_errors`). An event that cannot
//! be written (disk full, a read-only journal) raises the alarm (`event_write_errors`, and the
//! camera's `events_held` gauge); the event is held in memory with its evidence, and the camera
//! takes no new decision (its frames are counted as `frames_halted`, not analysed) until a retry
//! writes the held events, so nothing decided is lost.
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
use crate::engine::{
    DecideSetup, DecideState, Decider, EngineError, FaceSetup, Models, StreamId, StreamTrackers,
};
use crate::faces::FaceTrackerConfig;
use crate::ingest::Frame;
use crate::track::TrackerConfig;
use image::RgbImage;
use passwatch_base::time::WallTime;
use passwatch_events::evidence::{write_evidence, Evidence};
use passwatch_events::retention::{purge_locked, PurgeReport, RetentionPolicy, WriterLock};
use passwatch_events::{Event, EventError, EventSink, Journal, JsonlSink, Subject};
use passwatch_plate_reader::formats::PlateFormats;
use passwatch_registry::site::Site;
use passwatch_rules::FaceThreshold;
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
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

/// Where events go: one JSONL file and one journal for the whole run, and the data folder's
/// writer lock, held for the run's life (a purge by another process leaves `events.jsonl` to
/// the lock holder: [`EventOutput::purge`]).
pub struct EventOutput {
    /// `events.jsonl`.
    pub jsonl: JsonlSink,
    /// `journal.db`.
    pub journal: Journal,
    /// The data folder's writer lock.
    pub writer: WriterLock,
}

impl EventOutput {
    /// Applies the site's retention to the run's own data folder, under the output's lock (no
    /// event is appended meanwhile): journal rows, verdicts and evidence, and `events.jsonl`
    /// compacted and reopened.
    pub fn purge(
        &mut self,
        policy: &RetentionPolicy,
        now: WallTime,
    ) -> Result<PurgeReport, EventError> {
        self.jsonl.flush()?;
        let report = purge_locked(&self.writer, policy, now)?;
        if report.jsonl_compacted {
            self.jsonl = JsonlSink::open(self.writer.jsonl_path())?;
        }
        Ok(report)
    }
}

/// A camera's view of the run's event output: evidence is written without any lock (each event
/// has its own folder); the shared output is locked only to append, sync and insert.
pub struct LiveSink<'a> {
    out: &'a Mutex<EventOutput>,
    dir: &'a Path,
}

impl<'a> LiveSink<'a> {
    /// The sink of a run writing under `dir` into `out`.
    pub fn new(out: &'a Mutex<EventOutput>, dir: &'a Path) -> Self {
        LiveSink { out, dir }
    }
}

impl EventSink for LiveSink<'_> {
    fn contains(&self, event_id: &str) -> bool {
        lock(self.out).jsonl.contains(event_id)
    }

    fn store_evidence(
        &mut self,
        event_id: &str,
        crop: &RgbImage,
        frame: &RgbImage,
    ) -> Result<Evidence, EventError> {
        write_evidence(self.dir, event_id, crop, frame)
    }

    /// Durable before anything else happens (a signal, a crash, a kill): the line is synced.
    fn emit(&mut self, event: &Event) -> Result<(), EventError> {
        let mut out = lock(self.out);
        out.jsonl.emit(event)?;
        out.jsonl.flush()?;
        out.journal.insert(event).map(|_| ())
    }

    fn flush(&mut self) -> Result<(), EventError> {
        lock(self.out).jsonl.flush()
    }
}

/// A camera's state between frames, owned by whichever worker analyses it.
#[derive(Default)]
struct CameraAnalysis {
    /// The session whose tracks are open.
    session: Option<SessionId>,
    streams: Option<StreamTrackers>,
    /// Wall time of media time zero in the session, from the latest analysed frame.
    anchor: Option<WallTime>,
    /// Outcome counts, held breaches and events; its `events` are taken out after every step.
    state: DecideState,
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
    pub fn flush(&self) -> Result<(), EventError> {
        lock(&self.events).jsonl.flush()
    }

    /// Events in `events.jsonl` (including those of earlier runs).
    pub fn events_in_file(&self) -> usize {
        lock(&self.events).jsonl.len()
    }

    fn setup<'a>(&'a self, snap: &'a Snapshots) -> DecideSetup<'a> {
        DecideSetup {
            site: &self.site,
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
        }
    }
}

/// A worker's loop: takes work until the board is closed and empty.
pub fn run_worker(shared: Arc<Shared>, mut models: Models) {
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

fn handle(shared: &Shared, models: &mut Models, model_ids: &BTreeMap<String, String>, work: Work) {
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
    fn analyse(&self, models: &mut Models, a: &mut CameraAnalysis, frame: LiveFrame) {
        let shared = self.shared;
        let metrics = &shared.metrics;
        let waited = shared.clocks.monotonic().saturating_sub(frame.arrived);
        metrics.stages.queue.observe(waited);
        if let Some(open) = a.session.filter(|s| *s != frame.session) {
            self.close_session(models, a, open);
        }
        a.session = Some(frame.session);
        let snap = shared.snapshots.current();
        let setup = shared.setup(&snap);
        a.streams.get_or_insert_with(|| {
            StreamTrackers::new(&setup.tracker, &setup.face_tracker, setup.site)
        });
        let held = a.state.held_events();
        if held > 0 {
            // The event output failed: write what is held before deciding anything new. A
            // retry that fails again is not logged again (the first failure was).
            self.decide(models, a, &setup, |d, _| {
                let _ = d.retry_held();
                Ok(())
            });
            if a.state.held_events() > 0 {
                metrics.cameras[self.camera].halted_frame();
                return;
            }
            tracing::warn!(
                written = held,
                "the event output works again: the held events are written, decisions resume"
            );
        }
        let Some(streams) = a.streams.as_mut() else {
            return;
        };
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
                tracing::warn!(error = %e, media_time = %frame.media_time,
                    "analysis of a frame failed; frame skipped");
                metrics.cameras[self.camera].model_error();
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

    fn end_session(&self, models: &mut Models, a: &mut CameraAnalysis, end: SessionId) {
        // A marker for this session or a later one: the open session is over. An older marker
        // (its session was closed when a newer frame came) changes nothing.
        if let Some(open) = a.session.filter(|s| s.number <= end.number) {
            self.close_session(models, a, open);
        }
    }

    /// Closes every open track of the session, decides them, raises held breaches.
    fn close_session(&self, models: &mut Models, a: &mut CameraAnalysis, session: SessionId) {
        let open = a
            .streams
            .as_ref()
            .map_or(0, |s| s.plates.active().len() + s.faces.active().len());
        let snap = self.shared.snapshots.current();
        let setup = self.shared.setup(&snap);
        self.decide(models, a, &setup, |d, streams| d.finish(streams));
        tracing::debug!(
            session = session.number,
            open_tracks = open,
            "session closed"
        );
        a.session = None;
        a.streams = None;
        a.anchor = None;
    }

    /// Runs one decision step under the camera's own state, then publishes what it raised.
    fn decide(
        &self,
        models: &mut Models,
        a: &mut CameraAnalysis,
        setup: &DecideSetup<'_>,
        step: impl FnOnce(&mut Decider<'_, '_>, &mut StreamTrackers) -> Result<(), EngineError>,
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
        let before = a.state.outcomes.sightings + a.state.outcomes.face_tracks;
        let mut sink = LiveSink::new(&shared.events, &shared.out_dir);
        let mut decider = Decider {
            setup,
            stream: StreamId {
                camera_id: &self.info.id,
                source: &self.info.source,
                source_key: &source_key,
                start,
            },
            models: self.model_ids,
            regions: &regions,
            formats: PlateFormats::builtin(),
            sink: &mut sink,
            privacy: &mut models.privacy,
            state: &mut a.state,
            observer: None,
        };
        let result = step(&mut decider, streams);
        let write_error = decider.take_write_error();
        let events = std::mem::take(&mut a.state.events);
        let metrics = &shared.metrics;
        let camera = &metrics.cameras[self.camera];
        let after = a.state.outcomes.sightings + a.state.outcomes.face_tracks;
        camera.set_events_held(a.state.held_events() as u64);
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
        if let Some(e) = write_error {
            if e.is_event_write() {
                metrics.event_write_error();
                camera.analysis_error();
            } else {
                camera.model_error(); // the faces to blur in the evidence could not be found
            }
            tracing::error!(error = %e, held = a.state.held_events(),
                "events could not be written; they are held and this camera takes no new decision until they are");
        }
        if let Err(e) = result {
            if e.is_event_write() {
                metrics.event_write_error();
            }
            camera.analysis_error();
            tracing::error!(error = %e, "deciding failed");
        }
    }
}
