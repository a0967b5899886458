//! Passes: the checked type the registry stores and the rules decide against.
//!
//! The registry only stores a [`Pass`] that validation built (from an import file's row), so a
//! pass from the registry or a snapshot holds its invariants: a 16-character code, a normalised
//! plate on every vehicle pass and none on person passes, `valid_until` after `valid_from`. (The
//! fields are public for reading and for tests; code that builds a `Pass` by hand owns those
//! invariants.) The field checks live here, next to the type, so that the importer and any
//! future API share them.

use std::fmt;

use passwatch_plate_reader::text::normalise_plate;
use serde::{Deserialize, Serialize};

pub use passwatch_base::ids::is_valid_id;
use passwatch_base::time::WallTime;
pub use passwatch_base::time::{format_time, parse_time};

/// Length of a pass code.
pub const CODE_LEN: usize = 16;
/// Shortest plate a vehicle pass may carry, in characters after normalisation.
pub const PLATE_MIN_CHARS: usize = 2;
/// Longest plate a vehicle pass may carry, in characters after normalisation.
pub const PLATE_MAX_CHARS: usize = 10;

/// What a pass lets move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassKind {
    /// A vehicle, recognised by its plate.
    Vehicle,
    /// A person, recognised by the pass code (QR) they show.
    Person,
}

impl PassKind {
    /// The name used in files and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PassKind::Vehicle => "vehicle",
            PassKind::Person => "person",
        }
    }
}

impl fmt::Display for PassKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a pass is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassStatus {
    /// Issued and not withdrawn.
    Active,
    /// Withdrawn by the issuer; never valid again unless a later import re-activates it.
    Revoked,
}

impl PassStatus {
    /// The name used in files and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PassStatus::Active => "active",
            PassStatus::Revoked => "revoked",
        }
    }
}

impl fmt::Display for PassStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The zones a pass allows.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "Vec<String>", try_from = "Vec<String>")]
pub enum ZoneSet {
    /// Every zone (`*` in files).
    All,
    /// Only these zone ids, sorted and without duplicates.
    List(Vec<String>),
}

impl ZoneSet {
    /// Whether the pass allows `zone`.
    pub fn allows(&self, zone: &str) -> bool {
        match self {
            ZoneSet::All => true,
            ZoneSet::List(zones) => zones.binary_search_by(|z| z.as_str().cmp(zone)).is_ok(),
        }
    }

    /// Parses the file form: `*`, or zone ids separated by `;` (blanks around ids ignored).
    pub fn parse(text: &str) -> Result<ZoneSet, String> {
        Self::from_items(text.split(';').map(str::to_owned).collect())
    }

    /// Builds a set from separate items (a JSON array): `["*"]` is every zone.
    pub fn from_items(items: Vec<String>) -> Result<ZoneSet, String> {
        let mut zones: Vec<String> = items
            .iter()
            .map(|z| z.trim().to_owned())
            .filter(|z| !z.is_empty())
            .collect();
        if zones.is_empty() {
            return Err("no zones; write * for every zone".to_owned());
        }
        if zones.iter().any(|z| z == "*") {
            if zones.len() > 1 {
                return Err("* (every zone) cannot be combined with zone ids".to_owned());
            }
            return Ok(ZoneSet::All);
        }
        if let Some(bad) = zones.iter().find(|z| !is_valid_id(z)) {
            return Err(format!(
                "bad zone id {bad:?}: use letters, digits, '-', '_' or '.'"
            ));
        }
        zones.sort();
        zones.dedup();
        Ok(ZoneSet::List(zones))
    }

    /// The file form: `*` or ids joined by `;`.
    pub fn to_file_form(&self) -> String {
        match self {
            ZoneSet::All => "*".to_owned(),
            ZoneSet::List(zones) => zones.join(";"),
        }
    }
}

impl fmt::Display for ZoneSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneSet::All => f.write_str("every zone"),
            ZoneSet::List(zones) => f.write_str(&zones.join(", ")),
        }
    }
}

impl From<ZoneSet> for Vec<String> {
    fn from(z: ZoneSet) -> Vec<String> {
        match z {
            ZoneSet::All => vec!["*".to_owned()],
            ZoneSet::List(zones) => zones,
        }
    }
}

