//! The reference pipeline (`bench/reference/plate_reference.py`: Python, onnxruntime, numpy,
//! OpenCV), run in the same invocation on the same file with the same thread count, and its
//! reads compared with passwatch's frame by frame.

use crate::streams::{FrameReads, ReadRecord};
use anyhow::{bail, Context, Result};
use passwatch_models::{ModelCache, ModelManifest, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the reference reports (its `--out` JSON).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ReferenceRun {
    /// Frames decoded.
    pub frames_decoded: u64,
    /// Frames analysed.
    pub frames_analysed: u64,
    /// Wall seconds of the decode-and-read loop (model loading excluded).
    pub wall_s: f64,
    /// CPU seconds of the process over that loop, all threads.
    #[serde(default)]
    pub cpu_s: f64,
    /// Analysed frames per second.
    pub analysed_fps: f64,
    /// Decoded frames per second.
    pub decoded_fps: f64,
    /// Mean ms per analysed frame, by stage.
    #[serde(default)]
    pub stages_ms: BTreeMap<String, f64>,
    /// Threads given to ONNX Runtime and OpenCV.
    #[serde(default)]
    pub threads: usize,
    /// Versions of Python and the packages.
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    /// Where it does less than passwatch, in words.
    #[serde(default)]
    pub simplifications: Vec<String>,
    /// Reads per analysed frame.
    #[serde(default, skip_serializing)]
    pub reads: Vec<FrameReads>,
}

/// Where the two pipelines' reads of one frame differ.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Disagreement {
    /// Frame index.
    pub index: u64,
    /// Media time, s.
    pub at_s: f64,
    /// passwatch's texts (final, raw in brackets when different).
    pub passwatch: Vec<String>,
    /// The reference's texts.
    pub reference: Vec<String>,
    /// The likely cause.
    pub cause: String,
}

/// Frame-by-frame agreement of the reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Agreement {
    /// Frames analysed by both (matched by frame index).
    pub frames: usize,
    /// Frames analysed by one only (their frame choice differs).
    pub frames_unmatched: usize,
    /// Frames where both read the same set of final plate texts.
    pub same_texts: usize,
    /// `same_texts / frames`.
    pub share: f64,
    /// Frames where the raw CTC reads (before passwatch's format-fitting variants) agree.
    pub same_raw: usize,
    /// `same_raw / frames`.
    pub raw_share: f64,
    /// Frames with at least one read (either side).
    pub frames_with_reads: usize,
    /// Disagreements by likely cause.
    pub causes: BTreeMap<String, usize>,
    /// The first disagreements, for a person to look at.
    pub examples: Vec<Disagreement>,
}

/// passwatch on the reference's frames (one stream, plates only, the same threads).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Side {
    /// The plate detector ran on one analysed frame in this many.
    pub detect_every: u32,
    /// Analysed frames/s.
    pub analysed_fps: f64,
    /// Decoded frames/s.
    pub decoded_fps: f64,
    /// passwatch ÷ reference, analysed frames/s.
    pub ratio: f64,
    /// CPU ms per analysed frame, all threads.
    pub cpu_ms_per_analysed: f64,
    /// The reference's CPU ms per analysed frame ÷ passwatch's: the same comparison in CPU
    /// time, which other processes on a shared machine disturb much less than wall time.
    pub cpu_ratio: f64,
    /// Mean ms per analysed frame by stage, named as the reference names them.
    pub stages_ms: BTreeMap<String, f64>,
    /// Its reads against the reference's.
    pub agreement: Agreement,
}

/// The comparison in the report.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// passwatch ÷ reference analysed frames/s, doing the same work (`same_work.ratio`).
    pub ratio: f64,
    /// The same in CPU time (`same_work.cpu_ratio`).
    pub cpu_ratio: f64,
    /// passwatch doing the same work as the reference: the detector on every analysed frame.
    pub same_work: Side,
    /// passwatch as configured (`--detect-every`, tracked plates read between detector frames),
    /// when that is not every frame.
    pub as_configured: Option<Side>,
    /// The reference's.
    pub reference: ReferenceRun,
    /// The reference's command line.
    pub command: String,
}

