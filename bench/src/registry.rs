//! Plate fuzzy matching against a large registry: the queries, and the memory a snapshot takes.

use crate::synthetic::{self, Rng};
use passwatch_registry::PassSnapshot;
use std::time::Instant;

/// Confusable partners (passwatch_plate_reader::text::CONFUSABLE_PAIRS, one way each).
const CONFUSABLE: &[(char, char)] = &[
    ('O', '0'),
    ('0', 'O'),
    ('I', '1'),
    ('1', 'I'),
    ('B', '8'),
    ('8', 'B'),
    ('S', '5'),
    ('5', 'S'),
    ('Z', '2'),
    ('2', 'Z'),
    ('G', '6'),
    ('6', 'G'),
];

/// `n` queries as OCR gets plates wrong: registry plates with one character changed (a
/// confusable swap where the plate has a confusable character, else any substitution), or,
/// for every fourth query, a plate not in the registry at all. Every query is different, so a
/// benchmark looping over them does not run from warm caches.
pub fn misread_queries(snapshot: &PassSnapshot, n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let passes = snapshot.passes();
    (0..n)
        .map(|i| {
            if i % 4 == 3 || passes.is_empty() {
                return synthetic::random_plate(&mut rng);
            }
            let plate = passes[rng.below(passes.len())]
                .plate
                .clone()
                .unwrap_or_default();
            let mut chars: Vec<char> = plate.chars().collect();
            if chars.is_empty() {
                return plate;
            }
            let k = rng.below(chars.len());
            chars[k] = match CONFUSABLE.iter().find(|(a, _)| *a == chars[k]) {
                Some(&(_, b)) => b,
                None => (b'A' + rng.below(26) as u8) as char,
            };
            chars.into_iter().collect()
        })
        .collect()
}

/// Resident memory of this process, bytes (`/proc/self/statm`; 0 where it cannot be read).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// A snapshot of `n` synthetic passes, with the resident memory it added and the seconds it took
/// to generate the passes and build it. The memory is the process's growth across the build, so
/// it includes the allocator's slack: what a deployment would really pay.
pub fn build_snapshot(n: usize, seed: u64) -> (PassSnapshot, u64, f64) {
    let before = resident_bytes();
    let t = Instant::now();
    let snap = synthetic::pass_snapshot(n, seed);
    let secs = t.elapsed().as_secs_f64();
    let after = resident_bytes();
    (snap, after.saturating_sub(before), secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_near_registry_plates() {
        let snap = synthetic::pass_snapshot(5_000, 3);
        let q = misread_queries(&snap, 200, 9);
        assert_eq!(q.len(), 200);
        let found = q.iter().filter(|p| !snap.fuzzy(p, 1.0).is_empty()).count();
        // Three quarters are one edit from a registry plate; the random quarter rarely is.
        assert!(found >= 150, "{found} of 200 found");
        let mut distinct = q.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 190);
    }
}
