//! The face path's tracking: faces linked across analysed frames into tracks, so that a person
//! passing a camera is matched once, with the best faces of the whole passage.
//!
//! Association is greedy on the overlap of the face box with the track's predicted box, gated
//! by appearance: a face whose embedding is far from the track's best one (cosine below
//! [`FaceTrackerConfig::min_link_similarity`]) starts a new track even where boxes overlap (two
//! people crossing). A track keeps only its `best_k` faces by quality, in memory; when it ends
//! they are matched against the watchlist and then dropped with the track — a face that matches
//! nobody leaves no trace (BRIEF: privacy).

use image::RgbImage;
use passwatch_base::time::MediaTime;
use passwatch_face_matcher::{BBox, DetectedFace, Embedding};

/// Face tracker settings.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceTrackerConfig {
    /// Smallest IoU with a track's predicted box to link. Default 0.2.
    pub min_iou: f32,
    /// Below this cosine to the track's best face, a face is someone else. Default 0.1.
    pub min_link_similarity: f32,
    /// A track not seen for this long ends. Default 1.0 s.
    pub max_gap: MediaTime,
    /// Faces kept per track for matching, best quality first. Default 5 (the site's
    /// `faces.max_faces` overrides it in replay).
    pub best_k: usize,
    /// Faces below this quality are not kept (they still extend the track); the site's
    /// `faces.min_quality` is applied again when matching. Default 0.05.
    pub min_quality: f32,
}

impl Default for FaceTrackerConfig {
    fn default() -> Self {
        FaceTrackerConfig {
            min_iou: 0.2,
            min_link_similarity: 0.1,
            max_gap: MediaTime::from_secs_f64(1.0),
            best_k: 5,
            min_quality: 0.05,
        }
    }
}

/// One face kept by a track for matching.
#[derive(Clone, Debug)]
pub struct TrackFace {
    /// Media time of its frame.
    pub media_time: MediaTime,
    /// Its box in that frame.
    pub bbox_in_frame: BBox,
    /// Its quality score.
    pub quality: f32,
    /// Its embedding (in memory only).
    pub embedding: Embedding,
    /// Index of this face among the faces of its frame (for blurring the others).
    pub index_in_frame: usize,
    /// The frame, kept only for the best face of the track (evidence, if it comes to that).
    pub frame: Option<std::sync::Arc<RgbImage>>,
    /// Every face box of that frame (to blur all but this one in evidence).
    pub faces_in_frame: Vec<BBox>,
}

/// A person followed across frames.
#[derive(Clone, Debug)]
pub struct FaceTrack {
    /// Number, unique within the tracker.
    pub id: u64,
    /// Media time of the first face.
    pub first_seen: MediaTime,
    /// Media time of the last face.
    pub last_seen: MediaTime,
    /// Faces seen in all.
    pub faces_seen: u64,
    /// The best faces, best quality first (at most `best_k`).
    pub best: Vec<TrackFace>,
    last_box: BBox,
    velocity: (f32, f32),
}

impl FaceTrack {
    fn predicted(&self, at: MediaTime) -> BBox {
        let dt = (at.as_secs_f64() - self.last_seen.as_secs_f64()).clamp(0.0, 2.0) as f32;
        BBox::new(
            self.last_box.x + self.velocity.0 * dt,
            self.last_box.y + self.velocity.1 * dt,
            self.last_box.w,
            self.last_box.h,
        )
    }

    /// The embedding of the best face.
    pub fn best_embedding(&self) -> Option<&Embedding> {
        self.best.first().map(|f| &f.embedding)
    }
}

/// Links faces frame by frame; hands back the tracks that end.
#[derive(Debug)]
pub struct FaceTracker {
    config: FaceTrackerConfig,
    active: Vec<FaceTrack>,
    next_id: u64,
}

impl FaceTracker {
    /// An empty tracker.
    pub fn new(config: FaceTrackerConfig) -> Self {
        FaceTracker {
            config,
            active: Vec::new(),
            next_id: 1,
        }
    }

    /// Tracks still open.
    pub fn active(&self) -> &[FaceTrack] {
        &self.active
    }