/// The reference script: `--reference-script`, else next to the sources this binary was built
/// from, else `bench/reference/plate_reference.py` under the current folder.
pub fn script_path(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let candidates = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/reference/plate_reference.py"),
        PathBuf::from("bench/reference/plate_reference.py"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .with_context(|| {
            format!(
                "the reference script is not at {} nor {}: give --reference-script",
                candidates[0].display(),
                candidates[1].display()
            )
        })
}

/// The reference's Python: `--reference-python`, else the venv `scripts/setup` makes.
pub fn python_path(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let p = ModelCache::from_env()
        .root()
        .join("venv-reference")
        .join("bin")
        .join("python");
    if !p.is_file() {
        bail!(
            "{} not found: run scripts/setup (it makes the reference's venv), or give \
             --reference-python",
            p.display()
        );
    }
    Ok(p)
}

/// How to run the reference.
pub struct ReferenceSetup<'a> {
    /// Its Python.
    pub python: PathBuf,
    /// Its script.
    pub script: PathBuf,
    /// The video.
    pub input: &'a Path,
    /// Analysis rate.
    pub analyse_fps: f64,
    /// Threads.
    pub threads: usize,
    /// Stop after this many wall seconds (after the frame in hand).
    pub max_seconds: f64,
    /// Plate regions.
    pub regions: &'a [String],
    /// Whether it reads the lines inside plate boxes.
    pub refine: bool,
}

