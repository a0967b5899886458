//! The `passwatch` command line: a thin layer over the pipeline library.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use passwatch_models::{ExecutionProvider, ModelCache, SessionOptions};
use passwatch_pipeline::eval;
use passwatch_pipeline::registry::{import::read_passes_file, PassSnapshot, Registry};
use passwatch_pipeline::replay::{self, ReplaySetup};
use passwatch_pipeline::site::Site;
use passwatch_pipeline::track::TrackerConfig;
use passwatch_plate_reader::detect::DetectorKind;
use passwatch_plate_reader::reader::{load_reader, PlateReader, ReaderConfig};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "passwatch",
    version,
    about = "Camera-based pass enforcement: plates and faces against pass and watchlist registries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay recorded footage through the plate path and report violations.
    Replay(ReplayArgs),
    /// Throughput on a file: decode-only ceiling and the plate pipeline, side by side.
    Bench(BenchArgs),
    /// The pass registry.
    Registry {
        #[command(subcommand)]
        what: RegistryWhat,
    },
    /// Measure plate OCR and detection on labelled folders.
    Eval {
        #[command(subcommand)]
        what: EvalWhat,
    },
}

#[derive(Args)]
struct ReplayArgs {
    /// Video files, or folders of them (replayed in name order).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The site config (cameras, zones, restriction schedules).
    #[arg(long)]
    site: PathBuf,
    /// A passes file (CSV or JSON) to decide against, as registry version 1; without it, the
    /// registry database (--registry) is used at its current version.
    #[arg(long)]
    passes: Option<PathBuf>,
    /// The registry database.
    #[arg(long, env = "PASSWATCH_REGISTRY", default_value_os_t = default_registry())]
    registry: PathBuf,
    /// Output folder: events.jsonl, journal.db, evidence/.
    #[arg(long)]
    out: PathBuf,
    /// The camera of the site the footage is from (default: the site's only camera).
    #[arg(long)]
    camera: Option<String>,
    /// Frames per second of media time to analyse. Default: the camera's `analyse_fps` in the
    /// site config, else 5.
    #[arg(long)]
    analyse_fps: Option<f64>,
    /// Wall time the recording started (RFC 3339); several files are taken as consecutive
    /// parts. Default: each file's modification time minus its duration.
    #[arg(long)]
    recorded_at: Option<String>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    models: ModelArgs,
}

#[derive(Args)]
struct BenchArgs {
    /// The video file.
    #[arg(long)]
    input: PathBuf,
    /// Frames per second of media time to analyse.
    #[arg(long, default_value_t = replay::DEFAULT_PLATE_ANALYSE_FPS)]
    analyse_fps: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    models: ModelArgs,
}

#[derive(Subcommand)]
enum RegistryWhat {
    /// Import passes from a CSV or JSON file, atomically, as a new registry version.
    ImportPasses {
        /// The passes file.
        file: PathBuf,
        /// The registry database.
        #[arg(long, env = "PASSWATCH_REGISTRY", default_value_os_t = default_registry())]
        registry: PathBuf,
        /// Who makes the change (recorded in the audit log).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// List the passes of the registry.
    ListPasses {
        /// The registry database.
        #[arg(long, env = "PASSWATCH_REGISTRY", default_value_os_t = default_registry())]
        registry: PathBuf,
        /// One JSON object per pass.
        #[arg(long)]
        json: bool,
    },
}

fn default_registry() -> PathBuf {
    let base = std::env::var_os("PASSWATCH_DATA")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
            PathBuf::from(home).join(".local/share/passwatch")
        });
    base.join("registry.db")
}

#[derive(Subcommand)]
enum EvalWhat {
    /// Plate reading: `--crops DIR` (OCR on plate crops) or `--photos DIR` (end to end).
    Plates(EvalPlates),
}

#[derive(Args)]
struct EvalPlates {
    /// A folder of plate crops with labels.csv (file,region,plate[,subregion]).
    #[arg(long, conflicts_with_all = ["photos", "video"], required_unless_present_any = ["photos", "video"])]
    crops: Option<PathBuf>,
    /// A video with a per-frame truth CSV (--truth): sightings against the labelled plates.
    #[arg(long, conflicts_with = "photos", requires = "truth")]
    video: Option<PathBuf>,
    /// Per-frame truth of --video (frame,source,region,plate,x,y,w,h).
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Analysis rate for --video.
    #[arg(long, default_value_t = replay::DEFAULT_PLATE_ANALYSE_FPS)]
    analyse_fps: f64,
    /// A folder of photos with labels.csv (file,region,x,y,w,h,plate).
    #[arg(long)]
    photos: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Include every item's read in the JSON.
    #[arg(long)]
    items: bool,
    #[command(flatten)]
    models: ModelArgs,
}

