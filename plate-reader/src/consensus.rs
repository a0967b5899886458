//! Combining the reads of one track into one plate with a confidence.
//!
//! A vehicle passing a camera is read in many frames, each read a little wrong in its own way:
//! a glare hides one character, motion blur turns `B` into `8`, a tilted crop drops the last
//! character. [`vote`] merges them position by position:
//!
//! 1. empty reads are dropped and the rest put in a canonical order, so the result does not
//!    depend on the order the reads arrived in (floating-point sums included);
//! 2. the plate length is the one with the most evidence (Σ weight × confidence over the reads of
//!    that length), near ties going to the length whose reads fit a format of the camera's
//!    regions;
//! 3. reads of other lengths are aligned to the strongest read of that length with the
//!    confusable-aware edit alignment of [`crate::text`], so a read missing one character still
//!    votes with all the others (at a discount, see [`VoteParams::other_length_weight`]);
//! 4. each position is a vote weighted by weight × character confidence;
//! 5. the plate formats break close votes: if replacing a closely contested position by its
//!    runner-up (from the vote or from the recogniser's own runner-ups), or an uncertain
//!    character of a text that fits no format by its confusable partner, gives a better format
//!    fit, the fitting text wins.
//!
//! A unanimous set of reads always gives its own text, with one exception: a text that fits no
//! format of the camera's regions may have an uncertain character (below
//! [`VoteParams::coerce_below`]) swapped for its confusable partner when that makes it fit.

use std::cmp::Ordering;

use crate::ctc::CtcRead;
use crate::formats::PlateFormats;
use crate::text::{substitution_cost, CONFUSABLE_PAIRS};

/// One plate read of a track, as the recogniser gave it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadObservation {
    /// The normalised text.
    pub text: String,
    /// Confidence of each character of `text`; a missing or non-finite entry falls back to
    /// `confidence`.
    pub char_confidences: Vec<f32>,
    /// Per character, the recogniser's best other character and its probability.
    pub runner_ups: Vec<Option<(char, f32)>>,
    /// Confidence of the whole read, in `[0, 1]`.
    pub confidence: f32,
    /// How much to trust this observation relative to the track's others (e.g. detector score ×
    /// a crop-size factor); computed by the caller, ≥ 0.
    pub weight: f32,
}

impl ReadObservation {
    /// An observation from a CTC read, with the caller's weight.
    pub fn from_ctc(read: &CtcRead, weight: f32) -> ReadObservation {
        ReadObservation {
            text: read.text.clone(),
            char_confidences: read.chars.iter().map(|c| c.confidence).collect(),
            runner_ups: read.chars.iter().map(|c| c.runner_up).collect(),
            confidence: read.confidence,
            weight,
        }
    }
}

/// The merged plate of a track.
#[derive(Debug, Clone, PartialEq)]
pub struct Consensus {
    /// The plate text.
    pub text: String,
    /// `length_share × mean(per_char_confidence)`, in `[0, 1]`, where `length_share` is the
    /// fraction of the reads' evidence (Σ weight × confidence) held by reads of the chosen
    /// length: disagreement on the length is doubt about a missing or extra character that the
    /// per-position votes cannot show.
    pub confidence: f32,
    /// The best-fitting of the requested regions, if the text fits any.
    pub region: Option<String>,
    /// That region's format score (0 when it fits none).
    pub format_score: f32,
    /// Reads that took part (non-empty ones).
    pub n_reads: usize,
    /// Reads whose text equals `text`.
    pub n_agreeing: usize,
    /// Per character of `text`: winning share of the position's vote × mean confidence of the
    /// reads that voted for the winner.
    pub per_char_confidence: Vec<f32>,
    /// How many positions the format tie-break changed (0 when the plain vote stood).
    pub format_changes: usize,
}