/// Runs the reference and reads its report.
pub fn run_reference(setup: &ReferenceSetup<'_>) -> Result<(ReferenceRun, String)> {
    let cache = ModelCache::from_env();
    let model = |role| -> Result<PathBuf> {
        let m = ModelManifest::builtin_for(role)?;
        Ok(cache.verified_model(&m)?)
    };
    let out_dir = std::env::temp_dir().join(format!("passwatch-reference-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("{}: cannot create", out_dir.display()))?;
    let out = out_dir.join("reference.json");
    let mut cmd = Command::new(&setup.python);
    cmd.arg(&setup.script)
        .arg("--input")
        .arg(setup.input)
        .args(["--analyse-fps", &setup.analyse_fps.to_string()])
        .args(["--threads", &setup.threads.to_string()])
        .args(["--max-seconds", &format!("{:.1}", setup.max_seconds)])
        .args(["--regions", &setup.regions.join(",")])
        .arg("--platedet")
        .arg(model(Role::PlateDetector)?)
        .arg("--det")
        .arg(model(Role::PlateTextDetector)?)
        .arg("--rec")
        .arg(model(Role::PlateOcr)?)
        .arg("--out")
        .arg(&out);
    if !setup.refine {
        cmd.arg("--no-refine");
    }
    let shown = format!("{cmd:?}").replace('"', "");
    tracing::info!(command = %shown, "running the reference pipeline");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", setup.python.display()))?;
    if !status.success() {
        bail!("the reference pipeline failed ({status}); its messages are above");
    }
    let text = std::fs::read_to_string(&out)
        .with_context(|| format!("{}: the reference wrote no report", out.display()))?;
    let _ = std::fs::remove_dir_all(&out_dir);
    let run: ReferenceRun =
        serde_json::from_str(&text).context("the reference's report is not what was expected")?;
    Ok((run, shown))
}

fn sorted(reads: &[ReadRecord], raw: bool) -> Vec<String> {
    let mut v: Vec<String> = reads
        .iter()
        .map(|r| if raw { r.raw.clone() } else { r.text.clone() })
        .filter(|t| !t.is_empty())
        .collect();
    v.sort();
    v
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let x0 = a[0].max(b[0]);
    let y0 = a[1].max(b[1]);
    let x1 = (a[0] + a[2]).min(b[0] + b[2]);
    let y1 = (a[1] + a[3]).min(b[1] + b[3]);
    let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// The likely cause of a disagreement on one frame.
fn cause(p: &[ReadRecord], r: &[ReadRecord]) -> &'static str {
    if sorted(p, true) == sorted(r, true) {
        return "same raw reads; passwatch's format-fitting variant differs";
    }
    if p.len() != r.len() {
        return "a plate read by one side only (a detection or plate-score threshold edge)";
    }
    let boxes_match = p
        .iter()
        .all(|a| r.iter().any(|b| iou(&a.bbox, &b.bbox) > 0.9));
    if boxes_match {
        "same boxes, different characters (pixel differences in the crop: colour conversion, \
         resampling)"
    } else {
        "boxes differ (detector or line-finder output moved)"
    }
}

/// Compares the reads frame by frame.
pub fn agreement(passwatch: &[FrameReads], reference: &[FrameReads]) -> Agreement {
    let theirs: BTreeMap<u64, &FrameReads> = reference.iter().map(|f| (f.index, f)).collect();
    let mut a = Agreement::default();
    let mut matched = 0usize;
    for f in passwatch {
        let Some(r) = theirs.get(&f.index) else {
            a.frames_unmatched += 1;
            continue;
        };
        matched += 1;
        a.frames += 1;
        if !f.reads.is_empty() || !r.reads.is_empty() {
            a.frames_with_reads += 1;
        }
        let same = sorted(&f.reads, false) == sorted(&r.reads, false);
        if same {
            a.same_texts += 1;
        }
        if sorted(&f.reads, true) == sorted(&r.reads, true) {
            a.same_raw += 1;
        }
        if !same {
            let c = cause(&f.reads, &r.reads);
            *a.causes.entry(c.to_string()).or_default() += 1;
            if a.examples.len() < 12 {
                a.examples.push(Disagreement {
                    index: f.index,
                    at_s: f.ms / 1e3,
                    passwatch: f
                        .reads
                        .iter()
                        .map(|x| {
                            if x.raw == x.text {
                                x.text.clone()
                            } else {
                                format!("{} (raw {})", x.text, x.raw)
                            }
                        })
                        .collect(),
                    reference: r.reads.iter().map(|x| x.text.clone()).collect(),
                    cause: c.to_string(),
                });
            }
        }
    }
    a.frames_unmatched += reference.len().saturating_sub(matched);
    if a.frames > 0 {
        a.share = a.same_texts as f64 / a.frames as f64;
        a.raw_share = a.same_raw as f64 / a.frames as f64;
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rr(text: &str, raw: &str, x: f32) -> ReadRecord {
        ReadRecord {
            text: text.into(),
            raw: raw.into(),
            confidence: 0.9,
            bbox: [x, 10.0, 100.0, 30.0],
        }
    }

    fn fr(index: u64, reads: Vec<ReadRecord>) -> FrameReads {
        FrameReads {
            index,
            ms: index as f64 * 40.0,
            reads,
        }
    }

    #[test]
    fn agreement_counts_and_explains() {
        let ours = vec![
            fr(0, vec![rr("ABC1234", "ABC1234", 0.0)]),
            fr(5, vec![rr("OYO9FEU", "OY09FEU", 0.0)]),
            fr(10, vec![rr("ABC1234", "ABC1234", 0.0)]),
            fr(15, vec![]),
            fr(20, vec![rr("XYZ999", "XYZ999", 0.0)]),
            fr(25, vec![rr("KLM123", "KLM123", 0.0)]),
        ];
        let theirs = vec![
            fr(0, vec![rr("ABC1234", "ABC1234", 1.0)]),
            fr(5, vec![rr("OY09FEU", "OY09FEU", 0.0)]),
            fr(10, vec![rr("ABC1Z34", "ABC1Z34", 0.5)]),
            fr(15, vec![]),
            fr(20, vec![]),
            fr(25, vec![rr("KLM128", "KLM128", 300.0)]),
            fr(30, vec![]),
        ];
        let a = agreement(&ours, &theirs);
        assert_eq!(a.frames, 6);
        assert_eq!(a.frames_unmatched, 1);
        assert_eq!(a.same_texts, 2);
        assert_eq!(a.same_raw, 3);
        assert_eq!(a.frames_with_reads, 5);
        assert!((a.share - 2.0 / 6.0).abs() < 1e-9);
        assert_eq!(a.examples.len(), 4);
        assert!(a.examples[0].cause.contains("variant"));
        assert_eq!(a.examples[0].passwatch, vec!["OYO9FEU (raw OY09FEU)"]);
        assert!(a.examples[1].cause.contains("same boxes"));
        assert!(a.examples[2].cause.contains("one side only"));
        assert!(a.examples[3].cause.contains("boxes differ"));
        assert_eq!(a.causes.values().sum::<usize>(), 4);
    }

    #[test]
    fn reference_report_parses() {
        let text = r#"{"frames_decoded": 50, "frames_analysed": 10, "wall_s": 5.0,
            "analysed_fps": 2.0, "decoded_fps": 10.0, "stages_ms": {"detect": 300.0},
            "threads": 2, "versions": {"onnxruntime": "1.31.1"},
            "reads": [{"index": 0, "ms": 0.0, "reads": [{"text": "A1", "raw": "A1",
            "confidence": 0.5, "bbox": [1, 2, 3, 4]}]}]}"#;
        let r: ReferenceRun = serde_json::from_str(text).unwrap();
        assert_eq!(r.reads[0].reads[0].bbox, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(r.threads, 2);
    }
}
