//! The stream engine: one analysed frame at a time, analyse then decide. `replay`, `run`,
//! `bench` and `eval --video` all drive it, so each measures and ships the same code.
//!
//! - [`StreamTrackers`] holds one stream's state between frames (a replayed file, or one session
//!   of a live camera): the plate tracker with its detector schedule, and the face tracker.
//!   [`StreamTrackers::infer`] runs the models on a frame and keeps no state of its own, so
//!   inference runs without any shared lock.
//! - [`Decider`] takes what the models found, tracks it, and decides every track that ends:
//!   consensus, sighting, the rules against one registry snapshot, evidence with faces blurred,
//!   breaches of one subject merged, and the event handed to an [`EventSink`]. Nothing of a
//!   sighting that raises nothing leaves it: such sightings are only counted.
//! - The seams are traits: [`EventSink`] (a data folder, memory, nothing) and [`FaceFinder`]
//!   (the faces to blur in plate evidence; YuNet in the product, fixed boxes in unit tests).
//!
//! Errors are [`EngineError`]s with a kind a driver acts on: a model error skips the frame, an
//! event write error stops decisions for the camera rather than losing them.

pub use crate::error::ErrorKind;
use crate::faces::{FaceTrack, FaceTracker, FaceTrackerConfig, TrackFace};
use crate::ingest::Frame;
use crate::plates::PlateAnalyser;
use crate::track::{is_sighting, Track, Tracker, TrackerConfig};
use passwatch_base::time::{MediaTime, WallTime};
use passwatch_base::BBox;
use passwatch_events::privacy::blur_faces;
use passwatch_events::{build_face_event, build_plate_event, Event, EventError, EventSink};
use passwatch_face_matcher::{FaceDetector, FaceMatcher};
use passwatch_plate_reader::formats::PlateFormats;
use passwatch_plate_reader::reader::PlateReader;
use passwatch_registry::site::Site;
use passwatch_registry::{PassSnapshot, WatchlistSnapshot};
use passwatch_rules::face_sighting::{FaceMatch, FaceSighting, FaceUsed};
use passwatch_rules::{decide_face, decide_plate, FaceDecision, FaceOutcome, FaceThreshold};
use passwatch_rules::{PlateOutcome, RULE_NO_VALID_PASS, RULE_STAY_HOME_BREACH};
use std::collections::BTreeMap;
use std::time::Instant;

/// What can stop the engine on a frame or a track, by what a driver must do about it.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A model failed on a frame (the frame is skipped and counted; the stream goes on).
    #[error("{stage} at {media_time}: {message}")]
    Model {
        /// The stage: plates, faces, or privacy (the faces to blur in evidence).
        stage: &'static str,
        /// The frame's media time.
        media_time: MediaTime,
        /// The model's error, with its chain.
        message: String,
    },
    /// Writing an event or its evidence failed (disk full, read-only journal): the decision was
    /// taken but not kept, and no further decision should be taken on this stream.
    #[error(transparent)]
    EventWrite(#[from] EventError),
    /// The registry snapshot could not answer: a watchlist search failed (an embedding of
    /// another model or dimension).
    #[error("watchlist search: {0}")]
    Registry(#[from] passwatch_face_matcher::FaceError),
}

impl EngineError {
    /// What the error is about.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Model { .. } => ErrorKind::Model,
            EngineError::EventWrite(_) => ErrorKind::EventWrite,
            EngineError::Registry(_) => ErrorKind::Registry,
        }
    }

    /// Whether the error is about the event output (the caller must stop deciding).
    pub fn is_event_write(&self) -> bool {
        self.kind() == ErrorKind::EventWrite
    }
}

fn model_error(
    stage: &'static str,
    media_time: MediaTime,
    e: impl std::fmt::Display,
) -> EngineError {
    EngineError::Model {
        stage,
        media_time,
        message: format!("{e:#}"),
    }
}

/// Keeps the first error of a sequence of steps that all run.
fn first_error(first: &mut Option<EngineError>, result: Result<(), EngineError>) {
    if let Err(e) = result {
        first.get_or_insert(e);
    }
}

