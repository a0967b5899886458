//! Tracking: plate observations linked across analysed frames into tracks, and a track's reads
//! combined into one sighting when it ends.
//!
//! Association is greedy on a score that combines the overlap of the observation's box with the
//! track's *predicted* box (last box moved by the track's velocity, so a fast approaching car at
//! a low analysis rate is still linked) and the similarity of the texts: a read far from the
//! track's text is never linked, whatever the overlap (two plates at the same place one after
//! the other — a cut in a recording, a queue at a gate — are two vehicles). A track ends when it
//! has not been seen for `max_gap` of media time, or when its source ends; its reads then go to
//! the consensus vote (`passwatch_plate_reader::consensus`).

use image::RgbImage;
use passwatch_base::time::{MediaTime, WallTime};
use passwatch_plate_reader::consensus::{vote, Consensus, ReadObservation};
use passwatch_plate_reader::formats::PlateFormats;
use passwatch_plate_reader::geometry::BBox;
use passwatch_plate_reader::reader::PlateObservation;
use passwatch_plate_reader::text::plate_distance;
use passwatch_rules::sighting::{PlateRead, PlateSighting};

/// How often the detector runs, and how far around a track its plate is looked for.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateSchedule {
    /// The detector runs on one analysed frame in this many (1 = every frame). Default 2:
    /// measured on `plates_dev.mp4` at 5 analysed frames/s, every other frame gives the same
    /// consensus accuracy (83.8%), one more plate with exactly one sighting (71 of 74 against
    /// 70: tracked reads carry a plate the detector sees only once) and half the detector time.
    pub detect_every: u32,
    /// A tracked region is the predicted box grown by this share of its size on each side.
    /// Default 0.6.
    pub grow: f32,
    /// Only tracks seen within this long are read around. Default 0.5 s; never less than one
    /// and a half analysed-frame intervals, so that at a low analysis rate (2 fps: frames
    /// 0.5 s apart) a track seen on the previous analysed frame still counts as recent.
    pub recent: MediaTime,
}

impl Default for PlateSchedule {
    fn default() -> Self {
        PlateSchedule {
            detect_every: 2,
            grow: 0.6,
            recent: MediaTime::from_secs_f64(0.5),
        }
    }
}

/// IoU above which the overlap alone vouches for a plate's identity (see `Tracker::update`).
const STRONG_OVERLAP: f32 = 0.5;

/// Tracker settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackerConfig {
    /// Smallest IoU between an observation and a track's predicted box to link them on overlap
    /// alone. Default 0.2.
    pub min_iou: f32,
    /// A track not seen for this long is closed. Default 1.2 s.
    pub max_gap: MediaTime,
    /// Reads further apart than this (confusable-aware edit cost) are never the same plate.
    /// Default 2.5.
    pub max_text_cost: f32,
    /// Tracks with fewer reads raise no sighting (one read can be a sign or a reflection).
    /// Default 2.
    pub min_reads: usize,
    /// When the plate detector runs, and how tracked plates are read in between.
    pub schedule: PlateSchedule,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            min_iou: 0.2,
            max_gap: MediaTime::from_secs_f64(1.2),
            max_text_cost: 2.5,
            min_reads: 2,
            schedule: PlateSchedule::default(),
        }
    }
}

/// One read kept in a track.
#[derive(Clone, Debug)]
pub struct TrackRead {
    /// Media time of the frame.
    pub media_time: MediaTime,
    /// Index of the frame in its source.
    pub frame_index: u64,
    /// Box in frame pixels.
    pub bbox_in_frame: BBox,
    /// The read, as the consensus vote takes it.
    pub observation: ReadObservation,
    /// How plate-like the read was.
    pub plate_score: f32,
    /// The recogniser's step distributions of the read, for the probability of a plate
    /// ([`passwatch_plate_reader::likelihood`]).
    pub lattice: Option<std::sync::Arc<passwatch_plate_reader::likelihood::CtcLattice>>,
}

/// The best evidence of a track: the crop and frame of its most plate-like read.
#[derive(Clone, Debug)]
pub struct TrackEvidence {
    /// Rectified plate crop.
    pub crop: RgbImage,
    /// The whole frame.
    pub frame: RgbImage,
    /// Media time of that frame.
    pub media_time: MediaTime,
    /// Its plate score.
    pub plate_score: f32,
}

