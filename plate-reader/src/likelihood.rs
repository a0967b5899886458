//! How probable a given plate text is, from the recogniser's own output rather than from an edit
//! cost.
//!
//! The CTC recogniser outputs a probability distribution over its classes at every time step. A
//! text `y` is produced by every alignment that collapses to it (repeats merged, blanks dropped),
//! and CTC's probability of `y` is the sum over those alignments of the product of the step
//! probabilities: the forward algorithm computes it in `O(T · |y|)`. Unlike an edit cost, it
//! knows *this* read: a smudged character whose runner-up was `H` makes `H` likely there and
//! nothing else, while a sharp character leaves no room for any other.
//!
//! A [`CtcLattice`] keeps, for one read, the step distributions restricted to the plate alphabet
//! (a few dozen columns instead of the recogniser's 6625), renormalised over them: the true plate
//! is known to be written in that alphabet, so the mass of the other classes is not evidence for
//! or against any plate. Characters that [`normalise_plate`] drops
//! (separators, spaces) count as blanks, so a label is always a normalised plate.
//!
//! [`track_probability`] combines the reads of one track: the weighted *mean* of the reads'
//! probabilities (a mixture). The reads of one track are not independent evidence (the same plate,
//! a fraction of a second apart), so a product would be far too sure; the mean is a proper
//! probability (it sums to at most 1 over all texts), stays high when most reads support a text,
//! and is not ruined by one blurred frame. The terms are sorted before summing, so the result does
//! not depend on the order of the reads.

use crate::ctc::{AllowedClasses, Charset, CtcChar};
use crate::text::normalise_plate;

/// `A`–`Z` and `0`–`9`: the alphabet of synthetic reads ([`CtcLattice::certain`]).
pub const LATIN_ALNUM: &[char] = &[
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S',
    'T', 'U', 'V', 'W', 'X', 'Y', 'Z', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
];

/// One read's step distributions over the plate alphabet; column 0 is the blank.
#[derive(Clone, Debug, PartialEq)]
pub struct CtcLattice {
    /// The characters of columns `1..`, ascending.
    symbols: Vec<char>,
    /// Time steps.
    steps: usize,
    /// Natural-log probabilities, `steps × (symbols.len() + 1)`, row-major.
    log_p: Vec<f32>,
}

/// Where each allowed recogniser class goes in a lattice (built once per alphabet).
#[derive(Clone, Debug)]
pub struct LatticeLayout {
    symbols: Vec<char>,
    /// (class, column); column 0 is the blank.
    columns: Vec<(usize, usize)>,
}

impl LatticeLayout {
    /// The layout for decoding with `allowed`: one column per normalised character (a character
    /// listed on several lines, or in both cases, is one column); separators join the blank.
    pub fn new(charset: &Charset, allowed: &AllowedClasses) -> LatticeLayout {
        let mut pairs: Vec<(usize, Option<char>)> = Vec::with_capacity(allowed.classes().len());
        for &class in allowed.classes() {
            let Some(ch) = charset.char_of(class) else {
                continue;
            };
            let norm = normalise_plate(&ch.to_string());
            let mut norm = norm.chars();
            match (norm.next(), norm.next()) {
                (Some(c), None) => pairs.push((class, Some(c))),
                (None, _) => pairs.push((class, None)),
                // A character that normalises to several (rare ligatures) cannot be one column.
                _ => {}
            }
        }
        let mut symbols: Vec<char> = pairs.iter().filter_map(|p| p.1).collect();
        symbols.sort_unstable();
        symbols.dedup();
        let columns = pairs
            .into_iter()
            .map(|(class, c)| {
                let col = c.map_or(0, |c| symbols.binary_search(&c).map_or(0, |i| i + 1));
                (class, col)
            })
            .collect();
        LatticeLayout { symbols, columns }
    }

    /// The lattice of one read: `probs` is its `steps × classes` softmax output.
    pub fn lattice(&self, probs: &[f32], steps: usize, classes: usize) -> CtcLattice {
        let width = self.symbols.len() + 1;
        let mut log_p = vec![0.0f32; steps * width];
        for (t, out) in log_p.chunks_exact_mut(width).enumerate() {
            let Some(row) = probs.get(t * classes..(t + 1) * classes) else {
                break;
            };
            out[0] = finite_or_zero(row[0]);
            for &(class, col) in &self.columns {
                out[col] += finite_or_zero(row[class]);
            }
            normalise_row(out);
        }
        CtcLattice {
            symbols: self.symbols.clone(),
            steps,
            log_p,
        }
    }
}

