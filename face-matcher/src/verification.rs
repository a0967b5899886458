//! Face verification on a labelled folder in the fixtures' LFW layout: how well the face path
//! (detector, alignment, embedder) tells the same person from different people, and which
//! similarity threshold gives which false-accept rate.
//!
//! # Protocol
//! 1. Every image listed in `identities.csv` (`file,person`) is detected, aligned and embedded;
//!    where several faces are found, the one used is the most central of those at least half
//!    as tall as the largest ([`pick_main_face`]). Images with no face are counted
//!    (`no_face_rate`); a pair with such an image scores −1, i.e. it is never accepted, which
//!    counts against the true-accept rate and accuracy rather than hiding the miss.
//! 2. **Same-person pairs**: all pairs of images of one person, or a seeded sample of
//!    [`VerificationOptions::max_same_pairs`] if there are more. **Different-person pairs**: as
//!    many, drawn with a seeded generator (deterministic: same folder, same seed, same pairs).
//! 3. **Accuracy**: LFW's 10-fold protocol — the pairs are split into 10 folds (same and
//!    different pairs spread evenly); for each fold the threshold with the best accuracy on the
//!    other nine is applied to it; the figure is the mean over folds.
//! 4. **Thresholds at a false-accept rate** (FAR): a few hundred different-person pairs cannot
//!    resolve a FAR of 1e-3, let alone 1e-4, so the impostor distribution is taken over **every
//!    cross-identity pair of images** in the folder (≈126 000 for the 503-image fixture, so
//!    1e-4 still rests on a dozen pairs). The threshold at FAR `f` is the score of the
//!    `⌊f·n⌋+1`-th highest impostor pair: a pair is accepted when its score is strictly above
//!    it, so at most `⌊f·n⌋` impostors are accepted.
//! 5. **True-accept rate at FAR `f`**: the share of the same-person pairs scoring above that
//!    threshold.

use crate::embed::Embedding;
use crate::matcher::{DetectedFace, FaceMatcher};
use crate::FaceError;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Pairing and protocol settings.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerificationOptions {
    /// At most this many same-person pairs (sampled with the seed beyond). Default 3000 (LFW's
    /// count).
    pub max_same_pairs: usize,
    /// Seed of the pair sampling. Default 20 240 601.
    pub seed: u64,
    /// Folds of the accuracy protocol. Default 10.
    pub folds: usize,
}

impl Default for VerificationOptions {
    fn default() -> Self {
        VerificationOptions {
            max_same_pairs: 3000,
            seed: 20_240_601,
            folds: 10,
        }
    }
}

/// True-accept rates at two false-accept rates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TarAtFar {
    /// At FAR 1e-2.
    #[serde(rename = "1e-2")]
    pub far_1e_2: f64,
    /// At FAR 1e-3.
    #[serde(rename = "1e-3")]
    pub far_1e_3: f64,
}

/// Cosine thresholds at two false-accept rates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThresholdAtFar {
    /// At FAR 1e-3.
    #[serde(rename = "1e-3")]
    pub far_1e_3: f32,
    /// At FAR 1e-4.
    #[serde(rename = "1e-4")]
    pub far_1e_4: f32,
}

/// The verification figures (see the module docs for how each is computed).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerificationReport {
    /// Same-person pairs evaluated.
    pub pairs_same: usize,
    /// Different-person pairs evaluated.
    pub pairs_different: usize,
    /// 10-fold verification accuracy.
    pub accuracy: f64,
    /// True-accept rate at false-accept rates 1e-2 and 1e-3.
    pub tar_at_far: TarAtFar,
    /// Thresholds at false-accept rates 1e-3 and 1e-4.
    pub threshold_at_far: ThresholdAtFar,
    /// Share of images in which no face was found.
    pub no_face_rate: f64,
    /// Images in the folder.
    pub images: usize,
    /// People in the folder.
    pub identities: usize,
    /// Cross-identity pairs behind the thresholds.
    pub impostor_pairs: usize,
    /// Mean of the per-fold accuracy thresholds.
    pub accuracy_threshold: f32,
}

