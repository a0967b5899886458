//! # passwatch-bench
//!
//! Measurement, not product: `passwatch bench` ([`command`]: N streams of the product's own
//! stream engine next to the limits of its models, and the Python reference on the same frames),
//! and the benchmarks beside it:
//!
//! - `benches/hot_paths.rs` (criterion): letterbox and resize, NCHW normalisation, CTC decoding,
//!   NMS, the face alignment warp, plate fuzzy matching against a 1 000 000-pass registry;
//! - `src/bin/registry_bench.rs`: the fuzzy matching figures as one JSON object, with the
//!   snapshot's memory (for `runs/`);
//! - `src/bin/index_bench.rs` + `index_vs_faiss.py`: the watchlist index against faiss;
//! - `reference/`: the Python reference pipeline `passwatch bench --compare-reference` runs;
//! - `tests/bench.rs`: `passwatch bench` end to end on a fixture clip.
//!
//! [`inputs`] and [`synthetic`] hold the inputs the benchmarks share, made from fixed seeds so
//! that every run measures the same data. The bench drives the product's engine
//! (`passwatch_pipeline::engine`) and preprocessing; it keeps no copy of either.
#![deny(missing_docs)]

pub mod analysis;
pub mod command;
pub mod figures;
pub mod inputs;
pub mod limits;
pub mod machine;
pub mod reference;
pub mod registry;
pub mod report;
pub mod stats;
pub mod streams;
pub mod synthetic;

pub use command::{run, run_report, BenchArgs};
pub use figures::BenchReport;