fn finite_or_zero(p: f32) -> f32 {
    if p.is_finite() && p > 0.0 {
        p
    } else {
        0.0
    }
}

/// Probabilities to log probabilities summing to 1; a row with no mass becomes uniform.
fn normalise_row(row: &mut [f32]) {
    let sum: f32 = row.iter().sum();
    if sum <= 0.0 || !sum.is_finite() {
        let u = -(row.len() as f32).ln();
        row.iter_mut().for_each(|v| *v = u);
        return;
    }
    for v in row.iter_mut() {
        *v = (*v / sum).max(f32::MIN_POSITIVE).ln();
    }
}

impl CtcLattice {
    /// A lattice of a read of `text` whose every character was read at `confidence`, over the
    /// alphabet `symbols` (which gains the text's characters): for tests and for reads that
    /// come without the recogniser's output. See [`CtcLattice::from_chars`].
    pub fn certain(text: &str, confidence: f32, symbols: &[char]) -> CtcLattice {
        let chars: Vec<CtcChar> = normalise_plate(text)
            .chars()
            .map(|ch| CtcChar {
                ch,
                confidence,
                runner_up: None,
            })
            .collect();
        CtcLattice::from_chars(&chars, symbols)
    }

    /// A lattice from decoded characters alone, over the alphabet `symbols` (which gains the
    /// characters and runner-ups): each character takes one step at its confidence, with its
    /// runner-up at the runner-up's probability and the rest of the step spread evenly over the
    /// blank and the other characters; a blank step, mostly blank, stands between characters
    /// and at both ends. For tests, and for reads that come without the recogniser's output.
    pub fn from_chars(chars: &[CtcChar], symbols: &[char]) -> CtcLattice {
        let mut symbols: Vec<char> = symbols
            .iter()
            .copied()
            .chain(chars.iter().map(|c| c.ch))
            .chain(chars.iter().filter_map(|c| c.runner_up.map(|r| r.0)))
            .collect();
        symbols.sort_unstable();
        symbols.dedup();
        let width = symbols.len() + 1;
        let col = |c: char| symbols.binary_search(&c).map_or(0, |i| i + 1);
        let clamp = |p: f32| {
            if p.is_finite() {
                p.clamp(1e-3, 0.999)
            } else {
                1e-3
            }
        };
        let blank_row = |row: &mut [f32]| {
            row.fill(0.02 / (width - 1) as f32);
            row[0] = 0.98;
        };
        let mut probs: Vec<f32> = Vec::with_capacity((2 * chars.len() + 1) * width);
        let mut row = vec![0.0; width];
        blank_row(&mut row);
        probs.extend_from_slice(&row);
        for c in chars {
            let conf = clamp(c.confidence);
            let second = c
                .runner_up
                .filter(|r| r.0 != c.ch)
                .map(|(ch, p)| (col(ch), clamp(p).min(1.0 - conf)));
            let taken = conf + second.map_or(0.0, |s| s.1);
            let others = (width - 1 - usize::from(second.is_some())).max(1);
            row.fill((1.0 - taken).max(0.0) / others as f32);
            row[col(c.ch)] = conf;
            if let Some((k, p)) = second {
                row[k] = p;
            }
            probs.extend_from_slice(&row);
            blank_row(&mut row);
            probs.extend_from_slice(&row);
        }
        let steps = probs.len() / width;
        for r in probs.chunks_exact_mut(width) {
            normalise_row(r);
        }
        CtcLattice {
            symbols,
            steps,
            log_p: probs,
        }
    }

