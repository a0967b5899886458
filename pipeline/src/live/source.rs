//! A camera's source: what its `source` in the site file means, and the GStreamer pipeline that
//! turns it into RGB frames at the camera's analysis rate.
//!
//! | `source` | pipeline head | paced by |
//! |---|---|---|
//! | `rtsp://…` (`rtsps://`, `rtspt://`) | `rtspsrc location=… protocols=tcp latency=…`, first video stream only | the camera |
//! | `file:///path.mp4`, `file:///path.mp4?loop=1` | `filesrc location=…` | the clock (a file plays as a camera would) |
//! | anything else: a launch description, e.g. `videotestsrc is-live=true ! x264enc` | that bin (its unlinked source pad is the output) | the clock |
//!
//! Then, for all: `decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink max-buffers=1
//! drop=true`. The appsink keeps only the newest decoded frame: when the camera thread is late,
//! GStreamer drops the older one at the source (counted: a probe counts the buffers reaching the
//! sink, minus those pulled). The camera thread then picks the frames due at the analysis rate
//! on the stream's own media-time grid (`ingest::FrameSelector`), converts only those to
//! RGB (`ingest::Rgbizer`) and stamps them with their arrival time.
//!
//! The source never decides policy: an end of stream is reported as [`Pulled::End`] and the
//! supervisor ([`super::camera`]) decides that from a live source it is a disconnect, and from a
//! looped file the cue to start again.

use crate::ingest::{self, FrameSelection, FrameSelector, Rgbizer};
use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use image::RgbImage;
use passwatch_base::time::MediaTime;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a camera's `source` names.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceSpec {
    /// An RTSP camera.
    Rtsp {
        /// The URL as configured (credentials included; never logged as is).
        url: String,
    },
    /// A local file played at real time as a fake camera.
    File {
        /// The file.
        path: PathBuf,
        /// Start again at the end (`?loop=1`); otherwise the camera stops when the file ends.
        looped: bool,
    },
    /// A GStreamer launch description whose last element has an unlinked source pad giving a
    /// stream `decodebin` can decode (or raw video).
    Launch {
        /// The description.
        description: String,
    },
}

impl SourceSpec {
    /// Reads a camera's `source`. Errors say what is wrong with the text.
    pub fn parse(text: &str) -> Result<SourceSpec, String> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        if ["rtsp://", "rtsps://", "rtspt://"]
            .iter()
            .any(|s| lower.starts_with(s))
        {
            if rtsp_host_port(text).is_none() {
                return Err(format!("{}: no host in the URL", super::redact_uri(text)));
            }
            return Ok(SourceSpec::Rtsp {
                url: text.to_string(),
            });
        }
        if let Some(rest) = text.strip_prefix("file://") {
            let (path, query) = match rest.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(format!("{text}: no file path"));
            }
            let mut looped = false;
            for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                match pair.split_once('=') {
                    Some(("loop", "1" | "true")) => looped = true,
                    Some(("loop", "0" | "false")) => looped = false,
                    _ => {
                        return Err(format!(
                            "{text}: unknown option {pair:?} (the only one is loop=1 or loop=0)"
                        ))
                    }
                }
            }
            return Ok(SourceSpec::File {
                path: PathBuf::from(percent_decode(path)?),
                looped,
            });
        }
        if let Some((scheme, _)) = text.split_once("://") {
            if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "{}: unsupported scheme {scheme:?}: use rtsp://, file://, or write a \
                     GStreamer launch description (e.g. souphttpsrc location=… ! qtdemux)",
                    super::redact_uri(text)
                ));
            }
        }
        if text.is_empty() {
            return Err("empty source".into());
        }
        Ok(SourceSpec::Launch {
            description: text.to_string(),
        })
    }

    /// The source as shown in logs, metrics and events: credentials hidden.
    pub fn display(&self) -> String {
        match self {
            SourceSpec::Rtsp { url } => super::redact_uri(url),
            SourceSpec::File { path, looped } => format!(
                "file://{}{}",
                path.display(),
                if *looped { "?loop=1" } else { "" }
            ),
            SourceSpec::Launch { description } => description.clone(),
        }
    }

    /// Whether frames come at the camera's own pace (RTSP): then the sink does not sync to the
    /// clock, and an end of stream is a disconnect.
    pub fn is_network(&self) -> bool {
        matches!(self, SourceSpec::Rtsp { .. })
    }

    /// `host:port` of an RTSP camera, for the cheap reachability probe during backoff.
    pub fn probe_address(&self) -> Option<String> {
        match self {
            SourceSpec::Rtsp { url } => rtsp_host_port(url).map(|(h, p)| {
                if h.contains(':') {
                    format!("[{h}]:{p}")
                } else {
                    format!("{h}:{p}")
                }
            }),
            _ => None,
        }
    }

    /// Checks what can be checked before running: a launch description parses, a file exists.
    pub fn check(&self) -> Result<(), String> {
        match self {
            SourceSpec::Rtsp { .. } => Ok(()),
            SourceSpec::File { path, .. } if !path.is_file() => {
                Err(format!("{}: no such file", path.display()))
            }
            SourceSpec::File { .. } => Ok(()),
            SourceSpec::Launch { description } => {
                ingest::init().map_err(|e| e.to_string())?;
                gst::parse::bin_from_description(description, true)
                    .map(|_| ())
                    .map_err(|e| format!("{description}: not a launch description: {e}"))
            }
        }
    }
}