/// Model and inference settings shared by the commands that read plates.
#[derive(Args, Clone)]
struct ModelArgs {
    /// Plate detector: text-lines (PP-OCRv4 DBNet) or platedet (YOLOv8).
    #[arg(long, default_value = "platedet")]
    detector: DetectorKind,
    /// Do not read the text lines inside plate boxes (read whole boxes only).
    #[arg(long)]
    no_refine: bool,
    /// Plate regions to read with (comma-separated format ids). Default: the site's
    /// `plates.regions` for replay, us,eu,br otherwise.
    #[arg(long, value_delimiter = ',')]
    regions: Option<Vec<String>>,
    /// Threads per inference session.
    #[arg(long, default_value_t = default_threads())]
    threads: usize,
    /// Execution provider: cpu, cuda, tensorrt (GPU ones fall back to the CPU with a warning).
    #[arg(long, default_value = "cpu")]
    provider: ExecutionProvider,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl ModelArgs {
    fn session_options(&self) -> SessionOptions {
        SessionOptions {
            intra_threads: self.threads.max(1),
            provider: self.provider,
            ..SessionOptions::default()
        }
    }

    fn reader(&self, min_len: usize) -> Result<PlateReader> {
        let config = ReaderConfig {
            regions: self
                .regions
                .clone()
                .unwrap_or_else(|| ReaderConfig::default().regions),
            refine_lines: !self.no_refine,
            min_len,
            ..ReaderConfig::default()
        };
        load_reader(
            self.detector,
            &ModelCache::from_env(),
            &self.session_options(),
            config,
        )
        .context("cannot load the plate models")
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PASSWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Replay(args) => run_replay(args),
        Command::Registry { what } => run_registry(what),
        Command::Bench(args) => {
            let mut reader = args.models.reader(ReaderConfig::default().min_len)?;
            let report = passwatch_pipeline::bench::bench_file(
                &args.input,
                args.analyse_fps,
                &mut reader,
                args.models.threads,
            )?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.table());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval {
            what: EvalWhat::Plates(args),
        } => {
            if let (Some(video), Some(truth)) = (&args.video, &args.truth) {
                let mut reader = args.models.reader(ReaderConfig::default().min_len)?;
                let report = eval::eval_video(
                    video,
                    truth,
                    args.analyse_fps,
                    &mut reader,
                    TrackerConfig::default(),
                    args.items,
                )?;
                if args.json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    print!("{}", report.table());
                }
                return Ok(ExitCode::SUCCESS);
            }
            let report = if let Some(dir) = &args.crops {
                let mut reader = args.models.reader(1)?;
                eval::eval_crops(dir, &mut reader, args.items)?
            } else {
                let dir = args
                    .photos
                    .as_ref()
                    .context("--crops or --photos is needed")?;
                let mut reader = args.models.reader(ReaderConfig::default().min_len)?;
                eval::eval_photos(dir, &mut reader, args.items)?
            };
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.table());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_replay(args: ReplayArgs) -> Result<ExitCode> {
    let site = Site::load(&args.site)?;
    let camera =
        match &args.camera {
            Some(c) => c.clone(),
            None => match site.cameras.as_slice() {
                [only] => only.id.clone(),
                many => anyhow::bail!(
                "{}: the site has {} cameras; say which one the footage is from with --camera ({})",
                args.site.display(),
                many.len(),
                many.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", ")
            ),
            },
        };
    let passes = match &args.passes {
        Some(file) => PassSnapshot::from_passes(1, read_passes_file(file)?),
        None => Registry::open(&args.registry)?.snapshot()?,
    };
    let recorded_at = match &args.recorded_at {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .with_context(|| {
                    format!("--recorded-at {t:?}: expected RFC 3339, e.g. 2026-04-01T08:00:00Z")
                })?
                .with_timezone(&chrono::Utc),
        ),
        None => None,
    };
    if let Some(fps) = args.analyse_fps {
        anyhow::ensure!(
            fps > 0.0 && fps <= 240.0,
            "--analyse-fps {fps}: must be above 0 and at most 240"
        );
    }
    let files = replay::expand_inputs(&args.inputs)?;
    let mut models = args.models.clone();
    if models.regions.is_none() {
        models.regions = Some(site.plates.regions.clone());
    }
    let mut reader = models.reader(ReaderConfig::default().min_len)?;
    let setup = ReplaySetup {
        site: &site,
        camera,
        analyse_fps: args.analyse_fps,
        recorded_at,
        passes: &passes,
        tracker: TrackerConfig::default(),
        out_dir: args.out.clone(),
        progress: !args.quiet && !args.json,
    };
    let summary = replay::replay(&files, &setup, &mut reader)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", replay::summary_table(&summary, &args.out));
    }
    for f in summary.files.iter().filter(|f| f.error.is_some()) {
        eprintln!("error: {}", f.error.as_deref().unwrap_or_default());
    }
    Ok(if summary.had_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn run_registry(what: RegistryWhat) -> Result<ExitCode> {
    match what {
        RegistryWhat::ImportPasses {
            file,
            registry,
            actor,
        } => {
            if let Some(dir) = registry.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("{}: cannot create", dir.display()))?;
            }
            let mut reg = Registry::open(&registry)?;
            let v = reg.import_file(&file, &actor)?;
            println!("{v}");
        }
        RegistryWhat::ListPasses { registry, json } => {
            anyhow::ensure!(
                registry.exists(),
                "{}: no registry here yet (import passes first)",
                registry.display()
            );
            let reg = Registry::open(&registry)?;
            let passes = reg.list_passes()?;
            if json {
                for p in &passes {
                    println!("{}", serde_json::to_string(p)?);
                }
            } else {
                println!(
                    "{:<16}  {:<7}  {:<10} {:<6} {:<20}  {:<20}  {:<7}  {:>3}  zones",
                    "code", "kind", "plate", "region", "valid_from", "valid_until", "status", "ver"
                );
                for p in &passes {
                    println!(
                        "{:<16}  {:<7}  {:<10} {:<6} {:<20}  {:<20}  {:<7}  {:>3}  {}",
                        p.code,
                        p.kind.to_string(),
                        p.plate.as_deref().unwrap_or("-"),
                        p.region.as_deref().unwrap_or("-"),
                        p.valid_from
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        p.valid_until
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        p.status.to_string(),
                        p.version,
                        p.zones
                    );
                }
                println!(
                    "{} passes, registry version {}",
                    passes.len(),
                    reg.current_version()?
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