/// One image of a labelled folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledImage {
    /// Path relative to the folder.
    pub file: String,
    /// The person in it.
    pub person: String,
}

/// Reads `identities.csv` (`file,person`) of a folder.
pub fn read_identities(folder: &Path) -> Result<Vec<LabelledImage>, FaceError> {
    let path = folder.join("identities.csv");
    let data_err = |line: Option<u64>, what: String| FaceError::Data {
        path: path.clone(),
        line,
        what,
    };
    let mut reader = csv::Reader::from_path(&path).map_err(|e| data_err(None, e.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|e| data_err(Some(1), e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| data_err(Some(1), format!("no {name:?} column in {headers:?}")))
    };
    let (file_col, person_col) = (col("file")?, col("person")?);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| data_err(e.position().map(|p| p.line()), e.to_string()))?;
        let line = record.position().map(|p| p.line());
        let field = |i: usize, name: &str| {
            record
                .get(i)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| data_err(line, format!("empty {name}")))
        };
        out.push(LabelledImage {
            file: field(file_col, "file")?,
            person: field(person_col, "person")?,
        });
    }
    Ok(out)
}

/// Of several faces in an image, the one a labelled photo is about: the most central of the
/// faces at least half as tall as the largest.
pub fn pick_main_face(faces: &[DetectedFace], width: u32, height: u32) -> Option<usize> {
    let largest = faces
        .iter()
        .map(|f| f.face.bbox_in_frame.h)
        .max_by(f32::total_cmp)?;
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    faces
        .iter()
        .enumerate()
        .filter(|(_, f)| f.face.bbox_in_frame.h >= 0.5 * largest)
        .min_by(|(_, a), (_, b)| {
            let d = |f: &DetectedFace| {
                let c = f.face.bbox_in_frame.centre();
                (c.x - cx).hypot(c.y - cy)
            };
            d(a).total_cmp(&d(b))
        })
        .map(|(i, _)| i)
}

