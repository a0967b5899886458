//! `passwatch eval decisions`: how often the rules accuse a vehicle that holds a valid pass, and
//! how often they let one without a pass go, measured on labelled footage or photos.
//!
//! The footage runs once through the stream engine (as `eval plates --video` runs it), and every sighting is
//! then decided with the product's [`decide_plate`] against registries built for three
//! scenarios, in a zone restricted at all times:
//!
//! - `all_valid`: every true plate holds a valid pass;
//! - `none_valid`: no true plate holds one;
//! - `half`: the plates of every other vehicle (in order of appearance) hold one, the rest none.
//!
//! With decoys, the registry also holds that many valid passes for format-realistic plates drawn
//! from the site's regions' patterns (seeded; a draw equal to a true plate is dropped), so that
//! the benefit of the doubt is measured where a near plate by chance is likely.
//!
//! Per vehicle (a labelled plate; a vehicle may make several sightings):
//! - **false accusation** (valid-pass vehicles): some sighting raised a `no_valid_pass` event;
//! - **catch** (no-pass vehicles): some `no_valid_pass` event carries the true plate;
//! - **wrong plate** (no-pass vehicles): some `no_valid_pass` event carries another plate;
//! - **false clearance** (no-pass vehicles): no event at all, and some sighting was cleared by a
//!   pass (necessarily a near or a decoy plate);
//! - **review**: no `no_valid_pass` event, but a `needs_review` one;
//! - **unseen**: no sighting at all.
//!
//! Sightings outside every labelled plate are counted apart, with the events they raise.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::TimeDelta;
use passwatch_base::time::WallTime;
use passwatch_plate_reader::formats::PlateFormats;
use passwatch_plate_reader::reader::PlateReader;
use passwatch_plate_reader::text::normalise_plate;
use passwatch_registry::site::{PlateSettings, Site};
use passwatch_registry::{Pass, PassKind, PassSnapshot, PassStatus, PassValidity, ZoneSet};
use passwatch_rules::doubt::{near_passes, PlateEvidence};
use passwatch_rules::sighting::{PlateRead, PlateSighting};
use passwatch_rules::{decide_plate, PlateOutcome};
use serde::Serialize;

/// The camera and zone of the evaluation's restricted site.
const CAMERA: &str = "eval-camera";
const ZONE: &str = "eval-zone";

/// A labelled vehicle and the sightings it made.
#[derive(Clone, Debug)]
pub struct Vehicle {
    /// The true plate, normalised.
    pub plate: String,
    /// Its region label.
    pub region: String,
    /// Its sightings, in order.
    pub sightings: Vec<PlateSighting>,
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct DecisionEvalOptions {
    /// Decoy counts, one registry size each (0 for none).
    pub decoys: Vec<usize>,
    /// Seed of the decoy draw.
    pub seed: u64,
    /// The plate settings decided with (the defaults unless overridden).
    pub settings: PlateSettings,
    /// Decide with the rule this one replaced, for comparison: a fixed confusable-aware edit
    /// budget ([`PREVIOUS_RULE_MAX_COST`]) and no probabilities.
    pub previous_rule: bool,
}

/// The edit budget of the rule before the recogniser's probabilities were used (0.75: three
/// confusable swaps and no other edit).
pub const PREVIOUS_RULE_MAX_COST: f32 = 0.75;

/// The rule before this one, kept only to measure against: below `min_confidence` unreadable;
/// an exact valid pass clears; a valid pass within [`PREVIOUS_RULE_MAX_COST`] clears; otherwise
/// a violation.
fn previous_rule(s: &PlateSighting, site: &Site, passes: &PassSnapshot) -> PlateOutcome {
    let valid = |p: &Pass| p.check(ZONE, s.wall_time) == PassValidity::Valid;
    if s.confidence.is_nan() || s.confidence < site.plates.min_confidence {
        return PlateOutcome::Unreadable;
    }
    if let Some(p) = passes.exact(&s.plate).iter().find(|p| valid(p)) {
        return PlateOutcome::Valid { pass: p.clone() };
    }
    if let Some((p, cost)) = passes
        .fuzzy(&s.plate, PREVIOUS_RULE_MAX_COST)
        .into_iter()
        .find(|(p, cost)| *cost > 0.0 && valid(p))
    {
        return PlateOutcome::ClearedByFuzzyMatch {
            pass: p.clone(),
            cost,
            probability: f64::NAN,
        };
    }
    PlateOutcome::Violation {
        reason: passwatch_rules::ViolationReason::UnknownPlate,
        matched_pass: None,
        cost: None,
        candidates: Vec::new(),
        probability: f64::NAN,
    }
}

/// One group of vehicles (a region, or all) in one scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GroupFigures {
    /// Vehicles holding a valid pass.
    pub with_pass: usize,
    /// Vehicles without one.
    pub without_pass: usize,
    /// Share of valid-pass vehicles accused (a `no_valid_pass` event).
    pub false_accusation: f64,
    /// Share of valid-pass vehicles left for review (no accusation, a `needs_review` event).
    pub review_with_pass: f64,
    /// Share of no-pass vehicles with a `no_valid_pass` event carrying the true plate.
    pub catch: f64,
    /// Share of no-pass vehicles with a `no_valid_pass` event carrying another plate.
    pub wrong_plate: f64,
    /// Of those, the share whose wrong plate differs from the true one only by confusable
    /// glyphs (`O`/`0`, `B`/`8`, …): the right vehicle, spelt as the glyphs allow.
    pub wrong_plate_confusable: f64,
    /// Share of no-pass vehicles with no event and a sighting cleared by some pass.
    pub false_clearance: f64,
    /// Share of no-pass vehicles left for review (no accusation, a `needs_review` event).
    pub review_without_pass: f64,
    /// Share of all vehicles with no sighting.
    pub unseen: f64,
}