/// A plate followed across frames.
#[derive(Clone, Debug)]
pub struct Track {
    /// Number, unique within the tracker.
    pub id: u64,
    /// Reads in frame order.
    pub reads: Vec<TrackRead>,
    /// Best evidence so far.
    pub evidence: Option<TrackEvidence>,
    velocity: (f32, f32),
}

impl Track {
    /// Media time of the first read.
    pub fn first_seen(&self) -> MediaTime {
        self.reads.first().map_or(MediaTime::ZERO, |r| r.media_time)
    }

    /// Media time of the last read.
    pub fn last_seen(&self) -> MediaTime {
        self.reads.last().map_or(MediaTime::ZERO, |r| r.media_time)
    }

    fn last_box(&self) -> BBox {
        self.reads
            .last()
            .map_or(BBox::default(), |r| r.bbox_in_frame)
    }

    /// The last box moved by the track's velocity (pixels per second) to `at`.
    fn predicted_box(&self, at: MediaTime) -> BBox {
        let b = self.last_box();
        let dt = at.as_secs_f64() - self.last_seen().as_secs_f64();
        let dt = dt.clamp(0.0, 2.0) as f32;
        BBox::new(
            b.x + self.velocity.0 * dt,
            b.y + self.velocity.1 * dt,
            b.w,
            b.h,
        )
    }

    /// The text of the track's most plate-like read so far.
    pub fn best_text(&self) -> &str {
        self.reads
            .iter()
            .max_by(|a, b| a.plate_score.total_cmp(&b.plate_score))
            .map_or("", |r| r.observation.text.as_str())
    }

    /// Combines the reads into one plate.
    pub fn consensus(&self, formats: &PlateFormats, regions: &[&str]) -> Option<Consensus> {
        let obs: Vec<ReadObservation> = self.reads.iter().map(|r| r.observation.clone()).collect();
        vote(&obs, formats, regions)
    }
}

/// Links observations frame by frame and hands back the tracks that end.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    active: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Self {
        Tracker {
            config,
            active: Vec::new(),
            next_id: 1,
        }
    }

    /// The settings.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Tracks still open.
    pub fn active(&self) -> &[Track] {
        &self.active
    }

    /// Adds one analysed frame's observations; returns the tracks that ended (not seen for
    /// `max_gap` by this frame's time). `frame` is kept as evidence when a read is the best of
    /// its track so far.
    pub fn update(
        &mut self,
        media_time: MediaTime,
        frame_index: u64,
        frame: &RgbImage,
        observations: Vec<PlateObservation>,
    ) -> Vec<Track> {
        // Candidate pairs, best first.
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, t) in self.active.iter().enumerate() {
            let predicted = t.predicted_box(media_time);
            let last = t.last_box();
            let best_text = t.best_text();
            for (oi, o) in observations.iter().enumerate() {
                let cost = plate_distance(best_text, &o.text);
                let iou = predicted
                    .iou(&o.bbox_in_frame)
                    .max(last.iou(&o.bbox_in_frame));
                // Where the boxes overlap strongly, the place vouches for the plate: a misread of
                // half its characters is still the same plate (a different plate in the same
                // place within `max_gap` differs in nearly every character).
                let max_cost = if iou >= STRONG_OVERLAP {
                    self.config
                        .max_text_cost
                        .max(0.5 * best_text.chars().count().max(o.text.chars().count()) as f32)
                } else {
                    self.config.max_text_cost
                };
                if cost > max_cost {
                    continue;
                }
                // Without overlap, a very similar read close by (within two plate widths) is
                // still the same plate: motion at a low analysis rate can outrun IoU.
                let near =
                    centre_distance(&last, &o.bbox_in_frame) < 2.0 * last.w.max(o.bbox_in_frame.w);
                let score = if iou >= self.config.min_iou {
                    iou + 1.0 - cost / (max_cost + 1.0)
                } else if near && cost <= 1.0 {
                    0.5 - cost * 0.1
                } else {
                    continue;
                };
                pairs.push((score, ti, oi));
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut track_used = vec![false; self.active.len()];
        let mut obs_slot: Vec<Option<usize>> = vec![None; observations.len()];
        for (_, ti, oi) in pairs {
            if track_used[ti] || obs_slot[oi].is_some() {
                continue;
            }
            track_used[ti] = true;
            obs_slot[oi] = Some(ti);
        }
        for (oi, o) in observations.into_iter().enumerate() {
            let read = TrackRead {
                media_time,
                frame_index,
                bbox_in_frame: o.bbox_in_frame,
                observation: observation_of(&o),
                plate_score: o.plate_score,
                lattice: o.lattice.clone(),
            };
            let ti = match obs_slot[oi] {
                Some(ti) => ti,
                None => {
                    self.active.push(Track {
                        id: self.next_id,
                        reads: Vec::new(),
                        evidence: None,
                        velocity: (0.0, 0.0),
                    });
                    self.next_id += 1;
                    self.active.len() - 1
                }
            };
            let track = &mut self.active[ti];
            if let Some(prev) = track.reads.last() {
                let dt = (media_time.as_secs_f64() - prev.media_time.as_secs_f64()) as f32;
                if dt > 0.0 {
                    let (a, b) = (prev.bbox_in_frame.centre(), o.bbox_in_frame.centre());
                    track.velocity = ((b.x - a.x) / dt, (b.y - a.y) / dt);
                }
            }
            if track
                .evidence
                .as_ref()
                .is_none_or(|e| o.plate_score > e.plate_score)
            {
                track.evidence = Some(TrackEvidence {
                    crop: o.crop,
                    frame: frame.clone(),
                    media_time,
                    plate_score: o.plate_score,
                });
            }
            track.reads.push(read);
        }
        self.expire(media_time)
    }

    /// Where the open tracks' plates are expected at `at` (their last boxes moved by their
    /// velocities), for tracks seen within `recent`.
    /// Each comes with the track's best text so far.
    pub fn predicted_boxes(&self, at: MediaTime, recent: MediaTime) -> Vec<(BBox, String)> {
        self.active
            .iter()
            .filter(|t| at.as_nanos().saturating_sub(t.last_seen().as_nanos()) <= recent.as_nanos())
            .map(|t| (t.predicted_box(at), t.best_text().to_string()))
            .collect()
    }

    /// Closes the tracks not seen for `max_gap` by `now`.
    pub fn expire(&mut self, now: MediaTime) -> Vec<Track> {
        let gap = self.config.max_gap.as_nanos();
        let (ended, active): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.active)
            .into_iter()
            .partition(|t| now.as_nanos().saturating_sub(t.last_seen().as_nanos()) > gap);
        self.active = active;
        ended
    }

    /// Closes every open track (the source ended or restarted).
    pub fn finish(&mut self) -> Vec<Track> {
        std::mem::take(&mut self.active)
    }
}

