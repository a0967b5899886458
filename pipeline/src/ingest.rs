//! Ingest: GStreamer decodes a source into frames with their media timestamps.
//!
//! The pipeline is `<source> ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink`.
//! The appsink caps fix the pixel format to I420 (what H.264/H.265 decoders output natively, so
//! `videoconvert` usually passes buffers through untouched). Only the frames chosen for analysis
//! are converted to packed RGB — by GStreamer's own `VideoConverter`, which honours the stream's
//! colorimetry and the planes' strides — so skipping a frame costs only its decode.
//!
//! One builder for every source: `decode_chain` makes the decoding half of the pipeline with a
//! [`QueuePolicy`], and each source adds its head (a `filesrc` here; `rtspsrc`, a file played as
//! a camera, or a launch description in [`crate::live::source`]). Files block
//! ([`QueuePolicy::Block`]): the appsink and the frame queue between the decode thread and the
//! analysis wait when full, so `replay` never drops a frame it was asked to analyse and results
//! are deterministic. Live sources keep the newest ([`QueuePolicy::KeepNewest`]), counting what
//! they drop.
//!
//! Media time is the buffer's *running time* (its PTS mapped through the stream's segment), so
//! a file whose timestamps do not start at zero (MPEG-TS, an MP4 with an edit list) still starts
//! at zero.

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use image::RgbImage;
use passwatch_base::time::MediaTime;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

/// Why a source could not be (fully) decoded.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file does not exist or cannot be read.
    #[error("{path}: cannot open: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// GStreamer found no video it can decode in the source.
    #[error("{source_name}: not a video GStreamer can decode: {message}")]
    NotVideo {
        /// The source (file path or URI).
        source_name: String,
        /// GStreamer's message.
        message: String,
    },
    /// Decoding failed part-way; the frames before `stopped_at` were delivered.
    #[error("{source_name}: decoding stopped at {stopped_at} after {frames} frames: {message}")]
    Decode {
        /// The source.
        source_name: String,
        /// Media time of the last frame decoded.
        stopped_at: MediaTime,
        /// Frames decoded before the failure.
        frames: u64,
        /// GStreamer's message.
        message: String,
    },
    /// The file ends before the duration its container declares: it was cut short. The frames
    /// before `stopped_at` were delivered.
    #[error("{source_name}: decoding stopped at {stopped_at} after {frames} frames: the stream ends there but the file declares a duration of {declared}: the file is truncated")]
    Truncated {
        /// The source.
        source_name: String,
        /// Media time of the last frame decoded.
        stopped_at: MediaTime,
        /// Frames decoded before the cut.
        frames: u64,
        /// The duration the container declares.
        declared: MediaTime,
    },
    /// GStreamer itself could not be set up (missing plugins, bad launch description).
    #[error("GStreamer: {0}")]
    Setup(String),
}

impl IngestError {
    /// What the error is about (always ingest), as [`crate::engine::EngineError::kind`] says
    /// for the engine's errors.
    pub fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Ingest
    }

    /// Whether trying the same source again may succeed (a live camera coming back), as opposed
    /// to a fault of the input itself (a missing, corrupt or truncated file).
    pub fn is_retryable(&self) -> bool {
        matches!(self, IngestError::Decode { .. })
    }
}

/// Initialises GStreamer once per process.
pub fn init() -> Result<(), IngestError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gst::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(IngestError::Setup)
}

/// A decoded frame chosen for analysis.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Index of the frame among all decoded frames of the source (0-based).
    pub index: u64,
    /// The buffer's running time (its PTS through the segment: zero-based).
    pub media_time: MediaTime,
    /// The frame as packed RGB8.
    pub image: RgbImage,
}

/// What the stream looks like, read after preroll.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Nominal frame rate, if the stream declares one.
    pub fps: Option<f64>,
    /// Duration, if known (files).
    pub duration: Option<MediaTime>,
}

impl StreamInfo {
    /// Estimated number of frames (files with a known rate and duration).
    pub fn estimated_frames(&self) -> Option<u64> {
        Some((self.duration?.as_secs_f64() * self.fps?).round() as u64)
    }
}

/// Which frames to hand over for analysis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FrameSelection {
    /// Every decoded frame.
    All,
    /// At most this many frames per second of media time, on a fixed grid of media time (so the
    /// choice depends only on the timestamps: deterministic).
    Rate(f64),
    /// None: decode only (the decode-speed ceiling).
    None,
}

