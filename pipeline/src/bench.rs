//! `passwatch bench`: throughput of the plate path on a file, next to its own ceiling.
//!
//! One invocation measures, on the same file with the same GStreamer path: decode-only
//! frames/s (every frame decoded, none converted or analysed — the ceiling the pipeline cannot
//! beat), then the whole plate path at the given analysis rate (decode, convert, detect, refine,
//! OCR, track, consensus), with the time per stage per analysed frame.

use crate::cli::ModelArgs;
use crate::ingest::{FrameSelection, Ingest, IngestMessage};
use crate::track::{Tracker, TrackerConfig};
use anyhow::Result;
use passwatch_plate_reader::reader::PlateReader;
use serde::Serialize;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Per-stage milliseconds per analysed frame.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StageMs {
    /// Decoding, per analysed frame (all decoded frames' decode time / analysed frames).
    pub decode: f64,
    /// I420 → RGB of the analysed frame.
    pub convert: f64,
    /// Plate detection.
    pub detect: f64,
    /// Text lines inside plate boxes.
    pub refine: f64,
    /// Crops and OCR.
    pub ocr: f64,
    /// Tracking and consensus (matching against the registry is timed by `replay`).
    pub track: f64,
}

/// The figures of one bench run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BenchReport {
    /// The file.
    pub input: String,
    /// Frames in the file.
    pub frames: u64,
    /// Decode-only frames/s (the ceiling).
    pub decode_only_fps: f64,
    /// Whole-pipeline frames/s (decoded frames per second of wall time).
    pub pipeline_fps: f64,
    /// Analysed frames per second of wall time.
    pub analysed_fps: f64,
    /// Analysis rate asked for (frames per second of media time).
    pub analyse_rate: f64,
    /// Media seconds processed per wall second (above 1 = faster than real time).
    pub realtime_factor: f64,
    /// Stage times per analysed frame.
    pub stages: StageMs,
    /// Inference threads per session.
    pub threads: usize,
    /// Detector.
    pub detector: String,
}

/// Decodes the whole file without analysis: frames and seconds.
pub fn decode_only(path: &Path) -> Result<(u64, f64)> {
    let t = Instant::now();
    let mut ingest = Ingest::open_file(path, FrameSelection::None, 4)?;
    for msg in ingest.by_ref() {
        if let IngestMessage::End(r) = msg {
            r?;
            break;
        }
    }
    let n = ingest.counters.decoded.load(Ordering::Relaxed);
    Ok((n, t.elapsed().as_secs_f64()))
}

/// Runs decode-only, then the plate path at `analyse_fps`, on `path`.
pub fn bench_file(
    path: &Path,
    analyse_fps: f64,
    reader: &mut PlateReader,
    threads: usize,
) -> Result<BenchReport> {
    let (frames, decode_s) = decode_only(path)?;
    let before = reader.times;
    let started = Instant::now();
    let mut ingest = Ingest::open_file(path, FrameSelection::Rate(analyse_fps), 4)?;
    let duration = ingest.info.duration.map_or(0.0, |d| d.as_secs_f64());
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut track_s = 0.0;
    let mut analysed = 0u64;
    for msg in ingest.by_ref() {
        match msg {
            IngestMessage::Frame(f) => {
                analysed += 1;
                let obs = reader.read_frame(&f.image)?;
                let t = Instant::now();
                let _ended = tracker.update(f.media_time, f.index, &f.image, obs);
                track_s += t.elapsed().as_secs_f64();
            }
            IngestMessage::End(r) => {
                r?;
                break;
            }
        }
    }
    let _ = tracker.finish();
    let wall = started.elapsed().as_secs_f64();
    let decoded = ingest.counters.decoded.load(Ordering::Relaxed);
    let n = analysed.max(1) as f64;
    let t = reader.times;
    Ok(BenchReport {
        input: path.display().to_string(),
        frames,
        decode_only_fps: frames as f64 / decode_s.max(1e-9),
        pipeline_fps: decoded as f64 / wall.max(1e-9),
        analysed_fps: analysed as f64 / wall.max(1e-9),
        analyse_rate: analyse_fps,
        realtime_factor: duration / wall.max(1e-9),
        stages: StageMs {
            decode: ingest.counters.pull_ns.load(Ordering::Relaxed) as f64 / 1e6 / n,
            convert: ingest.counters.convert_ns.load(Ordering::Relaxed) as f64 / 1e6 / n,
            detect: (t.detect_s - before.detect_s) * 1e3 / n,
            refine: (t.refine_s - before.refine_s) * 1e3 / n,
            ocr: (t.ocr_s - before.ocr_s) * 1e3 / n,
            track: track_s * 1e3 / n,
        },
        threads,
        detector: reader.detector_kind().to_string(),
    })
}

impl BenchReport {
    /// The terminal table.
    pub fn table(&self) -> String {
        let s = &self.stages;
        format!(
            "{}: {} frames\n  decode only      {:>8.1} frames/s\n  plate pipeline   {:>8.1} frames/s ({:.2} analysed/s at {} fps of media; {:.2}x real time)\n  per analysed frame (ms): decode {:.1}  convert {:.1}  detect {:.1}  refine {:.1}  ocr {:.1}  track {:.2}\n  detector {}, {} inference threads\n",
            self.input,
            self.frames,
            self.decode_only_fps,
            self.pipeline_fps,
            self.analysed_fps,
            self.analyse_rate,
            self.realtime_factor,
            s.decode,
            s.convert,
            s.detect,
            s.refine,
            s.ocr,
            s.track,
            self.detector,
            self.threads
        )
    }
}

/// `passwatch bench` options.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// The video file.
    #[arg(long)]
    pub input: PathBuf,
    /// Frames per second of media time to analyse.
    #[arg(long, default_value_t = crate::replay::DEFAULT_PLATE_ANALYSE_FPS)]
    pub analyse_fps: f64,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Model and inference settings.
    #[command(flatten)]
    pub models: ModelArgs,
}

/// Runs `passwatch bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let mut reader = args
        .models
        .reader(passwatch_plate_reader::reader::ReaderConfig::default().min_len)?;
    let report = bench_file(
        &args.input,
        args.analyse_fps,
        &mut reader,
        args.models.threads,
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}
