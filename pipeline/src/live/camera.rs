//! One camera's supervisor: its own named thread, a session loop that never gives up, and the
//! state an operator sees.
//!
//! [`CameraSupervisor::run`] loops for ever (until the run stops): [`CameraSupervisor::run_once`]
//! opens a session of the source, hands every frame due for analysis to the workers, and returns
//! why the session ended, as a [`CameraError`] for every fault:
//!
//! - an **end of stream from a live source is a disconnect** (`rtspsrc` over TCP reports a killed
//!   server as EOS, not as an error);
//! - the **frame watchdog**: no frame for `watchdog` (default 5 s), or none within
//!   `first_frame_timeout` of opening (default 10 s), ends the session. `rtspsrc` notices a frozen
//!   server only after 25–28 s; a camera that drops off the network freezes the same way;
//! - a GStreamer error (refused, unauthorised, garbage, a decode error) ends the session with its
//!   message.
//!
//! After a fault the camera waits (capped exponential backoff with jitter, [`BackoffPolicy`]:
//! 0.5 s doubling to 30 s, ±20 %) and tries again; after `failing_after` consecutive faults
//! (default 3) its state is `failing`, with the last error and the time of the next attempt,
//! and it goes on trying at the backoff's pace, never in a tight loop. A session that streamed
//! for `healthy_after` (10 s) resets the count. While an RTSP camera is in backoff after it
//! became unreachable (connection refused), a TCP connect to its port every second ends the wait
//! as soon as the port answers again, so a camera that reboots is back within about a second of
//! its return, whatever the backoff had grown to.
//!
//! Every session end, fault or not, is announced to the workers ([`FrameSink::end_session`]),
//! which close the open tracks of that session: tracks never span two sessions (their media
//! times restart).

use super::metrics::CameraMetrics;
use super::queue::{LiveFrame, SessionId};
use super::source::{FrameSource, Pulled, SourceFactory, SourceFault, SourceSpec};
use super::{Clocks, Stop};
use serde::Serialize;
use std::net::{TcpStream, ToSocketAddrs};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

/// Why a session of a camera ended. Every variant names the camera and its source (credentials
/// hidden).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CameraError {
    /// The pipeline could not be built: a missing GStreamer plugin, a bad launch description.
    /// Retried (a plugin may be installed meanwhile) but the camera is reported failing.
    #[error("camera {camera}: {uri}: cannot start: {message}")]
    Setup {
        /// Camera id.
        camera: String,
        /// The source, redacted.
        uri: String,
        /// GStreamer's message.
        message: String,
    },
    /// GStreamer reported an error: connection refused, not found, unauthorised, garbage on the
    /// wire, a decode error.
    #[error("camera {camera}: {uri}: {message}")]
    Stream {
        /// Camera id.
        camera: String,
        /// The source, redacted.
        uri: String,
        /// GStreamer's message.
        message: String,
    },
    /// A live source ended its stream: a disconnect.
    #[error("camera {camera}: {uri}: the stream ended after {frames} frames (disconnected){}",
        detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Ended {
        /// Camera id.
        camera: String,
        /// The source, redacted.
        uri: String,
        /// Frames received in the session.
        frames: u64,
        /// GStreamer's last warning, which usually says why.
        detail: Option<String>,
    },
    /// The watchdog: frames stopped.
    #[error("camera {camera}: {uri}: no frame for {:.1} s (watchdog {:.1} s) after {frames} frames",
        silent.as_secs_f64(), limit.as_secs_f64())]
    Stalled {
        /// Camera id.
        camera: String,
        /// The source, redacted.
        uri: String,
        /// How long no frame came.
        silent: Duration,
        /// The watchdog's limit.
        limit: Duration,
        /// Frames received in the session.
        frames: u64,
    },
    /// The watchdog: a new session gave no frame.
    #[error("camera {camera}: {uri}: no frame within {:.1} s of connecting", limit.as_secs_f64())]
    NoFirstFrame {
        /// Camera id.
        camera: String,
        /// The source, redacted.
        uri: String,
        /// The limit.
        limit: Duration,
    },
    /// The camera thread panicked (a bug); the camera is restarted like after any fault.
    #[error("camera {camera}: {uri}: the session panicked: {message}")]
    Panicked {
        /// Camera id.
        camera: String,
        /// The source, redacted.
        uri: String,
        /// The panic's message.
        message: String,
    },
}

