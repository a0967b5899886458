//! # passwatch plate reader
//!
//! Everything between a decoded frame and a plate sighting's text:
//!
//! - [`geometry`]: boxes, quads, rotated rectangles, connected components and NMS, each in a
//!   named coordinate space;
//! - [`crop`]: rectified crops (a perspective warp of a rotated or skewed box to an upright one);
//! - [`ctc`]: the PP-OCR character set and CTC greedy decoding restricted to a plate alphabet;
//! - [`formats`]: per-region plate formats, as data, used to choose between candidate reads;
//! - [`text`]: normalisation and the confusable-aware edit distance;
//! - [`consensus`]: combining the reads of one track into one plate with a confidence.
#![deny(missing_docs)]

pub mod consensus;
pub mod crop;
pub mod ctc;
pub mod formats;
pub mod geometry;
pub mod text;