/// Finds the faces to blur in a plate event's evidence frame.
pub trait FaceFinder {
    /// Every face in `frame`, in frame pixels.
    fn faces(&mut self, frame: &image::RgbImage) -> Result<Vec<BBox>, String>;
}

impl FaceFinder for FaceDetector {
    fn faces(&mut self, frame: &image::RgbImage) -> Result<Vec<BBox>, String> {
        self.detect(frame)
            .map(|found| found.iter().map(|f| f.bbox_in_frame).collect())
            .map_err(|e| e.to_string())
    }
}

/// Default analysis rate for plates: a car crossing a frame in about a second gives five reads
/// to vote on, and the plate detector (the costly stage) runs five times a second.
pub const DEFAULT_PLATE_ANALYSE_FPS: f64 = 5.0;

/// The watchlist a stream matches faces against, and at what threshold.
#[derive(Clone, Copy)]
pub struct FaceSetup<'a> {
    /// One watchlist version (for a replay: the whole replay; live: the frame).
    pub watchlist: &'a WatchlistSnapshot,
    /// The similarity threshold (and the false-accept rate it stands for).
    pub threshold: FaceThreshold,
}

/// Counts of sightings by outcome.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct OutcomeCounts {
    /// Tracks closed.
    pub tracks: u64,
    /// Tracks with too few reads to be a sighting.
    pub too_few_reads: u64,
    /// Sightings decided.
    pub sightings: u64,
    /// Zone not restricted at the time.
    pub not_restricted: u64,
    /// Below the confidence floor.
    pub unreadable: u64,
    /// Cleared by an exact pass.
    pub valid: u64,
    /// Cleared by a fuzzy match (benefit of the doubt).
    pub cleared_by_fuzzy_match: u64,
    /// Violations (events).
    pub violations: u64,
    /// Doubtful sightings left for review (low-priority `needs_review` events).
    pub needs_review: u64,
    /// Face tracks closed.
    pub face_tracks: u64,
    /// Face tracks with no face good enough to match.
    pub faces_unusable: u64,
    /// Face tracks matching nobody above the threshold.
    pub face_no_match: u64,
    /// Matches whose subject's order was not in force.
    pub face_not_in_force: u64,
    /// Matches on a camera of the subject's home zone.
    pub face_home_zone: u64,
    /// Face tracks that matched a subject breaching an order.
    pub face_tracks_breaching: u64,
    /// Stay-home breaches after merging the tracks of one passage (events).
    pub face_breaches: u64,
}

/// Seconds spent per stage, over the whole replay.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StageSeconds {
    /// Decoding (the decode thread's time waiting for frames from GStreamer).
    pub decode: f64,
    /// I420 → RGB conversion of analysed frames.
    pub convert: f64,
    /// Plate detection.
    pub detect: f64,
    /// Text lines inside plate boxes.
    pub refine: f64,
    /// Cropping and OCR.
    pub ocr: f64,
    /// Tracking, consensus, matching, rules and event writing.
    pub match_and_rules: f64,
    /// Face detection.
    pub face_detect: f64,
    /// Face alignment and quality.
    pub face_align: f64,
    /// Face embedding.
    pub face_embed: f64,
    /// Face tracking, watchlist search, rules and event writing.
    pub face_match: f64,
}

/// The models a stream runs: the plate reader and the face matcher, as the camera's analyses
/// ask, and a face detector that finds the faces to blur in the evidence of plate events.
pub struct Models {
    /// Plates (cameras with `plates` among their analyses).
    pub plates: Option<PlateReader>,
    /// Faces (cameras with `faces`).
    pub faces: Option<FaceMatcher>,
    /// Finds faces in plate evidence frames, to blur them (privacy).
    pub privacy: FaceDetector,
}

impl Models {
    /// Model id by role, as events record them.
    pub fn model_ids(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if let Some(r) = &self.plates {
            for (k, v) in r.model_ids() {
                m.insert(k.to_string(), v);
            }
        }
        if let Some(f) = &self.faces {
            m.insert("face_detector".into(), f.detector_model_id().to_string());
            m.insert("face_embedder".into(), f.embedder_model_id().to_string());
        }
        m
    }
}