impl CameraError {
    /// Whether trying again may help without anyone acting. Only a setup fault (a missing
    /// plugin, a bad description) needs an operator; the camera is still retried, slowly.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, CameraError::Setup { .. })
    }
}

/// What a camera is doing, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// A session was opened; no frame yet.
    Connecting,
    /// Frames are arriving.
    Streaming,
    /// Waiting to try again after a fault.
    Backoff,
    /// Faulted `failing_after` times in a row; still retried at the backoff's pace.
    Failing,
    /// Not running: the run is stopping, or a file that does not loop has ended.
    Stopped,
}

impl CameraState {
    /// Every state, in a fixed order (metrics list them all).
    pub const ALL: [CameraState; 5] = [
        CameraState::Connecting,
        CameraState::Streaming,
        CameraState::Backoff,
        CameraState::Failing,
        CameraState::Stopped,
    ];

    /// The state's name in metrics and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Connecting => "connecting",
            CameraState::Streaming => "streaming",
            CameraState::Backoff => "backoff",
            CameraState::Failing => "failing",
            CameraState::Stopped => "stopped",
        }
    }
}

/// Capped exponential backoff with jitter.
#[derive(Clone, Debug, PartialEq)]
pub struct BackoffPolicy {
    /// Wait after the first fault. Default 0.5 s.
    pub initial: Duration,
    /// Longest wait. Default 30 s.
    pub max: Duration,
    /// Each wait is multiplied by a random factor in `1 ± jitter`, so cameras that failed
    /// together (a switch rebooting) do not all retry at the same instant. Default 0.2.
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            jitter: 0.2,
        }
    }
}

impl BackoffPolicy {
    /// The wait after the `failures`-th consecutive fault (1-based): `initial × 2^(failures−1)`,
    /// jittered, never above `max`. `unit` is a random number in [0, 1).
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let base = self.initial.as_secs_f64() * f64::from(1u32 << exp);
        let base = base.min(self.max.as_secs_f64());
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((base * factor).clamp(0.0, self.max.as_secs_f64()))
    }
}

/// A small deterministic generator for jitter (SplitMix64): jitter needs spread, not secrecy.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// Seeded, e.g. from the camera id and the time, so cameras differ.
    pub fn new(seed: u64) -> Self {
        Jitter(seed)
    }

    /// A number in [0, 1).
    pub fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A camera's supervision settings.
#[derive(Clone, Debug)]
pub struct CameraConfig {
    /// Camera id.
    pub id: String,
    /// Its source.
    pub source: SourceSpec,
    /// No frame for this long ends the session. Default 5 s.
    pub watchdog: Duration,
    /// No first frame within this long of opening ends the session. Default 10 s: connecting
    /// and waiting for the first key frame take longer than a gap between frames.
    pub first_frame_timeout: Duration,
    /// Waits between attempts.
    pub backoff: BackoffPolicy,
    /// Consecutive faults after which the camera is reported `failing`. Default 3.
    pub failing_after: u32,
    /// A session that streamed this long resets the fault count. Default 10 s.
    pub healthy_after: Duration,
}

impl CameraConfig {
    /// The defaults for a camera.
    pub fn new(id: &str, source: SourceSpec) -> Self {
        CameraConfig {
            id: id.to_string(),
            source,
            watchdog: Duration::from_secs(5),
            first_frame_timeout: Duration::from_secs(10),
            backoff: BackoffPolicy::default(),
            failing_after: 3,
            healthy_after: Duration::from_secs(10),
        }
    }
}

/// Where a camera's frames go: the workers' board, or a test's collector.
pub trait FrameSink: Send + Sync {
    /// A frame due for analysis. Returns whether an older frame of this camera, not analysed
    /// yet, was dropped for it (the live policy keeps the newest).
    fn frame(&self, frame: LiveFrame) -> bool;
    /// A session ended: its open tracks are to be closed.
    fn end_session(&self, session: SessionId);
}

/// How a session ended without a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// The run is stopping.
    Stopped,
    /// A file reached its end.
    FileEnded {
        /// Whether to play it again.
        looped: bool,
    },
}

/// Is a camera's port answering? Used during backoff (see the module docs).
pub type ReachabilityProbe = Box<dyn Fn() -> bool + Send>;

