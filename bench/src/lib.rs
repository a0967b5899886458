//! # passwatch-bench
//!
//! Benchmarks of passwatch, beyond what `passwatch bench` measures end to end:
//!
//! - `benches/hot_paths.rs` (criterion): letterbox and resize, NCHW normalisation, CTC decoding,
//!   NMS, the face alignment warp, plate fuzzy matching against a 1 000 000-pass registry;
//! - `src/bin/registry_bench.rs`: the fuzzy matching figures as one JSON object, with the
//!   snapshot's memory (for `runs/`);
//! - `src/bin/index_bench.rs` + `index_vs_faiss.py`: the watchlist index against faiss;
//! - `reference/`: the Python reference pipeline `passwatch bench --compare-reference` runs;
//! - `tests/bench.rs`: `passwatch bench` end to end on a fixture clip.
//!
//! This library holds the inputs the benchmarks share, made from fixed seeds so that every run
//! measures the same data.
#![deny(missing_docs)]

pub mod inputs;
pub mod registry;
