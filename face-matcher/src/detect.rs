//! Face detection with five landmarks: YuNet (OpenCV model zoo, 2023mar).
//!
//! # Input
//! `[1, 3, 640, 640]` f32, **BGR**, raw 0–255 (no mean, no scaling — the manifest's
//! normalisation is the identity), the frame letterboxed into the **top-left** corner of the
//! canvas and the rest black. The frame is resized (bilinear, OpenCV's `INTER_LINEAR`
//! convention) by `s = min(640 / width, 640 / height)` — enlarged too when it is smaller
//! ([`DetectorConfig::upscale`], on by default). Enlarging adds no detail, but YuNet places
//! landmarks much better on a face it sees large: on the 250×250 LFW fixture, letterboxing
//! without enlarging drops verification accuracy from 99.6% to 98.5% and TAR at FAR 1e-3 from
//! 98.4% to 96.4%, through worse alignment (the eye line of tilted heads comes out level).
//!
//! # Decoding
//! For each stride `s ∈ {8, 16, 32}` the model gives, per anchor `i` of a `640/s × 640/s`
//! grid (`row, col = divmod(i, 640/s)`): `cls_s` and `obj_s` `[1, N, 1]`, `bbox_s` `[1, N, 4]`
//! and `kps_s` `[1, N, 10]`. Then, as OpenCV's `FaceDetectorYN` does:
//! - score = `sqrt(clamp(cls, 0, 1) · clamp(obj, 0, 1))`;
//! - centre = `((col + dx)·s, (row + dy)·s)`, size = `(exp(dw)·s, exp(dh)·s)`;
//! - keypoint k = `((col + kx_k)·s, (row + ky_k)·s)`;
//! - keep scores ≥ [`DetectorConfig::score_threshold`] (0.6), then greedy NMS at IoU
//!   [`DetectorConfig::nms_iou`] (0.3).
//!
//! Boxes and landmarks are then divided by `s` to frame pixels (`bbox_in_frame`,
//! `landmarks_in_frame`), and faces smaller than [`DetectorConfig::min_face_px`] are dropped.
//!
//! # Smallest faces found
//! YuNet's finest grid has a stride of 8 input pixels. Measured here by pasting four fixture
//! faces, shrunk, into grey frames: it finds faces from a box height of about 16 *input*
//! pixels and reliably from about 25. A frame is shrunk by `640 / max(width, height)`, so in
//! frame pixels (face box height):
//!
//! | frame | scale | first found | all four found |
//! |---|---|---|---|
//! | 640×360 | 1 | 12–24 px | 24 px |
//! | 1280×720 | 1/2 | 24–45 px | 45 px |
//! | 1920×1080 | 1/3 | 36–80 px | **80 px** |
//!
//! So on 1080p a face needs to be about 60–80 px tall (eyes ≈ 25 px apart) to be found
//! reliably — the size from which the embedder does well anyway (see [`crate::quality`]). To
//! find smaller faces in a large frame, run the detector on tiles or on a region of interest
//! (not done here). [`DetectorConfig::min_face_px`] then drops what is too small to use.

use crate::geometry::{nms, BBox, Point};
use crate::FaceError;
use image::RgbImage;
use ndarray::Array4;
use passwatch_models::preprocess::{fill, resize_into, Letterbox, Normalise, Placement};
use passwatch_models::{
    DecoderKind, Model, ModelCache, ModelManifest, OutputTensor, Role, SessionOptions,
};
use serde::Serialize;

/// The strides of YuNet's three heads.
pub const STRIDES: [usize; 3] = [8, 16, 32];

/// A face found in a frame.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Face {
    /// The face box, in frame pixels.
    pub bbox_in_frame: BBox,
    /// Five landmarks in frame pixels, in YuNet's order: the eye on the image's left, the other
    /// eye, the nose tip, the image-left and the image-right mouth corner. For a frontal face
    /// the first is the person's right eye.
    pub landmarks_in_frame: [Point; 5],
    /// Detection confidence, 0..1.
    pub score: f32,
}

