//! Per-region licence plate formats, as data, used to choose between candidate reads.
//!
//! OCR alone cannot tell `0` from `O` on a worn plate, but a region's formats often can: a
//! Brazilian Mercosur plate is `LLLNLNN`, so a read `ABC1D23` fits and `ABC1023` does not. The
//! formats live in `formats.toml` (compiled in, see [`PlateFormats::builtin`]) so that adding a
//! region is a data change; the file documents the pattern syntax. Loading is two-stage: the TOML
//! is deserialised into raw structs (unknown fields rejected), then each pattern is compiled into
//! tokens over character sets and checked, with errors that name the region and the pattern.
//!
//! Texts are expected normalised (see [`crate::text::normalise_plate`]). Matching a text against
//! a pattern allocates nothing: the text is held in a fixed-size buffer and the reachable
//! positions after each token in a bit mask.

use std::sync::OnceLock;

use serde::Deserialize;
use thiserror::Error;

use crate::text::CONFUSABLE_PAIRS;

/// Longest text any pattern may describe (and any text that can fit one).
pub const MAX_PLATE_LEN: usize = 16;

/// The built-in formats file.
const BUILTIN_TOML: &str = include_str!("../formats.toml");

/// Errors from loading a formats file.
#[derive(Debug, Error)]
pub enum FormatError {
    /// The file is not valid TOML or does not have the expected shape.
    #[error("formats file: {0}")]
    Toml(#[from] toml::de::Error),
    /// A region-level problem (duplicate id, no patterns, a bad character list).
    #[error("formats file, region {region:?}: {reason}")]
    Region {
        /// The region's id.
        region: String,
        /// What is wrong.
        reason: String,
    },
    /// A pattern that does not parse or is out of range.
    #[error("formats file, region {region:?}, pattern {pattern:?}: {reason}")]
    Pattern {
        /// The region's id.
        region: String,
        /// The pattern as written.
        pattern: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    region: Vec<RawRegion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    id: String,
    name: String,
    /// Default: A–Z.
    #[serde(default)]
    letters: Option<String>,
    /// Default: 0–9.
    #[serde(default)]
    digits: Option<String>,
    /// Default: none.
    #[serde(default)]
    prefixes: Option<String>,
    patterns: Vec<RawPattern>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    pattern: String,
    weight: f32,
    /// Default: empty.
    #[serde(default)]
    note: String,
}

/// A set of characters with an O(1) test for ASCII and a binary search for the rest.
#[derive(Debug, Clone, Default, PartialEq)]
struct CharSet {
    ascii: u128,
    other: Box<[char]>,
}

impl CharSet {
    fn from_chars(chars: impl IntoIterator<Item = char>) -> CharSet {
        let mut ascii = 0u128;
        let mut other = Vec::new();
        for c in chars {
            if c.is_ascii() {
                ascii |= 1u128 << (c as u32);
            } else {
                other.push(c);
            }
        }
        other.sort_unstable();
        other.dedup();
        CharSet {
            ascii,
            other: other.into_boxed_slice(),
        }
    }

    fn union(&self, other: &CharSet) -> CharSet {
        CharSet::from_chars(self.iter().chain(other.iter()))
    }

    fn contains(&self, c: char) -> bool {
        if c.is_ascii() {
            self.ascii & (1u128 << (c as u32)) != 0
        } else {
            self.other.binary_search(&c).is_ok()
        }
    }

    fn is_empty(&self) -> bool {
        self.ascii == 0 && self.other.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = char> + '_ {
        (0u8..128)
            .filter(|&b| self.ascii & (1u128 << b) != 0)
            .map(char::from)
            .chain(self.other.iter().copied())
    }
}

/// One pattern element: `min..=max` characters from `set`.
#[derive(Debug, Clone, PartialEq)]
struct Token {
    set: CharSet,
    min: u8,
    max: u8,
}

/// A compiled plate pattern of a region.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    source: String,
    weight: f32,
    note: String,
    tokens: Vec<Token>,
    min_len: usize,
    max_len: usize,
}

/// A text held as chars in a fixed buffer, so matching never allocates.
struct Chars {
    buf: [char; MAX_PLATE_LEN],
    len: usize,
}

impl Chars {
    /// `None` for texts longer than [`MAX_PLATE_LEN`], which fit no pattern.
    fn new(text: &str) -> Option<Chars> {
        let mut buf = ['\0'; MAX_PLATE_LEN];
        let mut len = 0;
        for c in text.chars() {
            if len == MAX_PLATE_LEN {
                return None;
            }
            buf[len] = c;
            len += 1;
        }
        Some(Chars { buf, len })
    }

