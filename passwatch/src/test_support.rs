//! What the modes' unit tests share: a small data folder written by the product's own sink.

use passwatch_base::time::{Clock, SystemClock};

/// A data folder with `ev-old` (400 days old, gate-north), `ev-new` (3 days, gate-north)
/// and `ev-south` (3 days, gate-south), each with evidence.
pub(crate) fn folder() -> tempfile::TempDir {
    use passwatch_events::{Event, EventSink, FolderSink};
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FolderSink::open(dir.path()).unwrap();
    let now = SystemClock.now();
    for (id, camera, days) in [
        ("ev-old", "gate-north", 400),
        ("ev-new", "gate-north", 3),
        ("ev-south", "gate-south", 3),
    ] {
        let crop = image::RgbImage::from_fn(40, 12, |x, y| image::Rgb([x as u8, y as u8, 3]));
        let frame = image::RgbImage::from_fn(64, 36, |x, y| image::Rgb([y as u8, x as u8, 9]));
        let evidence = sink.store_evidence(id, &crop, &frame).unwrap();
        let mut e: Event = serde_json::from_value(serde_json::json!({
            "schema": "passwatch.event.v1", "event_id": id, "kind": "no_valid_pass",
            "camera": camera, "zone": "centre", "source": "clip.mp4",
            "time": "2026-01-01T00:00:00.000Z", "media_time": {"first": 1.0, "last": 2.0},
            "subject": {"type": "plate", "plate": "ABC123", "region": null,
                        "confidence": 0.9, "reads": []},
            "decision": {"rule": "no_valid_pass", "reason": "unknown_plate",
                         "matched_pass": null, "edit_cost": null, "registry_version": 1,
                         "explanation": "no pass for ABC123"},
            "evidence": null, "models": {}, "review": "pending", "priority": "normal"
        }))
        .unwrap();
        e.time = now - chrono::Duration::days(days);
        e.evidence = Some(evidence);
        sink.emit(&e).unwrap();
    }
    sink.flush().unwrap();
    dir
}