/// One scenario at one registry size.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ScenarioFigures {
    /// All vehicles together.
    pub all: GroupFigures,
    /// Per region label.
    pub regions: BTreeMap<String, GroupFigures>,
    /// Events (of either kind) raised by sightings outside every labelled plate.
    pub spurious_events: usize,
}

/// The figures at one registry size.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DecoyLevel {
    /// Decoy passes in the registry.
    pub decoys: usize,
    /// Distinct plates in the `all_valid` registry.
    pub registry_plates: usize,
    /// The probability a pass needed to clear at that size.
    pub clear_threshold: f64,
    /// The probability at which a valid pass stopped an accusation at that size.
    pub doubt_threshold: f64,
    /// Per scenario: `all_valid`, `none_valid`, `half`.
    pub scenarios: BTreeMap<String, ScenarioFigures>,
    /// Milliseconds per sighting decided (`decide_plate`, candidates and probabilities included):
    /// mean and largest.
    pub decide_ms: (f64, f64),
}

/// The report of `eval decisions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DecisionReport {
    /// Labelled vehicles.
    pub vehicles: usize,
    /// Sightings made (inside labelled plates, and outside).
    pub sightings: (usize, usize),
    /// One entry per decoy count.
    pub levels: Vec<DecoyLevel>,
    /// Seconds spent reading the footage or photos.
    pub read_s: f64,
}

/// One sighting's figures for choosing thresholds (`--features`): what the decision weighs.
#[derive(Clone, Debug, Serialize)]
pub struct SightingFeatures {
    /// Decoys in the registry.
    pub decoys: usize,
    /// Scenario.
    pub scenario: &'static str,
    /// Whether the vehicle holds a valid pass in it.
    pub with_pass: bool,
    /// Vehicle index.
    pub vehicle: usize,
    /// The true plate and region.
    pub truth: String,
    /// Region label.
    pub region: String,
    /// The consensus.
    pub plate: String,
    /// The consensus confidence.
    pub confidence: f32,
    /// The probability the reads give the consensus.
    pub p_read: f64,
    /// The probability they give the true plate.
    pub p_truth: f64,
    /// Whether a valid pass is for exactly the consensus.
    pub exact_valid: bool,
    /// The most probable valid near pass's plate probability (0 without one).
    pub best_valid_p: f64,
    /// Its plate.
    pub best_valid_plate: String,
    /// The outcome with the settings given.
    pub outcome: &'static str,
}

