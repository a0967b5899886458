//! Plate candidates: where in a frame a plate may be.
//!
//! Two detectors sit behind one trait, [`PlateDetector`]:
//!
//! - [`TextLineDetector`] runs the PP-OCRv4 DBNet text detector over the frame and keeps the text
//!   lines of plausible plate shape. It finds *every* line of text (state names, slogans, shop
//!   signs), so the reader later ranks candidates by how plate-like their read is.
//! - [`PlatedetDetector`] runs `platedet` (YOLOv8, fp16) and returns whole-plate boxes, which the
//!   reader can refine into the text lines inside them with the same DBNet model. By default its
//!   graph is cut to the boxes; it can also be fitted to the frame's canvas ([`PlatedetCanvas`]).
//!
//! Every candidate's quad is in frame pixels (`quad_in_frame`).

use crate::geometry::{
    binarize, connected_components, dilate_2x2, mean_inside, min_area_rect, nms, unclip, BBox,
    BBoxQuad, Point, Quad,
};
use crate::PlateError;
use image::RgbImage;
use ndarray::Array4;
use passwatch_models::preprocess::{fill, resize_into, Letterbox, Normalise, Placement};
use passwatch_models::{DecoderKind, Model};

/// Which detector produced a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// PP-OCRv4 DBNet text lines.
    TextLines,
    /// platedet whole-plate boxes.
    Platedet,
}

impl std::fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DetectorKind::TextLines => "text-lines",
            DetectorKind::Platedet => "platedet",
        })
    }
}

impl std::str::FromStr for DetectorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text-lines" | "text_lines" | "ppocr" | "dbnet" => Ok(DetectorKind::TextLines),
            "platedet" | "yolo" => Ok(DetectorKind::Platedet),
            other => Err(format!(
                "unknown plate detector {other:?} (text-lines, platedet)"
            )),
        }
    }
}

/// A region of a frame that may hold a plate.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateCandidate {
    /// Corners in frame pixels (top-left, top-right, bottom-right, bottom-left).
    pub quad_in_frame: Quad,
    /// The detector's confidence, 0..1.
    pub score: f32,
    /// Which detector found it.
    pub detector: DetectorKind,
}

/// Finds plate candidates in a frame.
pub trait PlateDetector: Send {
    /// Candidates in `frame`, best first.
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<PlateCandidate>, PlateError>;
    /// Which detector this is.
    fn kind(&self) -> DetectorKind;
    /// The id of the model behind it (recorded in events).
    fn model_id(&self) -> &str;
}

/// A detector input made by letterboxing: `frame` scaled to fit a `tw`×`th` canvas, centred,
/// the rest padded with `pad` (platedet's 114 grey), NCHW values normalised by `norm`.
pub fn letterbox_input(
    frame: &RgbImage,
    (tw, th): (u32, u32),
    norm: &Normalise,
    pad: u8,
) -> (Vec<f32>, Letterbox) {
    let (lb, place) = Letterbox::fit(frame.width(), frame.height(), tw, th, true);
    let mut data = vec![0.0; 3 * (tw * th) as usize];
    fill(&mut data, norm, pad);
    resize_into(frame, &mut data, tw, th, place, norm);
    (data, lb)
}

/// DBNet's input size for an image: the short side scaled up to `limit_side`, the long side
/// capped at `max_side`, both rounded to multiples of 32.
pub fn dbnet_input_size(w: u32, h: u32, limit_side: u32, max_side: u32) -> (u32, u32) {
    let short = w.min(h).max(1) as f32;
    let mut ratio = if short < limit_side as f32 {
        limit_side as f32 / short
    } else {
        1.0
    };
    let long = w.max(h) as f32 * ratio;
    if long > max_side as f32 {
        ratio *= max_side as f32 / long;
    }
    let round32 = |v: f32| (((v / 32.0).round() as u32).max(1)) * 32;
    (round32(w as f32 * ratio), round32(h as f32 * ratio))
}

/// Fills DBNet's input (`3 × th × tw` values) with `image` scaled to the whole of it.
pub fn fill_dbnet_input(
    image: &RgbImage,
    data: &mut [f32],
    (tw, th): (u32, u32),
    norm: &Normalise,
) {
    let place = Placement {
        x: 0,
        y: 0,
        w: tw,
        h: th,
    };
    resize_into(image, data, tw, th, place, norm);
}