/// What every decision of a stream is taken against, besides its camera.
pub struct DecideSetup<'a> {
    /// The site (zones, schedules, plate and face settings).
    pub site: &'a Site,
    /// The registry snapshot plate decisions are taken against.
    pub passes: &'a PassSnapshot,
    /// The watchlist and threshold of the face path (cameras that run `faces`).
    pub faces: Option<FaceSetup<'a>>,
    /// Plate tracker settings.
    pub tracker: TrackerConfig,
    /// Face tracker settings (`best_k` comes from the site's `faces.max_faces`).
    pub face_tracker: FaceTrackerConfig,
}

/// One stream's tracking state between analysed frames (a replayed file, or one session of a
/// live camera in `run`): its plate and face trackers.
pub struct StreamTrackers {
    /// Open plate tracks.
    pub plates: Tracker,
    /// Open face tracks.
    pub faces: FaceTracker,
    plate_reads: PlateAnalyser,
}

/// What the models found in one analysed frame, before tracking.
pub struct Findings {
    /// Plate reads (`None`: the camera does not run plates).
    pub plates: Option<Vec<passwatch_plate_reader::reader::PlateObservation>>,
    /// Faces (`None`: the camera does not run faces).
    pub faces: Option<Vec<passwatch_face_matcher::DetectedFace>>,
}

impl StreamTrackers {
    /// Empty trackers with the setup's settings.
    pub fn new(tracker: &TrackerConfig, face_tracker: &FaceTrackerConfig, site: &Site) -> Self {
        StreamTrackers {
            plate_reads: PlateAnalyser::new(tracker.schedule.clone()),
            plates: Tracker::new(tracker.clone()),
            faces: FaceTracker::new(FaceTrackerConfig {
                best_k: site.faces.max_faces,
                ..face_tracker.clone()
            }),
        }
    }

    /// Runs the models on one analysed frame; `plates` and `faces` are the models of the
    /// analyses the camera runs (`None`: not run). Keeps no state of its own: inference can run
    /// without holding the event sinks.
    pub fn infer(
        &mut self,
        plates: Option<&mut PlateReader>,
        faces: Option<&mut FaceMatcher>,
        frame: &Frame,
    ) -> Result<Findings, EngineError> {
        Ok(Findings {
            plates: match plates {
                Some(reader) => Some(
                    self.plate_reads
                        .read(reader, &self.plates, &frame.image, frame.media_time)
                        .map_err(|e| model_error("plates", frame.media_time, e))?,
                ),
                None => None,
            },
            faces: match faces {
                Some(matcher) => Some(
                    matcher
                        .faces_in_frame(&frame.image)
                        .map_err(|e| model_error("faces", frame.media_time, e))?,
                ),
                None => None,
            },
        })
    }
}

/// A stream's identity in its events.
#[derive(Clone, Copy)]
pub struct StreamId<'a> {
    /// The camera id.
    pub camera_id: &'a str,
    /// The source as events show it (a file's path, a camera's URI without credentials).
    pub source: &'a str,
    /// The source's identity in event ids (a file's name and size; a live session).
    pub source_key: &'a str,
    /// Wall time of media time zero: a track first seen at media time `t` was seen at
    /// `start + t`.
    pub start: WallTime,
}

/// What a decision step produced and counted; the driver keeps it between steps.
#[derive(Default)]
pub struct DecideState {
    /// Sightings by outcome.
    pub outcomes: OutcomeCounts,
    /// Seconds in tracking, deciding and writing (`match_and_rules`, `face_match`).
    pub stages: StageSeconds,
    /// Events raised since the driver last took them.
    pub events: Vec<Event>,
    /// Events whose id the sink already held (a repeated replay), not written again.
    pub duplicates: u64,
    /// Breaches held back for merging.
    pending: Vec<PendingBreach>,
    /// Events decided but not written because the sink failed, oldest first.
    held: Vec<HeldEvent>,
    /// The first failure to write an event since the last successful write.
    write_error: Option<EngineError>,
}

