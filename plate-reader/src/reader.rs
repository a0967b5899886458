//! The plate reader: a frame in, plate observations (box, crop, read, format, plate-likeness)
//! out.
//!
//! Per frame: the detector proposes candidates; each is rectified into an upright crop; with
//! `platedet`, the text lines *inside* each plate box are found with DBNet (so a US state name
//! or slogan above the number is not read into it) and read alongside the whole box; all crops
//! are read in batches by the recogniser restricted to the plate alphabet of the configured
//! regions; each read is scored by how plate-like it is (its confidence and how well it fits a
//! region's formats); per candidate the most plate-like read wins; reads that are not
//! plate-like enough are dropped.

use crate::crop::{crop_bbox, rectify_for_reading};
use crate::ctc::{AllowedClasses, CtcRead};
use crate::detect::{Dbnet, DetectorKind, PlateCandidate, PlateDetector, PlateShape, TextLine};
use crate::formats::PlateFormats;
use crate::geometry::{min_area_rect, BBox, BBoxQuad, Point, Quad};
use crate::recognise::Recogniser;
use crate::text::normalise_plate;
use crate::PlateError;
use image::RgbImage;
use std::time::Instant;

/// Reader settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ReaderConfig {
    /// Region formats to read with (ids of [`PlateFormats`]); their alphabets restrict decoding.
    pub regions: Vec<String>,
    /// With platedet: also read the text lines found inside each plate box.
    pub refine_lines: bool,
    /// Reads with a plate score below this are dropped.
    pub min_plate_score: f32,
    /// Shortest plausible plate, in characters.
    pub min_len: usize,
    /// Longest plausible plate, in characters.
    pub max_len: usize,
    /// platedet's input canvas.
    pub platedet_canvas: crate::detect::PlatedetCanvas,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        ReaderConfig {
            regions: vec!["us".into(), "eu".into(), "br".into()],
            refine_lines: true,
            min_plate_score: 0.3,
            min_len: 4,
            max_len: 9,
            platedet_canvas: crate::detect::PlatedetCanvas::default(),
        }
    }
}

/// One plate read in one frame.
#[derive(Clone, Debug)]
pub struct PlateObservation {
    /// The detector's box around the plate, in frame pixels (what tracking links).
    pub bbox_in_frame: BBox,
    /// The quad that was read, in frame pixels.
    pub quad_in_frame: Quad,
    /// The detector's score.
    pub detector_score: f32,
    /// Which detector found it.
    pub detector: DetectorKind,
    /// The raw CTC read.
    pub read: CtcRead,
    /// The recogniser's step distributions of the read, for the probability of any plate text
    /// ([`crate::likelihood`]).
    pub lattice: Option<std::sync::Arc<crate::likelihood::CtcLattice>>,
    /// The normalised text.
    pub text: String,
    /// The best-fitting region, if the text fits one.
    pub region: Option<String>,
    /// That region's format score, 0..1.
    pub format_score: f32,
    /// How plate-like the read is, 0..1.
    pub plate_score: f32,
    /// The rectified crop that was read.
    pub crop: RgbImage,
    /// For a read around a track: the plate size expected there (internal to the reader).
    expected_size: Option<(f32, f32)>,
}

impl PlateObservation {
    /// An observation of `text` read whole in `bbox_in_frame` by the plate detector, each
    /// character at `confidence`, scored as a perfect fit of `region` — a synthetic read, for
    /// tests of what consumes reads (tracking, consensus, decisions) without the models.
    pub fn synthetic(
        bbox_in_frame: BBox,
        text: &str,
        confidence: f32,
        region: Option<&str>,
        crop: RgbImage,
    ) -> PlateObservation {
        let chars = text
            .chars()
            .map(|ch| crate::ctc::CtcChar {
                ch,
                confidence,
                runner_up: None,
            })
            .collect();
        PlateObservation {
            bbox_in_frame,
            quad_in_frame: bbox_in_frame.to_quad(),
            detector_score: confidence,
            detector: DetectorKind::Platedet,
            read: CtcRead {
                text: text.to_owned(),
                chars,
                confidence,
            },
            lattice: Some(std::sync::Arc::new(crate::likelihood::CtcLattice::certain(
                text,
                confidence,
                crate::likelihood::LATIN_ALNUM,
            ))),
            text: text.to_owned(),
            region: region.map(str::to_owned),
            format_score: if region.is_some() { 1.0 } else { 0.0 },
            plate_score: confidence,
            crop,
            expected_size: None,
        }
    }
}

