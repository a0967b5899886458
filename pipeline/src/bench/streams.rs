//! N concurrent streams through the real pipeline.
//!
//! Each stream is what `replay` does for one file: its own decode thread ([`Ingest`], blocking
//! queue, frames chosen on the media-time grid of the analysis rate), its own plate and face
//! trackers, its plate schedule ([`PlateAnalyser`]: the detector on one analysed frame in
//! `--detect-every`, tracked plates read in between), and the decisions on what the trackers
//! close ([`decide_plate`], [`decide_face`]). The inference is done by worker threads that own
//! their models (`Session::run` takes `&mut self`): a stream hands its frame to whichever worker
//! is free and waits for the result, so each stream has one frame in analysis at a time (its
//! trackers need the frames in order) while its decoder works ahead. The stream's plate
//! schedule and tracker travel with the frame (the schedule reads the tracker's predicted boxes
//! next to the reader) and come back with the result.
//!
//! ```text
//! stream k: Ingest (decode thread) ──frame──▶ stream thread ──job──▶ [shared queue] ──▶ worker w
//!                                              ▲  track, consensus, decide     (plates, faces)
//!                                              └───────────── result ◀─────────────────┘
//! ```
//!
//! Not done here, unlike `replay`: writing events, journal and evidence (and blurring the faces
//! in plate evidence), which are disk work outside what throughput measures; the decisions that
//! would raise them are still taken and counted.
//!
//! A stream whose file ends before the run's duration opens it again (a looped stream), with
//! fresh trackers, as `replay` starts each file.

use super::stats::Samples;
use crate::face_sighting::{FaceMatch, FaceSighting, FaceUsed};
use crate::faces::{FaceTrack, FaceTracker, FaceTrackerConfig};
use crate::ingest::{Frame, FrameSelection, Ingest, IngestMessage};
use crate::plates::{PlateAnalyser, PlateSchedule};
use crate::registry::{PassSnapshot, WatchlistSnapshot};
use crate::rules::{decide_face, decide_plate, FaceOutcome, FaceThreshold, PlateOutcome};
use crate::sighting::PlateSighting;
use crate::site::Site;
use crate::time::WallTime;
use crate::track::{is_sighting, Track, Tracker, TrackerConfig};
use anyhow::{anyhow, Context, Result};
use image::RgbImage;
use passwatch_face_matcher::{DetectedFace, FaceMatcher};
use passwatch_plate_reader::formats::PlateFormats;
use passwatch_plate_reader::reader::{PlateObservation, PlateReader};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The camera id the bench's site gives its streams.
pub const BENCH_CAMERA: &str = "bench-camera";

/// What the streams decide against: a site whose zone is restricted at all times, a pass
/// registry and a watchlist.
pub struct World {
    /// The site (one camera, one zone restricted at all times).
    pub site: Site,
    /// The pass registry snapshot.
    pub passes: PassSnapshot,
    /// The watchlist, for the face path.
    pub watchlist: Option<WatchlistSnapshot>,
    /// The face threshold.
    pub threshold: FaceThreshold,
    /// Plate regions.
    pub regions: Vec<String>,
    /// Wall time the streams' media time 0 stands for.
    pub start: WallTime,
}