/// Host and port of an `rtsp://[user[:pass]@]host[:port]/…` URL (port 554 by default).
fn rtsp_host_port(url: &str) -> Option<(String, u16)> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 554,
    };
    Some((host.to_string(), port))
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                // from_str_radix takes a leading `+`; an escape is two hex digits exactly.
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{text}: bad %-escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text}: not UTF-8 once %-decoded"))
}

/// Settings of a camera's pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceOptions {
    /// Frames per second of media time handed to analysis.
    pub analyse_fps: f64,
    /// `rtspsrc` jitter-buffer latency. Default 200 ms: enough on a LAN, and it is added to every
    /// frame's delay.
    pub latency_ms: u32,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            analyse_fps: crate::engine::DEFAULT_PLATE_ANALYSE_FPS,
            latency_ms: 200,
        }
    }
}

/// Why a source stopped or could not start. The supervisor adds the camera and the URI.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceFault {
    /// The pipeline could not be built (a missing plugin, a bad launch description).
    Setup(String),
    /// GStreamer reported an error (connection refused, not found, unauthorised, a decode
    /// error, garbage on the wire).
    Stream(String),
}

/// What one wait for a frame gave.
#[derive(Debug)]
pub enum Pulled {
    /// A decoded frame; `image` only when it is due for analysis.
    Frame {
        /// Running time of the frame in this session.
        media_time: MediaTime,
        /// The frame in RGB when due for analysis.
        image: Option<RgbImage>,
        /// Time spent converting it to RGB.
        convert: Duration,
    },
    /// Nothing within the timeout.
    Nothing,
    /// End of stream; `detail` is the last warning GStreamer gave, which usually says why
    /// (a server that went away gives "Could not read from resource" first).
    End {
        /// The last warning, if any.
        detail: Option<String>,
    },
}

/// A running source of frames (one session of a camera).
pub trait FrameSource {
    /// Waits up to `timeout` for the next decoded frame.
    fn next(&mut self, timeout: Duration) -> Result<Pulled, SourceFault>;
    /// Frames GStreamer dropped before this thread pulled them (the appsink keeps one).
    fn dropped_at_sink(&self) -> u64;
}

/// Opens sessions of one camera's source.
pub trait SourceFactory: Send {
    /// Starts a new session.
    fn open(&mut self) -> Result<Box<dyn FrameSource>, SourceFault>;
}

/// The real thing: GStreamer pipelines for a [`SourceSpec`].
pub struct GstSourceFactory {
    spec: SourceSpec,
    options: SourceOptions,
}

impl GstSourceFactory {
    /// A factory of pipelines for `spec`.
    pub fn new(spec: SourceSpec, options: SourceOptions) -> Self {
        GstSourceFactory { spec, options }
    }
}

impl SourceFactory for GstSourceFactory {
    fn open(&mut self) -> Result<Box<dyn FrameSource>, SourceFault> {
        Ok(Box::new(GstSource::open(&self.spec, &self.options)?))
    }
}

/// One session's pipeline; set to `Null` when dropped.
pub struct GstSource {
    pipeline: gst::Pipeline,
    appsink: gst_app::AppSink,
    bus: gst::Bus,
    selector: FrameSelector,
    converter: Option<(gst::Caps, Rgbizer)>,
    /// Buffers that reached the appsink (a pad probe counts them).
    arrived: Arc<AtomicU64>,
    pulled: u64,
    last_time: u64,
    last_warning: Option<String>,
}