/// Counters shared with the decode thread.
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Frames decoded so far.
    pub decoded: AtomicU64,
    /// Frames handed to analysis so far.
    pub selected: AtomicU64,
    /// Nanoseconds spent converting selected frames to RGB.
    pub convert_ns: AtomicU64,
    /// Nanoseconds the decode thread waited in `pull_sample` (decode time, roughly).
    pub pull_ns: AtomicU64,
}

/// A message from the decode thread.
#[derive(Debug)]
pub enum IngestMessage {
    /// A frame chosen for analysis.
    Frame(Frame),
    /// The source ended: cleanly, or with the error that stopped it (frames before it were
    /// delivered).
    End(Result<(), IngestError>),
}

/// A running decode of one source.
pub struct Ingest {
    /// Stream properties.
    pub info: StreamInfo,
    /// Counters, updated by the decode thread.
    pub counters: Arc<IngestCounters>,
    rx: Receiver<IngestMessage>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pipeline: gst::Pipeline,
}

impl Ingest {
    /// Opens a local file for decoding. Fails early, with the file named, if it does not exist
    /// or holds no decodable video.
    pub fn open_file(
        path: &Path,
        selection: FrameSelection,
        queue: usize,
    ) -> Result<Ingest, IngestError> {
        let meta = std::fs::metadata(path).map_err(|e| IngestError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if !meta.is_file() {
            return Err(IngestError::Open {
                path: path.to_path_buf(),
                message: "not a regular file".into(),
            });
        }
        init()?;
        let filesrc = gst::ElementFactory::make("filesrc")
            .property("location", path.to_string_lossy().to_string())
            .build()
            .map_err(|e| IngestError::Setup(format!("filesrc: {e}")))?;
        Self::open_element(filesrc, &path.display().to_string(), selection, queue)
    }

    /// Decodes whatever a source element produces (filesrc, rtspsrc, …).
    fn open_element(
        source: gst::Element,
        name: &str,
        selection: FrameSelection,
        queue: usize,
    ) -> Result<Ingest, IngestError> {
        let DecodeChain {
            pipeline,
            decodebin,
            appsink,
        } = decode_chain(QueuePolicy::Block {
            buffers: FILE_APPSINK_BUFFERS,
        })?;
        pipeline
            .add(&source)
            .map_err(|e| IngestError::Setup(e.to_string()))?;
        source
            .link(&decodebin)
            .map_err(|e| IngestError::Setup(format!("link source: {e}")))?;

        let bus = pipeline
            .bus()
            .ok_or_else(|| IngestError::Setup("pipeline without a bus".into()))?;
        pipeline
            .set_state(gst::State::Paused)
            .map_err(|_| IngestError::NotVideo {
                source_name: name.to_string(),
                message: first_error(&bus).unwrap_or_else(|| "cannot start decoding".into()),
            })?;
        // Wait for preroll (the first frame reached the appsink) or an error.
        let failure = match bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(30),
            &[
                gst::MessageType::AsyncDone,
                gst::MessageType::Error,
                gst::MessageType::Eos,
            ],
        ) {
            Some(msg) => match msg.view() {
                gst::MessageView::AsyncDone(_) => None,
                gst::MessageView::Error(err) => {
                    let mut message = describe_error(err);
                    if message.contains("qtdemux") {
                        // An MP4 whose index (moov) is written last loses it when cut short.
                        message.push_str(
                            " (an MP4 or MOV cut short before its index was written cannot be decoded at all)",
                        );
                    }
                    Some(message)
                }
                _ => Some("the source ended before any video frame".to_string()),
            },
            None => Some("no video frame within 30 s".to_string()),
        };
        if let Some(message) = failure {
            let _ = pipeline.set_state(gst::State::Null);
            return Err(IngestError::NotVideo {
                source_name: name.to_string(),
                message,
            });
        }
        let sink_caps = appsink
            .static_pad("sink")
            .and_then(|p| p.current_caps())
            .ok_or_else(|| IngestError::NotVideo {
                source_name: name.to_string(),
                message: "no video stream".into(),
            })?;
        let vinfo = gst_video::VideoInfo::from_caps(&sink_caps)
            .map_err(|e| IngestError::Setup(format!("caps {sink_caps}: {e}")))?;
        let fps = vinfo.fps();
        let info = StreamInfo {
            width: vinfo.width(),
            height: vinfo.height(),
            fps: (fps.numer() > 0 && fps.denom() > 0)
                .then(|| fps.numer() as f64 / fps.denom() as f64),
            duration: pipeline
                .query_duration::<gst::ClockTime>()
                .map(|d| MediaTime::from_nanos(d.nseconds())),
        };
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| IngestError::Setup("cannot start the pipeline".into()))?;

