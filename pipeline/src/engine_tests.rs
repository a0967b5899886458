//! Unit tests of the engine's decisions, without ONNX.
//!
//! The models are replaced by what they would have found: plate reads made with
//! `PlateObservation::synthetic`, faces with hand-made embeddings, and a privacy finder that
//! returns fixed boxes. Each test drives a [`Decider`] frame by frame (5 analysed frames a
//! second) into a [`MemorySink`], or into a sink that fails, and checks what it counted, raised
//! and stored.

use super::*;
use image::{Rgb, RgbImage};
use passwatch_base::Point;
use passwatch_events::{EventKind, MemorySink, Subject};
use passwatch_face_matcher::{AlignedFace, DetectedFace, Embedding, Face, Quality};
use passwatch_plate_reader::reader::PlateObservation;
use passwatch_registry::{Pass, PassKind, PassStatus, SubjectInfo, SubjectStatus, ZoneSet};

/// One camera in zone `centre`, restricted at all times (a restriction without fields), and a
/// zone `home` for the watchlist subject. Breaches of one subject within 10 s are merged.
const SITE: &str = r#"
    [plates]
    regions = ["us"]
    [faces]
    min_quality = 0.3
    max_faces = 5
    merge_window_s = 10
    [[cameras]]
    id = "gate"
    zone = "centre"
    analyses = ["plates", "faces"]
    [[zones]]
    id = "centre"
    [[zones.restrictions]]
    [[zones]]
    id = "home"
"#;

/// The plate every synthetic read shows (a US `LLL NNNN` plate).
const PLATE: &str = "ABC1234";
/// Wall time of media time zero.
const START: &str = "2026-04-10T12:00:00Z";
const REGIONS: &[&str] = &["us"];
/// Media time between analysed frames (5 fps).
const STEP_S: f64 = 0.2;
/// Frames without the plate after its last read: 1.6 s, past the tracker's `max_gap` (1.2 s).
const GONE: u64 = 8;
const THRESHOLD: FaceThreshold = FaceThreshold {
    cosine: 0.5,
    far: None,
};
/// Where the privacy finder says a passer-by's face is, in every frame.
const FACE_BOX: BBox = BBox {
    x: 200.0,
    y: 30.0,
    w: 40.0,
    h: 40.0,
};

fn t(s: &str) -> WallTime {
    s.parse().unwrap()
}

fn at(i: u64) -> MediaTime {
    MediaTime::from_secs_f64(i as f64 * STEP_S)
}

/// A valid vehicle pass for `plate` over all of April 2026, in every zone.
fn pass(plate: &str) -> Pass {
    Pass {
        code: "00000000000000P1".into(),
        kind: PassKind::Vehicle,
        plate: Some(plate.into()),
        region: None,
        valid_from: t("2026-04-01T00:00:00Z"),
        valid_until: t("2026-04-30T23:59:59Z"),
        zones: ZoneSet::All,
        purpose: String::new(),
        status: PassStatus::Active,
        holder_ref: String::new(),
        version: 1,
    }
}

/// A unit embedding along `axis` of a 4-dimensional model `m`, nudged a little off it.
fn embedding(axis: usize) -> Embedding {
    let mut v = vec![0.05f32; 4];
    v[axis] = 1.0;
    Embedding::from_raw("m", v).unwrap()
}

/// A watchlist of one subject, S-1, ordered to stay in zone `home` during April 2026; its
/// reference embedding is axis 0.
fn watchlist() -> WatchlistSnapshot {
    let subject = SubjectInfo {
        subject_id: "S-1".into(),
        order_from: t("2026-04-01T00:00:00Z"),
        order_until: t("2026-05-01T00:00:00Z"),
        home_zone: "home".into(),
        status: SubjectStatus::Active,
        embeddings: 1,
        model_id: Some("m".into()),
        version: 3,
    };
    let reference = Embedding::from_raw("m", vec![1.0, 0.0, 0.0, 0.0]).unwrap();
    WatchlistSnapshot::new(3, "m", vec![(subject, vec![reference])]).unwrap()
}