/// Time spent per stage, accumulated over calls.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimes {
    /// Plate detection (preprocess + model + postprocess).
    pub detect_s: f64,
    /// Line refinement inside plate boxes.
    pub refine_s: f64,
    /// Cropping and reading (preprocess + model + CTC).
    pub ocr_s: f64,
    /// Frames processed.
    pub frames: u64,
    /// Crops read.
    pub crops: u64,
    /// Frames read around tracked regions only (no detector pass).
    pub tracked_frames: u64,
}

/// Detector + recogniser + formats.
pub struct PlateReader {
    detector: Box<dyn PlateDetector>,
    recogniser: Recogniser,
    line_finder: Option<Dbnet>,
    formats: &'static PlateFormats,
    allowed: AllowedClasses,
    region_ids: Vec<String>,
    config: ReaderConfig,
    /// Time spent per stage.
    pub times: StageTimes,
}

impl PlateReader {
    /// Builds a reader. `line_finder` is the DBNet used to refine platedet boxes (ignored for
    /// the text-line detector, which already proposes lines).
    pub fn new(
        detector: Box<dyn PlateDetector>,
        recogniser: Recogniser,
        line_finder: Option<Dbnet>,
        config: ReaderConfig,
    ) -> Result<Self, PlateError> {
        let formats = PlateFormats::builtin();
        for r in &config.regions {
            if formats.region(r).is_none() {
                return Err(PlateError::UnknownRegion {
                    region: r.clone(),
                    known: formats
                        .regions()
                        .iter()
                        .map(|r| r.id().to_string())
                        .collect(),
                });
            }
        }
        let ids: Vec<&str> = config.regions.iter().map(String::as_str).collect();
        let allowed = recogniser.charset().mask_for(formats.alphabet_union(&ids));
        Ok(PlateReader {
            detector,
            recogniser,
            line_finder,
            formats,
            allowed,
            region_ids: config.regions.clone(),
            config,
            times: StageTimes::default(),
        })
    }

    /// The detector's kind.
    pub fn detector_kind(&self) -> DetectorKind {
        self.detector.kind()
    }