impl DecideState {
    /// Events decided and waiting to be written (the sink failed).
    pub fn held_events(&self) -> usize {
        self.held.len()
    }
}

/// Everything needed to turn a closed track into a decision and maybe an event. `replay` makes
/// one per file; `run` one per analysed frame of a camera (with the registry snapshot of that
/// moment), so both decide with the same code.
pub struct Decider<'a, 'b> {
    /// Registry, site and tracker settings.
    pub setup: &'a DecideSetup<'b>,
    /// The stream.
    pub stream: StreamId<'a>,
    /// Model id by role, as events record them.
    pub models: &'a BTreeMap<String, String>,
    /// The plate-format regions the consensus votes with.
    pub regions: &'a [&'a str],
    /// The plate formats.
    pub formats: &'static PlateFormats,
    /// Where events and their evidence go.
    pub sink: &'a mut dyn EventSink,
    /// Finds the faces to blur in plate evidence.
    pub privacy: &'a mut dyn FaceFinder,
    /// Counts, stage times, events raised and breaches held, kept by the driver.
    pub state: &'a mut DecideState,
    /// Sees every closed plate track before it is decided (`eval --video` scores them).
    pub observer: Option<&'a mut dyn TrackObserver>,
}

/// Sees what the engine closes, for evaluations; the product runs without one.
pub trait TrackObserver {
    /// A plate track closed; `consensus` is its vote when it has enough reads to be a sighting.
    fn plate_track(
        &mut self,
        track: &Track,
        consensus: Option<&passwatch_plate_reader::consensus::Consensus>,
    );
}

/// A [`FaceFinder`] for streams whose decisions never write plate evidence (an evaluation on a
/// zone that is never restricted): it refuses, so evidence is never written unblurred.
pub struct NoFaceFinder;

impl FaceFinder for NoFaceFinder {
    fn faces(&mut self, _frame: &image::RgbImage) -> Result<Vec<BBox>, String> {
        Err("no face detector loaded to blur the faces in plate evidence".into())
    }
}

impl Decider<'_, '_> {
    /// Tracks one analysed frame's findings and decides every track that ends with it.
    pub fn apply(
        &mut self,
        streams: &mut StreamTrackers,
        frame: &Frame,
        found: Findings,
    ) -> Result<(), EngineError> {
        let mut error = None;
        if let Some(obs) = found.plates {
            let t = Instant::now();
            let ended = streams
                .plates
                .update(frame.media_time, frame.index, &frame.image, obs);
            // Every ended track is decided even if one fails: an error is returned after.
            for track in ended {
                let closed = self.close(track);
                first_error(&mut error, closed);
            }
            self.state.stages.match_and_rules += t.elapsed().as_secs_f64();
        }
        if let Some(faces) = found.faces {
            let t = Instant::now();
            let ended = streams.faces.update(frame.media_time, &frame.image, faces);
            for track in ended {
                let closed = self.close_face(track);
                first_error(&mut error, closed);
            }
            let flushed = self.flush_breaches(Some(frame.media_time));
            first_error(&mut error, flushed);
            self.state.stages.face_match += t.elapsed().as_secs_f64();
        }
        error.map_or(Ok(()), Err)
    }

    /// The stream ended (a file's end, a camera's disconnect): every open track is closed and
    /// decided, and the breaches held for merging are raised.
    pub fn finish(&mut self, streams: &mut StreamTrackers) -> Result<(), EngineError> {
        let mut error = None;
        let t = Instant::now();
        for track in streams.plates.finish() {
            let closed = self.close(track);
            first_error(&mut error, closed);
        }
        self.state.stages.match_and_rules += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for track in streams.faces.finish() {
            let closed = self.close_face(track);
            first_error(&mut error, closed);
        }
        let flushed = self.flush_breaches(None);
        first_error(&mut error, flushed);
        self.state.stages.face_match += t.elapsed().as_secs_f64();
        error.map_or(Ok(()), Err)
    }

