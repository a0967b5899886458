//! The site configuration: cameras, zones and when each zone's restriction is in force.
//!
//! A site is one TOML file, parsed in two stages: serde reads it into raw structs that reject
//! unknown keys, then [`Site::from_toml_str`] checks everything (ids unique, every camera's zone
//! defined, times and days well formed, thresholds in range) and builds the checked types. Every
//! problem is reported at once, each with the file and the field's path, e.g.
//! `site.toml: cameras[2].zone: unknown zone "west"` (array indices are 0-based).
//!
//! ```toml
//! name = "demo"                  # optional; default none
//! utc_offset = "+01:00"          # local time of the schedules; default "+00:00"
//!
//! [plates]                       # optional; defaults shown
//! regions = ["us", "eu", "br"]   # plate formats to read with
//! fuzzy_max_cost = 1.75          # how near (edit cost) a pass's plate must be to be weighed at all
//! clear_probability = 0.05       # a valid pass this probable clears (at up to 1000 plates)
//! clear_probability_per_decade = 0.05  # … plus this per tenfold more plates in the registry
//! doubt_probability = 1e-5       # a valid pass this probable stops an accusation (at up to
//!                                # 1000 plates; in proportion to the registry beyond)
//! accuse_probability = 0.2       # the read must be this sure of its own plate to accuse
//! doubtful = "review"            # neither: a low-priority needs_review event, or "unreadable"
//! min_confidence = 0.5           # sightings below this raise nothing (counted as unreadable)
//!
//! [faces]                        # optional; defaults shown
//! far = 1e-4                     # false-accept rate; the threshold is the embedder's measured one
//! # threshold = 0.43             # or a cosine threshold set by hand (then far = null unless given)
//! min_quality = 0.3              # faces below this quality are not matched
//! max_faces = 5                  # the best faces of a track that are matched
//! merge_window_s = 30            # breaches of one subject on one camera this close are one event
//!
//! [retention]                    # optional; each absent: kept for ever
//! events_days = 365              # events older than this are removed with their verdicts
//! evidence_days = 90             # their images go sooner (at most events_days)
//! dismissed_days = 30            # dismissed events go sooner still (at most events_days)
//!
//! [[cameras]]
//! id = "gate-north"
//! source = "rtsp://10.0.0.5/stream1"   # optional (replay gives files); file://, rtsp://, or a
//!                                      # GStreamer launch description
//! zone = "centre"
//! analyses = ["plates"]          # plates | faces | qr; default ["plates"]
//! analyse_fps = 5.0              # optional per-camera override; default: the run's setting
//!
//! [[zones]]
//! id = "centre"
//! [[zones.restrictions]]         # none at all: the zone is never restricted
//! from = "2026-03-01T00:00:00Z"  # optional start of the period (RFC 3339, inclusive)
//! until = "2026-06-01T00:00:00Z" # optional end of the period (exclusive)
//! days = ["mon", "tue", "wed", "thu", "fri"]   # default every day
//! start = "06:00"                # local time of day; default "00:00"
//! end = "22:00"                  # default "24:00"; an end before the start wraps past midnight
//! ```
//!
//! Times of day are local to the site's fixed `utc_offset`; a fixed offset has no daylight
//! saving, so a site that observes it updates the offset when the clocks change.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{Datelike, FixedOffset, Timelike, Weekday};
use serde::{Deserialize, Serialize};

use crate::passes::{is_valid_id, parse_region, parse_time};
use passwatch_base::time::WallTime;

/// Default of `plates.regions`.
pub const DEFAULT_REGIONS: [&str; 3] = ["us", "eu", "br"];
/// Default of `plates.fuzzy_max_cost`: the passes weighed by the benefit of the doubt are those
/// within one insertion, deletion or other substitution plus three confusable swaps (O/0, I/1, …
/// at 0.25 each) of the consensus or of any read of the track. Distance only picks candidates;
/// the recogniser's probability of each decides (`rules`, design/matching-and-rules.md). Below 2,
/// the index search costs the same at any registry size.
pub const DEFAULT_FUZZY_MAX_COST: f32 = 1.75;
/// Default of `plates.clear_probability` (how it was chosen: design/matching-and-rules.md).
pub const DEFAULT_CLEAR_PROBABILITY: f64 = 0.05;
/// Default of `plates.clear_probability_per_decade`: 0.2 at a million plates.
pub const DEFAULT_CLEAR_PROBABILITY_PER_DECADE: f64 = 0.05;
/// Default of `plates.doubt_probability`: 0.01 at a million plates.
pub const DEFAULT_DOUBT_PROBABILITY: f64 = 1e-5;
/// Default of `plates.accuse_probability`.
pub const DEFAULT_ACCUSE_PROBABILITY: f64 = 0.2;
/// The registry size up to which `plates.clear_probability` applies unchanged.
pub const CLEAR_PROBABILITY_BASE_PLATES: usize = 1000;
/// Largest `plates.fuzzy_max_cost` accepted: beyond it nearly any plate clears any other.
pub const MAX_FUZZY_MAX_COST: f32 = 3.0;
/// Default of `plates.min_confidence`.
pub const DEFAULT_MIN_CONFIDENCE: f32 = 0.5;
/// Largest `analyse_fps` accepted.
pub const MAX_ANALYSE_FPS: f64 = 240.0;

/// Why a site file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The file could not be read.
    #[error("cannot read site config {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML of the expected shape (syntax, unknown key, wrong type). The message
    /// carries the line and column.
    #[error("{file}: {source}")]
    Parse {
        /// The file.
        file: String,
        /// The TOML error.
        #[source]
        source: toml::de::Error,
    },
    /// The file parsed, but values are wrong: every problem, each with its field path.
    #[error("{}", display_problems(file, problems))]
    Invalid {
        /// The file.
        file: String,
        /// Every problem found.
        problems: Vec<FieldProblem>,
    },
}

