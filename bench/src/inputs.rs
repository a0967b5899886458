//! Synthetic inputs for the micro-benchmarks: frames, recogniser outputs, detector boxes.

use crate::synthetic::Rng;
use image::{Rgb, RgbImage};
use passwatch_plate_reader::ctc::Charset;
use passwatch_plate_reader::geometry::BBox;

/// A frame with structure (gradients and blocks) rather than noise or a flat colour, so that
/// resampling costs what it costs on camera frames (the work is the same for any content, but a
/// compiler could special-case nothing here).
pub fn frame(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let block = ((x / 37) ^ (y / 23)) as u8;
        Rgb([
            (x * 255 / w.max(1)) as u8,
            (y * 255 / h.max(1)) as u8,
            block.wrapping_mul(29),
        ])
    })
}

/// A recogniser character set shaped like PP-OCRv4's: 6623 characters (ASCII letters and
/// digits first, then CJK ideographs), so 6625 classes with the blank and the space.
pub fn ppocr_like_charset() -> Charset {
    let mut lines: Vec<char> = ('0'..='9').chain('A'..='Z').chain('a'..='z').collect();
    let mut c = 0x4E00u32;
    while lines.len() < 6623 {
        if let Some(ch) = char::from_u32(c) {
            lines.push(ch);
        }
        c += 1;
    }
    let text: String = lines.iter().map(|c| format!("{c}\n")).collect();
    Charset::from_metadata(&text).expect("a valid synthetic charset")
}

/// Recogniser output for one crop: `steps × classes` probabilities in which every step is a
/// softmax-like row (small values everywhere, one peak) spelling a 7-character plate with
/// blanks between characters, as a real read looks.
pub fn ctc_probs(steps: usize, classes: usize, charset: &Charset, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let plate: Vec<usize> = "ABC1234"
        .chars()
        .filter_map(|c| charset.class_of(c))
        .collect();
    let mut out = vec![0.0f32; steps * classes];
    for (t, row) in out.chunks_exact_mut(classes).enumerate() {
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (rng.next_u64() % 1000) as f32 * 1e-7;
            sum += *v;
        }
        // Characters at every fifth step, blank elsewhere.
        let peak = if t % 5 == 2 && t / 5 < plate.len() {
            plate[t / 5]
        } else {
            0
        };
        row[peak] = 1.0 - sum;
    }
    out
}

/// Detector boxes as a YOLO head leaves them before NMS: clusters of overlapping boxes around a
/// few objects, with scores falling off from each cluster's centre.
pub fn nms_boxes(objects: usize, per_object: usize, seed: u64) -> Vec<(BBox, f32)> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(objects * per_object);
    for _ in 0..objects {
        let (cx, cy) = (rng.below(1200) as f32 + 40.0, rng.below(640) as f32 + 40.0);
        let (w, h) = (rng.below(120) as f32 + 40.0, rng.below(40) as f32 + 15.0);
        for _ in 0..per_object {
            let dx = (rng.below(21) as f32 - 10.0) * 0.5;
            let dy = (rng.below(21) as f32 - 10.0) * 0.3;
            let s = 0.4 + (rng.below(600) as f32) / 1000.0;
            out.push((BBox::new(cx + dx - w / 2.0, cy + dy - h / 2.0, w, h), s));
        }
    }
    out
}
