//! Pass snapshots: an immutable copy of the registry at one version, and the plate index.
//!
//! Every decision is taken against one [`PassSnapshot`], so that it sees one consistent version
//! of the registry however imports run beside it, and records that version. A snapshot is plain
//! memory: taking a new one after an import does not change the old one, which callers can keep
//! behind an `Arc` and swap.
//!
//! # The plate index
//!
//! Vehicle passes are sorted by `(plate, code)`, so that [`PassSnapshot::exact`] is a binary
//! search returning a slice. For [`PassSnapshot::fuzzy`], every distinct plate is put in a bucket
//! by its length in characters, together with a 64-bit *class mask*: one bit per character
//! class, where the members of each confusable group (`O 0 D`, `I 1`, `B 8`, `S 5`, `Z 2`,
//! `G 6`) share a class, and characters outside `A`–`Z0`–`9` hash into the high bits.
//!
//! A query of cost `c` only looks at the buckets whose length differs from the query's by at
//! most `k = ⌊c⌋` (an insertion or a deletion costs 1). The masks give a cheap necessary
//! condition: each class present in one plate and absent from the other needs its own unit-cost
//! edit (a confusable substitution stays inside its class; any other edit costs 1 and touches
//! one character on each side), so a plate can only match if its mask and the query's differ by
//! at most `k` classes on each side. Only plates meeting it pay for [`plate_distance_bounded`],
//! which gives the exact cost and itself gives up as soon as `c` is exceeded.
//!
//! - For `k` ≤ 1 (any `c` < 2, which covers the default 1.0 and every sensible setting), the
//!   masks meeting the condition are enumerated: the query's mask with at most one class removed
//!   and at most one added, about `(q + 1)(b + 1)` masks for a query of `q` classes and a bucket
//!   using `b` others, each looked up in a hash map from mask to the plates that have it.
//! - For `k` ≥ 2 the enumeration would be larger than the bucket, so each bucket is scanned,
//!   testing every plate's mask (a few instructions, over contiguous `u64`s).
//!
//! Complexity: building is `O(n log n)` for `n` passes. An exact lookup is `O(log n)`. A fuzzy
//! query with `k` ≤ 1 costs `O((2k + 1) · q · b)` hash lookups, independent of the registry's
//! size, plus `O(m · L²)` for the `m` plates that meet the mask condition (`L` ≤ 10 characters)
//! and `O(r log r)` to sort the `r` results; with `k` ≥ 2 it is `O(P)` mask tests for the `P`
//! plates in the `2k + 1` lengths scanned, plus the same. Measured on one core of the
//! development machine with a million vehicle passes of realistic shapes, every query a
//! different misread so that caches are cold (`fuzzy_on_a_million_passes`, release build):
//! about 85 µs per query for `c` < 2, about 4 ms for `c` = 2 (the scan), and 1.2 s to build.

use std::collections::HashMap;

use passwatch_plate_reader::text::{normalise_plate, plate_distance_bounded};

use super::passes::{Pass, PassKind};

/// An immutable copy of every pass at one registry version, indexed by plate and by code.
#[derive(Clone, Debug, Default)]
pub struct PassSnapshot {
    /// The registry version this snapshot holds (0 for an empty registry).
    pub version: u64,
    /// Vehicle passes sorted by `(plate, code)`, then the other passes sorted by code.
    passes: Vec<Pass>,
    /// How many of `passes` are vehicle passes (the sorted prefix).
    vehicles: usize,
    /// Position in `passes` of every code.
    by_code: HashMap<String, u32>,
    /// Distinct plates: start of their run in `passes` and its length.
    plates: Vec<PlateRun>,
    /// `buckets[len]`: the distinct plates of `len` characters.
    buckets: Vec<Bucket>,
}

#[derive(Clone, Copy, Debug)]
struct PlateRun {
    start: u32,
    len: u32,
}

/// The distinct plates of one length, sorted by class mask, as parallel arrays: a mask scan reads
/// contiguous memory, and the plates of one mask, whose text the distance is computed on, are
/// next to each other rather than behind a pointer each (with a million passes, chasing a
/// pointer per candidate costs more than the distance itself).
#[derive(Clone, Debug, Default)]
struct Bucket {
    masks: Vec<u64>,
    /// Index in [`PassSnapshot::plates`] of each entry.
    plates: Vec<u32>,
    /// The text of every entry, concatenated.
    text: String,
    /// Where each entry's text starts in `text`, plus its end.
    text_at: Vec<u32>,
    /// Each distinct mask: its run in `masks` / `plates`, as (start, length).
    by_mask: HashMap<u64, (u32, u32)>,
    /// The union of all masks: the only classes worth adding when enumerating.
    all_classes: u64,
}