/// The tunable parts of [`vote_with`]; [`Default`] gives the values [`vote`] uses.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteParams {
    /// Discount on the votes of reads whose length differs from the chosen one: their alignment
    /// is a guess. Default 0.5.
    pub other_length_weight: f32,
    /// Reads of another length whose alignment costs more than this fraction of the plate length
    /// do not vote at all (they are most likely of other text, a sign or a sticker). Default 0.5.
    pub max_align_cost: f32,
    /// A position is *closely contested* when another character's evidence (its vote plus the
    /// recogniser's runner-up probabilities for it, each × read weight) is at least this fraction
    /// of the winner's vote. Default 0.5: the alternative has at least a third of the evidence.
    pub close_ratio: f32,
    /// A character whose per-character confidence is below this may be swapped for its
    /// confusable partner when the voted text fits no format at all. Default 0.75.
    pub coerce_below: f32,
    /// At most this many positions are changed by the format tie-break: 0 turns it off, 1 allows
    /// single changes, 2 or more allows pairs (larger searches would let the formats, not the
    /// reads, decide the plate). Default 2.
    pub max_format_changes: usize,
}

impl Default for VoteParams {
    fn default() -> Self {
        VoteParams {
            other_length_weight: 0.5,
            max_align_cost: 0.5,
            close_ratio: 0.5,
            coerce_below: 0.75,
            max_format_changes: 2,
        }
    }
}

/// A floor under every vote so that reads with zero weight or confidence still break exact
/// ties (by count) instead of leaving a position with no support at all.
const MIN_VOTE: f32 = 1e-6;

/// Relative difference under which two lengths' evidence counts as a tie.
const LENGTH_TIE: f32 = 1e-4;

/// A read made ready for voting.
struct Prepared<'a> {
    text: &'a str,
    chars: Vec<char>,
    confs: Vec<f32>,
    runner_ups: &'a [Option<(char, f32)>],
    weight: f32,
    confidence: f32,
}

