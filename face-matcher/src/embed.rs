//! The face embedder: an aligned 112×112 face in, a unit-length embedding out.
//!
//! Every [`Embedding`] carries the id of the model that made it. Cosine similarity between
//! embeddings of different models is meaningless (each model has its own space), so comparing
//! them, or searching a watchlist built with one model with faces from another, is refused with
//! an error rather than answered with a number.

use crate::align::{AlignedFace, ALIGNED_SIZE};
use crate::FaceError;
use ndarray::Array4;
use passwatch_models::preprocess::{resize_into, Normalise, Placement};
use passwatch_models::{DecoderKind, Model, ModelCache, ModelManifest, Role, SessionOptions};
use std::sync::Arc;

/// A face embedding: an L2-normalised vector and the id of the model that produced it.
#[derive(Clone, PartialEq)]
pub struct Embedding {
    model: Arc<str>,
    values: Box<[f32]>,
}

impl std::fmt::Debug for Embedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No values: a Debug line can end up in a log, and an embedding that matched nobody must
        // never be written anywhere (BRIEF.md, privacy).
        f.debug_struct("Embedding")
            .field("model", &self.model)
            .field("dim", &self.values.len())
            .finish_non_exhaustive()
    }
}

/// Two embeddings that cannot be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbeddingMismatch {
    /// They come from different models.
    #[error("embeddings from different models cannot be compared: {left} vs {right}")]
    Model {
        /// Model of the left-hand embedding.
        left: String,
        /// Model of the right-hand embedding.
        right: String,
    },
    /// Same model id, different lengths (a manifest changed under the same id).
    #[error("embeddings of model {model} have different dimensions: {left} vs {right}")]
    Dimension {
        /// The model id.
        model: String,
        /// Length of the left-hand embedding.
        left: usize,
        /// Length of the right-hand embedding.
        right: usize,
    },
}

impl Embedding {
    /// An embedding from a model's raw output: L2-normalised here. Refuses an empty vector, a
    /// non-finite value or a zero vector, which no working model produces.
    pub fn from_raw(model: impl Into<Arc<str>>, raw: Vec<f32>) -> Result<Self, FaceError> {
        let model = model.into();
        let bad = |what: String| FaceError::BadEmbedding {
            model: model.to_string(),
            what,
        };
        if raw.is_empty() {
            return Err(bad("empty output".into()));
        }
        if let Some(i) = raw.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("value {i} is {}", raw[i])));
        }
        // Accumulate in f64: 512 squares in f32 lose the last bits that the index's exactness
        // tests compare.
        let norm = raw.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
        if norm < 1e-12 {
            return Err(bad("zero vector".into()));
        }
        let values: Box<[f32]> = raw.iter().map(|&v| (v as f64 / norm) as f32).collect();
        Ok(Embedding { model, values })
    }

    /// The id of the model that produced this embedding.
    pub fn model_id(&self) -> &str {
        &self.model
    }

    /// The shared model id (cheap to clone).
    pub fn model_arc(&self) -> &Arc<str> {
        &self.model
    }

    /// The unit-length values.
    pub fn as_slice(&self) -> &[f32] {
        &self.values
    }

    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.values.len()
    }

    /// Cosine similarity in `[-1, 1]` (the inner product of the two unit vectors). Refused for
    /// embeddings of different models or dimensions.
    pub fn cosine(&self, other: &Embedding) -> Result<f32, EmbeddingMismatch> {
        if self.model != other.model {
            return Err(EmbeddingMismatch::Model {
                left: self.model.to_string(),
                right: other.model.to_string(),
            });
        }
        if self.values.len() != other.values.len() {
            return Err(EmbeddingMismatch::Dimension {
                model: self.model.to_string(),
                left: self.values.len(),
                right: other.values.len(),
            });
        }
        Ok(dot(&self.values, &other.values))
    }
}

/// Inner product, with eight partial sums so the compiler vectorises it.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    for (x, y) in ca.iter().zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// The face embedder (the `face_embedder` role; default `fr-feature-512`).
///
/// The default model's input is fixed at `[1, 3, 112, 112]` (checked when it loads: a manifest
/// that asks for a larger batch is refused by ONNX Runtime's shape check), so
/// [`FaceEmbedder::embed_batch`] runs the faces one at a time. A model with a dynamic batch
/// dimension (`-1` in its manifest) is fed in batches of up to [`FaceEmbedder::max_batch`].
pub struct FaceEmbedder {
    model: Model,
    model_id: Arc<str>,
    norm: Normalise,
    batch: usize,
}

impl std::fmt::Debug for FaceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEmbedder")
            .field("model", &self.model_id)
            .field("batch", &self.batch)
            .finish()
    }
}

/// How many faces go into one run when the model's batch dimension is dynamic.
const DYNAMIC_BATCH: usize = 16;

impl FaceEmbedder {
    /// Loads the default pack's face embedder from the cache.
    pub fn load(cache: &ModelCache, options: &SessionOptions) -> Result<Self, FaceError> {
        let manifest = ModelManifest::builtin_for(Role::FaceEmbedder)?;
        Self::new(Model::load(&manifest, cache, options)?)
    }

