//! Reading pass files: CSV or JSON, validated as a whole before anything is stored.
//!
//! Parsing is in two stages. The first reads the file into [`RawPass`]es, one per row or array
//! item, with every value still text; it rejects unknown columns or keys. The second checks every
//! field of every row with the checks of [`super::passes`], and the file-level rule that a code
//! appears once. Every problem is collected (up to [`MAX_REPORTED_PROBLEMS`] are kept for the
//! message) so that an operator can fix the whole file in one go; any problem at all means no
//! pass of the file is used.
//!
//! Columns (CSV header names or JSON keys), in any order:
//!
//! | field | required | default |
//! |---|---|---|
//! | `code`, `kind`, `valid_from`, `valid_until`, `zones` | yes | — |
//! | `plate` | for `vehicle` passes (forbidden on `person` passes) | none |
//! | `region` | no | none |
//! | `purpose`, `holder_ref` | no | empty |
//! | `status` | no | `active` |
//!
//! An empty CSV cell, or a JSON `null`, is the same as a missing value. In CSV, `zones` is `*` or
//! ids separated by `;`; in JSON it may also be an array of strings. Zone ids are not checked
//! against a site here: passes and sites are managed apart, and a pass for a zone a site does not
//! have yet is not an error.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;

use super::passes::{
    parse_code, parse_kind, parse_plate, parse_region, parse_status, parse_time, Pass, PassKind,
    PassStatus, ZoneSet,
};
use super::RegistryError;

/// How many problems an [`ImportErrors`] keeps for its message; the rest are only counted.
pub const MAX_REPORTED_PROBLEMS: usize = 20;

/// The recognised columns, in the order they are listed in messages.
pub const FIELDS: [&str; 10] = [
    "code",
    "kind",
    "plate",
    "region",
    "valid_from",
    "valid_until",
    "zones",
    "purpose",
    "status",
    "holder_ref",
];

const REQUIRED: [&str; 5] = ["code", "kind", "valid_from", "valid_until", "zones"];

/// The format of a pass file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// A header row with column names, then one pass per row.
    Csv,
    /// An array of objects, or an object `{"passes": [...]}`.
    Json,
}

impl FileFormat {
    /// The format named by the file's extension (`.csv`, `.json`, any case), or else the one its
    /// content looks like: JSON when the first non-blank character is `[` or `{`, CSV otherwise.
    pub fn detect(path: &Path, content: &str) -> FileFormat {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => FileFormat::Csv,
            Some("json") => FileFormat::Json,
            _ => match strip_bom(content).trim_start().chars().next() {
                Some('[' | '{') => FileFormat::Json,
                _ => FileFormat::Csv,
            },
        }
    }
}

/// Where in a file a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// A CSV row, 1-based, the header being row 1.
    Row(usize),
    /// A JSON array index, 0-based.
    Index(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Row(n) => write!(f, "row {n}"),
            Location::Index(i) => write!(f, "index {i}"),
        }
    }
}

/// One problem with one field of one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowProblem {
    /// The row or array item.
    pub location: Location,
    /// The column or key, when the problem is with one field.
    pub field: Option<String>,
    /// What is wrong, for a person to read.
    pub message: String,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}, {}: {}", self.location, field, self.message),
            None => write!(f, "{}: {}", self.location, self.message),
        }
    }
}

/// Every problem found in a pass file (the first [`MAX_REPORTED_PROBLEMS`] of them kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportErrors {
    /// The file, as named to the importer.
    pub file: String,
    /// The first problems, in file order.
    pub problems: Vec<RowProblem>,
    /// How many problems there were in all.
    pub total_problems: usize,
    /// How many rows had at least one problem.
    pub bad_rows: usize,
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} problem{} in {} row{}, nothing imported:",
            self.file,
            self.total_problems,
            plural(self.total_problems),
            self.bad_rows,
            plural(self.bad_rows)
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        let more = self.total_problems.saturating_sub(self.problems.len());
        if more > 0 {
            write!(f, "\n  ... and {more} more")?;
        }
        Ok(())
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The `zones` value before checking: file text or a JSON array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RawZones {
    /// `*` or ids separated by `;`.
    Text(String),
    /// A JSON array of ids (or `["*"]`).
    Items(Vec<String>),
}