/// Loads an image as RGB.
pub fn load_rgb(path: &Path) -> Result<image::RgbImage, FaceError> {
    image::open(path)
        .map(|i| i.to_rgb8())
        .map_err(|e| FaceError::Image {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// The main face's embedding of every image (`None` where no face was found), in order.
pub fn embed_images(
    matcher: &mut FaceMatcher,
    folder: &Path,
    images: &[LabelledImage],
) -> Result<Vec<Option<Embedding>>, FaceError> {
    images
        .iter()
        .map(|img| {
            let path: PathBuf = folder.join(&img.file);
            let rgb = load_rgb(&path)?;
            let faces = matcher.faces_in_frame(&rgb)?;
            Ok(pick_main_face(&faces, rgb.width(), rgb.height())
                .map(|i| faces[i].embedding.clone()))
        })
        .collect()
}

/// Runs the whole protocol on a folder.
pub fn evaluate_folder(
    matcher: &mut FaceMatcher,
    folder: &Path,
    options: &VerificationOptions,
) -> Result<VerificationReport, FaceError> {
    let images = read_identities(folder)?;
    let embeddings = embed_images(matcher, folder, &images)?;
    let people: Vec<&str> = images.iter().map(|i| i.person.as_str()).collect();
    evaluate(&people, &embeddings, options)
}

/// SplitMix64: small, fast and fixed, so the pairs never change with a dependency's version.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is far below anything measured here.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// The protocol on embeddings already made: `people[i]` is who image `i` shows,
/// `embeddings[i]` its face (`None`: no face found).
pub fn evaluate(
    people: &[&str],
    embeddings: &[Option<Embedding>],
    options: &VerificationOptions,
) -> Result<VerificationReport, FaceError> {
    if people.len() != embeddings.len() {
        return Err(FaceError::Internal {
            what: format!(
                "{} labels for {} embeddings",
                people.len(),
                embeddings.len()
            ),
        });
    }
    let n = people.len();
    let score = |i: usize, j: usize| -> Result<f32, FaceError> {
        match (&embeddings[i], &embeddings[j]) {
            (Some(a), Some(b)) => a.cosine(b).map_err(|e| FaceError::Internal {
                what: e.to_string(),
            }),
            _ => Ok(-1.0),
        }
    };
    let mut rng = SplitMix64(options.seed);

    let mut same: Vec<(usize, usize)> = Vec::new();
    let mut impostor_scores: Vec<f32> = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            if people[i] == people[j] {
                same.push((i, j));
            } else if embeddings[i].is_some() && embeddings[j].is_some() {
                impostor_scores.push(score(i, j)?);
            }
        }
    }
    if same.len() > options.max_same_pairs {
        rng.shuffle(&mut same);
        same.truncate(options.max_same_pairs);
        same.sort_unstable();
    }
    // Different-person pairs: as many as same-person ones, distinct, seeded.
    let mut diff_set: HashSet<(usize, usize)> = HashSet::new();
    let mut diff: Vec<(usize, usize)> = Vec::new();
    let distinct_people: HashSet<&str> = people.iter().copied().collect();
    if distinct_people.len() > 1 {
        let mut attempts = 0usize;
        while diff.len() < same.len() && attempts < 1000 * (same.len() + 1) {
            attempts += 1;
            let (a, b) = (rng.below(n), rng.below(n));
            let pair = (a.min(b), a.max(b));
            if people[a] != people[b] && diff_set.insert(pair) {
                diff.push(pair);
            }
        }
    }

    // (score, is same person) for every evaluated pair, same and different interleaved into
    // folds by position.
    let same_scores: Vec<f32> = same
        .iter()
        .map(|&(i, j)| score(i, j))
        .collect::<Result<_, _>>()?;
    let diff_scores: Vec<f32> = diff
        .iter()
        .map(|&(i, j)| score(i, j))
        .collect::<Result<_, _>>()?;
    let folds = options.folds.max(2);
    let mut fold_acc = Vec::new();
    let mut fold_thr = Vec::new();
    for f in 0..folds {
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for (k, &s) in same_scores.iter().enumerate() {
            if k % folds == f {
                &mut test
            } else {
                &mut train
            }
            .push((s, true));
        }
        for (k, &s) in diff_scores.iter().enumerate() {
            if k % folds == f {
                &mut test
            } else {
                &mut train
            }
            .push((s, false));
        }
        if test.is_empty() {
            continue;
        }
        let t = best_threshold(&mut train);
        let correct = test.iter().filter(|&&(s, same)| (s > t) == same).count();
        fold_acc.push(correct as f64 / test.len() as f64);
        fold_thr.push(t);
    }
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };

    impostor_scores.sort_by(|a, b| b.total_cmp(a));
    let threshold_at = |far: f64| -> f32 {
        if impostor_scores.is_empty() {
            return f32::NAN;
        }
        let m =
            ((far * impostor_scores.len() as f64).floor() as usize).min(impostor_scores.len() - 1);
        impostor_scores[m]
    };
    let tar_at = |far: f64| -> f64 {
        let t = threshold_at(far);
        if same_scores.is_empty() {
            return 0.0;
        }
        same_scores.iter().filter(|&&s| s > t).count() as f64 / same_scores.len() as f64
    };
    let no_face = embeddings.iter().filter(|e| e.is_none()).count();
    Ok(VerificationReport {
        pairs_same: same_scores.len(),
        pairs_different: diff_scores.len(),
        accuracy: mean(&fold_acc),
        tar_at_far: TarAtFar {
            far_1e_2: tar_at(1e-2),
            far_1e_3: tar_at(1e-3),
        },
        threshold_at_far: ThresholdAtFar {
            far_1e_3: threshold_at(1e-3),
            far_1e_4: threshold_at(1e-4),
        },
        no_face_rate: if n == 0 {
            0.0
        } else {
            no_face as f64 / n as f64
        },
        images: n,
        identities: distinct_people.len(),
        impostor_pairs: impostor_scores.len(),
        accuracy_threshold: (fold_thr.iter().map(|&t| t as f64).sum::<f64>()
            / fold_thr.len().max(1) as f64) as f32,
    })
}