    /// An event id not raised yet into this sink; `None` (and counted as a duplicate) when it
    /// was — that event and its evidence stay as they are, so a replay with other settings
    /// never rewrites evidence under an existing event.
    fn new_event_id(&mut self, first_seen: MediaTime, subject: &str, rule: &str) -> Option<String> {
        let s = &self.stream;
        let id = passwatch_events::event_id(s.camera_id, s.source_key, first_seen, subject, rule);
        if self.sink.contains(&id) {
            self.state.duplicates += 1;
            None
        } else {
            Some(id)
        }
    }

    fn close(&mut self, track: Track) -> Result<(), EngineError> {
        self.state.outcomes.tracks += 1;
        let consensus = is_sighting(&track, &self.setup.tracker)
            .then(|| track.consensus(self.formats, self.regions))
            .flatten();
        if let Some(o) = self.observer.as_deref_mut() {
            o.plate_track(&track, consensus.as_ref());
        }
        let counts = &mut self.state.outcomes;
        let Some(consensus) = consensus else {
            counts.too_few_reads += 1;
            return Ok(());
        };
        let s = self.stream;
        let sighting = track.sighting(&consensus, s.camera_id, s.source, s.source_key, s.start);
        let decision = decide_plate(&sighting, self.setup.site, self.setup.passes);
        counts.sightings += 1;
        match &decision.outcome {
            PlateOutcome::UnknownCamera | PlateOutcome::NotRestricted => counts.not_restricted += 1,
            PlateOutcome::Unreadable => counts.unreadable += 1,
            PlateOutcome::Valid { .. } => counts.valid += 1,
            PlateOutcome::ClearedByFuzzyMatch { .. } => counts.cleared_by_fuzzy_match += 1,
            PlateOutcome::Violation { .. } => counts.violations += 1,
            PlateOutcome::NeedsReview { .. } => counts.needs_review += 1,
        }
        tracing::debug!(camera = %self.stream.camera_id, track = track.id, plate = %sighting.plate,
            confidence = sighting.confidence, outcome = ?decision.outcome, "sighting decided");
        if !decision.raises_event() {
            return Ok(()); // nothing about this vehicle is kept
        }
        let Some(event_id) =
            self.new_event_id(sighting.first_seen, &sighting.plate, RULE_NO_VALID_PASS)
        else {
            return Ok(());
        };
        // Evidence: the best read's crop and frame, every face in the frame blurred before it is
        // stored (a plate event has no matched face). Bytes are deterministic.
        let images = track
            .evidence
            .as_ref()
            .map(|e| (e.crop.clone(), e.frame.clone()));
        self.raise(HeldEvent {
            event_id,
            blur_pending: images.is_some(),
            images,
            decided: Decided::Plate(Box::new((sighting, decision))),
        });
        Ok(())
    }