    fn as_slice(&self) -> &[char] {
        &self.buf[..self.len]
    }
}

/// How a text was made to fit a pattern by [`PlateFormats::coerce_detailed`].
#[derive(Debug, Clone, PartialEq)]
pub struct Coercion {
    /// The fitting text.
    pub text: String,
    /// How many characters were replaced by their confusable partner.
    pub changes: usize,
    /// Index of the pattern in [`Region::patterns`].
    pub pattern: usize,
    /// That pattern's weight.
    pub weight: f32,
}

/// The confusable partner of `c` that `set` holds, if any (first in [`CONFUSABLE_PAIRS`] order,
/// so `0` in a letter position becomes `O` before `D`).
fn partner_in(c: char, set: &CharSet) -> Option<char> {
    CONFUSABLE_PAIRS.iter().find_map(|&(a, b)| {
        let p = if c == a {
            b
        } else if c == b {
            a
        } else {
            return None;
        };
        set.contains(p).then_some(p)
    })
}

impl Pattern {
    /// The pattern as written in the formats file.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Its weight in `(0, 1]`.
    pub fn weight(&self) -> f32 {
        self.weight
    }

    /// Free-text note (which countries or series use it).
    pub fn note(&self) -> &str {
        &self.note
    }

    /// Shortest text it describes.
    pub fn min_len(&self) -> usize {
        self.min_len
    }

    /// Longest text it describes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// A text that fits this pattern, drawn with `random` (any source of uniform `u64`s): each
    /// element's length uniform in its range, each character uniform in its set. For realistic
    /// registries in evaluations (decoy passes).
    pub fn sample(&self, random: &mut impl FnMut() -> u64) -> String {
        let mut out = String::with_capacity(self.max_len);
        for t in &self.tokens {
            let span = u64::from(t.max - t.min) + 1;
            let n = t.min as u64 + random() % span;
            let set: Vec<char> = t.set.iter().collect();
            if set.is_empty() {
                continue;
            }
            for _ in 0..n {
                out.push(set[(random() % set.len() as u64) as usize]);
            }
        }
        out
    }

    /// Whether a normalised text fits this pattern exactly.
    pub fn matches(&self, text: &str) -> bool {
        Chars::new(text).is_some_and(|c| self.matches_chars(c.as_slice()))
    }

    fn matches_chars(&self, chars: &[char]) -> bool {
        let n = chars.len();
        if n < self.min_len || n > self.max_len {
            return false;
        }
        // Bit p set: some way of matching the tokens so far consumes exactly p characters.
        let mut reach: u32 = 1;
        for tok in &self.tokens {
            let mut next = 0u32;
            let mut rest = reach;
            while rest != 0 {
                let p = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                let mut c = 0usize;
                loop {
                    if c >= tok.min as usize {
                        next |= 1 << (p + c);
                    }
                    if c == tok.max as usize || p + c == n || !tok.set.contains(chars[p + c]) {
                        break;
                    }
                    c += 1;
                }
            }
            reach = next;
            if reach == 0 {
                return false;
            }
        }
        reach & (1 << n) != 0
    }