/// One wrong value, at a field path such as `cameras[2].zone`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's path (array indices 0-based).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn display_problems(file: &str, problems: &[FieldProblem]) -> String {
    match problems {
        [one] => format!("{file}: {one}"),
        _ => {
            let mut s = format!("{file}: {} problems:", problems.len());
            for p in problems {
                s.push_str(&format!("\n  {p}"));
            }
            s
        }
    }
}

// ---- stage 1: raw ----------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    name: Option<String>,
    utc_offset: Option<String>,
    plates: Option<RawPlates>,
    faces: Option<RawFaces>,
    retention: Option<RawRetention>,
    #[serde(default)]
    cameras: Vec<RawCamera>,
    #[serde(default)]
    zones: Vec<RawZone>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlates {
    regions: Option<Vec<String>>,
    fuzzy_max_cost: Option<f32>,
    clear_probability: Option<f64>,
    clear_probability_per_decade: Option<f64>,
    doubt_probability: Option<f64>,
    accuse_probability: Option<f64>,
    doubtful: Option<Doubtful>,
    min_confidence: Option<f32>,
}

/// What a sighting becomes when no valid pass is probable enough to clear it and the read is not
/// sure enough, or a valid pass too plausible, to accuse (`plates.doubtful`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Doubtful {
    /// A low-priority `needs_review` event listing the candidates.
    Review,
    /// No event; counted as unreadable.
    Unreadable,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFaces {
    far: Option<f64>,
    threshold: Option<f32>,
    min_quality: Option<f32>,
    max_faces: Option<usize>,
    merge_window_s: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    // Signed, so that a negative value is reported as out of range rather than as a type error.
    events_days: Option<i64>,
    evidence_days: Option<i64>,
    dismissed_days: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCamera {
    id: String,
    source: Option<String>,
    zone: String,
    analyses: Option<Vec<String>>,
    analyse_fps: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    id: String,
    #[serde(default)]
    restrictions: Vec<RawRestriction>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestriction {
    from: Option<RawTime>,
    until: Option<RawTime>,
    days: Option<Vec<String>>,
    start: Option<String>,
    end: Option<String>,
}

/// A time written as a string, or as a bare TOML datetime (`from = 2026-03-01T00:00:00Z`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawTime {
    Text(String),
    Toml(toml::value::Datetime),
}

impl RawTime {
    fn parse(&self) -> Result<WallTime, String> {
        match self {
            RawTime::Text(s) => parse_time(s),
            RawTime::Toml(d) if d.offset.is_none() || d.date.is_none() || d.time.is_none() => Err(
                format!("{d} needs a date, a time and an offset (e.g. 2026-03-01T00:00:00Z)"),
            ),
            RawTime::Toml(d) => parse_time(&d.to_string()),
        }
    }
}

// ---- stage 2: checked ------------------------------------------------------------------------

/// What a camera's frames are analysed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Analysis {
    /// Licence plates, checked against the pass registry.
    Plates,
    /// Faces, checked against the watchlist.
    Faces,
    /// QR pass codes, at checkpoints.
    Qr,
}

impl Analysis {
    fn parse(text: &str) -> Result<Analysis, String> {
        match text {
            "plates" => Ok(Analysis::Plates),
            "faces" => Ok(Analysis::Faces),
            "qr" => Ok(Analysis::Qr),
            _ => Err(format!(
                "unknown analysis {text:?}: use plates, faces or qr"
            )),
        }
    }
}

/// Plate reading and matching settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateSettings {
    /// Plate-format region ids to read with; default [`DEFAULT_REGIONS`]. Never empty.
    pub regions: Vec<String>,
    /// The largest confusable-aware edit cost, from the consensus or any read of the track, at
    /// which a near plate's pass is weighed by the benefit of the doubt; default
    /// [`DEFAULT_FUZZY_MAX_COST`], 0 to [`MAX_FUZZY_MAX_COST`]. 0 turns the benefit of the doubt
    /// off.
    pub fuzzy_max_cost: f32,
    /// A valid pass whose plate the track shows with at least this probability clears the
    /// sighting, in a registry of up to [`CLEAR_PROBABILITY_BASE_PLATES`] plates; default
    /// [`DEFAULT_CLEAR_PROBABILITY`], 0 to 1. See [`PlateSettings::clear_threshold`].
    pub clear_probability: f64,
    /// How much more probable a clearing pass must be per tenfold more plates in the registry:
    /// the more plates, the likelier a near plate by chance. Default
    /// [`DEFAULT_CLEAR_PROBABILITY_PER_DECADE`], 0 to 1.
    pub clear_probability_per_decade: f64,
    /// A valid pass at least this probable, but not enough to clear, stops an accusation: the
    /// sighting is doubtful. It applies to a registry of up to
    /// [`CLEAR_PROBABILITY_BASE_PLATES`] plates and grows in proportion to the registry beyond
    /// (see [`PlateSettings::doubt_threshold`]). Default [`DEFAULT_DOUBT_PROBABILITY`], 0 to 1.
    pub doubt_probability: f64,
    /// The probability of its own consensus plate a track needs to accuse; below it the sighting
    /// is doubtful. Default [`DEFAULT_ACCUSE_PROBABILITY`], 0 to 1.
    pub accuse_probability: f64,
    /// What a doubtful sighting becomes; default [`Doubtful::Review`].
    pub doubtful: Doubtful,
    /// Sightings whose consensus confidence is below this raise nothing and are counted as
    /// unreadable; default [`DEFAULT_MIN_CONFIDENCE`], 0 to 1.
    pub min_confidence: f32,
}

