//! The PP-OCRv4 recogniser: rectified crops in, CTC reads restricted to a plate alphabet out.
//!
//! Input `[N, 3, 48, W]`, BGR, `(x/255 − 0.5)/0.5`. Each crop is resized to height 48 keeping its
//! aspect ratio; the batch is padded (with 0, the normalised mid-grey PaddleOCR pads with) to its
//! widest crop and to at least 320 pixels, the width the model was trained at.

use std::sync::Arc;

use crate::ctc::{decode_batch, AllowedClasses, Charset, CtcRead};
use crate::likelihood::{CtcLattice, LatticeLayout};
use crate::PlateError;
use image::RgbImage;
use ndarray::{Array4, ArrayView3};
use passwatch_models::preprocess::{resize_into, Normalise, Placement};
use passwatch_models::{DecoderKind, Model};

/// Input height of the recogniser.
pub const REC_HEIGHT: u32 = 48;
/// Minimum padded input width (PaddleOCR's `rec_image_shape` width).
pub const REC_MIN_WIDTH: u32 = 320;
/// Widest crop fed, in input pixels (a 16:1 line); wider crops are squeezed.
pub const REC_MAX_WIDTH: u32 = 768;

/// One crop read: the greedy decoding and the lattice any plate text's probability is computed
/// from ([`crate::likelihood`]).
#[derive(Clone, Debug)]
pub struct Recognised {
    /// The greedy read.
    pub read: CtcRead,
    /// The step distributions over the allowed characters; none for a crop the recogniser gave
    /// no output for.
    pub lattice: Option<Arc<CtcLattice>>,
}

/// Crops per inference call by default.
pub const REC_BATCH: usize = 8;

/// One call of the recogniser: which crops, the width each is scaled to, and the width the
/// batch is padded to.
#[derive(Clone, Debug, PartialEq)]
pub struct RecBatch {
    /// Indices into the crops, in batch order.
    pub items: Vec<usize>,
    /// Each item's scaled width (height [`REC_HEIGHT`], aspect kept, at most [`REC_MAX_WIDTH`]).
    pub widths: Vec<u32>,
    /// The batch's padded width: its widest item, at least [`REC_MIN_WIDTH`].
    pub width: u32,
}

impl RecBatch {
    /// The input tensor's shape `[N, 3, 48, W]`.
    pub fn shape(&self) -> [usize; 4] {
        [
            self.items.len(),
            3,
            REC_HEIGHT as usize,
            self.width as usize,
        ]
    }
}

/// How `crops` are batched: sorted by aspect ratio (similar widths batch together with less
/// padding, as PaddleOCR does), `batch_size` at a time.
pub fn plan_batches(crops: &[RgbImage], batch_size: usize) -> Vec<RecBatch> {
    let mut order: Vec<usize> = (0..crops.len()).collect();
    order.sort_by(|&a, &b| aspect(&crops[a]).total_cmp(&aspect(&crops[b])));
    order
        .chunks(batch_size.max(1))
        .map(|chunk| {
            let widths: Vec<u32> = chunk.iter().map(|&i| input_width(&crops[i])).collect();
            let width = widths
                .iter()
                .copied()
                .max()
                .unwrap_or(REC_MIN_WIDTH)
                .max(REC_MIN_WIDTH);
            RecBatch {
                items: chunk.to_vec(),
                widths,
                width,
            }
        })
        .collect()
}

/// Fills one batch's input (`data`: `N × 3 × 48 × W` values, zeros where padded).
pub fn fill_batch(crops: &[RgbImage], batch: &RecBatch, norm: &Normalise, data: &mut [f32]) {
    let th = REC_HEIGHT;
    let plane = 3 * (batch.width * th) as usize;
    for ((&i, &w), dst) in batch
        .items
        .iter()
        .zip(&batch.widths)
        .zip(data.chunks_mut(plane))
    {
        let place = Placement {
            x: 0,
            y: 0,
            w,
            h: th,
        };
        resize_into(&crops[i], dst, batch.width, th, place, norm);
    }
}

/// The plate OCR model with its character set.
pub struct Recogniser {
    model: Model,
    charset: Charset,
    norm: Normalise,
    /// Crops per inference call.
    pub batch_size: usize,
}

impl Recogniser {
    /// Wraps a loaded recogniser; its character set comes from the model's metadata.
    pub fn new(model: Model) -> Result<Self, PlateError> {
        if model.manifest().decoder != DecoderKind::Ctc {
            return Err(PlateError::WrongModel {
                model: model.id().to_string(),
                expected: "Ctc".into(),
                found: format!("{:?}", model.manifest().decoder),
            });
        }
        let meta = model
            .metadata("character")?
            .ok_or_else(|| PlateError::WrongModel {
                model: model.id().to_string(),
                expected: "a `character` list in the model metadata".into(),
                found: "none".into(),
            })?;
        let charset = Charset::from_metadata(&meta)?;
        Ok(Recogniser {
            norm: Normalise::from_spec(&model.manifest().input),
            model,
            charset,
            batch_size: REC_BATCH,
        })
    }

    /// The model's character set.
    pub fn charset(&self) -> &Charset {
        &self.charset
    }

    /// The model's id.
    pub fn model_id(&self) -> &str {
        self.model.id()
    }

    /// Reads each crop, decoding with only the `allowed` classes; each read comes with its step
    /// distributions over the allowed characters.
    pub fn read(
        &mut self,
        crops: &[RgbImage],
        allowed: &AllowedClasses,
    ) -> Result<Vec<Recognised>, PlateError> {
        let mut reads = Vec::with_capacity(crops.len());
        let mut by_index: Vec<Option<Recognised>> = vec![None; crops.len()];
        for batch in plan_batches(crops, self.batch_size) {
            let mut input = Array4::<f32>::zeros(batch.shape());
            let data = input
                .as_slice_mut()
                .ok_or_else(|| PlateError::Internal("input tensor not contiguous".into()))?;
            fill_batch(crops, &batch, &self.norm, data);
            let out = self.model.run(input.into_dyn().view())?;
            let o = &out[0];
            let (n, t, c) = match o.shape.as_slice() {
                [n, t, c] => (*n, *t, *c),
                s => {
                    return Err(PlateError::Internal(format!(
                        "recogniser output has shape {s:?}, expected [N, T, classes]"
                    )))
                }
            };
            let view = ArrayView3::from_shape((n, t, c), &o.data[..n * t * c])
                .map_err(|e| PlateError::Internal(e.to_string()))?;
            let layout = LatticeLayout::new(&self.charset, allowed);
            for (k, read) in decode_batch(view, &self.charset, allowed)?
                .into_iter()
                .enumerate()
            {
                let probs = &o.data[k * t * c..(k + 1) * t * c];
                by_index[batch.items[k]] = Some(Recognised {
                    read,
                    lattice: Some(Arc::new(layout.lattice(probs, t, c))),
                });
            }
        }
        for r in by_index {
            reads.push(r.unwrap_or(Recognised {
                read: CtcRead::default(),
                lattice: None,
            }));
        }
        Ok(reads)
    }
}

fn aspect(img: &RgbImage) -> f32 {
    img.width() as f32 / img.height().max(1) as f32
}

fn input_width(img: &RgbImage) -> u32 {
    ((REC_HEIGHT as f32 * aspect(img)).ceil() as u32).clamp(1, REC_MAX_WIDTH)
}
