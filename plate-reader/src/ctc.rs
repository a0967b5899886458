//! The PP-OCR recogniser's character set and CTC greedy decoding restricted to a plate alphabet.
//!
//! The PP-OCRv4 recogniser scores 6625 classes per time step: class 0 is the CTC blank, classes
//! `1..=n` are the lines of the character list stored in the ONNX metadata under `character`, and
//! class `n + 1` is a space. A plate holds only a few dozen of those characters, and letting the
//! argmax pick any of the others (a Chinese character that looks like a smudged `8`, a
//! full-width `Ｏ`) costs exact reads, so decoding takes the argmax over an [`AllowedClasses`]
//! mask. The probabilities are a softmax over all classes and are *not* renormalised over the
//! allowed ones: a step where a disallowed class won keeps its low probabilities, which is an
//! honest measure of how unsure the read is.

use std::collections::HashMap;

use ndarray::ArrayView3;
use thiserror::Error;

/// Errors from building a character set or decoding recogniser output.
#[derive(Debug, Error, PartialEq)]
pub enum CtcError {
    /// The metadata string held no characters.
    #[error("recogniser charset metadata is empty")]
    EmptyCharset,
    /// A line of the metadata did not hold exactly one character, which would shift every
    /// later class.
    #[error("recogniser charset metadata line {line} holds {chars} characters, expected 1")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// How many characters the line held.
        chars: usize,
    },
    /// The output's class count does not match the character set (wrong model or metadata).
    #[error("recogniser output has {got} classes, charset has {expected}")]
    ClassCount {
        /// Classes in the output.
        got: usize,
        /// Classes the charset defines.
        expected: usize,
    },
    /// The allowed-class mask was built for a different character set.
    #[error("allowed-class mask covers {got} classes, charset has {expected}")]
    MaskSize {
        /// Classes in the mask.
        got: usize,
        /// Classes the charset defines.
        expected: usize,
    },
    /// The probability buffer is shorter than `steps × classes`.
    #[error("recogniser output holds {got} values, expected {expected} (steps × classes)")]
    ShortOutput {
        /// Values present.
        got: usize,
        /// Values expected.
        expected: usize,
    },
}

/// The recogniser's classes: 0 = blank, `1..=n` = the metadata characters, `n + 1` = space.
#[derive(Debug, Clone)]
pub struct Charset {
    /// Character of each class; index 0 (blank) holds a placeholder that is never returned.
    chars: Vec<char>,
    /// First class of each character (for [`Charset::class_of`]).
    first_class: HashMap<char, usize>,
}