impl Bucket {
    fn push(&mut self, mask: u64, plate: u32) {
        self.masks.push(mask);
        self.plates.push(plate);
    }

    /// Sorts by mask, lays out the text and builds the mask index.
    fn finish(&mut self, runs: &[PlateRun], passes: &[Pass]) {
        let mut pairs: Vec<(u64, u32)> = self
            .masks
            .iter()
            .copied()
            .zip(self.plates.iter().copied())
            .collect();
        pairs.sort_unstable();
        self.masks = pairs.iter().map(|p| p.0).collect();
        self.plates = pairs.iter().map(|p| p.1).collect();
        self.text_at = Vec::with_capacity(self.plates.len() + 1);
        for &plate in &self.plates {
            self.text_at.push(self.text.len() as u32);
            self.text
                .push_str(plate_of(&passes[runs[plate as usize].start as usize]));
        }
        self.text_at.push(self.text.len() as u32);
        self.all_classes = self.masks.iter().fold(0, |a, m| a | m);
        let mut start = 0;
        while start < self.masks.len() {
            let mask = self.masks[start];
            let len = self.masks[start..].partition_point(|&m| m == mask);
            self.by_mask.insert(mask, (start as u32, len as u32));
            start += len;
        }
    }

    /// The text of entry `i`.
    fn text(&self, i: usize) -> &str {
        &self.text[self.text_at[i] as usize..self.text_at[i + 1] as usize]
    }

    /// Entries (positions in this bucket) whose mask differs from `query` by at most
    /// `unit_edits` classes on each side (see the module docs).
    fn candidates(&self, query: u64, unit_edits: u32, out: &mut Vec<u32>) {
        if unit_edits >= 2 {
            for (i, &mask) in self.masks.iter().enumerate() {
                if within_unit_edits(mask & !query, unit_edits)
                    && within_unit_edits(query & !mask, unit_edits)
                {
                    out.push(i as u32);
                }
            }
            return;
        }
        let mut visit = |mask: u64| {
            if let Some(&(start, len)) = self.by_mask.get(&mask) {
                out.extend(start..start + len);
            }
        };
        if unit_edits == 0 {
            visit(query);
            return;
        }
        let removable = bits(query);
        let addable = bits(self.all_classes & !query);
        for remove in std::iter::once(0).chain(removable) {
            let base = query & !remove;
            visit(base);
            for add in addable.clone() {
                visit(base | add);
            }
        }
    }
}

/// The single-bit masks of the bits set in `mask`.
fn bits(mask: u64) -> impl Iterator<Item = u64> + Clone {
    let mut rest = mask;
    std::iter::from_fn(move || {
        (rest != 0).then(|| {
            let low = rest & rest.wrapping_neg();
            rest &= !low;
            low
        })
    })
}

impl PassSnapshot {
    /// Builds a snapshot from passes (codes are expected to be unique, as in the registry; if
    /// not, [`PassSnapshot::by_code`] finds one of them).
    pub fn from_passes(version: u64, mut passes: Vec<Pass>) -> PassSnapshot {
        passes.sort_unstable_by(|a, b| {
            (!is_indexed(a), plate_of(a))
                .cmp(&(!is_indexed(b), plate_of(b)))
                .then_with(|| a.code.cmp(&b.code))
        });
        let vehicles = passes.iter().take_while(|p| is_indexed(p)).count();
        let by_code = passes
            .iter()
            .enumerate()
            .map(|(i, p)| (p.code.clone(), i as u32))
            .collect();
        let mut plates: Vec<PlateRun> = Vec::new();
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut i = 0;
        while i < vehicles {
            let plate = plate_of(&passes[i]);
            let mut j = i + 1;
            while j < vehicles && plate_of(&passes[j]) == plate {
                j += 1;
            }
            let n = plate.chars().count();
            if buckets.len() <= n {
                buckets.resize_with(n + 1, Bucket::default);
            }
            buckets[n].push(class_mask(plate), plates.len() as u32);
            plates.push(PlateRun {
                start: i as u32,
                len: (j - i) as u32,
            });
            i = j;
        }
        for bucket in &mut buckets {
            bucket.finish(&plates, &passes);
        }
        PassSnapshot {
            version,
            passes,
            vehicles,
            by_code,
            plates,
            buckets,
        }
    }

    /// How many distinct plates hold vehicle passes: the registry's size as far as a near-plate
    /// match by chance is concerned.
    pub fn plate_count(&self) -> usize {
        self.plates.len()
    }

    /// Every pass, vehicle passes first (by plate, then code), then the others by code.
    pub fn passes(&self) -> &[Pass] {
        &self.passes
    }

    /// How many passes the snapshot holds.
    pub fn len(&self) -> usize {
        self.passes.len()
    }

