//! What an operator sees: per-camera state and counters, per-stage latency histograms, events
//! by kind, registry versions; rendered as Prometheus text (`/metrics`) and JSON
//! (`/api/cameras`).
//!
//! Everything here is updated with atomics or short locks from the camera threads and the
//! workers, and read by the HTTP handlers; nothing blocks a frame.

use super::camera::CameraState;
use super::Clocks;
use passwatch_base::time::WallTime;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A camera's status, as `/api/cameras` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CameraStatus {
    /// Camera id.
    pub id: String,
    /// Its zone.
    pub zone: String,
    /// Its source, credentials hidden.
    pub source: String,
    /// What it is doing.
    pub state: CameraState,
    /// Analysed frames per second asked for.
    pub analyse_fps: f64,
    /// The last fault, with the camera and source in it.
    pub last_error: Option<String>,
    /// When it happened.
    pub last_error_at: Option<WallTime>,
    /// When the next attempt is due (in backoff or failing).
    pub next_retry_at: Option<WallTime>,
    /// Faults in a row (0 once a session has streamed long enough).
    pub consecutive_failures: u32,
    /// Since when the current session streams.
    pub streaming_since: Option<WallTime>,
    /// Seconds since the last frame arrived (any frame, analysed or not).
    pub last_frame_age_s: Option<f64>,
    /// Frames decoded.
    pub frames_in: u64,
    /// Frames analysed.
    pub frames_analysed: u64,
    /// Frames dropped: by GStreamer at the appsink, and in the keep-newest queue.
    pub frames_dropped: u64,
    /// Of which dropped in the queue (the workers were busy).
    pub frames_dropped_queue: u64,
    /// New sessions started after a fault.
    pub reconnects: u64,
    /// Times a looped file started again.
    pub loops: u64,
    /// Sightings decided.
    pub sightings: u64,
    /// Events raised.
    pub events: u64,
    /// Frames whose analysis failed (model error, event output error).
    pub analysis_errors: u64,
    /// Of which frames skipped after a model error.
    pub model_errors: u64,
    /// Frames not analysed because the event output was failing (decisions halted).
    pub frames_halted: u64,
    /// Events decided and not yet written (held while the event output fails); a camera with
    /// any is halted: it takes no new decision until they are written.
    pub events_held: u64,
}

#[derive(Debug)]
struct CameraStatusInner {
    state: CameraState,
    last_error: Option<String>,
    last_error_at: Option<WallTime>,
    next_retry_at: Option<WallTime>,
    consecutive_failures: u32,
    streaming_since: Option<WallTime>,
    /// Drops at the appsink in ended sessions, and in the current one so far.
    sink_drops_done: u64,
    sink_drops_now: u64,
}

/// One camera's counters and state.
#[derive(Debug)]
pub struct CameraMetrics {
    id: String,
    zone: String,
    source: String,
    analyse_fps: f64,
    inner: Mutex<CameraStatusInner>,
    frames_in: AtomicU64,
    frames_analysed: AtomicU64,
    dropped_queue: AtomicU64,
    reconnects: AtomicU64,
    loops: AtomicU64,
    sightings: AtomicU64,
    events: AtomicU64,
    analysis_errors: AtomicU64,
    model_errors: AtomicU64,
    frames_halted: AtomicU64,
    events_held: AtomicU64,
    /// Monotonic ns of the last frame + 1 (0: none yet).
    last_frame: AtomicU64,
    /// Set by the run: the monotonic clock `last_frame` is read against.
    clocks: Mutex<Option<Arc<dyn Clocks>>>,
    /// Set by the run: the shared histogram of RGB conversions.
    convert: OnceLock<Arc<Histogram>>,
}