impl Default for PlateSettings {
    fn default() -> Self {
        PlateSettings {
            regions: DEFAULT_REGIONS.iter().map(|r| r.to_string()).collect(),
            fuzzy_max_cost: DEFAULT_FUZZY_MAX_COST,
            clear_probability: DEFAULT_CLEAR_PROBABILITY,
            clear_probability_per_decade: DEFAULT_CLEAR_PROBABILITY_PER_DECADE,
            doubt_probability: DEFAULT_DOUBT_PROBABILITY,
            accuse_probability: DEFAULT_ACCUSE_PROBABILITY,
            doubtful: Doubtful::Review,
            min_confidence: DEFAULT_MIN_CONFIDENCE,
        }
    }
}

impl PlateSettings {
    /// The probability a valid pass's plate needs to clear a sighting in a registry of `plates`
    /// distinct plates: `clear_probability` up to [`CLEAR_PROBABILITY_BASE_PLATES`], then
    /// `clear_probability_per_decade` more per tenfold, at most 0.99.
    pub fn clear_threshold(&self, plates: usize) -> f64 {
        let decades = (plates.max(1) as f64 / CLEAR_PROBABILITY_BASE_PLATES as f64)
            .log10()
            .max(0.0);
        (self.clear_probability + self.clear_probability_per_decade * decades).min(0.99)
    }

    /// The probability at which a valid pass stops an accusation in a registry of `plates`
    /// distinct plates: `doubt_probability` up to [`CLEAR_PROBABILITY_BASE_PLATES`], then in
    /// proportion to the registry (the number of plates near a read by chance grows in
    /// proportion too), at most [`PlateSettings::clear_threshold`].
    pub fn doubt_threshold(&self, plates: usize) -> f64 {
        let scale = (plates.max(1) as f64 / CLEAR_PROBABILITY_BASE_PLATES as f64).max(1.0);
        (self.doubt_probability * scale).min(self.clear_threshold(plates))
    }
}

/// Default of `faces.far`.
pub const DEFAULT_FACE_FAR: f64 = 1e-4;
/// Default of `faces.min_quality`.
pub const DEFAULT_FACE_MIN_QUALITY: f32 = 0.3;
/// Default of `faces.max_faces`.
pub const DEFAULT_FACE_MAX_FACES: usize = 5;
/// Default of `faces.merge_window_s`.
pub const DEFAULT_FACE_MERGE_WINDOW_S: f64 = 30.0;

/// Face matching settings (`[faces]`).
#[derive(Clone, Debug, PartialEq)]
pub struct FaceSettings {
    /// The false-accept rate to run at; the cosine threshold is the embedder's measured one at
    /// this rate (its manifest's calibration). Default [`DEFAULT_FACE_FAR`]. With `threshold`
    /// also set, the rate that threshold is said to stand for.
    pub far: Option<f64>,
    /// A cosine threshold set by hand (−1 to 1); default none (from `far`).
    pub threshold: Option<f32>,
    /// Only faces at or above this quality (0..1) are matched. Default
    /// [`DEFAULT_FACE_MIN_QUALITY`].
    pub min_quality: f32,
    /// The best faces of a track that are matched. Default [`DEFAULT_FACE_MAX_FACES`].
    pub max_faces: usize,
    /// Breaches of one subject on one camera less than this many seconds apart are one
    /// sighting and raise one event (a person turning away or a camera cut splits tracks).
    /// Default [`DEFAULT_FACE_MERGE_WINDOW_S`]; 0 turns merging off.
    pub merge_window_s: f64,
}

impl Default for FaceSettings {
    fn default() -> Self {
        FaceSettings {
            far: Some(DEFAULT_FACE_FAR),
            threshold: None,
            min_quality: DEFAULT_FACE_MIN_QUALITY,
            max_faces: DEFAULT_FACE_MAX_FACES,
            merge_window_s: DEFAULT_FACE_MERGE_WINDOW_S,
        }
    }
}

/// Largest number of days any `retention` period accepts (100 years): beyond it, leave the
/// field out to keep for ever.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// How long a data folder keeps what it holds (`[retention]`); each period in whole days counted
/// back from the purge, and `None` (the default) keeps for ever. The purge
/// (`passwatch_events::retention`) applies it to the sighting's time of each event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Events older than this are removed, with their verdicts and evidence. 1 to
    /// [`MAX_RETENTION_DAYS`]; default none.
    pub events_days: Option<u32>,
    /// Evidence images older than this are removed; the event stays and records when. 1 to
    /// [`MAX_RETENTION_DAYS`], at most `events_days`; default none.
    pub evidence_days: Option<u32>,
    /// Dismissed events older than this are removed, with their verdicts and evidence: a
    /// dismissal clears the person, and the record of a wrong accusation should not outlive
    /// its use. 1 to [`MAX_RETENTION_DAYS`], at most `events_days`; default none.
    pub dismissed_days: Option<u32>,
}

impl Retention {
    /// Whether nothing ever expires.
    pub fn keeps_forever(&self) -> bool {
        self.events_days.is_none() && self.evidence_days.is_none() && self.dismissed_days.is_none()
    }
}

/// One camera.
#[derive(Clone, Debug, PartialEq)]
pub struct Camera {
    /// Unique id, used in events and in event ids.
    pub id: String,
    /// Where frames come from (`file://`, `rtsp://`, or a GStreamer launch description); none
    /// when a replay supplies files.
    pub source: Option<String>,
    /// The zone the camera watches (always a zone of the site).
    pub zone: String,
    /// What its frames are analysed for; default plates only. Never empty.
    pub analyses: Vec<Analysis>,
    /// Frames per second to analyse, overriding the run's setting; default none.
    pub analyse_fps: Option<f64>,
}

impl Camera {
    /// Whether the camera runs `analysis`.
    pub fn runs(&self, analysis: Analysis) -> bool {
        self.analyses.contains(&analysis)
    }
}

/// A set of days of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Days(u8);

