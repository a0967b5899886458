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

/// The plate with every glyph replaced by one member of its confusable class (O, D and 0 → `0`;
/// I → `1`; B → `8`; S → `5`; Z → `2`; G → `6`): two plates that differ only by confusable
/// substitutions have the same key. An investigator's search "up to confusables" is an equality
/// on this key, which an index can serve.
pub fn confusable_key(plate: &str) -> String {
    normalise_plate(plate)
        .chars()
        .map(|c| match c {
            'O' | 'D' => '0',
            'I' => '1',
            'B' => '8',
            'S' => '5',
            'Z' => '2',
            'G' => '6',
            other => other,
        })
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

/// Plates up to this many characters are compared without touching the heap.
const STACK_CHARS: usize = 24;

/// [`plate_distance`] that gives up as soon as the distance must exceed `max_cost`, returning
/// `None` then. This is what makes a fuzzy scan over a large registry cheap: plates of up to
/// `STACK_CHARS` (24) characters are compared in stack buffers, with no allocation per pair.
pub fn plate_distance_bounded(a: &str, b: &str, max_cost: f32) -> Option<f32> {
    let (na, nb) = (a.chars().count(), b.chars().count());
    if (na as f32 - nb as f32).abs() > max_cost {
        return None;
    }
    if na <= STACK_CHARS && nb <= STACK_CHARS {
        let mut ca = ['\0'; STACK_CHARS];
        let mut cb = ['\0'; STACK_CHARS];
        ca.iter_mut().zip(a.chars()).for_each(|(d, c)| *d = c);
        cb.iter_mut().zip(b.chars()).for_each(|(d, c)| *d = c);
        let mut prev = [0.0f32; STACK_CHARS + 1];
        let mut cur = [0.0f32; STACK_CHARS + 1];
        edit_distance(
            &ca[..na],
            &cb[..nb],
            &mut prev[..=nb],
            &mut cur[..=nb],
            max_cost,
        )
    } else {
        let ca: Vec<char> = a.chars().collect();
        let cb: Vec<char> = b.chars().collect();
        let mut prev = vec![0.0f32; nb + 1];
        let mut cur = vec![0.0f32; nb + 1];
        edit_distance(&ca, &cb, &mut prev, &mut cur, max_cost)
    }
}

/// Two-row Levenshtein with [`substitution_cost`], abandoning once a whole row exceeds
/// `max_cost` (every later row can only be larger). `prev` and `cur` hold `b.len() + 1` values.
fn edit_distance<'r>(
    a: &[char],
    b: &[char],
    mut prev: &'r mut [f32],
    mut cur: &'r mut [f32],
    max_cost: f32,
) -> Option<f32> {
    for (j, v) in prev.iter_mut().enumerate() {
        *v = j as f32;
    }
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
    fn the_confusable_key_joins_exactly_the_plates_a_confusable_swap_apart() {
        assert_eq!(confusable_key("5dj-0529"), "50J0529");
        assert_eq!(confusable_key("SDJ0529"), confusable_key("5DJO529"));
        assert_eq!(confusable_key("AB0123"), confusable_key("ABO123"));
        assert_ne!(confusable_key("ABC123"), confusable_key("ABX123"));
        // Every pair of the table is joined.
        for &(a, b) in CONFUSABLE_PAIRS {
            assert_eq!(
                confusable_key(&a.to_string()),
                confusable_key(&b.to_string())
            );
        }
    }

    #[test]
    fn confusables_are_cheaper_than_other_substitutions() {
        assert_eq!(plate_distance("ABC123", "ABC123"), 0.0);
        assert_eq!(
            plate_distance("AB0123", "ABO123"),
            CONFUSABLE_SUBSTITUTION_COST
        );
        assert_eq!(plate_distance("ABC123", "ABX123"), 1.0);
        assert_eq!(plate_distance("ABC123", "ABC1234"), 1.0);
        assert_eq!(
            plate_distance("8S5", "B55"),
            2.0 * CONFUSABLE_SUBSTITUTION_COST
        );
    }

    #[test]
    fn bounded_gives_up_early() {
        assert_eq!(plate_distance_bounded("AAAA", "BBBB", 1.5), None);
        assert_eq!(plate_distance_bounded("AAAA", "AAAB", 1.5), Some(1.0));
        assert_eq!(plate_distance_bounded("A", "ABCD", 2.0), None);
    }

    #[test]
    fn long_plates_take_the_heap_path() {
        let a = "A".repeat(30);
        let b = format!("{}B", "A".repeat(29));
        assert_eq!(plate_distance(&a, &b), 1.0);
        assert_eq!(plate_distance_bounded(&a, &b, 0.5), None);
    }

    proptest::proptest! {
        #[test]
        fn bounded_agrees_with_unbounded(a in "[A-D0-3]{0,30}", b in "[A-D0-3]{0,30}", max in 0.0f32..6.0) {
            let d = plate_distance(&a, &b);
            let bounded = plate_distance_bounded(&a, &b, max);
            proptest::prop_assert_eq!(bounded, (d <= max).then_some(d));
        }

        #[test]
        fn symmetric_and_zero_only_for_equal(a in "[A-Z0-9]{0,8}", b in "[A-Z0-9]{0,8}") {
            let d = plate_distance(&a, &b);
            proptest::prop_assert_eq!(d, plate_distance(&b, &a));
            proptest::prop_assert_eq!(d == 0.0, a == b);
            proptest::prop_assert!(d <= a.len().max(b.len()) as f32);
        }
    }
}