impl World {
    /// The bench's site: one camera running `analyses` in a zone restricted at all times, and a
    /// `home` zone for the watchlist's subjects.
    pub fn site(regions: &[String], faces: bool) -> Result<Site> {
        let analyses = if faces {
            "[\"plates\", \"faces\"]"
        } else {
            "[\"plates\"]"
        };
        let regions = regions
            .iter()
            .map(|r| format!("{r:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!(
            "name = \"bench\"\nutc_offset = \"+00:00\"\n[plates]\nregions = [{regions}]\n\
             [[cameras]]\nid = \"{BENCH_CAMERA}\"\nzone = \"bench-zone\"\nanalyses = {analyses}\n\
             [[zones]]\nid = \"bench-zone\"\n[[zones.restrictions]]\n\
             [[zones]]\nid = \"home\"\n"
        );
        Site::from_toml_str(&text, "<bench site>").context("the bench's own site config")
    }
}

/// The models of one inference worker.
pub struct WorkerModels {
    /// The plate path.
    pub plates: Option<PlateReader>,
    /// The face path.
    pub faces: Option<FaceMatcher>,
}

/// How to run the streams.
#[derive(Clone, Debug)]
pub struct StreamsConfig {
    /// The file every stream plays.
    pub input: PathBuf,
    /// Concurrent streams.
    pub streams: usize,
    /// Frames analysed per second of media time.
    pub analyse_fps: f64,
    /// Wall time to run for; the file is looped until then. `None`: play it once.
    pub duration: Option<Duration>,
    /// Each stream stops after this many analysed frames.
    pub max_analysed: Option<u64>,
    /// Keep every read of stream 0 (for the comparison with the reference).
    pub record_reads: bool,
    /// Keep up to this many of stream 0's analysed frames, spread over the run (the inputs of
    /// the inference-only measurement).
    pub keep_frames: usize,
    /// When the plate detector runs.
    pub schedule: PlateSchedule,
}

/// One read of a frame, as the comparison with the reference needs it.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ReadRecord {
    /// The final text (after the reader's format-fitting variants).
    pub text: String,
    /// The raw CTC read, normalised.
    pub raw: String,
    /// Mean character confidence of the raw read.
    pub confidence: f32,
    /// The plate box in frame pixels: x, y, w, h.
    pub bbox: [f32; 4],
}

/// The reads of one analysed frame.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct FrameReads {
    /// Index of the frame among all decoded frames.
    pub index: u64,
    /// Its media time, milliseconds.
    pub ms: f64,
    /// The reads, best first.
    pub reads: Vec<ReadRecord>,
}

/// One stream's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StreamFigures {
    /// Frames decoded.
    pub decoded: u64,
    /// Frames analysed.
    pub analysed: u64,
    /// Decoded frames per second of the stream's wall time.
    pub decoded_fps: f64,
    /// Analysed frames per second of the stream's wall time.
    pub analysed_fps: f64,
    /// Times the file was opened (1 = played once, no loop).
    pub plays: u64,
}

/// What the decisions came to (no events are written).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Outcomes {
    /// Plate tracks closed.
    pub plate_tracks: u64,
    /// Plate sightings decided.
    pub sightings: u64,
    /// Of them, violations.
    pub violations: u64,
    /// Face tracks closed.
    pub face_tracks: u64,
    /// Face tracks searched against the watchlist.
    pub faces_searched: u64,
    /// Face tracks that would raise a breach.
    pub breaches: u64,
}

/// Work counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Work {
    /// Analysed frames the plate detector ran on (the others were read around tracks).
    pub detector_frames: u64,
    /// Plate crops read.
    pub crops: u64,
    /// Faces embedded.
    pub faces: u64,
}

/// What one run of N streams measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StreamsRun {
    /// Concurrent streams.
    pub streams: usize,
    /// Inference workers.
    pub workers: usize,
    /// Wall seconds from the start to the last stream's last frame.
    pub wall_s: f64,
    /// CPU seconds the process used meanwhile (decoding, conversion, models, tracking).
    pub cpu_s: f64,
    /// Frames decoded, all streams.
    pub decoded: u64,
    /// Frames analysed, all streams.
    pub analysed: u64,
    /// Decoded frames per second, all streams.
    pub pipeline_fps: f64,
    /// Analysed frames per second, all streams.
    pub analysed_fps: f64,
    /// The slowest stream's analysed frames per second.
    pub min_stream_analysed_fps: f64,
    /// Per stream.
    pub per_stream: Vec<StreamFigures>,
    /// Per-stage time per analysed frame, milliseconds (see the stage names in the docs).
    #[serde(skip)]
    pub stage_samples: BTreeMap<&'static str, Samples>,
    /// Work done.
    pub work: Work,
    /// Decisions taken.
    pub outcomes: Outcomes,
    /// Stream 0's reads, when asked for.
    #[serde(skip)]
    pub reads: Vec<FrameReads>,
    /// Stream 0's kept frames (inputs for the inference-only measurement).
    #[serde(skip)]
    pub kept_frames: Vec<RgbImage>,
}

