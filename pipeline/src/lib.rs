//! # passwatch pipeline
//!
//! The product around the models: ingest of files and cameras through GStreamer, tracking, the
//! registries in SQLite, the site configuration, the rules, the events and their evidence, and the
//! `passwatch` command line built on them.
#![deny(missing_docs)]

pub mod sighting;
pub mod time;
