//! Face quality: how useful a detected face is for recognition, from its size, its sharpness
//! and its pose, as one score in 0..1 plus the measurements behind it.
//!
//! It serves two purposes:
//! - **Enrolment** ([`EnrolmentCheck`]): a reference photo is accepted only with exactly one
//!   usable face; otherwise it is rejected with a reason (`no_face`, `several_faces`,
//!   `too_small`, `too_blurred`, `bad_pose`) and the value measured against its threshold, so the
//!   operator knows what to fix.
//! - **Tracks** ([`best_k`]): of the many frames a person is seen in, embed and match the few
//!   best.
//!
//! # Measurements
//! - **Size**: the distance between the eyes in *frame* pixels (`eye_distance_px`). It says how
//!   much real detail the aligned crop holds: the template puts the eyes 35 px apart in the
//!   112×112 crop, so a face with eyes 17 px apart is blown up twice.
//! - **Sharpness**: the variance of the 4-neighbour Laplacian of the grey aligned crop, over the
//!   inner face (x 24..88, y 32..104 of the crop, so the black border of a face cut by the frame
//!   edge and the background do not count). Measured on the aligned crop so that faces of every
//!   size are compared at one scale, which is also the scale the embedder sees; a small face
//!   blown up by alignment is rightly less sharp.
//! - **Pose**, from the landmarks alone: *roll* is the angle of the eye line in degrees; *yaw* is
//!   the nose tip's signed distance from the line through the eye midpoint and the mouth
//!   midpoint, in eye distances (0 when frontal, about ±0.5 near profile); *pitch* is the
//!   eye-midpoint-to-mouth-midpoint distance over the eye distance (about 1.05 for a level,
//!   frontal face with YuNet's landmarks; it shrinks as the head tips back or forward).
//!
//! # Enrolment limits
//! The defaults of [`EnrolmentCheck`] were set from the fixtures, not tuned to single files: on
//! the 503 LFW photos (250×250, faces ≈ 110 px) the eye distance has its 1st percentile at
//! 29 px, sharpness at 40 (minimum 18), |yaw| its 95th percentile at 0.32, pitch its 1st and
//! 99th percentiles at 0.89 and 1.46, |roll| its 99th at 17°. A photo blurred with a Gaussian of
//! σ ≈ a tenth of the eye distance falls to a sharpness of 2–6; one shrunk until the face is
//! 40 px tall has eyes 8–15 px apart.

use crate::align::AlignedFace;
use crate::detect::Face;
use crate::geometry::Point;
use crate::DetectedFace;
use serde::Serialize;

/// Eye-to-mouth over eye distance of a level, frontal face *with YuNet's landmarks*: the median
/// over the LFW fixture is 1.00–1.07 (depending on the detector's input scale). The ArcFace
/// template's own ratio is 1.154, but its landmarks were placed by another detector, whose
/// mouth corners sit lower.
pub const FRONTAL_PITCH_RATIO: f32 = 1.05;

/// How measurements become the 0..1 quality score.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Eye distance (frame px) that scores 0 for size. Default 8.
    pub eye_distance_floor_px: f32,
    /// Eye distance (frame px) from which size scores 1. Default 40.
    pub eye_distance_full_px: f32,
    /// Laplacian variance that scores 0 for sharpness. Default 5.
    pub sharpness_floor: f32,
    /// Laplacian variance from which sharpness scores 1. Default 150.
    pub sharpness_full: f32,
    /// Roll (degrees) at which the pose score reaches 0. Default 45.
    pub roll_limit_deg: f32,
    /// Yaw (eye distances) at which the pose score reaches 0. Default 0.6.
    pub yaw_limit: f32,
    /// Pitch ratio deviation from frontal at which the pose score reaches 0. Default 0.8.
    pub pitch_limit: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            eye_distance_floor_px: 8.0,
            eye_distance_full_px: 40.0,
            sharpness_floor: 5.0,
            sharpness_full: 150.0,
            roll_limit_deg: 45.0,
            yaw_limit: 0.6,
            pitch_limit: 0.8,
        }
    }
}

/// A face's quality: the score and what it was made from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Quality {
    /// Overall quality in 0..1: the product of the size, sharpness and pose scores.
    pub score: f32,
    /// Size score, 0..1.
    pub size_score: f32,
    /// Sharpness score, 0..1.
    pub sharpness_score: f32,
    /// Pose score, 0..1.
    pub pose_score: f32,
    /// Distance between the eyes, frame pixels.
    pub eye_distance_px: f32,
    /// Face box height, frame pixels.
    pub face_height_px: f32,
    /// Variance of the Laplacian of the aligned grey face.
    pub sharpness: f32,
    /// Eye line angle, degrees (positive: the image-right eye is lower).
    pub roll_deg: f32,
    /// Nose offset from the eye–mouth midline, in eye distances (signed; 0 = frontal).
    pub yaw: f32,
    /// Eye-to-mouth over eye distance (≈ 1.15 frontal).
    pub pitch: f32,
}

