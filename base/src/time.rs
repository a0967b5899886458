//! Time: media timestamps and wall-clock time are different types.
//!
//! A [`MediaTime`] is a position in a stream (the buffer's running time, from GStreamer),
//! monotonic within one source and meaningless across sources. A [`WallTime`] is a UTC instant:
//! when the frame was captured in the world, which is what passes and restriction schedules are
//! checked against. In replay the wall time of a frame is the recording's start plus its media
//! time, so a replay is deterministic. A live camera (`passwatch run`) stamps each frame with
//! its arrival on the run's clock (`passwatch_pipeline::live::Clocks`, a [`Clock`]), and a track
//! first seen at media time `t` gets that arrival minus the frame's media time plus `t`.
//! Registry versions are stamped by a [`Clock`] too; tests control both.

use std::fmt;

/// A UTC instant in the world.
pub type WallTime = chrono::DateTime<chrono::Utc>;

/// A position in a media stream, in nanoseconds from the stream's start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MediaTime(pub u64);

impl MediaTime {
    /// The zero position.
    pub const ZERO: MediaTime = MediaTime(0);

    /// From nanoseconds.
    pub fn from_nanos(ns: u64) -> Self {
        MediaTime(ns)
    }

    /// From (possibly fractional) seconds; negative values clamp to zero.
    pub fn from_secs_f64(s: f64) -> Self {
        MediaTime((s.max(0.0) * 1e9).round() as u64)
    }

    /// Nanoseconds from the stream's start.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds from the stream's start.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Milliseconds from the stream's start (rounded down).
    pub fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// The wall time of this position in a recording that started at `start`.
    pub fn to_wall(self, start: WallTime) -> WallTime {
        start + chrono::Duration::nanoseconds(self.0 as i64)
    }
}

impl fmt::Display for MediaTime {
    /// `HH:MM:SS.mmm`, the form used in logs and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.as_millis();
        write!(
            f,
            "{:02}:{:02}:{:02}.{:03}",
            ms / 3_600_000,
            (ms / 60_000) % 60,
            (ms / 1000) % 60,
            ms % 1000
        )
    }
}

/// A source of wall-clock time. The registry uses [`SystemClock`], live cameras
/// `passwatch_pipeline::live::RealClocks`; tests use a clock they control.
pub trait Clock: Send + Sync {
    /// The current UTC instant.
    fn now(&self) -> WallTime;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> WallTime {
        chrono::Utc::now()
    }
}

/// Parses an RFC 3339 timestamp into UTC.
pub fn parse_time(text: &str) -> Result<WallTime, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| {
            format!("bad date {text:?}: {e} (expected RFC 3339, e.g. 2026-04-01T00:00:00Z)")
        })
}

/// The canonical text of a timestamp as stored and shown: RFC 3339 in UTC with `Z`, fractional
/// seconds only when there are any.
pub fn format_time(t: WallTime) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_clock_time() {
        assert_eq!(
            MediaTime::from_secs_f64(3723.0456).to_string(),
            "01:02:03.045"
        );
        assert_eq!(MediaTime::ZERO.to_string(), "00:00:00.000");
    }

    #[test]
    fn maps_to_wall_time() {
        let start: WallTime = "2026-04-01T08:00:00Z".parse().unwrap();
        let t = MediaTime::from_secs_f64(1.5).to_wall(start);
        assert_eq!(t.to_rfc3339(), "2026-04-01T08:00:01.500+00:00");
    }
}