/// DBNet post-processing settings (PaddleOCR's defaults unless noted).
#[derive(Clone, Debug, PartialEq)]
pub struct DbnetConfig {
    /// The image's short side is scaled up to this many pixels when smaller (rapidocr's
    /// `limit_side_len` with `limit_type = "min"`); sides are then rounded to multiples of 32.
    pub limit_side: u32,
    /// The long side is never scaled beyond this (bounds the cost on large frames).
    pub max_side: u32,
    /// Probability threshold of the text map.
    pub threshold: f32,
    /// Minimum mean probability inside a box.
    pub box_threshold: f32,
    /// Unclip (box expansion) ratio.
    pub unclip_ratio: f32,
    /// Smallest box short side, in map pixels.
    pub min_size: f32,
    /// At most this many boxes per image.
    pub max_candidates: usize,
}

impl Default for DbnetConfig {
    fn default() -> Self {
        DbnetConfig {
            limit_side: 736,
            max_side: 2048,
            threshold: 0.3,
            box_threshold: 0.5,
            unclip_ratio: 1.6,
            min_size: 3.0,
            max_candidates: 1000,
        }
    }
}

/// A text line found by DBNet, in the pixels of the image it ran on.
#[derive(Clone, Debug, PartialEq)]
pub struct TextLine {
    /// Corners in image pixels.
    pub quad: Quad,
    /// Mean text probability inside the line.
    pub score: f32,
}

/// PP-OCRv4 DBNet text detection.
pub struct Dbnet {
    model: Model,
    norm: Normalise,
    /// Post-processing settings.
    pub config: DbnetConfig,
    mask: Vec<u8>,
}

impl Dbnet {
    /// Wraps a loaded DBNet model.
    pub fn new(model: Model, config: DbnetConfig) -> Result<Self, PlateError> {
        expect_decoder(&model, DecoderKind::Dbnet)?;
        Ok(Dbnet {
            norm: Normalise::from_spec(&model.manifest().input),
            model,
            config,
            mask: Vec::new(),
        })
    }

    /// The model's id.
    pub fn model_id(&self) -> &str {
        self.model.id()
    }

    /// The input size DBNet runs at for an image of this size (multiples of 32).
    pub fn input_size(&self, w: u32, h: u32) -> (u32, u32) {
        dbnet_input_size(w, h, self.config.limit_side, self.config.max_side)
    }

    /// Text lines in `image`, in its pixels, best score first.
    pub fn detect_lines(&mut self, image: &RgbImage) -> Result<Vec<TextLine>, PlateError> {
        let (w, h) = (image.width(), image.height());
        if w < 2 || h < 2 {
            return Ok(Vec::new());
        }
        let (tw, th) = self.input_size(w, h);
        let mut input = Array4::<f32>::zeros((1, 3, th as usize, tw as usize));
        let slice = input
            .as_slice_mut()
            .ok_or_else(|| PlateError::Internal("input tensor not contiguous".into()))?;
        fill_dbnet_input(image, slice, (tw, th), &self.norm);
        let out = self.model.run(input.into_dyn().view())?;
        let map = &out[0];
        let (mh, mw) = match map.shape.as_slice() {
            [_, _, mh, mw] => (*mh, *mw),
            s => {
                return Err(PlateError::Internal(format!(
                    "DBNet output has shape {s:?}, expected [1, 1, H, W]"
                )))
            }
        };
        let map = &map.data[..mh * mw];
        let sx = w as f32 / mw as f32;
        let sy = h as f32 / mh as f32;
        let mut lines = self.boxes_from_map(map, mw, mh);
        for l in &mut lines {
            let q = l.quad.scaled(sx, sy);
            l.quad = clamp_quad(&q, w as f32, h as f32);
        }
        Ok(lines)
    }

