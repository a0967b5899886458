//! `passwatch eval plates`: plate OCR and detection measured on labelled folders.
//!
//! Two folder layouts, as in the fixtures:
//! - crops: `labels.csv` with `file,region,plate[,subregion]`, one plate crop per file;
//! - photos: `labels.csv` with `file,region,x,y,w,h,plate`, full scenes with the plate's box.
//!
//! Per region: the exact-read rate (normalised read equals the label), character accuracy
//! (1 − edit distance / label length, at least 0, averaged) and, for photos, detector recall
//! (a candidate box with IoU ≥ 0.5 against the label's box).

use anyhow::{bail, Context, Result};
use passwatch_plate_reader::geometry::BBox;
use passwatch_plate_reader::reader::PlateReader;
use passwatch_plate_reader::text::normalise_plate;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Figures of one region (or overall).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RegionFigures {
    /// Labelled plates.
    pub n: usize,
    /// Share read exactly.
    pub exact: f64,
    /// Mean character accuracy.
    pub char_accuracy: f64,
    /// Share of plates with a detector candidate at IoU ≥ 0.5 (photos only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector_recall: Option<f64>,
    /// Share read exactly by any of the photo's plate reads, not only the best (photos only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact_any: Option<f64>,
}

/// One labelled item's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemResult {
    /// File, relative to the folder.
    pub file: String,
    /// Region label.
    pub region: String,
    /// Label text.
    pub expected: String,
    /// Best read ("" when nothing was read).
    pub read: String,
    /// Whether a detector candidate matched the box (photos).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detected: Option<bool>,
}

/// The report printed by `eval plates`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlateEvalReport {
    /// Per region id.
    pub regions: BTreeMap<String, RegionFigures>,
    /// All items together.
    pub overall: RegionFigures,
    /// Detector used.
    pub detector: String,
    /// Whether text lines inside plate boxes were read too.
    pub refine_lines: bool,
    /// Seconds per item (model time included).
    pub seconds_per_item: f64,
    /// Per item, for inspection.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemResult>,
}

struct Accum {
    n: usize,
    exact: usize,
    exact_any: usize,
    char_acc: f64,
    detected: usize,
}

impl Accum {
    fn new() -> Self {
        Accum {
            n: 0,
            exact: 0,
            exact_any: 0,
            char_acc: 0.0,
            detected: 0,
        }
    }
    fn figures(&self, photos: bool) -> RegionFigures {
        let n = self.n.max(1) as f64;
        RegionFigures {
            n: self.n,
            exact: self.exact as f64 / n,
            char_accuracy: self.char_acc / n,
            detector_recall: photos.then(|| self.detected as f64 / n),
            exact_any: photos.then(|| self.exact_any as f64 / n),
        }
    }
}

/// Character accuracy of a read against a label: 1 − Levenshtein / label length, at least 0.
pub fn char_accuracy(read: &str, label: &str) -> f64 {
    let a: Vec<char> = read.chars().collect();
    let b: Vec<char> = label.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    (1.0 - prev[b.len()] as f64 / b.len().max(1) as f64).max(0.0)
}

#[derive(serde::Deserialize)]
struct CropRow {
    file: String,
    region: String,
    plate: String,
}

#[derive(serde::Deserialize)]
struct PhotoRow {
    file: String,
    region: String,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    plate: String,
}

fn read_labels<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<Vec<T>> {
    let path = dir.join("labels.csv");
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&path)
        .with_context(|| format!("{}: cannot open the labels", path.display()))?;
    let mut rows = Vec::new();
    for (i, r) in rdr.deserialize().enumerate() {
        rows.push(r.with_context(|| format!("{}: row {}", path.display(), i + 2))?);
    }
    if rows.is_empty() {
        bail!("{}: no labelled rows", path.display());
    }
    Ok(rows)
}

fn load_image(path: &Path) -> Result<image::RgbImage> {
    Ok(image::open(path)
        .with_context(|| format!("{}: cannot decode the image", path.display()))?
        .to_rgb8())
}