/// The pose measurements of five landmarks: (roll in degrees, yaw, pitch ratio).
pub fn pose(landmarks: &[Point; 5]) -> (f32, f32, f32) {
    let [le, re, nose, lm, rm] = *landmarks;
    let eye_d = le.distance(re).max(1e-3);
    let roll = (re.y - le.y).atan2(re.x - le.x).to_degrees();
    let eyes = le.midpoint(re);
    let mouth = lm.midpoint(rm);
    let axis = (mouth.x - eyes.x, mouth.y - eyes.y);
    let axis_len = axis.0.hypot(axis.1).max(1e-3);
    // Signed perpendicular distance of the nose from the eye–mouth line: the 2-D cross product
    // of the unit axis with (nose − eyes). With y down and the axis pointing down the face, a
    // positive value is a nose towards the image's left.
    let cross = (axis.0 * (nose.y - eyes.y) - axis.1 * (nose.x - eyes.x)) / axis_len;
    (roll, cross / eye_d, axis_len / eye_d)
}

/// Variance of the 4-neighbour Laplacian of the aligned face's grey levels over the inner face
/// (see the module docs).
pub fn sharpness(aligned: &AlignedFace) -> f32 {
    let img = aligned.image();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let raw = img.as_raw();
    let grey: Vec<f32> = raw
        .chunks_exact(3)
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect();
    // The inner face in 112-pixel template coordinates, scaled if the crop has another size.
    let sx = |v: usize| v * w / 112;
    let sy = |v: usize| v * h / 112;
    let (x0, x1, y0, y1) = (
        sx(24).max(1),
        sx(88).min(w - 1),
        sy(32).max(1),
        sy(104).min(h - 1),
    );
    let (mut sum, mut sum2, mut n) = (0.0f64, 0.0f64, 0usize);
    for y in y0..y1 {
        for x in x0..x1 {
            let c = grey[y * w + x];
            let lap = grey[y * w + x - 1]
                + grey[y * w + x + 1]
                + grey[(y - 1) * w + x]
                + grey[(y + 1) * w + x]
                - 4.0 * c;
            sum += lap as f64;
            sum2 += (lap * lap) as f64;
            n += 1;
        }
    }
    if n == 0 {
        return 0.0;
    }
    let mean = sum / n as f64;
    (sum2 / n as f64 - mean * mean).max(0.0) as f32
}

/// `0` at `floor`, `1` from `full`, linear between.
fn ramp(v: f32, floor: f32, full: f32) -> f32 {
    if full <= floor {
        return if v >= full { 1.0 } else { 0.0 };
    }
    ((v - floor) / (full - floor)).clamp(0.0, 1.0)
}

/// Measures a detected face and its aligned crop.
pub fn assess(face: &Face, aligned: &AlignedFace, config: &QualityConfig) -> Quality {
    let eye_distance_px = face.eye_distance();
    let sharp = sharpness(aligned);
    let (roll_deg, yaw, pitch) = pose(&face.landmarks_in_frame);
    let size_score = ramp(
        eye_distance_px,
        config.eye_distance_floor_px,
        config.eye_distance_full_px,
    );
    // Sharpness spans orders of magnitude between a blurred and a crisp face: ramp its log.
    let sharpness_score = ramp(
        sharp.max(1e-3).ln(),
        config.sharpness_floor.max(1e-3).ln(),
        config.sharpness_full.max(1e-3).ln(),
    );
    let falloff = |v: f32, limit: f32| (1.0 - (v / limit.max(1e-6)).powi(2)).max(0.0);
    let pose_score = falloff(roll_deg.abs(), config.roll_limit_deg)
        * falloff(yaw.abs(), config.yaw_limit)
        * falloff((pitch - FRONTAL_PITCH_RATIO).abs(), config.pitch_limit);
    Quality {
        score: size_score * sharpness_score * pose_score,
        size_score,
        sharpness_score,
        pose_score,
        eye_distance_px,
        face_height_px: face.bbox_in_frame.h,
        sharpness: sharp,
        roll_deg,
        yaw,
        pitch,
    }
}