    /// DBNet post-processing: threshold, dilate, components, min-area rectangles, box score,
    /// unclip. Quads are in map pixels.
    fn boxes_from_map(&mut self, map: &[f32], mw: usize, mh: usize) -> Vec<TextLine> {
        let c = &self.config;
        binarize(map, c.threshold, &mut self.mask);
        dilate_2x2(&mut self.mask, mw, mh);
        let mut comps = connected_components(&self.mask, mw, mh);
        // Biggest first, as PaddleOCR caps the number of contours it looks at.
        comps.sort_by_key(|c| std::cmp::Reverse(c.area));
        comps.truncate(c.max_candidates);
        let mut lines = Vec::new();
        for comp in comps {
            if comp.outline.len() < 4 {
                continue;
            }
            let rect = min_area_rect(&comp.outline);
            if rect.short_side() < c.min_size {
                continue;
            }
            let score = mean_inside(map, mw, mh, &rect.corners());
            if score < c.box_threshold {
                continue;
            }
            let grown = unclip(&rect, c.unclip_ratio);
            if grown.short_side() < c.min_size + 2.0 {
                continue;
            }
            lines.push(TextLine {
                quad: grown.corners(),
                score,
            });
        }
        lines.sort_by(|a, b| b.score.total_cmp(&a.score));
        lines
    }
}

/// Plate-shape limits for text lines proposed as plates.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateShape {
    /// Smallest line height in frame pixels.
    pub min_height: f32,
    /// Smallest width/height ratio of a line.
    pub min_aspect: f32,
    /// Largest width/height ratio of a line.
    pub max_aspect: f32,
    /// At most this many candidates per frame (largest first).
    pub max_candidates: usize,
}

impl Default for PlateShape {
    fn default() -> Self {
        PlateShape {
            min_height: 8.0,
            min_aspect: 1.2,
            max_aspect: 12.0,
            max_candidates: 24,
        }
    }
}

/// Plate candidates from DBNet text lines of plausible plate shape.
pub struct TextLineDetector {
    dbnet: Dbnet,
    /// Shape filter.
    pub shape: PlateShape,
}

impl TextLineDetector {
    /// Wraps a DBNet detector.
    pub fn new(dbnet: Dbnet, shape: PlateShape) -> Self {
        TextLineDetector { dbnet, shape }
    }

    /// The DBNet detector inside.
    pub fn dbnet(&mut self) -> &mut Dbnet {
        &mut self.dbnet
    }
}

impl PlateDetector for TextLineDetector {
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<PlateCandidate>, PlateError> {
        let lines = self.dbnet.detect_lines(frame)?;
        let s = &self.shape;
        let mut out: Vec<PlateCandidate> = lines
            .into_iter()
            .filter(|l| {
                let (w, h) = (l.quad.width(), l.quad.height());
                h >= s.min_height
                    && w / h.max(1e-3) >= s.min_aspect
                    && w / h.max(1e-3) <= s.max_aspect
            })
            .map(|l| PlateCandidate {
                quad_in_frame: l.quad,
                score: l.score,
                detector: DetectorKind::TextLines,
            })
            .collect();
        // Keep the largest lines: plates are read best when big, and distant text is noise.
        out.sort_by(|a, b| b.quad_in_frame.area().total_cmp(&a.quad_in_frame.area()));
        out.truncate(s.max_candidates);
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(out)
    }

    fn kind(&self) -> DetectorKind {
        DetectorKind::TextLines
    }

    fn model_id(&self) -> &str {
        self.dbnet.model_id()
    }
}

/// How platedet's input canvas is chosen (see `passwatch_models::graph`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PlatedetCanvas {
    /// The graph cut to its boxes and fitted to a canvas of multiples of 32 that holds the
    /// frame at the square letterbox's scale (640×384 for 16:9): the same pixels at the same
    /// size, without computing the padding or the mask branch. 42% cheaper than `Square`, but
    /// boxes move by fractions of a pixel and borderline reads change (design/plate-reading.md).
    Fit,
    /// The graph cut to its boxes, on the 640×640 canvas it was exported for: the pack's
    /// preprocessing exactly, and the same outputs as the file as shipped (the default).
    #[default]
    Square,
    /// The file as shipped, mask branch and all.
    AsShipped,
}

impl std::fmt::Display for PlatedetCanvas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PlatedetCanvas::Fit => "fit",
            PlatedetCanvas::Square => "square",
            PlatedetCanvas::AsShipped => "as-shipped",
        })
    }
}

impl std::str::FromStr for PlatedetCanvas {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fit" => Ok(PlatedetCanvas::Fit),
            "square" => Ok(PlatedetCanvas::Square),
            "as-shipped" | "as_shipped" => Ok(PlatedetCanvas::AsShipped),
            other => Err(format!(
                "unknown platedet canvas {other:?} (fit, square, as-shipped)"
            )),
        }
    }
}

