//! # passwatch pipeline
//!
//! The product around the models: ingest of files and cameras through GStreamer, tracking, the
//! registries in SQLite, the site configuration, the rules, the events and their evidence, and the
//! `passwatch` command line built on them.
#![deny(missing_docs)]

pub mod bench;
pub mod cli;
pub mod eval;
pub mod events;
pub mod evidence;
pub mod face_sighting;
pub mod faces;
pub mod ingest;
pub mod live;
pub mod plates;
pub mod privacy;
pub mod registry;
pub mod replay;
pub mod rules;
pub mod run;
pub mod sighting;
pub mod site;
pub mod time;
pub mod track;
