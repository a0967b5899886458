//! The plate path per stream: when to run the plate detector and when to read around tracks.
//!
//! The detector (platedet, a YOLOv8s at 640×640, cut to its boxes: `passwatch_models::graph`)
//! is the costliest stage by far on a CPU. A plate
//! that is being tracked does not need it to be found again in the next frame: its text lines
//! are read inside a region around the track's predicted box, which costs a small DBNet pass
//! and the OCR (DeepStream's "inference interval" with a tracker in between). So the detector
//! runs on one analysed frame in `detect_every`, and on every frame while nothing is tracked;
//! the frames between read around the open tracks. A plate that enters between two detector
//! frames is found at the next one, at most `detect_every − 1` analysed frames later.

pub use crate::track::PlateSchedule;
use crate::track::Tracker;
use image::RgbImage;
use passwatch_base::time::MediaTime;
use passwatch_plate_reader::reader::{PlateObservation, PlateReader};
use passwatch_plate_reader::PlateError;

/// Reads one stream's analysed frames on a [`PlateSchedule`].
#[derive(Debug)]
pub struct PlateAnalyser {
    schedule: PlateSchedule,
    frames: u64,
    /// Media time of the previous analysed frame.
    previous: Option<MediaTime>,
}

impl PlateAnalyser {
    /// A fresh stream.
    pub fn new(schedule: PlateSchedule) -> Self {
        PlateAnalyser {
            schedule,
            frames: 0,
            previous: None,
        }
    }

    /// Observations of one analysed frame: from the detector, or from the regions around the
    /// tracker's open tracks.
    pub fn read(
        &mut self,
        reader: &mut PlateReader,
        tracker: &Tracker,
        frame: &RgbImage,
        at: MediaTime,
    ) -> Result<Vec<PlateObservation>, PlateError> {
        let n = self.frames;
        self.frames += 1;
        let interval = self
            .previous
            .map_or(0, |p| at.as_nanos().saturating_sub(p.as_nanos()));
        self.previous = Some(at);
        let recent = recent_window(self.schedule.recent, interval);
        let every = u64::from(self.schedule.detect_every.max(1));
        let regions = if n.is_multiple_of(every) {
            Vec::new()
        } else {
            tracker.predicted_boxes(at, recent)
        };
        if regions.is_empty() {
            reader.read_frame(frame)
        } else {
            reader.read_regions(
                frame,
                &regions,
                self.schedule.grow,
                tracker.config().max_text_cost,
            )
        }
    }
}

/// How recently a track must have been seen to be read around: `recent`, or one and a half
/// analysed-frame intervals when frames are further apart than that.
fn recent_window(recent: MediaTime, interval_ns: u64) -> MediaTime {
    MediaTime::from_nanos(recent.as_nanos().max(interval_ns.saturating_mul(3) / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_the_previous_analysed_frame_at_low_rates() {
        let half = MediaTime::from_secs_f64(0.5);
        // 5 analysed fps: frames 0.2 s apart, the configured 0.5 s stands.
        assert_eq!(recent_window(half, 200_000_000), half);
        // 2 analysed fps on a 25 fps grid: frames 0.52 s apart, a track seen on the previous
        // one is still recent.
        let w = recent_window(half, 520_000_000);
        assert_eq!(w.as_nanos(), 780_000_000);
        // The first frame has no interval.
        assert_eq!(recent_window(half, 0), half);
    }
}