/// Reads `video` and pairs its sightings with the labelled vehicles of `truth`.
pub fn video_vehicles(
    video: &Path,
    truth: &Path,
    analyse_fps: f64,
    reader: &mut PlateReader,
    tracker_config: passwatch_pipeline::track::TrackerConfig,
    schedule: passwatch_pipeline::plates::PlateSchedule,
) -> Result<(Vec<Vehicle>, Vec<PlateSighting>, f64)> {
    let truth = super::Truth::load(truth)?;
    let run = super::run_video(
        video,
        analyse_fps,
        reader,
        tracker_config,
        schedule,
        &mut |_, _| {},
    )?;
    let mut vehicles: Vec<Vehicle> = truth
        .segments
        .iter()
        .map(|s| Vehicle {
            plate: s.plate.clone(),
            region: s.region.clone(),
            sightings: Vec::new(),
        })
        .collect();
    let mut outside = Vec::new();
    for t in run.closed {
        let Some(s) = t.sighting else { continue };
        match truth.segment_of(t.first_frame) {
            Some(k) => vehicles[k].sightings.push(s),
            None => outside.push(s),
        }
    }
    Ok((vehicles, outside, run.elapsed_s))
}

/// Reads every photo of a `labels.csv` folder (`file,region,x,y,w,h,plate`) and makes each a
/// vehicle whose one sighting, if any, is the most plate-like read overlapping its labelled box
/// (IoU above 0.1): a one-frame track.
pub fn photo_vehicles(dir: &Path, reader: &mut PlateReader) -> Result<(Vec<Vehicle>, f64)> {
    let started = Instant::now();
    let mut vehicles = Vec::new();
    for (i, row) in super::read_labels::<super::PhotoRow>(dir)?
        .into_iter()
        .enumerate()
    {
        let path = dir.join(&row.file);
        let image = super::load_image(&path)?;
        let truth_box = passwatch_plate_reader::geometry::BBox::new(row.x, row.y, row.w, row.h);
        let best = reader
            .read_frame(&image)
            .with_context(|| format!("{}: reading plates", path.display()))?
            .into_iter()
            .filter(|o| o.bbox_in_frame.iou(&truth_box) > 0.1 && !o.text.is_empty())
            .max_by(|a, b| a.plate_score.total_cmp(&b.plate_score));
        let sightings = best
            .map(|o| PlateSighting {
                camera_id: CAMERA.to_owned(),
                source: row.file.clone(),
                source_key: row.file.clone(),
                track_id: i as u64,
                first_seen: Default::default(),
                last_seen: Default::default(),
                wall_time: WallTime::UNIX_EPOCH,
                plate: o.text.clone(),
                region: o.region.clone(),
                confidence: o.read.confidence,
                reads: vec![PlateRead {
                    media_time: Default::default(),
                    text: o.text.clone(),
                    confidence: o.read.confidence,
                    bbox_in_frame: o.bbox_in_frame,
                    weight: o.plate_score,
                    lattice: o.lattice.clone(),
                }],
                images: None,
            })
            .into_iter()
            .collect();
        vehicles.push(Vehicle {
            plate: normalise_plate(&row.plate),
            region: row.region,
            sightings,
        });
    }
    Ok((vehicles, started.elapsed().as_secs_f64()))
}

/// A pass valid around the evaluation's sightings (the Unix epoch: media time from 0) in every
/// zone.
fn valid_pass(code: String, plate: String) -> Pass {
    Pass {
        code,
        kind: PassKind::Vehicle,
        plate: Some(plate),
        region: None,
        valid_from: WallTime::UNIX_EPOCH - TimeDelta::days(1),
        valid_until: WallTime::UNIX_EPOCH + TimeDelta::days(1),
        zones: ZoneSet::All,
        purpose: String::new(),
        status: PassStatus::Active,
        holder_ref: String::new(),
        version: 1,
    }
}