        let (tx, rx) = std::sync::mpsc::sync_channel(queue.max(1));
        let counters = Arc::new(IngestCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let worker = DecodeWorker {
            name: name.to_string(),
            info: info.clone(),
            appsink,
            bus,
            tx,
            selection,
            counters: counters.clone(),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("decode:{}", short_name(name)))
            .spawn(move || worker.run())
            .map_err(|e| IngestError::Setup(format!("cannot spawn the decode thread: {e}")))?;
        Ok(Ingest {
            info,
            counters,
            rx,
            stop,
            thread: Some(thread),
            pipeline,
        })
    }
}

/// The messages of the decode thread: frames, then one `End`; `None` after that.
impl Iterator for Ingest {
    type Item = IngestMessage;
    fn next(&mut self) -> Option<IngestMessage> {
        self.rx.recv().ok()
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Unblock a decode thread waiting on a full queue, then stop GStreamer.
        while self.rx.try_recv().is_ok() {}
        let _ = self.pipeline.set_state(gst::State::Null);
        while self.rx.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

struct DecodeWorker {
    name: String,
    info: StreamInfo,
    appsink: gst_app::AppSink,
    bus: gst::Bus,
    tx: SyncSender<IngestMessage>,
    selection: FrameSelection,
    counters: Arc<IngestCounters>,
    stop: Arc<AtomicBool>,
}

impl DecodeWorker {
    fn run(self) {
        let result = self.pull_all();
        let _ = self.tx.send(IngestMessage::End(result));
    }

    fn pull_all(&self) -> Result<(), IngestError> {
        let mut converter: Option<(gst::Caps, Rgbizer)> = None;
        let mut index: u64 = 0;
        let mut last_time = MediaTime::ZERO;
        let mut selector = FrameSelector::new(self.selection);
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let t0 = std::time::Instant::now();
            let sample = match self.appsink.pull_sample() {
                Ok(s) => s,
                Err(_) => break, // EOS or error: the bus says which.
            };
            self.counters
                .pull_ns
                .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
            let Some(buffer) = sample.buffer() else {
                continue;
            };
            // Running time: the PTS through the segment, zero-based whatever the container's
            // first timestamp.
            let pts = running_time_ns(&sample, buffer).unwrap_or(last_time.as_nanos());
            last_time = MediaTime::from_nanos(pts);
            let this = index;
            index += 1;
            self.counters.decoded.store(index, Ordering::Relaxed);
            if !selector.wants(pts) {
                continue;
            }
            let caps = sample.caps().ok_or_else(|| IngestError::Decode {
                source_name: self.name.clone(),
                stopped_at: last_time,
                frames: index,
                message: "sample without caps".into(),
            })?;
            if converter.as_ref().map(|(c, _)| c.as_ref() != caps) != Some(false) {
                let conv = Rgbizer::new(caps).map_err(|message| IngestError::Decode {
                    source_name: self.name.clone(),
                    stopped_at: last_time,
                    frames: index,
                    message,
                })?;
                converter = Some((caps.to_owned(), conv));
            }
            let Some((_, conv)) = converter.as_mut() else {
                continue;
            };
            let t1 = std::time::Instant::now();
            let image = conv
                .convert(buffer)
                .map_err(|message| IngestError::Decode {
                    source_name: self.name.clone(),
                    stopped_at: last_time,
                    frames: index,
                    message,
                })?;
            self.counters
                .convert_ns
                .fetch_add(t1.elapsed().as_nanos() as u64, Ordering::Relaxed);
            self.counters.selected.fetch_add(1, Ordering::Relaxed);
            let frame = Frame {
                index: this,
                media_time: last_time,
                image,
            };
            if self.tx.send(IngestMessage::Frame(frame)).is_err() {
                return Ok(()); // the consumer went away
            }
        }
        // Why did the stream end?
        while let Some(msg) = self
            .bus
            .pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos])
        {
            match msg.view() {
                gst::MessageView::Error(err) => {
                    return Err(IngestError::Decode {
                        source_name: self.name.clone(),
                        stopped_at: last_time,
                        frames: index,
                        message: describe_error(err),
                    })
                }
                gst::MessageView::Eos(_) => return self.check_complete(last_time, index),
                _ => {}
            }
        }
        if self.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if self.appsink.is_eos() {
            return self.check_complete(last_time, index);
        }
        Err(IngestError::Decode {
            source_name: self.name.clone(),
            stopped_at: last_time,
            frames: index,
            message: "the stream stopped without end-of-stream".into(),
        })
    }
}

