//! Rules: what a sighting means, decided once per sighting against one registry snapshot.
//!
//! - plates: [`decide_plate`], the `no_valid_pass` rule, against a [`PassSnapshot`];
//! - faces: [`decide_face`], the `stay_home_breach` rule, against a [`WatchlistSnapshot`] (see
//!   [Faces](#faces) below).
//!
//! [`decide_plate`] is a pure function of the sighting, the site and a [`PassSnapshot`]; the time
//! it checks is the sighting's wall time. The steps, in order:
//!
//! 1. the camera's zone is not restricted at that time → [`PlateOutcome::NotRestricted`];
//! 2. the consensus confidence is below `plates.min_confidence` → [`PlateOutcome::Unreadable`];
//! 3. a vehicle pass for exactly the read plate clears it (active, in its window, allowing the
//!    zone) → [`PlateOutcome::Valid`];
//! 4. the benefit of the doubt ([`doubt`]): the vehicle passes whose plates are near the track's
//!    reads (confusable-aware edit cost at most `plates.fuzzy_max_cost` from the consensus or
//!    any read) are weighed by the probability the reads give their plate, from the
//!    recogniser's own output (CTC forward probability per read, confusable glyphs counting for
//!    each other, averaged over the reads). A valid one at least as probable as
//!    [`PlateSettings::clear_threshold`](passwatch_registry::site::PlateSettings::clear_threshold)
//!    (higher in a larger registry) clears it → [`PlateOutcome::ClearedByFuzzyMatch`];
//! 5. it is doubtful when a valid pass is still plausible (at least
//!    [`doubt_threshold`](passwatch_registry::site::PlateSettings::doubt_threshold)) or the reads
//!    give the consensus itself less than `plates.accuse_probability` →
//!    [`PlateOutcome::NeedsReview`] (a low-priority event listing the candidates) or, with
//!    `plates.doubtful = "unreadable"`, [`PlateOutcome::Unreadable`];
//! 6. otherwise → [`PlateOutcome::Violation`], the `no_valid_pass` rule, with a reason and the
//!    consensus's probability.
//!
//! A wrong accusation is worse than a missed one: a doubtful sighting is never a violation. The
//! thresholds and how they were measured: design/matching-and-rules.md.
//!
//! Only a violation or a doubtful sighting left for review raises an event. Nothing here stores
//! anything: a sighting that raises no event leaves no trace but its counters upstream (see the privacy rules in the brief).
//!
//! # Which reason, when a plate has several passes
//!
//! Each pass for the plate has one problem ([`Pass::check`]: revoked, else outside its window,
//! else zone). The violation reports the pass *closest to being valid*, in this order:
//!
//! 1. `zone_not_allowed`: active and current, only the zone is wrong;
//! 2. `not_yet_valid` / `expired`: active, wrong time; of several, the one whose window is
//!    nearest the sighting's time;
//! 3. `revoked`;
//!
//! ties broken by pass code. With no pass for the plate at all, the reason is `unknown_plate`,
//! and near plates whose passes do not clear it either are listed as candidates.
//!
//! # Faces
//!
//! [`decide_face`] is a pure function of a [`FaceSighting`] (the faces of one track that were
//! good enough to match, and the best watchlist match over them), the site, a
//! [`WatchlistSnapshot`] and the [`FaceThreshold`]; the time it checks is the sighting's wall
//! time. The steps, in order:
//!
//! 1. the camera is not in the site → [`FaceOutcome::UnknownCamera`];
//! 2. no face of the track was good enough to match, or the watchlist matched nobody, or the best
//!    similarity is not strictly above the threshold (NaN never is) → [`FaceOutcome::NoMatch`];
//! 3. the matched subject is inactive, or the sighting is outside the order's window
//!    (`order_from` inclusive, `order_until` exclusive) → [`FaceOutcome::NotInForce`];
//! 4. the camera's zone is the subject's home zone → [`FaceOutcome::HomeZone`];
//! 5. otherwise → [`FaceOutcome::Breach`], the `stay_home_breach` rule.
//!
//! A stay-home order is personal: whether the camera's zone is restricted at that time does not
//! matter. "Above the threshold" is strict, as in the verification protocol that measures a
//! threshold at a false-accept rate (`passwatch_face_matcher::verification`): at most that rate
//! of impostor pairs score strictly above it. A breach is never final: its event is always left
//! for review. The explanation of a decision that is not a match names no subject, so that a
//! debug log never says whom a passer-by resembles.
#![deny(missing_docs)]

pub mod doubt;
pub mod face_sighting;
pub mod sighting;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::doubt::{near_passes, PlateEvidence};
use crate::face_sighting::FaceSighting;
use crate::sighting::PlateSighting;
use passwatch_base::time::WallTime;
use passwatch_registry::passes::format_time;
use passwatch_registry::site::{Doubtful, Site};
use passwatch_registry::{
    Pass, PassKind, PassSnapshot, PassValidity, SubjectInfo, SubjectStatus, WatchlistSnapshot,
};

/// The id of the rule a plate violation is raised under.
pub const RULE_NO_VALID_PASS: &str = "no_valid_pass";

/// How many near-plate candidates a violation keeps.
pub const MAX_CANDIDATES: usize = 5;

/// Why a plate sighting is a violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationReason {
    /// No vehicle pass for the plate.
    UnknownPlate,
    /// A pass, active and current, that does not allow the camera's zone.
    ZoneNotAllowed,
    /// A pass whose window has not begun.
    NotYetValid,
    /// A pass whose window has ended.
    Expired,
    /// A revoked pass.
    Revoked,
}

impl ViolationReason {
    /// The name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationReason::UnknownPlate => "unknown_plate",
            ViolationReason::ZoneNotAllowed => "zone_not_allowed",
            ViolationReason::NotYetValid => "not_yet_valid",
            ViolationReason::Expired => "expired",
            ViolationReason::Revoked => "revoked",
        }
    }

    fn of(validity: PassValidity) -> Option<ViolationReason> {
        match validity {
            PassValidity::Valid => None,
            PassValidity::ZoneNotAllowed => Some(ViolationReason::ZoneNotAllowed),
            PassValidity::NotYetValid => Some(ViolationReason::NotYetValid),
            PassValidity::Expired => Some(ViolationReason::Expired),
            PassValidity::Revoked => Some(ViolationReason::Revoked),
        }
    }
}

impl fmt::Display for ViolationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pass for a near plate that did not clear the sighting, kept so a reviewer can see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The pass.
    pub pass: Pass,
    /// The edit cost from the read plate to the pass's plate (above 0).
    pub cost: f32,
    /// The probability the track's reads give the pass's plate.
    pub probability: f64,
    /// Why the pass is not valid here and now; `None` for a valid pass that was not probable
    /// enough to clear.
    pub reason: Option<ViolationReason>,
}

