//! # passwatch
//!
//! The modes of the `passwatch` command line, each a thin driver over the stream engine
//! (`passwatch_pipeline::engine`):
//!
//! - [`replay`]: recorded files, deterministically (blocking ingest, one registry version);
//! - [`run`]: live cameras in one process, with the operator's [`http`] surface and
//!   [`shutdown`] on signals;
//! - [`eval`]: accuracy on labelled crops, photos and video;
//! - [`serve`]: the review API over a data folder (`passwatch_server`), and [`admin`]: its
//!   users, tokens and the audit log's check from the shell.
//!
//! `passwatch bench` is the `passwatch-bench` crate. No mode imports another; what they share
//! lives in the crates below. This is the one layer that uses `anyhow`.
#![deny(missing_docs)]

pub mod admin;
pub mod eval;
pub mod export;
pub mod http;
pub mod purge;
pub mod replay;
pub mod run;
pub mod serve;
pub mod shutdown;
#[cfg(test)]
mod test_support;