    /// The fewest confusable substitutions that make `chars` fit, with the resulting text.
    fn coerce_chars(&self, chars: &[char]) -> Option<(usize, String)> {
        const INF: u8 = u8::MAX;
        let n = chars.len();
        if n < self.min_len || n > self.max_len {
            return None;
        }
        // cost[t][p]: fewest changes to match the first t tokens to the first p characters;
        // from[t][p]: where token t-1's match started.
        let mut cost = vec![[INF; MAX_PLATE_LEN + 1]; self.tokens.len() + 1];
        let mut from = vec![[0u8; MAX_PLATE_LEN + 1]; self.tokens.len() + 1];
        cost[0][0] = 0;
        for (t, tok) in self.tokens.iter().enumerate() {
            for p in 0..=n {
                let base = cost[t][p];
                if base == INF {
                    continue;
                }
                let mut acc = base;
                let mut c = 0usize;
                loop {
                    if c >= tok.min as usize && acc < cost[t + 1][p + c] {
                        cost[t + 1][p + c] = acc;
                        from[t + 1][p + c] = p as u8;
                    }
                    if c == tok.max as usize || p + c == n {
                        break;
                    }
                    let ch = chars[p + c];
                    if !tok.set.contains(ch) {
                        if partner_in(ch, &tok.set).is_none() {
                            break;
                        }
                        acc = acc.saturating_add(1);
                    }
                    c += 1;
                }
            }
        }
        let total = cost[self.tokens.len()][n];
        if total == INF {
            return None;
        }
        let mut out: [char; MAX_PLATE_LEN] = ['\0'; MAX_PLATE_LEN];
        out[..n].copy_from_slice(chars);
        let mut end = n;
        for t in (1..=self.tokens.len()).rev() {
            let start = from[t][end] as usize;
            let set = &self.tokens[t - 1].set;
            for ch in &mut out[start..end] {
                if !set.contains(*ch) {
                    if let Some(p) = partner_in(*ch, set) {
                        *ch = p;
                    }
                }
            }
            end = start;
        }
        Some((total as usize, out[..n].iter().collect()))
    }
}

/// One region's alphabet and patterns.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    id: String,
    name: String,
    alphabet: Vec<char>,
    patterns: Vec<Pattern>,
}

impl Region {
    /// Short id ("us", "eu", ...).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Human name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every character a plate of this region can hold, sorted: letters, digits, prefixes and the
    /// characters named in patterns. This is what CTC decoding should be restricted to.
    pub fn alphabet(&self) -> &[char] {
        &self.alphabet
    }

    /// The patterns, in file order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// A plate of this region drawn with `random`: a pattern of weight at least 0.5 (the
    /// common series, not the catch-all vanity patterns) chosen in proportion to its weight, then
    /// [`Pattern::sample`]. `None` for a region without such a pattern.
    pub fn sample(&self, random: &mut impl FnMut() -> u64) -> Option<String> {
        let common: Vec<&Pattern> = self.patterns.iter().filter(|p| p.weight >= 0.5).collect();
        let total: f64 = common.iter().map(|p| f64::from(p.weight)).sum();
        if common.is_empty() || total <= 0.0 {
            return None;
        }
        let mut at = (random() >> 11) as f64 / (1u64 << 53) as f64 * total;
        for p in &common {
            at -= f64::from(p.weight);
            if at < 0.0 {
                return Some(p.sample(random));
            }
        }
        common.last().map(|p| p.sample(random))
    }

    /// Weight of the best pattern the text fits; 0 if none.
    pub fn score(&self, text: &str) -> f32 {
        Chars::new(text).map_or(0.0, |chars| self.score_chars(chars.as_slice()))
    }

    fn score_chars(&self, chars: &[char]) -> f32 {
        self.patterns
            .iter()
            .filter(|p| p.matches_chars(chars))
            .map(|p| p.weight)
            .fold(0.0, f32::max)
    }

    fn coerce_detailed(&self, text: &str) -> Option<Coercion> {
        let chars = Chars::new(text)?;
        let mut best: Option<Coercion> = None;
        for (i, p) in self.patterns.iter().enumerate() {
            let better = |b: &Coercion, changes: usize| {
                changes < b.changes || (changes == b.changes && p.weight > b.weight)
            };
            // Skip the DP for patterns that could not beat the best so far.
            if let Some(b) = &best {
                if b.changes == 0 && p.weight <= b.weight {
                    continue;
                }
            }
            if let Some((changes, fitted)) = p.coerce_chars(chars.as_slice()) {
                if best.as_ref().is_none_or(|b| better(b, changes)) {
                    best = Some(Coercion {
                        text: fitted,
                        changes,
                        pattern: i,
                        weight: p.weight,
                    });
                }
            }
        }
        best
    }
}

