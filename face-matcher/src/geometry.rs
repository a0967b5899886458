//! Points and boxes for faces, each value named by the space it lives in.
//!
//! Coordinates follow OpenCV's *pixel-index* convention, the one YuNet's decoder and the ArcFace
//! alignment template are defined in: the centre of pixel `(i, j)` is at `(i, j)`, x grows to the
//! right and y downwards. Moving a point from the detector's 640×640 input to the frame is then a
//! plain division by the letterbox scale, as in the Python reference the figures in MODELS.md
//! come from.

pub use passwatch_base::geometry::{nms, BBox, Point};