impl CameraMetrics {
    /// A camera not started yet (`connecting`).
    pub fn new(id: &str, zone: &str, source: &str, analyse_fps: f64) -> Self {
        CameraMetrics {
            id: id.to_string(),
            zone: zone.to_string(),
            source: source.to_string(),
            analyse_fps,
            inner: Mutex::new(CameraStatusInner {
                state: CameraState::Connecting,
                last_error: None,
                last_error_at: None,
                next_retry_at: None,
                consecutive_failures: 0,
                streaming_since: None,
                sink_drops_done: 0,
                sink_drops_now: 0,
            }),
            frames_in: AtomicU64::new(0),
            frames_analysed: AtomicU64::new(0),
            dropped_queue: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            loops: AtomicU64::new(0),
            sightings: AtomicU64::new(0),
            events: AtomicU64::new(0),
            analysis_errors: AtomicU64::new(0),
            model_errors: AtomicU64::new(0),
            frames_halted: AtomicU64::new(0),
            events_held: AtomicU64::new(0),
            last_frame: AtomicU64::new(0),
            clocks: Mutex::new(None),
            convert: OnceLock::new(),
        }
    }

    /// Camera id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The clock frame ages are measured with.
    pub fn set_clocks(&self, clocks: Arc<dyn Clocks>) {
        *lock(&self.clocks) = Some(clocks);
    }

    /// Sets the state.
    pub fn set_state(&self, state: CameraState) {
        let mut s = lock(&self.inner);
        s.state = state;
        if state != CameraState::Streaming {
            s.streaming_since = None;
        }
    }

    /// The first frame of a session arrived.
    pub fn streaming(&self, since: WallTime) {
        let mut s = lock(&self.inner);
        s.state = CameraState::Streaming;
        s.streaming_since = Some(since);
        s.next_retry_at = None;
    }

    /// When the current session started streaming.
    pub fn session_started(&self) -> Option<WallTime> {
        lock(&self.inner).streaming_since
    }

    /// A session ended with a fault.
    pub fn failed(
        &self,
        state: CameraState,
        error: &str,
        at: WallTime,
        next_retry: WallTime,
        consecutive: u32,
    ) {
        let mut s = lock(&self.inner);
        s.state = state;
        s.last_error = Some(error.to_string());
        s.last_error_at = Some(at);
        s.next_retry_at = Some(next_retry);
        s.consecutive_failures = consecutive;
        s.streaming_since = None;
    }

    /// A new attempt after a fault.
    pub fn reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// A looped file started again.
    pub fn looped(&self) {
        self.loops.fetch_add(1, Ordering::Relaxed);
    }