impl Face {
    /// Distance between the two eyes, in frame pixels (the usual measure of a face's usable
    /// resolution).
    pub fn eye_distance(&self) -> f32 {
        self.landmarks_in_frame[0].distance(self.landmarks_in_frame[1])
    }
}

/// Detector settings.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Minimum face score. Default 0.6 (OpenCV's sample value, the one the reference used).
    pub score_threshold: f32,
    /// NMS IoU threshold. Default 0.3.
    pub nms_iou: f32,
    /// Faces whose box is smaller than this on its shorter side, in frame pixels, are dropped.
    /// Default 12.
    pub min_face_px: f32,
    /// At most this many candidates go into NMS, best first (OpenCV's `top_k`). Default 5000.
    pub max_candidates: usize,
    /// Enlarge frames smaller than the 640×640 input to fill it (see the module docs for why).
    /// Default true.
    pub upscale: bool,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            score_threshold: 0.6,
            nms_iou: 0.3,
            min_face_px: 12.0,
            max_candidates: 5000,
            upscale: true,
        }
    }
}

impl DetectorConfig {
    /// Checks the settings' ranges.
    pub fn validate(&self) -> Result<(), FaceError> {
        let bad = |field: &str, value: String| FaceError::Config {
            field: format!("detector.{field}"),
            what: value,
        };
        if !(0.0..=1.0).contains(&self.score_threshold) {
            return Err(bad(
                "score_threshold",
                format!("{} is not in 0..1", self.score_threshold),
            ));
        }
        if !(0.0..=1.0).contains(&self.nms_iou) {
            return Err(bad("nms_iou", format!("{} is not in 0..1", self.nms_iou)));
        }
        if self.min_face_px.is_nan() || self.min_face_px < 0.0 {
            return Err(bad(
                "min_face_px",
                format!("{} is negative", self.min_face_px),
            ));
        }
        Ok(())
    }
}

/// YuNet face detection (the `face_detector` role).
pub struct FaceDetector {
    model: Model,
    norm: Normalise,
    pad: u8,
    size: (u32, u32),
    /// Settings.
    pub config: DetectorConfig,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector")
            .field("model", &self.model.id())
            .field("size", &self.size)
            .field("config", &self.config)
            .finish()
    }
}

impl FaceDetector {
    /// Loads the default pack's face detector from the cache.
    pub fn load(
        cache: &ModelCache,
        options: &SessionOptions,
        config: DetectorConfig,
    ) -> Result<Self, FaceError> {
        let manifest = ModelManifest::builtin_for(Role::FaceDetector)?;
        Self::new(Model::load(&manifest, cache, options)?, config)
    }

    /// Wraps a loaded YuNet model; its manifest must name the `yunet` decoder, a fixed input
    /// size, and all twelve outputs (checked here, so a short manifest fails at load time and
    /// not on the first frame).
    pub fn new(model: Model, config: DetectorConfig) -> Result<Self, FaceError> {
        config.validate()?;
        let m = model.manifest();
        if m.decoder != DecoderKind::Yunet {
            return Err(FaceError::WrongModel {
                model: m.id.clone(),
                expected: "decoder = \"yunet\"".into(),
                found: format!("{:?}", m.decoder),
            });
        }
        let (Some(w), Some(h)) = (m.fixed_width(), m.fixed_height()) else {
            return Err(FaceError::WrongModel {
                model: m.id.clone(),
                expected: "a fixed input size".into(),
                found: format!("{:?}", m.input.shape),
            });
        };
        for kind in ["cls", "obj", "bbox", "kps"] {
            for s in STRIDES {
                let name = format!("{kind}_{s}");
                if !m.outputs.iter().any(|o| o.name == name) {
                    return Err(FaceError::WrongModel {
                        model: m.id.clone(),
                        expected: format!("output {name:?} in the manifest"),
                        found: format!(
                            "{:?}",
                            m.outputs.iter().map(|o| &o.name).collect::<Vec<_>>()
                        ),
                    });
                }
            }
        }
        Ok(FaceDetector {
            norm: Normalise::from_spec(&m.input),
            pad: m.input.pad.unwrap_or(0),
            size: (w, h),
            model,
            config,
        })
    }