impl GstSource {
    /// Builds the pipeline and sets it playing. Network errors come later, from
    /// [`FrameSource::next`]: connecting is asynchronous.
    pub fn open(spec: &SourceSpec, options: &SourceOptions) -> Result<GstSource, SourceFault> {
        ingest::init().map_err(|e| SourceFault::Setup(e.to_string()))?;
        let setup = |e: ingest::IngestError| SourceFault::Setup(e.to_string());
        // Live policy: one buffer, the newest; older ones are dropped by GStreamer. Files and
        // launch descriptions are paced by the clock, as a camera would be.
        let ingest::DecodeChain {
            pipeline,
            decodebin,
            appsink,
        } = ingest::decode_chain(ingest::QueuePolicy::KeepNewest {
            sync: !spec.is_network(),
        })
        .map_err(setup)?;
        match spec {
            SourceSpec::Rtsp { url } => {
                let src = gst::ElementFactory::make("rtspsrc")
                    .property("location", url)
                    .property("latency", options.latency_ms)
                    .property_from_str("protocols", "tcp")
                    .build()
                    .map_err(|e| {
                        SourceFault::Setup(format!(
                            "element rtspsrc is missing ({e}); install gstreamer1.0-plugins-good"
                        ))
                    })?;
                pipeline
                    .add(&src)
                    .map_err(|e| SourceFault::Setup(e.to_string()))?;
                // rtspsrc has a pad per stream of the camera; only the first video one is decoded
                // (audio and metadata streams stay unlinked).
                let decodebin_weak = decodebin.downgrade();
                src.connect_pad_added(move |_, pad| {
                    let Some(decodebin) = decodebin_weak.upgrade() else {
                        return;
                    };
                    let is_video = pad
                        .current_caps()
                        .and_then(|c| {
                            c.structure(0)
                                .and_then(|s| s.get::<&str>("media").ok())
                                .map(|m| m == "video")
                        })
                        .unwrap_or(false);
                    let Some(sink) = decodebin.static_pad("sink") else {
                        return;
                    };
                    if is_video && !sink.is_linked() {
                        if let Err(e) = pad.link(&sink) {
                            tracing::warn!(error = ?e, "cannot link the camera's video stream");
                        }
                    }
                });
            }
            SourceSpec::File { path, .. } => {
                let src = gst::ElementFactory::make("filesrc")
                    .property("location", path.to_string_lossy().to_string())
                    .build()
                    .map_err(|e| SourceFault::Setup(format!("filesrc: {e}")))?;
                pipeline
                    .add(&src)
                    .map_err(|e| SourceFault::Setup(e.to_string()))?;
                src.link(&decodebin)
                    .map_err(|e| SourceFault::Setup(format!("link filesrc: {e}")))?;
            }
            SourceSpec::Launch { description } => {
                let bin = gst::parse::bin_from_description(description, true)
                    .map_err(|e| SourceFault::Setup(format!("not a launch description: {e}")))?;
                pipeline
                    .add(&bin)
                    .map_err(|e| SourceFault::Setup(e.to_string()))?;
                bin.link(&decodebin).map_err(|e| {
                    SourceFault::Setup(format!(
                        "the launch description has no source pad to decode from ({e})"
                    ))
                })?;
            }
        }
        let arrived = Arc::new(AtomicU64::new(0));
        if let Some(pad) = appsink.static_pad("sink") {
            let counter = arrived.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                counter.fetch_add(1, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            });
        }
        let bus = pipeline
            .bus()
            .ok_or_else(|| SourceFault::Setup("pipeline without a bus".into()))?;
        let source = GstSource {
            pipeline,
            appsink,
            bus,
            selector: FrameSelector::new(FrameSelection::Rate(options.analyse_fps)),
            converter: None,
            arrived,
            pulled: 0,
            last_time: 0,
            last_warning: None,
        };
        if source.pipeline.set_state(gst::State::Playing).is_err() {
            // The reason is on the bus (a missing file, a refused connection).
            let why = source
                .bus_fault()
                .unwrap_or_else(|| "cannot start the pipeline".into());
            return Err(SourceFault::Stream(why));
        }
        Ok(source)
    }

    /// The first error on the bus, if any (non-blocking).
    fn bus_fault(&self) -> Option<String> {
        while let Some(msg) = self.bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = msg.view() {
                return Some(ingest::describe_error(err));
            }
        }
        None
    }

    /// Handles what is waiting on the bus: an error ends the session, an end of stream is
    /// reported, warnings are kept as the likely reason of an end.
    fn poll_bus(&mut self) -> Result<Option<Pulled>, SourceFault> {
        while let Some(msg) = self.bus.pop() {
            match msg.view() {
                gst::MessageView::Error(err) => {
                    return Err(SourceFault::Stream(ingest::describe_error(err)))
                }
                gst::MessageView::Eos(_) => {
                    return Ok(Some(Pulled::End {
                        detail: self.last_warning.take(),
                    }))
                }
                gst::MessageView::Warning(w) => {
                    let mut text = w.error().to_string();
                    if let Some(dbg) = w.debug().and_then(|d| d.lines().last().map(str::to_owned)) {
                        text = format!("{text}: {dbg}");
                    }
                    tracing::debug!(warning = %text, "GStreamer warning");
                    self.last_warning = Some(text);
                }
                // rtspsrc's own timeout (25–28 s after a server froze): the watchdog has
                // normally acted long before.
                gst::MessageView::Element(e)
                    if e.structure()
                        .is_some_and(|s| s.name().as_str() == "GstRTSPSrcTimeout") =>
                {
                    return Err(SourceFault::Stream(
                        "rtspsrc timed out waiting for data".into(),
                    ));
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

impl FrameSource for GstSource {
    fn next(&mut self, timeout: Duration) -> Result<Pulled, SourceFault> {
        if let Some(p) = self.poll_bus()? {
            return Ok(p);
        }
        let Some(sample) = self
            .appsink
            .try_pull_sample(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64))
        else {
            // Timeout, or the end: the bus says which.
            if let Some(p) = self.poll_bus()? {
                return Ok(p);
            }
            if self.appsink.is_eos() {
                return Ok(Pulled::End {
                    detail: self.last_warning.take(),
                });
            }
            return Ok(Pulled::Nothing);
        };
        self.pulled += 1;
        let Some(buffer) = sample.buffer() else {
            return Ok(Pulled::Nothing);
        };
        let pts = ingest::running_time_ns(&sample, buffer).unwrap_or(self.last_time);
        self.last_time = pts;
        let media_time = MediaTime::from_nanos(pts);
        if !self.selector.wants(pts) {
            return Ok(Pulled::Frame {
                media_time,
                image: None,
                convert: Duration::ZERO,
            });
        }
        let caps = sample
            .caps()
            .ok_or_else(|| SourceFault::Stream("decoded frame without caps".into()))?;
        if self.converter.as_ref().map(|(c, _)| c.as_ref() != caps) != Some(false) {
            let conv = Rgbizer::new(caps).map_err(SourceFault::Stream)?;
            self.converter = Some((caps.to_owned(), conv));
        }
        let Some((_, conv)) = self.converter.as_mut() else {
            return Ok(Pulled::Nothing);
        };
        let t0 = std::time::Instant::now();
        let image = conv.convert(buffer).map_err(SourceFault::Stream)?;
        Ok(Pulled::Frame {
            media_time,
            image: Some(image),
            convert: t0.elapsed(),
        })
    }

    fn dropped_at_sink(&self) -> u64 {
        self.arrived
            .load(Ordering::Relaxed)
            .saturating_sub(self.pulled)
    }
}

impl Drop for GstSource {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_told_apart() {
        assert_eq!(
            SourceSpec::parse("rtsp://u:p@cam.local:8554/live").unwrap(),
            SourceSpec::Rtsp {
                url: "rtsp://u:p@cam.local:8554/live".into()
            }
        );
        assert_eq!(
            SourceSpec::parse("file:///clips/a%20b.mp4?loop=1").unwrap(),
            SourceSpec::File {
                path: "/clips/a b.mp4".into(),
                looped: true
            }
        );
        assert_eq!(
            SourceSpec::parse("file:///clips/a.mp4").unwrap(),
            SourceSpec::File {
                path: "/clips/a.mp4".into(),
                looped: false
            }
        );
        assert_eq!(
            SourceSpec::parse("videotestsrc is-live=true ! x264enc").unwrap(),
            SourceSpec::Launch {
                description: "videotestsrc is-live=true ! x264enc".into()
            }
        );
        assert!(SourceSpec::parse("file:///a.mp4?speed=2")
            .unwrap_err()
            .contains("speed=2"));
        assert!(SourceSpec::parse("http://cam/x")
            .unwrap_err()
            .contains("unsupported scheme"));
        assert!(SourceSpec::parse("rtsp:///nohost").is_err());
        assert!(SourceSpec::parse("  ").is_err());
    }

    #[test]
    fn rtsp_addresses_for_the_probe() {
        let p = |s: &str| SourceSpec::parse(s).unwrap().probe_address();
        assert_eq!(p("rtsp://10.0.0.5/s"), Some("10.0.0.5:554".into()));
        assert_eq!(p("rtsp://a:b@cam:8554/s?x"), Some("cam:8554".into()));
        assert_eq!(p("rtsp://[::1]:9000/s"), Some("[::1]:9000".into()));
        assert_eq!(p("file:///a.mp4"), None);
    }

    #[test]
    fn shown_sources_carry_no_password() {
        let s = SourceSpec::parse("rtsp://admin:secret@cam/s").unwrap();
        assert_eq!(s.display(), "rtsp://admin:***@cam/s");
        assert!(s.is_network());
    }

    #[test]
    fn a_percent_escape_is_two_hex_digits() {
        assert_eq!(percent_decode("a%20b.mp4").unwrap(), "a b.mp4");
        assert!(percent_decode("a%+1.mp4").is_err());
        assert!(percent_decode("a%2").is_err());
        assert!(percent_decode("a%zz").is_err());
    }
}