/// The registry and site every decision of a test is taken against.
struct Fixture {
    site: Site,
    passes: PassSnapshot,
    watchlist: WatchlistSnapshot,
    models: BTreeMap<String, String>,
}

impl Fixture {
    fn new(passes: Vec<Pass>) -> Fixture {
        Fixture {
            site: Site::from_toml_str(SITE, "site.toml").unwrap(),
            passes: PassSnapshot::from_passes(1, passes),
            watchlist: watchlist(),
            models: BTreeMap::from([("plate_ocr".to_string(), "test-ocr".to_string())]),
        }
    }

    fn setup(&self) -> DecideSetup<'_> {
        DecideSetup {
            site: &self.site,
            passes: &self.passes,
            faces: Some(FaceSetup {
                watchlist: &self.watchlist,
                threshold: THRESHOLD,
            }),
            tracker: TrackerConfig::default(),
            face_tracker: FaceTrackerConfig::default(),
        }
    }
}

fn streams(setup: &DecideSetup<'_>) -> StreamTrackers {
    StreamTrackers::new(&setup.tracker, &setup.face_tracker, setup.site)
}

fn decider<'a, 'b>(
    setup: &'a DecideSetup<'b>,
    models: &'a BTreeMap<String, String>,
    sink: &'a mut dyn EventSink,
    privacy: &'a mut dyn FaceFinder,
    state: &'a mut DecideState,
) -> Decider<'a, 'b> {
    Decider {
        setup,
        stream: StreamId {
            camera_id: "gate",
            source: "/clips/gate.mp4",
            source_key: "gate.mp4:1234",
            start: t(START),
        },
        models,
        regions: REGIONS,
        formats: PlateFormats::builtin(),
        sink,
        privacy,
        state,
        observer: None,
    }
}

/// A 320×180 frame: a smooth gradient (JPEG keeps it nearly intact) with a patch of sharp
/// vertical stripes around [`FACE_BOX`] (pixelation wipes them out).
fn scene() -> RgbImage {
    RgbImage::from_fn(320, 180, |x, y| {
        if (185..255).contains(&x) && (15..85).contains(&y) {
            let v = if (x / 4) % 2 == 0 { 30 } else { 220 };
            Rgb([v, v, v])
        } else {
            Rgb([(x * 255 / 320) as u8, (y * 255 / 180) as u8, 128])
        }
    })
}

fn frame(i: u64) -> Frame {
    Frame {
        index: i,
        media_time: at(i),
        image: scene(),
    }
}

/// The plate as the reader would see it on frame `i`: moving 4 px right per frame, so the
/// tracker links the reads by overlap.
fn plate_read(i: u64) -> PlateObservation {
    let bbox = BBox::new(40.0 + 4.0 * i as f32, 120.0, 60.0, 20.0);
    let crop = RgbImage::from_pixel(96, 32, Rgb([200, 200, 200]));
    PlateObservation::synthetic(bbox, PLATE, 0.95, Some("us"), crop)
}

/// Frames `0..reads + GONE`: the plate on the first `reads`, then no plate until its track has
/// timed out.
fn drive_plate(d: &mut Decider<'_, '_>, s: &mut StreamTrackers, reads: u64) {
    for i in 0..reads + GONE {
        let plates = if i < reads {
            vec![plate_read(i)]
        } else {
            vec![]
        };
        let found = Findings {
            plates: Some(plates),
            faces: None,
        };
        d.apply(s, &frame(i), found).unwrap();
    }
}

/// The privacy finder of a test: always the same boxes, and how often it was asked.
struct FixedFaces {
    boxes: Vec<BBox>,
    calls: usize,
}

impl FixedFaces {
    fn new(boxes: Vec<BBox>) -> FixedFaces {
        FixedFaces { boxes, calls: 0 }
    }
}

