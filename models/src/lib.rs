//! # passwatch models
//!
//! The model layer every analysis stands on:
//!
//! - [`ModelManifest`]: what a model file is (SHA-256, licence, source package) and how it is fed
//!   (input name and shape, element type, layout, colour order, normalisation, decoder);
//! - [`ModelCache`]: where `scripts/setup` put the files, and the SHA-256 check each passes before
//!   it is loaded;
//! - [`Model`]: an ONNX Runtime session (through `ort`, library loaded at run time) with a
//!   configurable thread count and [`ExecutionProvider`], checked against its manifest;
//! - [`graph`]: the plate detector's graph cut to its boxes and fitted to the frame's canvas;
//! - [`preprocess`]: resizing, letterboxing and normalisation of RGB images into NCHW tensors.
#![deny(missing_docs)]

pub mod cache;
pub mod graph;
pub mod manifest;
pub mod preprocess;
pub mod runtime;

pub use cache::ModelCache;
pub use manifest::{Calibration, DecoderKind, ModelManifest, Role};
pub use runtime::{ExecutionProvider, Model, OutputTensor, SessionOptions};

use std::path::PathBuf;

/// Everything that can go wrong between a manifest and an inference result.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A manifest that does not parse or validate.
    #[error("model manifest {path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, with the field.
        message: String,
    },
    /// No manifest with that id in the pack.
    #[error("no model manifest with id {id:?}")]
    UnknownModel {
        /// The id asked for.
        id: String,
    },
    /// A file that should be there is not.
    #[error("{path}: not found ({hint})")]
    Missing {
        /// The file.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },
    /// A model file whose content is not the one the manifest names: refused.
    #[error("{path}: SHA-256 mismatch, refusing to load it (expected {expected}, found {actual}); run scripts/setup to fetch the model pack again")]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// The manifest's hash.
        expected: String,
        /// The file's hash.
        actual: String,
    },
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ONNX Runtime library could not be loaded or initialised.
    #[error("ONNX Runtime: {message}")]
    Runtime {
        /// What failed.
        message: String,
    },
    /// A session could not be created from the model file.
    #[error("model {model} ({path}): cannot create a session: {message}")]
    Session {
        /// Model id.
        model: String,
        /// Model file.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },
    /// A graph could not be fitted to the run (see [`graph`]).
    #[error("model {model} ({path}): cannot prepare its graph: {message}")]
    Prepare {
        /// Model id.
        model: String,
        /// Model file.
        path: PathBuf,
        /// What did not fit.
        message: String,
    },
    /// The execution provider asked for is not usable and falling back was not allowed.
    #[error("model {model}: execution provider {provider} is not available: {message}")]
    ProviderUnavailable {
        /// Model id.
        model: String,
        /// The provider asked for.
        provider: String,
        /// Why.
        message: String,
    },
    /// The model's real inputs or outputs differ from its manifest.
    #[error("model {model} does not match its manifest: {what}")]
    IoMismatch {
        /// Model id.
        model: String,
        /// The difference.
        what: String,
    },
    /// A run failed.
    #[error("model {model}: inference failed: {message}")]
    Inference {
        /// Model id.
        model: String,
        /// ONNX Runtime's message.
        message: String,
    },
}
