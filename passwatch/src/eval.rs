//! `passwatch eval plates`: plate OCR and detection measured on labelled folders; `eval
//! decisions` ([`decisions`]): what the rules make of the sightings.
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

pub mod decisions;

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

/// A row of a photos folder's `labels.csv`.
#[derive(serde::Deserialize)]
pub(crate) struct PhotoRow {
    pub(crate) file: String,
    pub(crate) region: String,
    pub(crate) x: f32,
    pub(crate) y: f32,
    pub(crate) w: f32,
    pub(crate) h: f32,
    pub(crate) plate: String,
}

/// Every row of `dir/labels.csv`; errors name the file and the row.
pub(crate) fn read_labels<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<Vec<T>> {
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

/// A photo as RGB; errors name the file.
pub(crate) fn load_image(path: &Path) -> Result<image::RgbImage> {
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
        assert_eq!(char_accuracy("QQQQQQQQ", "AB"), 0.0);
    }
}

/// Figures of `eval plates --video`: sightings of a labelled video against its ground truth.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VideoEvalReport {
    /// Plates shown in the video (distinct labelled segments).
    pub plates: usize,
    /// Plates with exactly one sighting.
    pub exactly_one_sighting: usize,
    /// Plates with no sighting.
    pub missed: usize,
    /// Plates with more than one sighting.
    pub split: usize,
    /// Sightings that start outside every labelled segment.
    pub spurious: usize,
    /// Share of plates whose (first) sighting's consensus equals the label.
    pub consensus_exact: f64,
    /// Share of analysed frames showing a plate in which the best read overlapping the plate's
    /// box equals the label (a miss counts as wrong).
    pub single_frame_exact: f64,
    /// Share of the reads that went into sightings that equal their plate's label.
    pub read_exact_in_tracks: f64,
    /// Per region: plates, consensus exact share, single-frame exact share.
    pub regions: BTreeMap<String, (usize, f64, f64)>,
    /// Frames decoded and analysed.
    pub frames: (u64, u64),
    /// Wall seconds.
    pub elapsed_s: f64,
    /// Milliseconds per analysed frame: detect, refine (lines in boxes and tracked regions),
    /// OCR; and the share of analysed frames read around tracks without a detector pass.
    pub stages_ms: (f64, f64, f64, f64),
    /// Per plate: label, sightings' texts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<(String, Vec<String>)>,
}

#[derive(serde::Deserialize)]
struct TruthRow {
    frame: u64,
    source: String,
    region: String,
    plate: String,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
}

/// One plate of a labelled video: the consecutive frames of one source.
pub(crate) struct Segment {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) region: String,
    pub(crate) plate: String,
}

/// A video's per-frame truth (`frame,source,region,plate,x,y,w,h`).
pub(crate) struct Truth {
    pub(crate) segments: Vec<Segment>,
    /// Per labelled frame: its segment and the plate's box.
    pub(crate) by_frame: BTreeMap<u64, (usize, BBox)>,
}

impl Truth {
    pub(crate) fn load(truth: &Path) -> Result<Truth> {
        let mut rdr = csv::Reader::from_path(truth)
            .with_context(|| format!("{}: cannot open", truth.display()))?;
        let mut rows: Vec<TruthRow> = Vec::new();
        for (i, r) in rdr.deserialize().enumerate() {
            rows.push(r.with_context(|| format!("{}: row {}", truth.display(), i + 2))?);
        }
        let mut segments: Vec<Segment> = Vec::new();
        let mut by_frame: BTreeMap<u64, (usize, BBox)> = BTreeMap::new();
        let mut prev_source = String::new();
        for r in &rows {
            if r.source != prev_source || segments.is_empty() {
                segments.push(Segment {
                    first: r.frame,
                    last: r.frame,
                    region: r.region.clone(),
                    plate: normalise_plate(&r.plate),
                });
                prev_source = r.source.clone();
            }
            let k = segments.len() - 1;
            segments[k].last = r.frame;
            by_frame.insert(r.frame, (k, BBox::new(r.x, r.y, r.w, r.h)));
        }
        Ok(Truth { segments, by_frame })
    }

    /// The segment a track starting at `frame` belongs to, if any.
    pub(crate) fn segment_of(&self, frame: u64) -> Option<usize> {
        self.segments
            .iter()
            .position(|s| frame >= s.first && frame <= s.last)
    }
}

/// What one run of a video through the engine left for scoring.
pub(crate) struct VideoRun {
    /// The tracks the engine closed, by track id.
    pub(crate) closed: Vec<ClosedTrack>,
    /// Frames decoded and analysed.
    pub(crate) frames: (u64, u64),
    /// Per analysed frame: detect, refine, OCR ms; share of frames read around tracks.
    pub(crate) stages_ms: (f64, f64, f64, f64),
    pub(crate) elapsed_s: f64,
}