/// A stream's plate state, lent to the worker with each frame.
struct PlateState {
    analyser: PlateAnalyser,
    tracker: Tracker,
}

struct Job {
    frame: Frame,
    plates: Option<Box<PlateState>>,
    submitted: Instant,
    reply: SyncSender<Reply>,
}

#[derive(Default)]
struct Reply {
    frame: Option<Frame>,
    plate_state: Option<Box<PlateState>>,
    plates: Vec<PlateObservation>,
    faces: Vec<DetectedFace>,
    /// (stage, seconds) of the worker's stages.
    stages: Vec<(&'static str, f64)>,
    crops: u64,
    detector_frames: u64,
    faces_embedded: u64,
    error: Option<String>,
}

/// Runs `cfg.streams` streams against `world` with one worker per entry of `workers`, and hands
/// the workers' models back with the figures.
pub fn run_streams(
    cfg: &StreamsConfig,
    world: &World,
    workers: Vec<WorkerModels>,
) -> Result<(StreamsRun, Vec<WorkerModels>)> {
    anyhow::ensure!(cfg.streams >= 1, "at least one stream is needed");
    anyhow::ensure!(
        !workers.is_empty(),
        "at least one inference worker is needed"
    );
    let n_workers = workers.len();
    let (job_tx, job_rx) = sync_channel::<Job>(cfg.streams);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let barrier = Arc::new(Barrier::new(cfg.streams + 1));
    let start: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let formats = PlateFormats::builtin();

    std::thread::scope(|scope| -> Result<(StreamsRun, Vec<WorkerModels>)> {
        let mut worker_handles = Vec::new();
        for (w, mut models) in workers.into_iter().enumerate() {
            let rx = job_rx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("bench-infer-{w}"))
                .spawn_scoped(scope, move || {
                    worker_loop(&mut models, &rx);
                    models
                })
                .context("cannot start an inference worker")?;
            worker_handles.push(handle);
        }
        let mut stream_handles = Vec::new();
        for s in 0..cfg.streams {
            let tx = job_tx.clone();
            let barrier = barrier.clone();
            let start = start.clone();
            let handle = std::thread::Builder::new()
                .name(format!("bench-stream-{s}"))
                .spawn_scoped(scope, move || {
                    run_one_stream(s, cfg, world, formats, tx, &barrier, &start)
                })
                .context("cannot start a stream")?;
            stream_handles.push(handle);
        }
        drop(job_tx);
        // Every stream has opened its file (or failed to): the clock starts now for all.
        let cpu0 = super::machine::process_cpu_seconds();
        let _ = start.set(Instant::now());
        barrier.wait();

        let mut results = Vec::new();
        let mut first_error = None;
        for h in stream_handles {
            match h.join() {
                Ok(Ok(r)) => results.push(r),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(anyhow!("a stream thread panicked"));
                }
            }
        }
        let mut models = Vec::new();
        for h in worker_handles {
            models.push(
                h.join()
                    .map_err(|_| anyhow!("an inference worker panicked"))?,
            );
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let cpu_s = super::machine::process_cpu_seconds() - cpu0;
        let t0 = *start.get().unwrap_or(&Instant::now());
        let mut run = combine(cfg.streams, n_workers, t0, results);
        run.cpu_s = cpu_s;
        Ok((run, models))
    })
}

/// What one stream brings back.
struct StreamResult {
    figures: StreamFigures,
    ended: Instant,
    stages: BTreeMap<&'static str, Samples>,
    work: Work,
    outcomes: Outcomes,
    reads: Vec<FrameReads>,
    kept: Vec<RgbImage>,
}

