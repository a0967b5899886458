//! What one `passwatch bench` measured: the report's types, built by [`crate::command`] and
//! rendered by [`crate::report`].

use crate::analysis::{Limit, MaxStreams, Verdict};
use crate::limits::{DecodeOnly, ModelFigures};
use crate::machine::Machine;
use crate::reference::Comparison;
use crate::stats::Latency;
use crate::streams::{Outcomes, StreamFigures, Work};
use serde::Serialize;
use std::collections::BTreeMap;

/// Frames kept from the pipeline run as inputs of the inference-only loops: enough to cover the
/// file's variety of scenes, few enough that preparing them (the reader runs on each) stays short.
pub const KEPT_FRAMES: usize = 8;

/// The video, as GStreamer reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VideoInfo {
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Frames per second it declares.
    pub fps: f64,
    /// Duration, s.
    pub duration_s: f64,
}

/// The settings of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Settings {
    /// Concurrent streams.
    pub streams: usize,
    /// Inference workers.
    pub workers: usize,
    /// Intra-op threads per session.
    pub threads: usize,
    /// Analysed frames per second of media, per stream.
    pub analyse_fps: f64,
    /// Wall seconds per pipeline run.
    pub duration_s: f64,
    /// Analyses run.
    pub analyses: Vec<String>,
    /// Plate detector.
    pub detector: String,
    /// platedet's canvas: `fit`, `square` or `as-shipped` (`--platedet-canvas`).
    pub platedet_canvas: String,
    /// Whether lines inside plate boxes are read.
    pub refine: bool,
    /// The plate detector runs on one analysed frame in this many (tracked plates are read
    /// in between).
    pub detect_every: u32,
    /// Passes in the registry.
    pub registry_passes: usize,
    /// Subjects in the watchlist.
    pub watchlist_subjects: usize,
}

/// One point of the chart against N.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SweepPoint {
    /// Streams.
    pub streams: usize,
    /// Analysed frames/s, all streams.
    pub analysed_fps: f64,
    /// Decoded frames/s, all streams.
    pub pipeline_fps: f64,
    /// The slowest stream's analysed frames/s.
    pub min_stream_analysed_fps: f64,
    /// Frame latency (queue, models, tracking, decisions) median, ms.
    pub frame_p50_ms: f64,
    /// Its 99th percentile, ms.
    pub frame_p99_ms: f64,
    /// Whether every stream held the analysis rate.
    pub held: bool,
}

/// The limit's comparison in CPU time rather than wall time: what passwatch spends per analysed
/// frame against what decoding and the models alone spend. Other processes on a shared machine
/// stretch wall times (differently in each measurement), hardly CPU times, so this share is the
/// steadier of the two there.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CpuShare {
    /// CPU ms per analysed frame in the pipeline run (all threads).
    pub pipeline_ms_per_analysed: f64,
    /// CPU ms per analysed frame of decoding alone plus each model alone.
    pub limit_ms_per_analysed: f64,
    /// `limit / pipeline`: the share of the pipeline's CPU time that is decoding and models (the
    /// rest: conversion, pre- and post-processing, tracking, decisions, threads waking).
    pub share: f64,
    /// Analysed frames/s all cores would give at the pipeline's CPU cost per frame.
    pub cores_bound_fps: f64,
}

/// Everything one `passwatch bench` measured.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// The file.
    pub input: String,
    /// What it holds.
    pub video: VideoInfo,
    /// How the run was set up.
    pub settings: Settings,
    /// Decoded frames/s with decoding alone, N decoders together.
    pub decode_only_fps: f64,
    /// The decode-only measurement.
    pub decode_only: DecodeOnly,
    /// Decoded frames/s through the whole pipeline, all streams.
    pub pipeline_fps: f64,
    /// Analysed frames/s, all streams.
    pub analysed_fps: f64,
    /// Per stream.
    pub per_stream: Vec<StreamFigures>,
    /// The slowest stream's analysed frames/s.
    pub min_stream_analysed_fps: f64,
    /// Whether every stream held the analysis rate (at least 0.95 × it).
    pub realtime: bool,
    /// The best the pipeline could do, analysed frames/s.
    pub limit_fps: f64,
    /// `analysed_fps / limit_fps`.
    pub limit_share: f64,
    /// How the limit is made up.
    pub limit: Limit,
    /// The same in CPU time.
    pub cpu: CpuShare,
    /// Each model alone.
    pub models: Vec<ModelFigures>,
    /// Per-stage latency per analysed frame, ms.
    pub stages: BTreeMap<String, Latency>,
    /// What bounds the pipeline.
    pub verdict: Verdict,
    /// Work done in the pipeline run.
    pub work: Work,
    /// Decisions taken in the pipeline run.
    pub outcomes: Outcomes,
    /// The pipeline at each stream count measured (main run, sweep and search trials).
    pub sweep: Vec<SweepPoint>,
    /// The most streams held at real time, when searched.
    pub max_streams: Option<MaxStreams>,
    /// The reference comparison, when asked for.
    pub reference: Option<Comparison>,
    /// The machine.
    pub machine: Machine,
    /// When the run started (UTC, RFC 3339).
    pub started_at: String,
    /// Wall seconds of the whole invocation.
    pub elapsed_s: f64,
}