impl DecodeWorker {
    /// A file whose stream ends well before the duration its container declares was cut short
    /// (a recorder that died, a copy that did not finish): demuxers end such files with a plain
    /// end-of-stream, so the frames before the cut are analysed and the cut is reported here.
    fn check_complete(&self, last: MediaTime, frames: u64) -> Result<(), IngestError> {
        let (Some(duration), Some(fps)) = (self.info.duration, self.info.fps) else {
            return Ok(());
        };
        // The last frame starts one frame before the end; allow two more for rounding.
        let slack = 3.0 / fps.max(1.0) + 0.05;
        if last.as_secs_f64() + slack < duration.as_secs_f64() {
            return Err(IngestError::Truncated {
                source_name: self.name.clone(),
                stopped_at: last,
                frames,
                declared: duration,
            });
        }
        Ok(())
    }
}

/// The frames due for analysis under a [`FrameSelection`]: with `Rate(fps)`, a grid of media
/// time anchored at the first frame, so the choice depends only on timestamps. Shared by file
/// ingest and live cameras (`live::source`).
pub(crate) struct FrameSelector {
    selection: FrameSelection,
    /// Next media time (ns) due for analysis.
    next_due: Option<u64>,
}

impl FrameSelector {
    pub(crate) fn new(selection: FrameSelection) -> Self {
        FrameSelector {
            selection,
            next_due: None,
        }
    }

    /// Whether the frame at `pts` (ns) is due; moves the grid past it when it is.
    pub(crate) fn wants(&mut self, pts: u64) -> bool {
        match self.selection {
            FrameSelection::All => true,
            FrameSelection::None => false,
            FrameSelection::Rate(fps) => {
                let interval = (1e9 / fps.max(1e-3)) as u64;
                let due = *self.next_due.get_or_insert(pts);
                // 1 ms of slack absorbs timestamp rounding in the container.
                if pts + 1_000_000 >= due {
                    let periods = (pts + 1_000_000 - due) / interval + 1;
                    self.next_due = Some(due + periods * interval);
                    true
                } else {
                    false
                }
            }
        }
    }
}

/// A buffer's running time in ns: its PTS through the sample's segment, zero-based whatever the
/// container's first timestamp (the PTS itself without a time segment).
pub(crate) fn running_time_ns(sample: &gst::Sample, buffer: &gst::BufferRef) -> Option<u64> {
    buffer
        .pts()
        .and_then(|p| {
            sample
                .segment()
                .and_then(|seg| seg.downcast_ref::<gst::ClockTime>())
                .and_then(|seg| seg.to_running_time(p))
                .or(Some(p))
        })
        .map(|t| t.nseconds())
}

/// Decoded frames a file's appsink holds before decoding blocks.
const FILE_APPSINK_BUFFERS: u32 = 4;

/// What the appsink does when its consumer is slower than the decoder: the one place where
/// files and cameras differ in how frames are handed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueuePolicy {
    /// Files: up to `buffers` decoded frames wait, then decoding blocks, so no frame is ever
    /// lost and a replay is deterministic. Not paced by the clock (as fast as analysis goes).
    Block {
        /// Frames that may wait.
        buffers: u32,
    },
    /// Live cameras: one frame, the newest; GStreamer drops the older ones (counted by the
    /// source). `sync`: paced by the clock (a file or launch description played as a camera).
    KeepNewest {
        /// Whether buffers are released at their running time.
        sync: bool,
    },
}

/// The decoding half of every pipeline: `decodebin ! videoconvert ! video/x-raw,format=I420 !
/// appsink`, with the appsink set by `policy`. The caller adds its source head (a `filesrc`, an
/// `rtspsrc`, a launch description) and links it to `decodebin`.
pub(crate) struct DecodeChain {
    pub(crate) pipeline: gst::Pipeline,
    pub(crate) decodebin: gst::Element,
    pub(crate) appsink: gst_app::AppSink,
}

/// Builds the [`DecodeChain`] for `policy`, its elements added and linked: the first video pad
/// decodebin exposes goes to the converter.
pub(crate) fn decode_chain(policy: QueuePolicy) -> Result<DecodeChain, IngestError> {
    let pipeline = gst::Pipeline::new();
    let decodebin = make("decodebin")?;
    let convert = make("videoconvert")?;
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .build();
    let (sync, buffers, drop) = match policy {
        QueuePolicy::Block { buffers } => (false, buffers, false),
        QueuePolicy::KeepNewest { sync } => (sync, 1, true),
    };
    let appsink = gst_app::AppSink::builder()
        .caps(&caps)
        .sync(sync)
        .max_buffers(buffers)
        .drop(drop)
        .enable_last_sample(false)
        .build();
    pipeline
        .add_many([&decodebin, &convert, appsink.upcast_ref()])
        .map_err(|e| IngestError::Setup(e.to_string()))?;
    convert
        .link(&appsink)
        .map_err(|e| IngestError::Setup(format!("link appsink: {e}")))?;
    link_first_video_pad(&decodebin, &convert);
    Ok(DecodeChain {
        pipeline,
        decodebin,
        appsink,
    })
}