/// A set of regions' plate formats.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlateFormats {
    regions: Vec<Region>,
}

fn region_error(region: &str, reason: impl Into<String>) -> FormatError {
    FormatError::Region {
        region: region.to_owned(),
        reason: reason.into(),
    }
}

fn compile_pattern(
    region: &str,
    raw: &RawPattern,
    letters: &CharSet,
    digits: &CharSet,
    prefixes: &CharSet,
) -> Result<Pattern, FormatError> {
    let err = |reason: String| FormatError::Pattern {
        region: region.to_owned(),
        pattern: raw.pattern.clone(),
        reason,
    };
    if !(raw.weight > 0.0 && raw.weight <= 1.0) {
        return Err(err(format!("weight {} is outside (0, 1]", raw.weight)));
    }
    let mut tokens: Vec<Token> = Vec::new();
    let mut it = raw.pattern.chars().peekable();
    while let Some(c) = it.next() {
        let set = match c {
            c if c.is_whitespace() => continue,
            'L' => letters.clone(),
            'N' => digits.clone(),
            'A' => letters.union(digits),
            'P' => {
                if prefixes.is_empty() {
                    return Err(err("`P` used but the region lists no prefixes".into()));
                }
                prefixes.clone()
            }
            '[' => {
                let mut listed = Vec::new();
                loop {
                    match it.next() {
                        Some(']') => break,
                        Some(c) if c.is_whitespace() => {
                            return Err(err("whitespace inside `[...]`".into()))
                        }
                        Some(c) => listed.push(c),
                        None => return Err(err("unclosed `[`".into())),
                    }
                }
                if listed.is_empty() {
                    return Err(err("empty `[]`".into()));
                }
                CharSet::from_chars(listed)
            }
            '{' => return Err(err("`{` must follow L, N, A, P or `[...]`".into())),
            other => return Err(err(format!("unexpected character {other:?}"))),
        };
        let (mut min, mut max) = (1u32, 1u32);
        if it.peek() == Some(&'{') {
            it.next();
            let mut body = String::new();
            loop {
                match it.next() {
                    Some('}') => break,
                    Some(c) => body.push(c),
                    None => return Err(err("unclosed `{`".into())),
                }
            }
            let parse = |s: &str| {
                s.trim()
                    .parse::<u32>()
                    .map_err(|_| err(format!("bad repetition {{{body}}}")))
            };
            match body.split_once(',') {
                Some((a, b)) => {
                    min = parse(a)?;
                    max = parse(b)?;
                }
                None => {
                    min = parse(&body)?;
                    max = min;
                }
            }
            if max == 0 || min > max {
                return Err(err(format!("bad repetition {{{body}}}")));
            }
        }
        if max as usize > MAX_PLATE_LEN {
            return Err(err(format!("repetition above {MAX_PLATE_LEN}")));
        }
        tokens.push(Token {
            set,
            min: min as u8,
            max: max as u8,
        });
    }
    let min_len: usize = tokens.iter().map(|t| t.min as usize).sum();
    let max_len: usize = tokens.iter().map(|t| t.max as usize).sum();
    if tokens.is_empty() || min_len == 0 {
        return Err(err("pattern matches the empty text".into()));
    }
    if max_len > MAX_PLATE_LEN {
        return Err(err(format!(
            "pattern can be {max_len} characters long, above {MAX_PLATE_LEN}"
        )));
    }
    Ok(Pattern {
        source: raw.pattern.clone(),
        weight: raw.weight,
        note: raw.note.clone(),
        tokens,
        min_len,
        max_len,
    })
}

fn char_list(region: &str, field: &str, value: &str) -> Result<CharSet, FormatError> {
    if value.chars().any(char::is_whitespace) {
        return Err(region_error(region, format!("`{field}` holds whitespace")));
    }
    Ok(CharSet::from_chars(value.chars()))
}

