//! Model manifests: what a model file is, where it came from, and how it is fed.
//!
//! A manifest is a small TOML file (the default pack's are in `models/manifests/` and compiled
//! in). It names the file and its SHA-256, the package it was extracted from, the licence, the
//! input tensor (name, shape with `-1` for dynamic dimensions, element type, layout, colour order
//! and normalisation) and the outputs the decoder reads. A user swaps in a model by writing a
//! manifest; [`crate::Model::load`] refuses a model whose real inputs and outputs disagree with it.

use crate::ModelError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// What a model is for; each role has one decoder in the consuming crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Finds text lines (PP-OCR DBNet); plates are picked among them.
    PlateTextDetector,
    /// Finds whole plates (YOLO-style boxes).
    PlateDetector,
    /// Reads one line of plate text (CTC recogniser).
    PlateOcr,
    /// Finds faces and their five landmarks.
    FaceDetector,
    /// Turns an aligned face into an embedding.
    FaceEmbedder,
}

/// How a model's raw output is turned into results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecoderKind {
    /// DBNet probability map → text boxes.
    Dbnet,
    /// Per-step class probabilities → CTC greedy decoding.
    Ctc,
    /// YOLOv8 `[1, 4 + classes + masks, anchors]` → boxes.
    Yolov8,
    /// YuNet per-stride cls/obj/bbox/kps → faces with landmarks.
    Yunet,
    /// A single embedding vector.
    Embedding,
}

/// Element type of the input tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElementType {
    /// 32-bit float.
    F32,
    /// 16-bit float (the model is fed `half::f16`).
    F16,
}

/// Memory layout of the image input tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Batch, channel, height, width.
    Nchw,
}

/// Channel order the model expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColourOrder {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red (OpenCV-trained models).
    Bgr,
}

/// Where the model file came from: a package of a public registry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `pypi` or `npm`.
    pub registry: String,
    /// Package name.
    pub package: String,
    /// Exact package version.
    pub version: String,
    /// Path of the file inside the package archive.
    pub path: String,
    /// Wheel platform tag, for platform-specific wheels (the runtime).
    #[serde(default)]
    pub platform: Option<String>,
    /// Python version the wheel is built for (the runtime).
    #[serde(default)]
    pub python_version: Option<String>,
}

/// The image input of a model: name, shape and how pixels become values.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Tensor name in the graph.
    pub name: String,
    /// Shape, `-1` for a dynamic dimension.
    pub shape: Vec<i64>,
    /// Element type.
    pub dtype: ElementType,
    /// Layout (NCHW).
    pub layout: Layout,
    /// Channel order.
    pub colour: ColourOrder,
    /// Pixel scale: value = (pixel · scale − mean) / std.
    pub scale: f32,
    /// Per-channel mean, in the model's channel order.
    pub mean: [f32; 3],
    /// Per-channel standard deviation, in the model's channel order.
    pub std: [f32; 3],
    /// Grey level used to pad letterboxed inputs, if the model is letterboxed.
    #[serde(default)]
    pub pad: Option<u8>,
}

/// An output the decoder reads.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Tensor name in the graph.
    pub name: String,
    /// Shape, `-1` for a dynamic dimension.
    pub shape: Vec<i64>,
}

/// A measured operating point of an embedding model: the cosine threshold at which impostor
/// pairs are accepted at `far`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationPoint {
    /// False-accept rate.
    pub far: f64,
    /// Cosine threshold giving that rate.
    pub threshold: f32,
}

/// The measured thresholds of an embedding model, and on what they were measured.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Where and how the points were measured (data, pair counts, command).
    pub measured_on: String,
    /// Operating points, any order.
    pub points: Vec<CalibrationPoint>,
}

impl Calibration {
    /// The threshold at `far`: a measured point, or log-linear interpolation between the two
    /// measured points around it; `None` outside the measured range (a rate nobody measured is
    /// not guessed).
    pub fn threshold_at(&self, far: f64) -> Option<f32> {
        let mut pts: Vec<&CalibrationPoint> = self.points.iter().collect();
        pts.sort_by(|a, b| a.far.total_cmp(&b.far));
        for p in &pts {
            if (p.far - far).abs() <= far * 1e-9 {
                return Some(p.threshold);
            }
        }
        for w in pts.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            if far > lo.far && far < hi.far {
                let t = (far.ln() - lo.far.ln()) / (hi.far.ln() - lo.far.ln());
                return Some(lo.threshold + (hi.threshold - lo.threshold) * t as f32);
            }
        }
        None
    }

    /// The measured range of rates.
    pub fn range(&self) -> Option<(f64, f64)> {
        let lo = self
            .points
            .iter()
            .map(|p| p.far)
            .min_by(|a, b| a.total_cmp(b))?;
        let hi = self
            .points
            .iter()
            .map(|p| p.far)
            .max_by(|a, b| a.total_cmp(b))?;
        Some((lo, hi))
    }
}

/// A model manifest (see the module docs).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    /// Stable model id, recorded in every event that used the model.
    pub id: String,
    /// What the model is for.
    pub role: Role,
    /// File name in the model cache.
    pub file: String,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// Licence of the model, as known.
    pub licence: String,
    /// Output decoder.
    pub decoder: DecoderKind,
    /// Where the file came from.
    pub source: Source,
    /// The image input.
    pub input: InputSpec,
    /// The outputs the decoder reads (a model may have more).
    pub outputs: Vec<OutputSpec>,
    /// Measured thresholds (embedding models): what a false-accept rate means in cosine.
    #[serde(default)]
    pub calibration: Option<Calibration>,
}