/// One row of a pass file before checking: every value as written, `None` when empty or absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawPass {
    /// `code` column.
    pub code: Option<String>,
    /// `kind` column.
    pub kind: Option<String>,
    /// `plate` column.
    pub plate: Option<String>,
    /// `region` column.
    pub region: Option<String>,
    /// `valid_from` column.
    pub valid_from: Option<String>,
    /// `valid_until` column.
    pub valid_until: Option<String>,
    /// `zones` column.
    pub zones: Option<RawZones>,
    /// `purpose` column.
    pub purpose: Option<String>,
    /// `status` column.
    pub status: Option<String>,
    /// `holder_ref` column.
    pub holder_ref: Option<String>,
}

impl RawPass {
    fn set_text(&mut self, field: &str, value: String) {
        let value = Some(value).filter(|v| !v.trim().is_empty());
        match field {
            "code" => self.code = value,
            "kind" => self.kind = value,
            "plate" => self.plate = value,
            "region" => self.region = value,
            "valid_from" => self.valid_from = value,
            "valid_until" => self.valid_until = value,
            "zones" => self.zones = value.map(RawZones::Text),
            "purpose" => self.purpose = value,
            "status" => self.status = value,
            "holder_ref" => self.holder_ref = value,
            _ => unreachable!("field names are checked against FIELDS before"),
        }
    }

    /// Checks every field; on failure returns every `(field, message)` problem.
    pub fn validate(&self) -> Result<Pass, Vec<(&'static str, String)>> {
        let mut problems: Vec<(&'static str, String)> = Vec::new();
        let mut c = Checker(&mut problems);
        let required = |v: &Option<String>| v.clone().ok_or_else(|| "missing".to_owned());

        let code = c.take("code", required(&self.code).and_then(|c| parse_code(&c)));
        let kind = c.take("kind", required(&self.kind).and_then(|k| parse_kind(&k)));
        let plate = match (kind, &self.plate) {
            (Some(PassKind::Vehicle), None) => c.take(
                "plate",
                Err("missing (a vehicle pass needs a plate)".to_owned()),
            ),
            (Some(PassKind::Person), Some(p)) => c.take(
                "plate",
                Err(format!("{p:?} given, but a person pass has no plate")),
            ),
            (_, Some(p)) => c.take("plate", parse_plate(p).map(Some)),
            (_, None) => Some(None),
        };
        let region = match &self.region {
            Some(r) => c.take("region", parse_region(r).map(Some)),
            None => Some(None),
        };
        let from = c.take(
            "valid_from",
            required(&self.valid_from).and_then(|t| parse_time(&t)),
        );
        let until = c.take(
            "valid_until",
            required(&self.valid_until).and_then(|t| parse_time(&t)),
        );
        if let (Some(from), Some(until)) = (from, until) {
            if until <= from {
                c.take::<()>(
                    "valid_until",
                    Err(format!(
                        "{} is not after valid_from {}",
                        super::passes::format_time(until),
                        super::passes::format_time(from)
                    )),
                );
            }
        }
        let zones = c.take(
            "zones",
            match &self.zones {
                None => Err("missing; write * for every zone".to_owned()),
                Some(RawZones::Text(t)) => ZoneSet::parse(t),
                Some(RawZones::Items(items)) => ZoneSet::from_items(items.clone()),
            },
        );
        let status = match &self.status {
            Some(s) => c.take("status", parse_status(s)),
            None => Some(PassStatus::Active),
        };
        match (code, kind, plate, region, from, until, zones, status) {
            (
                Some(code),
                Some(kind),
                Some(plate),
                Some(region),
                Some(valid_from),
                Some(valid_until),
                Some(zones),
                Some(status),
            ) if problems.is_empty() => Ok(Pass {
                code,
                kind,
                plate,
                region,
                valid_from,
                valid_until,
                zones,
                purpose: self.purpose.as_deref().unwrap_or("").trim().to_owned(),
                status,
                holder_ref: self.holder_ref.as_deref().unwrap_or("").trim().to_owned(),
                version: 0,
            }),
            _ => Err(problems),
        }
    }
}

/// Turns each field's `Result` into an `Option`, collecting the problems.
struct Checker<'a>(&'a mut Vec<(&'static str, String)>);

impl Checker<'_> {
    fn take<T>(&mut self, field: &'static str, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.0.push((field, e))).ok()
    }
}

/// Collects problems while keeping only the first [`MAX_REPORTED_PROBLEMS`].
struct Problems {
    file: String,
    kept: Vec<RowProblem>,
    total: usize,
    bad_rows: Vec<Location>,
}

impl Problems {
    fn new(file: &str) -> Self {
        Problems {
            file: file.to_owned(),
            kept: Vec::new(),
            total: 0,
            bad_rows: Vec::new(),
        }
    }

