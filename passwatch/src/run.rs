//! `passwatch run`: every camera of a site in one process, live, until stopped.
//!
//! ```text
//! passwatch run --site SITE.toml --out DIR [--registry DB | --passes FILE] [--http 127.0.0.1:8080]
//!     [--camera ID]... [--analyse-fps 5] [--workers 1] [--watchdog 5] [--watchdog-for ID=SECS]...
//!     [--first-frame-timeout 10] [--backoff-min 0.5] [--backoff-max 30] [--failing-after 3]
//!     [--rtsp-latency-ms 200] [--registry-poll 1] [--shutdown-timeout 20] [model options]
//! ```
//!
//! Each camera of the site (or each `--camera`) needs a `source` (see [`passwatch_pipeline::live::source`]:
//! `rtsp://…`, `file://…[?loop=1]`, or a GStreamer launch description). Events go to
//! `DIR/events.jsonl`, `DIR/journal.db` and `DIR/evidence/`, exactly as `replay` writes them,
//! and one line per event is printed on stdout. The first line on stdout is
//! `listening on http://ADDRESS` (with `--http 127.0.0.1:0`, the port the system chose).
//!
//! This module only wires the parts of [`passwatch_pipeline::live`] together; design/live.md explains them.

use crate::shutdown;
use anyhow::{Context, Result};
use clap::Args;
use passwatch_events::{Journal, JsonlSink};
use passwatch_models::ModelCache;
use passwatch_pipeline::engine::{Models, DEFAULT_PLATE_ANALYSE_FPS};
use passwatch_pipeline::live::camera::{BackoffPolicy, CameraConfig, CameraSupervisor, FrameSink};
use passwatch_pipeline::live::metrics::{CameraMetrics, Metrics};
use passwatch_pipeline::live::queue::{FrameBoard, LiveFrame, SessionId};
use passwatch_pipeline::live::snapshots::{RegistryWatcher, SnapshotCell, Snapshots};
use passwatch_pipeline::live::source::{GstSourceFactory, SourceOptions, SourceSpec};
use passwatch_pipeline::live::workers::{run_worker, CameraInfo, EventOutput, Shared};
use passwatch_pipeline::live::{Clocks, RealClocks, Stop};
use passwatch_pipeline::options::{default_registry, face_threshold, load_face_matcher, ModelArgs};
use passwatch_pipeline::track::TrackerConfig;
use passwatch_plate_reader::reader::ReaderConfig;
use passwatch_registry::import::read_passes_file;
use passwatch_registry::site::{Analysis, Site, MAX_ANALYSE_FPS};
use passwatch_registry::{PassSnapshot, Registry, WatchlistSnapshot};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Options of `passwatch run`.
#[derive(Args, Clone)]
pub struct RunArgs {
    /// The site config: cameras (each with its `source`), zones, restriction schedules.
    #[arg(long)]
    pub site: PathBuf,
    /// Output folder: events.jsonl, journal.db, evidence/.
    #[arg(long)]
    pub out: PathBuf,
    /// The registry database; its changes (imports, enrolments) are picked up within
    /// --registry-poll seconds, without a restart.
    #[arg(long, env = "PASSWATCH_REGISTRY", default_value_os_t = default_registry())]
    pub registry: PathBuf,
    /// Decide against this passes file (CSV or JSON) as registry version 1 instead of a
    /// registry database; it is not watched, and the watchlist is empty.
    #[arg(long)]
    pub passes: Option<PathBuf>,
    /// Address of the HTTP surface: /healthz, /metrics, /api/cameras and the review API (as
    /// `passwatch serve` over --out), loopback only; port 0 picks one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: String,
    /// Run only these cameras of the site (repeatable). Default: all.
    #[arg(long = "camera")]
    pub cameras: Vec<String>,
    /// Frames per second of media time to analyse, for cameras without `analyse_fps`.
    #[arg(long, default_value_t = DEFAULT_PLATE_ANALYSE_FPS)]
    pub analyse_fps: f64,
    /// Inference workers, each with its own models and --threads threads per model. Default:
    /// one per camera up to one per core, and then --threads is the budget they share (on 2
    /// cores with 4 cameras: 2 workers × 1 thread, 29% more analysed frames than 1 × 2,
    /// design/live.md).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Seconds without a frame after which a camera's source is torn down and restarted.
    #[arg(long, default_value_t = 5.0)]
    pub watchdog: f64,
    /// The watchdog of one camera, as ID=SECONDS (repeatable).
    #[arg(long = "watchdog-for", value_parser = parse_camera_seconds)]
    pub watchdog_for: Vec<(String, f64)>,
    /// Seconds a new session may take to give its first frame (connecting, first key frame).
    #[arg(long, default_value_t = 10.0)]
    pub first_frame_timeout: f64,
    /// First wait after a fault, in seconds; it doubles with each fault in a row.
    #[arg(long, default_value_t = 0.5)]
    pub backoff_min: f64,
    /// Longest wait between attempts, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub backoff_max: f64,
    /// Faults in a row after which a camera is reported failing.
    #[arg(long, default_value_t = 3)]
    pub failing_after: u32,
    /// Jitter-buffer latency of RTSP sources, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub rtsp_latency_ms: u32,
    /// Seconds between two looks at the registry's version.
    #[arg(long, default_value_t = 1.0)]
    pub registry_poll: f64,
    /// Seconds the orderly stop after SIGINT/SIGTERM may take before the process exits anyway.
    #[arg(long, default_value_t = 20.0)]
    pub shutdown_timeout: f64,
    /// Model and inference settings.
    #[command(flatten)]
    pub models: ModelArgs,
}

