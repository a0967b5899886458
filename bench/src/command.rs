//! `passwatch bench`: throughput of the real pipeline on N concurrent streams of a file, next to
//! its own limits and, on request, a reference implementation — all measured in one run, on one
//! machine, with the machine written down beside the figures.
//!
//! One invocation, in this order:
//!
//! 1. **decode only** ([`limits::decode_only`]): N concurrent decoders, the same GStreamer path
//!    as the pipeline (`Ingest`), no conversion, no analysis;
//! 2. **the pipeline** ([`streams::run_streams`]): N streams, each with its own decode thread
//!    and trackers, the models in inference workers, the decisions taken against a registry
//!    and a watchlist of realistic size ([`synthetic`]); per-stage latencies per analysed frame;
//! 3. optionally a **sweep** over other stream counts and the **search** for the most streams
//!    held at real time ([`analysis::find_max_streams`]);
//! 4. **inference only** ([`limits::measure_models`]): each model's sessions in a tight loop on
//!    tensors made from frames kept from step 2 (and the plate boxes, crops and faces found in
//!    them);
//! 5. the **limit** and the **verdict** ([`analysis`]);
//! 6. optionally the **reference** ([`mod@reference`]) on the same file with the same threads, and
//!    passwatch again on exactly the frames it analysed, with the reads compared.
//!
//! Output: a table on the terminal ([`report::table`]), or one JSON object (`--json`), and with
//! `--report DIR` a markdown report and an SVG chart ([`report::markdown`], [`report::svg`]).

use crate::analysis::{MaxStreams, Trial};
use crate::figures::{BenchReport, CpuShare, Settings, SweepPoint, VideoInfo, KEPT_FRAMES};
use crate::limits::InputPlan;
use crate::machine::{self, Machine};
use crate::reference::Comparison;
use crate::streams::{StreamsConfig, StreamsRun, World};
use crate::{analysis, limits, reference, report, streams, synthetic};
use anyhow::{bail, Context, Result};
use passwatch_models::{ExecutionProvider, ModelCache, ModelManifest, Role, SessionOptions};
use passwatch_pipeline::engine::Models;
use passwatch_pipeline::ingest::{FrameSelection, Ingest, IngestMessage};
use passwatch_pipeline::options::ModelArgs;
use passwatch_plate_reader::detect::DetectorKind;
use passwatch_plate_reader::reader::{load_reader, ReaderConfig};
use passwatch_rules::FaceThreshold;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `passwatch bench` options.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// The video file every stream plays (looped when the run outlasts it).
    #[arg(long)]
    pub input: PathBuf,
    /// Concurrent streams of the file.
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Frames per second of media time each stream analyses.
    #[arg(long, default_value_t = passwatch_pipeline::engine::DEFAULT_PLATE_ANALYSE_FPS)]
    pub analyse_fps: f64,
    /// Wall seconds each pipeline run (and each trial of --find-max-streams) lasts. Decode-only
    /// runs for a quarter of it (at least 2 s), each model's inference-only loop for an eighth
    /// (at least 1.5 s).
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// What the streams analyse: plates, faces, or both (comma-separated). Default: plates, and
    /// faces too when the face models are in the cache.
    #[arg(long, value_delimiter = ',')]
    pub analyses: Option<Vec<String>>,
    /// Inference workers, each owning its models (all streams share them).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Fail instead of falling back to the CPU when --provider cannot be used.
    #[arg(long)]
    pub require_provider: bool,
    /// Also run the pipeline at these stream counts (for the chart against N).
    #[arg(long, value_delimiter = ',')]
    pub sweep: Vec<usize>,
    /// Search the most streams held at real time at --analyse-fps (every stream's analysed
    /// frames/s at least 0.95 × the rate): N doubles from 1, then bisects.
    #[arg(long)]
    pub find_max_streams: bool,
    /// Upper bound of the search.
    #[arg(long, default_value_t = 64)]
    pub max_streams: usize,
    /// Passes in the synthetic registry the sightings are decided against.
    #[arg(long, default_value_t = 100_000)]
    pub registry_size: usize,
    /// Subjects in the synthetic watchlist faces are searched in.
    #[arg(long, default_value_t = 1_000)]
    pub watchlist_size: usize,
    /// Run the reference pipeline (bench/reference) on the same file and threads, and compare.
    #[arg(long)]
    pub compare_reference: bool,
    /// The reference's Python (default: the venv scripts/setup makes in the cache).
    #[arg(long)]
    pub reference_python: Option<PathBuf>,
    /// The reference script (default: bench/reference/plate_reference.py of the sources).
    #[arg(long)]
    pub reference_script: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write report.md, chart.svg and bench.json into this folder.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Model and inference settings (--threads is per worker).
    #[command(flatten)]
    pub models: ModelArgs,
}