/// The indices of the `k` items of best quality, best first (ties: earlier item first), e.g.
/// the frames of a track worth embedding.
pub fn best_k<T>(items: &[T], k: usize, quality: impl Fn(&T) -> f32) -> Vec<usize> {
    let mut order: Vec<(usize, f32)> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (i, quality(it)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    order.into_iter().take(k).map(|(i, _)| i).collect()
}

/// Why an enrolment photo was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// No face was found.
    NoFace,
    /// More than one face of comparable size: it is not clear whose photo it is.
    SeveralFaces,
    /// The face is too small to hold enough detail.
    TooSmall,
    /// The face is too blurred.
    TooBlurred,
    /// The head is turned or tilted too far.
    BadPose,
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RejectReason::NoFace => "no_face",
            RejectReason::SeveralFaces => "several_faces",
            RejectReason::TooSmall => "too_small",
            RejectReason::TooBlurred => "too_blurred",
            RejectReason::BadPose => "bad_pose",
        })
    }
}

/// An enrolment refusal: the reason, and the value that failed against its limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
    /// What was measured (`faces`, `eye_distance_px`, `sharpness`, `roll_deg`, `yaw`, `pitch`).
    pub measure: &'static str,
    /// The measured value.
    pub measured: f32,
    /// The limit it failed: a minimum for `eye_distance_px` and `sharpness`, a maximum (of the
    /// absolute value for roll and yaw) otherwise; for `pitch` the bound of the allowed range
    /// that was crossed.
    pub threshold: f32,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} is {:.3} (limit {:.3})",
            self.reason, self.measure, self.measured, self.threshold
        )
    }
}

/// The outcome of an enrolment check.
#[derive(Clone, Debug)]
pub enum Enrolment {
    /// Exactly one good face: its crop, embedding and quality.
    Accepted(Box<DetectedFace>),
    /// Refused, with the reason.
    Rejected(Rejection),
}

impl Enrolment {
    /// The rejection, if refused.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Enrolment::Rejected(r) => Some(r),
            Enrolment::Accepted(_) => None,
        }
    }
}

/// The rules an enrolment photo must pass. Checked in this order: one face, size, pose,
/// sharpness (the first failure is the reason given).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrolmentCheck {
    /// Minimum eye distance in photo pixels. Default 24: below it the crop (35 px between the
    /// eyes) is blown up by more than 1.5×, so it is mostly interpolation.
    pub min_eye_distance_px: f32,
    /// Minimum Laplacian variance of the aligned face. Default 20.
    pub min_sharpness: f32,
    /// Maximum |roll|, degrees. Default 30 (alignment undoes roll; this only catches faces
    /// lying on their side, where landmarks get unreliable).
    pub max_roll_deg: f32,
    /// Maximum |yaw| (nose offset in eye distances). Default 0.3 (roughly 35–40° of head
    /// turn).
    pub max_yaw: f32,
    /// Allowed pitch ratio range. Default 0.75..=1.6.
    pub pitch_range: (f32, f32),
    /// A second face counts as another person in the photo when its box is at least this share
    /// of the largest face's height; smaller faces (people far behind) are ignored. Default 0.5.
    pub other_face_min_ratio: f32,
}

impl Default for EnrolmentCheck {
    fn default() -> Self {
        EnrolmentCheck {
            min_eye_distance_px: 24.0,
            min_sharpness: 20.0,
            max_roll_deg: 30.0,
            max_yaw: 0.3,
            pitch_range: (0.75, 1.6),
            other_face_min_ratio: 0.5,
        }
    }
}

impl EnrolmentCheck {
    /// Checks an enrolment photo with `matcher`: the single good face (aligned crop, embedding,
    /// quality), or the reason it is refused. Same as [`crate::FaceMatcher::check_enrolment`].
    pub fn check(
        &self,
        matcher: &mut crate::FaceMatcher,
        photo: &image::RgbImage,
    ) -> Result<Enrolment, crate::FaceError> {
        matcher.check_enrolment(photo, self)
    }