/// SplitMix64: a small, seeded, portable generator, so a decoy set is the same everywhere.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` valid passes for distinct plates drawn in turn from each region's patterns, none equal
/// to a true plate.
pub fn decoy_passes(
    n: usize,
    regions: &[String],
    true_plates: &std::collections::HashSet<String>,
    seed: u64,
) -> Result<Vec<Pass>> {
    let formats = PlateFormats::builtin();
    let regions: Vec<_> = regions.iter().filter_map(|r| formats.region(r)).collect();
    if regions.is_empty() && n > 0 {
        bail!("no known plate region to draw decoys from");
    }
    let mut state = seed;
    let mut random = || splitmix(&mut state);
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    let mut attempts = 0usize;
    while out.len() < n {
        attempts += 1;
        if attempts > n.saturating_mul(20) + 1000 {
            bail!(
                "could draw only {} distinct decoy plates of {n} from the regions' patterns",
                out.len()
            );
        }
        let region = regions[out.len() % regions.len()];
        let Some(plate) = region.sample(&mut random) else {
            continue;
        };
        if true_plates.contains(&plate) || !seen.insert(plate.clone()) {
            continue;
        }
        out.push(valid_pass(format!("D{:015}", out.len()), plate));
    }
    Ok(out)
}

#[derive(Default)]
struct VehicleOutcome {
    seen: bool,
    accused_right: bool,
    accused_wrong: bool,
    /// Every wrong plate accused was the true one up to confusable glyphs.
    wrong_confusable: bool,
    review: bool,
    cleared: bool,
}

#[derive(Default)]
struct Counts {
    with_pass: usize,
    without_pass: usize,
    accused_with_pass: usize,
    review_with_pass: usize,
    right: usize,
    wrong: usize,
    wrong_confusable: usize,
    cleared: usize,
    review_without_pass: usize,
    unseen: usize,
}

impl Counts {
    fn add(&mut self, with_pass: bool, o: &VehicleOutcome) {
        self.unseen += usize::from(!o.seen);
        let accused = o.accused_right || o.accused_wrong;
        if with_pass {
            self.with_pass += 1;
            self.accused_with_pass += usize::from(accused);
            self.review_with_pass += usize::from(!accused && o.review);
        } else {
            self.without_pass += 1;
            self.right += usize::from(o.accused_right);
            self.wrong += usize::from(o.accused_wrong);
            self.wrong_confusable += usize::from(o.accused_wrong && o.wrong_confusable);
            self.review_without_pass += usize::from(!accused && o.review);
            self.cleared += usize::from(!accused && !o.review && o.cleared);
        }
    }

    fn figures(&self) -> GroupFigures {
        let share = |a: usize, n: usize| if n == 0 { 0.0 } else { a as f64 / n as f64 };
        GroupFigures {
            with_pass: self.with_pass,
            without_pass: self.without_pass,
            false_accusation: share(self.accused_with_pass, self.with_pass),
            review_with_pass: share(self.review_with_pass, self.with_pass),
            catch: share(self.right, self.without_pass),
            wrong_plate: share(self.wrong, self.without_pass),
            wrong_plate_confusable: share(self.wrong_confusable, self.without_pass),
            false_clearance: share(self.cleared, self.without_pass),
            review_without_pass: share(self.review_without_pass, self.without_pass),
            unseen: share(self.unseen, self.with_pass + self.without_pass),
        }
    }
}

const SCENARIOS: [&str; 3] = ["all_valid", "none_valid", "half"];

fn holds_pass(scenario: &str, vehicle: usize) -> bool {
    match scenario {
        "all_valid" => true,
        "none_valid" => false,
        _ => vehicle.is_multiple_of(2),
    }
}

fn outcome_name(o: &PlateOutcome) -> &'static str {
    match o {
        PlateOutcome::UnknownCamera => "unknown_camera",
        PlateOutcome::NotRestricted => "not_restricted",
        PlateOutcome::Unreadable => "unreadable",
        PlateOutcome::Valid { .. } => "valid",
        PlateOutcome::ClearedByFuzzyMatch { .. } => "cleared_by_near_pass",
        PlateOutcome::NeedsReview { .. } => "needs_review",
        PlateOutcome::Violation { .. } => "violation",
    }
}