/// Runs `passwatch bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let report = run_report(&args)?;
    if let Some(dir) = &args.report {
        report::write_report(&report, dir)?;
        eprintln!("report: {}", dir.join("report.md").display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report::table(&report));
    }
    Ok(())
}

/// What a run needs to load: which analyses, with which options.
struct Plan {
    detector: DetectorKind,
    plates: bool,
    faces: bool,
    options: SessionOptions,
    regions: Vec<String>,
    config: ReaderConfig,
}

fn plan(args: &BenchArgs) -> Result<Plan> {
    let cache = ModelCache::from_env();
    let face_models_present = [Role::FaceDetector, Role::FaceEmbedder].iter().all(|r| {
        ModelManifest::builtin_for(*r)
            .ok()
            .is_some_and(|m| cache.verified_model(&m).is_ok())
    });
    let (plates, faces) = match &args.analyses {
        None => (true, face_models_present),
        Some(list) => {
            let mut p = false;
            let mut f = false;
            for a in list {
                match a.trim() {
                    "plates" => p = true,
                    "faces" => f = true,
                    other => bail!("--analyses: unknown analysis {other:?} (plates, faces)"),
                }
            }
            (p, f)
        }
    };
    if !plates && !faces {
        bail!("--analyses: nothing to analyse");
    }
    if faces && !face_models_present {
        bail!("--analyses faces: the face models are not in the cache (run scripts/setup)");
    }
    let options = SessionOptions {
        require_provider: args.require_provider,
        ..args.models.session_options()
    };
    let regions = args
        .models
        .regions
        .clone()
        .unwrap_or_else(|| ReaderConfig::default().regions);
    let config = ReaderConfig {
        regions: regions.clone(),
        refine_lines: !args.models.no_refine,
        platedet_canvas: args.models.platedet_canvas,
        ..ReaderConfig::default()
    };
    Ok(Plan {
        detector: args.models.detector,
        plates,
        faces,
        options,
        regions,
        config,
    })
}

fn load_worker(plan: &Plan) -> Result<Models> {
    let cache = ModelCache::from_env();
    let plates = if plan.plates {
        Some(
            load_reader(plan.detector, &cache, &plan.options, plan.config.clone())
                .context("cannot load the plate models")?,
        )
    } else {
        None
    };
    let faces = if plan.faces {
        Some(passwatch_pipeline::options::load_face_matcher(
            &plan.options,
        )?)
    } else {
        None
    };
    let privacy =
        passwatch_face_matcher::FaceDetector::load(&cache, &plan.options, Default::default())
            .context("cannot load the face detector that blurs faces in evidence")?;
    Ok(Models {
        plates,
        faces,
        privacy,
    })
}