    /// Model ids in use, by role (`plate_detector`, `plate_ocr`, `plate_line_finder`).
    pub fn model_ids(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("plate_detector", self.detector.model_id().to_string()),
            ("plate_ocr", self.recogniser.model_id().to_string()),
        ];
        if let (Some(f), DetectorKind::Platedet) = (&self.line_finder, self.detector.kind()) {
            if self.config.refine_lines {
                v.push(("plate_line_finder", f.model_id().to_string()));
            }
        }
        v
    }

    /// The settings.
    pub fn config(&self) -> &ReaderConfig {
        &self.config
    }

    /// Plate candidates only (no reading): for measuring detector recall.
    pub fn detect(&mut self, frame: &RgbImage) -> Result<Vec<PlateCandidate>, PlateError> {
        let t = Instant::now();
        let c = self.detector.detect(frame);
        self.times.detect_s += t.elapsed().as_secs_f64();
        c
    }

    /// Reads the plates in a frame: at most one observation per detected candidate, the most
    /// plate-like read of it, best first.
    pub fn read_frame(&mut self, frame: &RgbImage) -> Result<Vec<PlateObservation>, PlateError> {
        let candidates = self.detect(frame)?;
        self.times.frames += 1;
        self.read_candidates(frame, candidates, false)
    }

    /// Reads plates around boxes where plates are expected (a track's predicted box), without
    /// running the plate detector: the text lines inside each region (grown by `grow` of its
    /// size on each side, for motion) are found and read, and the most plate-like read of each
    /// region becomes an observation whose box is the region's box moved onto the read line.
    /// This is the cheap frame between two detector frames (DeepStream's inference interval):
    /// a few milliseconds per region instead of the detector's whole-frame pass.
    ///
    /// Each region comes with the text its track reads so far: among the reads of a region, the
    /// one closest to it (confusable-aware cost at most `max_cost`) is kept, so a badge or a
    /// sticker next to the plate never replaces it. New plates are left to detector frames.
    pub fn read_regions(
        &mut self,
        frame: &RgbImage,
        regions_in_frame: &[(BBox, String)],
        grow: f32,
        max_cost: f32,
    ) -> Result<Vec<PlateObservation>, PlateError> {
        if self.line_finder.is_none() || !self.config.refine_lines {
            // Without the line finder, regions cannot be read: detect instead.
            return self.read_frame(frame);
        }
        self.times.frames += 1;
        self.times.tracked_frames += 1;
        let (fw, fh) = (frame.width() as f32, frame.height() as f32);
        let candidates: Vec<PlateCandidate> = regions_in_frame
            .iter()
            .map(|(b, _)| b)
            .filter_map(|b| {
                let g = b.padded(b.w * grow, b.h * grow);
                let x0 = g.x.max(0.0);
                let y0 = g.y.max(0.0);
                let x1 = g.right().min(fw);
                let y1 = g.bottom().min(fh);
                (x1 - x0 >= 4.0 && y1 - y0 >= 4.0).then(|| PlateCandidate {
                    quad_in_frame: BBox::new(x0, y0, x1 - x0, y1 - y0).to_quad(),
                    score: 1.0,
                    detector: self.detector.kind(),
                })
            })
            .collect();
        let expected: Vec<(&str, (f32, f32))> = regions_in_frame
            .iter()
            .map(|(b, text)| (text.as_str(), (b.w, b.h)))
            .collect();
        let mut out =
            self.read_candidates_with(frame, candidates, true, Some(&expected), max_cost)?;
        // The region is larger than the plate: report a plate-sized box centred on the read.
        for o in &mut out {
            let c = o.quad_in_frame.bbox().centre();
            let (w, h) = o
                .expected_size
                .take()
                .unwrap_or((o.bbox_in_frame.w, o.bbox_in_frame.h));
            o.bbox_in_frame = BBox::new(c.x - w / 2.0, c.y - h / 2.0, w, h);
        }
        Ok(out)
    }

    /// Reads detector candidates, or tracked regions (`tracked`: larger than their plates, so
    /// only the text lines inside them are read): one observation per candidate at most.
    fn read_candidates(
        &mut self,
        frame: &RgbImage,
        candidates: Vec<PlateCandidate>,
        tracked: bool,
    ) -> Result<Vec<PlateObservation>, PlateError> {
        self.read_candidates_with(frame, candidates, tracked, None, 0.0)
    }

    /// [`Self::read_candidates`]; with `expected` (one text and plate size per candidate), the
    /// read of each candidate closest to its text within `max_cost` wins instead of the most
    /// plate-like one.
    fn read_candidates_with(
        &mut self,
        frame: &RgbImage,
        candidates: Vec<PlateCandidate>,
        tracked: bool,
        expected: Option<&[(&str, (f32, f32))]>,
        max_cost: f32,
    ) -> Result<Vec<PlateObservation>, PlateError> {
        // Each candidate gets one or more quads to read.
        let t = Instant::now();
        let mut jobs: Vec<(usize, Quad, f32)> = Vec::new();
        for (i, c) in candidates.iter().enumerate() {
            if !tracked {
                jobs.push((i, c.quad_in_frame, 1.0));
            }
            if (tracked || c.detector == DetectorKind::Platedet) && self.config.refine_lines {
                for (quad, weight) in self.lines_inside(frame, &c.quad_in_frame.bbox())? {
                    jobs.push((i, quad, weight));
                }
            }
        }
        self.times.refine_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let crops: Vec<RgbImage> = jobs
            .iter()
            .map(|(_, q, _)| rectify_for_reading(frame, q))
            .collect();
        let reads = self.recogniser.read(&crops, &self.allowed)?;
        self.times.ocr_s += t.elapsed().as_secs_f64();
        self.times.crops += crops.len() as u64;
        let mut best: Vec<Option<PlateObservation>> = vec![None; candidates.len()];
        for (((i, quad, weight), read), crop) in jobs.into_iter().zip(reads).zip(crops) {
            let c = &candidates[i];
            let mut obs = self.observe(
                c.quad_in_frame.bbox(),
                quad,
                c.score,
                c.detector,
                read,
                crop,
            );
            obs.plate_score *= weight;
            tracing::trace!(text = %obs.text, raw = %obs.read.text, conf = obs.read.confidence, plate_score = obs.plate_score, weight, "candidate read");
            if obs.plate_score < self.config.min_plate_score {
                continue;
            }
            match expected.and_then(|e| e.get(i)) {
                Some((text, size)) => {
                    let cost = crate::text::plate_distance(text, &obs.text);
                    if cost > max_cost {
                        continue;
                    }
                    obs.expected_size = Some(*size);
                    let closer = best[i].as_ref().is_none_or(|b| {
                        let bc = crate::text::plate_distance(text, &b.text);
                        cost < bc || (cost == bc && obs.plate_score > b.plate_score)
                    });
                    if closer {
                        best[i] = Some(obs);
                    }
                }
                None => {
                    if best[i]
                        .as_ref()
                        .is_none_or(|b| obs.plate_score > b.plate_score)
                    {
                        best[i] = Some(obs);
                    }
                }
            }
        }
        let mut out: Vec<PlateObservation> = best.into_iter().flatten().collect();
        out.sort_by(|a, b| b.plate_score.total_cmp(&a.plate_score));
        Ok(dedupe_overlapping(out))
    }

    /// Reads a crop that is already known to hold one plate (the crops benchmark). With
    /// `refine_lines` and a line finder, the text lines inside the crop are read too and the most
    /// plate-like read wins. `regions` overrides the configured regions (e.g. the crop's label).
    pub fn read_crop(
        &mut self,
        crop: &RgbImage,
        regions: Option<&[&str]>,
    ) -> Result<PlateObservation, PlateError> {
        let ids: Vec<String> = match regions {
            Some(r) => r.iter().map(|s| s.to_string()).collect(),
            None => self.region_ids.clone(),
        };
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let allowed = self
            .recogniser
            .charset()
            .mask_for(self.formats.alphabet_union(&id_refs));
        let whole = BBox::new(0.0, 0.0, crop.width() as f32, crop.height() as f32);
        let mut quads = vec![(whole.to_quad(), 1.0)];
        if self.config.refine_lines {
            quads.extend(self.lines_inside(crop, &whole)?);
        }
        let crops: Vec<RgbImage> = quads
            .iter()
            .map(|(q, _)| rectify_for_reading(crop, q))
            .collect();
        let reads = self.recogniser.read(&crops, &allowed)?;
        let saved = std::mem::replace(&mut self.region_ids, ids);
        let mut best: Option<PlateObservation> = None;
        for (((quad, weight), read), c) in quads.into_iter().zip(reads).zip(crops) {
            let mut obs = self.observe(whole, quad, 1.0, DetectorKind::Platedet, read, c);
            obs.plate_score *= weight;
            tracing::trace!(text = %obs.text, raw = %obs.read.text, conf = obs.read.confidence, plate_score = obs.plate_score, weight, "candidate read");
            if best
                .as_ref()
                .is_none_or(|b| obs.plate_score > b.plate_score)
            {
                best = Some(obs);
            }
        }
        self.region_ids = saved;
        best.ok_or_else(|| PlateError::Internal("no read of the crop".into()))
    }

    /// Quads worth reading inside a box of `image` (in `image` pixels), each with a weight: the
    /// largest text lines (the plate number is the tallest text on a plate; smaller lines are
    /// weighted down by their relative height) and, where DBNet split one row of characters at a
    /// gap or a separator, the row's lines merged into one.
    fn lines_inside(
        &mut self,
        image: &RgbImage,
        bbox: &BBox,
    ) -> Result<Vec<(Quad, f32)>, PlateError> {
        let Some(finder) = self.line_finder.as_mut() else {
            return Ok(Vec::new());
        };
        let pad = 0.15;
        let region = crop_bbox(image, bbox, pad);
        let (ox, oy) = padded_origin(image, bbox, pad);
        let mut lines = finder.detect_lines(&region)?;
        lines.retain(|l| l.quad.height() >= 4.0 && l.quad.width() >= l.quad.height() * 0.5);
        lines.sort_by(|a, b| b.quad.area().total_cmp(&a.quad.area()));
        lines.truncate(4);
        let tallest = lines.iter().map(|l| l.quad.height()).fold(0.0f32, f32::max);
        let mut out: Vec<(Quad, f32)> = Vec::new();
        for l in lines
            .iter()
            .filter(|l| l.quad.width() >= l.quad.height() * 1.2)
            .take(2)
        {
            out.push((l.quad, (l.quad.height() / tallest.max(1e-3)).sqrt()));
        }
        if let Some(row) = merge_row(&lines) {
            out.push((row, 1.0));
        }
        for (q, _) in &mut out {
            *q = q.translated(ox, oy);
        }
        Ok(out)
    }

    fn observe(
        &self,
        bbox_in_frame: BBox,
        quad_in_frame: Quad,
        detector_score: f32,
        detector: DetectorKind,
        recognised: crate::recognise::Recognised,
        crop: RgbImage,
    ) -> PlateObservation {
        let crate::recognise::Recognised { read, lattice } = recognised;
        let ids: Vec<&str> = self.region_ids.iter().map(String::as_str).collect();
        let best = best_variant(&read, self.formats, &ids, &self.config);
        PlateObservation {
            bbox_in_frame,
            quad_in_frame,
            detector_score,
            detector,
            read,
            lattice,
            text: best.text,
            region: best.region,
            format_score: best.format_score,
            plate_score: best.plate_score,
            crop,
            expected_size: None,
        }
    }
}