/// Decides every sighting in every scenario at every decoy count; `features`, when given,
/// receives one record per sighting decided.
pub fn eval_decisions(
    vehicles: &[Vehicle],
    outside: &[PlateSighting],
    regions: &[String],
    options: &DecisionEvalOptions,
    mut features: Option<&mut dyn FnMut(SightingFeatures)>,
) -> Result<DecisionReport> {
    let mut site = Site::one_camera(CAMERA, ZONE, regions, false, true)
        .context("the evaluation's own site config")?;
    site.plates = PlateSettings {
        regions: site.plates.regions.clone(),
        ..options.settings.clone()
    };
    let true_plates: std::collections::HashSet<String> =
        vehicles.iter().map(|v| v.plate.clone()).collect();
    let mut report = DecisionReport {
        vehicles: vehicles.len(),
        sightings: (
            vehicles.iter().map(|v| v.sightings.len()).sum(),
            outside.len(),
        ),
        ..Default::default()
    };
    let largest = options.decoys.iter().copied().max().unwrap_or(0);
    let all_decoys = decoy_passes(largest, regions, &true_plates, options.seed)?;
    for &n in &options.decoys {
        let decoys = &all_decoys[..n];
        let mut level = DecoyLevel {
            decoys: n,
            ..Default::default()
        };
        let mut decide_total = 0.0f64;
        let mut decide_max = 0.0f64;
        let mut decided = 0usize;
        for scenario in SCENARIOS {
            let mut passes: Vec<Pass> = decoys.to_vec();
            let mut with: std::collections::HashSet<&str> = Default::default();
            for (i, v) in vehicles.iter().enumerate() {
                if holds_pass(scenario, i) && with.insert(v.plate.as_str()) {
                    passes.push(valid_pass(format!("T{:015}", i), v.plate.clone()));
                }
            }
            let snapshot = PassSnapshot::from_passes(1, passes);
            if scenario == "all_valid" {
                level.registry_plates = snapshot.plate_count();
                level.clear_threshold = site.plates.clear_threshold(snapshot.plate_count());
                level.doubt_threshold = site.plates.doubt_threshold(snapshot.plate_count());
            }
            let mut all = Counts::default();
            let mut by_region: BTreeMap<String, Counts> = BTreeMap::new();
            for (i, v) in vehicles.iter().enumerate() {
                let with_pass = holds_pass(scenario, i);
                let mut o = VehicleOutcome {
                    seen: !v.sightings.is_empty(),
                    wrong_confusable: true,
                    ..Default::default()
                };
                for s in &v.sightings {
                    let started = Instant::now();
                    let outcome = if options.previous_rule {
                        previous_rule(s, &site, &snapshot)
                    } else {
                        decide_plate(s, &site, &snapshot).outcome
                    };
                    let ms = started.elapsed().as_secs_f64() * 1e3;
                    decide_total += ms;
                    decide_max = decide_max.max(ms);
                    decided += 1;
                    match &outcome {
                        PlateOutcome::Violation { .. } if s.plate == v.plate => {
                            o.accused_right = true
                        }
                        PlateOutcome::Violation { .. } => {
                            o.accused_wrong = true;
                            o.wrong_confusable &= same_up_to_confusables(&s.plate, &v.plate);
                        }
                        PlateOutcome::NeedsReview { .. } => o.review = true,
                        PlateOutcome::Valid { .. } | PlateOutcome::ClearedByFuzzyMatch { .. } => {
                            o.cleared = true
                        }
                        _ => {}
                    }
                    if let Some(f) = features.as_deref_mut() {
                        f(sighting_features(
                            s, v, i, n, scenario, with_pass, &site, &snapshot, &outcome,
                        ));
                    }
                }
                all.add(with_pass, &o);
                by_region
                    .entry(v.region.clone())
                    .or_default()
                    .add(with_pass, &o);
            }
            let spurious_events = outside
                .iter()
                .filter(|s| {
                    if options.previous_rule {
                        matches!(
                            previous_rule(s, &site, &snapshot),
                            PlateOutcome::Violation { .. }
                        )
                    } else {
                        decide_plate(s, &site, &snapshot).raises_event()
                    }
                })
                .count();
            level.scenarios.insert(
                scenario.to_owned(),
                ScenarioFigures {
                    all: all.figures(),
                    regions: by_region
                        .into_iter()
                        .map(|(k, c)| (k, c.figures()))
                        .collect(),
                    spurious_events,
                },
            );
        }
        level.decide_ms = (decide_total / decided.max(1) as f64, decide_max);
        report.levels.push(level);
    }
    Ok(report)
}