/// I420 (any layout GStreamer describes) → packed RGB8, with GStreamer's converter.
pub(crate) struct Rgbizer {
    in_info: gst_video::VideoInfo,
    out_info: gst_video::VideoInfo,
    converter: gst_video::VideoConverter,
}

impl Rgbizer {
    pub(crate) fn new(caps: &gst::CapsRef) -> Result<Self, String> {
        let in_info = gst_video::VideoInfo::from_caps(caps).map_err(|e| e.to_string())?;
        let out_info = gst_video::VideoInfo::builder(
            gst_video::VideoFormat::Rgb,
            in_info.width(),
            in_info.height(),
        )
        .fps(in_info.fps())
        .par(in_info.par())
        .interlace_mode(in_info.interlace_mode())
        .build()
        .map_err(|e| e.to_string())?;
        let mut config = gst_video::VideoConverterConfig::new();
        config.set_threads(1);
        let converter = gst_video::VideoConverter::new(&in_info, &out_info, Some(config))
            .map_err(|e| e.to_string())?;
        Ok(Rgbizer {
            in_info,
            out_info,
            converter,
        })
    }

    pub(crate) fn convert(&mut self, buffer: &gst::BufferRef) -> Result<RgbImage, String> {
        let src = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &self.in_info)
            .map_err(|e| format!("cannot map the decoded frame: {e}"))?;
        let mut out = gst::Buffer::with_size(self.out_info.size()).map_err(|e| e.to_string())?;
        {
            let out_ref = out
                .get_mut()
                .ok_or_else(|| "new buffer is not writable".to_string())?;
            let mut dst =
                gst_video::VideoFrameRef::from_buffer_ref_writable(out_ref, &self.out_info)
                    .map_err(|e| format!("cannot map the RGB frame: {e}"))?;
            self.converter.frame_ref(&src, &mut dst);
        }
        // The RGB buffer's rows may be padded: copy them by stride into a packed image.
        let (w, h) = (
            self.out_info.width() as usize,
            self.out_info.height() as usize,
        );
        let stride = self.out_info.stride()[0] as usize;
        let map = out.map_readable().map_err(|e| e.to_string())?;
        let mut packed = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            packed.extend_from_slice(&map[row * stride..row * stride + w * 3]);
        }
        RgbImage::from_raw(w as u32, h as u32, packed).ok_or_else(|| "bad RGB size".to_string())
    }
}

pub(crate) fn make(factory: &str) -> Result<gst::Element, IngestError> {
    gst::ElementFactory::make(factory).build().map_err(|e| {
        IngestError::Setup(format!(
            "element {factory} is missing ({e}); install the GStreamer plugins (scripts/setup)"
        ))
    })
}

pub(crate) fn describe_error(err: &gst::message::Error) -> String {
    let mut s = err.error().to_string();
    if let Some(src) = err.src() {
        s = format!("{} (from {})", s, src.name());
    }
    if let Some(dbg) = err.debug() {
        // The debug string is long; its last line usually holds the useful detail.
        if let Some(last) = dbg.lines().last() {
            s = format!("{s}: {last}");
        }
    }
    s
}

fn first_error(bus: &gst::Bus) -> Option<String> {
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(err) = msg.view() {
            return Some(describe_error(err));
        }
    }
    None
}

fn short_name(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.chars().take(10).collect()
}

/// decodebin exposes a pad per stream once it knows them: links the first video one to
/// `convert`'s sink (audio and later video pads stay unlinked).
pub(crate) fn link_first_video_pad(decodebin: &gst::Element, convert: &gst::Element) {
    let convert_weak = convert.downgrade();
    decodebin.connect_pad_added(move |_, pad| {
        let Some(convert) = convert_weak.upgrade() else {
            return;
        };
        let is_video = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        let Some(sink) = convert.static_pad("sink") else {
            return;
        };
        if is_video && !sink.is_linked() {
            if let Err(e) = pad.link(&sink) {
                tracing::warn!(error = ?e, "cannot link the decoded video pad");
            }
        }
    });
}