/// What a plate sighting is.
#[derive(Clone, Debug, PartialEq)]
pub enum PlateOutcome {
    /// The sighting's camera is not in the site config (a configuration mistake; no event).
    UnknownCamera,
    /// The camera's zone is not restricted at the sighting's time (no event).
    NotRestricted,
    /// The consensus confidence is below the site's minimum (no event; counted as unreadable).
    Unreadable,
    /// A pass for exactly the read plate clears it (no event).
    Valid {
        /// The clearing pass (the first by code, when several do).
        pass: Pass,
    },
    /// A pass for a near plate clears it: benefit of the doubt (no event).
    ClearedByFuzzyMatch {
        /// The clearing pass (the most probable valid one, then lowest cost, then code).
        pass: Pass,
        /// The confusable-aware edit cost from the read plate to the pass's plate.
        cost: f32,
        /// The probability the track's reads give the pass's plate.
        probability: f64,
    },
    /// Neither cleared nor accused: a valid pass is plausible but not probable enough to clear,
    /// or the read is not sure enough of its own plate (`plates.doubtful = "review"`; a
    /// low-priority `needs_review` event).
    NeedsReview {
        /// The probability the track's reads give the consensus plate.
        probability: f64,
        /// The near passes weighed, most probable first (at most [`MAX_CANDIDATES`]).
        candidates: Vec<Candidate>,
    },
    /// No pass clears it: a `no_valid_pass` event.
    Violation {
        /// Why.
        reason: ViolationReason,
        /// The pass for the read plate closest to being valid, if the plate has any.
        matched_pass: Option<Pass>,
        /// The edit cost of `matched_pass` (0, as it is an exact match), none without one.
        cost: Option<f32>,
        /// Passes for near plates that do not clear it either, most probable first, then by
        /// cost and code (at most [`MAX_CANDIDATES`]).
        candidates: Vec<Candidate>,
        /// The probability the track's reads give the consensus plate.
        probability: f64,
    },
}

/// The decision on one plate sighting.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateDecision {
    /// What the sighting is.
    pub outcome: PlateOutcome,
    /// The zone of the camera, when the camera is known.
    pub zone: Option<String>,
    /// The time checked (the sighting's wall time).
    pub checked_at: WallTime,
    /// The registry version the decision was taken against.
    pub registry_version: u64,
    /// One line for a person: why this decision.
    pub explanation: String,
}

impl PlateDecision {
    /// Whether the decision is a violation (a `no_valid_pass` event).
    pub fn is_violation(&self) -> bool {
        matches!(self.outcome, PlateOutcome::Violation { .. })
    }

    /// Whether the decision raises an event: a violation, or a doubtful sighting left for review.
    pub fn raises_event(&self) -> bool {
        matches!(
            self.outcome,
            PlateOutcome::Violation { .. } | PlateOutcome::NeedsReview { .. }
        )
    }