    /// This lattice with each character's column widened by its confusable partners (`pairs`,
    /// e.g. [`CONFUSABLE_PAIRS`](crate::text::CONFUSABLE_PAIRS)): a step reading `0` supports
    /// `O` and `D` as much as `0` itself, because on a plate the glyphs can be the same. The
    /// blank is unchanged. The result scores texts *up to confusable glyphs*: each text's value
    /// is still 0..1, but they no longer sum to 1 over all texts.
    pub fn widened(&self, pairs: &[(char, char)]) -> CtcLattice {
        let width = self.symbols.len() + 1;
        let col = |c: char| self.symbols.binary_search(&c).ok().map(|i| i + 1);
        let mut partners: Vec<Vec<usize>> = vec![Vec::new(); width];
        for &(a, b) in pairs {
            if let (Some(x), Some(y)) = (col(a), col(b)) {
                partners[x].push(y);
                partners[y].push(x);
            }
        }
        let mut log_p = self.log_p.clone();
        let mut p = vec![0.0f32; width];
        for (src, dst) in self
            .log_p
            .chunks_exact(width)
            .zip(log_p.chunks_exact_mut(width))
        {
            for (q, &l) in p.iter_mut().zip(src) {
                *q = l.exp();
            }
            for (k, others) in partners.iter().enumerate() {
                if !others.is_empty() {
                    let sum = p[k] + others.iter().map(|&o| p[o]).sum::<f32>();
                    dst[k] = sum.clamp(f32::MIN_POSITIVE, 1.0).ln();
                }
            }
        }
        CtcLattice {
            symbols: self.symbols.clone(),
            steps: self.steps,
            log_p,
        }
    }

    /// Time steps.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The alphabet, ascending (column `i + 1` is `symbols()[i]`).
    pub fn symbols(&self) -> &[char] {
        &self.symbols
    }

    /// The natural log of CTC's probability of `text` (normalised first): the sum over every
    /// alignment that collapses to it. `-∞` when the text holds a character outside the alphabet
    /// or is too long for the steps.
    pub fn log_prob(&self, text: &str) -> f64 {
        let width = self.symbols.len() + 1;
        let mut label: Vec<usize> = Vec::with_capacity(12);
        for c in normalise_plate(text).chars() {
            match self.symbols.binary_search(&c) {
                Ok(i) => label.push(i + 1),
                Err(_) => return f64::NEG_INFINITY,
            }
        }
        let lp = |t: usize, col: usize| self.log_p[t * width + col] as f64;
        if self.steps == 0 {
            return if label.is_empty() {
                0.0
            } else {
                f64::NEG_INFINITY
            };
        }
        // Extended label: blank, y1, blank, y2, …, blank.
        let s = 2 * label.len() + 1;
        let ext = |i: usize| if i.is_multiple_of(2) { 0 } else { label[i / 2] };
        let mut alpha = vec![f64::NEG_INFINITY; s];
        let mut next = vec![f64::NEG_INFINITY; s];
        alpha[0] = lp(0, 0);
        if s > 1 {
            alpha[1] = lp(0, ext(1));
        }
        for t in 1..self.steps {
            for i in 0..s {
                let mut a = alpha[i];
                if i >= 1 {
                    a = log_add(a, alpha[i - 1]);
                }
                if i >= 2 && ext(i) != 0 && ext(i) != ext(i - 2) {
                    a = log_add(a, alpha[i - 2]);
                }
                next[i] = if a == f64::NEG_INFINITY {
                    a
                } else {
                    a + lp(t, ext(i))
                };
            }
            std::mem::swap(&mut alpha, &mut next);
        }
        if s == 1 {
            alpha[0]
        } else {
            log_add(alpha[s - 1], alpha[s - 2])
        }
    }

    /// CTC's probability of `text`, 0..1.
    pub fn prob(&self, text: &str) -> f64 {
        self.log_prob(text).exp()
    }
}

fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// The probability that a track shows `text`: the weighted mean over its reads of each read's
/// CTC probability of `text` (see the module docs). Reads with a non-finite or non-positive
/// weight count with a tiny weight; no reads give 0. Independent of the order of the reads.
pub fn track_probability(reads: &[(&CtcLattice, f32)], text: &str) -> f64 {
    let mut terms: Vec<(f64, f64)> = reads
        .iter()
        .map(|(l, w)| {
            let w = if w.is_finite() && *w > 0.0 {
                *w as f64
            } else {
                1e-6
            };
            (w, l.prob(text))
        })
        .collect();
    terms.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (w, p) in terms {
        num += w * p;
        den += w;
    }
    if den > 0.0 {
        (num / den).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALNUM: &[char] = LATIN_ALNUM;

    /// A lattice from explicit per-step distributions over "AB" (columns: blank, A, B).
    fn ab(rows: &[[f32; 3]]) -> CtcLattice {
        let charset = Charset::from_metadata("A\nB\n-\n").expect("charset");
        let allowed = charset.mask_for(['A', 'B', '-']);
        let layout = LatticeLayout::new(&charset, &allowed);
        // classes: 0 blank, 1 A, 2 B, 3 '-', 4 space
        let mut probs = Vec::new();
        for r in rows {
            probs.extend_from_slice(&[r[0], r[1], r[2], 0.0, 0.0]);
        }
        layout.lattice(&probs, rows.len(), 5)
    }

    #[test]
    fn forward_sums_every_alignment() {
        // Two steps: P("A") = p(A,A) + p(A,-) + p(-,A).
        let l = ab(&[[0.2, 0.7, 0.1], [0.5, 0.4, 0.1]]);
        let want = 0.7 * 0.4 + 0.7 * 0.5 + 0.2 * 0.4;
        assert!((l.prob("A") - want).abs() < 1e-6, "{}", l.prob("A"));
        // "AA" needs a blank between: impossible in two steps.
        assert_eq!(l.prob("AA"), 0.0);
        assert!((l.prob("") - 0.2 * 0.5).abs() < 1e-6);
        assert!((l.prob("AB") - 0.7 * 0.1).abs() < 1e-6);
        // Every text of at most two characters: the probabilities sum to one.
        let total: f64 = ["", "A", "B", "AA", "AB", "BA", "BB"]
            .iter()
            .map(|t| l.prob(t))
            .sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
    }

    #[test]
    fn separators_are_blanks_and_unknown_characters_impossible() {
        let charset = Charset::from_metadata("A\nB\n-\n").expect("charset");
        let layout = LatticeLayout::new(&charset, &charset.mask_for(['A', 'B', '-']));
        // One step, all on '-': the empty text.
        let l = layout.lattice(&[0.0, 0.0, 0.0, 1.0, 0.0], 1, 5);
        assert!((l.prob("") - 1.0).abs() < 1e-6);
        assert_eq!(l.prob("Z"), 0.0);
        assert!(
            (l.prob("-") - 1.0).abs() < 1e-6,
            "a label is normalised first"
        );
    }

    #[test]
    fn certain_lattice_favours_its_text() {
        let l = CtcLattice::certain("ABC123", 0.95, ALNUM);
        let p = l.prob("ABC123");
        assert!(p > 0.6, "{p}");
        assert!(l.prob("ABC128") < 0.01);
        assert!(l.prob("ABC12") < 0.01);
    }

    #[test]
    fn a_runner_up_makes_its_swap_plausible() {
        let mut chars: Vec<CtcChar> = "ABC1O3"
            .chars()
            .map(|ch| CtcChar {
                ch,
                confidence: 0.95,
                runner_up: None,
            })
            .collect();
        chars[4] = CtcChar {
            ch: 'O',
            confidence: 0.55,
            runner_up: Some(('0', 0.4)),
        };
        let l = CtcLattice::from_chars(&chars, ALNUM);
        let (read, swap) = (l.prob("ABC1O3"), l.prob("ABC103"));
        assert!(swap > 0.5 * read && swap < read, "{read} {swap}");
        assert!(l.prob("ABC1Q3") < 0.05 * swap);
    }

    #[test]
    fn widening_lets_a_confusable_glyph_count_for_its_partner() {
        let l = CtcLattice::certain("RK300AG", 0.95, ALNUM);
        let w = l.widened(crate::text::CONFUSABLE_PAIRS);
        assert!(l.prob("RK3OOAG") < 1e-4);
        let (same, swapped) = (w.prob("RK300AG"), w.prob("RK3OOAG"));
        assert!(
            swapped > 0.5 && (same - swapped).abs() < 1e-2,
            "{same} {swapped}"
        );
        assert!(w.prob("RK3QQAG") < 1e-4, "Q is not a partner of 0");
    }

    #[test]
    fn track_probability_is_a_mean_and_order_free() {
        let a = CtcLattice::certain("ABC123", 0.95, ALNUM);
        let b = CtcLattice::certain("XYZ789", 0.95, ALNUM);
        let pa = a.prob("ABC123");
        let reads = [(&a, 1.0), (&b, 1.0)];
        let p = track_probability(&reads, "ABC123");
        assert!((p - pa / 2.0).abs() < 1e-3, "{p} vs {pa}");
        let rev = [(&b, 1.0), (&a, 1.0)];
        assert_eq!(p, track_probability(&rev, "ABC123"));
        assert_eq!(track_probability(&[], "ABC123"), 0.0);
    }
}
