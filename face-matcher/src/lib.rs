//! # passwatch face matcher
//!
//! The face path of passwatch, from a decoded frame to watchlist matches:
//!
//! ```text
//! frame ─▶ FaceDetector (YuNet: boxes + 5 landmarks) ─▶ AlignedFace (112×112, ArcFace template)
//!       ─▶ Quality (size, sharpness, pose) ─▶ FaceEmbedder (512-d unit Embedding + model id)
//!       ─▶ WatchlistIndex::search (exact cosine, batched) ─▶ Match per subject
//! ```
//!
//! Main types:
//! - [`FaceMatcher`]: detector and embedder of one worker; [`FaceMatcher::faces_in_frame`]
//!   returns every face as a [`DetectedFace`] (box, landmarks, aligned crop, quality,
//!   embedding) and keeps per-stage [`StageTimings`];
//! - [`Embedding`]: an L2-normalised vector that remembers which model made it, compared by
//!   [`Embedding::cosine`];
//! - [`WatchlistIndex`]: subjects with one or more reference embeddings, searched exactly (f32
//!   inner products, SIMD blocked matrix product with the top-k fused in) for whole batches of
//!   faces; refuses embeddings of another model;
//! - [`EnrolmentCheck`]: accepts a reference photo with one good face or rejects it with a
//!   reason (`no_face`, `several_faces`, `too_small`, `too_blurred`, `bad_pose`) and the value
//!   measured against its limit;
//! - [`verification`]: LFW-style verification figures (accuracy, true-accept rate at a
//!   false-accept rate, thresholds) on a labelled folder, from which the watchlist threshold is
//!   chosen.
//!
//! Modules:
//! - [`detect`]: YuNet input (letterbox, BGR 0–255) and decoding (per-stride heads, NMS), and
//!   the smallest face size it implies on large frames;
//! - [`align`]: the least-squares similarity (Umeyama) onto the ArcFace template and the
//!   bilinear warp;
//! - [`embed`]: the embedder and [`Embedding`];
//! - [`quality`]: the quality score, enrolment rules and [`quality::best_k`] for tracks;
//! - [`index`]: the watchlist index and its kernels ([`index::kernel`]);
//! - [`verification`]: the verification protocol;
//! - [`matcher`]: the [`FaceMatcher`] itself;
//! - [`geometry`]: points and boxes in named pixel spaces.
//!
//! Privacy: nothing here writes an embedding anywhere. Keeping or dropping one after matching
//! is the caller's decision, and the product's rule is to drop every embedding that matched
//! nobody.
#![deny(missing_docs)]

pub mod align;
pub mod detect;
pub mod embed;
pub mod geometry;
pub mod index;
pub mod matcher;
pub mod quality;
pub mod verification;

pub use align::AlignedFace;
pub use detect::{DetectorConfig, Face, FaceDetector};
pub use embed::{Embedding, FaceEmbedder};
pub use geometry::{BBox, Point};
pub use index::{Match, WatchlistIndex};
pub use matcher::{DetectedFace, FaceMatcher, FaceMatcherConfig, StageTimings};
pub use quality::{Enrolment, EnrolmentCheck, Quality, QualityConfig, RejectReason, Rejection};

use std::path::PathBuf;

/// Errors of the face matcher.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// Loading or running a model failed.
    #[error(transparent)]
    Model(#[from] passwatch_models::ModelError),
    /// A model was given for a role it does not fit.
    #[error("model {model} cannot be used here: expected {expected}, found {found}")]
    WrongModel {
        /// Model id.
        model: String,
        /// What was expected.
        expected: String,
        /// What the manifest or the model says.
        found: String,
    },
    /// A model's output is not what its decoder reads.
    #[error("model {model}: unexpected output: {what}")]
    UnexpectedOutput {
        /// Model id.
        model: String,
        /// What is wrong.
        what: String,
    },
    /// A model produced an embedding that cannot be used.
    #[error("model {model}: unusable embedding: {what}")]
    BadEmbedding {
        /// Model id.
        model: String,
        /// What is wrong.
        what: String,
    },
    /// An embedding from another model than the watchlist's.
    #[error("the watchlist index holds embeddings of model {index_model}; an embedding of model {embedding_model} cannot be searched or added")]
    IndexModelMismatch {
        /// The index's model.
        index_model: String,
        /// The embedding's model.
        embedding_model: String,
    },
    /// An embedding whose length differs from the index's.
    #[error("model {model}: embedding has {found} dimensions, the index has {expected}")]
    DimensionMismatch {
        /// Model id.
        model: String,
        /// The index's dimensions.
        expected: usize,
        /// The embedding's.
        found: usize,
    },
    /// A setting out of range.
    #[error("config {field}: {what}")]
    Config {
        /// The field, with its section (`detector.nms_iou`).
        field: String,
        /// What is wrong with its value.
        what: String,
    },
    /// An image that cannot be read or decoded.
    #[error("{path}: cannot read the image: {message}")]
    Image {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// A data file (e.g. `identities.csv`) that cannot be read or has a bad row.
    #[error("{path}{}: {what}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Data {
        /// The file.
        path: PathBuf,
        /// The line, when known.
        line: Option<u64>,
        /// What is wrong.
        what: String,
    },
    /// Something this machine cannot do (e.g. a forced instruction set).
    #[error("not supported: {what}")]
    Unsupported {
        /// What.
        what: String,
    },
    /// An inconsistency inside the matcher (a bug, reported rather than panicking).
    #[error("face matcher: {what}")]
    Internal {
        /// What.
        what: String,
    },
}