impl PlateFormats {
    /// The formats compiled into the crate from `formats.toml`, parsed on first use. The file is
    /// checked by this crate's tests; should it ever fail to parse anyway, the error is logged
    /// and an empty set is returned (every score 0), so a bad build degrades plate ranking
    /// rather than crashing a camera loop.
    pub fn builtin() -> &'static PlateFormats {
        static BUILTIN: OnceLock<PlateFormats> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            PlateFormats::from_toml(BUILTIN_TOML).unwrap_or_else(|e| {
                tracing::error!(error = %e, "built-in plate formats do not parse; formats disabled");
                PlateFormats::default()
            })
        })
    }

    /// Parses and checks a formats file (see `formats.toml` for the shape and pattern syntax).
    pub fn from_toml(source: &str) -> Result<PlateFormats, FormatError> {
        let raw: RawFile = toml::from_str(source)?;
        let mut regions: Vec<Region> = Vec::with_capacity(raw.region.len());
        for r in &raw.region {
            if r.id.is_empty() || r.id.chars().any(char::is_whitespace) {
                return Err(region_error(
                    &r.id,
                    "id must be non-empty without whitespace",
                ));
            }
            if regions.iter().any(|x| x.id == r.id) {
                return Err(region_error(&r.id, "duplicate id"));
            }
            if r.patterns.is_empty() {
                return Err(region_error(&r.id, "no patterns"));
            }
            let letters = char_list(
                &r.id,
                "letters",
                r.letters.as_deref().unwrap_or("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            )?;
            let digits = char_list(&r.id, "digits", r.digits.as_deref().unwrap_or("0123456789"))?;
            let prefixes = char_list(&r.id, "prefixes", r.prefixes.as_deref().unwrap_or(""))?;
            if letters.is_empty() || digits.is_empty() {
                return Err(region_error(
                    &r.id,
                    "`letters` and `digits` must not be empty",
                ));
            }
            let patterns = r
                .patterns
                .iter()
                .map(|p| compile_pattern(&r.id, p, &letters, &digits, &prefixes))
                .collect::<Result<Vec<_>, _>>()?;
            let mut alphabet: Vec<char> = letters
                .iter()
                .chain(digits.iter())
                .chain(prefixes.iter())
                .chain(
                    patterns
                        .iter()
                        .flat_map(|p| p.tokens.iter().flat_map(|t| t.set.iter())),
                )
                .collect();
            alphabet.sort_unstable();
            alphabet.dedup();
            regions.push(Region {
                id: r.id.clone(),
                name: r.name.clone(),
                alphabet,
                patterns,
            });
        }
        Ok(PlateFormats { regions })
    }

    /// All regions, in file order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The region with this id.
    pub fn region(&self, id: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.id == id)
    }

    /// How well a normalised text fits a region: the weight of the best pattern it fits, in
    /// `[0, 1]`; 0 when it fits none or the region is unknown.
    pub fn score(&self, region: &str, text: &str) -> f32 {
        self.region(region).map_or(0.0, |r| r.score(text))
    }

    /// The best-fitting of `regions` for a text, with its score; `None` when it fits none (or
    /// none of the ids is known). Ties go to the region listed first.
    pub fn best_region<'a>(&'a self, text: &str, regions: &[&str]) -> Option<(&'a str, f32)> {
        let chars = Chars::new(text)?;
        let mut best: Option<(&'a str, f32)> = None;
        for id in regions {
            let Some(region) = self.region(id) else {
                continue;
            };
            let s = region.score_chars(chars.as_slice());
            if s > 0.0 && best.is_none_or(|(_, b)| s > b) {
                best = Some((region.id.as_str(), s));
            }
        }
        best
    }

    /// The text changed only by confusable substitutions (a letter where the pattern wants a
    /// digit and vice versa, see [`CONFUSABLE_PAIRS`]) so that it fits one of the region's
    /// patterns: the fewest changes first, then the highest weight, then file order. A text that
    /// already fits comes back unchanged. `None` if no pattern can be reached this way.
    pub fn coerce(&self, region: &str, text: &str) -> Option<String> {
        self.coerce_detailed(region, text).map(|c| c.text)
    }

    /// [`PlateFormats::coerce`] with the number of changes and the pattern chosen.
    pub fn coerce_detailed(&self, region: &str, text: &str) -> Option<Coercion> {
        self.region(region)?.coerce_detailed(text)
    }

    /// The sorted union of the alphabets of `regions` (unknown ids are skipped): the characters
    /// to restrict CTC decoding to when a camera may see plates of several regions.
    pub fn alphabet_union(&self, regions: &[&str]) -> Vec<char> {
        let mut all: Vec<char> = regions
            .iter()
            .filter_map(|id| self.region(id))
            .flat_map(|r| r.alphabet.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn builtin() -> PlateFormats {
        PlateFormats::from_toml(BUILTIN_TOML).expect("formats.toml parses")
    }

    #[test]
    fn builtin_file_parses_and_has_the_main_regions() {
        let f = builtin();
        for id in ["us", "eu", "br", "ar", "cn", "gb", "in", "ru"] {
            assert!(f.region(id).is_some(), "missing region {id}");
        }
        assert_eq!(PlateFormats::builtin(), &f);
        let cn = f.region("cn").expect("cn");
        assert!(!cn.alphabet().contains(&'I') && !cn.alphabet().contains(&'O'));
        for p in
            "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼警学挂港澳领".chars()
        {
            assert!(cn.alphabet().contains(&p), "cn alphabet lacks {p}");
        }
        assert_eq!(f.region("us").expect("us").alphabet().len(), 36);
    }

    #[test]
    fn scores_national_formats() {
        let f = builtin();
        assert_eq!(f.score("br", "ABC1D23"), 1.0);
        assert_eq!(f.score("br", "ABC1234"), 1.0);
        assert_eq!(f.score("br", "ABC123"), 0.0);
        assert_eq!(f.score("ar", "AB123CD"), 1.0);
        assert_eq!(f.score("ar", "ABC123"), 1.0);
        assert_eq!(f.score("cn", "皖A12345"), 1.0);
        assert_eq!(f.score("cn", "皖AD12345"), 0.9);
        assert_eq!(f.score("cn", "粤B12345D"), 0.9);
        assert_eq!(f.score("cn", "皖AO1234"), 0.0, "CN never issues O");
        assert_eq!(f.score("cn", "A123456"), 0.0);
        assert_eq!(f.score("us", "5LTA600"), 1.0);
        assert_eq!(f.score("us", "PRIVACY"), 0.2);
        assert_eq!(f.score("us", "A"), 0.0);
        assert_eq!(f.score("eu", "RK755AJ"), 1.0);
        assert_eq!(f.score("eu", "1B80338"), 1.0);
        assert_eq!(f.score("nowhere", "ABC123"), 0.0);
        assert_eq!(f.score("us", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 0.0);
    }

    #[test]
    fn best_region_prefers_higher_score_then_order() {
        let f = builtin();
        assert_eq!(f.best_region("ABC1D23", &["us", "br"]), Some(("br", 1.0)));
        assert_eq!(f.best_region("ABC123", &["us", "ar"]), Some(("us", 1.0)));
        assert_eq!(f.best_region("ABC123", &["ar", "us"]), Some(("ar", 1.0)));
        assert_eq!(
            f.best_region("皖A12345", &["us", "xx", "cn"]),
            Some(("cn", 1.0))
        );
        assert_eq!(f.best_region("!!", &["us"]), None);
        assert_eq!(f.best_region("ABC123", &[]), None);
    }

    #[test]
    fn coerce_fixes_confusables_only() {
        let f = builtin();
        // Already fits the national format: unchanged.
        assert_eq!(f.coerce("br", "ABC1023").as_deref(), Some("ABC1023"));
        // Fits nothing as read; Mercosur wants a letter in position 5: 0 → O.
        assert_eq!(f.coerce("br", "ABC10234"), None);
        assert_eq!(f.coerce("br", "AB01023").as_deref(), Some("ABO1023"));
        assert_eq!(f.coerce("br", "A8C1234").as_deref(), Some("ABC1234"));
        assert_eq!(f.coerce("br", "ABC12S4").as_deref(), Some("ABC1254"));
        let c = f.coerce_detailed("ar", "AB1Z3CD").expect("fits");
        assert_eq!(c.text, "AB123CD");
        assert_eq!(c.changes, 1);
        // CN has no O: a 0 in the letter position becomes D.
        assert_eq!(f.coerce("cn", "皖012345").as_deref(), Some("皖D12345"));
        // No confusable partner fits.
        assert_eq!(f.coerce("br", "ABCX234"), None);
        assert_eq!(f.coerce("br", "AB"), None);
        assert_eq!(f.coerce("zz", "AB"), None);
    }

    #[test]
    fn coerce_prefers_fewest_changes_then_weight() {
        let f = PlateFormats::from_toml(
            r#"
            [[region]]
            id = "t"
            name = "test"
            patterns = [
              { pattern = "LLLNNN", weight = 0.5 },
              { pattern = "LLNNNN", weight = 1.0 },
              { pattern = "NLLNNN", weight = 0.9 },
            ]
            "#,
        )
        .expect("valid");
        // "0BC123": NLLNNN fits unchanged; LLLNNN needs one change.
        assert_eq!(f.coerce("t", "0BC123").as_deref(), Some("0BC123"));
        // "AB5123": LLLNNN needs 5 → S, LLNNNN fits as is.
        assert_eq!(f.coerce("t", "AB5123").as_deref(), Some("AB5123"));
        // "O8C123": LLLNNN needs 8 → B (1 change), NLLNNN needs O → 0, 8 → B (2).
        let c = f.coerce_detailed("t", "O8C123").expect("fits");
        assert_eq!((c.text.as_str(), c.changes, c.pattern), ("OBC123", 1, 0));
    }

    #[test]
    fn errors_name_region_and_pattern() {
        let bad = |patterns: &str| {
            let src = format!("[[region]]\nid = \"xx\"\nname = \"x\"\npatterns = [{patterns}]\n");
            PlateFormats::from_toml(&src)
                .expect_err("should fail")
                .to_string()
        };
        let e = bad(r#"{ pattern = "LLQ", weight = 1.0 }"#);
        assert!(
            e.contains("\"xx\"") && e.contains("\"LLQ\"") && e.contains("'Q'"),
            "{e}"
        );
        assert!(bad(r#"{ pattern = "L{3", weight = 1.0 }"#).contains("unclosed"));
        assert!(bad(r#"{ pattern = "L{3,1}", weight = 1.0 }"#).contains("repetition"));
        assert!(bad(r#"{ pattern = "L{x}", weight = 1.0 }"#).contains("repetition"));
        assert!(bad(r#"{ pattern = "{2}", weight = 1.0 }"#).contains("must follow"));
        assert!(bad(r#"{ pattern = "[AB", weight = 1.0 }"#).contains("unclosed"));
        assert!(bad(r#"{ pattern = "P", weight = 1.0 }"#).contains("prefixes"));
        assert!(bad(r#"{ pattern = "L", weight = 1.5 }"#).contains("weight"));
        assert!(bad(r#"{ pattern = "A{17}", weight = 1.0 }"#).contains("above"));
        assert!(bad(r#"{ pattern = "  ", weight = 1.0 }"#).contains("empty"));
        assert!(bad("").contains("no patterns"));
        assert!(bad(r#"{ pattern = "L", weight = 1.0, colour = "red" }"#).contains("colour"));
        let dup = "[[region]]\nid = \"a\"\nname = \"a\"\npatterns = [{ pattern = \"L\", weight = 1.0 }]\n";
        let e = PlateFormats::from_toml(&format!("{dup}{dup}")).expect_err("duplicate");
        assert!(e.to_string().contains("duplicate"));
    }

    #[test]
    fn optional_tokens_and_literal_sets() {
        let f = builtin();
        let gb = f.region("gb").expect("gb");
        assert!(gb.patterns()[1].matches("A1ABC"));
        assert!(gb.patterns()[1].matches("A123ABC"));
        assert!(!gb.patterns()[1].matches("A1234ABC"));
        assert_eq!(f.score("in", "22BH1234AB"), 0.9);
        assert_eq!(f.score("cn", "粤Z1234港"), 0.6);
    }

    #[test]
    fn samples_fit_their_region() {
        let f = builtin();
        let mut state = 7u64;
        let mut random = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        for region in f.regions() {
            for _ in 0..200 {
                let Some(plate) = region.sample(&mut random) else {
                    continue;
                };
                assert!(region.score(&plate) >= 0.5, "{} {plate}", region.id());
            }
        }
    }

    #[test]
    fn alphabet_union_merges_and_sorts() {
        let f = builtin();
        let u = f.alphabet_union(&["cn", "us", "nope"]);
        assert!(u.windows(2).all(|w| w[0] < w[1]));
        assert!(u.contains(&'O') && u.contains(&'京') && u.contains(&'9'));
        assert!(f.alphabet_union(&[]).is_empty());
    }

    /// The fixtures' labelled plates mostly fit their region; this guards the data file
    /// against regressions (a typo in a common pattern would drop many at once).
    #[test]
    fn fixture_plates_fit_their_regions() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/plates");
        let f = builtin();
        for (file, col) in [("crops/labels.csv", 2), ("photos/labels.csv", 6)] {
            let path = root.join(file);
            let Ok(mut rdr) = csv::Reader::from_path(&path) else {
                eprintln!("skipping: {} not present", path.display());
                continue;
            };
            let (mut total, mut fit, mut specific) = (0, 0, 0);
            for rec in rdr.records() {
                let rec = rec.expect("csv record");
                let (region, plate) = (&rec[1], crate::text::normalise_plate(&rec[col]));
                total += 1;
                let s = f.score(region, &plate);
                if s > 0.0 {
                    fit += 1;
                }
                if s >= 0.4 {
                    specific += 1;
                }
            }
            eprintln!("{file}: {fit}/{total} fit, {specific} with a specific pattern");
            assert!(fit as f32 >= 0.95 * total as f32, "{file}: {fit}/{total}");
            assert!(
                specific as f32 >= 0.85 * total as f32,
                "{file}: {specific}/{total}"
            );
        }
    }

    proptest! {
        #[test]
        fn coerce_result_fits_and_only_swaps_confusables(text in "[A-Z0-9]{1,9}", region in proptest::sample::select(vec!["us", "eu", "br", "ar", "gb", "ru", "in"])) {
            let f = PlateFormats::builtin();
            if let Some(c) = f.coerce_detailed(region, &text) {
                prop_assert!(f.score(region, &c.text) > 0.0);
                prop_assert_eq!(c.text.chars().count(), text.chars().count());
                let mut diffs = 0;
                for (a, b) in text.chars().zip(c.text.chars()) {
                    if a != b {
                        diffs += 1;
                        prop_assert!(crate::text::is_confusable(a, b));
                    }
                }
                prop_assert_eq!(diffs, c.changes);
            } else {
                prop_assert_eq!(f.score(region, &text), 0.0);
            }
        }

        #[test]
        fn matching_agrees_with_a_regex_like_expansion(text in "[A-C0-2]{0,6}") {
            // "L{1,2}N{0,2}[AB]" over letters A-C, digits 0-2: check against a direct rule.
            let f = PlateFormats::from_toml(r#"
                [[region]]
                id = "t"
                name = "t"
                letters = "ABC"
                digits = "012"
                patterns = [{ pattern = "L{1,2}N{0,2}[AB]", weight = 1.0 }]
            "#).expect("valid");
            let chars: Vec<char> = text.chars().collect();
            let letters = chars.iter().take_while(|c| c.is_ascii_alphabetic()).count();
            let want = (2..=5).contains(&chars.len())
                && matches!(chars.last(), Some('A' | 'B'))
                && {
                    let body = &chars[..chars.len() - 1];
                    let l = letters.min(body.len());
                    // Letters first (1-2), then digits (0-2); the last char may be a letter.
                    (1..=2).any(|k| k <= l && body[k..].iter().all(|c| c.is_ascii_digit()) && body.len() - k <= 2)
                };
            prop_assert_eq!(f.score("t", &text) > 0.0, want);
        }
    }
}