/// One way of spelling a read, scored.
#[derive(Clone, Debug, PartialEq)]
struct Variant {
    text: String,
    region: Option<String>,
    format_score: f32,
    plate_score: f32,
}

/// A read may not fit any plate format only because of one or two misread characters. Among
/// the read as decoded, the read with its least sure characters replaced by their runner-up,
/// and the read with confusable letters/digits swapped to fit a region's pattern, the most
/// plate-like wins. Replacements lower the confidence (the runner-up's probability stands in,
/// and a confusable swap costs a fixed penalty), so a read that already fits keeps its text
/// unless a change makes it fit a clearly better format.
fn best_variant(
    read: &CtcRead,
    formats: &PlateFormats,
    regions: &[&str],
    config: &ReaderConfig,
) -> Variant {
    let score = |text: String, confidence: f32| -> Variant {
        let (region, format_score) = match formats.best_region(&text, regions) {
            Some((r, s)) => (Some(r.to_string()), s),
            None => (None, 0.0),
        };
        let plate_score = plate_score(
            &text,
            confidence,
            format_score,
            config.min_len,
            config.max_len,
        );
        Variant {
            text,
            region,
            format_score,
            plate_score,
        }
    };
    let text = normalise_plate(&read.text);
    let mut best = score(text.clone(), read.confidence);
    if best.format_score >= 1.0 || read.chars.is_empty() {
        return best;
    }
    let n = read.chars.len() as f32;
    let consider = |v: Variant, best: &mut Variant| {
        if v.plate_score > best.plate_score {
            *best = v;
        }
    };
    // Runner-up substitutions at the two least sure positions, alone and together.
    let mut positions: Vec<usize> = (0..read.chars.len())
        .filter(|&i| read.chars[i].runner_up.is_some())
        .collect();
    positions.sort_by(|&a, &b| {
        read.chars[a]
            .confidence
            .total_cmp(&read.chars[b].confidence)
    });
    positions.truncate(2);
    let subsets: Vec<Vec<usize>> = match positions.as_slice() {
        [a] => vec![vec![*a]],
        [a, b] => vec![vec![*a], vec![*b], vec![*a, *b]],
        _ => vec![],
    };
    for subset in subsets {
        let mut chars: Vec<char> = read.chars.iter().map(|c| c.ch).collect();
        let mut conf_sum: f32 = read.chars.iter().map(|c| c.confidence).sum();
        for &i in &subset {
            if let Some((ch, p)) = read.chars[i].runner_up {
                chars[i] = ch;
                conf_sum += p - read.chars[i].confidence;
            }
        }
        let t = normalise_plate(&chars.iter().collect::<String>());
        consider(score(t, conf_sum / n), &mut best);
    }
    // Confusable swaps that make the read fit a region's pattern.
    for r in regions {
        if let Some(c) = formats.coerce_detailed(r, &text) {
            if c.changes > 0 {
                let conf = read.confidence * (1.0 - COERCION_PENALTY * c.changes as f32);
                consider(score(c.text, conf), &mut best);
            }
        }
    }
    best
}