impl PlatedetCanvas {
    /// The canvas (width, height) a `w`×`h` frame is fed on, for a model exported for
    /// `exported` (width, height).
    pub fn for_frame(self, w: u32, h: u32, exported: (u32, u32)) -> (u32, u32) {
        match self {
            PlatedetCanvas::Fit => {
                passwatch_models::graph::fitted_canvas(w, h, exported.0.max(exported.1))
            }
            PlatedetCanvas::Square | PlatedetCanvas::AsShipped => exported,
        }
    }
}

/// Default of [`PlatedetConfig::score_threshold`]. Low on purpose: a box stands only if its read
/// is plate-like (`ReaderConfig::min_plate_score`) and its track gathers the tracker's
/// `min_reads`, so a weak box costs an OCR call but no sighting unless a plate is there. 0.4
/// before; at 0.1, two of the three plates of `plates_dev.mp4` that were never seen are, with no
/// spurious sighting on it or on three videos without readable plates
/// (design/plate-reading.md).
pub const DEFAULT_PLATEDET_SCORE: f32 = 0.1;

/// platedet (YOLOv8) settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PlatedetConfig {
    /// Minimum plate score.
    pub score_threshold: f32,
    /// NMS IoU threshold.
    pub nms_iou: f32,
    /// The input canvas.
    pub canvas: PlatedetCanvas,
}

impl Default for PlatedetConfig {
    fn default() -> Self {
        PlatedetConfig {
            score_threshold: DEFAULT_PLATEDET_SCORE,
            nms_iou: 0.4,
            canvas: PlatedetCanvas::default(),
        }
    }
}

/// Sessions kept for different canvases (a camera's frames all share one; photos of many
/// shapes cycle through a few).
const CANVAS_SESSIONS: usize = 3;

/// Where fitted sessions are loaded from.
struct Loader {
    manifest: passwatch_models::ModelManifest,
    cache: passwatch_models::ModelCache,
    options: passwatch_models::SessionOptions,
}

/// Whole-plate boxes from platedet.
pub struct PlatedetDetector {
    /// Sessions by canvas, the most recently used last.
    sessions: Vec<((u32, u32), Model)>,
    loader: Option<Loader>,
    exported: (u32, u32),
    id: String,
    norm: Normalise,
    pad: u8,
    /// Settings.
    pub config: PlatedetConfig,
}

impl PlatedetDetector {
    /// Wraps a loaded platedet model, fed on the canvas it was loaded for (the file as
    /// shipped, or one fitted by the caller).
    pub fn new(model: Model, config: PlatedetConfig) -> Result<Self, PlateError> {
        expect_decoder(&model, DecoderKind::Yolov8)?;
        let m = model.manifest();
        let size = (
            m.fixed_width().unwrap_or(640),
            m.fixed_height().unwrap_or(640),
        );
        Ok(PlatedetDetector {
            norm: Normalise::from_spec(&m.input),
            pad: m.input.pad.unwrap_or(114),
            exported: size,
            id: model.id().to_string(),
            sessions: vec![(size, model)],
            loader: None,
            config: PlatedetConfig {
                canvas: PlatedetCanvas::AsShipped,
                ..config
            },
        })
    }

    /// Loads platedet for `config.canvas`: as shipped, or cut to its boxes with sessions made
    /// per canvas as frames of new shapes come (the 16:9 one at once, so a graph that cannot
    /// be prepared fails here, not on the first frame).
    pub fn load(
        manifest: &passwatch_models::ModelManifest,
        cache: &passwatch_models::ModelCache,
        options: &passwatch_models::SessionOptions,
        config: PlatedetConfig,
    ) -> Result<Self, PlateError> {
        if config.canvas == PlatedetCanvas::AsShipped {
            return Self::new(Model::load(manifest, cache, options)?, config);
        }
        if manifest.decoder != DecoderKind::Yolov8 {
            return Err(PlateError::WrongModel {
                model: manifest.id.clone(),
                expected: format!("{:?}", DecoderKind::Yolov8),
                found: format!("{:?}", manifest.decoder),
            });
        }
        let exported = (
            manifest.fixed_width().unwrap_or(640),
            manifest.fixed_height().unwrap_or(640),
        );
        let first = config.canvas.for_frame(16 * 80, 9 * 80, exported);
        let mut d = PlatedetDetector {
            norm: Normalise::from_spec(&manifest.input),
            pad: manifest.input.pad.unwrap_or(114),
            exported,
            id: manifest.id.clone(),
            sessions: Vec::new(),
            loader: Some(Loader {
                manifest: manifest.clone(),
                cache: cache.clone(),
                options: options.clone(),
            }),
            config,
        };
        d.session_for(first)?;
        Ok(d)
    }