impl TryFrom<Vec<String>> for ZoneSet {
    type Error = String;
    fn try_from(items: Vec<String>) -> Result<ZoneSet, String> {
        ZoneSet::from_items(items)
    }
}

/// Why a pass does not clear a sighting, or that it does. See [`Pass::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PassValidity {
    /// Active, in its validity window, and allowing the zone.
    Valid,
    /// Active and current, but not for this zone.
    ZoneNotAllowed,
    /// Active, but its window starts after the time checked.
    NotYetValid,
    /// Active, but its window ended before the time checked.
    Expired,
    /// Revoked (whatever its window and zones).
    Revoked,
}

/// One pass, as validated and stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pass {
    /// The pass code: exactly [`CODE_LEN`] characters `A`–`Z`, `0`–`9`.
    pub code: String,
    /// What the pass lets move.
    pub kind: PassKind,
    /// The plate, normalised with [`normalise_plate`]; always present on vehicle passes, never on
    /// person passes.
    pub plate: Option<String>,
    /// The plate-format region (e.g. `us`, `eu`, `br`, `ar`, `cn`), lower case, if given.
    pub region: Option<String>,
    /// Start of validity (inclusive).
    pub valid_from: WallTime,
    /// End of validity (inclusive), always after `valid_from`.
    pub valid_until: WallTime,
    /// The zones the pass allows.
    pub zones: ZoneSet,
    /// Free text, e.g. `work`, `medical`; empty when not given.
    pub purpose: String,
    /// Active or revoked.
    pub status: PassStatus,
    /// Opaque reference to the holder (no names are needed); empty when not given.
    pub holder_ref: String,
    /// The registry version that last inserted or changed this pass (0 for a pass not yet stored).
    pub version: u64,
}

impl Pass {
    /// Whether this pass clears a sighting in `zone` at `at`, and if not, why.
    ///
    /// The window is inclusive at both ends: a pass whose `valid_until` is `23:59:59Z` still
    /// clears a sighting at exactly that second. Problems are reported in this order, the first
    /// that applies: revoked, then outside the window (not yet valid / expired), then zone.
    pub fn check(&self, zone: &str, at: WallTime) -> PassValidity {
        if self.status == PassStatus::Revoked {
            PassValidity::Revoked
        } else if at < self.valid_from {
            PassValidity::NotYetValid
        } else if at > self.valid_until {
            PassValidity::Expired
        } else if !self.zones.allows(zone) {
            PassValidity::ZoneNotAllowed
        } else {
            PassValidity::Valid
        }
    }

    /// Whether everything but the stored `version` is equal: a re-import of an unchanged row.
    pub fn same_content(&self, other: &Pass) -> bool {
        Pass {
            version: other.version,
            ..self.clone()
        } == *other
    }
}

/// Checks a pass code: trimmed, exactly [`CODE_LEN`] characters `A`–`Z` or `0`–`9`.
pub fn parse_code(text: &str) -> Result<String, String> {
    let code = text.trim();
    if code.is_empty() {
        return Err("missing".to_owned());
    }
    let n = code.chars().count();
    if n != CODE_LEN
        || !code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Err(format!(
            "bad code {code:?}: must be exactly {CODE_LEN} characters A-Z or 0-9 (has {n})"
        ));
    }
    Ok(code.to_owned())
}

/// Normalises and checks a plate: [`PLATE_MIN_CHARS`]–[`PLATE_MAX_CHARS`] letters or digits
/// after normalisation (letters outside ASCII, such as a CN province character, are allowed).
pub fn parse_plate(text: &str) -> Result<String, String> {
    let plate = normalise_plate(text);
    if let Some(bad) = plate.chars().find(|c| !c.is_alphanumeric()) {
        return Err(format!(
            "bad plate {text:?}: {bad:?} is not a letter or a digit"
        ));
    }
    let n = plate.chars().count();
    if !(PLATE_MIN_CHARS..=PLATE_MAX_CHARS).contains(&n) {
        return Err(format!(
            "bad plate {text:?}: {n} characters after normalisation, must be \
             {PLATE_MIN_CHARS} to {PLATE_MAX_CHARS}"
        ));
    }
    Ok(plate)
}

