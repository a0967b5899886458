//! The pass-file readers (`registry/src/import.rs`), CSV and JSON, through the in-memory entry
//! point `parse_passes(text, format, file)` that `read_passes_file` calls after reading the file.
//!
//! Input: one selector byte, then the file's bytes. The selector's low bit picks the format
//! (odd, e.g. `C`: CSV; even, e.g. `J`: JSON), as a `.csv` or `.json` extension would; the file
//! must be UTF-8, as `read_passes_file` requires. Checks: no panic; errors render; an `Ok` holds
//! the invariants `registry/src/passes.rs` documents; and the passes, written back out as CSV and
//! as JSON, read back the same (what an export-then-import does).
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use passwatch_registry::import::{parse_passes, FileFormat, FIELDS};
use passwatch_registry::passes::{format_time, CODE_LEN, PLATE_MAX_CHARS, PLATE_MIN_CHARS};
use passwatch_registry::{Pass, PassKind, RegistryError};
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = if selector & 1 == 1 {
        FileFormat::Csv
    } else {
        FileFormat::Json
    };
    match parse_passes(text, format, "<fuzz>") {
        Ok(passes) => {
            check(&passes);
            round_trip(&passes);
        }
        Err(e) => {
            let _ = e.to_string();
            if let RegistryError::InvalidFile(errors) = &e {
                assert!(errors.total_problems >= errors.problems.len());
                assert!(
                    errors.total_problems > 0 && errors.bad_rows > 0,
                    "{errors:?}"
                );
            }
        }
    }
});

fn check(passes: &[Pass]) {
    let mut codes = HashSet::new();
    for p in passes {
        assert!(
            codes.insert(p.code.clone()),
            "code {} accepted twice",
            p.code
        );
        assert_eq!(p.code.chars().count(), CODE_LEN);
        match p.kind {
            PassKind::Vehicle => {
                let plate = p.plate.as_deref().expect("a vehicle pass has a plate");
                let n = plate.chars().count();
                assert!(
                    (PLATE_MIN_CHARS..=PLATE_MAX_CHARS).contains(&n),
                    "plate {plate:?}"
                );
            }
            PassKind::Person => assert_eq!(p.plate, None, "a person pass with a plate"),
        }
        assert!(p.valid_until > p.valid_from, "until not after from: {p:?}");
        assert_eq!(p.purpose, p.purpose.trim());
        assert_eq!(p.holder_ref, p.holder_ref.trim());
    }
}

/// The passes written back as files read back the same.
fn round_trip(passes: &[Pass]) {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(FIELDS).expect("in memory");
    for p in passes {
        w.write_record([
            p.code.as_str(),
            p.kind.as_str(),
            p.plate.as_deref().unwrap_or(""),
            p.region.as_deref().unwrap_or(""),
            &format_time(p.valid_from),
            &format_time(p.valid_until),
            &p.zones.to_file_form(),
            &p.purpose,
            p.status.as_str(),
            &p.holder_ref,
        ])
        .expect("in memory");
    }
    let csv_text = String::from_utf8(w.into_inner().expect("in memory")).expect("UTF-8 in");
    let again = parse_passes(&csv_text, FileFormat::Csv, "<fuzz export.csv>")
        .unwrap_or_else(|e| panic!("exported CSV does not read back: {e}\n{csv_text}"));
    assert_eq!(
        again, passes,
        "CSV round trip changed the passes\n{csv_text}"
    );

    let items: Vec<Value> = passes
        .iter()
        .map(|p| {
            json!({
                "code": p.code,
                "kind": p.kind.as_str(),
                "plate": p.plate,
                "region": p.region,
                "valid_from": format_time(p.valid_from),
                "valid_until": format_time(p.valid_until),
                "zones": Vec::<String>::from(p.zones.clone()),
                "purpose": p.purpose,
                "status": p.status.as_str(),
                "holder_ref": p.holder_ref,
            })
        })
        .collect();
    let json_text = serde_json::to_string(&json!({ "passes": items })).expect("in memory");
    let again = parse_passes(&json_text, FileFormat::Json, "<fuzz export.json>")
        .unwrap_or_else(|e| panic!("exported JSON does not read back: {e}\n{json_text}"));
    assert_eq!(
        again, passes,
        "JSON round trip changed the passes\n{json_text}"
    );
}