/// Workers and threads per worker's session. Given `--workers`, `--threads` is per worker.
/// Without it: a worker per camera up to one per core, sharing `--threads` (default all
/// cores) between them: independent single-threaded sessions never wait for each other's
/// slowest thread, where one session's threads wait at every operator for the slowest.
fn worker_plan(workers: Option<usize>, cameras: usize, threads: usize) -> (usize, usize) {
    let threads = threads.max(1);
    match workers {
        Some(w) => (w, threads),
        None => {
            let w = cameras.clamp(1, threads);
            (w, (threads / w).max(1))
        }
    }
}

fn parse_camera_seconds(text: &str) -> Result<(String, f64), String> {
    let (id, secs) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected CAMERA=SECONDS"))?;
    let secs: f64 = secs
        .parse()
        .map_err(|_| format!("{text:?}: {secs:?} is not a number of seconds"))?;
    Ok((id.to_string(), secs))
}

fn seconds(name: &str, value: f64) -> Result<Duration> {
    anyhow::ensure!(
        value.is_finite() && value > 0.0 && value <= 86_400.0,
        "--{name} {value}: must be above 0 and at most a day"
    );
    Ok(Duration::from_secs_f64(value))
}

/// One camera, checked and ready to start.
struct Planned {
    config: CameraConfig,
    options: SourceOptions,
    info: CameraInfo,
    zone: String,
}

/// Checks the site's cameras against the arguments; every problem is reported at once.
fn plan_cameras(site: &Site, args: &RunArgs) -> Result<Vec<Planned>> {
    let mut problems = Vec::new();
    for id in &args.cameras {
        if site.camera(id).is_none() {
            problems.push(format!("--camera {id}: not a camera of the site"));
        }
    }
    for (id, _) in &args.watchdog_for {
        if site.camera(id).is_none() {
            problems.push(format!("--watchdog-for {id}: not a camera of the site"));
        }
    }
    let backoff = BackoffPolicy {
        initial: seconds("backoff-min", args.backoff_min)?,
        max: seconds("backoff-max", args.backoff_max)?,
        ..BackoffPolicy::default()
    };
    anyhow::ensure!(
        backoff.initial <= backoff.max,
        "--backoff-min {} is above --backoff-max {}",
        args.backoff_min,
        args.backoff_max
    );
    anyhow::ensure!(
        args.failing_after >= 1,
        "--failing-after must be at least 1"
    );
    let mut planned = Vec::new();
    for cam in &site.cameras {
        if !args.cameras.is_empty() && !args.cameras.contains(&cam.id) {
            continue;
        }
        let Some(text) = &cam.source else {
            problems.push(format!(
                "camera {}: no source in the site config (run needs one per camera; --camera \
                 chooses which to run)",
                cam.id
            ));
            continue;
        };
        let spec = match SourceSpec::parse(text).and_then(|s| s.check().map(|_| s)) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("camera {}: source: {e}", cam.id));
                continue;
            }
        };
        if cam.runs(Analysis::Qr) && !cam.runs(Analysis::Plates) && !cam.runs(Analysis::Faces) {
            problems.push(format!(
                "camera {}: runs only qr, which is not built yet",
                cam.id
            ));
            continue;
        }
        let watchdog = args
            .watchdog_for
            .iter()
            .rev()
            .find(|(id, _)| *id == cam.id)
            .map_or(args.watchdog, |(_, s)| *s);
        let mut config = CameraConfig::new(&cam.id, spec.clone());
        config.watchdog = seconds("watchdog", watchdog)?;
        config.first_frame_timeout = seconds("first-frame-timeout", args.first_frame_timeout)?;
        config.backoff = backoff.clone();
        config.failing_after = args.failing_after;
        let analyse_fps = cam.analyse_fps.unwrap_or(args.analyse_fps);
        planned.push(Planned {
            info: CameraInfo {
                id: cam.id.clone(),
                source: spec.display(),
                plates: cam.runs(Analysis::Plates),
                faces: cam.runs(Analysis::Faces),
            },
            config,
            options: SourceOptions {
                analyse_fps,
                latency_ms: args.rtsp_latency_ms,
            },
            zone: cam.zone.clone(),
        });
    }
    if !problems.is_empty() {
        anyhow::bail!(
            "{}: {} problem{}:\n  {}",
            args.site.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n  ")
        );
    }
    anyhow::ensure!(
        !planned.is_empty(),
        "{}: no camera to run",
        args.site.display()
    );
    Ok(planned)
}