impl FaceFinder for FixedFaces {
    fn faces(&mut self, _frame: &RgbImage) -> Result<Vec<BBox>, String> {
        self.calls += 1;
        Ok(self.boxes.clone())
    }
}

/// A sink whose `emit` fails (a read-only journal) while `failing`; otherwise a [`MemorySink`].
#[derive(Default)]
struct FlakySink {
    inner: MemorySink,
    failing: bool,
    refused: usize,
}

impl EventSink for FlakySink {
    fn contains(&self, event_id: &str) -> bool {
        self.inner.contains(event_id)
    }

    fn store_evidence(
        &mut self,
        event_id: &str,
        crop: &RgbImage,
        frame: &RgbImage,
    ) -> Result<passwatch_events::Evidence, EventError> {
        self.inner.store_evidence(event_id, crop, frame)
    }

    fn emit(&mut self, event: &Event) -> Result<(), EventError> {
        if self.failing {
            self.refused += 1;
            return Err(EventError::Write {
                path: "journal.db".into(),
                source: std::io::Error::other("read-only file system"),
            });
        }
        self.inner.emit(event)
    }

    fn flush(&mut self) -> Result<(), EventError> {
        self.inner.flush()
    }
}

fn plate_of(e: &Event) -> &str {
    match &e.subject {
        Subject::Plate(p) => &p.plate,
        other => panic!("not a plate event: {other:?}"),
    }
}

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.len() > 100 && bytes.starts_with(&[0xFF, 0xD8])
}

/// A plate with no pass, seen on 5 frames, then gone: when its track times out (no `finish`),
/// it is one `no_valid_pass` event in the sink, with its crop and frame stored.
#[test]
fn a_plate_without_a_pass_in_a_restricted_zone_raises_one_event() {
    let fx = Fixture::new(vec![]);
    let setup = fx.setup();
    let (mut sink, mut finder, mut state) = (
        MemorySink::default(),
        FixedFaces::new(vec![]),
        DecideState::default(),
    );
    let mut s = streams(&setup);
    let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, &mut state);
    drive_plate(&mut d, &mut s, 5);
    // Closed by the timeout, not by the end of the stream.
    assert!(s.plates.active().is_empty());

    let c = &state.outcomes;
    assert_eq!((c.tracks, c.sightings, c.violations), (1, 1, 1), "{c:?}");
    assert_eq!(
        c.valid + c.unreadable + c.not_restricted + c.too_few_reads,
        0
    );
    assert_eq!(state.duplicates, 0);
    assert_eq!(state.held_events(), 0);

    assert_eq!(sink.events.len(), 1);
    let event = &sink.events[0];
    assert_eq!(event.kind, EventKind::NoValidPass);
    assert_eq!(
        (event.camera.as_str(), event.zone.as_str()),
        ("gate", "centre")
    );
    assert_eq!(plate_of(event), PLATE);
    assert_eq!(event.decision.rule, "no_valid_pass");
    assert_eq!(event.media_time.first, at(0));
    assert_eq!(event.media_time.last, at(4));
    assert_eq!(
        state.events, sink.events,
        "the driver sees what was written"
    );

    // Its evidence: the plate crop and the frame, as JPEG, under the event's id.
    assert!(event.evidence.is_some());
    assert_eq!(sink.evidence.len(), 1);
    let (id, crop, frame_jpeg) = &sink.evidence[0];
    assert_eq!(id, &event.event_id);
    assert!(is_jpeg(crop) && is_jpeg(frame_jpeg));
    let frame = image::load_from_memory(frame_jpeg).unwrap();
    assert_eq!((frame.width(), frame.height()), (320, 180));
}