    /// A person's track ended: match its best faces, decide, and hold a breach for merging or
    /// drop every trace of the track.
    fn close_face(&mut self, track: FaceTrack) -> Result<(), EngineError> {
        let Some(faces_setup) = &self.setup.faces else {
            return Ok(());
        };
        let settings = &self.setup.site.faces;
        let counts = &mut self.state.outcomes;
        counts.face_tracks += 1;
        let usable: Vec<&TrackFace> = track
            .best
            .iter()
            .filter(|f| f.quality >= settings.min_quality)
            .take(settings.max_faces)
            .collect();
        if usable.is_empty() {
            counts.faces_unusable += 1;
            return Ok(());
        }
        let embeddings: Vec<passwatch_face_matcher::Embedding> =
            usable.iter().map(|f| f.embedding.clone()).collect();
        let best_match = faces_setup.watchlist.best_match(&embeddings)?;
        let mut faces_used: Vec<FaceUsed> = usable
            .iter()
            .map(|f| FaceUsed {
                media_time: f.media_time,
                quality: f.quality,
            })
            .collect();
        faces_used.sort_by_key(|f| f.media_time);
        let sighting = FaceSighting {
            camera_id: self.stream.camera_id.to_string(),
            source: self.stream.source.to_string(),
            source_key: self.stream.source_key.to_string(),
            track_id: track.id,
            first_seen: track.first_seen,
            last_seen: track.last_seen,
            wall_time: track.first_seen.to_wall(self.stream.start),
            faces: faces_used,
            best_match: best_match.map(FaceMatch::from),
            images: None,
        };
        let decision = decide_face(
            &sighting,
            self.setup.site,
            faces_setup.watchlist,
            faces_setup.threshold,
        );
        match &decision.outcome {
            FaceOutcome::UnknownCamera | FaceOutcome::NoMatch => counts.face_no_match += 1,
            FaceOutcome::NotInForce { .. } => counts.face_not_in_force += 1,
            FaceOutcome::HomeZone { .. } => counts.face_home_zone += 1,
            FaceOutcome::Breach { .. } => counts.face_tracks_breaching += 1,
        }
        let FaceOutcome::Breach {
            subject_id,
            similarity,
        } = &decision.outcome
        else {
            // The track, its embeddings and crops are dropped here: nothing of a face that
            // raised nothing is written anywhere, and logs do not say whom it resembled.
            return Ok(());
        };
        // Evidence images now (the track goes away): the best face's frame with every other
        // face blurred, and a crop of the face.
        let images = track.best.first().and_then(|best| {
            let frame = best.frame.as_ref()?;
            let b = &best.bbox_in_frame;
            let crop_box = passwatch_plate_reader::geometry::BBox::new(b.x, b.y, b.w, b.h);
            let mut shown = (**frame).clone();
            blur_faces(&mut shown, &best.faces_in_frame, Some(best.index_in_frame));
            // Cut from the blurred frame: a neighbour inside the padding stays blurred.
            let crop = passwatch_plate_reader::crop::crop_bbox(&shown, &crop_box, 0.25);
            Some((crop, shown))
        });
        let breach = PendingBreach {
            subject_id: subject_id.clone(),
            similarity: *similarity,
            sighting,
            decision,
            images,
        };
        let window = MediaTime::from_secs_f64(settings.merge_window_s);
        let merging = settings.merge_window_s > 0.0;
        let near = |p: &PendingBreach| {
            merging
                && p.subject_id == breach.subject_id
                && breach.sighting.first_seen.as_nanos()
                    <= p.sighting.last_seen.as_nanos() + window.as_nanos()
                && p.sighting.first_seen.as_nanos()
                    <= breach.sighting.last_seen.as_nanos() + window.as_nanos()
        };
        match self.state.pending.iter_mut().find(|p| near(p)) {
            Some(p) => p.merge(breach, self.stream.start),
            None => self.state.pending.push(breach),
        }
        Ok(())
    }

    /// Raises the held breaches that nothing can merge into any more (`now` is past their end
    /// by the merge window), or all of them (`now` = `None`, the source ended).
    fn flush_breaches(&mut self, now: Option<MediaTime>) -> Result<(), EngineError> {
        let window = MediaTime::from_secs_f64(self.setup.site.faces.merge_window_s).as_nanos();
        let (due, keep): (Vec<PendingBreach>, Vec<PendingBreach>) =
            std::mem::take(&mut self.state.pending)
                .into_iter()
                .partition(|p| {
                    now.is_none_or(|n| n.as_nanos() > p.sighting.last_seen.as_nanos() + window)
                });
        self.state.pending = keep;
        for p in due {
            self.state.outcomes.face_breaches += 1;
            let Some(event_id) =
                self.new_event_id(p.sighting.first_seen, &p.subject_id, RULE_STAY_HOME_BREACH)
            else {
                continue;
            };
            self.raise(HeldEvent {
                event_id,
                blur_pending: false,
                images: p.images,
                decided: Decided::Face(Box::new((p.sighting, p.decision))),
            });
        }
        Ok(())
    }