/// Confidence lost per confusable swap made to fit a format.
const COERCION_PENALTY: f32 = 0.05;

/// Whether a read is (within one edit of) a word plates carry besides their number.
/// Words of six letters or more match within one edit (OCR drops or swaps a letter of a long
/// word); shorter ones (OHIO, UTAH) only exactly or through confusables, so a real 4-character
/// plate one edit from them is not thrown away.
fn is_plate_word(text: &str) -> bool {
    NOT_PLATES.iter().any(|w| {
        let max = if w.len() >= 6 { 1.0 } else { 0.5 };
        crate::text::plate_distance_bounded(text, w, max).is_some()
    })
}

/// Text that plates carry besides their number: never a plate on its own.
const NOT_PLATES: &[&str] = &[
    "ALABAMA",
    "ALASKA",
    "ARIZONA",
    "ARKANSAS",
    "CALIFORNIA",
    "COLORADO",
    "CONNECTICUT",
    "DELAWARE",
    "FLORIDA",
    "GEORGIA",
    "HAWAII",
    "IDAHO",
    "ILLINOIS",
    "INDIANA",
    "IOWA",
    "KANSAS",
    "KENTUCKY",
    "LOUISIANA",
    "MAINE",
    "MARYLAND",
    "MASSACHUSETTS",
    "MICHIGAN",
    "MINNESOTA",
    "MISSISSIPPI",
    "MISSOURI",
    "MONTANA",
    "NEBRASKA",
    "NEVADA",
    "NEWHAMPSHIRE",
    "NEWJERSEY",
    "NEWMEXICO",
    "NEWYORK",
    "NORTHCAROLINA",
    "NORTHDAKOTA",
    "OHIO",
    "OKLAHOMA",
    "OREGON",
    "PENNSYLVANIA",
    "RHODEISLAND",
    "SOUTHCAROLINA",
    "SOUTHDAKOTA",
    "TENNESSEE",
    "TEXAS",
    "UTAH",
    "VERMONT",
    "VIRGINIA",
    "WASHINGTON",
    "WESTVIRGINIA",
    "WISCONSIN",
    "WYOMING",
    "USA",
    "AMERICA",
    "MERCOSUR",
    "BRASIL",
    "BRAZIL",
    "ARGENTINA",
    "REPUBLICAARGENTINA",
];