/// The same plate with a valid pass: counted as valid, and nothing of it is kept — no event, no
/// evidence, and no face detection run on its frame.
#[test]
fn a_plate_with_a_valid_pass_leaves_nothing() {
    let fx = Fixture::new(vec![pass(PLATE)]);
    let setup = fx.setup();
    let (mut sink, mut finder, mut state) = (
        MemorySink::default(),
        FixedFaces::new(vec![FACE_BOX]),
        DecideState::default(),
    );
    let mut s = streams(&setup);
    let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, &mut state);
    drive_plate(&mut d, &mut s, 5);

    let c = &state.outcomes;
    assert_eq!(
        (c.tracks, c.sightings, c.valid, c.violations),
        (1, 1, 1, 0),
        "{c:?}"
    );
    assert!(state.events.is_empty());
    assert!(sink.events.is_empty());
    assert!(sink.evidence.is_empty());
    assert_eq!(finder.calls, 0);
}

/// A second replay of the same frames into the same sink raises nothing new: the event id is
/// already there, so it is counted as a duplicate and its evidence is not rewritten.
#[test]
fn replaying_into_the_same_sink_raises_no_second_event() {
    let fx = Fixture::new(vec![]);
    let setup = fx.setup();
    let mut sink = MemorySink::default();
    let mut finder = FixedFaces::new(vec![FACE_BOX]);
    let mut first = DecideState::default();
    let mut second = DecideState::default();
    for state in [&mut first, &mut second] {
        let mut s = streams(&setup);
        let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, state);
        drive_plate(&mut d, &mut s, 5);
        d.finish(&mut s).unwrap();
    }
    assert_eq!((first.duplicates, first.events.len()), (0, 1));
    // Still decided a violation, but not raised again.
    assert_eq!(second.outcomes.violations, 1);
    assert_eq!(second.duplicates, 1);
    assert!(second.events.is_empty());
    assert_eq!(sink.events.len(), 1);
    assert_eq!(sink.evidence.len(), 1);
    // The duplicate is caught before any evidence work.
    assert_eq!(finder.calls, 1);
}

/// Mean absolute difference of two images over a rectangle, per channel value.
fn mean_diff(a: &RgbImage, b: &RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> f64 {
    let mut sum = 0u64;
    for y in y0..y1 {
        for x in x0..x1 {
            let (p, q) = (a.get_pixel(x, y).0, b.get_pixel(x, y).0);
            sum += (0..3).map(|c| p[c].abs_diff(q[c]) as u64).sum::<u64>();
        }
    }
    sum as f64 / ((x1 - x0) * (y1 - y0) * 3) as f64
}

/// The faces the privacy finder reports are pixelated in the stored frame, the rest of the
/// frame is as it was (but for JPEG), and the finder runs once for the violation, not on each
/// of the frames that carried the plate.
#[test]
fn faces_in_plate_evidence_are_blurred_and_found_once_per_violation() {
    let fx = Fixture::new(vec![]);
    let setup = fx.setup();
    let (mut sink, mut finder, mut state) = (
        MemorySink::default(),
        FixedFaces::new(vec![FACE_BOX]),
        DecideState::default(),
    );
    let mut s = streams(&setup);
    let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, &mut state);
    drive_plate(&mut d, &mut s, 5);
    assert_eq!(state.outcomes.violations, 1);
    assert_eq!(finder.calls, 1);

    let stored = image::load_from_memory(&sink.evidence[0].2)
        .unwrap()
        .to_rgb8();
    let original = scene();
    let mut blurred = original.clone();
    passwatch_events::privacy::blur_faces(&mut blurred, &[FACE_BOX], None);
    let face = (200, 30, 240, 70);
    // Inside the face box the stripes are gone: far from the original, close to its
    // pixelation.
    let from_original = mean_diff(&stored, &original, face);
    let from_blurred = mean_diff(&stored, &blurred, face);
    assert!(from_original > 50.0, "face not blurred: {from_original:.1}");
    assert!(from_blurred < 10.0, "{from_blurred:.1}");
    // Far from it (the left half above the plate), only JPEG's small error.
    let far = mean_diff(&stored, &original, (0, 0, 150, 100));
    assert!(far < 4.0, "{far:.1}");
}