/// Whether two plates differ only by confusable glyphs, position by position.
fn same_up_to_confusables(a: &str, b: &str) -> bool {
    a.chars().count() == b.chars().count()
        && a.chars()
            .zip(b.chars())
            .all(|(x, y)| x == y || passwatch_plate_reader::text::is_confusable(x, y))
}

#[allow(clippy::too_many_arguments)]
fn sighting_features(
    s: &PlateSighting,
    v: &Vehicle,
    vehicle: usize,
    decoys: usize,
    scenario: &'static str,
    with_pass: bool,
    site: &Site,
    snapshot: &PassSnapshot,
    outcome: &PlateOutcome,
) -> SightingFeatures {
    let evidence = PlateEvidence::of(s);
    let valid = |p: &Pass| p.check(ZONE, s.wall_time) == PassValidity::Valid;
    let near = near_passes(s, snapshot, site.plates.fuzzy_max_cost, &evidence);
    let best = near.iter().find(|c| valid(c.pass));
    SightingFeatures {
        decoys,
        scenario,
        with_pass,
        vehicle,
        truth: v.plate.clone(),
        region: v.region.clone(),
        plate: s.plate.clone(),
        confidence: s.confidence,
        p_read: evidence.probability(&s.plate),
        p_truth: evidence.probability(&v.plate),
        exact_valid: snapshot.exact(&s.plate).iter().any(valid),
        best_valid_p: best.map_or(0.0, |b| b.probability),
        best_valid_plate: best.and_then(|b| b.pass.plate.clone()).unwrap_or_default(),
        outcome: outcome_name(outcome),
    }
}

impl DecisionReport {
    /// The human table: per registry size and scenario, the rates over all vehicles and per
    /// region.
    pub fn table(&self) -> String {
        let pct = |v: f64| format!("{:.1}%", v * 100.0);
        let mut s = format!(
            "{} vehicles, {} sightings (+{} outside every labelled plate), read in {:.1} s\n",
            self.vehicles, self.sightings.0, self.sightings.1, self.read_s
        );
        for l in &self.levels {
            s += &format!(
                "\n{} decoys ({} plates; clears at probability {:.3}, doubt from {:.1e}); decide {:.3} ms per sighting (max {:.2})\n",
                l.decoys, l.registry_plates, l.clear_threshold, l.doubt_threshold, l.decide_ms.0, l.decide_ms.1
            );
            s += "  scenario    group  n(pass/none)  false-acc  review+  catch  wrong-plate (confusable)  false-clear  review-  unseen\n";
            for (name, sc) in &l.scenarios {
                let row = |group: &str, g: &GroupFigures| {
                    format!(
                        "  {name:<11} {group:<6} {:>4}/{:<4}    {:>8}  {:>7}  {:>6}  {:>10} ({:>6})  {:>11}  {:>7}  {:>6}\n",
                        g.with_pass,
                        g.without_pass,
                        pct(g.false_accusation),
                        pct(g.review_with_pass),
                        pct(g.catch),
                        pct(g.wrong_plate),
                        pct(g.wrong_plate_confusable),
                        pct(g.false_clearance),
                        pct(g.review_without_pass),
                        pct(g.unseen)
                    )
                };
                s += &row("all", &sc.all);
                for (r, g) in &sc.regions {
                    s += &row(r, g);
                }
                if sc.spurious_events > 0 {
                    s += &format!(
                        "  {name:<11} {} events from sightings outside every labelled plate\n",
                        sc.spurious_events
                    );
                }
            }
        }
        s
    }
}