impl Charset {
    /// Parses the recogniser's `character` metadata: one character per line, `\n` or `\r\n`
    /// separated; one trailing newline is allowed. Errors name the first bad line.
    pub fn from_metadata(metadata: &str) -> Result<Charset, CtcError> {
        let body = metadata.strip_suffix('\n').unwrap_or(metadata);
        let body = body.strip_suffix('\r').unwrap_or(body);
        if body.is_empty() {
            return Err(CtcError::EmptyCharset);
        }
        let mut chars = Vec::with_capacity(body.len() / 2 + 2);
        chars.push('\0');
        for (i, line) in body.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            let mut it = line.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => chars.push(c),
                _ => {
                    return Err(CtcError::BadLine {
                        line: i + 1,
                        chars: line.chars().count(),
                    })
                }
            }
        }
        chars.push(' ');
        let mut first_class = HashMap::with_capacity(chars.len());
        for (class, &c) in chars.iter().enumerate().skip(1) {
            first_class.entry(c).or_insert(class);
        }
        Ok(Charset { chars, first_class })
    }

    /// Number of classes the recogniser outputs (blank, the characters, space).
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Always false: the blank and space classes exist even for a one-character list.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The character of a class; `None` for the blank (0) and out-of-range classes.
    pub fn char_of(&self, class: usize) -> Option<char> {
        if class == 0 {
            None
        } else {
            self.chars.get(class).copied()
        }
    }

    /// The (first) class of a character, if the charset has it.
    pub fn class_of(&self, ch: char) -> Option<usize> {
        self.first_class.get(&ch).copied()
    }

    /// The classes to consider for a set of characters. The blank is always allowed; a
    /// character listed on several lines allows all of its classes. Characters the charset lacks
    /// are listed in [`AllowedClasses::missing`] rather than silently dropped.
    pub fn mask_for(&self, chars: impl IntoIterator<Item = char>) -> AllowedClasses {
        let mut wanted: Vec<char> = chars.into_iter().collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut mask = vec![false; self.chars.len()];
        mask[0] = true;
        let mut missing = Vec::new();
        for &c in &wanted {
            if !self.first_class.contains_key(&c) {
                missing.push(c);
            }
        }
        let mut indices = Vec::with_capacity(wanted.len());
        let mut groups = Vec::with_capacity(wanted.len());
        for (class, c) in self.chars.iter().enumerate().skip(1) {
            if wanted.binary_search(c).is_ok() {
                mask[class] = true;
                indices.push(class);
                groups.push(self.first_class.get(c).copied().unwrap_or(class));
            }
        }
        if !missing.is_empty() {
            tracing::warn!(
                ?missing,
                "plate characters missing from the recogniser charset"
            );
        }
        AllowedClasses {
            mask,
            indices,
            groups,
            missing,
        }
    }

    /// Every class allowed: plain, unrestricted greedy decoding.
    pub fn mask_all(&self) -> AllowedClasses {
        let groups = self
            .chars
            .iter()
            .enumerate()
            .skip(1)
            .map(|(class, c)| self.first_class.get(c).copied().unwrap_or(class))
            .collect();
        AllowedClasses {
            mask: vec![true; self.chars.len()],
            indices: (1..self.chars.len()).collect(),
            groups,
            missing: Vec::new(),
        }
    }
}

/// The classes decoding may pick: blank plus a set of characters' classes, built with
/// [`Charset::mask_for`]. Holds the list of allowed non-blank classes so decoding scans only
/// those.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedClasses {
    mask: Vec<bool>,
    /// Allowed non-blank classes, ascending.
    indices: Vec<usize>,
    /// For each of `indices`, the first class of its character, so that a character listed on
    /// several lines is one candidate, not two competing ones.
    groups: Vec<usize>,
    missing: Vec<char>,
}

impl AllowedClasses {
    /// Whether decoding may pick `class`.
    pub fn allows(&self, class: usize) -> bool {
        self.mask.get(class).copied().unwrap_or(false)
    }

    /// The allowed non-blank classes, ascending.
    pub fn classes(&self) -> &[usize] {
        &self.indices
    }

    /// Requested characters that the charset does not have (and so can never be read).
    pub fn missing(&self) -> &[char] {
        &self.missing
    }

    /// Number of classes the mask covers (the charset's class count).
    pub fn class_count(&self) -> usize {
        self.mask.len()
    }
}

/// One decoded character.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CtcChar {
    /// The character.
    pub ch: char,
    /// The highest probability of this character over the steps that collapsed into it.
    pub confidence: f32,
    /// The best other allowed non-blank character at the step of `confidence`, with its
    /// probability; `None` when no other character is allowed.
    pub runner_up: Option<(char, f32)>,
}

/// A decoded text line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CtcRead {
    /// The text.
    pub text: String,
    /// Per-character detail, one entry per `char` of `text`.
    pub chars: Vec<CtcChar>,
    /// Mean of the characters' confidences; 0 for an empty read.
    pub confidence: f32,
}