/// How plate-like a read is, 0..1: its confidence, weighted by how well it fits a plate format.
/// A read outside the length limits scores 0; one that fits no format keeps a fraction of its
/// confidence only if it mixes letters and digits or is all digits (vanity and foreign plates
/// exist, but text such as a state name or a slogan is all letters).
pub fn plate_score(
    text: &str,
    confidence: f32,
    format_score: f32,
    min_len: usize,
    max_len: usize,
) -> f32 {
    let n = text.chars().count();
    if n < min_len || n > max_len || is_plate_word(text) {
        return 0.0;
    }
    // Four characters or fewer is more often a fragment of a plate than a whole one.
    let length_factor = if n <= 4 { 0.85 } else { 1.0 };
    let confidence = confidence * length_factor;
    if format_score > 0.0 {
        return confidence * (0.5 + 0.5 * format_score);
    }
    let digits = text.chars().filter(|c| c.is_ascii_digit()).count();
    if digits > 0 {
        confidence * 0.35
    } else {
        0.0
    }
}

/// Drops observations whose boxes overlap a better one (one plate, two candidates).
fn dedupe_overlapping(sorted: Vec<PlateObservation>) -> Vec<PlateObservation> {
    let mut kept: Vec<PlateObservation> = Vec::new();
    for o in sorted {
        let overlaps = kept.iter().any(|k| {
            let inter = k
                .bbox_in_frame
                .intersection(&o.bbox_in_frame)
                .map_or(0.0, |b| b.area());
            inter > 0.5 * o.bbox_in_frame.area().min(k.bbox_in_frame.area())
        });
        if !overlaps {
            kept.push(o);
        }
    }
    kept
}

