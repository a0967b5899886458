//! Sightings: one vehicle passing one camera, after its track has ended.
//!
//! A [`PlateSighting`] is what the tracker and the consensus vote hand to the rules: the plate
//! text agreed over all the reads of one track, its confidence, and the history of reads, plus
//! the best evidence images. The rules decide on it once; it raises at most one event.

use std::sync::Arc;

use image::RgbImage;
use passwatch_base::time::{MediaTime, WallTime};
use passwatch_plate_reader::geometry::BBox;
use passwatch_plate_reader::likelihood::CtcLattice;
use serde::Serialize;

/// One read of a plate in one analysed frame, kept in the sighting's history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlateRead {
    /// Media time of the frame.
    #[serde(serialize_with = "ser_media_secs")]
    pub media_time: MediaTime,
    /// Normalised text as read in that frame.
    pub text: String,
    /// Mean character confidence of the read, 0..1.
    pub confidence: f32,
    /// The plate's axis-aligned box, in frame pixels.
    #[serde(skip)]
    pub bbox_in_frame: BBox,
    /// The read's weight in the track's vote and probability (plate-likeness × crop size).
    #[serde(skip)]
    pub weight: f32,
    /// The recogniser's step distributions of this read: what the probability of any plate
    /// text is computed from ([`passwatch_plate_reader::likelihood`]). None for a read made
    /// without the recogniser's output.
    #[serde(skip)]
    pub lattice: Option<Arc<CtcLattice>>,
}

/// The best images of a sighting, kept in memory until the rules decide whether it raises an
/// event (evidence is only written for events).
#[derive(Clone, Debug)]
pub struct SightingImages {
    /// The rectified plate crop of the best read.
    pub crop: RgbImage,
    /// The full frame of the best read.
    pub frame: RgbImage,
    /// Media time of that frame.
    pub media_time: MediaTime,
}

/// One vehicle passing one camera: the consensus of one plate track.
#[derive(Clone, Debug)]
pub struct PlateSighting {
    /// The camera's id in the site config.
    pub camera_id: String,
    /// The source the frames came from (file path or URI), as shown in events.
    pub source: String,
    /// The source's identity in event ids: stable however the source was named (for a file,
    /// its name and size, so a relative, an absolute or a folder path give the same ids).
    pub source_key: String,
    /// Track number, unique per camera and source.
    pub track_id: u64,
    /// Media time of the first analysed frame of the track.
    pub first_seen: MediaTime,
    /// Media time of the last analysed frame of the track.
    pub last_seen: MediaTime,
    /// Wall-clock time of the sighting (of its first frame): the time rules are checked at.
    pub wall_time: WallTime,
    /// The consensus plate, normalised (upper case, no separators).
    pub plate: String,
    /// The plate-format region the consensus fits best, if any.
    pub region: Option<String>,
    /// Confidence of the consensus, 0..1.
    pub confidence: f32,
    /// Every read of the track, in frame order.
    pub reads: Vec<PlateRead>,
    /// Evidence images of the best read.
    pub images: Option<SightingImages>,
}

fn ser_media_secs<S: serde::Serializer>(t: &MediaTime, s: S) -> Result<S::Ok, S::Error> {
    // Milliseconds are what a reviewer needs; fixed precision keeps replays byte-identical.
    s.serialize_f64((t.as_millis() as f64) / 1000.0)
}