fn combine(streams: usize, workers: usize, t0: Instant, results: Vec<StreamResult>) -> StreamsRun {
    let end = results.iter().map(|r| r.ended).max().unwrap_or(t0);
    let wall = end.duration_since(t0).as_secs_f64().max(1e-9);
    let mut run = StreamsRun {
        streams,
        workers,
        wall_s: wall,
        ..StreamsRun::default()
    };
    for r in results {
        run.decoded += r.figures.decoded;
        run.analysed += r.figures.analysed;
        run.per_stream.push(r.figures);
        for (k, v) in r.stages {
            run.stage_samples.entry(k).or_default().extend(&v);
        }
        run.work.crops += r.work.crops;
        run.work.detector_frames += r.work.detector_frames;
        run.work.faces += r.work.faces;
        let (o, p) = (&mut run.outcomes, &r.outcomes);
        o.plate_tracks += p.plate_tracks;
        o.sightings += p.sightings;
        o.violations += p.violations;
        o.face_tracks += p.face_tracks;
        o.faces_searched += p.faces_searched;
        o.breaches += p.breaches;
        if run.reads.is_empty() {
            run.reads = r.reads;
        }
        if run.kept_frames.is_empty() {
            run.kept_frames = r.kept;
        }
    }
    run.pipeline_fps = run.decoded as f64 / wall;
    run.analysed_fps = run.analysed as f64 / wall;
    run.min_stream_analysed_fps = run
        .per_stream
        .iter()
        .map(|s| s.analysed_fps)
        .fold(f64::INFINITY, f64::min);
    if !run.min_stream_analysed_fps.is_finite() {
        run.min_stream_analysed_fps = 0.0;
    }
    run
}

fn worker_loop(models: &mut WorkerModels, rx: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job: whichever worker is free
        // takes it.
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(mut job) = job else {
            return; // every stream is done
        };
        let started = Instant::now();
        let mut reply = analyse(models, &job.frame, job.plates.as_deref_mut());
        reply
            .stages
            .push(("queue", started.duration_since(job.submitted).as_secs_f64()));
        reply.frame = Some(job.frame);
        reply.plate_state = job.plates;
        let _ = job.reply.send(reply);
    }
}

/// The models' work on one frame, timed by stage from the readers' own stage clocks.
fn analyse(models: &mut WorkerModels, frame: &Frame, plates: Option<&mut PlateState>) -> Reply {
    let mut reply = Reply::default();
    if let (Some(reader), Some(state)) = (models.plates.as_mut(), plates) {
        let before = reader.times;
        let read = state
            .analyser
            .read(reader, &state.tracker, &frame.image, frame.media_time);
        match read {
            Ok(obs) => reply.plates = obs,
            Err(e) => {
                reply.error = Some(format!("plate reading, frame {}: {e}", frame.index));
                return reply;
            }
        }
        let t = reader.times;
        reply
            .stages
            .push(("plate_detect", t.detect_s - before.detect_s));
        reply
            .stages
            .push(("plate_refine", t.refine_s - before.refine_s));
        reply.stages.push(("plate_ocr", t.ocr_s - before.ocr_s));
        reply.crops = t.crops - before.crops;
        reply.detector_frames =
            (t.frames - before.frames) - (t.tracked_frames - before.tracked_frames);
    }
    if let Some(matcher) = models.faces.as_mut() {
        let before = matcher.timings();
        match matcher.faces_in_frame(&frame.image) {
            Ok(faces) => reply.faces = faces,
            Err(e) => {
                reply.error = Some(format!("face path, frame {}: {e}", frame.index));
                return reply;
            }
        }
        let t = matcher.timings();
        reply
            .stages
            .push(("face_detect", (t.detect - before.detect).as_secs_f64()));
        reply
            .stages
            .push(("face_align", (t.align - before.align).as_secs_f64()));
        reply
            .stages
            .push(("face_embed", (t.embed - before.embed).as_secs_f64()));
        reply.faces_embedded = t.faces - before.faces;
    }
    reply
}

