//! Live cameras: many sources in one process, for days, through every fault a camera network
//! has (`passwatch run`; design/live.md).
//!
//! ```text
//!  camera thread "cam:<id>" (one per camera)          inference workers "infer-<n>" (shared)
//!  ┌────────────────────────────────────────┐          ┌───────────────────────────────────┐
//!  │ CameraSupervisor::run (forever)        │          │ take the next camera round-robin  │
//!  │   run_once: GstSource → frames         │ newest   │ (one frame in flight per camera)  │
//!  │   watchdog, EOS = disconnect           ├─frame───▶│ plate / face models (own sessions)│
//!  │   backoff 0.5 s → 30 s, ±20 % jitter   │ FrameBoard│ tracks → sightings → rules →     │
//!  │   state, counters, last error          │ (keep    │ events: the same code as replay   │
//!  └────────────────────────────────────────┘  newest) └───────────────────────────────────┘
//!  registry watcher "registry": polls the version every second, swaps the snapshots (Arc)
//!  control thread (tokio): HTTP (/healthz, /metrics, /api/cameras) and SIGINT/SIGTERM
//! ```
//!
//! - [`source`]: what a camera's `source` means (RTSP, file, launch description) and the
//!   GStreamer pipeline that decodes it into RGB frames at the camera's analysis rate.
//! - [`camera`]: the supervisor of one camera: reconnects, watchdog, backoff, state.
//! - [`queue`]: the hand-over between cameras and workers, with its drop policy.
//! - [`workers`]: the inference workers and the per-camera decision state.
//! - [`snapshots`]: the registry snapshots every decision is taken against, kept current.
//! - [`metrics`]: what an operator sees (served by the `passwatch` binary's HTTP surface).
//!
//! Time: [`Clocks`] gives wall time (frame arrival, event times) and monotonic time (watchdog,
//! backoff); tests of the supervisor use [`SimulatedClocks`], whose sleeps return at once.

pub mod camera;
pub mod metrics;
pub mod queue;
pub mod snapshots;
pub mod source;
pub mod workers;

use passwatch_base::time::{Clock, WallTime};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Wall time, monotonic time and sleeping, behind one trait so that tests control time.
pub trait Clocks: Clock + std::fmt::Debug {
    /// Monotonic time since an arbitrary origin (never goes back; not wall time).
    fn monotonic(&self) -> Duration;
    /// Sleeps for `d`, or less if `stop` fires first. Returns whether `stop` fired.
    fn sleep(&self, d: Duration, stop: &Stop) -> bool;
}

/// The operating system's clocks.
#[derive(Debug)]
pub struct RealClocks {
    origin: Instant,
}

impl RealClocks {
    /// Clocks whose monotonic origin is now.
    pub fn new() -> Self {
        RealClocks {
            origin: Instant::now(),
        }
    }
}

impl Default for RealClocks {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for RealClocks {
    fn now(&self) -> WallTime {
        chrono::Utc::now()
    }
}

impl Clocks for RealClocks {
    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, d: Duration, stop: &Stop) -> bool {
        stop.wait_timeout(d)
    }
}

/// Clocks that move only when something sleeps on them: a sleep advances both clocks by its
/// length and returns at once. Tests of backoff and watchdogs run in microseconds.
#[derive(Debug)]
pub struct SimulatedClocks {
    start: WallTime,
    elapsed: Mutex<Duration>,
}

impl SimulatedClocks {
    /// Clocks at wall time `start`, monotonic zero.
    pub fn new(start: WallTime) -> Self {
        SimulatedClocks {
            start,
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves both clocks forward.
    pub fn advance(&self, d: Duration) {
        let mut e = self.elapsed.lock().unwrap_or_else(|p| p.into_inner());
        *e += d;
    }
}

impl Clock for SimulatedClocks {
    fn now(&self) -> WallTime {
        self.start + chrono::Duration::from_std(self.monotonic()).unwrap_or_default()
    }
}

impl Clocks for SimulatedClocks {
    fn monotonic(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sleep(&self, d: Duration, stop: &Stop) -> bool {
        if stop.is_set() {
            return true;
        }
        self.advance(d);
        stop.is_set()
    }
}

/// A one-way stop signal shared by every thread of a run: set once (the first SIGINT/SIGTERM),
/// never cleared. Sleepers on it wake at once.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<StopInner>);

#[derive(Debug, Default)]
struct StopInner {
    set: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Stop {
    /// A stop signal not set yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the signal and wakes every sleeper.
    pub fn trigger(&self) {
        let _guard = self.0.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.0.set.store(true, Ordering::SeqCst);
        self.0.wake.notify_all();
    }

    /// Whether the signal is set.
    pub fn is_set(&self) -> bool {
        self.0.set.load(Ordering::SeqCst)
    }

    /// Waits until the signal is set or `d` has passed; returns whether it is set.
    pub fn wait_timeout(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut guard = self.0.lock.lock().unwrap_or_else(|p| p.into_inner());
        while !self.is_set() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            guard = match self.0.wake.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        self.is_set()
    }

    /// Waits until the signal is set.
    pub fn wait(&self) {
        while !self.wait_timeout(Duration::from_secs(3600)) {}
    }
}

/// `rtsp://user:secret@host/…` → `rtsp://user:***@host/…`: URIs go into logs, metrics and
/// events, their passwords must not.
pub fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_string();
    };
    let rest = &uri[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return uri.to_string();
    };
    let userinfo = &authority[..at];
    let user = userinfo.split(':').next().unwrap_or("");
    let hidden = if userinfo.contains(':') {
        format!("{user}:***")
    } else {
        // A lone user part may itself be a token.
        "***".to_string()
    };
    format!("{}{}@{}", &uri[..scheme_end + 3], hidden, &rest[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redact_uri("rtsp://admin:hunter2@10.0.0.5:554/stream1?x=1"),
            "rtsp://admin:***@10.0.0.5:554/stream1?x=1"
        );
        assert_eq!(
            redact_uri("rtsp://token@cam/s"),
            "rtsp://***@cam/s".to_string()
        );
        assert_eq!(redact_uri("rtsp://cam:554/s"), "rtsp://cam:554/s");
        assert_eq!(redact_uri("file:///a/b@c.mp4"), "file:///a/b@c.mp4");
        assert_eq!(
            redact_uri("videotestsrc ! x264enc"),
            "videotestsrc ! x264enc"
        );
    }

    #[test]
    fn a_stop_wakes_sleepers_at_once() {
        let stop = Stop::new();
        let s2 = stop.clone();
        let t = std::thread::spawn(move || {
            let t0 = Instant::now();
            let stopped = s2.wait_timeout(Duration::from_secs(30));
            (stopped, t0.elapsed())
        });
        std::thread::sleep(Duration::from_millis(20));
        stop.trigger();
        let (stopped, waited) = t.join().unwrap();
        assert!(stopped);
        assert!(waited < Duration::from_secs(5));
        assert!(stop.wait_timeout(Duration::ZERO));
    }

    #[test]
    fn simulated_sleeps_advance_both_clocks() {
        let start: WallTime = "2026-04-01T08:00:00Z".parse().unwrap();
        let c = SimulatedClocks::new(start);
        let stop = Stop::new();
        assert!(!c.sleep(Duration::from_millis(1500), &stop));
        assert_eq!(c.monotonic(), Duration::from_millis(1500));
        assert_eq!(c.now().to_rfc3339(), "2026-04-01T08:00:01.500+00:00");
    }
}