    /// The detector's model id.
    pub fn model_id(&self) -> &str {
        self.model.id()
    }

    /// How a frame of this size is placed in the model input.
    pub fn letterbox(&self, frame_w: u32, frame_h: u32) -> (Letterbox, Placement) {
        let (tw, th) = self.size;
        let fits = frame_w <= tw && frame_h <= th;
        if fits && !self.config.upscale {
            let place = Placement {
                x: 0,
                y: 0,
                w: frame_w,
                h: frame_h,
            };
            let lb = Letterbox {
                scale: 1.0,
                pad_x: 0.0,
                pad_y: 0.0,
            };
            return (lb, place);
        }
        Letterbox::fit(frame_w, frame_h, tw, th, false)
    }

    /// The input's width and height.
    pub fn input_size(&self) -> (u32, u32) {
        self.size
    }

    /// The model's input for a frame (`[1, 3, 640, 640]` values: BGR, raw 0..255, see the
    /// module docs; black padding right and below the frame), and where the frame sits in it.
    pub fn input(&self, frame: &RgbImage) -> (Vec<f32>, Letterbox) {
        let (tw, th) = self.size;
        let (lb, place) = self.letterbox(frame.width(), frame.height());
        let mut data = vec![0.0; 3 * (tw * th) as usize];
        fill(&mut data, &self.norm, self.pad);
        resize_into(frame, &mut data, tw, th, place, &self.norm);
        (data, lb)
    }

    /// The faces in `frame`, best score first.
    pub fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Face>, FaceError> {
        let (fw, fh) = (frame.width(), frame.height());
        if fw == 0 || fh == 0 {
            return Ok(Vec::new());
        }
        let (tw, th) = self.size;
        let (data, lb) = self.input(frame);
        let input =
            Array4::from_shape_vec((1, 3, th as usize, tw as usize), data).map_err(|e| {
                FaceError::Internal {
                    what: format!("detector input: {e}"),
                }
            })?;
        let out = self.model.run(input.into_dyn().view())?;
        let candidates = decode(
            self.model.id(),
            &out,
            tw as usize,
            th as usize,
            &self.config,
        )?;
        Ok(to_frame(candidates, &lb, fw, fh, &self.config))
    }
}

/// A face in model-input pixels, before NMS.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Box in model-input pixels.
    pub bbox_in_input: BBox,
    /// Landmarks in model-input pixels.
    pub landmarks_in_input: [Point; 5],
    /// Score, 0..1.
    pub score: f32,
}

fn output<'a>(model: &str, out: &'a [OutputTensor], name: &str) -> Result<&'a [f32], FaceError> {
    out.iter()
        .find(|o| o.name == name)
        .map(|o| o.data.as_slice())
        .ok_or_else(|| FaceError::UnexpectedOutput {
            model: model.to_string(),
            what: format!("output {name:?} missing"),
        })
}

