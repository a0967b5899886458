//! # passwatch base
//!
//! The small vocabulary every other passwatch crate speaks, with no dependency on models, media
//! or storage:
//!
//! - [`time`]: [`MediaTime`] (a position in a stream) and [`WallTime`] (a UTC instant) as
//!   different types, the [`Clock`] trait that tests control, and the one RFC 3339 parser and
//!   formatter used by the registry, the site file and the events;
//! - [`ids`]: what makes a zone, camera or region id valid;
//! - [`geometry`]: one [`BBox`], one [`Point`] and one [`nms`] for plates, faces and privacy
//!   blurring. Each value is named by the space it lives in (`bbox_in_frame`), since the pixel
//!   convention differs between detectors (see the module docs).
#![deny(missing_docs)]

pub mod geometry;
pub mod ids;
pub mod time;

pub use geometry::{nms, BBox, Point};
pub use time::{Clock, MediaTime, SystemClock, WallTime};