/// The runtime library manifest (`models/runtime.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeManifest {
    /// ONNX Runtime version.
    pub version: String,
    /// File name in the cache's `onnxruntime/` folder.
    pub file: String,
    /// SHA-256 of the library.
    pub sha256: String,
    /// Licence.
    pub licence: String,
    /// Where it came from.
    pub source: Source,
}

/// The default pack's manifests, compiled in so the binary needs nothing beside the cache.
const BUILTIN: &[(&str, &str)] = &[
    (
        "ppocrv4-det.toml",
        include_str!("../manifests/ppocrv4-det.toml"),
    ),
    (
        "ppocrv4-rec.toml",
        include_str!("../manifests/ppocrv4-rec.toml"),
    ),
    ("platedet.toml", include_str!("../manifests/platedet.toml")),
    ("yunet.toml", include_str!("../manifests/yunet.toml")),
    (
        "face-embedder.toml",
        include_str!("../manifests/face-embedder.toml"),
    ),
];

const BUILTIN_RUNTIME: &str = include_str!("../runtime.toml");

impl ModelManifest {
    /// Parses a manifest from TOML; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ModelError> {
        let m: ModelManifest = toml::from_str(text).map_err(|e| ModelError::Manifest {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        m.validate(origin)?;
        Ok(m)
    }

    /// Reads and parses a manifest file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::from_toml(&text, path)
    }

    /// The default pack's manifest with this id.
    pub fn builtin(id: &str) -> Result<Self, ModelError> {
        Self::builtin_all()
            .into_iter()
            .find(|m| m.id == id)
            .ok_or_else(|| ModelError::UnknownModel { id: id.to_string() })
    }

    /// The default pack's manifest for a role (the first, if several share it).
    pub fn builtin_for(role: Role) -> Result<Self, ModelError> {
        Self::builtin_all()
            .into_iter()
            .find(|m| m.role == role)
            .ok_or_else(|| ModelError::UnknownModel {
                id: format!("{role:?}"),
            })
    }

    /// Every manifest of the default pack.
    pub fn builtin_all() -> Vec<Self> {
        BUILTIN
            .iter()
            .map(|(name, text)| {
                // The builtin manifests are checked by a unit test, so this cannot fail in a
                // released binary.
                Self::from_toml(text, &PathBuf::from(format!("models/manifests/{name}")))
                    .expect("builtin manifest is valid")
            })
            .collect()
    }

    fn validate(&self, origin: &Path) -> Result<(), ModelError> {
        let bad = |message: String| ModelError::Manifest {
            path: origin.to_path_buf(),
            message,
        };
        if self.id.is_empty() {
            return Err(bad("id: must not be empty".into()));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!(
                "sha256: expected 64 hex digits, got {:?}",
                self.sha256
            )));
        }
        if self.input.shape.len() != 4 {
            return Err(bad(format!(
                "input.shape: an NCHW image input has 4 dimensions, got {:?}",
                self.input.shape
            )));
        }
        if self.input.shape.iter().any(|&d| d == 0 || d < -1) {
            return Err(bad(format!(
                "input.shape: dimensions are positive or -1, got {:?}",
                self.input.shape
            )));
        }
        if self.input.std.contains(&0.0) || self.input.scale == 0.0 {
            return Err(bad("input.std / input.scale: must not be zero".into()));
        }
        if self.outputs.is_empty() {
            return Err(bad("outputs: at least one output is needed".into()));
        }
        Ok(())
    }

    /// The fixed input height, if the model has one.
    pub fn fixed_height(&self) -> Option<u32> {
        u32::try_from(self.input.shape[2]).ok()
    }

    /// The fixed input width, if the model has one.
    pub fn fixed_width(&self) -> Option<u32> {
        u32::try_from(self.input.shape[3]).ok()
    }
}

impl RuntimeManifest {
    /// The compiled-in runtime manifest.
    pub fn builtin() -> Self {
        toml::from_str(BUILTIN_RUNTIME).expect("builtin runtime manifest is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifests_parse_and_are_unique() {
        let all = ModelManifest::builtin_all();
        assert_eq!(all.len(), 5);
        let mut ids: Vec<_> = all.iter().map(|m| m.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5);
        assert_eq!(RuntimeManifest::builtin().version, "1.31.1");
    }

    #[test]
    fn calibration_interpolates_inside_the_measured_range_only() {
        let c = Calibration {
            measured_on: "test".into(),
            points: vec![
                CalibrationPoint {
                    far: 1e-4,
                    threshold: 0.42,
                },
                CalibrationPoint {
                    far: 1e-3,
                    threshold: 0.34,
                },
            ],
        };
        assert_eq!(c.threshold_at(1e-4), Some(0.42));
        let mid = c.threshold_at(10f64.powf(-3.5)).unwrap();
        assert!((mid - 0.38).abs() < 1e-4, "{mid}");
        assert_eq!(c.threshold_at(1e-2), None);
        assert_eq!(c.threshold_at(1e-5), None);
        let m = ModelManifest::builtin("fr-feature-512").unwrap();
        assert!(m.calibration.unwrap().threshold_at(1e-4).is_some());
    }

    #[test]
    fn rejects_unknown_fields_and_bad_hashes() {
        let good = include_str!("../manifests/ppocrv4-det.toml");
        let p = Path::new("x.toml");
        assert!(ModelManifest::from_toml(good, p).is_ok());
        let unknown = format!("{good}\nextra = 1\n");
        let e = ModelManifest::from_toml(&unknown, p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("extra"), "{e}");
        let short = good.replace("d2a7720d45a5", "zz");
        let e = ModelManifest::from_toml(&short, p).unwrap_err().to_string();
        assert!(e.contains("sha256"), "{e}");
    }
}