/// YuNet's raw outputs (looked up by name) → candidates above the score threshold, after NMS,
/// best first, in model-input pixels (see the module docs for the formulas).
pub fn decode(
    model: &str,
    out: &[OutputTensor],
    input_w: usize,
    input_h: usize,
    config: &DetectorConfig,
) -> Result<Vec<Candidate>, FaceError> {
    let mut cands: Vec<Candidate> = Vec::new();
    for s in STRIDES {
        let (cols, rows) = (input_w / s, input_h / s);
        let n = cols * rows;
        let cls = output(model, out, &format!("cls_{s}"))?;
        let obj = output(model, out, &format!("obj_{s}"))?;
        let bbox = output(model, out, &format!("bbox_{s}"))?;
        let kps = output(model, out, &format!("kps_{s}"))?;
        if cls.len() != n || obj.len() != n || bbox.len() != 4 * n || kps.len() != 10 * n {
            return Err(FaceError::UnexpectedOutput {
                model: model.to_string(),
                what: format!(
                    "stride {s}: expected {n} anchors (cls {n}, obj {n}, bbox {}, kps {}), got cls {}, obj {}, bbox {}, kps {}",
                    4 * n,
                    10 * n,
                    cls.len(),
                    obj.len(),
                    bbox.len(),
                    kps.len()
                ),
            });
        }
        let sf = s as f32;
        for i in 0..n {
            let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
            // A NaN score (a broken model) is dropped too.
            if score.is_nan() || score < config.score_threshold {
                continue;
            }
            let (row, col) = ((i / cols) as f32, (i % cols) as f32);
            let b = &bbox[4 * i..4 * i + 4];
            let (cx, cy) = ((col + b[0]) * sf, (row + b[1]) * sf);
            let (w, h) = (b[2].exp() * sf, b[3].exp() * sf);
            if !(cx.is_finite() && cy.is_finite() && w.is_finite() && h.is_finite()) {
                continue;
            }
            let k = &kps[10 * i..10 * i + 10];
            let landmarks_in_input = std::array::from_fn(|j| {
                Point::new((col + k[2 * j]) * sf, (row + k[2 * j + 1]) * sf)
            });
            cands.push(Candidate {
                bbox_in_input: BBox::new(cx - w / 2.0, cy - h / 2.0, w, h),
                landmarks_in_input,
                score,
            });
        }
    }
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    cands.truncate(config.max_candidates);
    let boxes: Vec<(BBox, f32)> = cands.iter().map(|c| (c.bbox_in_input, c.score)).collect();
    Ok(nms(&boxes, config.nms_iou)
        .into_iter()
        .map(|i| cands[i].clone())
        .collect())
}

