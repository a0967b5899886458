//! `Site::from_toml_str` on arbitrary UTF-8: it must return `Ok` or `Err`, never panic, and an
//! `Ok` site must hold the invariants `registry/src/site.rs` documents.
#![no_main]

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use passwatch_registry::site::{Site, SiteError, MAX_ANALYSE_FPS, MAX_FUZZY_MAX_COST};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Site::from_toml_str(text, "<fuzz>") {
        Ok(site) => check(&site),
        Err(e) => {
            // Every error renders, and a value error names at least one problem.
            let _ = e.to_string();
            if let SiteError::Invalid { problems, .. } = &e {
                assert!(!problems.is_empty(), "Invalid with no problems");
            }
        }
    }
});

fn check(site: &Site) {
    let ids = |it: &mut dyn Iterator<Item = &str>| {
        let mut seen = HashSet::new();
        for id in it {
            assert!(
                passwatch_registry::passes::is_valid_id(id),
                "bad id {id:?} accepted"
            );
            assert!(seen.insert(id.to_owned()), "id {id:?} accepted twice");
        }
        seen
    };
    let zones = ids(&mut site.zones.iter().map(|z| z.id.as_str()));
    ids(&mut site.cameras.iter().map(|c| c.id.as_str()));
    for c in &site.cameras {
        assert!(
            zones.contains(&c.zone),
            "camera {} has unknown zone {:?}",
            c.id,
            c.zone
        );
        assert!(!c.analyses.is_empty(), "camera {} runs no analysis", c.id);
        let distinct: HashSet<_> = c.analyses.iter().collect();
        assert_eq!(
            distinct.len(),
            c.analyses.len(),
            "camera {} lists an analysis twice",
            c.id
        );
        if let Some(fps) = c.analyse_fps {
            assert!(
                fps > 0.0 && fps <= MAX_ANALYSE_FPS,
                "analyse_fps {fps} accepted"
            );
        }
        if let Some(s) = &c.source {
            assert!(!s.trim().is_empty(), "empty source accepted");
        }
    }
    let p = &site.plates;
    assert!(!p.regions.is_empty(), "no plate regions");
    assert!((0.0..=MAX_FUZZY_MAX_COST).contains(&p.fuzzy_max_cost));
    assert!((0.0..=1.0).contains(&p.min_confidence));
    let f = &site.faces;
    assert!(
        f.far.is_none_or(|far| far > 0.0 && far < 1.0),
        "far {:?}",
        f.far
    );
    assert!(
        f.threshold.is_none_or(|t| (-1.0..=1.0).contains(&t)),
        "threshold {:?}",
        f.threshold
    );
    assert!((0.0..=1.0).contains(&f.min_quality));
    assert!(f.max_faces >= 1);
    assert!(f.merge_window_s.is_finite() && (0.0..=86_400.0).contains(&f.merge_window_s));

    // Schedules: well-formed windows, and asking whether a zone is restricted never panics at
    // any instant an RFC 3339 time (a clock, a recording's --recorded-at) can name.
    let instants = [
        "0000-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "2026-04-01T07:59:15.600Z",
        "2026-04-05T23:30:00Z",
        "9999-12-31T23:59:59Z",
    ]
    .map(|t| {
        DateTime::parse_from_rfc3339(t)
            .expect("a good time")
            .with_timezone(&Utc)
    });
    for z in &site.zones {
        assert_eq!(z.utc_offset, site.utc_offset);
        for r in &z.restrictions {
            assert!(r.start_minute < 1440, "start {}", r.start_minute);
            assert!((1..=1440).contains(&r.end_minute), "end {}", r.end_minute);
            assert_ne!(r.start_minute, r.end_minute, "empty window accepted");
            if let (Some(from), Some(until)) = (r.from, r.until) {
                assert!(until > from, "until not after from accepted");
            }
        }
        for t in instants {
            let _ = z.restricted_at(t);
        }
    }
}