    /// Whether the snapshot holds no pass.
    pub fn is_empty(&self) -> bool {
        self.passes.is_empty()
    }

    /// The pass with this code, if any.
    pub fn by_code(&self, code: &str) -> Option<&Pass> {
        self.by_code.get(code).map(|&i| &self.passes[i as usize])
    }

    /// The vehicle passes for exactly this plate (normalised first), sorted by code. `O(log n)`.
    pub fn exact(&self, plate: &str) -> &[Pass] {
        let plate = normalise_plate(plate);
        let vehicles = &self.passes[..self.vehicles];
        let lo = vehicles.partition_point(|p| plate_of(p) < plate.as_str());
        let hi = lo + vehicles[lo..].partition_point(|p| plate_of(p) == plate.as_str());
        &vehicles[lo..hi]
    }

    /// The vehicle passes whose plate is within confusable-aware edit cost `max_cost` of `plate`
    /// (normalised first), with that cost, sorted by cost then code. Exact matches are included,
    /// at cost 0. A negative or NaN `max_cost` finds nothing. See the module docs for how it is
    /// searched and what it costs.
    pub fn fuzzy(&self, plate: &str, max_cost: f32) -> Vec<(&Pass, f32)> {
        let mut out = Vec::new();
        if max_cost.is_nan() || max_cost < 0.0 {
            return out;
        }
        let query = normalise_plate(plate);
        let query_len = query.chars().count();
        let query_mask = class_mask(&query);
        // Whole unit-cost edits the budget allows; insertions and deletions are such edits.
        let unit_edits = max_cost.floor().min(64.0) as u32;
        let lo = query_len.saturating_sub(unit_edits as usize);
        let hi = (query_len + unit_edits as usize).min(self.buckets.len().saturating_sub(1));
        let mut candidates = Vec::new();
        for bucket in self.buckets.get(lo..=hi).unwrap_or_default() {
            candidates.clear();
            bucket.candidates(query_mask, unit_edits, &mut candidates);
            for &i in &candidates {
                let i = i as usize;
                if let Some(cost) = plate_distance_bounded(&query, bucket.text(i), max_cost) {
                    let run = self.plates[bucket.plates[i] as usize];
                    let passes = &self.passes[run.start as usize..(run.start + run.len) as usize];
                    out.extend(passes.iter().map(|p| (p, cost)));
                }
            }
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.code.cmp(&b.0.code)));
        out
    }
}

/// Whether a pass goes in the plate index: a vehicle pass (which always has a plate).
fn is_indexed(p: &Pass) -> bool {
    p.kind == PassKind::Vehicle && p.plate.is_some()
}

fn plate_of(p: &Pass) -> &str {
    p.plate.as_deref().unwrap_or("")
}

/// Whether a set of classes missing on one side allows a match within `unit_edits` unit-cost
/// edits: at most that many bits set. The common budgets (0 and 1) avoid `popcount`, which is
/// not a single instruction on baseline x86-64.
#[inline]
fn within_unit_edits(missing: u64, unit_edits: u32) -> bool {
    match unit_edits {
        0 => missing == 0,
        1 => missing & missing.wrapping_sub(1) == 0,
        k => missing.count_ones() <= k,
    }
}

/// The class of a character for the mask: confusable groups share a class.
fn char_class(c: char) -> u32 {
    match c {
        'O' | '0' | 'D' => 0,
        'I' | '1' => 1,
        'B' | '8' => 2,
        'S' | '5' => 3,
        'Z' | '2' => 4,
        'G' | '6' => 5,
        'A'..='Z' => 6 + (c as u32 - 'A' as u32),
        '0'..='9' => 32 + (c as u32 - '0' as u32),
        // Other characters (e.g. CN province characters) share the high bits; a shared bit
        // only weakens the bound, it never makes it wrong.
        _ => 42 + (c as u32 % 22),
    }
}