impl Days {
    /// Every day.
    pub const ALL: Days = Days(0b111_1111);

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }
}

/// One period during which a zone is restricted for part of some days.
#[derive(Clone, Debug, PartialEq)]
pub struct Restriction {
    /// Start of the period (inclusive); none: since always.
    pub from: Option<WallTime>,
    /// End of the period (exclusive); none: for ever.
    pub until: Option<WallTime>,
    /// The days on which the daily window starts; default every day.
    pub days: Days,
    /// Start of the daily window, minutes after local midnight (0..1440); default 0.
    pub start_minute: u16,
    /// End of the daily window (exclusive), minutes after local midnight (1..=1440); default
    /// 1440. When it is not after `start_minute`, the window runs past midnight into the next
    /// day, and it belongs to the day it starts on.
    pub end_minute: u16,
}

impl Restriction {
    /// Whether this restriction is in force at `t`, with times of day local to `offset`.
    pub fn in_force(&self, t: WallTime, offset: FixedOffset) -> bool {
        if self.from.is_some_and(|from| t < from) || self.until.is_some_and(|until| t >= until) {
            return false;
        }
        let local = t.with_timezone(&offset);
        let minute = (local.num_seconds_from_midnight() / 60) as u16;
        let today = local.weekday();
        if self.start_minute < self.end_minute {
            self.days.contains(today) && (self.start_minute..self.end_minute).contains(&minute)
        } else {
            (self.days.contains(today) && minute >= self.start_minute)
                || (self.days.contains(today.pred()) && minute < self.end_minute)
        }
    }
}

/// A zone and its restriction schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    /// Unique id, referred to by cameras and by passes.
    pub id: String,
    /// When the restriction is in force: at any time at least one entry is in force. No entries:
    /// never restricted (a zone listed only to be watched, or whose restriction has been lifted).
    pub restrictions: Vec<Restriction>,
    /// The site's offset, in which the restrictions' times of day are local.
    pub utc_offset: FixedOffset,
}

impl Zone {
    /// Whether the zone's restriction is in force at `t`. A zone with no restriction entries is
    /// never restricted.
    pub fn restricted_at(&self, t: WallTime) -> bool {
        self.restrictions
            .iter()
            .any(|r| r.in_force(t, self.utc_offset))
    }
}

/// A checked site configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    /// The site's name; default none.
    pub name: Option<String>,
    /// Offset of the site's local time from UTC; default `+00:00`.
    pub utc_offset: FixedOffset,
    /// Plate reading and matching settings.
    pub plates: PlateSettings,
    /// Face matching settings.
    pub faces: FaceSettings,
    /// How long events and evidence are kept.
    pub retention: Retention,
    /// The cameras, in file order, ids unique.
    pub cameras: Vec<Camera>,
    /// The zones, in file order, ids unique.
    pub zones: Vec<Zone>,
}

impl Site {
    /// Reads and checks a site file.
    pub fn load(path: impl AsRef<Path>) -> Result<Site, SiteError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SiteError::Read {
            path: path.to_owned(),
            source,
        })?;
        Site::from_toml_str(&text, &path.display().to_string())
    }

    /// A site of one camera `camera` in zone `zone` reading plates of `regions` (and faces when
    /// `faces`), the zone restricted at all times or never, plus a zone `home` for watchlist
    /// subjects: the site an evaluation or a benchmark decides on.
    pub fn one_camera(
        camera: &str,
        zone: &str,
        regions: &[String],
        faces: bool,
        restricted: bool,
    ) -> Result<Site, SiteError> {
        let analyses = if faces {
            "[\"plates\", \"faces\"]"
        } else {
            "[\"plates\"]"
        };
        let regions = regions
            .iter()
            .map(|r| format!("{r:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let restriction = if restricted {
            "[[zones.restrictions]]\n"
        } else {
            ""
        };
        let text = format!(
            "name = {camera:?}\nutc_offset = \"+00:00\"\n[plates]\nregions = [{regions}]\n\
             [[cameras]]\nid = {camera:?}\nzone = {zone:?}\nanalyses = {analyses}\n\
             [[zones]]\nid = {zone:?}\n{restriction}[[zones]]\nid = \"home\"\n"
        );
        Site::from_toml_str(&text, &format!("<site of {camera}>"))
    }

    /// Parses and checks the text of a site file; `file` names it in errors.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Site, SiteError> {
        let raw: RawSite = toml::from_str(text).map_err(|source| SiteError::Parse {
            file: file.to_owned(),
            source,
        })?;
        let mut v = Validator::default();
        let site = v.site(raw);
        if v.problems.is_empty() {
            Ok(site)
        } else {
            Err(SiteError::Invalid {
                file: file.to_owned(),
                problems: v.problems,
            })
        }
    }

    /// The camera with this id.
    pub fn camera(&self, id: &str) -> Option<&Camera> {
        self.cameras.iter().find(|c| c.id == id)
    }

    /// The zone with this id.
    pub fn zone(&self, id: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// The zone a camera watches.
    pub fn zone_of_camera(&self, camera_id: &str) -> Option<&Zone> {
        self.camera(camera_id).and_then(|c| self.zone(&c.zone))
    }
}

#[derive(Default)]
struct Validator {
    problems: Vec<FieldProblem>,
}

impl Validator {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(FieldProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn take<T>(&mut self, path: impl Into<String>, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.problem(path, e)).ok()
    }