/// Candidates → faces in frame pixels: undo the letterbox, clip boxes to the frame, drop faces
/// below the minimum size. Landmarks are not clipped (a face cut by the frame edge still has
/// its eyes where the model put them, and alignment needs them there).
fn to_frame(
    cands: Vec<Candidate>,
    lb: &Letterbox,
    frame_w: u32,
    frame_h: u32,
    config: &DetectorConfig,
) -> Vec<Face> {
    let (fw, fh) = (frame_w as f32, frame_h as f32);
    // The resize maps the centre of frame pixel i to input position (i + 0.5)·s − 0.5 (pixel
    // centres aligned, OpenCV's INTER_LINEAR), so that is what is undone here; a plain
    // division by s would shift every point by (1/s − 1)/2 frame pixels (1 px at 1080p).
    let to_frame = |p: Point| {
        Point::new(
            (p.x - lb.pad_x + 0.5) / lb.scale - 0.5,
            (p.y - lb.pad_y + 0.5) / lb.scale - 0.5,
        )
    };
    cands
        .into_iter()
        .filter_map(|c| {
            let b = c.bbox_in_input;
            let tl = to_frame(Point::new(b.x, b.y));
            let br = to_frame(Point::new(b.right(), b.bottom()));
            let (x0, y0) = (tl.x.clamp(0.0, fw), tl.y.clamp(0.0, fh));
            let (x1, y1) = (br.x.clamp(0.0, fw), br.y.clamp(0.0, fh));
            let bbox_in_frame = BBox::new(x0, y0, x1 - x0, y1 - y0);
            if bbox_in_frame.w.min(bbox_in_frame.h) < config.min_face_px.max(1.0) {
                return None;
            }
            Some(Face {
                bbox_in_frame,
                landmarks_in_frame: c.landmarks_in_input.map(to_frame),
                score: c.score,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raw outputs with one anchor set at stride `s`, index `i`.
    fn outputs_with(s: usize, i: usize, cls: f32, obj: f32, b: [f32; 4]) -> Vec<OutputTensor> {
        let mut out = Vec::new();
        for kind in ["cls", "obj", "bbox", "kps"] {
            for st in STRIDES {
                let n = (640 / st) * (640 / st);
                let w = match kind {
                    "bbox" => 4,
                    "kps" => 10,
                    _ => 1,
                };
                let mut data = vec![0.0; n * w];
                if st == s {
                    match kind {
                        "cls" => data[i] = cls,
                        "obj" => data[i] = obj,
                        "bbox" => data[4 * i..4 * i + 4].copy_from_slice(&b),
                        _ => {
                            for j in 0..5 {
                                data[10 * i + 2 * j] = 0.1 * j as f32;
                                data[10 * i + 2 * j + 1] = 0.5;
                            }
                        }
                    }
                }
                out.push(OutputTensor {
                    name: format!("{kind}_{st}"),
                    shape: vec![1, n, w],
                    data,
                });
            }
        }
        out
    }

    #[test]
    fn decodes_one_anchor_with_the_yunet_formulas() {
        // Stride 16: 40 columns; anchor 83 is row 2, column 3.
        let out = outputs_with(16, 83, 0.81, 1.5, [0.5, 0.25, 0.0, 1.0]);
        let c = decode("m", &out, 640, 640, &DetectorConfig::default()).unwrap();
        assert_eq!(c.len(), 1);
        let c = &c[0];
        assert!(
            (c.score - 0.9).abs() < 1e-6,
            "sqrt(0.81 · clamp(1.5)) = 0.9"
        );
        let b = c.bbox_in_input;
        // centre ((3 + 0.5)·16, (2 + 0.25)·16) = (56, 36); size (16, 16e)
        assert!((b.centre().x - 56.0).abs() < 1e-4 && (b.centre().y - 36.0).abs() < 1e-4);
        assert!((b.w - 16.0).abs() < 1e-4 && (b.h - 16.0 * std::f32::consts::E).abs() < 1e-3);
        assert!((c.landmarks_in_input[2].x - (3.2 * 16.0)).abs() < 1e-4);
        assert!((c.landmarks_in_input[2].y - (2.5 * 16.0)).abs() < 1e-4);
    }

    #[test]
    fn drops_low_scores_and_reports_short_outputs() {
        let out = outputs_with(8, 0, 0.3, 1.0, [0.0; 4]);
        assert!(decode("m", &out, 640, 640, &DetectorConfig::default())
            .unwrap()
            .is_empty());
        let mut short = outputs_with(8, 0, 1.0, 1.0, [0.0; 4]);
        short[0].data.pop();
        let e = decode("m", &short, 640, 640, &DetectorConfig::default()).unwrap_err();
        assert!(e.to_string().contains("stride 8"), "{e}");
        short.remove(0);
        let e = decode("m", &short, 640, 640, &DetectorConfig::default()).unwrap_err();
        assert!(e.to_string().contains("cls_8"), "{e}");
    }

    #[test]
    fn maps_back_to_frame_pixels_and_drops_small_faces() {
        let cand = Candidate {
            bbox_in_input: BBox::new(100.0, 50.0, 40.0, 60.0),
            landmarks_in_input: [Point::new(110.0, 70.0); 5],
            score: 0.9,
        };
        // A 1920×1080 frame shrunk by 3.
        let (lb, _) = Letterbox::fit(1920, 1080, 640, 640, false);
        let f = to_frame(
            vec![cand.clone()],
            &lb,
            1920,
            1080,
            &DetectorConfig::default(),
        );
        assert_eq!(f.len(), 1);
        // x_frame = (x_input + 0.5)·3 − 0.5
        assert!((f[0].bbox_in_frame.x - 301.0).abs() < 1e-3);
        assert!((f[0].bbox_in_frame.h - 180.0).abs() < 1e-3);
        assert!((f[0].landmarks_in_frame[0].x - 331.0).abs() < 1e-3);
        let big = DetectorConfig {
            min_face_px: 200.0,
            ..DetectorConfig::default()
        };
        assert!(to_frame(vec![cand], &lb, 1920, 1080, &big).is_empty());
    }
}
