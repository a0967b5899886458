//! Rules: what a plate sighting means, decided once per sighting against one registry snapshot.
//!
//! [`decide_plate`] is a pure function of the sighting, the site and a [`PassSnapshot`]; the time
//! it checks is the sighting's wall time. The steps, in order:
//!
//! 1. the camera's zone is not restricted at that time → [`PlateOutcome::NotRestricted`];
//! 2. the consensus confidence is below `plates.min_confidence` → [`PlateOutcome::Unreadable`];
//! 3. a vehicle pass for exactly the read plate clears it (active, in its window, allowing the
//!    zone) → [`PlateOutcome::Valid`];
//! 4. a vehicle pass for a *near* plate clears it (confusable-aware edit cost above 0 and at most
//!    `plates.fuzzy_max_cost`) → [`PlateOutcome::ClearedByFuzzyMatch`]: benefit of the doubt,
//!    because OCR confuses O/0, I/1, B/8, S/5, Z/2, D/0, G/6, and a wrong accusation is worse
//!    than a missed one;
//! 5. otherwise → [`PlateOutcome::Violation`], the `no_valid_pass` rule, with a reason.
//!
//! Only a violation raises an event. Nothing here stores anything: a sighting that raises no
//! event leaves no trace but its counters upstream (see the privacy rules in the brief).
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

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::registry::passes::format_time;
use crate::registry::{Pass, PassKind, PassSnapshot, PassValidity};
use crate::sighting::PlateSighting;
use crate::site::Site;
use crate::time::WallTime;

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
    /// Why it did not clear the sighting.
    pub reason: ViolationReason,
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
        /// The clearing pass (lowest cost, then code).
        pass: Pass,
        /// The confusable-aware edit cost from the read plate to the pass's plate.
        cost: f32,
    },
    /// No pass clears it: a `no_valid_pass` event.
    Violation {
        /// Why.
        reason: ViolationReason,
        /// The pass for the read plate closest to being valid, if the plate has any.
        matched_pass: Option<Pass>,
        /// The edit cost of `matched_pass` (0, as it is an exact match), none without one.
        cost: Option<f32>,
        /// Passes for near plates that do not clear it either, by cost then code (at most
        /// [`MAX_CANDIDATES`]).
        candidates: Vec<Candidate>,
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
    /// Whether the decision raises an event (only violations do).
    pub fn is_violation(&self) -> bool {
        matches!(self.outcome, PlateOutcome::Violation { .. })
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

    let max_cost = site.plates.fuzzy_max_cost;
    let near: Vec<(&Pass, f32)> = if max_cost > 0.0 {
        passes
            .fuzzy(plate, max_cost)
            .into_iter()
            .filter(|(p, cost)| *cost > 0.0 && p.kind == PassKind::Vehicle)
            .collect()
    } else {
        Vec::new()
    };
    // `near` is sorted by cost then code, so the first valid one is the best.
    if let Some((pass, cost)) = near
        .iter()
        .find(|(p, _)| p.check(zone_id, at) == PassValidity::Valid)
    {
        return decision(
            PlateOutcome::ClearedByFuzzyMatch {
                pass: (*pass).clone(),
                cost: *cost,
            },
            Some(zone_id),
            format!(
                "read {plate} cleared by pass {} for {} (edit cost {:.2}: {})",
                pass.code,
                plate_of(pass),
                cost,
                describe_edits(plate, plate_of(pass))
            ),
        );
    }

    let candidates: Vec<Candidate> = near
        .iter()
        .filter_map(|(p, cost)| {
            ViolationReason::of(p.check(zone_id, at)).map(|reason| Candidate {
                pass: (*p).clone(),
                cost: *cost,
                reason,
            })
        })
        .take(MAX_CANDIDATES)
        .collect();

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
    if let Some(c) = candidates.first() {
        explanation.push_str(&format!(
            "; nearest other plate: pass {} for {} (edit cost {:.2}: {}) {}",
            c.pass.code,
            plate_of(&c.pass),
            c.cost,
            describe_edits(plate, plate_of(&c.pass)),
            reason_phrase(&c.pass, c.reason, zone_id)
        ));
    }
    decision(
        PlateOutcome::Violation {
            reason,
            matched_pass,
            cost,
            candidates,
        },
        Some(zone_id),
        explanation,
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{PassStatus, ZoneSet};
    use crate::time::MediaTime;
    use passwatch_plate_reader::text::plate_distance;
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
            PlateOutcome::ClearedByFuzzyMatch { pass, cost } => {
                assert_eq!(pass.plate.as_deref(), Some("ABC103"));
                assert_eq!(*cost, 0.25);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            d.explanation,
            "read ABC1O3 cleared by pass 000000000000000A for ABC103 (edit cost 0.25: O/0)"
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

    #[test]
    fn fuzzy_beyond_max_cost_does_not_clear() {
        let d = decide("ABC1X3", vec![pass("A", "ABC1Y4")]);
        assert_eq!(d.violation_reason(), Some(ViolationReason::UnknownPlate));
        assert_eq!(d.explanation, "no pass for plate ABC1X3");
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
            } => {
                assert_eq!(*reason, ViolationReason::UnknownPlate);
                assert!(matched_pass.is_none() && cost.is_none());
                assert_eq!(candidates.len(), 1);
                assert_eq!(candidates[0].reason, ViolationReason::Expired);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            d.explanation,
            "no pass for plate ABC1O3; nearest other plate: pass 000000000000000A for ABC103 \
             (edit cost 0.25: O/0) expired at 2026-03-31T23:59:59Z"
        );
    }

    #[test]
    fn expired_pass() {
        let d = decide("ABC123", vec![expired(pass("A", "ABC123"))]);
        assert_eq!(d.violation_reason(), Some(ViolationReason::Expired));
        assert_eq!(
            d.explanation,
            "pass 000000000000000A for ABC123 expired at 2026-03-31T23:59:59Z"
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
        assert_eq!(
            d.explanation,
            "pass 000000000000000A for ABC123 not valid until 2026-04-11T00:00:00Z"
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
        assert_eq!(d.explanation, "pass 000000000000000A for ABC123 is revoked");
    }

    #[test]
    fn zone_not_allowed() {
        let p = Pass {
            zones: ZoneSet::parse("north;south").unwrap(),
            ..pass("A", "ABC123")
        };
        let d = decide("ABC123", vec![p]);
        assert_eq!(d.violation_reason(), Some(ViolationReason::ZoneNotAllowed));
        assert_eq!(
            d.explanation,
            "pass 000000000000000A for ABC123 does not allow zone centre (allows north, south)"
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
            .ends_with("of 3 passes for the plate; the others are not valid either)"));
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
        fn fuzzy_clearing_respects_max_cost(
            passes in proptest::collection::vec(arb_pass(), 0..30),
            read in "[AB8O0S5X]{3,5}",
            max_cost in 0.0f32..2.0,
        ) {
            let site = Site::from_toml_str(
                &SITE.replace("fuzzy_max_cost = 1.0", &format!("fuzzy_max_cost = {max_cost}")),
                "site.toml",
            ).unwrap();
            let snapshot = PassSnapshot::from_passes(1, dedup_codes(passes));
            let d = decide_plate(&sighting("cam", &read, 0.9), &site, &snapshot);
            let any_exact_valid = snapshot
                .exact(&read)
                .iter()
                .any(|p| p.check("centre", t(NOW)) == PassValidity::Valid);
            match &d.outcome {
                PlateOutcome::ClearedByFuzzyMatch { pass, cost } => {
                    prop_assert!(*cost > 0.0 && *cost <= site.plates.fuzzy_max_cost);
                    prop_assert_eq!(*cost, plate_distance(&read, pass.plate.as_deref().unwrap()));
                    prop_assert_eq!(pass.check("centre", t(NOW)), PassValidity::Valid);
                    prop_assert!(!any_exact_valid);
                }
                PlateOutcome::Valid { .. } => prop_assert!(any_exact_valid),
                PlateOutcome::Violation { candidates, .. } => {
                    prop_assert!(!any_exact_valid);
                    // No pass within reach clears it.
                    let clearing = snapshot.passes().iter().any(|p| {
                        plate_distance(&read, p.plate.as_deref().unwrap()) <= site.plates.fuzzy_max_cost
                            && p.check("centre", t(NOW)) == PassValidity::Valid
                    });
                    prop_assert!(!clearing);
                    prop_assert!(candidates.iter().all(|c| c.cost <= site.plates.fuzzy_max_cost));
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