    fn site(&mut self, raw: RawSite) -> Site {
        let utc_offset = match raw.utc_offset.as_deref() {
            None => Some(utc()),
            Some(s) => self.take("utc_offset", parse_offset(s)),
        }
        .unwrap_or_else(utc);
        let plates = self.plates(raw.plates);
        let faces = self.faces(raw.faces);
        let retention = self.retention(raw.retention);

        let mut zones = Vec::with_capacity(raw.zones.len());
        let mut zone_ids = HashSet::new();
        for (i, z) in raw.zones.into_iter().enumerate() {
            let path = format!("zones[{i}]");
            if !is_valid_id(&z.id) {
                self.problem(format!("{path}.id"), bad_id(&z.id));
            } else if !zone_ids.insert(z.id.clone()) {
                self.problem(
                    format!("{path}.id"),
                    format!("zone {:?} defined twice", z.id),
                );
            }
            let restrictions = z
                .restrictions
                .into_iter()
                .enumerate()
                .filter_map(|(j, r)| self.restriction(&format!("{path}.restrictions[{j}]"), r))
                .collect();
            zones.push(Zone {
                id: z.id,
                restrictions,
                utc_offset,
            });
        }

        let mut cameras = Vec::with_capacity(raw.cameras.len());
        let mut camera_ids = HashSet::new();
        for (i, c) in raw.cameras.into_iter().enumerate() {
            let path = format!("cameras[{i}]");
            if !is_valid_id(&c.id) {
                self.problem(format!("{path}.id"), bad_id(&c.id));
            } else if !camera_ids.insert(c.id.clone()) {
                self.problem(
                    format!("{path}.id"),
                    format!("camera {:?} defined twice", c.id),
                );
            }
            if !zone_ids.contains(&c.zone) {
                self.problem(format!("{path}.zone"), format!("unknown zone {:?}", c.zone));
            }
            if c.source.as_deref().is_some_and(|s| s.trim().is_empty()) {
                self.problem(format!("{path}.source"), "empty; leave it out instead");
            }
            let analyses = match c.analyses {
                None => vec![Analysis::Plates],
                Some(list) => {
                    if list.is_empty() {
                        self.problem(
                            format!("{path}.analyses"),
                            "empty: a camera must run at least one analysis",
                        );
                    }
                    let mut out: Vec<Analysis> = Vec::new();
                    for (j, a) in list.iter().enumerate() {
                        if let Some(a) =
                            self.take(format!("{path}.analyses[{j}]"), Analysis::parse(a))
                        {
                            if out.contains(&a) {
                                self.problem(format!("{path}.analyses[{j}]"), "listed twice");
                            } else {
                                out.push(a);
                            }
                        }
                    }
                    out
                }
            };
            if let Some(fps) = c.analyse_fps {
                if !(fps > 0.0 && fps <= MAX_ANALYSE_FPS) {
                    self.problem(
                        format!("{path}.analyse_fps"),
                        format!(
                            "{fps} is out of range: must be above 0 and at most {MAX_ANALYSE_FPS}"
                        ),
                    );
                }
            }
            cameras.push(Camera {
                id: c.id,
                source: c.source,
                zone: c.zone,
                analyses,
                analyse_fps: c.analyse_fps,
            });
        }

        Site {
            name: raw.name,
            utc_offset,
            plates,
            faces,
            retention,
            cameras,
            zones,
        }
    }

    fn retention(&mut self, raw: Option<RawRetention>) -> Retention {
        let Some(raw) = raw else {
            return Retention::default();
        };
        let mut days = |field: &str, value: Option<i64>| -> Option<u32> {
            let v = value?;
            match u32::try_from(v) {
                Ok(d) if (1..=MAX_RETENTION_DAYS).contains(&d) => Some(d),
                _ => {
                    self.problem(
                        format!("retention.{field}"),
                        format!(
                            "{v} is out of range: a whole number of days from 1 to \
                             {MAX_RETENTION_DAYS}; leave it out to keep for ever"
                        ),
                    );
                    None
                }
            }
        };
        let out = Retention {
            events_days: days("events_days", raw.events_days),
            evidence_days: days("evidence_days", raw.evidence_days),
            dismissed_days: days("dismissed_days", raw.dismissed_days),
        };
        if let Some(events) = out.events_days {
            for (field, value, why) in [
                (
                    "evidence_days",
                    out.evidence_days,
                    "evidence cannot outlive its event",
                ),
                (
                    "dismissed_days",
                    out.dismissed_days,
                    "a dismissed event cannot outlive every event",
                ),
            ] {
                if let Some(d) = value.filter(|&d| d > events) {
                    self.problem(
                        format!("retention.{field}"),
                        format!("{d} is above retention.events_days {events}: {why}"),
                    );
                }
            }
        }
        out
    }

    fn plates(&mut self, raw: Option<RawPlates>) -> PlateSettings {
        let mut out = PlateSettings::default();
        let Some(raw) = raw else { return out };
        if let Some(regions) = raw.regions {
            if regions.is_empty() {
                self.problem("plates.regions", "empty: list at least one plate format");
            }
            let mut seen = Vec::new();
            for (i, r) in regions.iter().enumerate() {
                if let Some(r) = self.take(format!("plates.regions[{i}]"), parse_region(r)) {
                    if seen.contains(&r) {
                        self.problem(
                            format!("plates.regions[{i}]"),
                            format!("{r:?} listed twice"),
                        );
                    } else {
                        seen.push(r);
                    }
                }
            }
            out.regions = seen;
        }
        if let Some(c) = raw.fuzzy_max_cost {
            if (0.0..=MAX_FUZZY_MAX_COST).contains(&c) {
                out.fuzzy_max_cost = c;
            } else {
                self.problem(
                    "plates.fuzzy_max_cost",
                    format!("{c} is out of range: must be 0 to {MAX_FUZZY_MAX_COST}"),
                );
            }
        }
        for (field, value, slot) in [
            (
                "plates.clear_probability",
                raw.clear_probability,
                &mut out.clear_probability,
            ),
            (
                "plates.clear_probability_per_decade",
                raw.clear_probability_per_decade,
                &mut out.clear_probability_per_decade,
            ),
            (
                "plates.doubt_probability",
                raw.doubt_probability,
                &mut out.doubt_probability,
            ),
            (
                "plates.accuse_probability",
                raw.accuse_probability,
                &mut out.accuse_probability,
            ),
        ] {
            if let Some(p) = value {
                if (0.0..=1.0).contains(&p) {
                    *slot = p;
                } else {
                    self.problem(field, format!("{p} is out of range: must be 0 to 1"));
                }
            }
        }
        if let Some(d) = raw.doubtful {
            out.doubtful = d;
        }
        if out.doubt_probability > out.clear_probability {
            self.problem(
                "plates.doubt_probability",
                format!(
                    "{} is above plates.clear_probability {}: a pass that plausible would clear",
                    out.doubt_probability, out.clear_probability
                ),
            );
        }
        if let Some(c) = raw.min_confidence {
            if (0.0..=1.0).contains(&c) {
                out.min_confidence = c;
            } else {
                self.problem(
                    "plates.min_confidence",
                    format!("{c} is out of range: must be 0 to 1"),
                );
            }
        }
        out
    }