    /// The violation's reason, if it is one.
    pub fn violation_reason(&self) -> Option<ViolationReason> {
        match self.outcome {
            PlateOutcome::Violation { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// Decides what a plate sighting means; see the module docs for the steps.
pub fn decide_plate(sighting: &PlateSighting, site: &Site, passes: &PassSnapshot) -> PlateDecision {
    let at = sighting.wall_time;
    let plate = sighting.plate.as_str();
    let decision = |outcome, zone: Option<&str>, explanation: String| PlateDecision {
        outcome,
        zone: zone.map(str::to_owned),
        checked_at: at,
        registry_version: passes.version,
        explanation,
    };

    let Some(zone) = site.zone_of_camera(&sighting.camera_id) else {
        return decision(
            PlateOutcome::UnknownCamera,
            None,
            format!("camera {} is not in the site config", sighting.camera_id),
        );
    };
    let zone_id = zone.id.as_str();
    if !zone.restricted_at(at) {
        return decision(
            PlateOutcome::NotRestricted,
            Some(zone_id),
            format!("zone {zone_id} not restricted at {}", format_time(at)),
        );
    }
    // NaN confidence is unreadable too.
    if sighting.confidence.is_nan() || sighting.confidence < site.plates.min_confidence {
        return decision(
            PlateOutcome::Unreadable,
            Some(zone_id),
            format!(
                "read {plate} at confidence {:.3}, below the minimum {:.3}",
                sighting.confidence, site.plates.min_confidence
            ),
        );
    }

    let exact: Vec<&Pass> = passes
        .exact(plate)
        .iter()
        .filter(|p| p.kind == PassKind::Vehicle)
        .collect();
    if let Some(pass) = exact
        .iter()
        .find(|p| p.check(zone_id, at) == PassValidity::Valid)
    {
        return decision(
            PlateOutcome::Valid {
                pass: (*pass).clone(),
            },
            Some(zone_id),
            format!(
                "pass {} for {} valid until {} in zone {zone_id}",
                pass.code,
                plate_of(pass),
                format_time(pass.valid_until)
            ),
        );
    }

    let settings = &site.plates;
    let evidence = PlateEvidence::of(sighting);
    let read_probability = evidence.probability(plate);
    let near = near_passes(sighting, passes, settings.fuzzy_max_cost, &evidence);
    let clear_at = settings.clear_threshold(passes.plate_count());
    // `near` is sorted by probability (highest first), then cost, then code.
    let best_valid = near
        .iter()
        .find(|c| c.pass.check(zone_id, at) == PassValidity::Valid);
    if let Some(best) = best_valid.filter(|b| b.probability >= clear_at) {
        return decision(
            PlateOutcome::ClearedByFuzzyMatch {
                pass: best.pass.clone(),
                cost: best.cost,
                probability: best.probability,
            },
            Some(zone_id),
            format!(
                "read {plate} cleared by pass {} for {}: the reads give that plate probability \
                 {}, at least the {} that clears in a registry of {} plates (edits: {})",
                best.pass.code,
                plate_of(best.pass),
                prob3(best.probability),
                prob3(clear_at),
                passes.plate_count(),
                describe_edits(plate, plate_of(best.pass))
            ),
        );
    }

    let candidates: Vec<Candidate> = near
        .iter()
        .map(|c| Candidate {
            pass: c.pass.clone(),
            cost: c.cost,
            probability: c.probability,
            reason: ViolationReason::of(c.pass.check(zone_id, at)),
        })
        .take(MAX_CANDIDATES)
        .collect();

    let doubt_at = settings.doubt_threshold(passes.plate_count());
    let plausible = best_valid.filter(|b| b.probability >= doubt_at);
    if plausible.is_some() || read_probability < settings.accuse_probability {
        let why = match plausible {
            Some(b) => format!(
                "pass {} for {} is plausible (probability {}, clears at {})",
                b.pass.code,
                plate_of(b.pass),
                prob3(b.probability),
                prob3(clear_at)
            ),
            None => format!(
                "the reads give it probability {}, below the {} an accusation needs",
                prob3(read_probability),
                prob3(settings.accuse_probability)
            ),
        };
        let explanation = format!("read {plate} is doubtful: {why}");
        return match settings.doubtful {
            Doubtful::Review => decision(
                PlateOutcome::NeedsReview {
                    probability: read_probability,
                    candidates,
                },
                Some(zone_id),
                explanation,
            ),
            Doubtful::Unreadable => decision(PlateOutcome::Unreadable, Some(zone_id), explanation),
        };
    }

    let closest = exact
        .iter()
        .filter_map(|p| ViolationReason::of(p.check(zone_id, at)).map(|r| (*p, r)))
        .min_by_key(|(p, r)| {
            (
                closeness_rank(*r),
                distance_from_window(p, at),
                p.code.clone(),
            )
        });

    let (reason, matched_pass, cost, mut explanation) = match closest {
        Some((pass, reason)) => {
            let mut e = format!(
                "pass {} for {} {}",
                pass.code,
                plate_of(pass),
                reason_phrase(pass, reason, zone_id)
            );
            if exact.len() > 1 {
                let others = exact.len() - 1;
                e.push_str(&format!(
                    " (closest to valid of {} passes for the plate; the other{} not valid either)",
                    exact.len(),
                    if others == 1 { " is" } else { "s are" }
                ));
            }
            (reason, Some(pass.clone()), Some(0.0), e)
        }
        None => (
            ViolationReason::UnknownPlate,
            None,
            None,
            format!("no pass for plate {plate}"),
        ),
    };
    explanation.push_str(&format!(
        "; the reads give {plate} probability {}",
        prob3(read_probability)
    ));
    if let Some(c) = candidates.first() {
        explanation.push_str(&format!(
            "; nearest other plate: pass {} for {} (probability {}, edits: {}) {}",
            c.pass.code,
            plate_of(&c.pass),
            prob3(c.probability),
            describe_edits(plate, plate_of(&c.pass)),
            match c.reason {
                Some(r) => reason_phrase(&c.pass, r, zone_id),
                None => "valid, but not plausible".to_owned(),
            }
        ));
    }
    decision(
        PlateOutcome::Violation {
            reason,
            matched_pass,
            cost,
            candidates,
            probability: read_probability,
        },
        Some(zone_id),
        explanation,
    )
}

/// A probability for a person: 3 decimals, or 2 significant digits in scientific notation when
/// 3 decimals would show 0.
fn prob3(p: f64) -> String {
    if p > 0.0 && p < 0.0005 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

fn plate_of(p: &Pass) -> &str {
    p.plate.as_deref().unwrap_or("")
}

/// Lower is closer to valid; see the module docs.
fn closeness_rank(r: ViolationReason) -> u8 {
    match r {
        ViolationReason::ZoneNotAllowed => 0,
        ViolationReason::NotYetValid | ViolationReason::Expired => 1,
        ViolationReason::Revoked => 2,
        ViolationReason::UnknownPlate => 3,
    }
}

/// How far `at` is outside the pass's window (0 inside it).
fn distance_from_window(p: &Pass, at: WallTime) -> chrono::TimeDelta {
    if at < p.valid_from {
        p.valid_from - at
    } else if at > p.valid_until {
        at - p.valid_until
    } else {
        chrono::TimeDelta::zero()
    }
}

fn reason_phrase(p: &Pass, reason: ViolationReason, zone: &str) -> String {
    match reason {
        ViolationReason::Expired => format!("expired at {}", format_time(p.valid_until)),
        ViolationReason::NotYetValid => format!("not valid until {}", format_time(p.valid_from)),
        ViolationReason::Revoked => "is revoked".to_owned(),
        ViolationReason::ZoneNotAllowed => {
            format!("does not allow zone {zone} (allows {})", p.zones)
        }
        ViolationReason::UnknownPlate => "unknown".to_owned(),
    }
}

/// The cheapest edits from the read plate to the pass's plate, for a person: `O/0` is a read
/// `O` where the pass has `0`, `+X` a character the read missed, `-X` one the read has extra.
pub fn describe_edits(read: &str, pass_plate: &str) -> String {
    use passwatch_plate_reader::text::substitution_cost;
    let a: Vec<char> = read.chars().collect();
    let b: Vec<char> = pass_plate.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0.0f32; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i as f32;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j as f32;
    }
    for i in 1..=n {
        for j in 1..=m {
            d[i][j] = (d[i - 1][j - 1] + substitution_cost(a[i - 1], b[j - 1]))
                .min(d[i - 1][j] + 1.0)
                .min(d[i][j - 1] + 1.0);
        }
    }
    let mut edits = Vec::new();
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        if i > 0 && j > 0 && d[i][j] == d[i - 1][j - 1] + substitution_cost(a[i - 1], b[j - 1]) {
            if a[i - 1] != b[j - 1] {
                edits.push(format!("{}/{}", a[i - 1], b[j - 1]));
            }
            i -= 1;
            j -= 1;
        } else if i > 0 && d[i][j] == d[i - 1][j] + 1.0 {
            edits.push(format!("-{}", a[i - 1]));
            i -= 1;
        } else {
            edits.push(format!("+{}", b[j - 1]));
            j -= 1;
        }
    }
    edits.reverse();
    if edits.is_empty() {
        "identical".to_owned()
    } else {
        edits.join(", ")
    }
}

/// The id of the rule a stay-home breach is raised under.
pub const RULE_STAY_HOME_BREACH: &str = "stay_home_breach";

/// The similarity a face match must be above, and the false-accept rate it stands for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceThreshold {
    /// Cosine similarity; a match is accepted when strictly above it.
    pub cosine: f32,
    /// The false-accept rate the threshold was measured at on labelled data, when it was set
    /// from a rate; `None` for a threshold set by hand, which events report as not measured.
    pub far: Option<f64>,
}

impl FaceThreshold {
    /// Whether a similarity is above the threshold (strictly; NaN never is).
    pub fn accepts(&self, similarity: f32) -> bool {
        similarity > self.cosine
    }

    /// `FAR 1e-4`, or `FAR not measured`.
    fn far_phrase(&self) -> String {
        match self.far {
            Some(far) => format!("FAR {far:e}"),
            None => "FAR not measured".to_owned(),
        }
    }
}

/// What a face sighting is.
#[derive(Clone, Debug, PartialEq)]
pub enum FaceOutcome {
    /// The sighting's camera is not in the site config (a configuration mistake; no event).
    UnknownCamera,
    /// No usable face, no match, or the best match not above the threshold (no event).
    NoMatch,
    /// The face matches a subject whose order is not in force at that time, or who is inactive
    /// (no event).
    NotInForce {
        /// The subject.
        subject_id: String,
        /// The similarity of the match.
        similarity: f32,
    },
    /// The face matches a subject, seen by a camera of their home zone (no event).
    HomeZone {
        /// The subject.
        subject_id: String,
        /// The similarity of the match.
        similarity: f32,
    },
    /// The face matches a subject whose order is in force, outside their home zone: a
    /// `stay_home_breach` event, pending review.
    Breach {
        /// The subject.
        subject_id: String,
        /// The similarity of the match.
        similarity: f32,
    },
}

/// The decision on one face sighting.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceDecision {
    /// What the sighting is.
    pub outcome: FaceOutcome,
    /// The zone of the camera, when the camera is known.
    pub zone: Option<String>,
    /// The time checked (the sighting's wall time).
    pub checked_at: WallTime,
    /// The registry version of the watchlist the decision was taken against.
    pub registry_version: u64,
    /// The threshold applied.
    pub threshold: FaceThreshold,
    /// Face-to-reference comparisons behind the decision (faces of the track × reference
    /// embeddings in the watchlist). The false-accept rate is per comparison: the chance that a
    /// passer-by matches *someone* grows with this number, up to `far × comparisons`.
    pub comparisons: u64,
    /// The matched subject as the watchlist holds it, for [`FaceOutcome::NotInForce`],
    /// [`FaceOutcome::HomeZone`] and [`FaceOutcome::Breach`].
    pub subject: Option<SubjectInfo>,
    /// One line for a person: why this decision.
    pub explanation: String,
}

impl FaceDecision {
    /// Whether the decision raises an event (only breaches do).
    pub fn is_breach(&self) -> bool {
        matches!(self.outcome, FaceOutcome::Breach { .. })
    }
}

/// Decides what a face sighting means; see [Faces](#faces) in the module docs for the steps.
pub fn decide_face(
    sighting: &FaceSighting,
    site: &Site,
    watchlist: &WatchlistSnapshot,
    threshold: FaceThreshold,
) -> FaceDecision {
    let at = sighting.wall_time;
    let comparisons = (sighting.faces.len() * watchlist.index().references()) as u64;
    let decision =
        |outcome, zone: Option<&str>, subject: Option<&SubjectInfo>, explanation| FaceDecision {
            outcome,
            zone: zone.map(str::to_owned),
            checked_at: at,
            registry_version: watchlist.version,
            threshold,
            comparisons,
            subject: subject.cloned(),
            explanation,
        };

    let Some(zone) = site.zone_of_camera(&sighting.camera_id) else {
        return decision(
            FaceOutcome::UnknownCamera,
            None,
            None,
            format!("camera {} is not in the site config", sighting.camera_id),
        );
    };
    let zone_id = zone.id.as_str();
    let no_match = |explanation| decision(FaceOutcome::NoMatch, Some(zone_id), None, explanation);
    if sighting.faces.is_empty() {
        return no_match("no face of the track was good enough to match".to_owned());
    }
    let Some(best) = &sighting.best_match else {
        return no_match(if watchlist.is_empty() {
            format!(
                "no watchlist subject to match (watchlist version {} is empty)",
                watchlist.version
            )
        } else {
            "no watchlist subject matched".to_owned()
        });
    };
    let (similarity, cosine) = similarity_and_threshold(best.similarity, threshold.cosine);
    if !threshold.accepts(best.similarity) {
        return no_match(format!(
            "best similarity {similarity} over {} is not above the threshold {cosine} ({})",
            faces_phrase(sighting.faces.len()),
            threshold.far_phrase()
        ));
    }
    let Some(subject) = watchlist.subject(&best.subject_id) else {
        // Names nobody: a non-match never says whom a passer-by resembled.
        return no_match(format!(
            "the best match is not a subject of watchlist version {} (index and subjects disagree)",
            watchlist.version
        ));
    };
    let id = subject.subject_id.clone();
    let matched = format!(
        "face matches subject {id} (similarity {similarity} > threshold {cosine}, {}, best of {} over {comparisons} comparisons)",
        match threshold.far {
            Some(_) => format!("{} per comparison", threshold.far_phrase()),
            None => threshold.far_phrase(),
        },
        faces_phrase(sighting.faces.len())
    );
    let window = format!(
        "{} until {}",
        format_time(subject.order_from),
        format_time(subject.order_until)
    );
    let found = |outcome, explanation| decision(outcome, Some(zone_id), Some(subject), explanation);
    if subject.status != SubjectStatus::Active {
        return found(
            FaceOutcome::NotInForce {
                subject_id: id,
                similarity: best.similarity,
            },
            format!("{matched}, but the subject's order is {}", subject.status),
        );
    }
    if !subject.order_window_open(at) {
        return found(
            FaceOutcome::NotInForce {
                subject_id: id,
                similarity: best.similarity,
            },
            format!(
                "{matched}, but the order ({window}) is not in force at {}",
                format_time(at)
            ),
        );
    }
    if subject.home_zone == zone_id {
        return found(
            FaceOutcome::HomeZone {
                subject_id: id,
                similarity: best.similarity,
            },
            format!(
                "{matched} on camera {} in the subject's home zone {zone_id}",
                sighting.camera_id
            ),
        );
    }
    found(
        FaceOutcome::Breach {
            subject_id: id,
            similarity: best.similarity,
        },
        format!(
            "{matched} on camera {} in zone {zone_id}, outside home zone {}, while the order is \
             in force ({window})",
            sighting.camera_id, subject.home_zone
        ),
    )
}

fn faces_phrase(n: usize) -> String {
    if n == 1 {
        "1 face".to_owned()
    } else {
        format!("{n} faces")
    }
}

/// The similarity and the threshold for a person: 3 decimals, or 6 where 3 would show them equal.
fn similarity_and_threshold(similarity: f32, threshold: f32) -> (String, String) {
    let (s, t) = (format!("{similarity:.3}"), format!("{threshold:.3}"));
    if s == t && similarity != threshold {
        (format!("{similarity:.6}"), format!("{threshold:.6}"))
    } else {
        (s, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passwatch_base::time::MediaTime;
    use passwatch_plate_reader::text::plate_distance;
    use passwatch_registry::{PassStatus, ZoneSet};
    use proptest::prelude::*;

    const SITE: &str = r#"
        [plates]
        fuzzy_max_cost = 1.0
        min_confidence = 0.5
        [[cameras]]
        id = "cam"
        zone = "centre"
        [[cameras]]
        id = "cam-open"
        zone = "open"
        [[zones]]
        id = "centre"
        [[zones.restrictions]]
        [[zones]]
        id = "open"
    "#;

    const NOW: &str = "2026-04-10T12:00:00Z";

    fn site() -> Site {
        Site::from_toml_str(SITE, "site.toml").unwrap()
    }

    fn t(s: &str) -> WallTime {
        s.parse().unwrap()
    }

    fn sighting(camera: &str, plate: &str, confidence: f32) -> PlateSighting {
        PlateSighting {
            camera_id: camera.into(),
            source: "file:///clip.mp4".into(),
            source_key: "file:///clip.mp4".into(),
            track_id: 7,
            first_seen: MediaTime::from_secs_f64(12.0),
            last_seen: MediaTime::from_secs_f64(13.5),
            wall_time: t(NOW),
            plate: plate.into(),
            region: Some("us".into()),
            confidence,
            reads: Vec::new(),
            images: None,
        }
    }

    fn pass(code: &str, plate: &str) -> Pass {
        Pass {
            code: format!("{code:0>16}"),
            kind: PassKind::Vehicle,
            plate: Some(plate.into()),
            region: None,
            valid_from: t("2026-04-01T00:00:00Z"),
            valid_until: t("2026-04-30T23:59:59Z"),
            zones: ZoneSet::All,
            purpose: String::new(),
            status: PassStatus::Active,
            holder_ref: String::new(),
            version: 4,
        }
    }

    fn expired(p: Pass) -> Pass {
        Pass {
            valid_from: t("2026-03-01T00:00:00Z"),
            valid_until: t("2026-03-31T23:59:59Z"),
            ..p
        }
    }

    fn decide(plate: &str, passes: Vec<Pass>) -> PlateDecision {
        decide_plate(
            &sighting("cam", plate, 0.9),
            &site(),
            &PassSnapshot::from_passes(4, passes),
        )
    }

    #[test]
    fn not_restricted() {
        let d = decide_plate(
            &sighting("cam-open", "ABC123", 0.9),
            &site(),
            &PassSnapshot::from_passes(4, vec![]),
        );
        assert_eq!(d.outcome, PlateOutcome::NotRestricted);
        assert_eq!(
            d.explanation,
            "zone open not restricted at 2026-04-10T12:00:00Z"
        );
        assert_eq!(d.registry_version, 4);
        assert!(!d.is_violation());
    }

    #[test]
    fn unknown_camera() {
        let d = decide_plate(
            &sighting("nope", "ABC123", 0.9),
            &site(),
            &PassSnapshot::default(),
        );
        assert_eq!(d.outcome, PlateOutcome::UnknownCamera);
        assert_eq!(d.zone, None);
    }

    #[test]
    fn unreadable() {
        let d = decide_plate(
            &sighting("cam", "ABC123", 0.41),
            &site(),
            &PassSnapshot::default(),
        );
        assert_eq!(d.outcome, PlateOutcome::Unreadable);
        assert_eq!(
            d.explanation,
            "read ABC123 at confidence 0.410, below the minimum 0.500"
        );
        let nan = decide_plate(
            &sighting("cam", "ABC123", f32::NAN),
            &site(),
            &PassSnapshot::default(),
        );
        assert_eq!(nan.outcome, PlateOutcome::Unreadable);
    }

    #[test]
    fn valid_exact() {
        let d = decide("ABC123", vec![pass("A", "ABC123")]);
        assert!(matches!(d.outcome, PlateOutcome::Valid { ref pass } if pass.code.ends_with('A')));
        assert_eq!(
            d.explanation,
            "pass 000000000000000A for ABC123 valid until 2026-04-30T23:59:59Z in zone centre"
        );
    }

    #[test]
    fn cleared_by_fuzzy_match() {
        let d = decide("ABC1O3", vec![pass("A", "ABC103"), pass("B", "ABC1X3")]);
        match &d.outcome {
            PlateOutcome::ClearedByFuzzyMatch {
                pass,
                cost,
                probability,
            } => {
                assert_eq!(pass.plate.as_deref(), Some("ABC103"));
                assert_eq!(*cost, 0.25);
                assert!(*probability > 0.3, "{probability}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            d.explanation.starts_with(
                "read ABC1O3 cleared by pass 000000000000000A for ABC103: the reads give that \
                 plate probability 0."
            ),
            "{}",
            d.explanation
        );
        assert!(
            d.explanation
                .ends_with("that clears in a registry of 2 plates (edits: O/0)"),
            "{}",
            d.explanation
        );
        assert!(!d.is_violation());
    }

    #[test]
    fn exact_invalid_but_near_valid_still_clears() {
        let d = decide(
            "ABC1O3",
            vec![expired(pass("A", "ABC1O3")), pass("B", "ABC103")],
        );
        assert!(
            matches!(d.outcome, PlateOutcome::ClearedByFuzzyMatch { .. }),
            "{d:?}"
        );
    }

    /// A sighting of one read of `text` whose characters are read at 0.99, each with one
    /// runner-up at 0.01 (`K`, or `X` for a `K`): the shape of a sharp read's step distributions.
    fn sharp(text: &str) -> PlateSighting {
        use passwatch_plate_reader::ctc::CtcChar;
        use passwatch_plate_reader::likelihood::{CtcLattice, LATIN_ALNUM};
        let chars: Vec<CtcChar> = text
            .chars()
            .map(|ch| CtcChar {
                ch,
                confidence: 0.99,
                runner_up: Some((if ch == 'K' { 'X' } else { 'K' }, 0.01)),
            })
            .collect();
        let mut s = track(&[text], 0.99);
        s.reads[0].lattice = Some(std::sync::Arc::new(CtcLattice::from_chars(
            &chars,
            LATIN_ALNUM,
        )));
        s
    }

    #[test]
    fn a_confident_read_of_another_plate_is_not_cleared() {
        // One non-confusable character away, read sharply: the pass's plate is implausible.
        let d = decide_plate(
            &sharp("ABC1X3"),
            &site(),
            &PassSnapshot::from_passes(4, vec![pass("A", "ABC1Y3")]),
        );
        assert_eq!(d.violation_reason(), Some(ViolationReason::UnknownPlate));
        assert!(
            d.explanation
                .starts_with("no pass for plate ABC1X3; the reads give ABC1X3 probability 0."),
            "{}",
            d.explanation
        );
        assert!(
            d.explanation
                .ends_with("edits: X/Y) valid, but not plausible"),
            "{}",
            d.explanation
        );
        match &d.outcome {
            PlateOutcome::Violation {
                candidates,
                probability,
                ..
            } => {
                assert!(*probability > 0.5, "{probability}");
                assert_eq!(candidates.len(), 1);
                assert_eq!(candidates[0].reason, None);
                assert!(candidates[0].probability < 1e-9);
            }
            other => panic!("{other:?}"),
        }
        // The runner-up's plate is no more than plausible: a doubt, not a clearance.
        let d = decide_plate(
            &sharp("ABC1X3"),
            &site(),
            &PassSnapshot::from_passes(4, vec![pass("A", "ABC1K3")]),
        );
        assert!(
            matches!(d.outcome, PlateOutcome::NeedsReview { .. }),
            "{d:?}"
        );
    }

    /// A sighting whose reads are `texts`, each at `confidence`.
    fn track(texts: &[&str], confidence: f32) -> PlateSighting {
        let mut s = sighting("cam", texts[0], confidence);
        s.reads = texts
            .iter()
            .enumerate()
            .map(|(i, t)| crate::sighting::PlateRead {
                media_time: MediaTime::from_secs_f64(12.0 + i as f64 * 0.2),
                text: (*t).to_owned(),
                confidence,
                bbox_in_frame: passwatch_plate_reader::geometry::BBox::new(0.0, 0.0, 90.0, 30.0),
                weight: 1.0,
                lattice: None,
            })
            .collect();
        s
    }

    #[test]
    fn a_track_whose_reads_disagree_is_uncertain() {
        let agreeing = track(&["ABC123", "ABC123", "ABC123", "ABC123"], 0.9);
        let split = track(&["ABC123", "XYZ789", "ABC123", "XYZ789"], 0.9);
        let (whole, a, b) = (
            PlateEvidence::of(&agreeing).probability("ABC123"),
            PlateEvidence::of(&split).probability("ABC123"),
            PlateEvidence::of(&split).probability("XYZ789"),
        );
        assert!(
            (a - whole / 2.0).abs() < 1e-9 && (a - b).abs() < 0.01,
            "{whole} {a} {b}"
        );
        // A valid pass for the other half's plate is plausible: no accusation.
        let snapshot = PassSnapshot::from_passes(1, vec![pass("A", "XYZ789")]);
        let d = decide_plate(&split, &site(), &snapshot);
        assert!(!d.is_violation(), "{d:?}");
        // Reads that mostly miss their own plate are not sure enough to accuse.
        let unsure = track(&["ABC123", "XYZ789", "KLM456", "QRS345", "TUV678"], 0.9);
        let d = decide_plate(&unsure, &site(), &PassSnapshot::default());
        assert!(
            matches!(d.outcome, PlateOutcome::NeedsReview { .. }),
            "{d:?}"
        );
        assert!(d.raises_event() && !d.is_violation());
        assert!(
            d.explanation
                .contains("below the 0.200 an accusation needs"),
            "{}",
            d.explanation
        );
    }

    #[test]
    fn the_decision_does_not_depend_on_the_order_of_the_reads() {
        let texts = ["ABC1O3", "ABC103", "A8C103", "ABC1O3", "ABCI03"];
        let passes =
            PassSnapshot::from_passes(1, vec![pass("A", "ABC103"), expired(pass("B", "A8C1O3"))]);
        let first = decide_plate(&track(&texts, 0.8), &site(), &passes);
        let mut order = texts;
        for k in 0..texts.len() {
            order.rotate_left(1);
            if k % 2 == 1 {
                order.reverse();
            }
            let mut s = track(&order, 0.8);
            s.plate = texts[0].to_owned();
            let d = decide_plate(&s, &site(), &passes);
            assert_eq!(d.outcome, first.outcome, "order {order:?}");
            assert_eq!(d.explanation, first.explanation);
        }
    }

    #[test]
    fn a_doubtful_sighting_can_be_counted_as_unreadable() {
        let site = Site::from_toml_str(
            &SITE.replace(
                "min_confidence = 0.5",
                "min_confidence = 0.5\ndoubtful = \"unreadable\"",
            ),
            "site.toml",
        )
        .unwrap();
        let unsure = track(&["ABC123", "XYZ789", "KLM456", "QRS345", "TUV678"], 0.9);
        let d = decide_plate(&unsure, &site, &PassSnapshot::default());
        assert_eq!(d.outcome, PlateOutcome::Unreadable);
        assert!(!d.raises_event());
    }

    #[test]
    fn a_larger_registry_needs_more_certainty() {
        let s = &site().plates;
        assert_eq!(s.clear_threshold(10), s.clear_threshold(1000));
        assert!((s.clear_threshold(1_000_000) - 0.2).abs() < 1e-9);
        assert!((s.doubt_threshold(1_000_000) - 0.01).abs() < 1e-9);
        assert!(s.doubt_threshold(1_000_000_000) <= s.clear_threshold(1_000_000_000));
    }

    #[test]
    fn unknown_plate_lists_near_candidates() {
        let d = decide("ABC1O3", vec![expired(pass("A", "ABC103"))]);
        match &d.outcome {
            PlateOutcome::Violation {
                reason,
                matched_pass,
                cost,
                candidates,
                ..
            } => {
                assert_eq!(*reason, ViolationReason::UnknownPlate);
                assert!(matched_pass.is_none() && cost.is_none());
                assert_eq!(candidates.len(), 1);
                assert_eq!(candidates[0].reason, Some(ViolationReason::Expired));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            d.explanation
                .starts_with("no pass for plate ABC1O3; the reads give ABC1O3 probability"),
            "{}",
            d.explanation
        );
        assert!(
            d.explanation
                .ends_with("edits: O/0) expired at 2026-03-31T23:59:59Z"),
            "{}",
            d.explanation
        );
    }

    #[test]
    fn expired_pass() {
        let d = decide("ABC123", vec![expired(pass("A", "ABC123"))]);
        assert_eq!(d.violation_reason(), Some(ViolationReason::Expired));
        assert!(
            d.explanation.starts_with(
                "pass 000000000000000A for ABC123 expired at 2026-03-31T23:59:59Z; the reads give \
                 ABC123 probability 0."
            ),
            "{}",
            d.explanation
        );
        match d.outcome {
            PlateOutcome::Violation {
                matched_pass, cost, ..
            } => {
                assert!(matched_pass.is_some());
                assert_eq!(cost, Some(0.0));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn not_yet_valid() {
        let p = Pass {
            valid_from: t("2026-04-11T00:00:00Z"),
            ..pass("A", "ABC123")
        };
        let d = decide("ABC123", vec![p]);
        assert_eq!(d.violation_reason(), Some(ViolationReason::NotYetValid));
        assert!(
            d.explanation.starts_with(
                "pass 000000000000000A for ABC123 not valid until 2026-04-11T00:00:00Z"
            ),
            "{}",
            d.explanation
        );
    }

    #[test]
    fn revoked() {
        let p = Pass {
            status: PassStatus::Revoked,
            ..pass("A", "ABC123")
        };
        let d = decide("ABC123", vec![p]);
        assert_eq!(d.violation_reason(), Some(ViolationReason::Revoked));
        assert!(d
            .explanation
            .starts_with("pass 000000000000000A for ABC123 is revoked; the reads give"));
    }

    #[test]
    fn zone_not_allowed() {
        let p = Pass {
            zones: ZoneSet::parse("north;south").unwrap(),
            ..pass("A", "ABC123")
        };
        let d = decide("ABC123", vec![p]);
        assert_eq!(d.violation_reason(), Some(ViolationReason::ZoneNotAllowed));
        assert!(
            d.explanation.starts_with(
                "pass 000000000000000A for ABC123 does not allow zone centre (allows north, south)"
            ),
            "{}",
            d.explanation
        );
    }

    #[test]
    fn several_passes_report_the_closest_to_valid() {
        let revoked = Pass {
            status: PassStatus::Revoked,
            ..pass("A", "ABC123")
        };
        let old = expired(pass("B", "ABC123"));
        let older = Pass {
            valid_from: t("2025-01-01T00:00:00Z"),
            valid_until: t("2025-02-01T00:00:00Z"),
            ..pass("C", "ABC123")
        };
        let wrong_zone = Pass {
            zones: ZoneSet::parse("north").unwrap(),
            ..pass("D", "ABC123")
        };
        let all = vec![revoked.clone(), old.clone(), older.clone(), wrong_zone];
        assert_eq!(
            decide("ABC123", all).violation_reason(),
            Some(ViolationReason::ZoneNotAllowed)
        );
        let d = decide("ABC123", vec![revoked.clone(), older, old]);
        assert_eq!(d.violation_reason(), Some(ViolationReason::Expired));
        assert!(
            d.explanation.starts_with("pass 000000000000000B "),
            "{}",
            d.explanation
        );
        assert!(d
            .explanation
            .contains("of 3 passes for the plate; the others are not valid either); the reads"));
        assert_eq!(
            decide("ABC123", vec![revoked]).violation_reason(),
            Some(ViolationReason::Revoked)
        );
    }

    #[test]
    fn fuzzy_off_when_max_cost_is_zero() {
        let site = Site::from_toml_str(
            &SITE.replace("fuzzy_max_cost = 1.0", "fuzzy_max_cost = 0.0"),
            "site.toml",
        )
        .unwrap();
        let d = decide_plate(
            &sighting("cam", "ABC1O3", 0.9),
            &site,
            &PassSnapshot::from_passes(1, vec![pass("A", "ABC103")]),
        );
        assert_eq!(d.violation_reason(), Some(ViolationReason::UnknownPlate));
    }

    #[test]
    fn describes_edits() {
        assert_eq!(describe_edits("ABC1O3", "ABC103"), "O/0");
        assert_eq!(describe_edits("A8C12", "ABC123"), "8/B, +3");
        assert_eq!(describe_edits("ABC1234", "ABC123"), "-4");
        assert_eq!(describe_edits("ABC", "ABC"), "identical");
    }

    fn arb_pass() -> impl Strategy<Value = Pass> {
        (
            "[AB8O0S5X]{3,5}",
            0u8..4,
            prop::bool::ANY,
            prop::bool::ANY,
            0u32..1000,
        )
            .prop_map(|(plate, window, revoked, zone_ok, code)| {
                let base = pass(&code.to_string(), &plate);
                let base = match window {
                    0 => expired(base),
                    1 => Pass {
                        valid_from: t("2026-04-11T00:00:00Z"),
                        ..base
                    },
                    _ => base,
                };
                Pass {
                    status: if revoked {
                        PassStatus::Revoked
                    } else {
                        PassStatus::Active
                    },
                    zones: if zone_ok {
                        ZoneSet::All
                    } else {
                        ZoneSet::parse("north").unwrap()
                    },
                    ..base
                }
            })
    }

    fn dedup_codes(mut passes: Vec<Pass>) -> Vec<Pass> {
        passes.sort_by(|a, b| a.code.cmp(&b.code));
        passes.dedup_by(|a, b| a.code == b.code);
        passes
    }

    proptest! {
        #[test]
        fn clearing_and_accusing_respect_the_thresholds(
            passes in proptest::collection::vec(arb_pass(), 0..30),
            read in "[AB8O0S5X]{3,5}",
            max_cost in 0.0f32..2.0,
            confidence in 0.5f32..1.0,
        ) {
            let site = Site::from_toml_str(
                &SITE.replace("fuzzy_max_cost = 1.0", &format!("fuzzy_max_cost = {max_cost}")),
                "site.toml",
            ).unwrap();
            let snapshot = PassSnapshot::from_passes(1, dedup_codes(passes));
            let s = sighting("cam", &read, confidence);
            let d = decide_plate(&s, &site, &snapshot);
            let evidence = PlateEvidence::of(&s);
            let valid = |p: &Pass| p.check("centre", t(NOW)) == PassValidity::Valid;
            let any_exact_valid = snapshot.exact(&read).iter().any(valid);
            let n = snapshot.plate_count();
            // Every valid pass within reach, with the probability the read gives its plate.
            let reachable: Vec<f64> = snapshot
                .passes()
                .iter()
                .filter(|p| valid(p) && p.plate.as_deref() != Some(read.as_str()))
                .filter(|p| plate_distance(&read, p.plate.as_deref().unwrap()) <= site.plates.fuzzy_max_cost)
                .map(|p| evidence.probability(p.plate.as_deref().unwrap()))
                .collect();
            let best = reachable.iter().copied().fold(0.0f64, f64::max);
            match &d.outcome {
                PlateOutcome::ClearedByFuzzyMatch { pass, cost, probability } => {
                    prop_assert!(*cost > 0.0 && *cost <= site.plates.fuzzy_max_cost);
                    prop_assert_eq!(*cost, plate_distance(&read, pass.plate.as_deref().unwrap()));
                    prop_assert!(valid(pass));
                    prop_assert!(*probability >= site.plates.clear_threshold(n));
                    prop_assert_eq!(*probability, best);
                    prop_assert!(!any_exact_valid);
                }
                PlateOutcome::Valid { .. } => prop_assert!(any_exact_valid),
                PlateOutcome::Violation { candidates, probability, .. } => {
                    prop_assert!(!any_exact_valid);
                    prop_assert!(best < site.plates.doubt_threshold(n), "{} {:?}", best, d);
                    prop_assert!(*probability >= site.plates.accuse_probability);
                    prop_assert!(candidates.iter().all(|c| c.cost <= site.plates.fuzzy_max_cost));
                }
                PlateOutcome::NeedsReview { probability, .. } => {
                    prop_assert!(!any_exact_valid);
                    prop_assert!(best < site.plates.clear_threshold(n));
                    prop_assert!(
                        best >= site.plates.doubt_threshold(n)
                            || *probability < site.plates.accuse_probability
                    );
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }

        #[test]
        fn a_valid_exact_pass_always_clears(
            passes in proptest::collection::vec(arb_pass(), 0..30),
            read in "[AB8O0S5X]{3,5}",
        ) {
            let mut passes = dedup_codes(passes);
            passes.push(pass("VALIDPASS", &read));
            let d = decide_plate(
                &sighting("cam", &read, 0.9),
                &site(),
                &PassSnapshot::from_passes(1, passes),
            );
            prop_assert!(matches!(d.outcome, PlateOutcome::Valid { .. }), "{:?}", d);
        }
    }
}

#[cfg(test)]
mod face_tests {
    use super::*;
    use crate::face_sighting::{FaceMatch, FaceUsed};
    use passwatch_base::time::MediaTime;
    use passwatch_face_matcher::Embedding;

    const SITE: &str = r#"
        [[cameras]]
        id = "gate-north"
        zone = "centre"
        analyses = ["faces"]
        [[cameras]]
        id = "home-cam"
        zone = "north"
        analyses = ["faces"]
        [[zones]]
        id = "centre"
        [[zones]]
        id = "north"
    "#;

    const THRESHOLD: FaceThreshold = FaceThreshold {
        cosine: 0.43,
        far: Some(1e-4),
    };

    fn t(s: &str) -> WallTime {
        s.parse().unwrap()
    }

    fn site() -> Site {
        Site::from_toml_str(SITE, "site.toml").unwrap()
    }

    fn subject(id: &str, status: SubjectStatus) -> SubjectInfo {
        SubjectInfo {
            subject_id: id.into(),
            order_from: t("2026-04-01T00:00:00Z"),
            order_until: t("2026-05-01T00:00:00Z"),
            home_zone: "north".into(),
            status,
            embeddings: 1,
            model_id: Some("m".into()),
            version: 6,
        }
    }

    fn watchlist() -> WatchlistSnapshot {
        let e = |axis: usize| {
            let mut v = vec![0.0f32; 4];
            v[axis] = 1.0;
            Embedding::from_raw("m", v).unwrap()
        };
        WatchlistSnapshot::new(
            7,
            "m",
            vec![
                (subject("S-17", SubjectStatus::Active), vec![e(0)]),
                (subject("S-18", SubjectStatus::Inactive), vec![e(1)]),
            ],
        )
        .unwrap()
    }

    fn sighting(camera: &str, at: &str, best: Option<(&str, f32)>, faces: usize) -> FaceSighting {
        FaceSighting {
            camera_id: camera.into(),
            source: "/clips/north.mp4".into(),
            source_key: "north.mp4:1234".into(),
            track_id: 2,
            first_seen: MediaTime::from_secs_f64(4.0),
            last_seen: MediaTime::from_secs_f64(6.5),
            wall_time: t(at),
            faces: (0..faces)
                .map(|i| FaceUsed {
                    media_time: MediaTime::from_secs_f64(4.0 + i as f64 * 0.5),
                    quality: 0.8,
                })
                .collect(),
            best_match: best.map(|(id, similarity)| FaceMatch {
                subject_id: id.into(),
                similarity,
            }),
            images: None,
        }
    }

    const NOW: &str = "2026-04-10T12:00:00Z";

    fn decide(s: &FaceSighting) -> FaceDecision {
        decide_face(s, &site(), &watchlist(), THRESHOLD)
    }

    #[test]
    fn breach() {
        let d = decide(&sighting("gate-north", NOW, Some(("S-17", 0.58)), 3));
        assert_eq!(
            d.outcome,
            FaceOutcome::Breach {
                subject_id: "S-17".into(),
                similarity: 0.58
            }
        );
        assert!(d.is_breach());
        assert_eq!(d.zone.as_deref(), Some("centre"));
        assert_eq!(d.registry_version, 7);
        assert_eq!(d.subject.as_ref().unwrap().home_zone, "north");
        assert_eq!(
            d.explanation,
            "face matches subject S-17 (similarity 0.580 > threshold 0.430, FAR 1e-4 per comparison, best of \
             3 faces over 6 comparisons) on camera gate-north in zone centre, outside home zone north, while the \
             order is in force (2026-04-01T00:00:00Z until 2026-05-01T00:00:00Z)"
        );
    }

    #[test]
    fn unknown_camera() {
        let d = decide(&sighting("nope", NOW, Some(("S-17", 0.9)), 1));
        assert_eq!(d.outcome, FaceOutcome::UnknownCamera);
        assert_eq!(d.zone, None);
        assert_eq!(d.explanation, "camera nope is not in the site config");
    }

    #[test]
    fn no_match_without_a_usable_face() {
        let d = decide(&sighting("gate-north", NOW, Some(("S-17", 0.9)), 0));
        assert_eq!(d.outcome, FaceOutcome::NoMatch);
        assert_eq!(
            d.explanation,
            "no face of the track was good enough to match"
        );
    }

    #[test]
    fn no_match_without_a_match() {
        let d = decide(&sighting("gate-north", NOW, None, 2));
        assert_eq!(d.outcome, FaceOutcome::NoMatch);
        assert_eq!(d.explanation, "no watchlist subject matched");
        let empty = decide_face(
            &sighting("gate-north", NOW, None, 2),
            &site(),
            &WatchlistSnapshot::empty("m"),
            THRESHOLD,
        );
        assert_eq!(empty.outcome, FaceOutcome::NoMatch);
        assert_eq!(
            empty.explanation,
            "no watchlist subject to match (watchlist version 0 is empty)"
        );
    }

    #[test]
    fn no_match_at_or_below_the_threshold_names_nobody() {
        let d = decide(&sighting("gate-north", NOW, Some(("S-17", 0.312)), 1));
        assert_eq!(d.outcome, FaceOutcome::NoMatch);
        assert!(d.subject.is_none());
        assert_eq!(
            d.explanation,
            "best similarity 0.312 over 1 face is not above the threshold 0.430 (FAR 1e-4)"
        );
        assert!(!d.explanation.contains("S-17"));
        // Exactly at the threshold is not above it; NaN never is.
        let at = decide(&sighting("gate-north", NOW, Some(("S-17", 0.43)), 1));
        assert_eq!(at.outcome, FaceOutcome::NoMatch);
        let nan = decide(&sighting("gate-north", NOW, Some(("S-17", f32::NAN)), 1));
        assert_eq!(nan.outcome, FaceOutcome::NoMatch);
        // Just above: more digits, so that the explanation does not read 0.430 > 0.430.
        let above = decide(&sighting("gate-north", NOW, Some(("S-17", 0.430_2)), 1));
        assert!(above.is_breach());
        assert!(
            above
                .explanation
                .contains("(similarity 0.430200 > threshold 0.430000, FAR 1e-4 per comparison, best of 1 face over 2 comparisons)"),
            "{}",
            above.explanation
        );
    }

    #[test]
    fn a_threshold_set_by_hand_says_its_rate_is_not_measured() {
        let d = decide_face(
            &sighting("gate-north", NOW, Some(("S-17", 0.58)), 1),
            &site(),
            &watchlist(),
            FaceThreshold {
                cosine: 0.5,
                far: None,
            },
        );
        assert!(d.is_breach());
        assert!(d
            .explanation
            .contains("(similarity 0.580 > threshold 0.500, FAR not measured, best of 1 face over 2 comparisons)"));
    }

    #[test]
    fn a_subject_missing_from_the_watchlist_is_no_match() {
        let d = decide(&sighting("gate-north", NOW, Some(("S-99", 0.9)), 1));
        assert_eq!(d.outcome, FaceOutcome::NoMatch);
        assert_eq!(
            d.explanation,
            "the best match is not a subject of watchlist version 7 (index and subjects disagree)"
        );
    }

    #[test]
    fn not_in_force_outside_the_window() {
        for at in ["2026-03-31T23:59:59Z", "2026-05-01T00:00:00Z"] {
            let d = decide(&sighting("gate-north", at, Some(("S-17", 0.58)), 1));
            assert_eq!(
                d.outcome,
                FaceOutcome::NotInForce {
                    subject_id: "S-17".into(),
                    similarity: 0.58
                },
                "{at}"
            );
            assert!(d.explanation.ends_with(&format!(
                ", but the order (2026-04-01T00:00:00Z until 2026-05-01T00:00:00Z) is not in \
                 force at {at}"
            )));
        }
        // The window's first instant is in it.
        let d = decide(&sighting(
            "gate-north",
            "2026-04-01T00:00:00Z",
            Some(("S-17", 0.58)),
            1,
        ));
        assert!(d.is_breach());
    }

    #[test]
    fn not_in_force_when_inactive() {
        let d = decide(&sighting("gate-north", NOW, Some(("S-18", 0.9)), 2));
        assert!(
            matches!(d.outcome, FaceOutcome::NotInForce { ref subject_id, .. } if subject_id == "S-18")
        );
        assert!(
            d.explanation.ends_with(
                "best of 2 faces over 4 comparisons), but the subject's order is inactive"
            ),
            "{}",
            d.explanation
        );
        assert!(!d.is_breach());
    }

    #[test]
    fn home_zone() {
        let d = decide(&sighting("home-cam", NOW, Some(("S-17", 0.7)), 1));
        assert_eq!(
            d.outcome,
            FaceOutcome::HomeZone {
                subject_id: "S-17".into(),
                similarity: 0.7
            }
        );
        assert_eq!(d.zone.as_deref(), Some("north"));
        assert!(d
            .explanation
            .ends_with("on camera home-cam in the subject's home zone north"));
    }

    #[test]
    fn a_zone_without_restriction_is_still_a_breach() {
        // The order is personal: neither zone of the site has a restriction schedule.
        assert!(!site().zone("centre").unwrap().restricted_at(t(NOW)));
        assert!(decide(&sighting("gate-north", NOW, Some(("S-17", 0.58)), 1)).is_breach());
    }
}