/// The set of character classes of a plate, one bit each.
fn class_mask(plate: &str) -> u64 {
    plate.chars().fold(0u64, |m, c| m | (1u64 << char_class(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::{PassStatus, ZoneSet};
    use passwatch_plate_reader::text::plate_distance;
    use proptest::prelude::*;

    fn pass(code: &str, plate: Option<&str>) -> Pass {
        Pass {
            code: code.into(),
            kind: if plate.is_some() {
                PassKind::Vehicle
            } else {
                PassKind::Person
            },
            plate: plate.map(str::to_owned),
            region: None,
            valid_from: "2026-04-01T00:00:00Z".parse().unwrap(),
            valid_until: "2026-05-01T00:00:00Z".parse().unwrap(),
            zones: ZoneSet::All,
            purpose: String::new(),
            status: PassStatus::Active,
            holder_ref: String::new(),
            version: 1,
        }
    }

    #[test]
    fn exact_returns_all_passes_of_a_plate_by_code() {
        let s = PassSnapshot::from_passes(
            3,
            vec![
                pass("C", Some("ABC123")),
                pass("A", Some("ABC123")),
                pass("B", Some("XYZ")),
                pass("P", None),
            ],
        );
        let codes: Vec<&str> = s.exact("abc-123").iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["A", "C"]);
        assert!(s.exact("ABC12").is_empty());
        assert!(s.exact("").is_empty());
        assert_eq!(s.by_code("P").unwrap().kind, PassKind::Person);
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn fuzzy_finds_confusables_sorted_by_cost_then_code() {
        let s = PassSnapshot::from_passes(
            1,
            vec![
                pass("B", Some("ABC103")),
                pass("A", Some("ABC1O3")),
                pass("C", Some("ABC1D3")),
                pass("D", Some("ABC1X3")),
                pass("E", Some("ZZZ999")),
            ],
        );
        let found: Vec<(&str, f32)> = s
            .fuzzy("ABC1O3", 1.0)
            .into_iter()
            .map(|(p, c)| (p.code.as_str(), c))
            .collect();
        assert_eq!(found, [("A", 0.0), ("B", 0.25), ("C", 1.0), ("D", 1.0)]);
        assert!(s.fuzzy("ABC1O3", -1.0).is_empty());
        assert!(s.fuzzy("ABC1O3", f32::NAN).is_empty());
        assert_eq!(s.fuzzy("ABC1O3", 0.3).len(), 2);
    }

    /// Times fuzzy queries over a million vehicle passes (run with `--release --ignored`).
    #[test]
    #[ignore = "slow in debug builds; a timing, not a check"]
    fn fuzzy_on_a_million_passes() {
        // A deterministic generator of plates shaped like real ones (3 letters, 4 digits, and a
        // share of other shapes), so that near plates exist as they would in a city.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        const L: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        const D: &[u8] = b"0123456789";
        let passes: Vec<Pass> = (0..1_000_000)
            .map(|i| {
                let shape: &[&[u8]] = match next() % 3 {
                    0 => &[L, L, L, D, D, D, D],
                    1 => &[L, L, D, D, L, L, L],
                    _ => &[L, L, L, D, L, D, D],
                };
                let plate: String = shape
                    .iter()
                    .map(|set| set[(next() % set.len() as u64) as usize] as char)
                    .collect();
                pass(&format!("{i:016}"), Some(&plate))
            })
            .collect();
        let queries: Vec<String> = passes
            .iter()
            .step_by(10_007)
            .map(|p| {
                // A one-confusable misread of a real plate.
                p.plate.clone().unwrap().replace('0', "O").replace('8', "B")
            })
            .collect();
        let t0 = std::time::Instant::now();
        let snapshot = PassSnapshot::from_passes(1, passes);
        let built = t0.elapsed();
        println!("built in {built:?}");
        for max_cost in [1.0, 1.75, 2.0] {
            let t1 = std::time::Instant::now();
            let mut found = 0;
            for q in &queries {
                found += snapshot.fuzzy(q, max_cost).len();
            }
            let per_query = t1.elapsed() / queries.len() as u32;
            println!(
                "{} fuzzy queries, max cost {max_cost}: {per_query:?} each, {found} hits",
                queries.len()
            );
            assert!(found >= queries.len());
        }
    }

    fn plate_strategy() -> impl Strategy<Value = String> {
        // A small alphabet rich in confusables, so that near plates are common.
        proptest::string::string_regex("[AB8O0DS5Z2X京]{1,6}").unwrap()
    }

    proptest! {
        #[test]
        fn fuzzy_equals_brute_force(
            plates in proptest::collection::vec(plate_strategy(), 0..60),
            query in plate_strategy(),
            max_cost in 0.0f32..3.0,
        ) {
            let passes: Vec<Pass> = plates
                .iter()
                .enumerate()
                .map(|(i, p)| pass(&format!("{i:016}"), Some(p)))
                .collect();
            let snapshot = PassSnapshot::from_passes(1, passes.clone());
            let got: Vec<(String, f32)> = snapshot
                .fuzzy(&query, max_cost)
                .into_iter()
                .map(|(p, c)| (p.code.clone(), c))
                .collect();
            let mut want: Vec<(String, f32)> = passes
                .iter()
                .filter_map(|p| {
                    let d = plate_distance(&query, p.plate.as_deref().unwrap());
                    (d <= max_cost).then(|| (p.code.clone(), d))
                })
                .collect();
            want.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            prop_assert_eq!(got, want);
        }
    }
}