    fn faces(&mut self, raw: Option<RawFaces>) -> FaceSettings {
        let mut out = FaceSettings::default();
        let Some(raw) = raw else { return out };
        if let Some(far) = raw.far {
            if far > 0.0 && far < 1.0 {
                out.far = Some(far);
            } else {
                self.problem(
                    "faces.far",
                    format!("{far} is out of range: a rate above 0 and below 1"),
                );
            }
        } else if raw.threshold.is_some() {
            out.far = None; // a hand-set threshold stands for no measured rate
        }
        if let Some(t) = raw.threshold {
            if t.is_finite() && (-1.0..=1.0).contains(&t) {
                out.threshold = Some(t);
            } else {
                self.problem(
                    "faces.threshold",
                    format!("{t} is out of range: a cosine from -1 to 1"),
                );
            }
        }
        if let Some(q) = raw.min_quality {
            if (0.0..=1.0).contains(&q) {
                out.min_quality = q;
            } else {
                self.problem(
                    "faces.min_quality",
                    format!("{q} is out of range: must be 0 to 1"),
                );
            }
        }
        if let Some(w) = raw.merge_window_s {
            if w.is_finite() && (0.0..=86_400.0).contains(&w) {
                out.merge_window_s = w;
            } else {
                self.problem(
                    "faces.merge_window_s",
                    format!("{w} is out of range: 0 to 86400 seconds"),
                );
            }
        }
        if let Some(k) = raw.max_faces {
            if k >= 1 {
                out.max_faces = k;
            } else {
                self.problem("faces.max_faces", "must be at least 1");
            }
        }
        out
    }

    fn restriction(&mut self, path: &str, raw: RawRestriction) -> Option<Restriction> {
        let before = self.problems.len();
        let from = raw
            .from
            .and_then(|t| self.take(format!("{path}.from"), t.parse()));
        let until = raw
            .until
            .and_then(|t| self.take(format!("{path}.until"), t.parse()));
        if let (Some(f), Some(u)) = (from, until) {
            if u <= f {
                self.problem(format!("{path}.until"), "not after from");
            }
        }
        let days = match raw.days {
            None => Days::ALL,
            Some(list) => {
                if list.is_empty() {
                    self.problem(format!("{path}.days"), "empty: leave it out for every day");
                }
                let mut bits = 0u8;
                for (i, d) in list.iter().enumerate() {
                    if let Some(day) = self.take(format!("{path}.days[{i}]"), parse_day(d)) {
                        let bit = 1 << day.num_days_from_monday();
                        if bits & bit != 0 {
                            self.problem(
                                format!("{path}.days[{i}]"),
                                format!("{d:?} listed twice"),
                            );
                        }
                        bits |= bit;
                    }
                }
                Days(bits)
            }
        };
        let start = match raw.start.as_deref() {
            None => Some(0),
            Some(s) => self.take(format!("{path}.start"), parse_time_of_day(s, false)),
        };
        let end = match raw.end.as_deref() {
            None => Some(24 * 60),
            Some(s) => self.take(format!("{path}.end"), parse_time_of_day(s, true)),
        };
        if let (Some(s), Some(e)) = (start, end) {
            if s == e {
                self.problem(
                    format!("{path}.end"),
                    "same as start, an empty window; for all day use start 00:00, end 24:00",
                );
            }
        }
        (self.problems.len() == before).then(|| Restriction {
            from,
            until,
            days,
            start_minute: start.unwrap_or(0),
            end_minute: end.unwrap_or(24 * 60),
        })
    }
}

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("an offset of 0 is in range")
}

fn bad_id(id: &str) -> String {
    format!("bad id {id:?}: use 1 to 64 letters, digits, '-', '_' or '.'")
}

