//! N concurrent streams through the real pipeline.
//!
//! Each stream is what `replay` does for one file, through the product's stream engine
//! ([`passwatch_pipeline::engine`]): its own decode thread ([`Ingest`], blocking queue, frames
//! chosen on the media-time grid of the analysis rate), its own [`StreamTrackers`] (the plate
//! tracker with its detector schedule, the face tracker) and [`DecideState`]. The inference
//! workers own their models (`Session::run` takes `&mut self`) and do what a `passwatch run`
//! worker does for a camera: [`StreamTrackers::infer`], then [`Decider::apply`] — tracking,
//! consensus, the rules, breaches merged, and for each violation the faces in its frame found
//! and blurred and the evidence JPEG-encoded. A stream hands its frame, with its trackers and
//! decision state, to whichever worker is free and waits for them to come back, so each stream
//! has one frame in analysis at a time (its trackers need the frames in order) while its
//! decoder works ahead.
//!
//! ```text
//! stream k: Ingest (decode thread) ──frame + state──▶ [shared queue] ──▶ worker w
//!                                    ▲                     infer, then decide (the engine)
//!                                    └──────────── state back ◀───────────┘
//! ```
//!
//! The one difference from `replay`: events go to a [`NullSink`], which encodes the evidence
//! (its cost is part of deciding) and writes nothing to disk.
//!
//! A stream whose file ends before the run's duration opens it again (a looped stream), with
//! fresh trackers, as `replay` starts each file.

use crate::stats::Samples;
use anyhow::{anyhow, Context, Result};
use image::RgbImage;
use passwatch_base::time::WallTime;
use passwatch_events::NullSink;
use passwatch_pipeline::engine::{
    DecideSetup, DecideState, Decider, FaceSetup, Findings, Models, StreamId, StreamTrackers,
};
use passwatch_pipeline::faces::FaceTrackerConfig;
use passwatch_pipeline::ingest::{Frame, FrameSelection, Ingest, IngestMessage};
use passwatch_pipeline::plates::PlateSchedule;
use passwatch_pipeline::track::TrackerConfig;
use passwatch_plate_reader::formats::PlateFormats;
use passwatch_plate_reader::reader::PlateObservation;
use passwatch_registry::site::Site;
use passwatch_registry::{PassSnapshot, WatchlistSnapshot};
use passwatch_rules::FaceThreshold;
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
    /// What the streams decide with: this world's site, registry and watchlist, the plate
    /// detector on `schedule`, the trackers' defaults.
    pub fn decide_setup(&self, schedule: PlateSchedule) -> DecideSetup<'_> {
        DecideSetup {
            site: &self.site,
            passes: &self.passes,
            faces: self.watchlist.as_ref().map(|watchlist| FaceSetup {
                watchlist,
                threshold: self.threshold,
            }),
            tracker: TrackerConfig {
                schedule,
                ..TrackerConfig::default()
            },
            face_tracker: FaceTrackerConfig::default(),
        }
    }

    /// The bench's site: one camera running `analyses` in a zone restricted at all times, and a
    /// `home` zone for the watchlist's subjects.
    pub fn site(regions: &[String], faces: bool) -> Result<Site> {
        Site::one_camera(BENCH_CAMERA, "bench-zone", regions, faces, true)
            .context("the bench's own site config")
    }
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
    /// Of them, doubtful sightings that would be left for review (`needs_review`). The bench has
    /// no ground truth: the decision rates are `passwatch eval decisions`'.
    pub needs_review: u64,
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

/// One stream's state, lent to a worker with each frame: the engine's trackers and decision
/// state, and what the stream asked the worker to record.
struct StreamCtx {
    trackers: StreamTrackers,
    state: DecideState,
    /// The stream's identity in its events.
    camera: &'static str,
    source: String,
    /// Keep the reads of each frame (stream 0, for the reference comparison).
    record_reads: bool,
}

struct Job {
    frame: Frame,
    ctx: Box<StreamCtx>,
    /// The file ended: close every open track after this job (`frame` is then not analysed).
    finish: bool,
    submitted: Instant,
    reply: SyncSender<Reply>,
}

struct Reply {
    frame: Frame,
    ctx: Box<StreamCtx>,
    done: Done,
    error: Option<String>,
}