/// The lines on the same row as the tallest one (vertical centres within half its height,
/// heights within a factor 1.6) merged into one quad, when there are at least two.
fn merge_row(lines: &[TextLine]) -> Option<Quad> {
    let tallest = lines
        .iter()
        .max_by(|a, b| a.quad.height().total_cmp(&b.quad.height()))?;
    let (h, cy) = (tallest.quad.height(), tallest.quad.bbox().centre().y);
    let row: Vec<&TextLine> = lines
        .iter()
        .filter(|l| {
            let lh = l.quad.height();
            (l.quad.bbox().centre().y - cy).abs() < 0.5 * h && lh * 1.6 >= h && lh <= h * 1.6
        })
        .collect();
    if row.len() < 2 {
        return None;
    }
    let points: Vec<Point> = row.iter().flat_map(|l| l.quad.pts).collect();
    Some(min_area_rect(&points).corners())
}

fn padded_origin(image: &RgbImage, bbox: &BBox, pad: f32) -> (f32, f32) {
    let x = (bbox.x - bbox.w * pad)
        .floor()
        .max(0.0)
        .min(image.width() as f32);
    let y = (bbox.y - bbox.h * pad)
        .floor()
        .max(0.0)
        .min(image.height() as f32);
    (x, y)
}

/// Loads the default model pack's plate models from the cache and builds a reader with the
/// given detector.
pub fn load_reader(
    detector: DetectorKind,
    cache: &passwatch_models::ModelCache,
    options: &passwatch_models::SessionOptions,
    config: ReaderConfig,
) -> Result<PlateReader, PlateError> {
    use crate::detect::{DbnetConfig, PlatedetConfig, PlatedetDetector, TextLineDetector};
    use passwatch_models::{Model, ModelManifest, Role};
    let load = |role: Role| -> Result<Model, PlateError> {
        let m = ModelManifest::builtin_for(role)?;
        Ok(Model::load(&m, cache, options)?)
    };
    let det: Box<dyn PlateDetector> = match detector {
        DetectorKind::TextLines => Box::new(TextLineDetector::new(
            Dbnet::new(load(Role::PlateTextDetector)?, DbnetConfig::default())?,
            PlateShape::default(),
        )),
        DetectorKind::Platedet => Box::new(PlatedetDetector::load(
            &ModelManifest::builtin_for(Role::PlateDetector)?,
            cache,
            options,
            PlatedetConfig {
                canvas: config.platedet_canvas,
                ..PlatedetConfig::default()
            },
        )?),
    };
    // The line finder reads inside plate boxes and inside tracked regions.
    let line_finder = if config.refine_lines {
        Some(Dbnet::new(
            load(Role::PlateTextDetector)?,
            DbnetConfig {
                limit_side: LINE_FINDER_SIDE,
                max_side: LINE_FINDER_MAX_SIDE,
                ..DbnetConfig::default()
            },
        )?)
    } else {
        None
    };
    let rec = Recogniser::new(load(Role::PlateOcr)?)?;
    PlateReader::new(det, rec, line_finder, config)
}

/// Short side, in pixels, a plate box is scaled to when looking for the text lines inside it.
pub const LINE_FINDER_SIDE: u32 = 128;

/// Longest side, in pixels, of the line finder's input: a plate close to the camera (or a
/// tracked region grown around it) is scaled down to this. Without the cap a region of a
/// zoomed-in plate ran DBNet at up to 1280×736, and ONNX Runtime's arena grew by 100+ MiB
/// the first time one came by.
pub const LINE_FINDER_MAX_SIDE: u32 = 640;
