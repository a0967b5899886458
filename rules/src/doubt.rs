//! The benefit of the doubt, weighed with the recogniser's own probabilities.
//!
//! A fixed edit budget treats every read alike: `O/0` is forgiven on a plate the recogniser read
//! sharply and a dropped character is never forgiven, however blurred. Instead, the passes whose
//! plates are near the track's reads (within `plates.fuzzy_max_cost` of the consensus or of any
//! read, [`near_passes`]) are candidates, and each is weighed by the probability the track's
//! reads give its plate ([`PlateEvidence`], the CTC forward probability of the plate per read,
//! averaged over the reads: `passwatch_plate_reader::likelihood`). Distance only picks whom to
//! weigh; probability decides (see [`crate::decide_plate`] for the thresholds).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use passwatch_plate_reader::likelihood::{track_probability, CtcLattice, LATIN_ALNUM};
use passwatch_plate_reader::text::{plate_distance, CONFUSABLE_PAIRS};
use passwatch_registry::{Pass, PassKind, PassSnapshot};

use crate::sighting::PlateSighting;

/// The reads of one sighting as probabilities over plate texts.
#[derive(Clone, Debug)]
pub struct PlateEvidence<'a> {
    reads: Vec<(Cow<'a, CtcLattice>, f32)>,
}

impl<'a> PlateEvidence<'a> {
    /// The evidence of a sighting: each read's lattice with its weight. A read without the
    /// recogniser's output (made by hand, or by a test) stands as a read of its text with every
    /// character at its confidence; a sighting without reads stands as one read of its consensus.
    pub fn of(sighting: &'a PlateSighting) -> PlateEvidence<'a> {
        let mut reads: Vec<(Cow<'a, CtcLattice>, f32)> = sighting
            .reads
            .iter()
            .map(|r| {
                let lattice = match &r.lattice {
                    Some(l) => l.widened(CONFUSABLE_PAIRS),
                    None => CtcLattice::certain(&r.text, r.confidence, LATIN_ALNUM)
                        .widened(CONFUSABLE_PAIRS),
                };
                (Cow::Owned(lattice), r.weight)
            })
            .collect();
        if reads.is_empty() {
            reads.push((
                Cow::Owned(
                    CtcLattice::certain(&sighting.plate, sighting.confidence, LATIN_ALNUM)
                        .widened(CONFUSABLE_PAIRS),
                ),
                1.0,
            ));
        }
        PlateEvidence { reads }
    }

    /// The probability that the track shows `plate` (normalised first), 0..1.
    pub fn probability(&self, plate: &str) -> f64 {
        let reads: Vec<(&CtcLattice, f32)> = self.reads.iter().map(|(l, w)| (&**l, *w)).collect();
        track_probability(&reads, plate)
    }
}

/// A vehicle pass near the sighting's reads, weighed.
#[derive(Clone, Debug, PartialEq)]
pub struct NearPass<'p> {
    /// The pass.
    pub pass: &'p Pass,
    /// Confusable-aware edit cost from the consensus to the pass's plate.
    pub cost: f32,
    /// The probability the track's reads give the pass's plate.
    pub probability: f64,
}

/// The vehicle passes, other than those for exactly the consensus plate, whose plate is within
/// `max_cost` of the consensus or of any read's text, most probable first, then by cost and
/// code. Each distinct text is one index query (`PassSnapshot::fuzzy`) and each distinct plate
/// one probability. Nothing with `max_cost` 0 (the benefit of the doubt off).
pub fn near_passes<'p>(
    sighting: &PlateSighting,
    passes: &'p PassSnapshot,
    max_cost: f32,
    evidence: &PlateEvidence<'_>,
) -> Vec<NearPass<'p>> {
    if max_cost.is_nan() || max_cost <= 0.0 {
        return Vec::new();
    }
    let texts: BTreeSet<&str> = std::iter::once(sighting.plate.as_str())
        .chain(sighting.reads.iter().map(|r| r.text.as_str()))
        .filter(|t| !t.is_empty())
        .collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out: Vec<&'p Pass> = Vec::new();
    for text in texts {
        for (pass, _) in passes.fuzzy(text, max_cost) {
            if pass.kind != PassKind::Vehicle {
                continue;
            }
            if seen.insert(pass.code.as_str()) {
                out.push(pass);
            }
        }
    }
    let mut probability: HashMap<&str, f64> = HashMap::new();
    let mut near: Vec<NearPass<'p>> = out
        .into_iter()
        .filter_map(|pass| {
            let plate = pass.plate.as_deref()?;
            if plate == sighting.plate {
                return None;
            }
            let p = *probability
                .entry(plate)
                .or_insert_with(|| evidence.probability(plate));
            Some(NearPass {
                pass,
                cost: plate_distance(&sighting.plate, plate),
                probability: p,
            })
        })
        .collect();
    near.sort_by(|a, b| {
        b.probability
            .total_cmp(&a.probability)
            .then(a.cost.total_cmp(&b.cost))
            .then_with(|| a.pass.code.cmp(&b.pass.code))
    });
    near
}