/// Reads every crop of a crops folder; the region of each label selects its plate alphabet.
pub fn eval_crops(
    dir: &Path,
    reader: &mut PlateReader,
    keep_items: bool,
) -> Result<PlateEvalReport> {
    let rows: Vec<CropRow> = read_labels(dir)?;
    let mut per: BTreeMap<String, Accum> = BTreeMap::new();
    let mut all = Accum::new();
    let mut items = Vec::new();
    let t = std::time::Instant::now();
    for row in &rows {
        let img = load_image(&dir.join(&row.file))?;
        let region = row.region.as_str();
        let obs = reader.read_crop(&img, Some(&[region]))?;
        let expected = normalise_plate(&row.plate);
        let ok = obs.text == expected;
        let ca = char_accuracy(&obs.text, &expected);
        for acc in [
            per.entry(row.region.clone()).or_insert_with(Accum::new),
            &mut all,
        ] {
            acc.n += 1;
            acc.exact += usize::from(ok);
            acc.char_acc += ca;
        }
        if keep_items {
            items.push(ItemResult {
                file: row.file.clone(),
                region: row.region.clone(),
                expected,
                read: obs.text,
                detected: None,
            });
        }
    }
    Ok(PlateEvalReport {
        regions: per
            .iter()
            .map(|(k, v)| (k.clone(), v.figures(false)))
            .collect(),
        overall: all.figures(false),
        detector: "none (ground-truth crops)".into(),
        refine_lines: reader.config().refine_lines,
        seconds_per_item: t.elapsed().as_secs_f64() / rows.len() as f64,
        items,
    })
}

/// Reads every photo of a photos folder end to end (detect, read, rank) and checks the best
/// read against the label.
pub fn eval_photos(
    dir: &Path,
    reader: &mut PlateReader,
    keep_items: bool,
) -> Result<PlateEvalReport> {
    let rows: Vec<PhotoRow> = read_labels(dir)?;
    let mut per: BTreeMap<String, Accum> = BTreeMap::new();
    let mut all = Accum::new();
    let mut items = Vec::new();
    let t = std::time::Instant::now();
    for row in &rows {
        let path: PathBuf = dir.join(&row.file);
        let img = load_image(&path)?;
        let truth = BBox::new(row.x, row.y, row.w, row.h);
        let candidates = reader.detect(&img)?;
        let detected = candidates
            .iter()
            .any(|c| c.quad_in_frame.bbox().iou(&truth) >= 0.5);
        let obs = reader.read_frame(&img)?;
        let expected = normalise_plate(&row.plate);
        let best = obs.first().map(|o| o.text.clone()).unwrap_or_default();
        let ok = best == expected;
        let any = obs.iter().any(|o| o.text == expected);
        let ca = char_accuracy(&best, &expected);
        for acc in [
            per.entry(row.region.clone()).or_insert_with(Accum::new),
            &mut all,
        ] {
            acc.n += 1;
            acc.exact += usize::from(ok);
            acc.exact_any += usize::from(any);
            acc.char_acc += ca;
            acc.detected += usize::from(detected);
        }
        if keep_items {
            items.push(ItemResult {
                file: row.file.clone(),
                region: row.region.clone(),
                expected,
                read: best,
                detected: Some(detected),
            });
        }
    }
    Ok(PlateEvalReport {
        regions: per
            .iter()
            .map(|(k, v)| (k.clone(), v.figures(true)))
            .collect(),
        overall: all.figures(true),
        detector: reader.detector_kind().to_string(),
        refine_lines: reader.config().refine_lines,
        seconds_per_item: t.elapsed().as_secs_f64() / rows.len() as f64,
        items,
    })
}

impl PlateEvalReport {
    /// The human table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "detector: {}   line refinement: {}   {:.3} s/item\n",
            self.detector,
            if self.refine_lines { "on" } else { "off" },
            self.seconds_per_item
        );
        let photos = self.overall.detector_recall.is_some();
        s += &format!(
            "{:<8} {:>5} {:>8} {:>10}{}\n",
            "region",
            "n",
            "exact",
            "chars",
            if photos {
                "  det.recall  exact(any)"
            } else {
                ""
            }
        );
        let mut row = |name: &str, f: &RegionFigures| {
            s += &format!(
                "{:<8} {:>5} {:>7.1}% {:>9.1}%",
                name,
                f.n,
                f.exact * 100.0,
                f.char_accuracy * 100.0
            );
            if let (Some(r), Some(a)) = (f.detector_recall, f.exact_any) {
                s += &format!("  {:>9.1}%  {:>9.1}%", r * 100.0, a * 100.0);
            }
            s += "\n";
        };
        for (k, v) in &self.regions {
            row(k, v);
        }
        row("overall", &self.overall);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_accuracy_is_one_minus_normalised_edit_distance() {
        assert_eq!(char_accuracy("ABC123", "ABC123"), 1.0);
        assert!((char_accuracy("ABC12", "ABC123") - 5.0 / 6.0).abs() < 1e-9);
        assert_eq!(char_accuracy("", "ABC"), 0.0);
        assert_eq!(char_accuracy("XXXXXXXX", "AB"), 0.0);
    }
}