    /// The canvas a `w`×`h` frame is fed on.
    pub fn canvas_for(&self, w: u32, h: u32) -> (u32, u32) {
        self.config.canvas.for_frame(w, h, self.exported)
    }

    /// The model's input for a frame: the canvas and its NCHW values, and where the frame
    /// sits in it.
    pub fn input(&self, frame: &RgbImage) -> ((u32, u32), Vec<f32>, Letterbox) {
        let canvas = self.canvas_for(frame.width(), frame.height());
        let (data, lb) = letterbox_input(frame, canvas, &self.norm, self.pad);
        (canvas, data, lb)
    }

    fn session_for(&mut self, canvas: (u32, u32)) -> Result<&mut Model, PlateError> {
        if let Some(i) = self.sessions.iter().position(|(c, _)| *c == canvas) {
            let s = self.sessions.remove(i);
            self.sessions.push(s);
        } else {
            let l = self.loader.as_ref().ok_or_else(|| {
                PlateError::Internal(format!(
                    "platedet was loaded for {:?} only, not {canvas:?}",
                    self.exported
                ))
            })?;
            let model = Model::load_yolov8_boxes(&l.manifest, &l.cache, &l.options, canvas)?;
            if self.sessions.len() >= CANVAS_SESSIONS {
                self.sessions.remove(0);
            }
            self.sessions.push((canvas, model));
        }
        Ok(&mut self.sessions.last_mut().expect("just pushed").1)
    }
}

impl PlateDetector for PlatedetDetector {
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<PlateCandidate>, PlateError> {
        let ((tw, th), data, lb) = self.input(frame);
        let input = Array4::from_shape_vec((1, 3, th as usize, tw as usize), data)
            .map_err(|e| PlateError::Internal(format!("platedet input: {e}")))?;
        let out = self.session_for((tw, th))?.run(input.into_dyn().view())?;
        let o = &out[0];
        let (rows, anchors) = match o.shape.as_slice() {
            [1, r, a] if *r >= 5 => (*r, *a),
            s => {
                return Err(PlateError::Internal(format!(
                    "platedet output has shape {s:?}, expected [1, 5+, anchors]"
                )))
            }
        };
        let d = &o.data[..rows * anchors];
        let at = |row: usize, a: usize| d[row * anchors + a];
        let mut boxes: Vec<(BBox, f32)> = Vec::new();
        for a in 0..anchors {
            let score = at(4, a);
            if score < self.config.score_threshold {
                continue;
            }
            let (cx, cy, w, h) = (at(0, a), at(1, a), at(2, a), at(3, a));
            let x0 = lb.to_source_x(cx - w / 2.0).max(0.0);
            let y0 = lb.to_source_y(cy - h / 2.0).max(0.0);
            let x1 = lb.to_source_x(cx + w / 2.0).min(frame.width() as f32);
            let y1 = lb.to_source_y(cy + h / 2.0).min(frame.height() as f32);
            if x1 - x0 < 2.0 || y1 - y0 < 2.0 {
                continue;
            }
            boxes.push((BBox::new(x0, y0, x1 - x0, y1 - y0), score));
        }
        let keep = nms(&boxes, self.config.nms_iou);
        Ok(keep
            .into_iter()
            .map(|i| PlateCandidate {
                quad_in_frame: boxes[i].0.to_quad(),
                score: boxes[i].1,
                detector: DetectorKind::Platedet,
            })
            .collect())
    }

    fn kind(&self) -> DetectorKind {
        DetectorKind::Platedet
    }

    fn model_id(&self) -> &str {
        &self.id
    }
}

fn expect_decoder(model: &Model, want: DecoderKind) -> Result<(), PlateError> {
    if model.manifest().decoder != want {
        return Err(PlateError::WrongModel {
            model: model.id().to_string(),
            expected: format!("{want:?}"),
            found: format!("{:?}", model.manifest().decoder),
        });
    }
    Ok(())
}

fn clamp_quad(q: &Quad, w: f32, h: f32) -> Quad {
    let mut pts = q.pts;
    for p in &mut pts {
        *p = Point::new(p.x.clamp(0.0, w), p.y.clamp(0.0, h));
    }
    Quad { pts }
}