    /// Blurs the faces in an event's evidence, stores it, builds the event and hands it to the
    /// sink. When any of it fails (disk full, a read-only journal, the face finder), the event
    /// is held in [`DecideState`] with its images, so nothing decided is lost;
    /// [`Decider::retry_held`] writes it later. While events are held, newer ones queue behind
    /// them, so events reach the sink in the order they were decided.
    fn raise(&mut self, mut held: HeldEvent) {
        if !self.state.held.is_empty() {
            self.state.held.push(held);
            return;
        }
        if let Err(e) = self.write_held(&mut held) {
            tracing::error!(event_id = %held.event_id, error = %e, "event not written; held for retry");
            self.state.held.push(held);
            self.state.write_error.get_or_insert(e);
        }
    }

    fn write_held(&mut self, held: &mut HeldEvent) -> Result<(), EngineError> {
        if held.blur_pending {
            if let Some((_, frame)) = held.images.as_mut() {
                let at = match &held.decided {
                    Decided::Plate(d) => d.0.first_seen,
                    Decided::Face(d) => d.0.first_seen,
                };
                let faces = self
                    .privacy
                    .faces(frame)
                    .map_err(|m| model_error("privacy", at, m))?;
                blur_faces(frame, &faces, None);
            }
            held.blur_pending = false;
        }
        let evidence = match &held.images {
            Some((crop, frame)) => Some(self.sink.store_evidence(&held.event_id, crop, frame)?),
            None => None,
        };
        let event = match &held.decided {
            Decided::Plate(d) => build_plate_event(&d.0, &d.1, self.models, evidence),
            Decided::Face(d) => build_face_event(&d.0, &d.1, self.models, evidence),
        };
        if let Some(event) = event {
            self.sink.emit(&event)?;
            self.state.events.push(event);
        }
        Ok(())
    }

    /// Writes the events held since a write failed, oldest first. Returns the first error if
    /// the sink still fails (the rest stay held); the driver takes no new decision meanwhile.
    pub fn retry_held(&mut self) -> Result<(), EngineError> {
        while !self.state.held.is_empty() {
            let mut held = self.state.held.remove(0);
            if let Err(e) = self.write_held(&mut held) {
                self.state.held.insert(0, held);
                return Err(e);
            }
        }
        self.state.write_error = None;
        Ok(())
    }

    /// The first write error since the last successful retry, taken out (the events behind it
    /// are held). Drivers call it after a step.
    pub fn take_write_error(&mut self) -> Option<EngineError> {
        self.state.write_error.take()
    }
}

/// What was decided, waiting for its event to be built (after its evidence is stored).
enum Decided {
    Plate(
        Box<(
            passwatch_rules::sighting::PlateSighting,
            passwatch_rules::PlateDecision,
        )>,
    ),
    Face(Box<(FaceSighting, FaceDecision)>),
}

/// An event decided and not yet written: its id, its evidence images, its decision.
struct HeldEvent {
    event_id: String,
    /// The frame's faces are still to be found and blurred (plate events).
    blur_pending: bool,
    images: Option<(image::RgbImage, image::RgbImage)>,
    decided: Decided,
}

/// A breach held back until no other track of the same subject on the same camera can join it:
/// one person's passage raises one event, however often the track broke (turning away, a cut).
struct PendingBreach {
    subject_id: String,
    similarity: f32,
    sighting: FaceSighting,
    decision: FaceDecision,
    images: Option<(image::RgbImage, image::RgbImage)>,
}

impl PendingBreach {
    /// Joins another breach of the same subject: the span covers both, the faces are those of
    /// both, and the decision and evidence are those of the better match.
    fn merge(&mut self, other: PendingBreach, start: WallTime) {
        let first = self.sighting.first_seen.min(other.sighting.first_seen);
        let last = self.sighting.last_seen.max(other.sighting.last_seen);
        let mut faces = std::mem::take(&mut self.sighting.faces);
        faces.extend(other.sighting.faces.iter().cloned());
        faces.sort_by_key(|f| f.media_time);
        if other.similarity > self.similarity {
            let track_id = self.sighting.track_id.min(other.sighting.track_id);
            *self = other;
            self.sighting.track_id = track_id;
        }
        self.sighting.first_seen = first;
        self.sighting.last_seen = last;
        self.sighting.wall_time = first.to_wall(start);
        self.sighting.faces = faces;
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