/// Parses `+HH:MM`, `-HH:MM` or `Z`, at most 14 hours from UTC.
fn parse_offset(text: &str) -> Result<FixedOffset, String> {
    let bad = || format!("bad offset {text:?}: write it as +HH:MM or -HH:MM, e.g. \"+05:30\"");
    let t = text.trim();
    if t == "Z" {
        return Ok(utc());
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if h > 14 || m > 59 || (h == 14 && m > 0) {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

/// Parses `HH:MM` into minutes after midnight; `24:00` only when `is_end`.
fn parse_time_of_day(text: &str, is_end: bool) -> Result<u16, String> {
    let bad = || {
        format!(
            "bad time of day {text:?}: write HH:MM from 00:00 to {}",
            if is_end { "24:00" } else { "23:59" }
        )
    };
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    match (h, m) {
        (24, 0) if is_end => Ok(24 * 60),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

/// Parses `mon` … `sun` (any case).
fn parse_day(text: &str) -> Result<Weekday, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "mon" => Ok(Weekday::Mon),
        "tue" => Ok(Weekday::Tue),
        "wed" => Ok(Weekday::Wed),
        "thu" => Ok(Weekday::Thu),
        "fri" => Ok(Weekday::Fri),
        "sat" => Ok(Weekday::Sat),
        "sun" => Ok(Weekday::Sun),
        _ => Err(format!(
            "bad day {text:?}: use mon, tue, wed, thu, fri, sat or sun"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        name = "demo"
        utc_offset = "+02:00"
        [plates]
        regions = ["us", "eu"]
        fuzzy_max_cost = 0.5
        [[cameras]]
        id = "gate-north"
        source = "rtsp://10.0.0.5/stream1"
        zone = "centre"
        [[cameras]]
        id = "gate-south"
        zone = "open"
        analyses = ["plates", "qr"]
        analyse_fps = 10.0
        [[zones]]
        id = "centre"
        [[zones.restrictions]]
        from = "2026-03-01T00:00:00Z"
        until = 2026-06-01T00:00:00Z
        days = ["mon", "tue", "wed", "thu", "fri"]
        start = "22:00"
        end = "06:00"
        [[zones]]
        id = "open"
    "#;

    fn t(s: &str) -> WallTime {
        s.parse().unwrap()
    }

    fn invalid(text: &str) -> String {
        match Site::from_toml_str(text, "site.toml") {
            Err(e @ SiteError::Invalid { .. }) => e.to_string(),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn loads_and_defaults() {
        let site = Site::from_toml_str(GOOD, "site.toml").unwrap();
        assert_eq!(site.name.as_deref(), Some("demo"));
        assert_eq!(site.plates.regions, ["us", "eu"]);
        assert_eq!(site.plates.fuzzy_max_cost, 0.5);
        assert_eq!(site.plates.min_confidence, DEFAULT_MIN_CONFIDENCE);
        let north = site.camera("gate-north").unwrap();
        assert_eq!(north.analyses, [Analysis::Plates]);
        assert!(site.camera("gate-south").unwrap().runs(Analysis::Qr));
        assert_eq!(site.zone_of_camera("gate-south").unwrap().id, "open");
        assert!(site.camera("nope").is_none());

        let minimal = Site::from_toml_str("", "empty.toml").unwrap();
        assert_eq!(minimal.plates, PlateSettings::default());
        assert_eq!(minimal.utc_offset, utc());
    }

    #[test]
    fn schedule_wraps_past_midnight_in_local_time() {
        let site = Site::from_toml_str(GOOD, "site.toml").unwrap();
        let centre = site.zone("centre").unwrap();
        // 2026-04-06 is a Monday. Local time is UTC+2.
        assert!(centre.restricted_at(t("2026-04-06T20:00:00Z"))); // Mon 22:00 local
        assert!(!centre.restricted_at(t("2026-04-06T19:59:59Z"))); // Mon 21:59 local
        assert!(centre.restricted_at(t("2026-04-07T03:59:00Z"))); // Tue 05:59, Mon's window
        assert!(!centre.restricted_at(t("2026-04-07T04:00:00Z"))); // Tue 06:00
                                                                   // Friday night's window runs into Saturday morning; Saturday night has none.
        assert!(centre.restricted_at(t("2026-04-11T01:00:00Z"))); // Sat 03:00 local
        assert!(!centre.restricted_at(t("2026-04-11T21:00:00Z"))); // Sat 23:00 local
        assert!(!centre.restricted_at(t("2026-04-12T01:00:00Z"))); // Sun 03:00 local
                                                                   // Outside the period.
        assert!(!centre.restricted_at(t("2026-06-01T20:00:00Z")));
        assert!(!centre.restricted_at(t("2026-02-23T20:00:00Z")));
        // A zone with no entries is never restricted.
        assert!(!site
            .zone("open")
            .unwrap()
            .restricted_at(t("2026-04-06T20:00:00Z")));
    }

    #[test]
    fn all_day_by_default() {
        let site = Site::from_toml_str(
            "[[zones]]\nid = \"z\"\n[[zones.restrictions]]\n",
            "site.toml",
        )
        .unwrap();
        let z = site.zone("z").unwrap();
        assert!(z.restricted_at(t("2026-04-06T00:00:00Z")));
        assert!(z.restricted_at(t("2026-04-06T23:59:59Z")));
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let msg = invalid(
            r#"
            utc_offset = "+2"
            [plates]
            regions = []
            fuzzy_max_cost = 5.0
            min_confidence = -0.1
            [[cameras]]
            id = "a"
            zone = "centre"
            [[cameras]]
            id = "a"
            zone = "centre"
            analyses = ["plates", "x-ray"]
            [[cameras]]
            id = "c"
            zone = "west"
            analyse_fps = 0.0
            [[zones]]
            id = "centre"
            [[zones.restrictions]]
            days = ["mon", "funday"]
            start = "25:00"
            end = "24:00"
            from = "2026-03-01"
            "#,
        );
        for want in [
            "site.toml: 11 problems:",
            "\n  utc_offset: bad offset \"+2\"",
            "\n  plates.regions: empty",
            "\n  plates.fuzzy_max_cost: 5 is out of range",
            "\n  plates.min_confidence: -0.1 is out of range",
            "\n  zones[0].restrictions[0].from: bad date \"2026-03-01\"",
            "\n  zones[0].restrictions[0].days[1]: bad day \"funday\"",
            "\n  zones[0].restrictions[0].start: bad time of day \"25:00\"",
            "\n  cameras[1].id: camera \"a\" defined twice",
            "\n  cameras[1].analyses[1]: unknown analysis \"x-ray\"",
            "\n  cameras[2].zone: unknown zone \"west\"",
            "\n  cameras[2].analyse_fps: 0 is out of range",
        ] {
            assert!(msg.contains(want), "missing {want:?} in:\n{msg}");
        }
    }

    #[test]
    fn the_benefit_of_the_doubt_settings_are_checked() {
        let ok = Site::from_toml_str(
            "[plates]\nclear_probability = 0.1\nclear_probability_per_decade = 0.1\n\
             doubt_probability = 0.001\naccuse_probability = 0.5\ndoubtful = \"unreadable\"\n",
            "site.toml",
        )
        .unwrap();
        assert_eq!(ok.plates.doubtful, Doubtful::Unreadable);
        assert!((ok.plates.clear_threshold(1_000_000) - 0.4).abs() < 1e-9);
        assert!(
            (ok.plates.doubt_threshold(1_000_000) - 0.4).abs() < 1e-9,
            "capped at clear"
        );
        let d = PlateSettings::default();
        assert_eq!(d.doubtful, Doubtful::Review);
        assert!((d.clear_threshold(1_000_000) - 0.2).abs() < 1e-9);
        let msg = invalid(
            "[plates]\nclear_probability = 1.5\naccuse_probability = -1\n\
             doubt_probability = 0.3\n",
        );
        for want in [
            "plates.clear_probability: 1.5 is out of range: must be 0 to 1",
            "plates.accuse_probability: -1 is out of range: must be 0 to 1",
            "plates.doubt_probability: 0.3 is above plates.clear_probability 0.05",
        ] {
            assert!(msg.contains(want), "missing {want:?} in:\n{msg}");
        }
        let msg = Site::from_toml_str("[plates]\ndoubtful = \"maybe\"\n", "site.toml")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("site.toml") && msg.contains("doubtful") && msg.contains("maybe"),
            "{msg}"
        );
    }

    #[test]
    fn one_problem_is_one_line() {
        let msg = invalid("[[cameras]]\nid = \"c\"\nzone = \"west\"\n");
        assert_eq!(msg, "site.toml: cameras[0].zone: unknown zone \"west\"");
    }

    #[test]
    fn unknown_keys_are_parse_errors_with_position() {
        let err = Site::from_toml_str(
            "[[cameras]]\nid = \"c\"\nzone = \"z\"\ncolour = 1\n",
            "site.toml",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SiteError::Parse { .. }));
        assert!(msg.contains("site.toml") && msg.contains("colour"), "{msg}");
        assert!(msg.contains("line 4"), "{msg}");
    }

    #[test]
    fn empty_window_and_bad_period() {
        let msg = invalid(
            "[[zones]]\nid = \"z\"\n[[zones.restrictions]]\nstart = \"06:00\"\nend = \"06:00\"\n\
             from = \"2026-03-02T00:00:00Z\"\nuntil = \"2026-03-01T00:00:00Z\"\n",
        );
        assert!(
            msg.contains("zones[0].restrictions[0].end: same as start"),
            "{msg}"
        );
        assert!(
            msg.contains("zones[0].restrictions[0].until: not after from"),
            "{msg}"
        );
    }

    #[test]
    fn retention_defaults_to_keeping_for_ever_and_reads_its_periods() {
        let site = Site::from_toml_str(GOOD, "site.toml").unwrap();
        assert_eq!(site.retention, Retention::default());
        assert!(site.retention.keeps_forever());
        let site = Site::from_toml_str(
            "[retention]\nevents_days = 365\nevidence_days = 90\ndismissed_days = 365\n",
            "site.toml",
        )
        .unwrap();
        assert_eq!(
            site.retention,
            Retention {
                events_days: Some(365),
                evidence_days: Some(90),
                dismissed_days: Some(365),
            }
        );
        // Each period alone, with no events period to be under.
        let site = Site::from_toml_str("[retention]\nevidence_days = 7\n", "site.toml").unwrap();
        assert_eq!(site.retention.evidence_days, Some(7));
        assert_eq!(site.retention.events_days, None);
        assert!(!site.retention.keeps_forever());
        let site = Site::from_toml_str("[retention]\n", "site.toml").unwrap();
        assert!(site.retention.keeps_forever());
    }

    #[test]
    fn retention_periods_are_checked_and_named() {
        let msg =
            invalid("[retention]\nevents_days = 0\nevidence_days = -3\ndismissed_days = 36501\n");
        for want in [
            "site.toml: 3 problems:",
            "\n  retention.events_days: 0 is out of range: a whole number of days from 1 to 36500",
            "\n  retention.evidence_days: -3 is out of range",
            "\n  retention.dismissed_days: 36501 is out of range",
        ] {
            assert!(msg.contains(want), "missing {want:?} in:\n{msg}");
        }
        let msg =
            invalid("[retention]\nevents_days = 30\nevidence_days = 31\ndismissed_days = 30\n");
        assert_eq!(
            msg,
            "site.toml: retention.evidence_days: 31 is above retention.events_days 30: evidence \
             cannot outlive its event"
        );
        let msg = invalid("[retention]\nevents_days = 30\ndismissed_days = 60\n");
        assert!(
            msg.contains("retention.dismissed_days: 60 is above retention.events_days 30"),
            "{msg}"
        );
        // Unknown keys and wrong types are parse errors naming the key.
        for (text, key) in [
            ("[retention]\nevent_days = 30\n", "event_days"),
            ("[retention]\nevents_days = 1.5\n", "events_days"),
            ("[retention]\nevents_days = \"30d\"\n", "events_days"),
        ] {
            let err = Site::from_toml_str(text, "site.toml").unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, SiteError::Parse { .. }), "{msg}");
            assert!(msg.contains(key), "{key} not in {msg}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+05:30").unwrap().local_minus_utc(), 19800);
        assert_eq!(parse_offset("-03:00").unwrap().local_minus_utc(), -10800);
        assert_eq!(parse_offset("Z").unwrap(), utc());
        assert!(parse_offset("+15:00").is_err());
        assert!(parse_offset("05:00").is_err());
    }
}