/// The frames of camera `camera` go to the board.
struct BoardSink {
    board: Arc<FrameBoard>,
    camera: usize,
}

impl FrameSink for BoardSink {
    fn frame(&self, frame: LiveFrame) -> bool {
        self.board.put(self.camera, frame)
    }
    fn end_session(&self, session: SessionId) {
        self.board.end_session(self.camera, session);
    }
}

/// The control thread: a tokio runtime serving HTTP and watching signals.
struct Control {
    address: SocketAddr,
    stop_http: Stop,
    thread: JoinHandle<()>,
}

fn start_control(address: &str, state: passwatch_server::AppState, stop: Stop) -> Result<Control> {
    let (tx, rx) = std::sync::mpsc::channel::<std::io::Result<SocketAddr>>();
    let stop_http = Stop::new();
    let until = stop_http.clone();
    let wanted = address.to_string();
    let thread = std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                tokio::spawn(shutdown::watch_signals(stop));
                let listener = match tokio::net::TcpListener::bind(&wanted).await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let _ = tx.send(listener.local_addr());
                let shutdown = async move {
                    let _ = tokio::task::spawn_blocking(move || until.wait()).await;
                };
                if let Err(e) = crate::http::serve(listener, state, shutdown).await {
                    tracing::error!(error = %e, "the HTTP server stopped");
                }
            });
        })
        .context("cannot start the control thread")?;
    let bound = rx
        .recv()
        .context("the control thread ended before listening")?
        .with_context(|| format!("--http {address}: cannot listen"))?;
    Ok(Control {
        address: bound,
        stop_http,
        thread,
    })
}

/// How often the site's retention is applied.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Applies the site's `[retention]` to the run's data folder at start and then hourly, under
/// the event output's lock, each purge written to the audit log by `system` (counts only).
fn start_hourly_purge(site: &Site, shared: Arc<Shared>, stop: Stop) -> Result<()> {
    let policy = passwatch_events::retention::RetentionPolicy::from(&site.retention);
    if policy.keeps_forever() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("purge".into())
        .spawn(move || loop {
            let now = chrono::Utc::now();
            let report = shared
                .events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .purge(&policy, now);
            match report {
                Ok(report) => {
                    let mut record =
                        passwatch_events::audit::AuditRecord::new("system", "purge", None);
                    record.via = Some("run".to_owned());
                    record.detail = serde_json::json!({ "report": report });
                    let logged =
                        passwatch_events::audit::AuditLog::open(shared.out_dir.join("audit.db"))
                            .and_then(|mut log| log.append(&[record], now));
                    if let Err(e) = logged {
                        tracing::error!(error = %e, "the purge is not in the audit log");
                    }
                    tracing::info!(?report, "retention applied");
                }
                Err(e) => tracing::error!(error = %e, "the retention purge failed"),
            }
            if stop.wait_timeout(PURGE_EVERY) {
                return;
            }
        })
        .context("cannot start the purge thread")?;
    Ok(())
}