    /// Wraps a loaded embedder. Its input must be `[N, 3, 112, 112]` (the ArcFace crop the
    /// aligner makes) and its decoder `embedding`.
    pub fn new(model: Model) -> Result<Self, FaceError> {
        let m = model.manifest();
        if m.decoder != DecoderKind::Embedding {
            return Err(FaceError::WrongModel {
                model: m.id.clone(),
                expected: "decoder = \"embedding\"".into(),
                found: format!("{:?}", m.decoder),
            });
        }
        let s = &m.input.shape;
        if s[1] != 3 || s[2] != ALIGNED_SIZE as i64 || s[3] != ALIGNED_SIZE as i64 {
            return Err(FaceError::WrongModel {
                model: m.id.clone(),
                expected: format!("input [N, 3, {ALIGNED_SIZE}, {ALIGNED_SIZE}]"),
                found: format!("{s:?}"),
            });
        }
        let batch = match s[0] {
            -1 => DYNAMIC_BATCH,
            n => n.max(1) as usize,
        };
        Ok(FaceEmbedder {
            norm: Normalise::from_spec(&m.input),
            model_id: Arc::from(m.id.as_str()),
            batch,
            model,
        })
    }

    /// The embedder's model id (recorded with every embedding and every event).
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Faces per run.
    pub fn max_batch(&self) -> usize {
        self.batch
    }

    /// The embedding of one aligned face.
    pub fn embed(&mut self, face: &AlignedFace) -> Result<Embedding, FaceError> {
        let mut out = self.embed_batch(std::slice::from_ref(face))?;
        out.pop().ok_or_else(|| FaceError::UnexpectedOutput {
            model: self.model_id.to_string(),
            what: "no embedding for one face".into(),
        })
    }

    /// Embeddings of several aligned faces, in order.
    pub fn embed_batch(&mut self, faces: &[AlignedFace]) -> Result<Vec<Embedding>, FaceError> {
        let side = ALIGNED_SIZE;
        let plane = 3 * (side * side) as usize;
        let mut result = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(self.batch) {
            // A fixed-batch model must get exactly its batch size; a dynamic one gets the chunk.
            let n = if self.batch > 1 && self.model.manifest().input.shape[0] != -1 {
                self.batch
            } else {
                chunk.len()
            };
            // Tensor: [n, 3, 112, 112], RGB, value = (pixel − 127) / 128 (from the manifest's
            // mean and std), the normalisation the model was trained with.
            let mut input = Array4::<f32>::zeros((n, 3, side as usize, side as usize));
            let slice = input.as_slice_mut().ok_or_else(|| FaceError::Internal {
                what: "embedder input tensor is not contiguous".into(),
            })?;
            for (face, dst) in chunk.iter().zip(slice.chunks_mut(plane)) {
                fill_face_input(face.image(), dst, &self.norm);
            }
            let out = self.model.run(input.into_dyn().view())?;
            let o = out.first().ok_or_else(|| FaceError::UnexpectedOutput {
                model: self.model_id.to_string(),
                what: "no output".into(),
            })?;
            let dim = match o.shape.as_slice() {
                [b, d] if *b == n && *d > 0 => *d,
                s => {
                    return Err(FaceError::UnexpectedOutput {
                        model: self.model_id.to_string(),
                        what: format!("output has shape {s:?}, expected [{n}, D]"),
                    })
                }
            };
            for row in o.data.chunks(dim).take(chunk.len()) {
                result.push(Embedding::from_raw(self.model_id.clone(), row.to_vec())?);
            }
        }
        Ok(result)
    }
}

/// Fills one face's slot of the embedder's input (`3 × 112 × 112` values) from an aligned crop,
/// normalised as the manifest says (`norm`).
pub fn fill_face_input(aligned: &image::RgbImage, dst: &mut [f32], norm: &Normalise) {
    let side = ALIGNED_SIZE;
    let place = Placement {
        x: 0,
        y: 0,
        w: side,
        h: side,
    };
    resize_into(aligned, dst, side, side, place, norm);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_unit_length_and_compare_by_cosine() {
        let a = Embedding::from_raw("m", vec![3.0, 4.0]).unwrap();
        assert_eq!(a.as_slice(), &[0.6, 0.8]);
        let b = Embedding::from_raw("m", vec![4.0, -3.0]).unwrap();
        assert!(a.cosine(&b).unwrap().abs() < 1e-7);
        assert!((a.cosine(&a).unwrap() - 1.0).abs() < 1e-7);
    }

    #[test]
    fn debug_output_shows_no_values() {
        let a = Embedding::from_raw("m", vec![0.123_456, 0.987_654]).unwrap();
        let text = format!("{a:?}");
        assert!(text.contains("\"m\"") && !text.contains("0.12"), "{text}");
    }

    #[test]
    fn refuses_bad_vectors_and_other_models() {
        assert!(Embedding::from_raw("m", vec![]).is_err());
        assert!(Embedding::from_raw("m", vec![0.0; 4]).is_err());
        assert!(Embedding::from_raw("m", vec![1.0, f32::NAN]).is_err());
        let a = Embedding::from_raw("m1", vec![1.0, 0.0]).unwrap();
        let b = Embedding::from_raw("m2", vec![1.0, 0.0]).unwrap();
        let e = a.cosine(&b).unwrap_err();
        assert!(e.to_string().contains("m1") && e.to_string().contains("m2"));
        let c = Embedding::from_raw("m1", vec![1.0, 0.0, 0.0]).unwrap();
        assert!(matches!(
            a.cosine(&c),
            Err(EmbeddingMismatch::Dimension { .. })
        ));
    }

    #[test]
    fn dot_matches_a_plain_sum() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.05).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
    }
}