/// What a worker did for one job.
#[derive(Default)]
struct Done {
    reads: Vec<ReadRecord>,
    /// (stage, seconds) of the worker's stages.
    stages: Vec<(&'static str, f64)>,
    crops: u64,
    detector_frames: u64,
    faces_embedded: u64,
}

/// Runs `cfg.streams` streams against `world` with one inference worker per entry of
/// `workers`.
pub fn run_streams(
    cfg: &StreamsConfig,
    world: &World,
    workers: &mut [Models],
) -> Result<StreamsRun> {
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
    let setup = world.decide_setup(cfg.schedule.clone());

    std::thread::scope(|scope| -> Result<StreamsRun> {
        let mut worker_handles = Vec::new();
        for (w, models) in workers.iter_mut().enumerate() {
            let rx = job_rx.clone();
            let setup = &setup;
            let handle = std::thread::Builder::new()
                .name(format!("bench-infer-{w}"))
                .spawn_scoped(scope, move || worker_loop(models, world, setup, &rx))
                .context("cannot start an inference worker")?;
            worker_handles.push(handle);
        }
        let mut stream_handles = Vec::new();
        for s in 0..cfg.streams {
            let tx = job_tx.clone();
            let barrier = barrier.clone();
            let start = start.clone();
            let setup = &setup;
            let handle = std::thread::Builder::new()
                .name(format!("bench-stream-{s}"))
                .spawn_scoped(scope, move || {
                    run_one_stream(s, cfg, setup, tx, &barrier, &start)
                })
                .context("cannot start a stream")?;
            stream_handles.push(handle);
        }
        drop(job_tx);
        // Every stream has opened its file (or failed to): the clock starts now for all.
        let cpu0 = crate::machine::process_cpu_seconds();
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
        for h in worker_handles {
            h.join()
                .map_err(|_| anyhow!("an inference worker panicked"))?;
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let cpu_s = crate::machine::process_cpu_seconds() - cpu0;
        let t0 = *start.get().unwrap_or(&Instant::now());
        let mut run = combine(cfg.streams, n_workers, t0, results);
        run.cpu_s = cpu_s;
        Ok(run)
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
        o.needs_review += p.needs_review;
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

fn worker_loop(
    models: &mut Models,
    world: &World,
    setup: &DecideSetup<'_>,
    rx: &Mutex<Receiver<Job>>,
) {
    let model_ids = models.model_ids();
    let regions: Vec<&str> = world.regions.iter().map(String::as_str).collect();
    let mut sink = NullSink::default();
    loop {
        // The lock is held only while waiting for the next job: whichever worker is free
        // takes it.
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return; // every stream is done
        };
        let started = Instant::now();
        let Job {
            frame,
            mut ctx,
            finish,
            submitted,
            reply,
        } = job;
        let mut done = Done {
            stages: vec![("queue", started.duration_since(submitted).as_secs_f64())],
            ..Done::default()
        };
        let found = if finish {
            Ok(None)
        } else {
            infer(models, &mut ctx, &frame, &mut done).map(Some)
        };
        let error = match found {
            Err(e) => Some(e),
            Ok(found) => {
                let t = Instant::now();
                let StreamCtx {
                    trackers,
                    state,
                    camera,
                    source,
                    ..
                } = &mut *ctx;
                let mut decider = Decider {
                    setup,
                    stream: StreamId {
                        camera_id: camera,
                        source,
                        source_key: source,
                        start: world.start,
                    },
                    models: &model_ids,
                    regions: &regions,
                    formats: PlateFormats::builtin(),
                    sink: &mut sink,
                    privacy: &mut models.privacy,
                    state,
                    observer: None,
                };
                let decided = match found {
                    Some(found) => decider.apply(trackers, &frame, found),
                    None => decider.finish(trackers),
                };
                done.stages.push(("decide", t.elapsed().as_secs_f64()));
                decided
                    .err()
                    .map(|e| format!("deciding, frame {}: {e}", frame.index))
            }
        };
        let _ = reply.send(Reply {
            frame,
            ctx,
            done,
            error,
        });
    }
}

/// The models' work on one frame, through the engine, timed by stage from the readers' own
/// stage clocks.
fn infer(
    models: &mut Models,
    ctx: &mut StreamCtx,
    frame: &Frame,
    done: &mut Done,
) -> Result<Findings, String> {
    let plate_before = models.plates.as_ref().map(|r| r.times);
    let face_before = models.faces.as_ref().map(|m| m.timings());
    let found = ctx
        .trackers
        .infer(models.plates.as_mut(), models.faces.as_mut(), frame)
        .map_err(|e| format!("frame {}: {e}", frame.index))?;
    if let (Some(reader), Some(before)) = (models.plates.as_ref(), plate_before) {
        let t = reader.times;
        done.stages
            .push(("plate_detect", t.detect_s - before.detect_s));
        done.stages
            .push(("plate_refine", t.refine_s - before.refine_s));
        done.stages.push(("plate_ocr", t.ocr_s - before.ocr_s));
        done.crops = t.crops - before.crops;
        done.detector_frames =
            (t.frames - before.frames) - (t.tracked_frames - before.tracked_frames);
    }
    if let (Some(matcher), Some(before)) = (models.faces.as_ref(), face_before) {
        let t = matcher.timings();
        done.stages
            .push(("face_detect", (t.detect - before.detect).as_secs_f64()));
        done.stages
            .push(("face_align", (t.align - before.align).as_secs_f64()));
        done.stages
            .push(("face_embed", (t.embed - before.embed).as_secs_f64()));
        done.faces_embedded = t.faces - before.faces;
    }
    if ctx.record_reads {
        done.reads = found.plates.iter().flatten().map(read_record).collect();
    }
    Ok(found)
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

fn run_one_stream(
    id: usize,
    cfg: &StreamsConfig,
    setup: &DecideSetup<'_>,
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
    let mut stages: BTreeMap<&'static str, Samples> = BTreeMap::new();
    let mut sample = |stage: &'static str, seconds: f64| {
        stages.entry(stage).or_default().push_s(seconds);
    };
    let mut work = Work::default();
    let mut figures = StreamFigures::default();
    let mut reads = Vec::new();
    let mut kept = Spread::new(if id == 0 { cfg.keep_frames } else { 0 });
    let mut state = DecideState::default();
    let mut stop = false;
    // Hands one job to the workers and takes the stream's state back.
    let round_trip = |job: Job| -> Result<Reply> {
        jobs.send(job)
            .map_err(|_| anyhow!("stream {id}: the inference workers stopped"))?;
        let reply = reply_rx
            .recv()
            .map_err(|_| anyhow!("stream {id}: an inference worker went away"))?;
        match &reply.error {
            Some(e) => Err(anyhow!("stream {id}: {e}")),
            None => Ok(reply),
        }
    };
    while !stop {
        let mut current = match ingest.take() {
            Some(i) => i,
            None => open()?,
        };
        figures.plays += 1;
        // A new play starts with fresh trackers, as `replay` starts each file.
        let mut ctx = Some(Box::new(StreamCtx {
            trackers: StreamTrackers::new(&setup.tracker, &setup.face_tracker, setup.site),
            state: std::mem::take(&mut state),
            camera: BENCH_CAMERA,
            source: cfg.input.display().to_string(),
            record_reads: cfg.record_reads && id == 0,
        }));
        let counters = current.counters.clone();
        let (mut last_pull, mut last_convert) = (0u64, 0u64);
        let mut decoded_in_play = 0u64;
        let mut ended_cleanly = false;
        let mut last_frame = None;
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
            sample("decode", (pull - last_pull) as f64 / 1e9);
            sample("convert", (convert - last_convert) as f64 / 1e9);
            (last_pull, last_convert) = (pull, convert);
            decoded_in_play = frame.index + 1;
            let received = Instant::now();
            let reply = round_trip(Job {
                frame,
                ctx: ctx
                    .take()
                    .ok_or_else(|| anyhow!("stream {id}: state lost"))?,
                finish: false,
                submitted: received,
                reply: reply_tx.clone(),
            })?;
            let done = reply.done;
            for (stage, s) in &done.stages {
                sample(stage, *s);
            }
            work.crops += done.crops;
            work.detector_frames += done.detector_frames;
            work.faces += done.faces_embedded;
            figures.analysed += 1;
            if cfg.record_reads && id == 0 {
                reads.push(FrameReads {
                    index: reply.frame.index,
                    ms: reply.frame.media_time.as_nanos() as f64 / 1e6,
                    reads: done.reads,
                });
            }
            kept.offer(|| reply.frame.image.clone());
            ctx = Some(reply.ctx);
            last_frame = Some(reply.frame);
            sample("frame", received.elapsed().as_secs_f64());
        }
        if ended_cleanly {
            decoded_in_play = counters.decoded.load(Ordering::Relaxed);
        }
        figures.decoded += decoded_in_play;
        // The file ended (or the run did): its open tracks close, as at the end of a replay.
        if let (Some(frame), Some(c)) = (last_frame, ctx.take()) {
            let reply = round_trip(Job {
                frame,
                ctx: c,
                finish: true,
                submitted: Instant::now(),
                reply: reply_tx.clone(),
            })?;
            ctx = Some(reply.ctx);
        }
        if let Some(c) = ctx {
            state = c.state;
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
    let o = &state.outcomes;
    let outcomes = Outcomes {
        plate_tracks: o.tracks,
        sightings: o.sightings,
        violations: o.violations,
        needs_review: o.needs_review,
        face_tracks: o.face_tracks,
        faces_searched: o.face_tracks - o.faces_unusable,
        breaches: o.face_breaches,
    };
    Ok(StreamResult {
        figures,
        ended,
        stages,
        work,
        outcomes,
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
        assert!(cam.runs(passwatch_registry::site::Analysis::Faces));
        let zone = site.zone_of_camera(BENCH_CAMERA).unwrap();
        assert!(zone.restricted_at(chrono::Utc::now()));
        let plates_only = World::site(&regions, false).unwrap();
        assert!(!plates_only
            .camera(BENCH_CAMERA)
            .unwrap()
            .runs(passwatch_registry::site::Analysis::Faces));
    }
}