/// The threshold `t` (accept when score > t) with the best accuracy on `pairs`; among equally
/// good ones, the middle of the widest gap is not sought — the midpoint to the next score up is
/// used, which is what LFW's reference scripts do.
fn best_threshold(pairs: &mut [(f32, bool)]) -> f32 {
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Threshold below everything: all accepted → correct = number of same pairs.
    let mut correct = pairs.iter().filter(|p| p.1).count();
    let (mut best, mut best_t) = (correct, pairs.first().map_or(0.0, |p| p.0 - 1e-3));
    for (i, &(s, is_same)) in pairs.iter().enumerate() {
        // Moving the threshold to `s` rejects this pair.
        if is_same {
            correct -= 1;
        } else {
            correct += 1;
        }
        let next = pairs.get(i + 1).map(|p| p.0);
        if next == Some(s) {
            continue; // ties move together
        }
        if correct > best {
            best = correct;
            best_t = match next {
                Some(nx) => 0.5 * (s + nx),
                None => s,
            };
        }
    }
    best_t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(v: &[f32]) -> Option<Embedding> {
        Some(Embedding::from_raw("m", v.to_vec()).unwrap())
    }

    #[test]
    fn best_threshold_separates_separable_scores() {
        let mut p = vec![
            (0.9, true),
            (0.8, true),
            (0.1, false),
            (0.3, false),
            (0.7, true),
        ];
        let t = best_threshold(&mut p);
        assert!(t > 0.3 && t < 0.7, "{t}");
        let mut all_same = vec![(0.5, true), (0.6, true)];
        assert!(best_threshold(&mut all_same) < 0.5);
    }

    #[test]
    fn perfect_embeddings_give_perfect_figures() {
        // Three people, three images each, embeddings clustered tightly around one axis each.
        let people = ["a", "a", "a", "b", "b", "b", "c", "c", "c"];
        let e = |axis: usize, jitter: f32| {
            let mut v = vec![jitter; 3];
            v[axis] = 1.0;
            emb(&v)
        };
        let embs = vec![
            e(0, 0.01),
            e(0, 0.02),
            e(0, 0.03),
            e(1, 0.01),
            e(1, 0.02),
            e(1, 0.03),
            e(2, 0.01),
            e(2, 0.02),
            e(2, 0.03),
        ];
        let r = evaluate(&people, &embs, &VerificationOptions::default()).unwrap();
        assert_eq!(r.pairs_same, 9);
        assert_eq!(r.pairs_different, 9);
        assert_eq!(r.accuracy, 1.0);
        assert_eq!(r.tar_at_far.far_1e_3, 1.0);
        assert_eq!(r.impostor_pairs, 27);
        assert!(r.threshold_at_far.far_1e_4 < 0.1);
        assert_eq!(r.no_face_rate, 0.0);
        // Same seed, same figures; the JSON has the agreed keys.
        let again = evaluate(&people, &embs, &VerificationOptions::default()).unwrap();
        assert_eq!(r, again);
        let json = serde_json::to_value(&r).unwrap();
        for key in ["pairs_same", "pairs_different", "accuracy", "no_face_rate"] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert!(json["tar_at_far"]["1e-2"].is_number());
        assert!(json["threshold_at_far"]["1e-4"].is_number());
    }

    #[test]
    fn missing_faces_count_against_the_same_pairs() {
        let people = ["a", "a", "b", "b"];
        let embs = vec![emb(&[1.0, 0.0]), None, emb(&[0.0, 1.0]), emb(&[0.1, 1.0])];
        let r = evaluate(&people, &embs, &VerificationOptions::default()).unwrap();
        assert_eq!(r.no_face_rate, 0.25);
        assert_eq!(r.pairs_same, 2);
        assert_eq!(
            r.tar_at_far.far_1e_2, 0.5,
            "the pair with no face is never accepted"
        );
    }

    #[test]
    fn same_pairs_are_capped_with_the_seed() {
        let people = vec!["a"; 10];
        let embs: Vec<_> = (0..10).map(|i| emb(&[1.0, i as f32 * 0.01])).collect();
        let opts = VerificationOptions {
            max_same_pairs: 7,
            ..VerificationOptions::default()
        };
        let r = evaluate(&people, &embs, &opts).unwrap();
        assert_eq!(r.pairs_same, 7);
        assert_eq!(r.pairs_different, 0, "nobody else to pair with");
    }
}
