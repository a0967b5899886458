//! # passwatch plate reader
//!
//! Everything between a decoded frame and a plate sighting's text:
//!
//! - [`detect`]: plate candidates from the PP-OCRv4 text detector (DBNet lines of plate shape)
//!   or from `platedet` (YOLOv8 plate boxes), behind one [`detect::PlateDetector`] trait;
//! - [`geometry`]: boxes, quads, rotated rectangles, connected components and NMS, each in a
//!   named coordinate space;
//! - [`crop`]: rectified crops (a perspective warp of a rotated or skewed box to an upright one);
//! - [`recognise`]: the PP-OCRv4 recogniser, batched;
//! - [`ctc`]: the PP-OCR character set and CTC greedy decoding restricted to a plate alphabet;
//! - [`likelihood`]: the probability of a given plate text from the recogniser's output (CTC
//!   forward), per read and per track;
//! - [`formats`]: per-region plate formats, as data, used to choose between candidate reads;
//! - [`text`]: normalisation and the confusable-aware edit distance;
//! - [`reader`]: the per-frame reader tying these together ([`reader::PlateReader`]);
//! - [`consensus`]: combining the reads of one track into one plate with a confidence.
#![deny(missing_docs)]

pub mod consensus;
pub mod crop;
pub mod ctc;
pub mod detect;
pub mod formats;
pub mod geometry;
pub mod likelihood;
pub mod reader;
pub mod recognise;
pub mod text;

/// Errors of the plate reader.
#[derive(Debug, thiserror::Error)]
pub enum PlateError {
    /// Loading or running a model failed.
    #[error(transparent)]
    Model(#[from] passwatch_models::ModelError),
    /// The recogniser's character set or output is unusable.
    #[error("plate OCR: {0}")]
    Ctc(#[from] ctc::CtcError),
    /// A model was given for a role it does not fit.
    #[error("model {model} cannot be used here: expected {expected}, found {found}")]
    WrongModel {
        /// Model id.
        model: String,
        /// What was expected.
        expected: String,
        /// What the manifest says.
        found: String,
    },
    /// A region id that the plate formats do not know.
    #[error("unknown plate region {region:?} (known: {})", known.join(", "))]
    UnknownRegion {
        /// The id given.
        region: String,
        /// The ids known.
        known: Vec<String>,
    },
    /// An inconsistency inside the reader (a bug, reported rather than panicking).
    #[error("plate reader: {0}")]
    Internal(String),
}
