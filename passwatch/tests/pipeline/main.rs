//! End-to-end tests of the `passwatch` binary and the pipeline on the real fixtures
//! (`PASSWATCH_FIXTURES`, default `../shared/fixtures`) with the real model pack (fetched by
//! `scripts/setup`). Accuracy figures are printed, and a test fails when one drops below its
//! floor in the repository's `baselines.toml` ([`baseline`]). One test binary; `plates` and
//! `faces` hold the two paths' tests.

mod faces;
mod plates;

#[path = "../../../fixtures/baselines.rs"]
mod baselines;
pub use baselines::baseline;
use passwatch_models::{ModelCache, SessionOptions};
use passwatch_plate_reader::detect::DetectorKind;
use passwatch_plate_reader::reader::{load_reader, PlateReader, ReaderConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn fixtures() -> PathBuf {
    match std::env::var_os("PASSWATCH_FIXTURES").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
    }
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn reader(detector: DetectorKind, min_len: usize) -> PlateReader {
    let config = ReaderConfig {
        min_len,
        ..ReaderConfig::default()
    };
    let options = SessionOptions {
        intra_threads: 2,
        ..SessionOptions::default()
    };
    load_reader(detector, &ModelCache::from_env(), &options, config).expect("plate models load")
}

pub fn passwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passwatch"))
        .args(args)
        .output()
        .expect("passwatch runs")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub fn events_of(path: &Path) -> Vec<serde_json::Value> {
    match std::fs::read_to_string(path) {
        Ok(t) => t
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        Err(_) => Vec::new(),
    }
}