/// Runs everything `args` asks for and returns the figures.
pub fn run_report(args: &BenchArgs) -> Result<BenchReport> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    anyhow::ensure!(args.streams >= 1, "--streams must be at least 1");
    anyhow::ensure!(args.workers >= 1, "--workers must be at least 1");
    anyhow::ensure!(
        args.analyse_fps > 0.0 && args.analyse_fps.is_finite(),
        "--analyse-fps must be positive"
    );
    anyhow::ensure!(
        args.duration > 0.0 && args.duration.is_finite(),
        "--duration must be positive"
    );
    let mut machine = Machine::probe();
    let plan = plan(args)?;
    machine.provider = plan.options.provider.to_string();
    machine.require_provider = plan.options.require_provider;

    // The file: its properties and one frame to warm the workers up with.
    let (video, warm_frame) = probe_video(&args.input, args.analyse_fps)?;

    let mut workers = Vec::new();
    for _ in 0..args.workers {
        workers.push(load_worker(&plan)?);
    }
    for w in &mut workers {
        // The first run of each session pays for allocations and kernel choices.
        if let Some(r) = w.plates.as_mut() {
            r.read_frame(&warm_frame).context("warm-up")?;
        }
        if let Some(f) = w.faces.as_mut() {
            f.faces_in_frame(&warm_frame).context("warm-up")?;
        }
    }

    let world = build_world(args, &plan)?;
    let duration = Duration::from_secs_f64(args.duration);

    // 1. Decoding alone.
    let decode_budget = Duration::from_secs_f64((args.duration / 4.0).max(2.0));
    let decode_only = limits::decode_only(&args.input, args.streams, decode_budget)?;

    // 2. The pipeline.
    let cfg = StreamsConfig {
        input: args.input.clone(),
        streams: args.streams,
        analyse_fps: args.analyse_fps,
        duration: Some(duration),
        max_analysed: None,
        record_reads: false,
        keep_frames: KEPT_FRAMES,
        schedule: args.models.plate_schedule(),
    };
    let main_run = streams::run_streams(&cfg, &world, &mut workers)?;
    let mut points = vec![sweep_point(&main_run, args.analyse_fps)];

    // 3. Other stream counts.
    for &n in &args.sweep {
        if n == 0 || points.iter().any(|p| p.streams == n) {
            continue;
        }
        let cfg = StreamsConfig {
            streams: n,
            keep_frames: 0,
            ..cfg.clone()
        };
        let run = streams::run_streams(&cfg, &world, &mut workers)?;
        points.push(sweep_point(&run, args.analyse_fps));
    }
    let max_streams = if args.find_max_streams {
        let (streams, capped, trials) = analysis::find_max_streams(args.max_streams, |n| {
            let cfg = StreamsConfig {
                streams: n,
                keep_frames: 0,
                ..cfg.clone()
            };
            let result = streams::run_streams(&cfg, &world, &mut workers);
            match result {
                Ok(run) => {
                    let p = sweep_point(&run, args.analyse_fps);
                    if !points.iter().any(|q| q.streams == n) {
                        points.push(p.clone());
                    }
                    eprintln!(
                        "  {n} streams: slowest {:.2} analysed/s ({})",
                        p.min_stream_analysed_fps,
                        if p.held { "held" } else { "not held" }
                    );
                    Ok(Trial {
                        streams: n,
                        min_stream_analysed_fps: run.min_stream_analysed_fps,
                        analysed_fps: run.analysed_fps,
                        held: p.held,
                    })
                }
                Err(e) => Err(e),
            }
        })?;
        Some(MaxStreams {
            analyse_fps: args.analyse_fps,
            streams,
            capped,
            trials,
        })
    } else {
        None
    };
    points.sort_by_key(|p| p.streams);

    // 4. Each model alone.
    let analysed = main_run.analysed.max(1) as f64;
    let input_plan = InputPlan {
        detector_share: main_run.work.detector_frames as f64 / analysed,
        detector: args.models.detector,
        refine: !args.models.no_refine,
        platedet_canvas: args.models.platedet_canvas,
        faces: plan.faces,
        crops_per_frame: main_run.work.crops as f64 / analysed,
        faces_per_frame: main_run.work.faces as f64 / analysed,
    };
    let jobs = limits::prepare_inputs(&main_run.kept_frames, &mut workers[0], &input_plan)?;
    let model_budget = Duration::from_secs_f64((args.duration / 8.0).max(1.5));
    let models = limits::measure_models(&jobs, args.workers, &plan.options, model_budget)?;
    machine.provider_used = models
        .first()
        .map_or_else(|| machine.provider.clone(), |m| m.provider.clone());

    // 5. The limit and the verdict.
    let decoded_per_analysed = main_run.decoded as f64 / analysed;
    let inference_ms: f64 = models.iter().map(|m| m.ms_per_frame).sum();
    let hardware_decode = machine.h264_decoder.contains("hardware");
    let shared = machine.provider_used == ExecutionProvider::Cpu.to_string() && !hardware_decode;
    let limit = analysis::limit(decode_only.fps, decoded_per_analysed, inference_ms, shared);
    let per_model: Vec<(String, f64)> = models
        .iter()
        .map(|m| (format!("{} ({})", m.model, m.stage), m.ms_per_frame))
        .collect();
    let verdict = analysis::verdict(&limit, &per_model);
    let pipeline_cpu = main_run.cpu_s * 1e3 / analysed;
    let limit_cpu = decode_only.cpu_ms_per_frame * decoded_per_analysed
        + models
            .iter()
            .map(|m| m.cpu_ms_per_item * m.items_per_frame)
            .sum::<f64>();
    let cpu = CpuShare {
        pipeline_ms_per_analysed: pipeline_cpu,
        limit_ms_per_analysed: limit_cpu,
        share: analysis::share(limit_cpu, pipeline_cpu),
        cores_bound_fps: if pipeline_cpu > 0.0 {
            machine.cores as f64 * 1e3 / pipeline_cpu
        } else {
            0.0
        },
    };

    // 6. The reference.
    let reference = if args.compare_reference {
        Some(compare_reference(args, &plan, &mut workers[0], &world)?)
    } else {
        None
    };

    machine.load_after = machine::load_average();
    let stages = main_run
        .stage_samples
        .iter()
        .map(|(k, v)| (k.to_string(), v.latency()))
        .collect();
    let realtime = analysis::holds(main_run.min_stream_analysed_fps, args.analyse_fps);
    Ok(BenchReport {
        input: args.input.display().to_string(),
        video,
        settings: Settings {
            streams: args.streams,
            workers: args.workers,
            threads: plan.options.intra_threads,
            analyse_fps: args.analyse_fps,
            duration_s: args.duration,
            analyses: [("plates", plan.plates), ("faces", plan.faces)]
                .iter()
                .filter(|(_, on)| *on)
                .map(|(a, _)| a.to_string())
                .collect(),
            detector: args.models.detector.to_string(),
            platedet_canvas: args.models.platedet_canvas.to_string(),
            refine: !args.models.no_refine,
            detect_every: args.models.plate_schedule().detect_every,
            registry_passes: world.passes.len(),
            watchlist_subjects: world.watchlist.as_ref().map_or(0, |w| w.len()),
        },
        decode_only_fps: decode_only.fps,
        decode_only,
        pipeline_fps: main_run.pipeline_fps,
        analysed_fps: main_run.analysed_fps,
        per_stream: main_run.per_stream.clone(),
        min_stream_analysed_fps: main_run.min_stream_analysed_fps,
        realtime,
        limit_fps: limit.limit_fps,
        limit_share: analysis::share(main_run.analysed_fps, limit.limit_fps),
        limit,
        cpu,
        models,
        stages,
        verdict,
        work: main_run.work.clone(),
        outcomes: main_run.outcomes.clone(),
        sweep: points,
        max_streams,
        reference,
        machine,
        started_at,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// The file's properties and its first analysed frame.
fn probe_video(input: &Path, analyse_fps: f64) -> Result<(VideoInfo, image::RgbImage)> {
    let mut ingest = Ingest::open_file(input, FrameSelection::Rate(analyse_fps), 1)
        .with_context(|| format!("bench input {}", machine::describe_input(input)))?;
    let info = ingest.info.clone();
    let frame = match ingest.next() {
        Some(IngestMessage::Frame(f)) => f.image,
        Some(IngestMessage::End(r)) => {
            r?;
            bail!("{}: no frame to analyse", input.display());
        }
        None => bail!("{}: the decoder stopped", input.display()),
    };
    Ok((
        VideoInfo {
            width: info.width,
            height: info.height,
            fps: info.fps.unwrap_or(0.0),
            duration_s: info.duration.map_or(0.0, |d| d.as_secs_f64()),
        },
        frame,
    ))
}

fn build_world(args: &BenchArgs, plan: &Plan) -> Result<World> {
    let site = World::site(&plan.regions, plan.faces)?;
    let passes = synthetic::pass_snapshot(args.registry_size, 0x5EED);
    let (watchlist, threshold) = if plan.faces {
        let m = ModelManifest::builtin_for(Role::FaceEmbedder)?;
        let dim = m
            .outputs
            .first()
            .and_then(|o| o.shape.last().copied())
            .filter(|&d| d > 0)
            .unwrap_or(512) as usize;
        let w = synthetic::watchlist(args.watchlist_size, &m.id, dim, 0xFACE)?;
        (Some(w), passwatch_pipeline::options::face_threshold(&site)?)
    } else {
        (
            None,
            FaceThreshold {
                cosine: 1.0,
                far: None,
            },
        )
    };
    Ok(World {
        site,
        passes,
        watchlist,
        threshold,
        regions: plan.regions.clone(),
        start: chrono::DateTime::from_timestamp(1_775_030_400, 0).unwrap_or_default(),
    })
}

fn sweep_point(run: &StreamsRun, analyse_fps: f64) -> SweepPoint {
    let frame = run
        .stage_samples
        .get("frame")
        .map(|s| s.latency())
        .unwrap_or_default();
    SweepPoint {
        streams: run.streams,
        analysed_fps: run.analysed_fps,
        pipeline_fps: run.pipeline_fps,
        min_stream_analysed_fps: run.min_stream_analysed_fps,
        frame_p50_ms: frame.p50_ms,
        frame_p99_ms: frame.p99_ms,
        held: analysis::holds(run.min_stream_analysed_fps, analyse_fps),
    }
}

/// The reference first (it decides how many frames are compared: as many as it analyses in the
/// run's duration), then passwatch on exactly those frames: one stream, plates only, one worker,
/// the same threads.
fn compare_reference(
    args: &BenchArgs,
    plan: &Plan,
    worker: &mut Models,
    world: &World,
) -> Result<Comparison> {
    anyhow::ensure!(
        plan.plates,
        "--compare-reference compares the plate path: add plates to --analyses"
    );
    let setup = reference::ReferenceSetup {
        python: reference::python_path(args.reference_python.as_deref())?,
        script: reference::script_path(args.reference_script.as_deref())?,
        input: &args.input,
        analyse_fps: args.analyse_fps,
        threads: plan.options.intra_threads,
        max_seconds: args.duration,
        regions: &plan.regions,
        refine: !args.models.no_refine,
    };
    eprintln!(
        "running the reference pipeline ({})",
        setup.script.display()
    );
    let (reference, command) = reference::run_reference(&setup)?;
    anyhow::ensure!(
        reference.frames_analysed > 0,
        "the reference analysed no frame"
    );
    let plates_only = World {
        site: World::site(&plan.regions, false)?,
        passes: world.passes.clone(),
        watchlist: None,
        threshold: world.threshold,
        regions: world.regions.clone(),
        start: world.start,
    };
    let configured = args.models.plate_schedule();
    let same = passwatch_pipeline::plates::PlateSchedule {
        detect_every: 1,
        ..configured.clone()
    };
    let same_work = passwatch_side(args, &plates_only, worker, &reference, same)?;
    let as_configured = if configured.detect_every > 1 {
        Some(passwatch_side(
            args,
            &plates_only,
            worker,
            &reference,
            configured,
        )?)
    } else {
        None
    };
    Ok(Comparison {
        ratio: same_work.ratio,
        cpu_ratio: same_work.cpu_ratio,
        same_work,
        as_configured,
        reference,
        command,
    })
}

/// passwatch on exactly the frames the reference analysed.
fn passwatch_side(
    args: &BenchArgs,
    world: &World,
    worker: &mut Models,
    reference: &reference::ReferenceRun,
    schedule: passwatch_pipeline::plates::PlateSchedule,
) -> Result<reference::Side> {
    let detect_every = schedule.detect_every;
    // Plates only, on the one worker: its face models step aside for the comparison.
    let faces = worker.faces.take();
    let cfg = StreamsConfig {
        input: args.input.clone(),
        streams: 1,
        analyse_fps: args.analyse_fps,
        duration: None,
        max_analysed: Some(reference.frames_analysed),
        record_reads: true,
        keep_frames: 0,
        schedule,
    };
    let result = streams::run_streams(&cfg, world, std::slice::from_mut(worker));
    worker.faces = faces;
    let run = result?;
    let n = run.analysed.max(1) as f64;
    let mean = |stage: &str| run.stage_samples.get(stage).map_or(0.0, |s| s.sum_ms() / n);
    let stages_ms = [
        ("decode", mean("decode")),
        ("convert", mean("convert")),
        ("detect", mean("plate_detect")),
        ("refine", mean("plate_refine")),
        ("ocr", mean("plate_ocr")),
        ("decide", mean("decide")),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), *v))
    .collect();
    let cpu_ms = run.cpu_s * 1e3 / n;
    let reference_cpu_ms = reference.cpu_s * 1e3 / reference.frames_analysed.max(1) as f64;
    Ok(reference::Side {
        detect_every,
        analysed_fps: run.analysed_fps,
        decoded_fps: run.pipeline_fps,
        ratio: analysis::share(run.analysed_fps, reference.analysed_fps),
        cpu_ms_per_analysed: cpu_ms,
        cpu_ratio: analysis::share(reference_cpu_ms, cpu_ms),
        stages_ms,
        agreement: reference::agreement(&run.reads, &reference.reads),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{DecodeOnly, ModelFigures};
    use crate::reference::{Agreement, ReferenceRun, Side};
    use crate::stats::Samples;
    use crate::streams::{Outcomes, StreamFigures, Work};
    use std::collections::BTreeMap;

    /// A report as a run on a small CPU box would give, with every optional part present.
    fn sample() -> BenchReport {
        let mut stages = BTreeMap::new();
        for (name, ms) in [("decode", 7.0), ("plate_detect", 300.0), ("frame", 340.0)] {
            let mut s = Samples::new();
            for k in 0..10 {
                s.push_ms(ms + k as f64);
            }
            stages.insert(name.to_string(), s.latency());
        }
        let limit = analysis::limit(500.0, 12.5, 320.0, true);
        let models = vec![ModelFigures {
            model: "platedet".into(),
            stage: "plate_detect".into(),
            item: "frame".into(),
            items_per_frame: 1.0,
            ms_per_item: 320.0,
            ms_per_frame: 320.0,
            ..ModelFigures::default()
        }];
        let verdict = analysis::verdict(&limit, &[("platedet".into(), 320.0)]);
        let sweep = vec![
            SweepPoint {
                streams: 1,
                analysed_fps: 2.9,
                min_stream_analysed_fps: 2.9,
                held: true,
                ..SweepPoint::default()
            },
            SweepPoint {
                streams: 2,
                analysed_fps: 3.0,
                min_stream_analysed_fps: 1.5,
                held: false,
                ..SweepPoint::default()
            },
        ];
        BenchReport {
            input: "/x/plates_dev.mp4".into(),
            video: VideoInfo {
                width: 1280,
                height: 720,
                fps: 25.0,
                duration_s: 88.8,
            },
            settings: Settings {
                streams: 1,
                workers: 1,
                threads: 2,
                analyse_fps: 2.0,
                duration_s: 20.0,
                analyses: vec!["plates".into(), "faces".into()],
                detector: "platedet".into(),
                platedet_canvas: "fit".into(),
                refine: true,
                detect_every: 2,
                registry_passes: 100_000,
                watchlist_subjects: 1000,
            },
            decode_only_fps: 500.0,
            decode_only: DecodeOnly {
                streams: 1,
                seconds: 5.0,
                frames: 2500,
                fps: 500.0,
                per_stream_fps: vec![500.0],
                cpu_ms_per_frame: 3.0,
            },
            pipeline_fps: 36.0,
            analysed_fps: 2.9,
            per_stream: vec![StreamFigures::default()],
            min_stream_analysed_fps: 2.9,
            realtime: true,
            limit_fps: limit.limit_fps,
            limit_share: analysis::share(2.9, limit.limit_fps),
            limit,
            cpu: CpuShare {
                pipeline_ms_per_analysed: 700.0,
                limit_ms_per_analysed: 630.0,
                share: 0.9,
                cores_bound_fps: 2.86,
            },
            models,
            stages,
            verdict,
            work: Work::default(),
            outcomes: Outcomes::default(),
            sweep,
            max_streams: Some(MaxStreams {
                analyse_fps: 2.0,
                streams: 1,
                capped: false,
                trials: vec![Trial {
                    streams: 1,
                    min_stream_analysed_fps: 2.9,
                    analysed_fps: 2.9,
                    held: true,
                }],
            }),
            reference: Some(Comparison {
                ratio: 3.1 / 2.8,
                cpu_ratio: 1.2,
                same_work: Side {
                    detect_every: 1,
                    analysed_fps: 3.1,
                    decoded_fps: 15.5,
                    ratio: 3.1 / 2.8,
                    cpu_ms_per_analysed: 600.0,
                    cpu_ratio: 1.2,
                    stages_ms: [("detect".to_string(), 280.0)].into_iter().collect(),
                    agreement: Agreement {
                        frames: 40,
                        same_texts: 40,
                        share: 1.0,
                        ..Agreement::default()
                    },
                },
                as_configured: Some(Side {
                    detect_every: 2,
                    analysed_fps: 5.0,
                    decoded_fps: 25.0,
                    ratio: 5.0 / 2.8,
                    ..Side::default()
                }),
                reference: ReferenceRun {
                    frames_analysed: 40,
                    analysed_fps: 2.8,
                    threads: 2,
                    ..ReferenceRun::default()
                },
                command: "python plate_reference.py".into(),
            }),
            machine: Machine {
                cpu: "AMD EPYC".into(),
                cores: 2,
                provider_used: "cpu".into(),
                ..Machine::default()
            },
            started_at: "2026-11-28T10:00:00Z".into(),
            elapsed_s: 120.0,
        }
    }

    #[test]
    fn json_has_the_promised_keys() {
        let v = serde_json::to_value(sample()).unwrap();
        for key in [
            "decode_only_fps",
            "pipeline_fps",
            "analysed_fps",
            "limit_fps",
            "limit_share",
            "verdict",
            "stages",
            "machine",
            "models",
            "max_streams",
            "reference",
            "sweep",
        ] {
            assert!(v.get(key).is_some(), "{key} missing");
        }
        assert_eq!(v["verdict"]["bound"], "inference");
        assert!(v["stages"]["plate_detect"]["p99_ms"].as_f64().unwrap() > 300.0);
        assert!(v["machine"]["cores"].as_u64() == Some(2));
        // Reads stay out of the JSON: they can be thousands of frames.
        assert!(v["reference"]["reference"].get("reads").is_none());
    }

    #[test]
    fn table_and_markdown_show_every_part() {
        let r = sample();
        let t = report::table(&r);
        for needle in [
            "decode only",
            "pipeline, analysed",
            "limit (best possible)",
            "verdict: inference-bound by platedet",
            "plate detect",
            "streams held at real time at 2 analysed fps: 1",
            "1.11×",
            "same plate texts in 40/40 frames",
        ] {
            assert!(t.contains(needle), "table lacks {needle:?}:\n{t}");
        }
        let md = report::markdown(&r, "chart.svg");
        for needle in [
            "## Throughput",
            "## Stage latency per analysed frame",
            "## Models alone",
            "![throughput and latency against N](chart.svg)",
            "**Streams held at real time at 2 analysed frames/s: 1**",
            "## Against the reference",
            "**Verdict:**",
        ] {
            assert!(md.contains(needle), "markdown lacks {needle:?}:\n{md}");
        }
        // Tables have as many cells in every row as in their header.
        for block in md.split("\n\n").filter(|b| b.starts_with('|')) {
            let cells: Vec<usize> = block.lines().map(|l| l.matches('|').count()).collect();
            assert!(
                cells.iter().all(|&c| c == cells[0]),
                "ragged table:\n{block}"
            );
        }
    }
}