    /// A frame arrived at monotonic time `at`.
    pub fn frame_in(&self, at: Duration) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
        self.last_frame
            .store(at.as_nanos() as u64 + 1, Ordering::Relaxed);
    }

    /// The appsink's drop count in the current session; `ended`: the session is over.
    pub fn session_drops(&self, drops: u64, ended: bool) {
        let mut s = lock(&self.inner);
        if ended {
            s.sink_drops_done += drops;
            s.sink_drops_now = 0;
        } else {
            s.sink_drops_now = drops;
        }
    }

    /// A frame due for analysis was converted to RGB in `took`.
    pub fn converted(&self, took: Duration) {
        if let Some(h) = self.convert.get() {
            h.observe(took);
        }
    }

    /// A waiting frame was replaced by a newer one.
    pub fn dropped_in_queue(&self) {
        self.dropped_queue.fetch_add(1, Ordering::Relaxed);
    }

    /// A frame was analysed.
    pub fn analysed(&self) {
        self.frames_analysed.fetch_add(1, Ordering::Relaxed);
    }

    /// Sightings decided and events raised by one analysis step.
    pub fn decided(&self, sightings: u64, events: u64) {
        self.sightings.fetch_add(sightings, Ordering::Relaxed);
        self.events.fetch_add(events, Ordering::Relaxed);
    }

    /// A frame's analysis failed.
    pub fn analysis_error(&self) {
        self.analysis_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A frame was skipped after a model error (also an analysis error).
    pub fn model_error(&self) {
        self.model_errors.fetch_add(1, Ordering::Relaxed);
        self.analysis_error();
    }

    /// A frame was not analysed: the camera's events cannot be written (decisions halted).
    pub fn halted_frame(&self) {
        self.frames_halted.fetch_add(1, Ordering::Relaxed);
    }

    /// Events decided and waiting to be written.
    pub fn set_events_held(&self, n: u64) {
        self.events_held.store(n, Ordering::Relaxed);
    }

    /// Frames analysed so far.
    pub fn frames_analysed(&self) -> u64 {
        self.frames_analysed.load(Ordering::Relaxed)
    }

    /// The status as shown.
    pub fn status(&self) -> CameraStatus {
        let s = lock(&self.inner);
        let last = self.last_frame.load(Ordering::Relaxed);
        let last_frame_age_s = match (last, lock(&self.clocks).as_ref()) {
            (0, _) | (_, None) => None,
            (ns, Some(c)) => Some(
                c.monotonic()
                    .saturating_sub(Duration::from_nanos(ns - 1))
                    .as_secs_f64(),
            ),
        };
        let dropped_queue = self.dropped_queue.load(Ordering::Relaxed);
        CameraStatus {
            id: self.id.clone(),
            zone: self.zone.clone(),
            source: self.source.clone(),
            state: s.state,
            analyse_fps: self.analyse_fps,
            last_error: s.last_error.clone(),
            last_error_at: s.last_error_at,
            next_retry_at: s.next_retry_at,
            consecutive_failures: s.consecutive_failures,
            streaming_since: s.streaming_since,
            last_frame_age_s,
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_analysed: self.frames_analysed.load(Ordering::Relaxed),
            frames_dropped: dropped_queue + s.sink_drops_done + s.sink_drops_now,
            frames_dropped_queue: dropped_queue,
            reconnects: self.reconnects.load(Ordering::Relaxed),
            loops: self.loops.load(Ordering::Relaxed),
            sightings: self.sightings.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            analysis_errors: self.analysis_errors.load(Ordering::Relaxed),
            model_errors: self.model_errors.load(Ordering::Relaxed),
            frames_halted: self.frames_halted.load(Ordering::Relaxed),
            events_held: self.events_held.load(Ordering::Relaxed),
        }
    }
}

/// A per-camera counter: name, help, and how to read it from a status.
type Counter = (&'static str, &'static str, fn(&CameraStatus) -> u64);

/// Upper bounds of the latency buckets, in seconds: from a few ms (a conversion) to a minute
/// (a parked car's track).
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0,
];

/// A latency histogram with fixed buckets, Prometheus style.
#[derive(Debug)]
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: LATENCY_BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one latency.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| s <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The bucket bound under which a share `q` of the observations lie (an upper estimate of
    /// the quantile; `None` without observations or beyond the last bucket).
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let target = (q * n as f64).ceil() as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= target.max(1) {
                return Some(LATENCY_BUCKETS[i]);
            }
        }
        None
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels},le=\"{}\"}} {cumulative}",
                LATENCY_BUCKETS[i]
            );
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// The stages whose latency is measured.
#[derive(Debug, Default)]
pub struct Stages {
    /// I420 → RGB of an analysed frame (camera thread).
    pub convert: Arc<Histogram>,
    /// Arrival → taken by a worker (time waiting in the queue).
    pub queue: Histogram,
    /// Model inference on one frame (plates and faces).
    pub inference: Histogram,
    /// Tracking, consensus, rules, evidence and event writing for one frame.
    pub decide: Histogram,
    /// Arrival → analysis done, per analysed frame.
    pub frame: Histogram,
    /// Capture of a sighting's last read → its event written and synced. Includes the time a
    /// track waits to be closed (`max_gap`, 1.2 s of media time).
    pub event: Histogram,
}

/// The registry as the run sees it.
#[derive(Debug, Default)]
pub struct RegistryMetrics {
    /// Version of the snapshot decisions use now.
    pub version: AtomicU64,
    /// Snapshots loaded since the start (1 at start).
    pub loads: AtomicU64,
    /// Failed reloads (the previous snapshot stays in use).
    pub errors: AtomicU64,
    /// Passes in the snapshot.
    pub passes: AtomicU64,
    /// Watchlist subjects in the snapshot.
    pub subjects: AtomicU64,
}