/// A plate read on one frame only (a sign, a reflection) is no sighting: counted, not decided.
#[test]
fn a_track_with_too_few_reads_raises_nothing() {
    let fx = Fixture::new(vec![]);
    let setup = fx.setup();
    assert_eq!(setup.tracker.min_reads, 2);
    let (mut sink, mut finder, mut state) = (
        MemorySink::default(),
        FixedFaces::new(vec![]),
        DecideState::default(),
    );
    let mut s = streams(&setup);
    let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, &mut state);
    drive_plate(&mut d, &mut s, 1);
    d.finish(&mut s).unwrap();

    let c = &state.outcomes;
    assert_eq!((c.tracks, c.too_few_reads, c.sightings), (1, 1, 0), "{c:?}");
    assert_eq!(c.violations, 0);
    assert!(sink.events.is_empty() && sink.evidence.is_empty());
    assert_eq!(finder.calls, 0);
}

/// The end of the stream closes a track still open, without waiting for its timeout.
#[test]
fn finish_closes_open_tracks() {
    let fx = Fixture::new(vec![]);
    let setup = fx.setup();
    let (mut sink, mut finder, mut state) = (
        MemorySink::default(),
        FixedFaces::new(vec![]),
        DecideState::default(),
    );
    let mut s = streams(&setup);
    let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, &mut state);
    for i in 0..5 {
        let found = Findings {
            plates: Some(vec![plate_read(i)]),
            faces: None,
        };
        d.apply(&mut s, &frame(i), found).unwrap();
    }
    // The plate was on the last frame: its track is still open and nothing is decided yet.
    assert_eq!(d.state.outcomes.tracks, 0);
    assert_eq!(s.plates.active().len(), 1);

    d.finish(&mut s).unwrap();
    assert!(s.plates.active().is_empty());
    assert_eq!(state.outcomes.tracks, 1);
    assert_eq!(state.outcomes.violations, 1);
    assert_eq!(sink.events.len(), 1);
    assert_eq!(sink.events[0].media_time.last, at(4));
}

/// A sink that fails: the event is held, not lost; the error is reported once as an event write
/// error; retrying while the sink still fails keeps it held; once the sink recovers, the retry
/// writes it.
#[test]
fn a_failing_sink_holds_the_event_until_a_retry_succeeds() {
    let fx = Fixture::new(vec![]);
    let setup = fx.setup();
    let mut sink = FlakySink {
        failing: true,
        ..FlakySink::default()
    };
    let mut finder = FixedFaces::new(vec![FACE_BOX]);
    let mut state = DecideState::default();
    let mut s = streams(&setup);
    {
        let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, &mut state);
        drive_plate(&mut d, &mut s, 5);
        let e = d.take_write_error().expect("the failed write is reported");
        assert!(e.is_event_write(), "{e}");
        assert!(
            matches!(e, EngineError::EventWrite(EventError::Write { .. })),
            "{e:?}"
        );
        assert!(d.take_write_error().is_none(), "reported once");
        // The sink still fails: the retry says so and keeps the event.
        let e = d.retry_held().unwrap_err();
        assert!(e.is_event_write(), "{e}");
    }
    assert_eq!(sink.refused, 2);
    assert_eq!(state.outcomes.violations, 1);
    assert_eq!(state.held_events(), 1);
    assert!(state.events.is_empty());
    assert!(sink.inner.events.is_empty());

    // The sink recovers: a later step's retry writes the held event.
    sink.failing = false;
    {
        let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, &mut state);
        d.retry_held().unwrap();
        assert!(d.take_write_error().is_none());
    }
    assert_eq!(state.held_events(), 0);
    assert_eq!(sink.inner.events.len(), 1);
    assert_eq!(plate_of(&sink.inner.events[0]), PLATE);
    assert_eq!(state.events, sink.inner.events);
    let id = &sink.inner.events[0].event_id;
    assert!(sink.inner.evidence.iter().all(|(e, _, _)| e == id));
    // The frame was blurred once, when the violation was decided, not on each retry.
    assert_eq!(finder.calls, 1);
}

