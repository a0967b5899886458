//! Synthetic registries for benchmarks: a pass registry and a watchlist of a chosen size, made
//! from a fixed seed so that every run searches the same data.
//!
//! The bench's footage has no registry of its own, and an empty one would make matching free:
//! with passes that the footage's plates are not in, every sighting pays for the exact lookup
//! *and* the fuzzy search (the worst case a real site sees for each unknown vehicle).

use passwatch_face_matcher::{Embedding, FaceError};
use passwatch_registry::{Pass, PassKind, PassSnapshot, PassStatus, SubjectInfo, SubjectStatus};
use passwatch_registry::{WatchlistSnapshot, ZoneSet};

/// SplitMix64: a tiny fixed generator (no dependency, same sequence everywhere).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A standard normal value (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

/// Plate shapes of the three default regions (`L` letter, `N` digit), roughly as common as on
/// the road: the fuzzy index buckets plates by length and character classes, so realistic
/// shapes give realistic bucket sizes.
const SHAPES: &[&str] = &[
    "LLLNNNN", "NLLLNNN", "NNNLLL", "LLLNNN", "LLNNNNN", "LLNNNLL", "NNNNLLL", "LLNNLLL",
    "LLLNLNN", "LLNLNNN",
];

/// A random plate of one of the shapes in `SHAPES`.
pub fn random_plate(rng: &mut Rng) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"0123456789";
    let shape = SHAPES[rng.below(SHAPES.len())];
    shape
        .bytes()
        .map(|c| {
            let set = if c == b'L' { LETTERS } else { DIGITS };
            set[rng.below(set.len())] as char
        })
        .collect()
}

/// `n` vehicle passes with random plates, valid 2026-01-01 to 2027-01-01 in every zone. Codes
/// are unique (the pass number in base 36).
pub fn passes(n: usize, seed: u64) -> Vec<Pass> {
    let mut rng = Rng::new(seed);
    let from = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    let until = chrono::DateTime::from_timestamp(1_798_761_599, 0).unwrap_or_default();
    (0..n)
        .map(|i| Pass {
            code: code_of(i),
            kind: PassKind::Vehicle,
            plate: Some(random_plate(&mut rng)),
            region: None,
            valid_from: from,
            valid_until: until,
            zones: ZoneSet::All,
            purpose: String::new(),
            status: PassStatus::Active,
            holder_ref: String::new(),
            version: 1,
        })
        .collect()
}

/// A snapshot of [`passes`].
pub fn pass_snapshot(n: usize, seed: u64) -> PassSnapshot {
    PassSnapshot::from_passes(1, passes(n, seed))
}

/// The 16-character code of pass number `i`: base 36, zero-padded.
fn code_of(mut i: usize) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = [b'0'; 16];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[i % 36];
        i /= 36;
    }
    out.iter().map(|&b| b as char).collect()
}

/// A random unit vector of `dim` dimensions, tagged with `model_id`.
pub fn random_embedding(rng: &mut Rng, model_id: &str, dim: usize) -> Result<Embedding, FaceError> {
    let v: Vec<f32> = (0..dim).map(|_| rng.normal()).collect();
    Embedding::from_raw(model_id, v)
}

/// A watchlist of `n` subjects, one random reference embedding each, every order in force in a
/// zone called `home` (so a match anywhere else would be a breach). Random vectors match no real
/// face: the search costs what it costs on a real watchlist of that size, and decides nothing.
pub fn watchlist(
    n: usize,
    model_id: &str,
    dim: usize,
    seed: u64,
) -> Result<WatchlistSnapshot, FaceError> {
    let mut rng = Rng::new(seed);
    let from = chrono::DateTime::from_timestamp(0, 0).unwrap_or_default();
    let until = chrono::DateTime::from_timestamp(4_102_444_800, 0).unwrap_or_default();
    let entries = (0..n)
        .map(|i| {
            let info = SubjectInfo {
                subject_id: format!("bench-{i:07}"),
                order_from: from,
                order_until: until,
                home_zone: "home".into(),
                status: SubjectStatus::Active,
                embeddings: 1,
                model_id: Some(model_id.to_string()),
                version: 1,
            };
            Ok((info, vec![random_embedding(&mut rng, model_id, dim)?]))
        })
        .collect::<Result<Vec<_>, FaceError>>()?;
    WatchlistSnapshot::new(1, model_id, entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_are_unique_and_deterministic() {
        let a = passes(2000, 7);
        let b = passes(2000, 7);
        assert_eq!(a, b);
        let mut codes: Vec<&str> = a.iter().map(|p| p.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 2000);
        assert!(a.iter().all(|p| p.code.len() == 16));
        let snap = PassSnapshot::from_passes(1, a.clone());
        let plate = a[17].plate.clone().unwrap_or_default();
        assert!(snap.exact(&plate).iter().any(|p| p.code == a[17].code));
    }

    #[test]
    fn watchlist_has_its_subjects() {
        let w = watchlist(10, "m", 8, 1).unwrap();
        assert_eq!(w.len(), 10);
        assert_eq!(w.model_id(), "m");
    }
}