fn centre_distance(a: &BBox, b: &BBox) -> f32 {
    let (p, q) = (a.centre(), b.centre());
    (p.x - q.x).hypot(p.y - q.y)
}

/// The consensus input for one observation: its final text (possibly a format-fitting variant
/// of the raw read, same length), per-character confidences from the raw read, and a weight that
/// favours plate-like reads of large crops (small crops are read worse).
fn observation_of(o: &PlateObservation) -> ReadObservation {
    let mut r = ReadObservation::from_ctc(&o.read, 1.0);
    r.text = o.text.clone();
    let size = (o.crop.height() as f32 / 32.0).clamp(0.25, 1.0);
    r.weight = (o.plate_score * size).max(1e-3);
    r
}

/// Whether a track has enough reads to be a sighting.
pub fn is_sighting(track: &Track, config: &TrackerConfig) -> bool {
    track.reads.len() >= config.min_reads
}
impl Track {
    /// The sighting of this closed track with its consensus, without images (the caller adds
    /// the evidence only when the rules ask for it). `start` maps media time to wall time.
    pub fn sighting(
        &self,
        consensus: &passwatch_plate_reader::consensus::Consensus,
        camera_id: &str,
        source: &str,
        source_key: &str,
        start: WallTime,
    ) -> PlateSighting {
        let track = self;
        PlateSighting {
            camera_id: camera_id.to_string(),
            source: source.to_string(),
            source_key: source_key.to_string(),
            track_id: track.id,
            first_seen: track.first_seen(),
            last_seen: track.last_seen(),
            wall_time: track.first_seen().to_wall(start),
            plate: consensus.text.clone(),
            region: consensus.region.clone(),
            confidence: consensus.confidence,
            reads: track
                .reads
                .iter()
                .map(|r| PlateRead {
                    media_time: r.media_time,
                    text: r.observation.text.clone(),
                    confidence: r.observation.confidence,
                    bbox_in_frame: r.bbox_in_frame,
                    weight: r.observation.weight,
                    lattice: r.lattice.clone(),
                })
                .collect(),
            images: None,
        }
    }
}