/// The probe for an RTSP camera: a TCP connect to its host and port, 500 ms at most.
pub fn tcp_probe(address: String) -> ReachabilityProbe {
    Box::new(move || {
        let Ok(addrs) = address.to_socket_addrs() else {
            return false;
        };
        addrs
            .into_iter()
            .any(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
    })
}

/// One camera's supervisor. Runs on the camera's own thread.
pub struct CameraSupervisor {
    config: CameraConfig,
    uri: String,
    factory: Box<dyn SourceFactory>,
    sink: Arc<dyn FrameSink>,
    metrics: Arc<CameraMetrics>,
    clocks: Arc<dyn Clocks>,
    stop: Stop,
    jitter: Jitter,
    probe: Option<ReachabilityProbe>,
    session: u64,
    /// Set by `run_once`: how long the last session streamed.
    streamed: Duration,
    /// The session follows a clean loop of a file: its start is not news.
    quiet_start: bool,
    /// The last wait found the camera's port closed: if it answers at the start of the next,
    /// the camera came back in between.
    unreachable: bool,
}

/// How often the camera thread wakes when no frame comes (to check the watchdog and the stop).
const POLL: Duration = Duration::from_millis(100);
/// How often an unreachable camera's port is probed during backoff.
const PROBE_EVERY: Duration = Duration::from_secs(1);

impl CameraSupervisor {
    /// A supervisor; nothing runs until [`CameraSupervisor::run`].
    pub fn new(
        config: CameraConfig,
        factory: Box<dyn SourceFactory>,
        sink: Arc<dyn FrameSink>,
        metrics: Arc<CameraMetrics>,
        clocks: Arc<dyn Clocks>,
        stop: Stop,
    ) -> Self {
        let uri = config.source.display();
        let seed = config
            .id
            .bytes()
            .fold(clocks.now().timestamp_micros() as u64, |h, b| {
                h.rotate_left(5) ^ u64::from(b)
            });
        let probe = config.source.probe_address().map(tcp_probe);
        CameraSupervisor {
            config,
            uri,
            factory,
            sink,
            metrics,
            clocks,
            stop,
            jitter: Jitter::new(seed),
            probe,
            session: 0,
            streamed: Duration::ZERO,
            quiet_start: false,
            unreachable: false,
        }
    }

    /// Replaces the reachability probe (tests).
    pub fn with_probe(mut self, probe: Option<ReachabilityProbe>) -> Self {
        self.probe = probe;
        self
    }

    /// Runs sessions until the run stops (or a file that does not loop ends). Never returns an
    /// error: faults are retried, logged and reported in the camera's metrics.
    pub fn run(mut self) {
        let mut failures: u32 = 0;
        loop {
            if self.stop.is_set() {
                break;
            }
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| self.run_once()))
                .unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(CameraError::Panicked {
                        camera: self.config.id.clone(),
                        uri: self.uri.clone(),
                        message,
                    })
                });
            self.sink.end_session(self.session_id());
            self.quiet_start = matches!(outcome, Ok(SessionEnd::FileEnded { looped: true }));
            match outcome {
                Ok(SessionEnd::Stopped) => break,
                Ok(SessionEnd::FileEnded { looped: true }) => {
                    failures = 0;
                    self.metrics.looped();
                    tracing::debug!("file ended; playing it again");
                }
                Ok(SessionEnd::FileEnded { looped: false }) => {
                    tracing::info!("file ended; the camera stops");
                    break;
                }
                Err(error) => {
                    if self.streamed >= self.config.healthy_after {
                        failures = 0;
                    }
                    failures = failures.saturating_add(1);
                    let delay = self.config.backoff.delay(failures, self.jitter.next_unit());
                    let state = if failures >= self.config.failing_after {
                        CameraState::Failing
                    } else {
                        CameraState::Backoff
                    };
                    let next_retry =
                        self.clocks.now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    self.metrics.failed(
                        state,
                        &error.to_string(),
                        self.clocks.now(),
                        next_retry,
                        failures,
                    );
                    if state == CameraState::Failing {
                        tracing::error!(%error, failures, retry_in_s = delay.as_secs_f64(),
                            "camera failing");
                    } else {
                        tracing::warn!(%error, failures, retry_in_s = delay.as_secs_f64(),
                            "camera fault; retrying");
                    }
                    if self.wait_before_retry(delay) {
                        break;
                    }
                    self.metrics.reconnect();
                }
            }
        }
        self.metrics.set_state(CameraState::Stopped);
        tracing::info!("camera stopped");
    }

    fn session_id(&self) -> SessionId {
        SessionId {
            number: self.session,
            started: self.metrics.session_started().unwrap_or(self.clocks.now()),
        }
    }

    /// Waits `delay` before the next attempt, or less: when the run stops (returns true), or
    /// when an RTSP camera that was unreachable answers on its port again.
    fn wait_before_retry(&mut self, delay: Duration) -> bool {
        let Some(probe) = &self.probe else {
            return self.clocks.sleep(delay, &self.stop);
        };
        // Only a camera that went away is watched for its return; one whose port answers but
        // whose stream fails (garbage, a frozen server) waits the whole backoff.
        if delay <= PROBE_EVERY {
            return self.clocks.sleep(delay, &self.stop);
        }
        if probe() {
            // The port answers. If it did not during the last wait, the camera came back between
            // that failed attempt and now: try again at once instead of sitting out a backoff
            // meant for a stream that fails with its port open.
            if std::mem::take(&mut self.unreachable) {
                tracing::info!("camera answers again; retrying now");
                return false;
            }
            return self.clocks.sleep(delay, &self.stop);
        }
        self.unreachable = true;
        let until = self.clocks.monotonic() + delay;
        loop {
            let now = self.clocks.monotonic();
            if now >= until {
                return false;
            }
            if self.clocks.sleep(PROBE_EVERY.min(until - now), &self.stop) {
                return true;
            }
            if probe() {
                self.unreachable = false;
                tracing::info!("camera answers again; retrying now");
                return false;
            }
        }
    }

    /// One session: open the source, pass frames on until it ends. `Ok` only when the run stops
    /// or a file ends; every fault is an `Err`.
    pub fn run_once(&mut self) -> Result<SessionEnd, CameraError> {
        self.session += 1;
        self.streamed = Duration::ZERO;
        self.metrics.set_state(CameraState::Connecting);
        tracing::debug!(session = self.session, "opening the source");
        let mut source = self.factory.open().map_err(|f| self.fault(f))?;
        let result = self.pump(source.as_mut());
        self.metrics.session_drops(source.dropped_at_sink(), true);
        // The pipeline is torn down here (set to Null when dropped).
        drop(source);
        result
    }

    fn pump(&mut self, source: &mut dyn FrameSource) -> Result<SessionEnd, CameraError> {
        let opened = self.clocks.monotonic();
        let mut first_frame: Option<Duration> = None;
        let mut last_frame: Option<Duration> = None;
        let mut frames: u64 = 0;
        let mut session = SessionId {
            number: self.session,
            started: self.clocks.now(),
        };
        loop {
            if self.stop.is_set() {
                return Ok(SessionEnd::Stopped);
            }
            let now = self.clocks.monotonic();
            let deadline = match last_frame {
                None => {
                    let limit = self.config.first_frame_timeout;
                    if now.saturating_sub(opened) > limit {
                        return Err(CameraError::NoFirstFrame {
                            camera: self.config.id.clone(),
                            uri: self.uri.clone(),
                            limit,
                        });
                    }
                    opened + limit
                }
                Some(t) => {
                    let limit = self.config.watchdog;
                    let silent = now.saturating_sub(t);
                    if silent > limit {
                        return Err(CameraError::Stalled {
                            camera: self.config.id.clone(),
                            uri: self.uri.clone(),
                            silent,
                            limit,
                            frames,
                        });
                    }
                    t + limit
                }
            };
            let wait = POLL.min(deadline.saturating_sub(now) + Duration::from_millis(1));
            match source.next(wait).map_err(|f| self.fault(f))? {
                Pulled::Frame {
                    media_time,
                    image,
                    convert,
                } => {
                    let arrived = self.clocks.monotonic();
                    frames += 1;
                    last_frame = Some(arrived);
                    if first_frame.is_none() {
                        first_frame = Some(arrived);
                        session.started = self.clocks.now();
                        self.metrics.streaming(session.started);
                        if self.quiet_start {
                            tracing::debug!(session = self.session, "streaming");
                        } else {
                            tracing::info!(session = self.session, "streaming");
                        }
                    }
                    self.streamed = arrived.saturating_sub(first_frame.unwrap_or(arrived));
                    self.metrics.frame_in(arrived);
                    if frames.is_multiple_of(25) {
                        self.metrics.session_drops(source.dropped_at_sink(), false);
                    }
                    if let Some(image) = image {
                        self.metrics.converted(convert);
                        let frame = LiveFrame {
                            session,
                            index: frames - 1,
                            media_time,
                            captured_at: self.clocks.now(),
                            arrived,
                            image,
                        };
                        if self.sink.frame(frame) {
                            self.metrics.dropped_in_queue();
                        }
                    }
                }
                Pulled::Nothing => {}
                Pulled::End { detail } => {
                    return match &self.config.source {
                        SourceSpec::File { looped, .. } => {
                            Ok(SessionEnd::FileEnded { looped: *looped })
                        }
                        _ => Err(CameraError::Ended {
                            camera: self.config.id.clone(),
                            uri: self.uri.clone(),
                            frames,
                            detail,
                        }),
                    };
                }
            }
        }
    }

    fn fault(&self, fault: SourceFault) -> CameraError {
        let camera = self.config.id.clone();
        let uri = self.uri.clone();
        match fault {
            SourceFault::Setup(message) => CameraError::Setup {
                camera,
                uri,
                message,
            },
            SourceFault::Stream(message) => CameraError::Stream {
                camera,
                uri,
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::metrics::CameraMetrics;
    use crate::live::SimulatedClocks;
    use image::RgbImage;
    use passwatch_base::time::MediaTime;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    #[test]
    fn backoff_doubles_to_its_cap_with_bounded_jitter() {
        let p = BackoffPolicy::default();
        let mid = |n| p.delay(n, 0.5).as_secs_f64();
        assert_eq!(mid(1), 0.5);
        assert_eq!(mid(2), 1.0);
        assert_eq!(mid(3), 2.0);
        assert_eq!(mid(7), 30.0); // 32 s capped
        assert_eq!(mid(1000), 30.0);
        assert!((p.delay(1, 0.0).as_secs_f64() - 0.4).abs() < 1e-9);
        assert!((p.delay(1, 0.999_999).as_secs_f64() - 0.6).abs() < 1e-5);
        // Never above the cap, even with the jitter up.
        assert!(p.delay(10, 0.999).as_secs_f64() <= 30.0);
        let mut j = Jitter::new(42);
        let draws: Vec<f64> = (0..1000).map(|_| j.next_unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }

    /// A scripted source: each call of `next` takes one step, advancing the simulated clocks by
    /// the time that step stands for.
    #[derive(Clone)]
    enum Step {
        Frame,
        Silence(Duration),
        End,
        Fault(&'static str),
    }

    struct ScriptSource {
        steps: VecDeque<Step>,
        clocks: Arc<SimulatedClocks>,
        t: u64,
    }

    impl FrameSource for ScriptSource {
        fn next(&mut self, timeout: Duration) -> Result<Pulled, SourceFault> {
            match self.steps.pop_front() {
                Some(Step::Frame) => {
                    self.clocks.advance(Duration::from_millis(40));
                    self.t += 40_000_000;
                    Ok(Pulled::Frame {
                        media_time: MediaTime::from_nanos(self.t),
                        image: Some(RgbImage::new(2, 2)),
                        convert: Duration::from_millis(2),
                    })
                }
                Some(Step::Silence(d)) => {
                    // The camera thread waits at most `timeout` per call.
                    let step = d.min(timeout);
                    self.clocks.advance(step);
                    if d > step {
                        self.steps.push_front(Step::Silence(d - step));
                    }
                    Ok(Pulled::Nothing)
                }
                Some(Step::End) => Ok(Pulled::End {
                    detail: Some("Could not read from resource".into()),
                }),
                Some(Step::Fault(m)) => Err(SourceFault::Stream(m.into())),
                None => {
                    self.clocks.advance(timeout);
                    Ok(Pulled::Nothing)
                }
            }
        }
        fn dropped_at_sink(&self) -> u64 {
            0
        }
    }

    /// Sessions scripted in order; `None`: opening fails (connection refused).
    struct ScriptFactory {
        sessions: VecDeque<Option<Vec<Step>>>,
        clocks: Arc<SimulatedClocks>,
        opened_at: Arc<Mutex<Vec<Duration>>>,
        stop: Stop,
    }

    impl SourceFactory for ScriptFactory {
        fn open(&mut self) -> Result<Box<dyn FrameSource>, SourceFault> {
            self.opened_at.lock().unwrap().push(self.clocks.monotonic());
            match self.sessions.pop_front() {
                Some(Some(steps)) => Ok(Box::new(ScriptSource {
                    steps: steps.into(),
                    clocks: self.clocks.clone(),
                    t: 0,
                })),
                Some(None) => Err(SourceFault::Stream("Connection refused".into())),
                None => {
                    // The script is over: the run stops, the supervisor sees it at its next
                    // look and ends without a fault.
                    self.stop.trigger();
                    Ok(Box::new(ScriptSource {
                        steps: VecDeque::new(),
                        clocks: self.clocks.clone(),
                        t: 0,
                    }))
                }
            }
        }
    }

    #[derive(Default)]
    struct Collector {
        frames: Mutex<Vec<(u64, MediaTime)>>,
        ends: Mutex<Vec<u64>>,
    }

    impl FrameSink for Collector {
        fn frame(&self, frame: LiveFrame) -> bool {
            self.frames
                .lock()
                .unwrap()
                .push((frame.session.number, frame.media_time));
            false
        }
        fn end_session(&self, session: SessionId) {
            self.ends.lock().unwrap().push(session.number);
        }
    }

    struct Harness {
        sink: Arc<Collector>,
        metrics: Arc<CameraMetrics>,
        opened_at: Arc<Mutex<Vec<Duration>>>,
        stop: Stop,
    }

    fn supervise(
        source: SourceSpec,
        sessions: Vec<Option<Vec<Step>>>,
        probe: Option<ReachabilityProbe>,
    ) -> Harness {
        let clocks = Arc::new(SimulatedClocks::new(
            "2026-04-01T08:00:00Z".parse().unwrap(),
        ));
        let stop = Stop::new();
        let opened_at = Arc::new(Mutex::new(Vec::new()));
        let factory = ScriptFactory {
            sessions: sessions.into(),
            clocks: clocks.clone(),
            opened_at: opened_at.clone(),
            stop: stop.clone(),
        };
        let sink = Arc::new(Collector::default());
        let metrics = Arc::new(CameraMetrics::new("cam", "centre", &source.display(), 5.0));
        let mut config = CameraConfig::new("cam", source);
        config.watchdog = Duration::from_secs(3);
        CameraSupervisor::new(
            config,
            Box::new(factory),
            sink.clone(),
            metrics.clone(),
            clocks.clone(),
            stop.clone(),
        )
        .with_probe(probe)
        .run();
        Harness {
            sink,
            metrics,
            opened_at,
            stop,
        }
    }

    fn rtsp() -> SourceSpec {
        SourceSpec::parse("rtsp://127.0.0.1:1/s").unwrap()
    }

    #[test]
    fn a_stalled_stream_is_cut_by_the_watchdog_within_its_limit_and_restarted() {
        let h = supervise(
            rtsp(),
            vec![
                Some(vec![
                    Step::Frame,
                    Step::Frame,
                    Step::Silence(Duration::from_secs(60)),
                ]),
                Some(vec![Step::Frame]),
            ],
            None,
        );
        let opened = h.opened_at.lock().unwrap().clone();
        assert_eq!(opened.len(), 3, "{opened:?}");
        // Frames at 40 and 80 ms, watchdog 3 s: cut at 3.08 s plus at most one poll, then
        // 0.5 s ± 20 % of backoff.
        let gap = opened[1] - opened[0];
        assert!(
            gap >= Duration::from_millis(3080 + 400) && gap <= Duration::from_millis(3200 + 600),
            "{gap:?}"
        );
        let err = h.metrics.status().last_error.unwrap();
        assert!(
            err.contains("no frame for 3.") && err.contains("watchdog 3.0 s"),
            "{err}"
        );
        assert!(err.contains("camera cam: rtsp://127.0.0.1:1/s"), "{err}");
        // Both sessions were announced as ended, so their tracks get closed.
        assert_eq!(*h.sink.ends.lock().unwrap(), vec![1, 2, 3]);
        assert_eq!(h.sink.frames.lock().unwrap().len(), 3);
        assert!(h.stop.is_set());
    }

    #[test]
    fn the_end_of_a_live_stream_is_a_disconnect_and_a_looped_file_starts_again() {
        let h = supervise(rtsp(), vec![Some(vec![Step::Frame, Step::End])], None);
        let status = h.metrics.status();
        assert!(
            status.last_error.as_deref().unwrap().contains(
                "the stream ended after 1 frames (disconnected): Could not read from resource"
            ),
            "{status:?}"
        );
        let file = SourceSpec::parse("file:///x.mp4?loop=1").unwrap();
        let h = supervise(
            file,
            vec![
                Some(vec![Step::Frame, Step::End]),
                Some(vec![Step::Frame, Step::End]),
            ],
            None,
        );
        let opened = h.opened_at.lock().unwrap().clone();
        // No backoff between loops of a file.
        assert!(
            opened[1] - opened[0] < Duration::from_millis(100),
            "{opened:?}"
        );
        assert_eq!(h.metrics.status().loops, 2);
        let once = SourceSpec::parse("file:///x.mp4").unwrap();
        let h = supervise(once, vec![Some(vec![Step::Frame, Step::End])], None);
        assert_eq!(h.opened_at.lock().unwrap().len(), 1);
        assert_eq!(h.metrics.status().state, CameraState::Stopped);
    }

    #[test]
    fn a_camera_that_keeps_failing_is_reported_and_retried_ever_more_slowly() {
        let h = supervise(rtsp(), vec![None; 8], None);
        let opened = h.opened_at.lock().unwrap().clone();
        let gaps: Vec<f64> = opened
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        // 0.5, 1, 2, 4, 8, 16, 30, 30 s, each ±20 %: never a tight loop.
        for (i, g) in gaps.iter().enumerate() {
            let base = (0.5 * 2f64.powi(i as i32)).min(30.0);
            assert!(
                *g >= base * 0.8 - 1e-6 && *g <= (base * 1.2).min(30.0) + 1e-6,
                "{gaps:?}"
            );
        }
        let status = h.metrics.status();
        assert_eq!(status.consecutive_failures, 8);
        assert_eq!(status.reconnects, 8);
        assert_eq!(
            status.last_error.as_deref(),
            Some("camera cam: rtsp://127.0.0.1:1/s: Connection refused")
        );
    }

    #[test]
    fn a_gstreamer_error_ends_the_session_with_its_message() {
        let h = supervise(
            rtsp(),
            vec![Some(vec![
                Step::Frame,
                Step::Fault("Internal data stream error (from rtspsrc0)"),
            ])],
            None,
        );
        let status = h.metrics.status();
        assert_eq!(
            status.last_error.as_deref(),
            Some("camera cam: rtsp://127.0.0.1:1/s: Internal data stream error (from rtspsrc0)")
        );
        assert_eq!(status.frames_in, 1);
        assert_eq!(*h.sink.ends.lock().unwrap(), vec![1, 2]);
    }

    /// Simulated clocks that record what the camera reports while it waits.
    #[derive(Debug)]
    struct SpyClocks {
        inner: SimulatedClocks,
        metrics: Arc<CameraMetrics>,
        seen: Mutex<Vec<(CameraState, u32, Option<passwatch_base::time::WallTime>)>>,
    }

    impl passwatch_base::time::Clock for SpyClocks {
        fn now(&self) -> passwatch_base::time::WallTime {
            self.inner.now()
        }
    }

    impl Clocks for SpyClocks {
        fn monotonic(&self) -> Duration {
            self.inner.monotonic()
        }
        fn sleep(&self, d: Duration, stop: &Stop) -> bool {
            let s = self.metrics.status();
            self.seen
                .lock()
                .unwrap()
                .push((s.state, s.consecutive_failures, s.next_retry_at));
            self.inner.sleep(d, stop)
        }
    }

    #[test]
    fn failing_is_reported_after_three_faults_with_the_next_retry_time() {
        let stop = Stop::new();
        let metrics = Arc::new(CameraMetrics::new("cam", "centre", "rtsp://x/s", 5.0));
        let clocks = Arc::new(SpyClocks {
            inner: SimulatedClocks::new("2026-04-01T08:00:00Z".parse().unwrap()),
            metrics: metrics.clone(),
            seen: Mutex::new(Vec::new()),
        });
        let factory = ScriptFactory {
            sessions: vec![None; 4].into(),
            clocks: Arc::new(SimulatedClocks::new(
                "2026-04-01T08:00:00Z".parse().unwrap(),
            )),
            opened_at: Arc::new(Mutex::new(Vec::new())),
            stop: stop.clone(),
        };
        CameraSupervisor::new(
            CameraConfig::new("cam", rtsp()),
            Box::new(factory),
            Arc::new(Collector::default()),
            metrics.clone(),
            clocks.clone(),
            stop,
        )
        .with_probe(None)
        .run();
        let seen = clocks.seen.lock().unwrap().clone();
        let states: Vec<(CameraState, u32)> = seen.iter().map(|(s, n, _)| (*s, *n)).collect();
        assert_eq!(
            states,
            vec![
                (CameraState::Backoff, 1),
                (CameraState::Backoff, 2),
                (CameraState::Failing, 3),
                (CameraState::Failing, 4),
            ]
        );
        // Each wait is announced with the time of the next attempt, in the future.
        let start: passwatch_base::time::WallTime = "2026-04-01T08:00:00Z".parse().unwrap();
        assert!(seen
            .iter()
            .all(|(_, _, next)| next.is_some_and(|t| t > start)));
        let status = metrics.status();
        assert_eq!(status.state, CameraState::Stopped);
        assert!(status.last_error.unwrap().contains("Connection refused"));
    }

    /// When a camera whose six attempts all fail opens its source, on the simulated clock,
    /// with the reachability probe `probe` makes (given the clock).
    fn attempts_with_probe(
        probe: impl FnOnce(Arc<SimulatedClocks>) -> ReachabilityProbe,
    ) -> Vec<Duration> {
        let clocks = Arc::new(SimulatedClocks::new(
            "2026-04-01T08:00:00Z".parse().unwrap(),
        ));
        let stop = Stop::new();
        let opened_at = Arc::new(Mutex::new(Vec::new()));
        let factory = ScriptFactory {
            sessions: vec![None; 6].into(),
            clocks: clocks.clone(),
            opened_at: opened_at.clone(),
            stop: stop.clone(),
        };
        let metrics = Arc::new(CameraMetrics::new("cam", "centre", "rtsp://x/s", 5.0));
        CameraSupervisor::new(
            CameraConfig::new("cam", rtsp()),
            Box::new(factory),
            Arc::new(Collector::default()),
            metrics,
            clocks.clone(),
            stop,
        )
        .with_probe(Some(probe(clocks)))
        .run();
        let opened = opened_at.lock().unwrap().clone();
        opened
    }

    #[test]
    fn a_camera_back_between_a_failed_attempt_and_the_next_wait_is_retried_at_once() {
        // The port is closed for the first three probes (all of the wait after the third
        // attempt), and answers from the fourth on: the server came back while the fourth
        // attempt failed.
        let opened = attempts_with_probe(|_| {
            let calls = std::sync::atomic::AtomicUsize::new(0);
            Box::new(move || calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 3)
        });
        // Attempts near 0, 0.5 and 1.5 s; the fourth after a 2 s wait; the fifth at once, not
        // after the 4 s backoff; the sixth after a whole backoff again (the port still answers,
        // and the camera is no longer counted as away).
        assert!(opened.len() >= 6, "{opened:?}");
        assert!(
            opened[4] - opened[3] < Duration::from_millis(100),
            "{opened:?}"
        );
        assert!(
            opened[5] - opened[4] >= Duration::from_secs(6),
            "{opened:?}"
        );
    }

    #[test]
    fn an_unreachable_camera_is_retried_as_soon_as_its_port_answers() {
        // The port is closed until 10 s, then answers (the camera rebooted).
        let opened = attempts_with_probe(|clocks| {
            Box::new(move || clocks.monotonic() >= Duration::from_secs(10))
        });
        // Attempts near 0, 0.5, 1.5, 3.5, 7.5 s; the next backoff (8 s ± 20 %) would end after
        // 13.9 s, but the probe sees the port answer at 10 s and the attempt follows within a
        // probe interval.
        let after: Vec<&Duration> = opened
            .iter()
            .filter(|t| **t >= Duration::from_secs(10))
            .collect();
        assert!(!after.is_empty(), "{opened:?}");
        assert!(*after[0] <= Duration::from_millis(11_100), "{opened:?}");
    }
}