/// `passwatch eval decisions`.
#[derive(clap::Args, Debug)]
pub struct DecisionArgs {
    /// A video with a per-frame truth CSV (--truth).
    #[arg(
        long,
        requires = "truth",
        required_unless_present = "photos",
        conflicts_with = "photos"
    )]
    pub video: Option<std::path::PathBuf>,
    /// Per-frame truth of --video (frame,source,region,plate,x,y,w,h).
    #[arg(long)]
    pub truth: Option<std::path::PathBuf>,
    /// A folder of photos with labels.csv (file,region,x,y,w,h,plate): one-frame sightings.
    #[arg(long)]
    pub photos: Option<std::path::PathBuf>,
    /// Decoy passes in the registry; several, comma-separated, measure several registry sizes
    /// on one read of the footage.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub decoys: Vec<usize>,
    /// Seed of the decoy draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Analysis rate for --video.
    #[arg(long, default_value_t = passwatch_pipeline::engine::DEFAULT_PLATE_ANALYSE_FPS)]
    pub analyse_fps: f64,
    /// Override `plates.fuzzy_max_cost`.
    #[arg(long)]
    pub fuzzy_max_cost: Option<f32>,
    /// Override `plates.clear_probability`.
    #[arg(long)]
    pub clear_probability: Option<f64>,
    /// Override `plates.clear_probability_per_decade`.
    #[arg(long)]
    pub clear_probability_per_decade: Option<f64>,
    /// Override `plates.doubt_probability`.
    #[arg(long)]
    pub doubt_probability: Option<f64>,
    /// Override `plates.accuse_probability`.
    #[arg(long)]
    pub accuse_probability: Option<f64>,
    /// Override `plates.doubtful` (review or unreadable).
    #[arg(long)]
    pub doubtful: Option<String>,
    /// Override `plates.min_confidence`.
    #[arg(long)]
    pub min_confidence: Option<f32>,
    /// Decide with the rule this one replaced (a fixed edit budget of 0.75), for comparison.
    #[arg(long)]
    pub previous_rule: bool,
    /// Write one JSON line per sighting decided (what the decision weighed) to this file.
    #[arg(long)]
    pub features: Option<std::path::PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// The models and how they run.
    #[command(flatten)]
    pub models: passwatch_pipeline::options::ModelArgs,
}

impl DecisionArgs {
    /// The plate settings: the defaults with the overrides given.
    pub fn settings(&self) -> Result<PlateSettings> {
        let mut s = PlateSettings::default();
        if let Some(v) = self.fuzzy_max_cost {
            s.fuzzy_max_cost = v;
        }
        if let Some(v) = self.clear_probability {
            s.clear_probability = v;
        }
        if let Some(v) = self.clear_probability_per_decade {
            s.clear_probability_per_decade = v;
        }
        if let Some(v) = self.doubt_probability {
            s.doubt_probability = v;
        }
        if let Some(v) = self.accuse_probability {
            s.accuse_probability = v;
        }
        if let Some(v) = self.min_confidence {
            s.min_confidence = v;
        }
        if let Some(v) = &self.doubtful {
            s.doubtful = match v.as_str() {
                "review" => passwatch_registry::site::Doubtful::Review,
                "unreadable" => passwatch_registry::site::Doubtful::Unreadable,
                other => bail!("--doubtful: {other:?} is neither review nor unreadable"),
            };
        }
        Ok(s)
    }
}