/// Everything `/metrics` and `/api/cameras` show.
pub struct Metrics {
    /// Per camera, in site order.
    pub cameras: Vec<Arc<CameraMetrics>>,
    /// Per stage.
    pub stages: Stages,
    /// The registry.
    pub registry: RegistryMetrics,
    events: Mutex<BTreeMap<String, u64>>,
    event_write_errors: AtomicU64,
    clocks: Arc<dyn Clocks>,
    started: Duration,
}

impl Metrics {
    /// Metrics over these cameras, with ages measured on `clocks`.
    pub fn new(cameras: Vec<Arc<CameraMetrics>>, clocks: Arc<dyn Clocks>) -> Self {
        let stages = Stages::default();
        for c in &cameras {
            c.set_clocks(clocks.clone());
            let _ = c.convert.set(stages.convert.clone());
        }
        let started = clocks.monotonic();
        Metrics {
            cameras,
            stages,
            registry: RegistryMetrics::default(),
            events: Mutex::new(BTreeMap::new()),
            event_write_errors: AtomicU64::new(0),
            clocks,
            started,
        }
    }

    /// An event of this kind was raised.
    pub fn event(&self, kind: &str) {
        *lock(&self.events).entry(kind.to_string()).or_insert(0) += 1;
    }

    /// An event could not be written.
    pub fn event_write_error(&self) {
        self.event_write_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Every camera's status.
    pub fn camera_statuses(&self) -> Vec<CameraStatus> {
        self.cameras.iter().map(|c| c.status()).collect()
    }

    /// `/api/cameras`: a JSON array of camera statuses.
    pub fn cameras_json(&self) -> String {
        serde_json::to_string(&self.camera_statuses()).unwrap_or_else(|_| "[]".into())
    }

    /// `/metrics`: the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let statuses = self.camera_statuses();
        let esc = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };

        let _ = writeln!(
            out,
            "# HELP passwatch_camera_state Whether the camera is in this state (1) or not (0)."
        );
        let _ = writeln!(out, "# TYPE passwatch_camera_state gauge");
        for s in &statuses {
            for state in CameraState::ALL {
                let _ = writeln!(
                    out,
                    "passwatch_camera_state{{camera=\"{}\",state=\"{}\"}} {}",
                    esc(&s.id),
                    state.as_str(),
                    u8::from(s.state == state)
                );
            }
        }
        let counters: [Counter; 9] = [
            ("passwatch_camera_frames_in_total", "Frames decoded.", |s| {
                s.frames_in
            }),
            (
                "passwatch_camera_frames_analysed_total",
                "Frames analysed.",
                |s| s.frames_analysed,
            ),
            (
                "passwatch_camera_reconnects_total",
                "New sessions started after a fault.",
                |s| s.reconnects,
            ),
            (
                "passwatch_camera_loops_total",
                "Times a looped file started again.",
                |s| s.loops,
            ),
            (
                "passwatch_camera_sightings_total",
                "Sightings decided.",
                |s| s.sightings,
            ),
            ("passwatch_camera_events_total", "Events raised.", |s| {
                s.events
            }),
            (
                "passwatch_camera_analysis_errors_total",
                "Frames whose analysis failed.",
                |s| s.analysis_errors,
            ),
            (
                "passwatch_camera_model_errors_total",
                "Frames skipped after a model error.",
                |s| s.model_errors,
            ),
            (
                "passwatch_camera_frames_halted_total",
                "Frames not analysed because the camera's events could not be written.",
                |s| s.frames_halted,
            ),
        ];
        let _ = writeln!(
            out,
            "# HELP passwatch_camera_events_held Events decided and not yet written (the event \
             output is failing: decisions on this camera are halted until they are written)."
        );
        let _ = writeln!(out, "# TYPE passwatch_camera_events_held gauge");
        for s in &statuses {
            let _ = writeln!(
                out,
                "passwatch_camera_events_held{{camera=\"{}\"}} {}",
                esc(&s.id),
                s.events_held
            );
        }
        for (name, help, get) in counters {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for s in &statuses {
                let _ = writeln!(out, "{name}{{camera=\"{}\"}} {}", esc(&s.id), get(s));
            }
        }
        let _ = writeln!(out, "# HELP passwatch_camera_frames_dropped_total Frames dropped: by GStreamer before the camera thread took them (where=\"source\"), or replaced by a newer one while waiting for a worker (where=\"queue\").");
        let _ = writeln!(out, "# TYPE passwatch_camera_frames_dropped_total counter");
        for s in &statuses {
            let id = esc(&s.id);
            let _ = writeln!(
                out,
                "passwatch_camera_frames_dropped_total{{camera=\"{id}\",where=\"source\"}} {}",
                s.frames_dropped - s.frames_dropped_queue
            );
            let _ = writeln!(
                out,
                "passwatch_camera_frames_dropped_total{{camera=\"{id}\",where=\"queue\"}} {}",
                s.frames_dropped_queue
            );
        }
        let _ = writeln!(out, "# HELP passwatch_camera_last_frame_age_seconds Seconds since the camera's last frame (absent before the first).");
        let _ = writeln!(out, "# TYPE passwatch_camera_last_frame_age_seconds gauge");
        for s in &statuses {
            if let Some(age) = s.last_frame_age_s {
                let _ = writeln!(
                    out,
                    "passwatch_camera_last_frame_age_seconds{{camera=\"{}\"}} {age:.3}",
                    esc(&s.id)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP passwatch_camera_consecutive_failures Faults in a row."
        );
        let _ = writeln!(out, "# TYPE passwatch_camera_consecutive_failures gauge");
        for s in &statuses {
            let _ = writeln!(
                out,
                "passwatch_camera_consecutive_failures{{camera=\"{}\"}} {}",
                esc(&s.id),
                s.consecutive_failures
            );
        }

        let _ = writeln!(out, "# HELP passwatch_stage_latency_seconds Latency per stage: convert (I420 to RGB), queue (arrival to a worker), inference (models on one frame), decide (tracking, rules, events), frame (arrival to analysis done), event (capture of a sighting's last read to its event synced).");
        let _ = writeln!(out, "# TYPE passwatch_stage_latency_seconds histogram");
        let st = &self.stages;
        for (stage, h) in [
            ("convert", &*st.convert),
            ("queue", &st.queue),
            ("inference", &st.inference),
            ("decide", &st.decide),
            ("frame", &st.frame),
            ("event", &st.event),
        ] {
            h.render(
                &mut out,
                "passwatch_stage_latency_seconds",
                &format!("stage=\"{stage}\""),
            );
        }

        let _ = writeln!(out, "# HELP passwatch_events_total Events raised, by kind.");
        let _ = writeln!(out, "# TYPE passwatch_events_total counter");
        for (kind, n) in lock(&self.events).iter() {
            let _ = writeln!(out, "passwatch_events_total{{kind=\"{}\"}} {n}", esc(kind));
        }
        let _ = writeln!(
            out,
            "# HELP passwatch_event_write_errors_total Events that could not be written."
        );
        let _ = writeln!(out, "# TYPE passwatch_event_write_errors_total counter");
        let _ = writeln!(
            out,
            "passwatch_event_write_errors_total {}",
            self.event_write_errors.load(Ordering::Relaxed)
        );

        let r = &self.registry;
        let gauges = [
            (
                "passwatch_registry_version",
                "Registry version decisions are taken against.",
                r.version.load(Ordering::Relaxed),
            ),
            (
                "passwatch_registry_passes",
                "Passes in the registry snapshot.",
                r.passes.load(Ordering::Relaxed),
            ),
            (
                "passwatch_registry_subjects",
                "Watchlist subjects in the registry snapshot.",
                r.subjects.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {v}");
        }
        for (name, help, v) in [
            (
                "passwatch_registry_loads_total",
                "Registry snapshots loaded.",
                r.loads.load(Ordering::Relaxed),
            ),
            (
                "passwatch_registry_errors_total",
                "Failed registry reloads.",
                r.errors.load(Ordering::Relaxed),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {v}");
        }

        let _ = writeln!(
            out,
            "# HELP passwatch_uptime_seconds Seconds since the run started."
        );
        let _ = writeln!(out, "# TYPE passwatch_uptime_seconds gauge");
        let _ = writeln!(
            out,
            "passwatch_uptime_seconds {:.3}",
            self.clocks
                .monotonic()
                .saturating_sub(self.started)
                .as_secs_f64()
        );
        if let Some(rss) = resident_bytes() {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes."
            );
            let _ = writeln!(out, "# TYPE process_resident_memory_bytes gauge");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        out
    }
}

/// The process's resident set size, from `/proc/self/status` (Linux; `None` elsewhere).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::SimulatedClocks;

    #[test]
    fn histograms_count_into_their_buckets() {
        let h = Histogram::default();
        for ms in [1, 3, 3, 40, 700, 120_000] {
            h.observe(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 6);
        assert_eq!(h.quantile_bound(0.5), Some(0.005));
        assert_eq!(h.quantile_bound(0.8), Some(1.0));
        assert_eq!(h.quantile_bound(1.0), None); // beyond the last bucket
        let mut out = String::new();
        h.render(&mut out, "x", "stage=\"a\"");
        assert!(out.contains("x_bucket{stage=\"a\",le=\"0.002\"} 1\n"));
        assert!(out.contains("x_bucket{stage=\"a\",le=\"0.005\"} 3\n"));
        assert!(out.contains("x_bucket{stage=\"a\",le=\"+Inf\"} 6\n"));
        assert!(out.contains("x_count{stage=\"a\"} 6\n"));
    }

    #[test]
    fn the_exposition_names_every_camera_and_stays_well_formed() {
        let clocks = Arc::new(SimulatedClocks::new(
            "2026-04-01T08:00:00Z".parse().unwrap(),
        ));
        let cam = Arc::new(CameraMetrics::new(
            "gate-\"n\"",
            "centre",
            "rtsp://x/s",
            5.0,
        ));
        let m = Metrics::new(vec![cam.clone()], clocks.clone());
        cam.streaming("2026-04-01T08:00:00Z".parse().unwrap());
        cam.frame_in(Duration::from_secs(1));
        clocks.advance(Duration::from_millis(2500));
        cam.analysed();
        cam.dropped_in_queue();
        cam.session_drops(3, false);
        m.event("no_valid_pass");
        m.registry.version.store(7, Ordering::Relaxed);
        let text = m.render();
        assert!(text
            .contains("passwatch_camera_state{camera=\"gate-\\\"n\\\"\",state=\"streaming\"} 1"));
        assert!(
            text.contains("passwatch_camera_state{camera=\"gate-\\\"n\\\"\",state=\"failing\"} 0")
        );
        assert!(
            text.contains("passwatch_camera_frames_analysed_total{camera=\"gate-\\\"n\\\"\"} 1")
        );
        assert!(text.contains("where=\"source\"} 3"));
        assert!(text.contains("where=\"queue\"} 1"));
        assert!(text
            .contains("passwatch_camera_last_frame_age_seconds{camera=\"gate-\\\"n\\\"\"} 1.500"));
        assert!(text.contains("passwatch_events_total{kind=\"no_valid_pass\"} 1"));
        assert!(text.contains("passwatch_registry_version 7"));
        // Every sample line: a metric name, optional labels, one number.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(
                line.starts_with("passwatch_") || line.starts_with("process_"),
                "{line}"
            );
        }
        let json: serde_json::Value = serde_json::from_str(&m.cameras_json()).unwrap();
        assert_eq!(json[0]["state"], "streaming");
        assert_eq!(json[0]["frames_dropped"], 4);
    }
}