impl Prepared<'_> {
    fn mass(&self) -> f32 {
        self.weight * self.confidence
    }

    fn runner_up(&self, i: usize) -> Option<(char, f32)> {
        self.runner_ups
            .get(i)
            .copied()
            .flatten()
            .filter(|(_, p)| p.is_finite() && *p > 0.0)
            .map(|(c, p)| (c, p.min(1.0)))
    }

    /// Total order over every field, so that sorting makes the input order irrelevant.
    fn canonical_cmp(&self, other: &Self) -> Ordering {
        self.text
            .cmp(other.text)
            .then(self.weight.total_cmp(&other.weight))
            .then(self.confidence.total_cmp(&other.confidence))
            .then_with(|| {
                self.confs
                    .iter()
                    .zip(&other.confs)
                    .map(|(a, b)| a.total_cmp(b))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| {
                let n = self.chars.len();
                (0..n)
                    .map(|i| match (self.runner_up(i), other.runner_up(i)) {
                        (None, None) => Ordering::Equal,
                        (None, Some(_)) => Ordering::Less,
                        (Some(_), None) => Ordering::Greater,
                        (Some((a, pa)), Some((b, pb))) => a.cmp(&b).then(pa.total_cmp(&pb)),
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
    }
}

fn clamp01(v: f32) -> Option<f32> {
    v.is_finite().then(|| v.clamp(0.0, 1.0))
}

fn prepare(read: &ReadObservation) -> Option<Prepared<'_>> {
    if read.text.is_empty() {
        return None;
    }
    let chars: Vec<char> = read.text.chars().collect();
    let confidence = clamp01(read.confidence).unwrap_or(0.0);
    let confs = (0..chars.len())
        .map(|i| {
            read.char_confidences
                .get(i)
                .copied()
                .and_then(clamp01)
                .unwrap_or(confidence)
        })
        .collect();
    let weight = if read.weight.is_finite() {
        read.weight.max(0.0)
    } else {
        0.0
    };
    Some(Prepared {
        text: &read.text,
        chars,
        confs,
        runner_ups: &read.runner_ups,
        weight,
        confidence,
    })
}

/// One candidate character at one position.
#[derive(Debug, Clone)]
struct Cand {
    ch: char,
    /// Σ weight × char confidence of the reads that voted for it.
    support: f32,
    /// Σ char confidence of those reads, for the mean.
    conf_sum: f32,
    voters: u32,
    /// Σ weight × runner-up probability of the reads that named it as their runner-up.
    shadow: f32,
}

fn cand_mut(pos: &mut Vec<Cand>, ch: char) -> &mut Cand {
    let i = match pos.iter().position(|c| c.ch == ch) {
        Some(i) => i,
        None => {
            pos.push(Cand {
                ch,
                support: 0.0,
                conf_sum: 0.0,
                voters: 0,
                shadow: 0.0,
            });
            pos.len() - 1
        }
    };
    &mut pos[i]
}

/// Aligns `read` to `anchor` by the confusable-aware edit distance. Returns the cost and, per
/// anchor position, the read position aligned to it (`None`: the read lacks that character).
fn align(read: &[char], anchor: &[char]) -> (f32, Vec<Option<usize>>) {
    let (n, m) = (read.len(), anchor.len());
    let w = m + 1;
    let mut d = vec![0.0f32; (n + 1) * w];
    for (j, v) in d.iter_mut().take(w).enumerate() {
        *v = j as f32;
    }
    for i in 1..=n {
        d[i * w] = i as f32;
        for j in 1..=m {
            let sub = d[(i - 1) * w + j - 1] + substitution_cost(read[i - 1], anchor[j - 1]);
            let del = d[i * w + j - 1] + 1.0;
            let ins = d[(i - 1) * w + j] + 1.0;
            d[i * w + j] = sub.min(del).min(ins);
        }
    }
    let mut map = vec![None; m];
    let (mut i, mut j) = (n, m);
    // Backtrace preferring a pairing, then a missing read character, then an extra one, so that
    // equal-cost alignments resolve the same way every time.
    while i > 0 || j > 0 {
        let here = d[i * w + j];
        if i > 0
            && j > 0
            && here == d[(i - 1) * w + j - 1] + substitution_cost(read[i - 1], anchor[j - 1])
        {
            map[j - 1] = Some(i - 1);
            i -= 1;
            j -= 1;
        } else if j > 0 && here == d[i * w + j - 1] + 1.0 {
            j -= 1;
        } else {
            i -= 1;
        }
    }
    (d[n * w + m], map)
}

/// [`vote_with`] with the default [`VoteParams`].
pub fn vote(
    reads: &[ReadObservation],
    formats: &PlateFormats,
    regions: &[&str],
) -> Option<Consensus> {
    vote_with(reads, formats, regions, &VoteParams::default())
}

/// Merges a track's reads into one plate (see the module docs for the steps). `regions` are the
/// format regions the camera may see; with none, formats play no part. Returns `None` when every
/// read is empty.
pub fn vote_with(
    reads: &[ReadObservation],
    formats: &PlateFormats,
    regions: &[&str],
    params: &VoteParams,
) -> Option<Consensus> {
    let mut prepared: Vec<Prepared<'_>> = reads.iter().filter_map(prepare).collect();
    if prepared.is_empty() {
        return None;
    }
    prepared.sort_by(|a, b| a.canonical_cmp(b));

    // Evidence per length: (length, mass, reads, best format score of its reads).
    let mut lengths: Vec<(usize, f32, usize, f32)> = Vec::new();
    for r in &prepared {
        let len = r.chars.len();
        match lengths.iter_mut().find(|l| l.0 == len) {
            Some(l) => {
                l.1 += r.mass();
                l.2 += 1;
            }
            None => lengths.push((len, r.mass(), 1, 0.0)),
        }
    }
    lengths.sort_by_key(|l| l.0);
    if !regions.is_empty() {
        for l in &mut lengths {
            l.3 = prepared
                .iter()
                .filter(|r| r.chars.len() == l.0)
                .filter_map(|r| formats.best_region(r.text, regions))
                .map(|(_, s)| s)
                .fold(0.0, f32::max);
        }
    }
    let total_mass: f32 = lengths.iter().map(|l| l.1).sum();
    let mut best_len = lengths[0];
    for &l in &lengths[1..] {
        let scale = l.1.max(best_len.1);
        let better = if (l.1 - best_len.1).abs() <= LENGTH_TIE * scale {
            // Near tie: a length whose reads fit a format, then more reads, then the longer
            // (CTC merges doubled characters, so reads lose characters more often than gain).
            l.3.total_cmp(&best_len.3)
                .then(l.2.cmp(&best_len.2))
                .then(Ordering::Greater)
                .is_gt()
        } else {
            l.1 > best_len.1
        };
        if better {
            best_len = l;
        }
    }
    let target_len = best_len.0;
    let length_share = if total_mass > 0.0 {
        (best_len.1 / total_mass).clamp(0.0, 1.0)
    } else {
        best_len.2 as f32 / prepared.len() as f32
    };

    // The strongest read of the target length anchors the alignment of the others.
    let anchor = prepared
        .iter()
        .filter(|r| r.chars.len() == target_len)
        .fold(None::<&Prepared<'_>>, |best, r| match best {
            Some(b) if b.mass() >= r.mass() => Some(b),
            _ => Some(r),
        })?;

    let mut positions: Vec<Vec<Cand>> = vec![Vec::new(); target_len];
    for r in &prepared {
        let mut cast = |j: usize, i: usize, discount: f32| {
            let conf = r.confs[i];
            let c = cand_mut(&mut positions[j], r.chars[i]);
            c.support += discount * r.weight * conf + MIN_VOTE;
            c.conf_sum += conf;
            c.voters += 1;
            if let Some((alt, p)) = r.runner_up(i) {
                if alt != r.chars[i] {
                    cand_mut(&mut positions[j], alt).shadow += discount * r.weight * p;
                }
            }
        };
        if r.chars.len() == target_len {
            for i in 0..target_len {
                cast(i, i, 1.0);
            }
        } else {
            let (cost, map) = align(&r.chars, &anchor.chars);
            if cost > params.max_align_cost * target_len as f32 {
                continue;
            }
            for (j, i) in map.iter().enumerate() {
                if let Some(i) = *i {
                    cast(j, i, params.other_length_weight);
                }
            }
        }
    }

    // Per position: the winner and its confidence.
    let mut tally = Tally {
        text: Vec::with_capacity(target_len),
        per_char: Vec::with_capacity(target_len),
        winners: Vec::with_capacity(target_len),
        positions,
    };
    for pos in &tally.positions {
        let total: f32 = pos.iter().map(|c| c.support).sum();
        let w = (0..pos.len())
            .max_by(|&a, &b| {
                let (ca, cb) = (&pos[a], &pos[b]);
                ca.support
                    .total_cmp(&cb.support)
                    .then(ca.shadow.total_cmp(&cb.shadow))
                    .then(cb.ch.cmp(&ca.ch))
            })
            .unwrap_or(0);
        let Some(win) = pos.get(w) else {
            // Unreachable: the anchor votes at every position. Stay total anyway.
            return None;
        };
        let share = if total > 0.0 {
            win.support / total
        } else {
            0.0
        };
        let mean_conf = win.conf_sum / win.voters.max(1) as f32;
        tally.text.push(win.ch);
        tally.per_char.push((share * mean_conf).clamp(0.0, 1.0));
        tally.winners.push(w);
    }

    let voted: String = tally.text.iter().collect();
    let fit = if regions.is_empty() {
        None
    } else {
        formats.best_region(&voted, regions)
    };
    let (voted, per_char, format_changes, fit) =
        match format_tie_break(&tally, fit, formats, regions, params) {
            Some((changes, new_text, new_conf)) => {
                let text: String = new_text.iter().collect();
                let fit = formats.best_region(&text, regions);
                (text, new_conf, changes, fit)
            }
            None => (voted, tally.per_char, 0, fit),
        };

    let mean = per_char.iter().sum::<f32>() / per_char.len().max(1) as f32;
    let n_agreeing = prepared.iter().filter(|r| r.text == voted).count();
    Some(Consensus {
        confidence: (length_share * mean).clamp(0.0, 1.0),
        region: fit.map(|(id, _)| id.to_owned()),
        format_score: fit.map_or(0.0, |(_, s)| s),
        n_reads: prepared.len(),
        n_agreeing,
        per_char_confidence: per_char,
        format_changes,
        text: voted,
    })
}

/// The outcome of the per-position vote.
struct Tally {
    /// Candidates per position.
    positions: Vec<Vec<Cand>>,
    /// Index of each position's winner in `positions`.
    winners: Vec<usize>,
    /// The winners.
    text: Vec<char>,
    /// Their confidences.
    per_char: Vec<f32>,
}

/// The best text found by the format tie-break so far.
struct FormatCandidate {
    score: f32,
    evidence: f32,
    text: Vec<char>,
    /// Indices into the alternatives.
    chosen: Vec<usize>,
}

/// An alternative character at a position, for the format tie-break.
#[derive(Debug, Clone, Copy)]
struct Alt {
    pos: usize,
    ch: char,
    /// Evidence for it (vote support plus runner-up shadow), 0 for a bare confusable swap.
    evidence: f32,
    /// Its per-character confidence if chosen.
    confidence: f32,
}

/// Looks for a better-fitting text by changing up to `max_format_changes` closely contested or
/// uncertain positions. Returns the number of changes, the text and its per-character
/// confidences, or `None` when the vote stands.
fn format_tie_break(
    tally: &Tally,
    fit: Option<(&str, f32)>,
    formats: &PlateFormats,
    regions: &[&str],
    params: &VoteParams,
) -> Option<(usize, Vec<char>, Vec<f32>)> {
    let Tally {
        positions,
        winners,
        text,
        per_char,
    } = tally;
    if regions.is_empty() || params.max_format_changes == 0 {
        return None;
    }
    let base_score = fit.map_or(0.0, |(_, s)| s);
    let fits_nothing = fit.is_none();
    let mut alts: Vec<Alt> = Vec::new();
    for (j, pos) in positions.iter().enumerate() {
        let win = &pos[winners[j]];
        let total: f32 = pos.iter().map(|c| c.support).sum();
        for (k, c) in pos.iter().enumerate() {
            if k == winners[j] {
                continue;
            }
            let evidence = c.support + c.shadow;
            if evidence >= params.close_ratio * win.support && evidence > 0.0 {
                let mean_conf = if c.voters > 0 {
                    c.conf_sum / c.voters as f32
                } else {
                    1.0
                };
                alts.push(Alt {
                    pos: j,
                    ch: c.ch,
                    evidence,
                    confidence: (evidence / (total + c.shadow) * mean_conf).clamp(0.0, 1.0),
                });
            }
        }
        if fits_nothing && per_char[j] < params.coerce_below {
            for &(a, b) in CONFUSABLE_PAIRS {
                let partner = if win.ch == a {
                    b
                } else if win.ch == b {
                    a
                } else {
                    continue;
                };
                if !alts.iter().any(|x| x.pos == j && x.ch == partner) {
                    alts.push(Alt {
                        pos: j,
                        ch: partner,
                        evidence: 0.0,
                        confidence: 0.5 * per_char[j],
                    });
                }
            }
        }
    }
    if alts.is_empty() {
        return None;
    }

    // Candidates compare by score, then fewer changes, then more evidence, then text, so that
    // the choice is deterministic.
    let mut best: Option<FormatCandidate> = None;
    let mut buf: Vec<char> = text.clone();
    let mut candidate = String::new();
    let mut consider = |chosen: &[usize]| {
        buf.copy_from_slice(text);
        let mut evidence = 0.0;
        for &a in chosen {
            buf[alts[a].pos] = alts[a].ch;
            evidence += alts[a].evidence;
        }
        candidate.clear();
        candidate.extend(buf.iter());
        let Some((_, score)) = formats.best_region(&candidate, regions) else {
            return;
        };
        if score <= base_score {
            return;
        }
        let better = best.as_ref().is_none_or(|b| {
            score
                .total_cmp(&b.score)
                .then(b.chosen.len().cmp(&chosen.len()))
                .then(evidence.total_cmp(&b.evidence))
                .then_with(|| b.text.cmp(&buf))
                .is_gt()
        });
        if better {
            best = Some(FormatCandidate {
                score,
                evidence,
                text: buf.clone(),
                chosen: chosen.to_vec(),
            });
        }
    };
    for a in 0..alts.len() {
        consider(&[a]);
    }
    if params.max_format_changes >= 2 {
        for a in 0..alts.len() {
            for b in a + 1..alts.len() {
                if alts[a].pos != alts[b].pos {
                    consider(&[a, b]);
                }
            }
        }
    }
    let best = best?;
    let changes = best.chosen.len();
    let mut conf = per_char.clone();
    for a in best.chosen {
        conf[alts[a].pos] = alts[a].confidence;
    }
    Some((changes, best.text, conf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read(text: &str, conf: f32, weight: f32) -> ReadObservation {
        let n = text.chars().count();
        ReadObservation {
            text: text.to_owned(),
            char_confidences: vec![conf; n],
            runner_ups: vec![None; n],
            confidence: conf,
            weight,
        }
    }

    fn formats() -> &'static PlateFormats {
        PlateFormats::builtin()
    }

    #[test]
    fn empty_input_gives_none() {
        assert_eq!(vote(&[], formats(), &["us"]), None);
        assert_eq!(vote(&[read("", 0.9, 1.0)], formats(), &["us"]), None);
    }

    #[test]
    fn majority_wins_per_position() {
        let reads = [
            read("ABC1234", 0.9, 1.0),
            read("ABC1234", 0.8, 1.0),
            read("A8C1234", 0.7, 1.0),
            read("ABC1Z34", 0.6, 1.0),
        ];
        let c = vote(&reads, formats(), &["br"]).expect("consensus");
        assert_eq!(c.text, "ABC1234");
        assert_eq!((c.n_reads, c.n_agreeing), (4, 2));
        assert_eq!(c.region.as_deref(), Some("br"));
        assert_eq!(c.format_score, 1.0);
        assert_eq!(c.format_changes, 0);
        // Position 1: 'B' has 2.3 of 3.0 of the vote, at a mean confidence of 2.3 / 3.
        let want = 2.3 / 3.0 * (2.3 / 3.0);
        assert!((c.per_char_confidence[1] - want).abs() < 1e-3);
        assert!(c.confidence > 0.5 && c.confidence <= 1.0);
    }

    #[test]
    fn a_read_missing_a_character_still_votes() {
        // Two full reads split on position 3; the short read (missing the first character)
        // agrees with the second and tips the vote.
        let reads = [
            read("ABC1234", 0.8, 1.0),
            read("ABC7234", 0.8, 1.0),
            read("BC7234", 0.9, 1.0),
        ];
        let c = vote(&reads, formats(), &[]).expect("consensus");
        assert_eq!(c.text, "ABC7234");
        assert!(c.confidence < c.per_char_confidence.iter().sum::<f32>() / 7.0);
    }

    #[test]
    fn unrelated_text_of_another_length_does_not_vote() {
        let reads = [read("ABC1234", 0.8, 1.0), read("CALIFORNIA", 0.95, 1.0)];
        let c = vote(&reads, formats(), &[]).expect("consensus");
        assert_eq!(c.text, "CALIFORNIA");
        let reads = [
            read("ABC1234", 0.8, 1.0),
            read("ABC1234", 0.8, 1.0),
            read("CALIFORNIA", 0.95, 1.0),
        ];
        let c = vote(&reads, formats(), &[]).expect("consensus");
        assert_eq!(c.text, "ABC1234");
        assert_eq!(c.per_char_confidence, vec![0.8; 7]);
    }

    #[test]
    fn length_tie_goes_to_the_fitting_length() {
        let reads = [read("ABC123", 0.8, 1.0), read("ABC1234", 0.8, 1.0)];
        let c = vote(&reads, formats(), &["br"]).expect("consensus");
        assert_eq!(c.text, "ABC1234");
        let c = vote(&reads, formats(), &["ar"]).expect("consensus");
        assert_eq!(c.text, "ABC123");
    }

    #[test]
    fn close_vote_is_settled_by_the_format() {
        // Mercosur ABC1D23: the position-1 vote is 8 (1.6) against B (1.5); "A8C1D23" fits no
        // Brazilian format but "ABC1D23" does.
        let reads = [read("A8C1D23", 0.8, 2.0), read("ABC1D23", 0.75, 2.0)];
        let c = vote(&reads, formats(), &["br"]).expect("consensus");
        assert_eq!(c.text, "ABC1D23");
        assert_eq!(c.format_changes, 1);
        assert_eq!(c.n_agreeing, 1);
        assert_eq!(c.region.as_deref(), Some("br"));
        // Without formats the plain vote stands.
        let c = vote(&reads, formats(), &[]).expect("consensus");
        assert_eq!(c.text, "A8C1D23");
        assert_eq!(c.region, None);
    }

    #[test]
    fn runner_up_settles_a_single_read() {
        // Argentine Mercosur AB123CD read with an X where the recogniser's runner-up was 3.
        let mut r = read("AB12XCD", 0.9, 1.0);
        r.char_confidences[4] = 0.55;
        r.runner_ups[4] = Some(('3', 0.4));
        let c = vote(std::slice::from_ref(&r), formats(), &["ar"]).expect("consensus");
        assert_eq!(c.text, "AB123CD");
        assert_eq!(c.format_changes, 1);
        // A weak runner-up is not enough.
        r.runner_ups[4] = Some(('3', 0.05));
        let c = vote(std::slice::from_ref(&r), formats(), &["ar"]).expect("consensus");
        assert_eq!(c.text, "AB12XCD");
        assert_eq!(c.region, None);
        assert_eq!(c.format_score, 0.0);
        // Nor is a confusable swap on a confident read.
        let c = vote(&[read("A8C1D23", 0.95, 1.0)], formats(), &["br"]).expect("consensus");
        assert_eq!(c.text, "A8C1D23");
    }

    #[test]
    fn uncertain_text_fitting_nothing_is_coerced_by_confusables() {
        let c = vote(&[read("A8C1234", 0.6, 1.0)], formats(), &["br"]).expect("consensus");
        assert_eq!(c.text, "ABC1234");
        assert_eq!(c.format_changes, 1);
        assert!((c.per_char_confidence[1] - 0.3).abs() < 1e-6);
        // CN: the city letter is never O; a 0 there becomes D.
        let c = vote(&[read("皖012345", 0.6, 1.0)], formats(), &["cn"]).expect("consensus");
        assert_eq!(c.text, "皖D12345");
    }

    #[test]
    fn better_format_beats_a_vanity_fit_only_when_close() {
        // US "0IT643" fits a county-coded series (0.6); "OIT643" the common LLLNNN (1.0).
        let mut r = read("0IT643", 0.6, 1.0);
        r.runner_ups[0] = Some(('O', 0.35));
        let c = vote(std::slice::from_ref(&r), formats(), &["us"]).expect("consensus");
        assert_eq!(c.text, "OIT643");
        r.runner_ups[0] = Some(('O', 0.1));
        let c = vote(&[r], formats(), &["us"]).expect("consensus");
        assert_eq!(c.text, "0IT643");
    }

    #[test]
    fn zero_weights_still_give_a_result() {
        let reads = [
            read("ABC123", 0.9, 0.0),
            read("ABC123", 0.9, 0.0),
            read("XBC123", 0.9, 0.0),
        ];
        let c = vote(&reads, formats(), &[]).expect("consensus");
        assert_eq!(c.text, "ABC123");
        assert!(c.confidence.is_finite());
    }

    #[test]
    fn bad_numbers_are_sanitised() {
        let mut r = read("ABC123", f32::NAN, f32::INFINITY);
        r.char_confidences = vec![f32::NAN, 2.0];
        r.runner_ups = vec![Some(('8', f32::NAN))];
        let c = vote(&[r], formats(), &["us"]).expect("consensus");
        assert_eq!(c.text, "ABC123");
        assert!(c.confidence.is_finite() && (0.0..=1.0).contains(&c.confidence));
        assert!(c
            .per_char_confidence
            .iter()
            .all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn from_ctc_copies_the_detail() {
        use crate::ctc::{CtcChar, CtcRead};
        let ctc = CtcRead {
            text: "AB".into(),
            chars: vec![
                CtcChar {
                    ch: 'A',
                    confidence: 0.9,
                    runner_up: None,
                },
                CtcChar {
                    ch: 'B',
                    confidence: 0.7,
                    runner_up: Some(('8', 0.2)),
                },
            ],
            confidence: 0.8,
        };
        let o = ReadObservation::from_ctc(&ctc, 0.5);
        assert_eq!(o.char_confidences, vec![0.9, 0.7]);
        assert_eq!(o.runner_ups[1], Some(('8', 0.2)));
        assert_eq!((o.confidence, o.weight), (0.8, 0.5));
    }

    #[test]
    fn alignment_maps_missing_and_extra_characters() {
        let a: Vec<char> = "ABC123".chars().collect();
        let (cost, map) = align(&"AC123".chars().collect::<Vec<_>>(), &a);
        assert_eq!(cost, 1.0);
        assert_eq!(map, vec![Some(0), None, Some(1), Some(2), Some(3), Some(4)]);
        let (cost, map) = align(&"ABXC123".chars().collect::<Vec<_>>(), &a);
        assert_eq!(cost, 1.0);
        assert_eq!(
            map,
            vec![Some(0), Some(1), Some(3), Some(4), Some(5), Some(6)]
        );
        let (cost, _) = align(&"A8C123".chars().collect::<Vec<_>>(), &a);
        assert_eq!(cost, crate::text::CONFUSABLE_SUBSTITUTION_COST);
    }

    fn arb_read(text: impl Strategy<Value = String>) -> impl Strategy<Value = ReadObservation> {
        (text, 0.05f32..1.0, 0.0f32..2.0).prop_flat_map(|(text, conf, weight)| {
            let n = text.chars().count();
            (
                Just(text),
                proptest::collection::vec(0.05f32..1.0, n),
                proptest::collection::vec(
                    proptest::option::of((proptest::char::range('0', 'Z'), 0.0f32..0.5)),
                    n,
                ),
                Just(conf),
                Just(weight),
            )
                .prop_map(
                    |(text, char_confidences, runner_ups, confidence, weight)| ReadObservation {
                        text,
                        char_confidences,
                        runner_ups,
                        confidence,
                        weight,
                    },
                )
        })
    }

    proptest! {
        #[test]
        fn unanimous_reads_give_their_text(
            text in "[A-Z0-9]{1,8}",
            confs in proptest::collection::vec((0.0f32..1.0, 0.0f32..2.0), 1..6),
        ) {
            // Without formats nothing can override a unanimous vote.
            let reads: Vec<_> = confs.iter().map(|&(c, w)| read(&text, c, w)).collect();
            let c = vote(&reads, formats(), &[]).expect("consensus");
            prop_assert_eq!(&c.text, &text);
            prop_assert_eq!(c.n_agreeing, c.n_reads);
            prop_assert_eq!(c.n_reads, reads.len());
        }

        #[test]
        fn unanimous_reads_give_their_text_with_formats(
            text in "[A-Z0-9]{7}",
            confs in proptest::collection::vec((0.0f32..1.0, 0.0f32..2.0), 1..6),
        ) {
            // With formats, a unanimous text stands if it fits (no runner-up evidence against
            // it); if it fits nothing, only an uncertain character may be swapped for its
            // confusable partner — the one exception, documented on VoteParams::coerce_below.
            let reads: Vec<_> = confs.iter().map(|&(c, w)| read(&text, c, w)).collect();
            let c = vote(&reads, formats(), &["br"]).expect("consensus");
            if formats().score("br", &text) > 0.0 {
                prop_assert_eq!(&c.text, &text);
                prop_assert_eq!(c.n_agreeing, c.n_reads);
            } else {
                for (a, b) in text.chars().zip(c.text.chars()) {
                    prop_assert!(a == b || crate::text::is_confusable(a, b));
                }
            }
        }

        #[test]
        fn result_chars_come_from_the_reads(
            reads in proptest::collection::vec(arb_read("[A-F0-5]{4,7}"), 1..7),
            region in proptest::sample::select(vec!["us", "br", "ar", "eu"]),
        ) {
            let c = vote(&reads, formats(), &[region]).expect("consensus");
            for ch in c.text.chars() {
                let seen = reads.iter().any(|r| {
                    r.text.contains(ch) || r.runner_ups.iter().flatten().any(|&(x, _)| x == ch)
                });
                let confusable = reads.iter().any(|r| r.text.chars().any(|x| crate::text::is_confusable(x, ch)));
                prop_assert!(seen || confusable, "{} in {:?}", ch, c.text);
            }
            prop_assert!((0.0..=1.0).contains(&c.confidence));
            prop_assert_eq!(c.per_char_confidence.len(), c.text.chars().count());
            prop_assert!(c.n_agreeing <= c.n_reads);
        }

        #[test]
        fn order_of_reads_does_not_matter(
            reads in proptest::collection::vec(arb_read("[A-D0-3]{5,7}"), 1..7),
            seed in any::<u64>(),
            region in proptest::sample::select(vec!["us", "br", "ar"]),
        ) {
            let mut shuffled = reads.clone();
            // A seeded Fisher-Yates shuffle.
            let mut s = seed | 1;
            for i in (1..shuffled.len()).rev() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                shuffled.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let a = vote(&reads, formats(), &[region]);
            let b = vote(&shuffled, formats(), &[region]);
            prop_assert_eq!(a, b);
        }
    }
}
