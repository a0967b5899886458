//! # passwatch face matcher
//!
//! (overview written at the end)
#![deny(missing_docs)]

pub mod align;
pub mod embed;
pub mod geometry;
pub mod index;

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
    /// An unused placeholder until the data-set code lands.
    #[error("{path}: {what}")]
    Data {
        /// File.
        path: PathBuf,
        /// What.
        what: String,
    },
}
