//! The hand-over between camera threads and inference workers, and its drop policy.
//!
//! **Policy (live): keep the newest frame, count what is dropped.** Each camera has one slot
//! holding at most one frame waiting for analysis. A camera that delivers a frame while the
//! previous one is still waiting replaces it, and the replaced frame is counted as dropped
//! (`passwatch_camera_frames_dropped_total{where="queue"}`). So a camera never waits for the
//! workers, memory is bounded (one waiting frame per camera, plus one in analysis), and when
//! the workers cannot keep up every camera is analysed at a lower rate on its newest frames,
//! rather than falling ever further behind real time. (`replay` does the opposite: it blocks,
//! so that no frame is ever lost and results are deterministic; see design/ingest.md.)
//!
//! **Order and fairness.** A camera has at most one frame in analysis at a time (its slot is
//! *busy* meanwhile), so its tracker sees frames in order. Workers pick cameras round-robin,
//! starting after the camera picked last, so a camera with frames always ready cannot starve
//! the others.
//!
//! A slot also carries the end of a camera's session (a disconnect, a watchdog restart, the
//! end of the run): that marker is never dropped, and the worker closes the session's open
//! tracks when it sees it.

use image::RgbImage;
use passwatch_base::time::{MediaTime, WallTime};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// One session of a camera: from opening its source to the end of that stream. Media times
/// restart with every session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionId {
    /// Number of the session in this run (1-based, per camera).
    pub number: u64,
    /// Wall time of its first frame (of its opening if it had none). Part of the events' source
    /// key, so that event ids never repeat across sessions or runs.
    pub started: WallTime,
}

/// A frame due for analysis, as a camera hands it over.
#[derive(Clone, Debug)]
pub struct LiveFrame {
    /// The session it belongs to.
    pub session: SessionId,
    /// Index among the frames decoded in the session.
    pub index: u64,
    /// Running time in the session (from the stream).
    pub media_time: MediaTime,
    /// Wall time of its arrival (from the run's clock): the time rules are checked at.
    pub captured_at: WallTime,
    /// Monotonic time of its arrival, for latencies.
    pub arrived: Duration,
    /// The frame in RGB.
    pub image: RgbImage,
}

/// What a worker takes from one camera's slot: its waiting frame and/or the end of a session.
#[derive(Debug)]
pub struct Work {
    /// The camera's index.
    pub camera: usize,
    /// The newest frame, if one is waiting.
    pub frame: Option<LiveFrame>,
    /// A session that ended, if any: its tracks are to be closed.
    pub ended: Option<SessionId>,
}

#[derive(Debug, Default)]
struct Slot {
    frame: Option<LiveFrame>,
    ended: Option<SessionId>,
    busy: bool,
}

impl Slot {
    fn has_work(&self) -> bool {
        self.frame.is_some() || self.ended.is_some()
    }
}

#[derive(Debug)]
struct Board {
    slots: Vec<Slot>,
    next: usize,
    closed: bool,
}

/// The slots of every camera, shared by camera threads and workers.
#[derive(Debug)]
pub struct FrameBoard {
    board: Mutex<Board>,
    changed: Condvar,
}