/// Runs `eval decisions` and prints its report.
pub fn run(args: &DecisionArgs) -> Result<()> {
    use std::io::Write;
    let options = DecisionEvalOptions {
        decoys: args.decoys.clone(),
        seed: args.seed,
        settings: args.settings()?,
        previous_rule: args.previous_rule,
    };
    let min_len = passwatch_plate_reader::reader::ReaderConfig::default().min_len;
    let mut reader = args.models.reader(min_len)?;
    let regions = reader.config().regions.clone();
    let (vehicles, outside, read_s) = match (&args.video, &args.truth, &args.photos) {
        (Some(video), Some(truth), _) => video_vehicles(
            video,
            truth,
            args.analyse_fps,
            &mut reader,
            passwatch_pipeline::track::TrackerConfig::default(),
            args.models.plate_schedule(),
        )?,
        (_, _, Some(photos)) => {
            let (v, s) = photo_vehicles(photos, &mut reader)?;
            (v, Vec::new(), s)
        }
        _ => bail!("--video with --truth, or --photos, is needed"),
    };
    let mut out = match &args.features {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("{}: cannot create", path.display()))?,
        )),
        None => None,
    };
    let mut write_error: Option<std::io::Error> = None;
    let mut sink = |f: SightingFeatures| {
        if let Some(w) = out.as_mut() {
            let line = serde_json::to_string(&f).unwrap_or_default();
            if let Err(e) = writeln!(w, "{line}") {
                write_error.get_or_insert(e);
            }
        }
    };
    let mut report = eval_decisions(
        &vehicles,
        &outside,
        &regions,
        &options,
        Some(&mut sink as &mut dyn FnMut(SightingFeatures)),
    )?;
    if let Some(e) = write_error {
        return Err(e).context("writing --features");
    }
    if let Some(mut w) = out {
        w.flush().context("writing --features")?;
    }
    report.read_s = read_s;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use passwatch_base::time::MediaTime;

    fn sighting(plate: &str, confidence: f32) -> PlateSighting {
        PlateSighting {
            camera_id: CAMERA.into(),
            source: "clip".into(),
            source_key: "clip".into(),
            track_id: 1,
            first_seen: MediaTime::from_secs_f64(1.0),
            last_seen: MediaTime::from_secs_f64(2.0),
            wall_time: WallTime::UNIX_EPOCH + TimeDelta::seconds(1),
            plate: plate.into(),
            region: Some("us".into()),
            confidence,
            reads: Vec::new(),
            images: None,
        }
    }

    #[test]
    fn rates_follow_the_scenarios() {
        let regions = vec!["us".to_string()];
        let vehicles = vec![
            Vehicle {
                plate: "ABC1234".into(),
                region: "us".into(),
                sightings: vec![sighting("ABC1234", 0.95)],
            },
            Vehicle {
                plate: "XYZ7890".into(),
                region: "us".into(),
                sightings: vec![sighting("XYZ7K90", 0.95)],
            },
            Vehicle {
                plate: "KLM4567".into(),
                region: "us".into(),
                sightings: Vec::new(),
            },
        ];
        let options = DecisionEvalOptions {
            decoys: vec![0, 50],
            seed: 1,
            settings: PlateSettings::default(),
            previous_rule: false,
        };
        let r = eval_decisions(&vehicles, &[], &regions, &options, None).expect("eval");
        assert_eq!(r.levels.len(), 2);
        let l = &r.levels[0];
        let all = &l.scenarios["all_valid"].all;
        assert_eq!((all.with_pass, all.without_pass), (3, 0));
        // A misread whose true plate holds a valid pass is left for review, not accused.
        assert_eq!(all.false_accusation, 0.0, "{all:?}");
        assert!((all.review_with_pass - 1.0 / 3.0).abs() < 1e-9, "{all:?}");
        assert!((all.unseen - 1.0 / 3.0).abs() < 1e-9);
        let none = &l.scenarios["none_valid"].all;
        assert!((none.catch - 1.0 / 3.0).abs() < 1e-9, "{none:?}");
        assert!((none.wrong_plate - 1.0 / 3.0).abs() < 1e-9);
        let half = &l.scenarios["half"].all;
        assert_eq!((half.with_pass, half.without_pass), (2, 1));
        assert_eq!(r.levels[1].registry_plates, 53);
    }

    #[test]
    fn decoys_are_distinct_seeded_and_never_a_true_plate() {
        let regions = vec!["us".to_string(), "eu".to_string()];
        let truth: std::collections::HashSet<String> = ["ABC1234".to_string()].into();
        let a = decoy_passes(500, &regions, &truth, 9).expect("decoys");
        let b = decoy_passes(500, &regions, &truth, 9).expect("decoys");
        assert_eq!(a, b);
        let plates: std::collections::HashSet<_> = a.iter().map(|p| p.plate.clone()).collect();
        assert_eq!(plates.len(), 500);
        assert!(!plates.contains(&Some("ABC1234".to_string())));
    }
}