/// Checks a region id: lower-cased, ASCII letters, digits or `-`, 1–16 characters.
pub fn parse_region(text: &str) -> Result<String, String> {
    let region = text.trim().to_ascii_lowercase();
    if region.is_empty()
        || region.len() > 16
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "bad region {text:?}: use a plate-format id such as us, eu, br, ar, cn"
        ));
    }
    Ok(region)
}

/// Parses `vehicle` or `person` (any case).
pub fn parse_kind(text: &str) -> Result<PassKind, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "vehicle" => Ok(PassKind::Vehicle),
        "person" => Ok(PassKind::Person),
        "" => Err("missing".to_owned()),
        _ => Err(format!("bad kind {text:?}: must be vehicle or person")),
    }
}

/// Parses `active` or `revoked` (any case).
pub fn parse_status(text: &str) -> Result<PassStatus, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "active" => Ok(PassStatus::Active),
        "revoked" => Ok(PassStatus::Revoked),
        _ => Err(format!("bad status {text:?}: must be active or revoked")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> WallTime {
        s.parse().unwrap()
    }

    fn pass() -> Pass {
        Pass {
            code: "ABCDEFGH12345678".into(),
            kind: PassKind::Vehicle,
            plate: Some("ABC123".into()),
            region: None,
            valid_from: t("2026-04-01T00:00:00Z"),
            valid_until: t("2026-04-30T23:59:59Z"),
            zones: ZoneSet::parse("north;centre").unwrap(),
            purpose: String::new(),
            status: PassStatus::Active,
            holder_ref: String::new(),
            version: 1,
        }
    }

    #[test]
    fn checks_in_documented_order() {
        let p = pass();
        assert_eq!(
            p.check("centre", t("2026-04-10T00:00:00Z")),
            PassValidity::Valid
        );
        assert_eq!(
            p.check("centre", t("2026-04-30T23:59:59Z")),
            PassValidity::Valid
        );
        assert_eq!(
            p.check("west", t("2026-04-10T00:00:00Z")),
            PassValidity::ZoneNotAllowed
        );
        assert_eq!(
            p.check("west", t("2026-05-10T00:00:00Z")),
            PassValidity::Expired
        );
        assert_eq!(
            p.check("centre", t("2026-03-10T00:00:00Z")),
            PassValidity::NotYetValid
        );
        let revoked = Pass {
            status: PassStatus::Revoked,
            ..p
        };
        assert_eq!(
            revoked.check("west", t("2026-05-10T00:00:00Z")),
            PassValidity::Revoked
        );
    }

    #[test]
    fn zone_sets() {
        assert_eq!(ZoneSet::parse(" * ").unwrap(), ZoneSet::All);
        assert!(ZoneSet::parse("*;a").is_err());
        assert!(ZoneSet::parse(" ; ").is_err());
        assert!(ZoneSet::parse("a b").is_err());
        let z = ZoneSet::parse("b; a;b").unwrap();
        assert_eq!(z, ZoneSet::List(vec!["a".into(), "b".into()]));
        assert_eq!(z.to_file_form(), "a;b");
        assert!(z.allows("a") && !z.allows("c"));
        assert_eq!(serde_json::to_string(&ZoneSet::All).unwrap(), r#"["*"]"#);
    }

    #[test]
    fn field_checks() {
        assert!(parse_code("ABCDEFGH12345678").is_ok());
        assert!(parse_code("abcdefgh12345678").is_err());
        assert!(parse_code("ABCDEFGH1234567").is_err());
        assert_eq!(parse_plate("ab-12 3").unwrap(), "AB123");
        assert_eq!(parse_plate("京A·12345").unwrap(), "京A12345");
        assert!(parse_plate("A").is_err());
        assert!(parse_plate("AB#12").is_err());
        assert!(parse_plate("ABCDEFGHIJK").is_err());
        assert_eq!(parse_region(" US ").unwrap(), "us");
        assert!(parse_region("u s").is_err());
        assert_eq!(
            format_time(parse_time("2026-04-01T02:00:00+02:00").unwrap()),
            "2026-04-01T00:00:00Z"
        );
        assert!(parse_time("2026-13-01T00:00:00Z").is_err());
        assert_eq!(parse_kind("Vehicle").unwrap(), PassKind::Vehicle);
        assert_eq!(parse_status("REVOKED").unwrap(), PassStatus::Revoked);
    }
}