/// Keeps up to `cap` items spread evenly over a sequence of unknown length: every `stride`-th
/// item is kept, and when twice `cap` are held, every other one is dropped and the stride
/// doubles.
#[derive(Debug)]
pub struct Spread<T> {
    cap: usize,
    stride: u64,
    seen: u64,
    items: Vec<T>,
}

impl<T> Spread<T> {
    /// Keeps up to `cap` items.
    pub fn new(cap: usize) -> Self {
        Spread {
            cap,
            stride: 1,
            seen: 0,
            items: Vec::new(),
        }
    }

    /// Whether the next item offered would be kept (so the caller can skip making it).
    pub fn wants_next(&self) -> bool {
        self.cap > 0 && self.seen.is_multiple_of(self.stride)
    }

    /// Offers the next item.
    pub fn offer(&mut self, item: impl FnOnce() -> T) {
        if self.wants_next() {
            self.items.push(item());
            if self.items.len() >= 2 * self.cap {
                let mut i = 0;
                self.items.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
        }
        self.seen += 1;
    }

    /// The kept items, at most `cap`, evenly spread.
    pub fn finish(self) -> Vec<T> {
        let n = self.items.len();
        if n <= self.cap {
            return self.items;
        }
        let step = n as f64 / self.cap as f64;
        let mut items: Vec<Option<T>> = self.items.into_iter().map(Some).collect();
        (0..self.cap)
            .filter_map(|k| items[((k as f64 * step) as usize).min(n - 1)].take())
            .collect()
    }
}

struct StreamState<'a> {
    world: &'a World,
    formats: &'static PlateFormats,
    regions: Vec<&'a str>,
    source: String,
    stages: BTreeMap<&'static str, Samples>,
    work: Work,
    outcomes: Outcomes,
}