/// CTC greedy decoding of one `steps × classes` row-major probability matrix: per step, the
/// argmax over the allowed classes (ties go to the lower class, so the blank wins a tie as in
/// `numpy.argmax`), then repeats are merged and blanks dropped. A character repeated with a blank
/// between the two runs is read twice, as CTC intends.
pub fn greedy_decode(
    probs: &[f32],
    steps: usize,
    classes: usize,
    charset: &Charset,
    allowed: &AllowedClasses,
) -> Result<CtcRead, CtcError> {
    if classes != charset.len() {
        return Err(CtcError::ClassCount {
            got: classes,
            expected: charset.len(),
        });
    }
    if allowed.class_count() != classes {
        return Err(CtcError::MaskSize {
            got: allowed.class_count(),
            expected: classes,
        });
    }
    let expected = steps.saturating_mul(classes);
    if probs.len() < expected {
        return Err(CtcError::ShortOutput {
            got: probs.len(),
            expected,
        });
    }
    let mut read = CtcRead::default();
    // Character (group) of the previous step's argmax; a blank resets it so that repeats split
    // by a blank are read twice.
    let mut prev = 0usize;
    let mut conf_sum = 0.0f32;
    for row in probs[..expected].chunks_exact(classes) {
        let blank = row[0];
        // Best and second best allowed non-blank characters, as (group, probability); a group is
        // a character's first class.
        let (mut best, mut best_p) = (0usize, f32::NEG_INFINITY);
        let (mut second, mut second_p) = (0usize, f32::NEG_INFINITY);
        for (&class, &group) in allowed.indices.iter().zip(&allowed.groups) {
            let p = row[class];
            if p > best_p {
                if group != best {
                    second = best;
                    second_p = best_p;
                }
                best = group;
                best_p = p;
            } else if p > second_p && group != best {
                second = group;
                second_p = p;
            }
        }
        // NaN never compares greater, so a NaN row reads as blank.
        if best == 0 || best_p.partial_cmp(&blank) != Some(std::cmp::Ordering::Greater) {
            prev = 0;
            continue;
        }
        let runner_up = (second != 0)
            .then(|| charset.char_of(second).map(|c| (c, second_p)))
            .flatten();
        if best == prev {
            if let Some(last) = read.chars.last_mut() {
                if best_p > last.confidence {
                    conf_sum += best_p - last.confidence;
                    last.confidence = best_p;
                    last.runner_up = runner_up;
                }
            }
            continue;
        }
        prev = best;
        let Some(ch) = charset.char_of(best) else {
            continue;
        };
        read.text.push(ch);
        read.chars.push(CtcChar {
            ch,
            confidence: best_p,
            runner_up,
        });
        conf_sum += best_p;
    }
    if !read.chars.is_empty() {
        read.confidence = conf_sum / read.chars.len() as f32;
    }
    Ok(read)
}