    fn push(&mut self, location: Location, field: Option<&str>, message: impl Into<String>) {
        self.total += 1;
        if self.bad_rows.last() != Some(&location) {
            self.bad_rows.push(location);
        }
        if self.kept.len() < MAX_REPORTED_PROBLEMS {
            self.kept.push(RowProblem {
                location,
                field: field.map(str::to_owned),
                message: message.into(),
            });
        }
    }

    fn into_result<T>(self, ok: T) -> Result<T, RegistryError> {
        if self.total == 0 {
            return Ok(ok);
        }
        let mut rows = self.bad_rows;
        rows.sort_by_key(|l| match l {
            Location::Row(n) | Location::Index(n) => *n,
        });
        rows.dedup();
        Err(RegistryError::InvalidFile(ImportErrors {
            file: self.file,
            problems: self.kept,
            total_problems: self.total,
            bad_rows: rows.len(),
        }))
    }
}

/// Reads and checks a pass file; the format comes from [`FileFormat::detect`]. Returns every pass
/// of the file, or every problem in it.
pub fn read_passes_file(path: &Path) -> Result<Vec<Pass>, RegistryError> {
    let bytes = std::fs::read(path).map_err(|source| RegistryError::Read {
        path: path.to_owned(),
        source,
    })?;
    let name = path.display().to_string();
    let text = String::from_utf8(bytes).map_err(|e| RegistryError::Malformed {
        file: name.clone(),
        message: format!(
            "not UTF-8 text (bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })?;
    parse_passes(&text, FileFormat::detect(path, &text), &name)
}

/// Parses and checks the text of a pass file; `file` names it in errors.
pub fn parse_passes(
    text: &str,
    format: FileFormat,
    file: &str,
) -> Result<Vec<Pass>, RegistryError> {
    let text = strip_bom(text);
    let raw = match format {
        FileFormat::Csv => read_csv(text, file)?,
        FileFormat::Json => read_json(text, file)?,
    };
    let mut problems = Problems::new(file);
    let mut passes = Vec::with_capacity(raw.len());
    let mut seen: HashMap<String, Location> = HashMap::with_capacity(raw.len());
    for row in raw {
        let location = row.location;
        for p in row.problems {
            problems.push(p.location, p.field.as_deref(), p.message);
        }
        let Some(fields) = row.fields else { continue };
        // A row claims its code even when it has other problems, so that a later duplicate is
        // reported in the same run.
        let code = fields.code.as_deref().and_then(|c| parse_code(c).ok());
        if let Some(code) = &code {
            if let Some(first) = seen.get(code) {
                problems.push(
                    location,
                    Some("code"),
                    format!("duplicate code {code}, first on {first}"),
                );
            } else {
                seen.insert(code.clone(), location);
            }
        }
        match fields.validate() {
            Ok(pass) if problems.bad_rows.last() != Some(&location) => passes.push(pass),
            Ok(_) => {}
            Err(field_problems) => {
                for (field, message) in field_problems {
                    // A value that could not be read was reported already.
                    if !row.unreadable.contains(&field) {
                        problems.push(location, Some(field), message);
                    }
                }
            }
        }
    }
    problems.into_result(passes)
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// One row as read, with the problems of reading it.
struct RawRow {
    location: Location,
    /// `None` for a row that could not be read at all.
    fields: Option<RawPass>,
    /// Problems found while reading.
    problems: Vec<RowProblem>,
    /// Fields whose value could not be read (so "missing" is not reported for them again).
    unreadable: Vec<&'static str>,
}

impl RawRow {
    fn new(location: Location) -> Self {
        RawRow {
            location,
            fields: None,
            problems: Vec::new(),
            unreadable: Vec::new(),
        }
    }

    fn problem(&mut self, field: Option<String>, message: impl Into<String>) {
        self.problems.push(RowProblem {
            location: self.location,
            field,
            message: message.into(),
        });
    }
}

fn read_csv(text: &str, file: &str) -> Result<Vec<RawRow>, RegistryError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| RegistryError::Malformed {
            file: file.to_owned(),
            message: format!("row 1 (header): {e}"),
        })?
        .clone();
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(RegistryError::Malformed {
            file: file.to_owned(),
            message: format!("no header row; expected columns {}", FIELDS.join(", ")),
        });
    }
    let mut header_problems = Problems::new(file);
    let mut columns: Vec<&'static str> = Vec::with_capacity(headers.len());
    for name in headers.iter() {
        let name = name.trim().to_ascii_lowercase();
        match FIELDS.iter().find(|f| **f == name) {
            Some(f) if columns.contains(f) => {
                header_problems.push(Location::Row(1), Some(f), "column given twice")
            }
            Some(f) => columns.push(f),
            None => header_problems.push(
                Location::Row(1),
                Some(&name),
                format!("unknown column; the columns are {}", FIELDS.join(", ")),
            ),
        }
    }
    for required in REQUIRED {
        if !columns.contains(&required) {
            header_problems.push(Location::Row(1), Some(required), "required column missing");
        }
    }
    header_problems.into_result(())?;

    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let fallback = Location::Row(i + 2);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let location = e
                    .position()
                    .map(|p| Location::Row(p.line() as usize))
                    .unwrap_or(fallback);
                let mut row = RawRow::new(location);
                row.problem(None, format!("unreadable row: {e}"));
                rows.push(row);
                continue;
            }
        };
        // The line a row starts on is the row a spreadsheet or an editor shows.
        let location = record
            .position()
            .map(|p| Location::Row(p.line() as usize))
            .unwrap_or(fallback);
        let mut row = RawRow::new(location);
        if record.len() != columns.len() {
            row.problem(
                None,
                format!(
                    "{} fields, but the header has {}",
                    record.len(),
                    columns.len()
                ),
            );
        } else {
            let mut raw = RawPass::default();
            for (column, value) in columns.iter().zip(record.iter()) {
                raw.set_text(column, value.to_owned());
            }
            row.fields = Some(raw);
        }
        rows.push(row);
    }
    Ok(rows)
}