fn run_one_stream(
    id: usize,
    cfg: &StreamsConfig,
    world: &World,
    formats: &'static PlateFormats,
    jobs: SyncSender<Job>,
    barrier: &Barrier,
    start: &OnceLock<Instant>,
) -> Result<StreamResult> {
    let open = || {
        Ingest::open_file(&cfg.input, FrameSelection::Rate(cfg.analyse_fps), 4)
            .with_context(|| format!("stream {id}: cannot open {}", cfg.input.display()))
    };
    let first = open();
    barrier.wait();
    let mut ingest = Some(first?);
    let t0 = *start.get().unwrap_or(&Instant::now());
    let deadline = cfg.duration.map(|d| t0 + d);
    let (reply_tx, reply_rx) = sync_channel::<Reply>(1);
    let mut st = StreamState {
        world,
        formats,
        regions: world.regions.iter().map(String::as_str).collect(),
        source: cfg.input.display().to_string(),
        stages: BTreeMap::new(),
        work: Work::default(),
        outcomes: Outcomes::default(),
    };
    let mut figures = StreamFigures::default();
    let mut reads = Vec::new();
    let mut kept = Spread::new(if id == 0 { cfg.keep_frames } else { 0 });
    let face_cfg = FaceTrackerConfig {
        best_k: world.site.faces.max_faces,
        ..FaceTrackerConfig::default()
    };
    let run_faces = world.watchlist.is_some();
    let mut stop = false;
    while !stop {
        let mut current = match ingest.take() {
            Some(i) => i,
            None => open()?,
        };
        figures.plays += 1;
        let mut plate_state = Some(Box::new(PlateState {
            analyser: PlateAnalyser::new(cfg.schedule.clone()),
            tracker: Tracker::new(TrackerConfig::default()),
        }));
        let mut face_tracker = FaceTracker::new(face_cfg.clone());
        let counters = current.counters.clone();
        let (mut last_pull, mut last_convert) = (0u64, 0u64);
        let mut decoded_in_play = 0u64;
        let mut ended_cleanly = false;
        for msg in current.by_ref() {
            let frame = match msg {
                IngestMessage::Frame(f) => f,
                IngestMessage::End(r) => {
                    r.with_context(|| format!("stream {id}"))?;
                    ended_cleanly = true;
                    break;
                }
            };
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d)
                || cfg.max_analysed.is_some_and(|m| figures.analysed >= m)
            {
                stop = true;
                break;
            }
            let pull = counters.pull_ns.load(Ordering::Relaxed);
            let convert = counters.convert_ns.load(Ordering::Relaxed);
            st.sample("decode", (pull - last_pull) as f64 / 1e9);
            st.sample("convert", (convert - last_convert) as f64 / 1e9);
            (last_pull, last_convert) = (pull, convert);
            decoded_in_play = frame.index + 1;
            let received = Instant::now();
            jobs.send(Job {
                frame,
                plates: plate_state.take(),
                submitted: received,
                reply: reply_tx.clone(),
            })
            .map_err(|_| anyhow!("stream {id}: the inference workers stopped"))?;
            let reply = reply_rx
                .recv()
                .map_err(|_| anyhow!("stream {id}: an inference worker went away"))?;
            if let Some(e) = reply.error {
                return Err(anyhow!("stream {id}: {e}"));
            }
            plate_state = reply.plate_state;
            let frame = reply
                .frame
                .ok_or_else(|| anyhow!("stream {id}: a worker kept the frame"))?;
            for (stage, s) in &reply.stages {
                st.sample(stage, *s);
            }
            st.work.crops += reply.crops;
            st.work.detector_frames += reply.detector_frames;
            st.work.faces += reply.faces_embedded;
            figures.analysed += 1;
            if cfg.record_reads && id == 0 {
                reads.push(FrameReads {
                    index: frame.index,
                    ms: frame.media_time.as_nanos() as f64 / 1e6,
                    reads: reply.plates.iter().map(read_record).collect(),
                });
            }
            kept.offer(|| frame.image.clone());

            let t = Instant::now();
            let ended = match plate_state.as_deref_mut() {
                Some(p) => {
                    p.tracker
                        .update(frame.media_time, frame.index, &frame.image, reply.plates)
                }
                None => Vec::new(),
            };
            let ended_faces = if run_faces {
                face_tracker.update(frame.media_time, &frame.image, reply.faces)
            } else {
                Vec::new()
            };
            let t_track = t.elapsed().as_secs_f64();
            let t = Instant::now();
            for track in ended {
                st.close_plate(track);
            }
            for track in ended_faces {
                st.close_face(track)?;
            }
            st.sample("track", t_track);
            st.sample("match", t.elapsed().as_secs_f64());
            st.sample("frame", received.elapsed().as_secs_f64());
        }
        if ended_cleanly {
            decoded_in_play = counters.decoded.load(Ordering::Relaxed);
        }
        figures.decoded += decoded_in_play;
        // The file ended (or the run did): its open tracks close, as at the end of a replay.
        for track in plate_state
            .as_deref_mut()
            .map(|p| p.tracker.finish())
            .unwrap_or_default()
        {
            st.close_plate(track);
        }
        for track in face_tracker.finish() {
            st.close_face(track)?;
        }
        drop(current);
        let out_of_time = deadline.is_none_or(|d| Instant::now() >= d);
        let capped = cfg.max_analysed.is_some_and(|m| figures.analysed >= m);
        if !ended_cleanly || out_of_time || capped || figures.analysed == 0 {
            stop = true;
        }
    }
    let ended = Instant::now();
    let elapsed = ended.duration_since(t0).as_secs_f64().max(1e-9);
    figures.decoded_fps = figures.decoded as f64 / elapsed;
    figures.analysed_fps = figures.analysed as f64 / elapsed;
    Ok(StreamResult {
        figures,
        ended,
        stages: st.stages,
        work: st.work,
        outcomes: st.outcomes,
        reads,
        kept: kept.finish(),
    })
}

fn read_record(o: &PlateObservation) -> ReadRecord {
    let b = o.bbox_in_frame;
    ReadRecord {
        text: o.text.clone(),
        raw: passwatch_plate_reader::text::normalise_plate(&o.read.text),
        confidence: o.read.confidence,
        bbox: [b.x, b.y, b.w, b.h],
    }
}