/// [`greedy_decode`] over a batch of recogniser outputs shaped `[N, T, classes]`, one read per
/// batch item. Works on any memory layout; a standard (C-order) view is decoded without copying.
pub fn decode_batch(
    output: ArrayView3<'_, f32>,
    charset: &Charset,
    allowed: &AllowedClasses,
) -> Result<Vec<CtcRead>, CtcError> {
    let (n, steps, classes) = output.dim();
    let mut reads = Vec::with_capacity(n);
    let mut scratch: Vec<f32> = Vec::new();
    for item in output.outer_iter() {
        let slice = match item.as_slice() {
            Some(slice) => slice,
            None => {
                scratch.clear();
                scratch.extend(item.iter().copied());
                &scratch
            }
        };
        reads.push(greedy_decode(slice, steps, classes, charset, allowed)?);
    }
    Ok(reads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A charset of "ABC01" (classes: 0 blank, A1 B2 C3 04 15, 6 space).
    fn small() -> Charset {
        Charset::from_metadata("A\nB\nC\n0\n1\n").expect("valid metadata")
    }

    /// One step's probabilities with `p` on `class` and the rest spread over the others.
    fn step(classes: usize, class: usize, p: f32) -> Vec<f32> {
        let rest = (1.0 - p) / (classes - 1) as f32;
        (0..classes)
            .map(|c| if c == class { p } else { rest })
            .collect()
    }

    #[test]
    fn charset_layout_and_errors() {
        let cs = small();
        assert_eq!(cs.len(), 7);
        assert_eq!(cs.char_of(0), None);
        assert_eq!(cs.char_of(1), Some('A'));
        assert_eq!(cs.char_of(6), Some(' '));
        assert_eq!(cs.char_of(7), None);
        assert_eq!(cs.class_of('0'), Some(4));
        assert_eq!(cs.class_of('Z'), None);
        let crlf = Charset::from_metadata("A\r\nB\r\n").expect("crlf metadata");
        assert_eq!(crlf.len(), 4);
        assert_eq!(
            Charset::from_metadata("").unwrap_err(),
            CtcError::EmptyCharset
        );
        assert_eq!(
            Charset::from_metadata("A\nBC\nD").unwrap_err(),
            CtcError::BadLine { line: 2, chars: 2 }
        );
        assert_eq!(
            Charset::from_metadata("A\n\nD").unwrap_err(),
            CtcError::BadLine { line: 2, chars: 0 }
        );
    }

    #[test]
    fn mask_reports_missing_chars() {
        let cs = small();
        let m = cs.mask_for("AB0Z".chars());
        assert_eq!(m.classes(), &[1, 2, 4]);
        assert_eq!(m.missing(), &['Z']);
        assert!(m.allows(0));
        assert!(!m.allows(3));
        assert!(!m.allows(99));
    }

    #[test]
    fn duplicate_lines_allow_every_class_of_the_char() {
        let cs = Charset::from_metadata("A\nB\nA").expect("valid");
        assert_eq!(cs.class_of('A'), Some(1));
        assert_eq!(cs.mask_for(['A']).classes(), &[1, 3]);
        // Both 'A' classes lead: one character, with 'B' as the runner-up, and a run that
        // switches between the two 'A' classes is still one 'A'.
        let probs = [0.0, 0.4, 0.2, 0.35, 0.0, 0.0, 0.45, 0.15, 0.4, 0.0];
        let read = greedy_decode(&probs, 2, 5, &cs, &cs.mask_all()).expect("ok");
        assert_eq!(read.text, "A");
        assert_eq!(read.chars[0].runner_up, Some(('B', 0.15)));
        assert_eq!(read.chars[0].confidence, 0.45);
    }

    #[test]
    fn decodes_repeats_blanks_and_runner_ups() {
        let cs = small();
        let n = cs.len();
        // A A _ A B B C: "AAB" + "C" → "AABC".
        let mut probs = Vec::new();
        probs.extend(step(n, 1, 0.6));
        probs.extend(step(n, 1, 0.9));
        probs.extend(step(n, 0, 0.9));
        probs.extend(step(n, 1, 0.7));
        probs.extend(step(n, 2, 0.8));
        probs.extend(step(n, 2, 0.5));
        let mut c_step = step(n, 3, 0.5);
        c_step[4] = 0.3; // '0' is the runner-up for 'C'
        probs.extend(c_step);
        let all = cs.mask_all();
        let read = greedy_decode(&probs, 7, n, &cs, &all).expect("decodes");
        assert_eq!(read.text, "AABC");
        assert_eq!(read.chars[0].confidence, 0.9);
        assert_eq!(read.chars[3].runner_up, Some(('0', 0.3)));
        let mean = (0.9 + 0.7 + 0.8 + 0.5) / 4.0;
        assert!((read.confidence - mean).abs() < 1e-6);
    }

    #[test]
    fn restriction_picks_best_allowed_without_renormalising() {
        let cs = small();
        let n = cs.len();
        // 'C' wins overall, but only A, B, 0 and 1 are allowed: '0' (0.3) beats blank (0.1).
        let probs = vec![0.1, 0.05, 0.05, 0.45, 0.3, 0.05, 0.0];
        let read = greedy_decode(&probs, 1, n, &cs, &cs.mask_for("AB01".chars())).expect("ok");
        assert_eq!(read.text, "0");
        assert_eq!(read.chars[0].confidence, 0.3);
        assert_eq!(read.chars[0].runner_up, Some(('A', 0.05)));
        // When the blank beats every allowed class the step is a blank.
        let probs = vec![0.4, 0.05, 0.05, 0.45, 0.03, 0.02, 0.0];
        let read = greedy_decode(&probs, 1, n, &cs, &cs.mask_for("AB01".chars())).expect("ok");
        assert_eq!(read.text, "");
        assert_eq!(read.confidence, 0.0);
    }

    #[test]
    fn shape_errors_are_reported() {
        let cs = small();
        let all = cs.mask_all();
        assert!(matches!(
            greedy_decode(&[0.0; 10], 2, 5, &cs, &all),
            Err(CtcError::ClassCount {
                got: 5,
                expected: 7
            })
        ));
        assert!(matches!(
            greedy_decode(&[0.0; 10], 2, 7, &cs, &all),
            Err(CtcError::ShortOutput {
                got: 10,
                expected: 14
            })
        ));
        let other = Charset::from_metadata("A").expect("valid").mask_all();
        assert!(matches!(
            greedy_decode(&[0.0; 14], 2, 7, &cs, &other),
            Err(CtcError::MaskSize { .. })
        ));
        let nan = vec![f32::NAN; 7];
        assert_eq!(greedy_decode(&nan, 1, 7, &cs, &all).expect("ok").text, "");
    }

    #[test]
    fn batch_decodes_each_item_in_any_layout() {
        let cs = small();
        let n = cs.len();
        let mut data = Vec::new();
        data.extend(step(n, 1, 0.9));
        data.extend(step(n, 4, 0.9));
        data.extend(step(n, 2, 0.9));
        data.extend(step(n, 0, 0.9));
        let arr = ndarray::Array3::from_shape_vec((2, 2, n), data).expect("shape");
        let all = cs.mask_all();
        let reads = decode_batch(arr.view(), &cs, &all).expect("ok");
        assert_eq!(reads[0].text, "A0");
        assert_eq!(reads[1].text, "B");
        // Reversed time axis: not contiguous, still decoded.
        let rev = arr.slice(ndarray::s![.., ..;-1, ..]);
        let reads = decode_batch(rev, &cs, &all).expect("ok");
        assert_eq!(reads[0].text, "0A");
    }

    /// The textbook decoder: full argmax then collapse, for comparison.
    fn reference(probs: &[f32], steps: usize, classes: usize, cs: &Charset) -> String {
        let mut out = String::new();
        let mut prev = 0;
        for t in 0..steps {
            let row = &probs[t * classes..(t + 1) * classes];
            let mut best = 0;
            for c in 1..classes {
                if row[c] > row[best] {
                    best = c;
                }
            }
            if best != 0 && best != prev {
                out.extend(cs.char_of(best));
            }
            prev = best;
        }
        out
    }

    proptest! {
        #[test]
        fn unrestricted_matches_reference(raw in proptest::collection::vec(0f32..1.0, 7 * 12), steps in 0usize..12) {
            let cs = small();
            let read = greedy_decode(&raw, steps, 7, &cs, &cs.mask_all()).expect("ok");
            prop_assert_eq!(&read.text, &reference(&raw, steps, 7, &cs));
            prop_assert_eq!(read.chars.len(), read.text.chars().count());
            prop_assert!(read.confidence >= 0.0 && read.confidence <= 1.0);
        }

        #[test]
        fn restricted_reads_only_allowed_chars(raw in proptest::collection::vec(0f32..1.0, 7 * 12), pick in proptest::collection::vec(proptest::sample::select(vec!['A', 'B', 'C', '0', '1']), 0..4)) {
            let cs = small();
            let mask = cs.mask_for(pick.iter().copied());
            let read = greedy_decode(&raw, 12, 7, &cs, &mask).expect("ok");
            prop_assert!(read.text.chars().all(|c| pick.contains(&c)));
            for c in &read.chars {
                if let Some((r, p)) = c.runner_up {
                    prop_assert!(r != c.ch && pick.contains(&r) && p <= c.confidence);
                }
            }
        }
    }
}