/// Runs the plate path (read, track, consensus) over a video through the stream engine, as
/// `replay` runs it, on a site whose zone is never restricted: every track is closed, voted on
/// and decided with the product's code, and the engine's
/// [`passwatch_pipeline::engine::TrackObserver`] hands the closed tracks, with their sightings,
/// back. Nothing is written. `on_frame` sees every analysed frame's reads.
pub(crate) fn run_video(
    video: &Path,
    analyse_fps: f64,
    reader: &mut PlateReader,
    tracker_config: passwatch_pipeline::track::TrackerConfig,
    schedule: passwatch_pipeline::plates::PlateSchedule,
    on_frame: &mut dyn FnMut(u64, &[passwatch_plate_reader::reader::PlateObservation]),
) -> Result<VideoRun> {
    use passwatch_events::NullSink;
    use passwatch_pipeline::engine::{
        DecideSetup, DecideState, Decider, NoFaceFinder, StreamId, StreamTrackers,
    };
    use passwatch_pipeline::ingest::{FrameSelection, Ingest, IngestMessage};
    use passwatch_plate_reader::formats::PlateFormats;

    let regions: Vec<String> = reader.config().regions.clone();
    let region_refs: Vec<&str> = regions.iter().map(String::as_str).collect();
    let site = eval_site(&regions)?;
    let passes = passwatch_registry::PassSnapshot::from_passes(0, Vec::new());
    let setup = DecideSetup {
        site: &site,
        passes: &passes,
        faces: None,
        tracker: passwatch_pipeline::track::TrackerConfig {
            schedule,
            ..tracker_config
        },
        face_tracker: Default::default(),
    };
    let source = video.display().to_string();
    let model_ids = std::collections::BTreeMap::new();
    let mut sink = NullSink::default();
    let mut state = DecideState::default();
    let mut closed = ClosedTracks {
        tracks: Vec::new(),
        source: source.clone(),
    };
    let started = std::time::Instant::now();
    let times_before = reader.times;
    let mut ingest = Ingest::open_file(video, FrameSelection::Rate(analyse_fps), 4)?;
    let mut streams = StreamTrackers::new(&setup.tracker, &setup.face_tracker, &site);
    let mut decider = Decider {
        setup: &setup,
        stream: StreamId {
            camera_id: EVAL_CAMERA,
            source: &source,
            source_key: &source,
            start: chrono::DateTime::UNIX_EPOCH,
        },
        models: &model_ids,
        regions: &region_refs,
        formats: PlateFormats::builtin(),
        sink: &mut sink,
        privacy: &mut NoFaceFinder,
        state: &mut state,
        observer: Some(&mut closed),
    };
    let mut analysed = 0u64;
    for msg in ingest.by_ref() {
        match msg {
            IngestMessage::Frame(frame) => {
                analysed += 1;
                let found = streams.infer(Some(&mut *reader), None, &frame)?;
                let obs = found.plates.as_deref().unwrap_or_default();
                tracing::debug!(
                    frame = frame.index,
                    reads = ?obs
                        .iter()
                        .map(|o| (o.text.as_str(), o.plate_score, o.bbox_in_frame.x as i32, o.bbox_in_frame.y as i32))
                        .collect::<Vec<_>>(),
                    "analysed frame"
                );
                on_frame(frame.index, obs);
                decider.apply(&mut streams, &frame, found)?;
            }
            IngestMessage::End(r) => {
                r?;
                break;
            }
        }
    }
    decider.finish(&mut streams)?;
    let decoded = ingest
        .counters
        .decoded
        .load(std::sync::atomic::Ordering::Relaxed);
    let t = reader.times;
    let per = |a: f64, b: f64| (a - b) * 1e3 / analysed.max(1) as f64;
    let mut tracks = closed.tracks;
    tracks.sort_by_key(|t| t.id);
    Ok(VideoRun {
        closed: tracks,
        frames: (decoded, analysed),
        stages_ms: (
            per(t.detect_s, times_before.detect_s),
            per(t.refine_s, times_before.refine_s),
            per(t.ocr_s, times_before.ocr_s),
            (t.tracked_frames - times_before.tracked_frames) as f64 / analysed.max(1) as f64,
        ),
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// Runs the plate path over a video through the stream engine and scores its sightings against a
/// per-frame truth CSV (`frame,source,region,plate,x,y,w,h`).
pub fn eval_video(
    video: &Path,
    truth: &Path,
    analyse_fps: f64,
    reader: &mut PlateReader,
    tracker_config: passwatch_pipeline::track::TrackerConfig,
    schedule: passwatch_pipeline::plates::PlateSchedule,
    keep_items: bool,
) -> Result<VideoEvalReport> {
    let truth = Truth::load(truth)?;
    let mut frames_with_plate = 0usize;
    let mut frames_read_exact = 0usize;
    let mut per_region_frames: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let run = run_video(
        video,
        analyse_fps,
        reader,
        tracker_config,
        schedule,
        &mut |index, obs| {
            if let Some((seg, truth_box)) = truth.by_frame.get(&index) {
                let seg = &truth.segments[*seg];
                frames_with_plate += 1;
                let hit = obs
                    .iter()
                    .find(|o| o.bbox_in_frame.iou(truth_box) > 0.1)
                    .is_some_and(|o| o.text == seg.plate);
                frames_read_exact += usize::from(hit);
                let e = per_region_frames.entry(seg.region.clone()).or_default();
                e.0 += 1;
                e.1 += usize::from(hit);
            }
        },
    )?;
    let mut sightings: Vec<Vec<String>> = vec![Vec::new(); truth.segments.len()];
    let mut spurious = 0;
    let mut reads_total = 0usize;
    let mut reads_exact = 0usize;
    for t in &run.closed {
        let Some(sighting) = &t.sighting else {
            continue;
        };
        match truth.segment_of(t.first_frame) {
            Some(k) => {
                let plate = &truth.segments[k].plate;
                reads_total += sighting.reads.len();
                reads_exact += sighting.reads.iter().filter(|r| r.text == *plate).count();
                sightings[k].push(sighting.plate.clone());
            }
            None => spurious += 1,
        }
    }
    let mut report = VideoEvalReport {
        stages_ms: run.stages_ms,
        plates: truth.segments.len(),
        spurious,
        frames: run.frames,
        elapsed_s: run.elapsed_s,
        single_frame_exact: frames_read_exact as f64 / frames_with_plate.max(1) as f64,
        read_exact_in_tracks: reads_exact as f64 / reads_total.max(1) as f64,
        ..Default::default()
    };
    let mut exact = 0;
    let mut per_region: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (s, seen) in truth.segments.iter().zip(&sightings) {
        match seen.len() {
            0 => report.missed += 1,
            1 => report.exactly_one_sighting += 1,
            _ => report.split += 1,
        }
        let ok = seen.first().is_some_and(|t| *t == s.plate);
        exact += usize::from(ok);
        let e = per_region.entry(s.region.clone()).or_default();
        e.0 += 1;
        e.1 += usize::from(ok);
        if keep_items {
            report.items.push((s.plate.clone(), seen.clone()));
        }
    }
    report.consensus_exact = exact as f64 / truth.segments.len().max(1) as f64;
    for (k, (n, ok)) in per_region {
        let (f, fe) = per_region_frames.get(&k).copied().unwrap_or((0, 0));
        report.regions.insert(
            k,
            (n, ok as f64 / n.max(1) as f64, fe as f64 / f.max(1) as f64),
        );
    }
    Ok(report)
}

/// The camera of [`eval_site`].
const EVAL_CAMERA: &str = "eval-camera";

/// A site with one plate camera in a zone that is never restricted: the engine decides every
/// sighting `not_restricted`, so an evaluation raises no event and needs no evidence.
fn eval_site(regions: &[String]) -> Result<passwatch_registry::site::Site> {
    passwatch_registry::site::Site::one_camera(EVAL_CAMERA, "eval-zone", regions, false, false)
        .context("the evaluation's own site config")
}

/// What the scoring needs of a closed track.
pub(crate) struct ClosedTrack {
    pub(crate) id: u64,
    pub(crate) first_frame: u64,
    /// Its sighting (without images), when it was one.
    pub(crate) sighting: Option<passwatch_rules::sighting::PlateSighting>,
}

/// The tracks the engine closed, in closing order.
struct ClosedTracks {
    tracks: Vec<ClosedTrack>,
    source: String,
}

impl passwatch_pipeline::engine::TrackObserver for ClosedTracks {
    fn plate_track(
        &mut self,
        track: &passwatch_pipeline::track::Track,
        consensus: Option<&passwatch_plate_reader::consensus::Consensus>,
    ) {
        self.tracks.push(ClosedTrack {
            id: track.id,
            first_frame: track.reads.first().map_or(0, |r| r.frame_index),
            sighting: consensus.map(|c| {
                track.sighting(
                    c,
                    EVAL_CAMERA,
                    &self.source,
                    &self.source,
                    chrono::DateTime::UNIX_EPOCH,
                )
            }),
        });
    }
}

impl VideoEvalReport {
    /// The human table.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{} plates: {} with exactly one sighting, {} missed, {} split; {} spurious sightings\n",
            self.plates, self.exactly_one_sighting, self.missed, self.split, self.spurious
        );
        s += &format!(
            "consensus exact {:.1}%  single-frame exact {:.1}%  reads in tracks exact {:.1}%\n",
            self.consensus_exact * 100.0,
            self.single_frame_exact * 100.0,
            self.read_exact_in_tracks * 100.0
        );
        for (k, (n, c, f)) in &self.regions {
            s += &format!(
                "  {k:<4} {n:>3} plates  consensus {:.1}%  single-frame {:.1}%\n",
                c * 100.0,
                f * 100.0
            );
        }
        s += &format!(
            "per analysed frame: detect {:.1} ms, refine {:.1} ms, OCR {:.1} ms; {:.0}% of frames read around tracks\n",
            self.stages_ms.0,
            self.stages_ms.1,
            self.stages_ms.2,
            self.stages_ms.3 * 100.0
        );
        s += &format!(
            "{} frames decoded, {} analysed, {:.1} s ({:.1} frames/s)\n",
            self.frames.0,
            self.frames.1,
            self.elapsed_s,
            self.frames.0 as f64 / self.elapsed_s.max(1e-9)
        );
        s
    }
}