impl StreamState<'_> {
    fn sample(&mut self, stage: &'static str, seconds: f64) {
        self.stages.entry(stage).or_default().push_s(seconds);
    }

    /// A plate track ended: consensus and the decision, as `replay` takes it.
    fn close_plate(&mut self, track: Track) {
        self.outcomes.plate_tracks += 1;
        if !is_sighting(&track, &TrackerConfig::default()) {
            return;
        }
        let Some(consensus) = track.consensus(self.formats, &self.regions) else {
            return;
        };
        let sighting = PlateSighting::of_track(
            &track,
            &consensus,
            BENCH_CAMERA,
            &self.source,
            &self.source,
            self.world.start,
        );
        let decision = decide_plate(&sighting, &self.world.site, &self.world.passes);
        self.outcomes.sightings += 1;
        if matches!(decision.outcome, PlateOutcome::Violation { .. }) {
            self.outcomes.violations += 1;
        }
    }

    /// A face track ended: its best faces searched against the watchlist and the decision, as
    /// `replay` takes it (without merging breaches into passages).
    fn close_face(&mut self, track: FaceTrack) -> Result<()> {
        let Some(watchlist) = &self.world.watchlist else {
            return Ok(());
        };
        self.outcomes.face_tracks += 1;
        let settings = &self.world.site.faces;
        let usable: Vec<_> = track
            .best
            .iter()
            .filter(|f| f.quality >= settings.min_quality)
            .take(settings.max_faces)
            .collect();
        if usable.is_empty() {
            return Ok(());
        }
        self.outcomes.faces_searched += 1;
        let embeddings: Vec<_> = usable.iter().map(|f| f.embedding.clone()).collect();
        let best = watchlist.best_match(&embeddings)?;
        let sighting = FaceSighting {
            camera_id: BENCH_CAMERA.to_string(),
            source: self.source.clone(),
            source_key: self.source.clone(),
            track_id: track.id,
            first_seen: track.first_seen,
            last_seen: track.last_seen,
            wall_time: track.first_seen.to_wall(self.world.start),
            faces: usable
                .iter()
                .map(|f| FaceUsed {
                    media_time: f.media_time,
                    quality: f.quality,
                })
                .collect(),
            best_match: best.map(FaceMatch::from),
            images: None,
        };
        let decision = decide_face(&sighting, &self.world.site, watchlist, self.world.threshold);
        if matches!(decision.outcome, FaceOutcome::Breach { .. }) {
            self.outcomes.breaches += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_keeps_an_even_sample() {
        let mut s = Spread::new(4);
        for i in 0..100u32 {
            s.offer(|| i);
        }
        let kept = s.finish();
        assert_eq!(kept.len(), 4);
        // Spread over the whole sequence, not its start.
        assert!(kept[0] < 10 && *kept.last().unwrap() > 50, "{kept:?}");
        assert!(kept.windows(2).all(|w| w[0] < w[1]));

        let mut few = Spread::new(10);
        for i in 0..3u32 {
            few.offer(|| i);
        }
        assert_eq!(few.finish(), vec![0, 1, 2]);

        let mut none = Spread::new(0);
        assert!(!none.wants_next());
        none.offer(|| 1u32);
        assert!(none.finish().is_empty());
    }

    #[test]
    fn the_bench_site_parses_and_is_always_restricted() {
        let regions = vec!["us".to_string(), "eu".to_string()];
        let site = World::site(&regions, true).unwrap();
        let cam = site.camera(BENCH_CAMERA).unwrap();
        assert!(cam.runs(crate::site::Analysis::Faces));
        let zone = site.zone_of_camera(BENCH_CAMERA).unwrap();
        assert!(zone.restricted_at(chrono::Utc::now()));
        let plates_only = World::site(&regions, false).unwrap();
        assert!(!plates_only
            .camera(BENCH_CAMERA)
            .unwrap()
            .runs(crate::site::Analysis::Faces));
    }
}
