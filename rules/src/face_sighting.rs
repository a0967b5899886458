//! Face sightings: one person passing one camera, after their face track has ended.
//!
//! A [`FaceSighting`] is what the face path hands to the rules ([`crate::decide_face`]):
//! which faces of the track were good enough to match, and the best watchlist match over them,
//! plus the evidence images. It holds **no embedding**: the caller searches the watchlist with the
//! track's best faces and drops their embeddings right after (BRIEF, privacy: an embedding that
//! matched nobody is never written anywhere), so nothing downstream of the search — decision,
//! event, log line — can carry one.

use crate::sighting::SightingImages;
use passwatch_base::time::{MediaTime, WallTime};

/// One face of the track that was matched against the watchlist.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceUsed {
    /// Media time of its frame.
    pub media_time: MediaTime,
    /// Its quality score, 0..1 (`passwatch_face_matcher::Quality::score`).
    pub quality: f32,
}

/// The best watchlist match of a track: the subject and the cosine similarity of its best
/// reference to the best-matching face.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceMatch {
    /// The subject's id.
    pub subject_id: String,
    /// Cosine similarity, -1..1.
    pub similarity: f32,
}

impl From<passwatch_face_matcher::Match> for FaceMatch {
    fn from(m: passwatch_face_matcher::Match) -> Self {
        FaceMatch {
            subject_id: m.subject_id,
            similarity: m.score,
        }
    }
}

/// One person passing one camera: the faces of one track that were matched, and the best match.
#[derive(Clone, Debug)]
pub struct FaceSighting {
    /// The camera's id in the site config.
    pub camera_id: String,
    /// The source the frames came from (file path or URI), as shown in events.
    pub source: String,
    /// The source's identity in event ids (see [`crate::sighting::PlateSighting::source_key`]).
    pub source_key: String,
    /// Track number, unique per camera and source.
    pub track_id: u64,
    /// Media time of the first analysed frame of the track.
    pub first_seen: MediaTime,
    /// Media time of the last analysed frame of the track.
    pub last_seen: MediaTime,
    /// Wall-clock time of the sighting (of its first frame): the time the order is checked at.
    pub wall_time: WallTime,
    /// The faces that were searched, in frame order: only those at or above the site's minimum
    /// quality. Empty when no face of the track was good enough; the rule then matches nobody.
    pub faces: Vec<FaceUsed>,
    /// The best match over `faces` (the top subject of the watchlist search), if the watchlist
    /// is not empty; whether it is good enough is the rule's decision.
    pub best_match: Option<FaceMatch>,
    /// Evidence images, for callers that carry them with the sighting; replay keeps them beside
    /// the sighting (in its held breach) and leaves this `None`.
    pub images: Option<SightingImages>,
}