/// The quality of a good frontal face.
fn quality(score: f32) -> Quality {
    Quality {
        score,
        size_score: 1.0,
        sharpness_score: 1.0,
        pose_score: 1.0,
        eye_distance_px: 24.0,
        face_height_px: 60.0,
        sharpness: 200.0,
        roll_deg: 0.0,
        yaw: 0.0,
        pitch: 1.15,
    }
}

/// The subject's face on frame `i`: a 60 px face moving 2 px right per frame, with an embedding
/// close to the subject's reference (cosine ≈ 0.99, above the threshold 0.5).
fn subject_face(i: u64, image: &RgbImage) -> DetectedFace {
    let (x, y) = (40.0 + 2.0 * (i % 40) as f32, 40.0);
    let landmarks = [
        Point::new(x + 18.0, y + 22.0),
        Point::new(x + 42.0, y + 22.0),
        Point::new(x + 30.0, y + 34.0),
        Point::new(x + 21.0, y + 46.0),
        Point::new(x + 39.0, y + 46.0),
    ];
    DetectedFace {
        face: Face {
            bbox_in_frame: BBox::new(x, y, 60.0, 60.0),
            landmarks_in_frame: landmarks,
            score: 0.9,
        },
        aligned: AlignedFace::from_frame(image, &landmarks).expect("landmarks align"),
        quality: quality(0.9),
        embedding: embedding(0),
    }
}

/// Analysed frames `frames`, each with the faces found on it: the subject where `visible`,
/// nobody elsewhere.
fn drive_faces(
    d: &mut Decider<'_, '_>,
    s: &mut StreamTrackers,
    frames: std::ops::Range<u64>,
    visible: impl Fn(u64) -> bool,
) {
    for i in frames {
        let f = frame(i);
        let faces = if visible(i) {
            vec![subject_face(i, &f.image)]
        } else {
            vec![]
        };
        let found = Findings {
            plates: None,
            faces: Some(faces),
        };
        d.apply(s, &f, found).unwrap();
    }
}

fn face_subject(e: &Event) -> &passwatch_events::FaceSubject {
    match &e.subject {
        Subject::Face(f) => f,
        other => panic!("not a face event: {other:?}"),
    }
}

/// Two tracks of the subject 2.2 s apart (the person turned away), within the 10 s merge
/// window: one breach event spanning both, with the faces of both.
#[test]
fn breaches_of_one_subject_within_the_merge_window_are_one_event() {
    let fx = Fixture::new(vec![]);
    let setup = fx.setup();
    assert_eq!(setup.site.faces.merge_window_s, 10.0);
    let (mut sink, mut finder, mut state) = (
        MemorySink::default(),
        FixedFaces::new(vec![]),
        DecideState::default(),
    );
    let mut s = streams(&setup);
    let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, &mut state);
    // Seen 0.0–0.8 s, then 3.0–3.8 s: the first track ends (1 s face timeout) before the
    // second starts, and its breach is held for merging.
    let visible = |i: u64| i < 5 || (15..20).contains(&i);
    drive_faces(&mut d, &mut s, 0..15, visible);
    assert_eq!(d.state.outcomes.face_tracks, 1);
    assert_eq!(d.state.outcomes.face_tracks_breaching, 1);
    assert_eq!(d.state.outcomes.face_breaches, 0);
    drive_faces(&mut d, &mut s, 15..20, visible);
    d.finish(&mut s).unwrap();

    let c = &state.outcomes;
    assert_eq!((c.face_tracks, c.face_tracks_breaching), (2, 2), "{c:?}");
    assert_eq!(c.face_breaches, 1);
    assert_eq!(sink.events.len(), 1);
    let event = &sink.events[0];
    assert_eq!(event.kind, EventKind::StayHomeBreach);
    assert_eq!(event.media_time.first, at(0));
    assert_eq!(event.media_time.last, at(19));
    let subject = face_subject(event);
    assert_eq!(subject.subject_id, "S-1");
    assert_eq!(subject.faces_used, 10);
    assert_eq!(sink.evidence.len(), 1);
    assert_eq!(
        finder.calls, 0,
        "face evidence does not use the plate privacy finder"
    );
}

