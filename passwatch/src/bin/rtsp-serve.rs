//! `rtsp-serve`: a small RTSP server that serves one H.264 file as a live camera, looped.
//!
//! The live tests of `passwatch run` start one per fake camera, as a separate process, so that
//! they can do to it what a camera network does: `kill -9` it (the client sees the connection
//! close), `kill -STOP` it (the connection stays open and nothing arrives), and start it again
//! on the same port. The figures of `design/live.md` were measured against it too.
//!
//! ```text
//! rtsp-serve --file plates_dev.mp4 [--port 8554] [--address 127.0.0.1] [--path /stream] [--once]
//!     [--speed 1.0]
//! ```
//!
//! Once listening it prints the stream's URL on one line of stdout (`rtsp://127.0.0.1:PORT/stream`;
//! `--port 0` picks a free port), then serves until killed.
//!
//! How: the file is demuxed and parsed (no re-encoding, so a server costs almost no CPU) by a
//! reader pipeline (`filesrc ! parsebin ! h264parse ! appsink`); a feeder thread pushes its
//! access units, with their timestamps shifted by the length of the file at every loop, into the
//! `appsrc` of the served media (`appsrc ! h264parse ! rtph264pay`). The served pipeline is live
//! and its sinks sync to the clock, so the stream runs at real time and its timestamps never go
//! back. All clients share one media (one feeder).

use clap::Parser;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as gst_rtsp_server;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "rtsp-serve",
    about = "Serve an H.264 file over RTSP as a live camera, looped"
)]
struct Args {
    /// The video file (H.264 in any container GStreamer demuxes: MP4, MKV, TS).
    #[arg(long)]
    file: PathBuf,
    /// TCP port; 0 picks a free one.
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    address: String,
    /// Mount path of the stream.
    #[arg(long, default_value = "/stream")]
    path: String,
    /// Play the file once, then end the stream (default: loop for ever).
    #[arg(long)]
    once: bool,
    /// Playback speed: 0.5 plays the file at half speed (its timestamps stretched), as if
    /// everything in it moved half as fast.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtsp-serve: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &Args) -> Result<(), String> {
    gst::init().map_err(|e| format!("GStreamer: {e}"))?;
    if !args.file.is_file() {
        return Err(format!("{}: not a file", args.file.display()));
    }
    // The caps of the parsed stream: the served appsrc announces them (SDP) before any data.
    let caps = {
        let reader = Reader::open(&args.file)?;
        let caps = reader.caps()?;
        reader.close();
        caps
    };
    let server = gst_rtsp_server::RTSPServer::new();
    server.set_address(&args.address);
    server.set_service(&args.port.to_string());
    let mounts = server
        .mount_points()
        .ok_or("the RTSP server has no mount points")?;
    let factory = gst_rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(
        "( appsrc name=src is-live=true format=time block=true max-bytes=4000000 \
         ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )",
    );
    factory.set_shared(false);
    if !(args.speed > 0.01 && args.speed <= 100.0) {
        return Err(format!(
            "--speed {}: must be above 0.01 and at most 100",
            args.speed
        ));
    }
    let file = Arc::new(args.file.clone());
    let looped = !args.once;
    let stretch = 1.0 / args.speed;
    factory.connect_media_configure(move |_, media| {
        let Some(appsrc) = media
            .element()
            .downcast_ref::<gst::Bin>()
            .and_then(|b| b.by_name("src"))
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        else {
            eprintln!("rtsp-serve: the media has no appsrc");
            return;
        };
        appsrc.set_caps(Some(&caps));
        let file = file.clone();
        let spawned = std::thread::Builder::new()
            .name("feeder".into())
            .spawn(move || {
                if let Err(e) = feed(&file, &appsrc, looped, stretch) {
                    eprintln!("rtsp-serve: {e}");
                }
            });
        if let Err(e) = spawned {
            eprintln!("rtsp-serve: cannot start the feeder: {e}");
        }
    });
    mounts.add_factory(&args.path, factory);
    let main_loop = gst::glib::MainLoop::new(None, false);
    server
        .attach(None)
        .map_err(|e| format!("cannot listen on {}:{}: {e}", args.address, args.port))?;
    println!(
        "rtsp://{}:{}{}",
        args.address,
        server.bound_port(),
        args.path
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    main_loop.run();
    Ok(())
}

/// Pushes the file's access units into the served `appsrc` until the media goes away (the last
/// client left: the push fails) or, with `looped` false, the file ends. Timestamps are
/// multiplied by `stretch` (1 / speed).
fn feed(file: &Path, appsrc: &gst_app::AppSrc, looped: bool, stretch: f64) -> Result<(), String> {
    let scale = |t: u64| (t as f64 * stretch) as u64;
    let mut offset: u64 = 0;
    loop {
        let reader = Reader::open(file)?;
        let mut end = offset;
        let mut frame = 40_000_000u64; // 25 fps until the stream says otherwise
        while let Ok(sample) = reader.sink.pull_sample() {
            let Some(buffer) = sample.buffer() else {
                continue;
            };
            let mut out = buffer.copy();
            {
                let Some(b) = out.get_mut() else { continue };
                let pts = b.pts().map(|t| scale(t.nseconds()));
                let dts = b.dts().map(|t| scale(t.nseconds()));
                if let Some(d) = b.duration() {
                    frame = scale(d.nseconds()).max(1);
                    b.set_duration(gst::ClockTime::from_nseconds(frame));
                }
                b.set_pts(pts.map(|t| gst::ClockTime::from_nseconds(t + offset)));
                b.set_dts(dts.map(|t| gst::ClockTime::from_nseconds(t + offset)));
                end = end.max(pts.or(dts).unwrap_or(0) + offset + frame);
            }
            if appsrc.push_buffer(out).is_err() {
                reader.close();
                return Ok(()); // the media was shut down: no client left
            }
        }
        reader.close();
        if !looped {
            let _ = appsrc.end_of_stream();
            return Ok(());
        }
        offset = end;
    }
}

/// `filesrc ! parsebin ! h264parse ! appsink`: the file's H.264 access units in byte-stream
/// form with their timestamps, pulled as fast as they are asked for.
struct Reader {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
}

impl Reader {
    fn open(file: &Path) -> Result<Reader, String> {
        let desc = format!(
            "filesrc location=\"{}\" ! parsebin ! h264parse config-interval=-1 \
             ! video/x-h264,stream-format=byte-stream,alignment=au \
             ! appsink name=sink sync=false max-buffers=16",
            file.display().to_string().replace('"', "\\\"")
        );
        let pipeline = gst::parse::launch(&desc)
            .map_err(|e| format!("{}: {e}", file.display()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline".to_string())?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or("no appsink")?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("{}: cannot start reading: {e}", file.display()))?;
        Ok(Reader { pipeline, sink })
    }

    /// The caps of the parsed stream (waits for the first access unit).
    fn caps(&self) -> Result<gst::Caps, String> {
        let sample = self
            .sink
            .try_pull_sample(gst::ClockTime::from_seconds(10))
            .ok_or("no H.264 video in the file within 10 s")?;
        sample
            .caps()
            .map(|c| c.to_owned())
            .ok_or_else(|| "the stream has no caps".to_string())
    }

    fn close(self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
