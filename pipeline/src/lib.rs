//! # passwatch pipeline
//!
//! The stream engine and what feeds it:
//!
//! - [`ingest`]: GStreamer decoding of files and live sources, with a policy per source: block
//!   for files (no due frame is ever dropped; results are deterministic), keep the newest for
//!   live cameras; [`live::source`] adds reconnects and a frame watchdog for cameras;
//! - [`track`] (plates, with [`plates`]' detector schedule) and [`faces`]: the trackers;
//! - [`engine`]: one analysed frame at a time, analyse then decide, driven by `replay`, `run`,
//!   `bench` and `eval --video` alike;
//! - [`live`]: the camera supervisor, the keep-newest hand-over, the inference workers that
//!   drive the engine for every camera, the registry hot reload and the metrics;
//! - [`options`]: the model and inference option groups every command shares.
//!
//! The registry, the rules and the events live in the crates below (`passwatch-registry`,
//! `passwatch-rules`, `passwatch-events`); the command line above (`passwatch`).
#![deny(missing_docs)]

pub mod engine;
pub mod error;
pub mod faces;
pub mod ingest;
pub mod live;
pub mod options;
pub mod plates;
pub mod track;