    /// Judges the faces found in one enrolment photo.
    pub fn judge(&self, mut faces: Vec<DetectedFace>) -> Enrolment {
        let reject = |reason, measure, measured: f32, threshold: f32| {
            Enrolment::Rejected(Rejection {
                reason,
                measure,
                measured,
                threshold,
            })
        };
        let Some(largest) = faces
            .iter()
            .map(|f| f.face.bbox_in_frame.h)
            .max_by(f32::total_cmp)
        else {
            return reject(RejectReason::NoFace, "faces", 0.0, 1.0);
        };
        let comparable = faces
            .iter()
            .filter(|f| f.face.bbox_in_frame.h >= self.other_face_min_ratio * largest)
            .count();
        if comparable > 1 {
            return reject(RejectReason::SeveralFaces, "faces", comparable as f32, 1.0);
        }
        let i = faces
            .iter()
            .position(|f| f.face.bbox_in_frame.h == largest)
            .unwrap_or(0);
        let face = faces.swap_remove(i);
        let q = &face.quality;
        if q.eye_distance_px.is_nan() || q.eye_distance_px < self.min_eye_distance_px {
            return reject(
                RejectReason::TooSmall,
                "eye_distance_px",
                q.eye_distance_px,
                self.min_eye_distance_px,
            );
        }
        if q.roll_deg.abs() > self.max_roll_deg {
            return reject(
                RejectReason::BadPose,
                "roll_deg",
                q.roll_deg,
                self.max_roll_deg,
            );
        }
        if q.yaw.abs() > self.max_yaw {
            return reject(RejectReason::BadPose, "yaw", q.yaw, self.max_yaw);
        }
        let (lo, hi) = self.pitch_range;
        if q.pitch < lo {
            return reject(RejectReason::BadPose, "pitch", q.pitch, lo);
        }
        if q.pitch > hi {
            return reject(RejectReason::BadPose, "pitch", q.pitch, hi);
        }
        if q.sharpness.is_nan() || q.sharpness < self.min_sharpness {
            return reject(
                RejectReason::TooBlurred,
                "sharpness",
                q.sharpness,
                self.min_sharpness,
            );
        }
        Enrolment::Accepted(Box::new(face))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::ARCFACE_TEMPLATE;
    use image::{Rgb, RgbImage};

    const TEMPLATE_PITCH: f32 = 1.154;

    #[test]
    fn the_template_is_frontal() {
        let (roll, yaw, pitch) = pose(&ARCFACE_TEMPLATE);
        assert!(roll.abs() < 0.5, "{roll}");
        assert!(yaw.abs() < 0.01, "{yaw}");
        assert!((pitch - TEMPLATE_PITCH).abs() < 0.01, "{pitch}");
    }

    #[test]
    fn pose_follows_roll_and_a_shifted_nose() {
        let rot = crate::align::Similarity::new(2.0, 20f32.to_radians(), 10.0, 5.0);
        let (roll, yaw, pitch) = pose(&ARCFACE_TEMPLATE.map(|p| rot.apply(p)));
        assert!((roll - 20.0).abs() < 0.5, "{roll}");
        assert!(yaw.abs() < 0.01 && (pitch - TEMPLATE_PITCH).abs() < 0.01);
        let mut turned = ARCFACE_TEMPLATE;
        turned[2].x += 0.3 * 35.24; // nose towards the image's right
        let (_, yaw, _) = pose(&turned);
        assert!((yaw + 0.3).abs() < 0.02, "{yaw}");
    }

    #[test]
    fn blur_lowers_sharpness() {
        let sharp = RgbImage::from_fn(112, 112, |x, y| {
            Rgb([if (x / 3 + y / 3) % 2 == 0 { 30 } else { 220 }; 3])
        });
        let blurred = image::imageops::blur(&sharp, 3.0);
        let s1 = sharpness(&AlignedFace::from_aligned_image(sharp).unwrap());
        let s2 = sharpness(&AlignedFace::from_aligned_image(blurred).unwrap());
        assert!(s1 > 100.0 * s2.max(1e-3), "{s1} vs {s2}");
        let flat = RgbImage::from_pixel(112, 112, Rgb([90, 90, 90]));
        assert_eq!(
            sharpness(&AlignedFace::from_aligned_image(flat).unwrap()),
            0.0
        );
    }

    #[test]
    fn best_k_picks_the_highest_first_and_breaks_ties_by_order() {
        let q = [0.2, 0.9, 0.5, 0.9, 0.1];
        assert_eq!(best_k(&q, 3, |&v| v), vec![1, 3, 2]);
        assert_eq!(best_k(&q, 10, |&v| v).len(), 5);
        assert!(best_k(&q, 0, |&v| v).is_empty());
    }

    #[test]
    fn ramps_and_scores_stay_in_range() {
        assert_eq!(ramp(5.0, 8.0, 40.0), 0.0);
        assert_eq!(ramp(50.0, 8.0, 40.0), 1.0);
        assert!((ramp(24.0, 8.0, 40.0) - 0.5).abs() < 1e-6);
    }
}