    /// Adds one analysed frame's faces; returns the tracks that ended by this frame's time.
    pub fn update(
        &mut self,
        media_time: MediaTime,
        frame: &RgbImage,
        faces: Vec<DetectedFace>,
    ) -> Vec<FaceTrack> {
        let boxes: Vec<BBox> = faces.iter().map(|f| f.face.bbox_in_frame).collect();
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.active.iter().enumerate() {
            let predicted = t.predicted(media_time);
            for (fi, f) in faces.iter().enumerate() {
                let iou = predicted
                    .iou(&f.face.bbox_in_frame)
                    .max(t.last_box.iou(&f.face.bbox_in_frame));
                if iou < self.config.min_iou {
                    continue;
                }
                let sim = t
                    .best_embedding()
                    .and_then(|e| e.cosine(&f.embedding).ok())
                    .unwrap_or(1.0);
                if sim < self.config.min_link_similarity {
                    continue;
                }
                pairs.push((iou + sim, ti, fi));
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut track_used = vec![false; self.active.len()];
        let mut slot: Vec<Option<usize>> = vec![None; faces.len()];
        for (_, ti, fi) in pairs {
            if !track_used[ti] && slot[fi].is_none() {
                track_used[ti] = true;
                slot[fi] = Some(ti);
            }
        }
        // The frame is copied only if a face of it becomes the best of its track.
        let mut shared_frame: Option<std::sync::Arc<RgbImage>> = None;
        for (fi, f) in faces.into_iter().enumerate() {
            let ti = match slot[fi] {
                Some(ti) => ti,
                None => {
                    self.active.push(FaceTrack {
                        id: self.next_id,
                        first_seen: media_time,
                        last_seen: media_time,
                        faces_seen: 0,
                        best: Vec::new(),
                        last_box: f.face.bbox_in_frame,
                        velocity: (0.0, 0.0),
                    });
                    self.next_id += 1;
                    self.active.len() - 1
                }
            };
            let t = &mut self.active[ti];
            let dt = (media_time.as_secs_f64() - t.last_seen.as_secs_f64()) as f32;
            if dt > 0.0 {
                let (a, b) = (t.last_box.centre(), f.face.bbox_in_frame.centre());
                t.velocity = ((b.x - a.x) / dt, (b.y - a.y) / dt);
            }
            t.last_box = f.face.bbox_in_frame;
            t.last_seen = media_time;
            t.faces_seen += 1;
            if f.quality.score < self.config.min_quality {
                continue;
            }
            let candidate = TrackFace {
                media_time,
                bbox_in_frame: f.face.bbox_in_frame,
                quality: f.quality.score,
                embedding: f.embedding,
                index_in_frame: fi,
                frame: None,
                faces_in_frame: boxes.clone(),
            };
            insert_best(&mut t.best, candidate, self.config.best_k);
            // Only the best face keeps its frame, for evidence.
            for (k, face) in t.best.iter_mut().enumerate() {
                if k == 0 {
                    if face.frame.is_none()
                        && face.media_time == media_time
                        && face.index_in_frame == fi
                    {
                        let f =
                            shared_frame.get_or_insert_with(|| std::sync::Arc::new(frame.clone()));
                        face.frame = Some(f.clone());
                    }
                } else {
                    face.frame = None;
                }
            }
        }
        self.expire(media_time)
    }

    /// Ends the tracks not seen for `max_gap` by `now`.
    pub fn expire(&mut self, now: MediaTime) -> Vec<FaceTrack> {
        let gap = self.config.max_gap.as_nanos();
        let (ended, active): (Vec<FaceTrack>, Vec<FaceTrack>) = std::mem::take(&mut self.active)
            .into_iter()
            .partition(|t| now.as_nanos().saturating_sub(t.last_seen.as_nanos()) > gap);
        self.active = active;
        ended
    }

    /// Ends every open track (the source ended).
    pub fn finish(&mut self) -> Vec<FaceTrack> {
        std::mem::take(&mut self.active)
    }
}

fn insert_best(best: &mut Vec<TrackFace>, face: TrackFace, k: usize) {
    let pos = best
        .iter()
        .position(|b| face.quality > b.quality)
        .unwrap_or(best.len());
    if pos < k {
        best.insert(pos, face);
        best.truncate(k);
    }
}