impl FrameBoard {
    /// A board for `cameras` cameras.
    pub fn new(cameras: usize) -> Self {
        FrameBoard {
            board: Mutex::new(Board {
                slots: (0..cameras).map(|_| Slot::default()).collect(),
                next: 0,
                closed: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a camera's newest frame in its slot; returns whether it replaced one not analysed
    /// yet (a dropped frame). The replaced frame is freed outside the lock.
    pub fn put(&self, camera: usize, frame: LiveFrame) -> bool {
        let replaced = {
            let mut b = self.lock();
            let Some(slot) = b.slots.get_mut(camera) else {
                return false;
            };
            slot.frame.replace(frame)
        };
        self.changed.notify_one();
        replaced.is_some()
    }

    /// Marks the end of a camera's session.
    pub fn end_session(&self, camera: usize, session: SessionId) {
        {
            let mut b = self.lock();
            if let Some(slot) = b.slots.get_mut(camera) {
                // Two ends before a worker came (a session that failed at once): the later
                // one stands for both; closing a session's tracks is idempotent.
                slot.ended = Some(session);
            }
        }
        self.changed.notify_one();
    }

    /// Waits for work: the next camera, round-robin, that has a frame or an ended session and
    /// no frame in analysis. Marks it busy until [`FrameBoard::done`]. `None` once the board is
    /// closed and no work is left.
    pub fn take(&self) -> Option<Work> {
        let mut b = self.lock();
        loop {
            let n = b.slots.len();
            let start = b.next;
            let pick = (0..n)
                .map(|k| (start + k) % n.max(1))
                .find(|&i| !b.slots[i].busy && b.slots[i].has_work());
            if let Some(i) = pick {
                b.next = (i + 1) % n;
                let slot = &mut b.slots[i];
                slot.busy = true;
                return Some(Work {
                    camera: i,
                    frame: slot.frame.take(),
                    ended: slot.ended.take(),
                });
            }
            if b.closed && !b.slots.iter().any(Slot::has_work) {
                return None;
            }
            b = self.changed.wait(b).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// A worker finished a camera's work: the camera may be taken again.
    pub fn done(&self, camera: usize) {
        {
            let mut b = self.lock();
            if let Some(slot) = b.slots.get_mut(camera) {
                slot.busy = false;
            }
        }
        // Another worker may be waiting for exactly this camera.
        self.changed.notify_all();
    }

    /// No more frames will come (every camera thread has ended): workers finish what is left,
    /// then [`FrameBoard::take`] returns `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Drops every frame waiting for a worker (the run is stopping: frames already in
    /// analysis are finished, waiting ones are not started); returns the cameras that had one.
    /// Ends of sessions stay.
    pub fn discard_waiting(&self) -> Vec<usize> {
        let dropped: Vec<(usize, LiveFrame)> = {
            let mut b = self.lock();
            b.slots
                .iter_mut()
                .enumerate()
                .filter_map(|(i, s)| s.frame.take().map(|f| (i, f)))
                .collect()
        };
        dropped.into_iter().map(|(i, _)| i).collect()
    }

    /// Frames waiting (not in analysis), all cameras together.
    pub fn waiting(&self) -> usize {
        self.lock()
            .slots
            .iter()
            .filter(|s| s.frame.is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(session: u64, t_ms: u64) -> LiveFrame {
        LiveFrame {
            session: SessionId {
                number: session,
                started: "2026-04-01T08:00:00Z".parse().unwrap(),
            },
            index: t_ms / 40,
            media_time: MediaTime::from_nanos(t_ms * 1_000_000),
            captured_at: "2026-04-01T08:00:00Z".parse().unwrap(),
            arrived: Duration::from_millis(t_ms),
            image: RgbImage::new(1, 1),
        }
    }

    #[test]
    fn the_newest_frame_is_kept_and_the_replaced_ones_are_counted() {
        let b = FrameBoard::new(1);
        assert!(!b.put(0, frame(1, 0)));
        assert!(b.put(0, frame(1, 40)));
        assert!(b.put(0, frame(1, 80)));
        let w = b.take().unwrap();
        assert_eq!(w.frame.unwrap().media_time.as_millis(), 80);
        assert!(w.ended.is_none());
    }

    #[test]
    fn one_frame_per_camera_in_analysis_and_cameras_taken_in_turn() {
        let b = FrameBoard::new(3);
        for cam in 0..3 {
            b.put(cam, frame(1, 0));
        }
        let first = b.take().unwrap();
        assert_eq!(first.camera, 0);
        // Camera 0 gets a new frame while its first is in analysis: not handed out.
        b.put(0, frame(1, 40));
        assert_eq!(b.take().unwrap().camera, 1);
        assert_eq!(b.take().unwrap().camera, 2);
        b.done(0);
        b.done(1);
        b.done(2);
        // Round-robin continues after camera 2: camera 0 again, with its newest frame.
        let w = b.take().unwrap();
        assert_eq!(w.camera, 0);
        assert_eq!(w.frame.unwrap().media_time.as_millis(), 40);
    }

    #[test]
    fn a_busy_camera_cannot_starve_the_others() {
        let b = FrameBoard::new(2);
        let mut picks = Vec::new();
        for i in 0..6 {
            b.put(0, frame(1, i * 40));
            b.put(1, frame(1, i * 40));
            let w = b.take().unwrap();
            picks.push(w.camera);
            b.done(w.camera);
        }
        assert_eq!(picks, vec![0, 1, 0, 1, 0, 1]);
    }

    #[test]
    fn the_end_of_a_session_is_never_dropped_and_closing_drains_the_board() {
        let b = Arc::new(FrameBoard::new(2));
        b.put(0, frame(1, 0));
        let ended = SessionId {
            number: 1,
            started: "2026-04-01T08:00:00Z".parse().unwrap(),
        };
        b.end_session(0, ended);
        b.end_session(1, ended);
        b.close();
        let w = b.take().unwrap();
        assert_eq!(
            (w.camera, w.frame.is_some(), w.ended),
            (0, true, Some(ended))
        );
        b.done(0);
        let w = b.take().unwrap();
        assert_eq!(
            (w.camera, w.frame.is_some(), w.ended),
            (1, false, Some(ended))
        );
        b.done(1);
        assert!(b.take().is_none());
    }

    #[test]
    fn a_waiting_worker_wakes_for_a_frame_and_for_the_close() {
        let b = Arc::new(FrameBoard::new(1));
        let b2 = b.clone();
        let worker = std::thread::spawn(move || {
            let mut got = 0;
            while let Some(w) = b2.take() {
                got += usize::from(w.frame.is_some());
                b2.done(w.camera);
            }
            got
        });
        std::thread::sleep(Duration::from_millis(20));
        b.put(0, frame(1, 0));
        std::thread::sleep(Duration::from_millis(20));
        b.close();
        assert_eq!(worker.join().unwrap(), 1);
    }
}