/// Runs the cameras until SIGINT/SIGTERM; exit status 0 after an orderly stop.
pub fn run(args: RunArgs) -> Result<ExitCode> {
    let site = Arc::new(Site::load(&args.site)?);
    anyhow::ensure!(
        args.analyse_fps > 0.0 && args.analyse_fps <= MAX_ANALYSE_FPS,
        "--analyse-fps {}: must be above 0 and at most {MAX_ANALYSE_FPS}",
        args.analyse_fps
    );
    if let Some(w) = args.workers {
        anyhow::ensure!((1..=64).contains(&w), "--workers {w}: must be 1 to 64");
    }
    let poll = seconds("registry-poll", args.registry_poll)?;
    let bound = seconds("shutdown-timeout", args.shutdown_timeout)?;
    let planned = plan_cameras(&site, &args)?;
    let any_plates = planned.iter().any(|p| p.info.plates);
    let any_faces = planned.iter().any(|p| p.info.faces);
    if args.passes.is_none() {
        anyhow::ensure!(
            args.registry.exists(),
            "{}: no registry there; import passes first or give --passes FILE",
            args.registry.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create the output folder", args.out.display()))?;
    // The folder's writer lock, for the run's life: a second writer is refused, and a purge by
    // another process leaves events.jsonl to this one. Lines a purge left to compact go first.
    let writer = passwatch_events::retention::lock_writer(&args.out)
        .with_context(|| format!("--out {}: another process writes there", args.out.display()))?;
    let journal = Journal::open(args.out.join("journal.db"))?;
    passwatch_events::retention::compact_pending(&writer)?;
    let jsonl = JsonlSink::open(args.out.join("events.jsonl"))?;

    let clocks: Arc<dyn Clocks> = Arc::new(RealClocks::new());
    let stop = Stop::new();
    let cameras: Vec<Arc<CameraMetrics>> = planned
        .iter()
        .map(|p| {
            Arc::new(CameraMetrics::new(
                &p.info.id,
                &p.zone,
                &p.info.source,
                p.options.analyse_fps,
            ))
        })
        .collect();
    let metrics = Arc::new(Metrics::new(cameras, clocks.clone()));
    // Signals and the operator's surface first: a stop during model loading is orderly too.
    let api = crate::http::state(&args.out, &args.registry, &site.retention, metrics.clone())
        .with_context(|| format!("--out {}: the review API's stores", args.out.display()))?;
    let control = start_control(&args.http, api, stop.clone())?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{}", control.address);
        let _ = out.flush();
    }
    tracing::info!(address = %control.address, cameras = planned.len(), "passwatch run started");

    // Models, one set per worker.
    let mut model_args = args.models.clone();
    let (n_workers, threads) = worker_plan(args.workers, planned.len(), model_args.threads);
    model_args.threads = threads;
    if model_args.regions.is_none() {
        model_args.regions = Some(site.plates.regions.clone());
    }
    let regions = model_args.regions.clone().unwrap_or_default();
    let options = model_args.session_options();
    let threshold = if any_faces {
        Some(face_threshold(&site)?)
    } else {
        None
    };
    let mut worker_models = Vec::with_capacity(n_workers);
    let t0 = Instant::now();
    for _ in 0..n_workers {
        worker_models.push(Models {
            plates: if any_plates {
                Some(model_args.reader(ReaderConfig::default().min_len)?)
            } else {
                None
            },
            faces: if any_faces {
                Some(load_face_matcher(&options)?)
            } else {
                None
            },
            privacy: passwatch_face_matcher::FaceDetector::load(
                &ModelCache::from_env(),
                &options,
                Default::default(),
            )
            .context("cannot load the face detector that blurs faces in evidence")?,
        });
    }
    tracing::info!(
        workers = n_workers,
        threads,
        load_ms = t0.elapsed().as_millis() as u64,
        "models loaded"
    );
    let face_model = worker_models
        .first()
        .and_then(|m| m.faces.as_ref())
        .map(|f| f.embedder_model_id().to_string());

    // The registry.
    let first = match &args.passes {
        Some(file) => Snapshots {
            passes: PassSnapshot::from_passes(1, read_passes_file(file)?),
            watchlist: face_model.as_deref().map(WatchlistSnapshot::empty),
        },
        None => Snapshots::load(&Registry::open(&args.registry)?, face_model.as_deref())
            .with_context(|| format!("{}: cannot read the registry", args.registry.display()))?,
    };
    RegistryWatcher::publish(&metrics, &first);
    tracing::info!(
        version = first.version(),
        passes = first.passes.len(),
        "registry loaded"
    );
    let cell = Arc::new(SnapshotCell::new(first));

    let board = Arc::new(FrameBoard::new(planned.len()));
    let mut shared = Shared::new(
        site.clone(),
        planned.iter().map(|p| p.info.clone()).collect(),
        board.clone(),
        cell.clone(),
        EventOutput {
            jsonl,
            journal,
            writer,
        },
        metrics.clone(),
        clocks.clone(),
        threshold,
        regions,
        args.out.clone(),
    );
    shared.tracker = TrackerConfig {
        schedule: model_args.plate_schedule(),
        ..TrackerConfig::default()
    };
    let shared = Arc::new(shared);

    start_hourly_purge(&site, shared.clone(), stop.clone())?;

    let done = Stop::new();
    shutdown::enforce_bound(stop.clone(), done.clone(), bound)
        .context("cannot start the shutdown bound")?;

    let mut workers = Vec::new();
    for (n, models) in worker_models.into_iter().enumerate() {
        let shared = shared.clone();
        workers.push(
            std::thread::Builder::new()
                .name(format!("infer-{n}"))
                .spawn(move || run_worker(shared, models))
                .context("cannot start an inference worker")?,
        );
    }
    let watcher = match &args.passes {
        Some(_) => None,
        None => {
            let w = RegistryWatcher {
                path: args.registry.clone(),
                face_model,
                cell,
                metrics: metrics.clone(),
                every: poll,
                clocks: clocks.clone(),
                stop: stop.clone(),
            };
            Some(
                std::thread::Builder::new()
                    .name("registry".into())
                    .spawn(move || w.run())
                    .context("cannot start the registry watcher")?,
            )
        }
    };
    let mut camera_threads = Vec::new();
    for (i, p) in planned.into_iter().enumerate() {
        let id = p.config.id.clone();
        tracing::info!(camera = %id, source = %p.info.source, analyse_fps = p.options.analyse_fps,
            watchdog_s = p.config.watchdog.as_secs_f64(), "camera starting");
        let factory = GstSourceFactory::new(p.config.source.clone(), p.options.clone());
        let supervisor = CameraSupervisor::new(
            p.config,
            Box::new(factory),
            Arc::new(BoardSink {
                board: board.clone(),
                camera: i,
            }),
            metrics.cameras[i].clone(),
            clocks.clone(),
            stop.clone(),
        );
        let name: String = format!("cam:{id}").chars().take(15).collect();
        camera_threads.push(
            std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    let span = tracing::info_span!("camera", camera = %id);
                    let _enter = span.enter();
                    supervisor.run();
                })
                .context("cannot start a camera thread")?,
        );
    }

    stop.wait();
    let stopping = Instant::now();
    // Frames in analysis are finished; those still waiting are not started (counted dropped).
    for camera in board.discard_waiting() {
        metrics.cameras[camera].dropped_in_queue();
    }
    for t in camera_threads {
        let _ = t.join();
    }
    // Every camera has announced the end of its last session: the workers close the open
    // tracks, then find the board empty and end.
    board.close();
    for w in workers {
        let _ = w.join();
    }
    if let Some(w) = watcher {
        let _ = w.join();
    }
    shared.flush()?;
    done.trigger();
    let statuses = metrics.camera_statuses();
    let events: u64 = statuses.iter().map(|s| s.events).sum();
    tracing::info!(
        stop_ms = stopping.elapsed().as_millis() as u64,
        events,
        events_in_file = shared.events_in_file(),
        "stopped"
    );
    for s in &statuses {
        eprintln!(
            "camera {}: {} frames in, {} analysed, {} dropped, {} reconnects, {} sightings, {} events{}",
            s.id,
            s.frames_in,
            s.frames_analysed,
            s.frames_dropped,
            s.reconnects,
            s.sightings,
            s.events,
            s.last_error
                .as_deref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        );
    }
    // The HTTP server stops with the process; it is not waited for (a client holding a
    // connection open must not hold the exit).
    control.stop_http.trigger();
    drop(control.thread);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::worker_plan;

    #[test]
    fn workers_default_to_one_per_camera_up_to_the_thread_budget() {
        // 2 cores, 4 cameras: two single-threaded workers.
        assert_eq!(worker_plan(None, 4, 2), (2, 1));
        // One camera keeps every thread in one worker.
        assert_eq!(worker_plan(None, 1, 2), (1, 2));
        // 16 cores, 4 cameras: four workers of four threads.
        assert_eq!(worker_plan(None, 4, 16), (4, 4));
        // Given workers, --threads is per worker.
        assert_eq!(worker_plan(Some(1), 4, 2), (1, 2));
        assert_eq!(worker_plan(Some(3), 4, 1), (3, 1));
    }
}