fn read_json(text: &str, file: &str) -> Result<Vec<RawRow>, RegistryError> {
    let value: Value = serde_json::from_str(text).map_err(|e| RegistryError::Malformed {
        file: file.to_owned(),
        message: format!("not valid JSON: {e}"),
    })?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut map) if map.len() == 1 && map.contains_key("passes") => {
            match map.remove("passes") {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(RegistryError::Malformed {
                        file: file.to_owned(),
                        message: "\"passes\" must be an array of objects".to_owned(),
                    })
                }
            }
        }
        _ => {
            return Err(RegistryError::Malformed {
                file: file.to_owned(),
                message: "expected an array of pass objects, or {\"passes\": [...]}".to_owned(),
            })
        }
    };
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let mut row = RawRow::new(Location::Index(i));
        let Value::Object(map) = item else {
            row.problem(
                None,
                format!("expected an object, found {}", json_type(&item)),
            );
            rows.push(row);
            continue;
        };
        let mut raw = RawPass::default();
        for (key, value) in map {
            let Some(field) = FIELDS.iter().copied().find(|f| *f == key) else {
                row.problem(
                    Some(key),
                    format!("unknown field; the fields are {}", FIELDS.join(", ")),
                );
                continue;
            };
            match value {
                Value::Null => {}
                Value::String(s) => raw.set_text(field, s),
                Value::Array(items) if field == "zones" => {
                    let ids: Option<Vec<String>> = items
                        .into_iter()
                        .map(|v| match v {
                            Value::String(s) => Some(s),
                            _ => None,
                        })
                        .collect();
                    match ids {
                        Some(ids) => raw.zones = Some(RawZones::Items(ids)),
                        None => {
                            row.problem(Some(key), "expected an array of zone id strings");
                            row.unreadable.push(field);
                        }
                    }
                }
                other => {
                    row.problem(
                        Some(key),
                        format!("expected a string, found {}", json_type(&other)),
                    );
                    row.unreadable.push(field);
                }
            }
        }
        row.fields = Some(raw);
        rows.push(row);
    }
    Ok(rows)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "code,kind,plate,region,valid_from,valid_until,zones,purpose,status,holder_ref";

    fn csv(rows: &[&str]) -> String {
        let mut s = HEADER.to_owned();
        for r in rows {
            s.push('\n');
            s.push_str(r);
        }
        s
    }

    fn err(text: &str, format: FileFormat) -> ImportErrors {
        match parse_passes(text, format, "passes.csv") {
            Err(RegistryError::InvalidFile(e)) => e,
            other => panic!("expected InvalidFile, got {other:?}"),
        }
    }

    #[test]
    fn reads_good_csv_in_any_column_order() {
        let text = "zones,valid_until,valid_from,kind,code,plate\n\
                    centre;north,2026-04-30T23:59:59Z,2026-04-01T00:00:00Z,vehicle,ABCDEFGH12345678,abc-123\n";
        let passes = parse_passes(text, FileFormat::Csv, "p.csv").unwrap();
        assert_eq!(passes.len(), 1);
        let p = &passes[0];
        assert_eq!(p.plate.as_deref(), Some("ABC123"));
        assert_eq!(p.status, PassStatus::Active);
        assert!(p.zones.allows("north") && !p.zones.allows("west"));
        assert_eq!(p.purpose, "");
    }

    #[test]
    fn reports_every_bad_row_with_row_and_field() {
        let text = csv(&[
            "AAAAAAAAAAAAAAA1,vehicle,ABC123,us,2026-04-01T00:00:00Z,2026-04-31T00:00:00Z,*,work,active,h1",
            "AAAAAAAAAAAAAAA2,vehicle,A#,us,2026-04-01T00:00:00Z,2026-04-30T00:00:00Z,*,work,active,h2",
            "AAAAAAAAAAAAAAA1,vehicle,XYZ789,us,2026-04-01T00:00:00Z,2026-04-30T00:00:00Z,*,work,active,h3",
            "AAAAAAAAAAAAAAA4,vehicle,,,2026-04-01T00:00:00Z,2026-04-30T00:00:00Z,*,,,",
            "short,person,,,2026-04-01T00:00:00Z,2026-03-30T00:00:00Z,*,,gone,",
        ]);
        let e = err(&text, FileFormat::Csv);
        let msg = e.to_string();
        assert!(
            msg.starts_with("passes.csv: 7 problems in 5 rows, nothing imported:"),
            "{msg}"
        );
        assert!(
            msg.contains("row 2, valid_until: bad date \"2026-04-31T00:00:00Z\""),
            "{msg}"
        );
        assert!(msg.contains("row 3, plate: bad plate \"A#\""), "{msg}");
        assert!(
            msg.contains("row 4, code: duplicate code AAAAAAAAAAAAAAA1, first on row 2"),
            "{msg}"
        );
        assert!(
            msg.contains("row 5, plate: missing (a vehicle pass needs a plate)"),
            "{msg}"
        );
        assert!(msg.contains("row 6, code: bad code \"short\""), "{msg}");
        assert!(
            msg.contains("row 6, valid_until: 2026-03-30T00:00:00Z is not after"),
            "{msg}"
        );
        assert!(msg.contains("row 6, status: bad status \"gone\""), "{msg}");
    }

    #[test]
    fn caps_the_reported_problems() {
        let rows: Vec<String> = (0..30)
            .map(|i| {
                format!("BAD{i},vehicle,ABC123,,2026-04-01T00:00:00Z,2026-04-30T00:00:00Z,*,,,")
            })
            .collect();
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        let e = err(&csv(&refs), FileFormat::Csv);
        assert_eq!(e.total_problems, 30);
        assert_eq!(e.bad_rows, 30);
        assert_eq!(e.problems.len(), MAX_REPORTED_PROBLEMS);
        assert!(e.to_string().ends_with("... and 10 more"));
    }

    #[test]
    fn rejects_unknown_and_missing_columns() {
        let e = err("code,kind,colour,valid_from,valid_until\n", FileFormat::Csv);
        let msg = e.to_string();
        assert!(msg.contains("row 1, colour: unknown column"), "{msg}");
        assert!(
            msg.contains("row 1, zones: required column missing"),
            "{msg}"
        );
    }

    #[test]
    fn rejects_ragged_rows() {
        let e = err(&csv(&["AAAAAAAAAAAAAAA1,vehicle"]), FileFormat::Csv);
        assert_eq!(e.problems[0].location, Location::Row(2));
        assert!(e.problems[0]
            .message
            .contains("2 fields, but the header has 10"));
    }

    #[test]
    fn reads_json_array_and_wrapped_object() {
        let item = r#"{"code":"ABCDEFGH12345678","kind":"vehicle","plate":"ab 123",
            "valid_from":"2026-04-01T00:00:00+02:00","valid_until":"2026-05-01T00:00:00Z",
            "zones":["north","centre"],"region":null}"#;
        let a = parse_passes(&format!("[{item}]"), FileFormat::Json, "p.json").unwrap();
        let b = parse_passes(
            &format!("{{\"passes\": [{item}]}}"),
            FileFormat::Json,
            "p.json",
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].plate.as_deref(), Some("AB123"));
        assert_eq!(a[0].valid_from.to_rfc3339(), "2026-03-31T22:00:00+00:00");
    }

    #[test]
    fn json_problems_name_index_and_field() {
        let text = r#"[
            {"code":"ABCDEFGH12345678","kind":"vehicle","plate":"ABC123","valid_from":"2026-04-01T00:00:00Z","valid_until":"2026-05-01T00:00:00Z","zones":"*"},
            {"code":"ABCDEFGH12345679","kind":"vehicle","plate":123,"valid_from":"2026-04-01T00:00:00Z","valid_until":"2026-05-01T00:00:00Z","zones":"*","colour":"red"},
            7
        ]"#;
        let e = err(text, FileFormat::Json);
        let msg = e.to_string();
        assert!(
            msg.contains("index 1, plate: expected a string, found a number"),
            "{msg}"
        );
        assert!(msg.contains("index 1, colour: unknown field"), "{msg}");
        assert!(
            msg.contains("index 2: expected an object, found a number"),
            "{msg}"
        );
        assert!(!msg.contains("index 1, plate: missing"), "{msg}");
    }

    #[test]
    fn detects_format() {
        let p = Path::new("passes.txt");
        assert_eq!(FileFormat::detect(p, "  [ {}"), FileFormat::Json);
        assert_eq!(
            FileFormat::detect(p, "\u{feff}{\"passes\":[]}"),
            FileFormat::Json
        );
        assert_eq!(FileFormat::detect(p, "code,kind"), FileFormat::Csv);
        assert_eq!(
            FileFormat::detect(Path::new("x.JSON"), "code"),
            FileFormat::Json
        );
    }

    #[test]
    fn malformed_json_is_one_error() {
        match parse_passes("[{", FileFormat::Json, "p.json") {
            Err(RegistryError::Malformed { file, message }) => {
                assert_eq!(file, "p.json");
                assert!(message.starts_with("not valid JSON"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
