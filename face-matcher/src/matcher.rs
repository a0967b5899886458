//! [`FaceMatcher`]: detector and embedder together — from a frame to the faces in it, each
//! aligned, measured and embedded, with the time each stage took.

use crate::align::AlignedFace;
use crate::detect::{DetectorConfig, Face, FaceDetector};
use crate::embed::{Embedding, FaceEmbedder};
use crate::quality::{assess, Enrolment, EnrolmentCheck, Quality, QualityConfig};
use crate::FaceError;
use image::RgbImage;
use passwatch_models::{ModelCache, SessionOptions};
use serde::Serialize;
use std::time::{Duration, Instant};

/// One face of a frame, ready for matching.
#[derive(Clone, Debug)]
pub struct DetectedFace {
    /// Where the detector found it (frame pixels).
    pub face: Face,
    /// The 112×112 crop aligned to the ArcFace template.
    pub aligned: AlignedFace,
    /// Its quality.
    pub quality: Quality,
    /// Its embedding (carries the embedder's model id).
    pub embedding: Embedding,
}

/// Settings of the whole face path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaceMatcherConfig {
    /// Detection.
    pub detector: DetectorConfig,
    /// Quality scoring.
    pub quality: QualityConfig,
    /// Faces whose quality score is below this are not embedded (and not returned). Default 0:
    /// every face is embedded; a live camera may raise it to save the embedder's time.
    pub min_quality: f32,
}

/// Time spent per stage, summed over calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StageTimings {
    /// Frames processed.
    pub frames: u64,
    /// Faces aligned and embedded.
    pub faces: u64,
    /// Detection (letterbox, model, decoding), all frames.
    pub detect: Duration,
    /// Alignment and quality, all faces.
    pub align: Duration,
    /// Embedding, all faces.
    pub embed: Duration,
}

impl StageTimings {
    /// Milliseconds of detection per frame.
    pub fn detect_ms_per_frame(&self) -> f64 {
        per(self.detect, self.frames)
    }

    /// Milliseconds of alignment (and quality) per face.
    pub fn align_ms_per_face(&self) -> f64 {
        per(self.align, self.faces)
    }

    /// Milliseconds of embedding per face.
    pub fn embed_ms_per_face(&self) -> f64 {
        per(self.embed, self.faces)
    }
}

fn per(d: Duration, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        d.as_secs_f64() * 1e3 / n as f64
    }
}

/// The face path of one worker: a detector and an embedder (each owns an ONNX Runtime session,
/// so one `FaceMatcher` per inference thread).
pub struct FaceMatcher {
    detector: FaceDetector,
    embedder: FaceEmbedder,
    config: FaceMatcherConfig,
    timings: StageTimings,
}

impl std::fmt::Debug for FaceMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceMatcher")
            .field("detector", &self.detector)
            .field("embedder", &self.embedder)
            .field("min_quality", &self.config.min_quality)
            .finish()
    }
}

impl FaceMatcher {
    /// Loads the default pack's face detector and embedder from the cache.
    pub fn load(
        cache: &ModelCache,
        options: &SessionOptions,
        config: FaceMatcherConfig,
    ) -> Result<Self, FaceError> {
        let detector = FaceDetector::load(cache, options, config.detector.clone())?;
        let embedder = FaceEmbedder::load(cache, options)?;
        Ok(Self::new(detector, embedder, config))
    }

    /// From a detector and an embedder already loaded (the detector's settings are replaced by
    /// `config.detector`).
    pub fn new(
        mut detector: FaceDetector,
        embedder: FaceEmbedder,
        config: FaceMatcherConfig,
    ) -> Self {
        detector.config = config.detector.clone();
        FaceMatcher {
            detector,
            embedder,
            config,
            timings: StageTimings::default(),
        }
    }

    /// The detector.
    pub fn detector(&mut self) -> &mut FaceDetector {
        &mut self.detector
    }

    /// The embedder.
    pub fn embedder(&mut self) -> &mut FaceEmbedder {
        &mut self.embedder
    }

    /// The embedder's model id (a watchlist must be built with the same).
    pub fn embedder_model_id(&self) -> &str {
        self.embedder.model_id()
    }

    /// The detector's model id.
    pub fn detector_model_id(&self) -> &str {
        self.detector.model_id()
    }

    /// Time spent per stage since the matcher was made (or last reset).
    pub fn timings(&self) -> StageTimings {
        self.timings
    }

    /// Sets the stage timings back to zero.
    pub fn reset_timings(&mut self) {
        self.timings = StageTimings::default();
    }

    /// The faces in `frame`: detected, aligned, measured and embedded, best quality first
    /// (ties: left to right). Faces whose landmarks cannot be aligned (degenerate) or whose
    /// quality is below [`FaceMatcherConfig::min_quality`] are left out.
    pub fn faces_in_frame(&mut self, frame: &RgbImage) -> Result<Vec<DetectedFace>, FaceError> {
        let t0 = Instant::now();
        let faces = self.detector.detect(frame)?;
        let t1 = Instant::now();
        let mut kept: Vec<(Face, AlignedFace, Quality)> = Vec::with_capacity(faces.len());
        for face in faces {
            let Some(aligned) = AlignedFace::from_frame(frame, &face.landmarks_in_frame) else {
                tracing::trace!(?face, "degenerate landmarks, face skipped");
                continue;
            };
            let quality = assess(&face, &aligned, &self.config.quality);
            if quality.score < self.config.min_quality {
                continue;
            }
            kept.push((face, aligned, quality));
        }
        let t2 = Instant::now();
        let crops: Vec<AlignedFace> = kept.iter().map(|(_, a, _)| a.clone()).collect();
        let embeddings = self.embedder.embed_batch(&crops)?;
        let t3 = Instant::now();
        self.timings.frames += 1;
        self.timings.faces += kept.len() as u64;
        self.timings.detect += t1 - t0;
        self.timings.align += t2 - t1;
        self.timings.embed += t3 - t2;
        let mut out: Vec<DetectedFace> = kept
            .into_iter()
            .zip(embeddings)
            .map(|((face, aligned, quality), embedding)| DetectedFace {
                face,
                aligned,
                quality,
                embedding,
            })
            .collect();
        out.sort_by(|a, b| {
            b.quality
                .score
                .total_cmp(&a.quality.score)
                .then(a.face.bbox_in_frame.x.total_cmp(&b.face.bbox_in_frame.x))
        });
        Ok(out)
    }

    /// Checks an enrolment photo: the single good face, or the reason it is refused.
    pub fn check_enrolment(
        &mut self,
        photo: &RgbImage,
        check: &EnrolmentCheck,
    ) -> Result<Enrolment, FaceError> {
        // Every face counts here, however poor: a blurred second person still makes the photo
        // ambiguous, and a poor single face must be refused with its reason, not as `no_face`.
        let min_quality = std::mem::replace(&mut self.config.min_quality, 0.0);
        let faces = self.faces_in_frame(photo);
        self.config.min_quality = min_quality;
        Ok(check.judge(faces?))
    }
}
