//! Plate text: normalisation and a confusable-aware edit distance.
//!
//! OCR confuses a handful of glyph pairs far more often than any others (O/0, I/1, B/8, S/5, Z/2,
//! D/0, G/6). A substitution between the two members of such a pair costs
//! [`CONFUSABLE_SUBSTITUTION_COST`]; any other substitution, insertion or deletion costs 1. The
//! registry's fuzzy match and the benefit-of-the-doubt rule are built on [`plate_distance`].

/// Cost of substituting one member of a confusable pair for the other.
pub const CONFUSABLE_SUBSTITUTION_COST: f32 = 0.25;

/// The confusable pairs, as data. Order inside a pair does not matter.
pub const CONFUSABLE_PAIRS: &[(char, char)] = &[
    ('O', '0'),
    ('I', '1'),
    ('B', '8'),
    ('S', '5'),
    ('Z', '2'),
    ('D', '0'),
    ('G', '6'),
];

/// Normalises plate text as printed or read: upper case, with spaces and separators
/// (`-`, `.`, `·`, `_`, `/`, `:`, `•`) removed. Non-ASCII letters (e.g. the Chinese province
/// character of a CN plate) are kept.
pub fn normalise_plate(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '·' | '_' | '/' | ':' | '•'))
        .flat_map(char::to_uppercase)
        .collect()
}

/// Whether `a` and `b` form one of the [`CONFUSABLE_PAIRS`].
pub fn is_confusable(a: char, b: char) -> bool {
    CONFUSABLE_PAIRS
        .iter()
        .any(|&(x, y)| (a == x && b == y) || (a == y && b == x))
}

/// Cost of substituting `b` for `a`: 0 when equal, [`CONFUSABLE_SUBSTITUTION_COST`] for a
/// confusable pair, 1 otherwise.
pub fn substitution_cost(a: char, b: char) -> f32 {
    if a == b {
        0.0
    } else if is_confusable(a, b) {
        CONFUSABLE_SUBSTITUTION_COST
    } else {
        1.0
    }
}

/// Confusable-aware Levenshtein distance between two normalised plates: insertions and deletions
/// cost 1, substitutions cost [`substitution_cost`]. Symmetric; 0 only for equal strings.
pub fn plate_distance(a: &str, b: &str) -> f32 {
    plate_distance_bounded(a, b, f32::INFINITY).unwrap_or(f32::INFINITY)
}

/// [`plate_distance`] that gives up as soon as the distance must exceed `max_cost`, returning
/// `None` then. This is what makes a fuzzy scan over a large registry cheap.
pub fn plate_distance_bounded(a: &str, b: &str, max_cost: f32) -> Option<f32> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if (a.len() as f32 - b.len() as f32).abs() > max_cost {
        return None;
    }
    let mut prev: Vec<f32> = (0..=b.len()).map(|j| j as f32).collect();
    let mut cur = vec![0.0f32; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = (i + 1) as f32;
        let mut row_min = cur[0];
        for (j, &cb) in b.iter().enumerate() {
            let v = (prev[j] + substitution_cost(ca, cb))
                .min(prev[j + 1] + 1.0)
                .min(cur[j] + 1.0);
            cur[j + 1] = v;
            row_min = row_min.min(v);
        }
        if row_min > max_cost {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= max_cost).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_separators() {
        assert_eq!(normalise_plate(" ab-12 c.d "), "AB12CD");
        assert_eq!(normalise_plate("京A·12345"), "京A12345");
    }

    #[test]
    fn confusables_are_cheaper_than_other_substitutions() {
        assert_eq!(plate_distance("ABC123", "ABC123"), 0.0);
        assert_eq!(plate_distance("AB0123", "ABO123"), CONFUSABLE_SUBSTITUTION_COST);
        assert_eq!(plate_distance("ABC123", "ABX123"), 1.0);
        assert_eq!(plate_distance("ABC123", "ABC1234"), 1.0);
        assert_eq!(plate_distance("8S5", "B55"), 2.0 * CONFUSABLE_SUBSTITUTION_COST);
    }

    #[test]
    fn bounded_gives_up_early() {
        assert_eq!(plate_distance_bounded("AAAA", "BBBB", 1.5), None);
        assert_eq!(plate_distance_bounded("AAAA", "AAAB", 1.5), Some(1.0));
        assert_eq!(plate_distance_bounded("A", "ABCD", 2.0), None);
    }

    proptest::proptest! {
        #[test]
        fn symmetric_and_zero_only_for_equal(a in "[A-Z0-9]{0,8}", b in "[A-Z0-9]{0,8}") {
            let d = plate_distance(&a, &b);
            proptest::prop_assert_eq!(d, plate_distance(&b, &a));
            proptest::prop_assert_eq!(d == 0.0, a == b);
            proptest::prop_assert!(d <= a.len().max(b.len()) as f32);
        }
    }
}