/// Two tracks of the subject 19.2 s apart, beyond the merge window: two events, the first
/// raised once the stream is past its window (not held until the end).
#[test]
fn breaches_of_one_subject_farther_apart_are_two_events() {
    let fx = Fixture::new(vec![]);
    let setup = fx.setup();
    let (mut sink, mut finder, mut state) = (
        MemorySink::default(),
        FixedFaces::new(vec![]),
        DecideState::default(),
    );
    let mut s = streams(&setup);
    let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, &mut state);
    // Seen 0.0–0.8 s, then 20.0–20.8 s.
    let visible = |i: u64| i < 5 || (100..105).contains(&i);
    // At 10 s the first breach can still merge with a later track: held.
    drive_faces(&mut d, &mut s, 0..51, visible);
    assert_eq!(d.state.outcomes.face_tracks_breaching, 1);
    assert_eq!(d.state.outcomes.face_breaches, 0);
    // At 12 s it is past the window (0.8 s + 10 s): raised, before the second track is seen.
    drive_faces(&mut d, &mut s, 51..61, visible);
    assert_eq!(d.state.outcomes.face_breaches, 1);
    assert_eq!(d.state.events.len(), 1);
    drive_faces(&mut d, &mut s, 61..105, visible);
    d.finish(&mut s).unwrap();

    assert_eq!(state.outcomes.face_tracks_breaching, 2);
    assert_eq!(state.outcomes.face_breaches, 2);
    assert_eq!(sink.events.len(), 2);
    let spans: Vec<(MediaTime, MediaTime)> = sink
        .events
        .iter()
        .map(|e| (e.media_time.first, e.media_time.last))
        .collect();
    assert_eq!(spans, [(at(0), at(4)), (at(100), at(104))]);
    assert_ne!(sink.events[0].event_id, sink.events[1].event_id);
    assert!(sink.events.iter().all(|e| face_subject(e).faces_used == 5));
}

/// A privacy finder that fails while `failing` (a model that cannot run), then finds nothing.
struct FlakyFinder {
    failing: bool,
    calls: usize,
}

impl FaceFinder for FlakyFinder {
    fn faces(&mut self, _frame: &RgbImage) -> Result<Vec<BBox>, String> {
        self.calls += 1;
        if self.failing {
            Err("face detector: out of memory".into())
        } else {
            Ok(vec![])
        }
    }
}

/// The faces to blur cannot be found: the evidence is never written unblurred, the violation
/// is held (not lost) with a model error, and once the finder works a retry writes it.
#[test]
fn a_failing_face_finder_holds_the_event_and_never_writes_an_unblurred_frame() {
    let fx = Fixture::new(vec![]);
    let setup = fx.setup();
    let mut sink = MemorySink::default();
    let mut finder = FlakyFinder {
        failing: true,
        calls: 0,
    };
    let mut state = DecideState::default();
    let mut s = streams(&setup);
    {
        let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, &mut state);
        drive_plate(&mut d, &mut s, 5);
        let e = d.take_write_error().expect("the failure is reported");
        assert!(!e.is_event_write(), "{e}");
        assert_eq!(e.kind(), crate::error::ErrorKind::Model, "{e}");
    }
    assert_eq!(state.outcomes.violations, 1);
    assert_eq!(state.held_events(), 1);
    assert!(
        sink.evidence.is_empty(),
        "nothing stored before the faces are blurred"
    );
    assert!(sink.events.is_empty());
    finder.failing = false;
    {
        let mut d = decider(&setup, &fx.models, &mut sink, &mut finder, &mut state);
        d.retry_held().unwrap();
    }
    assert_eq!(state.held_events(), 0);
    assert_eq!(sink.events.len(), 1);
    assert_eq!(sink.evidence.len(), 1);
    assert_eq!(finder.calls, 2);
}
