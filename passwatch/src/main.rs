//! The `passwatch` command line: parses the options and hands each command to its mode in the
//! `passwatch` library (or to `passwatch-bench`).

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use passwatch::replay::{self, ReplaySetup};
use passwatch::{eval, run};
use passwatch_models::{ModelCache, SessionOptions};
use passwatch_pipeline::engine::{DecideSetup, FaceSetup, Models};
use passwatch_pipeline::options::{
    default_registry, default_threads, face_threshold, load_face_matcher, ModelArgs,
};
use passwatch_pipeline::track::TrackerConfig;
use passwatch_plate_reader::reader::ReaderConfig;
use passwatch_registry::site::Analysis;
use passwatch_registry::site::Site;
use passwatch_registry::WatchlistSnapshot;
use passwatch_registry::{import::read_passes_file, PassSnapshot, Registry};
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
    /// Replay recorded footage through the camera's analyses (plates, faces) and report violations.
    Replay(ReplayArgs),
    /// Run the site's live cameras (RTSP, files, GStreamer sources) until SIGINT/SIGTERM.
    Run(run::RunArgs),
    /// Throughput on a file: decode-only ceiling and the plate pipeline, side by side.
    Bench(passwatch_bench::BenchArgs),
    /// The registry: passes and the watchlist.
    Registry {
        #[command(subcommand)]
        what: RegistryWhat,
    },
    /// Serve the review API over a data folder: events, evidence, verdicts, registries, audit.
    Serve(passwatch::serve::ServeArgs),
    /// The people of a data folder's review API.
    Users {
        #[command(subcommand)]
        what: passwatch::admin::UsersWhat,
    },
    /// API tokens of a data folder's review API.
    Tokens {
        #[command(subcommand)]
        what: passwatch::admin::TokensWhat,
    },
    /// Export events as one case archive (events, evidence, reads, verdicts, a SHA-256 manifest)
    /// for an appeal; `passwatch export verify ARCHIVE` checks one.
    Export(ExportCommand),
    /// Remove the events, evidence and dismissed events the site's [retention] has expired.
    Purge(passwatch::purge::PurgeArgs),
    /// The data folder's audit log.
    Audit {
        #[command(subcommand)]
        what: passwatch::admin::AuditWhat,
    },
    /// Measure plate reading and face verification on labelled data.
    Eval {
        #[command(subcommand)]
        what: EvalWhat,
    },
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct ExportCommand {
    #[command(subcommand)]
    what: Option<ExportWhat>,
    #[command(flatten)]
    args: Option<passwatch::export::ExportArgs>,
}

#[derive(Subcommand)]
enum ExportWhat {
    /// Check a case archive: every file against the manifest (and, with --data, the export's
    /// audit entry).
    Verify(passwatch::export::ExportVerifyArgs),
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
    /// Enrol a subject of a stay-home order from reference photos: every photo must hold exactly
    /// one good face, or nothing is stored. Photos are not kept unless --keep-photos is given.
    /// Without photos, changes an enrolled subject's order, home zone or status.
    Enroll {
        /// The subject's opaque id.
        #[arg(long)]
        subject: String,
        /// Reference photos (one face each); at least one for a new subject.
        #[arg(long = "photo", num_args = 1..)]
        photos: Vec<PathBuf>,
        /// Start of the order (RFC 3339); required for a new subject.
        #[arg(long)]
        order_from: Option<String>,
        /// End of the order (RFC 3339, exclusive); required for a new subject.
        #[arg(long)]
        order_until: Option<String>,
        /// The zone of the subject's home (its cameras are not a breach); required for a new
        /// subject.
        #[arg(long)]
        home_zone: Option<String>,
        /// active or inactive.
        #[arg(long)]
        status: Option<String>,
        /// Keep copies of the photos in this folder (off by default: photos are not kept).
        #[arg(long)]
        keep_photos: Option<PathBuf>,
        /// The registry database.
        #[arg(long, env = "PASSWATCH_REGISTRY", default_value_os_t = default_registry())]
        registry: PathBuf,
        /// Who makes the change (recorded in the audit log).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
    /// List the watchlist's subjects.
    ListSubjects {
        /// The registry database.
        #[arg(long, env = "PASSWATCH_REGISTRY", default_value_os_t = default_registry())]
        registry: PathBuf,
        /// One JSON object per subject.
        #[arg(long)]
        json: bool,
    },
    /// Remove a subject and all its reference embeddings.
    RemoveSubject {
        /// The subject's id.
        subject: String,
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

#[derive(Subcommand)]
enum EvalWhat {
    /// Plate reading: `--crops DIR` (OCR on plate crops) or `--photos DIR` (end to end).
    Plates(EvalPlates),
    /// Face verification on a folder in the LFW layout (identities.csv: file,person).
    Faces(EvalFaces),
    /// What the rules decide on labelled footage or photos: false accusations, catches, wrong
    /// plates, false clearances and vehicles unseen, with every plate holding a valid pass,
    /// none, and half.
    Decisions(eval::decisions::DecisionArgs),
}

#[derive(Args)]
struct EvalFaces {
    /// The folder (identities.csv + images).
    #[arg(long)]
    lfw: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Threads per inference session.
    #[arg(long, default_value_t = default_threads())]
    threads: usize,
}

#[derive(Args)]
struct EvalPlates {
    /// A folder of plate crops with labels.csv (`file,region,plate[,subregion]`).
    #[arg(long, conflicts_with_all = ["photos", "video"], required_unless_present_any = ["photos", "video"])]
    crops: Option<PathBuf>,
    /// A video with a per-frame truth CSV (--truth): sightings against the labelled plates.
    #[arg(long, conflicts_with = "photos", requires = "truth")]
    video: Option<PathBuf>,
    /// Per-frame truth of --video (frame,source,region,plate,x,y,w,h).
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Analysis rate for --video.
    #[arg(long, default_value_t = passwatch_pipeline::engine::DEFAULT_PLATE_ANALYSE_FPS)]
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

fn main() -> ExitCode {
    fixed_mmap_threshold();
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
        Command::Run(args) => run::run(args),
        Command::Registry { what } => run_registry(what),
        Command::Serve(args) => passwatch::serve::serve(args),
        Command::Users { what } => passwatch::admin::users(what),
        Command::Tokens { what } => passwatch::admin::tokens(what),
        Command::Audit { what } => passwatch::admin::audit_cmd(what),
        Command::Purge(args) => passwatch::purge::purge(args),
        Command::Export(ExportCommand {
            what: Some(ExportWhat::Verify(args)),
            ..
        }) => passwatch::export::export_verify(args),
        Command::Export(ExportCommand {
            args: Some(args), ..
        }) => passwatch::export::export(args),
        Command::Export(_) => anyhow::bail!("passwatch export: give --data, --out and --events or --filter (or `export verify ARCHIVE`)"),
        Command::Bench(args) => {
            passwatch_bench::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval {
            what: EvalWhat::Decisions(args),
        } => {
            eval::decisions::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval {
            what: EvalWhat::Faces(args),
        } => {
            let options = SessionOptions {
                intra_threads: args.threads.max(1),
                ..SessionOptions::default()
            };
            let mut matcher = load_face_matcher(&options)?;
            let report = passwatch_face_matcher::verification::evaluate_folder(
                &mut matcher,
                &args.lfw,
                &Default::default(),
            )?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{} images of {} people; {} same-person and {} different-person pairs",
                    report.images, report.identities, report.pairs_same, report.pairs_different
                );
                println!("accuracy (10-fold)        {:.2}%", report.accuracy * 100.0);
                println!(
                    "TAR at FAR 1e-2 / 1e-3    {:.2}% / {:.2}%",
                    report.tar_at_far.far_1e_2 * 100.0,
                    report.tar_at_far.far_1e_3 * 100.0
                );
                println!(
                    "threshold at FAR 1e-3 / 1e-4  {:.3} / {:.3}  (from {} impostor pairs)",
                    report.threshold_at_far.far_1e_3,
                    report.threshold_at_far.far_1e_4,
                    report.impostor_pairs
                );
                println!(
                    "no face found in          {:.2}% of images",
                    report.no_face_rate * 100.0
                );
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
                    args.models.plate_schedule(),
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
    let cam = site
        .camera(&camera)
        .with_context(|| format!("{}: no camera {camera:?}", args.site.display()))?;
    let run_plates = cam.runs(Analysis::Plates);
    let run_faces = cam.runs(Analysis::Faces);
    // The registry database is opened only when something is read from it (a replay never
    // creates one).
    let registry = if args.registry.exists() {
        Some(Registry::open(&args.registry)?)
    } else {
        None
    };
    let passes = match (&args.passes, &registry) {
        (Some(file), _) => PassSnapshot::from_passes(1, read_passes_file(file)?),
        (None, Some(reg)) => reg.snapshot()?,
        (None, None) if run_plates => anyhow::bail!(
            "{}: no registry there; give --passes FILE or import passes first",
            args.registry.display()
        ),
        (None, None) => PassSnapshot::from_passes(0, Vec::new()),
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
    let options = models.session_options();
    let face_matcher = if run_faces {
        Some(load_face_matcher(&options)?)
    } else {
        None
    };
    let watchlist = match (&face_matcher, &registry) {
        (Some(m), Some(reg)) => Some(reg.watchlist_snapshot(m.embedder_model_id())?),
        (Some(m), None) => {
            tracing::warn!(registry = %args.registry.display(),
                "no registry: the watchlist is empty and no face can match");
            Some(WatchlistSnapshot::empty(m.embedder_model_id()))
        }
        (None, _) => None,
    };
    // Only a face camera needs the threshold: a bad [faces] section does not stop plates.
    let threshold = if run_faces {
        Some(face_threshold(&site)?)
    } else {
        None
    };
    let mut replay_models = Models {
        plates: if run_plates {
            Some(models.reader(ReaderConfig::default().min_len)?)
        } else {
            None
        },
        faces: face_matcher,
        privacy: passwatch_face_matcher::FaceDetector::load(
            &ModelCache::from_env(),
            &options,
            Default::default(),
        )
        .context("cannot load the face detector that blurs faces in evidence")?,
    };
    let setup = ReplaySetup {
        decide: DecideSetup {
            site: &site,
            passes: &passes,
            tracker: TrackerConfig {
                schedule: models.plate_schedule(),
                ..TrackerConfig::default()
            },
            faces: watchlist
                .as_ref()
                .zip(threshold)
                .map(|(w, threshold)| FaceSetup {
                    watchlist: w,
                    threshold,
                }),
            face_tracker: Default::default(),
        },
        camera,
        analyse_fps: args.analyse_fps,
        recorded_at,
        out_dir: args.out.clone(),
        progress: !args.quiet && !args.json,
    };
    let summary = replay::replay(&files, &setup, &mut replay_models)?;
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
        RegistryWhat::Enroll {
            subject,
            photos,
            order_from,
            order_until,
            home_zone,
            status,
            keep_photos,
            registry,
            actor,
        } => {
            enroll(EnrollArgs {
                subject,
                photos,
                order_from,
                order_until,
                home_zone,
                status,
                keep_photos,
                registry,
                actor,
            })?;
        }
        RegistryWhat::ListSubjects { registry, json } => {
            anyhow::ensure!(
                registry.exists(),
                "{}: no registry here yet",
                registry.display()
            );
            let reg = Registry::open(&registry)?;
            let subjects = reg.list_subjects()?;
            if json {
                for s in &subjects {
                    println!(
                        "{}",
                        serde_json::json!({
                            "subject_id": s.subject_id,
                            "order_from": s.order_from,
                            "order_until": s.order_until,
                            "home_zone": s.home_zone,
                            "status": s.status.to_string(),
                            "embeddings": s.embeddings,
                            "model_id": s.model_id,
                            "version": s.version,
                        })
                    );
                }
            } else {
                println!(
                    "{:<24} {:<20}  {:<20}  {:<10} {:<8} {:>5}  {:>3}",
                    "subject", "order_from", "order_until", "home_zone", "status", "refs", "ver"
                );
                for s in &subjects {
                    println!(
                        "{:<24} {:<20}  {:<20}  {:<10} {:<8} {:>5}  {:>3}",
                        s.subject_id,
                        s.order_from
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        s.order_until
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        s.home_zone,
                        s.status.to_string(),
                        s.embeddings,
                        s.version
                    );
                }
                println!(
                    "{} subjects, registry version {}",
                    subjects.len(),
                    reg.current_version()?
                );
            }
        }
        RegistryWhat::RemoveSubject {
            subject,
            registry,
            actor,
        } => {
            let mut reg = Registry::open(&registry)?;
            let v = reg.remove_subject(&subject, &actor)?;
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

struct EnrollArgs {
    subject: String,
    photos: Vec<PathBuf>,
    order_from: Option<String>,
    order_until: Option<String>,
    home_zone: Option<String>,
    status: Option<String>,
    keep_photos: Option<PathBuf>,
    registry: PathBuf,
    actor: String,
}

/// Largest photo accepted for enrolment, per side: a decompression bomb (a small file declaring
/// a huge image) is refused before any pixel is allocated.
const MAX_PHOTO_SIDE: u32 = 12_000;

/// Loads a reference photo; the error starts with its reason (`not_an_image`, `too_large`).
fn load_photo(path: &std::path::Path) -> Result<image::RgbImage, String> {
    let open = || -> Result<image::ImageReader<std::io::BufReader<std::fs::File>>, String> {
        let reader = image::ImageReader::open(path)
            .map_err(|e| format!("not_an_image: cannot open: {e}"))?
            .with_guessed_format()
            .map_err(|e| format!("not_an_image: cannot read: {e}"))?;
        if reader.format().is_none() {
            return Err("not_an_image: unknown format".into());
        }
        Ok(reader)
    };
    // The header first: its declared size is checked before a pixel is allocated.
    let (w, h) = open()?
        .into_dimensions()
        .map_err(|e| format!("not_an_image: {e}"))?;
    if w > MAX_PHOTO_SIDE || h > MAX_PHOTO_SIDE {
        return Err(format!(
            "too_large: image of {w}×{h} pixels (at most {MAX_PHOTO_SIDE} per side)"
        ));
    }
    let mut reader = open()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PHOTO_SIDE);
    limits.max_image_height = Some(MAX_PHOTO_SIDE);
    limits.max_alloc = Some(1024 * 1024 * 1024);
    reader.limits(limits);
    reader
        .decode()
        .map(|i| i.to_rgb8())
        .map_err(|e| format!("not_an_image: {e}"))
}

fn enroll(a: EnrollArgs) -> Result<()> {
    use passwatch_face_matcher::{Enrolment, EnrolmentCheck};
    use passwatch_registry::SubjectSpec;
    if let Some(dir) = a.registry.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    let mut reg = Registry::open(&a.registry)?;
    let existing = reg.subject(&a.subject)?;
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let order_from = a
        .order_from
        .or_else(|| existing.as_ref().map(|s| fmt(s.order_from)))
        .context("--order-from is needed for a new subject")?;
    let order_until = a
        .order_until
        .or_else(|| existing.as_ref().map(|s| fmt(s.order_until)))
        .context("--order-until is needed for a new subject")?;
    let home_zone = a
        .home_zone
        .or_else(|| existing.as_ref().map(|s| s.home_zone.clone()))
        .context("--home-zone is needed for a new subject")?;
    anyhow::ensure!(
        existing.is_some() || !a.photos.is_empty(),
        "subject {}: a new subject needs at least one --photo",
        a.subject
    );
    let spec = SubjectSpec::parse(
        &a.subject,
        &order_from,
        &order_until,
        &home_zone,
        a.status.as_deref(),
    )?;
    let options = SessionOptions::default();
    let mut matcher = load_face_matcher(&options)?;
    if let Some((stored, _)) = reg.watchlist_model()? {
        anyhow::ensure!(
            stored == matcher.embedder_model_id(),
            "{}: the watchlist was built with face model {stored}, this passwatch uses {}; \
             re-enrol every subject with one model",
            a.registry.display(),
            matcher.embedder_model_id()
        );
    }
    let check = EnrolmentCheck::default();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for photo in &a.photos {
        let image = match load_photo(photo) {
            Ok(i) => i,
            Err(why) => {
                refused.push(format!("{}: {why}", photo.display()));
                continue;
            }
        };
        match matcher.check_enrolment(&image, &check)? {
            Enrolment::Accepted(face) => accepted.push((face, photo.clone())),
            Enrolment::Rejected(r) => refused.push(format!("{}: {r}", photo.display())),
        }
    }
    if !refused.is_empty() {
        anyhow::bail!(
            "subject {}: {} of {} photos refused, nothing stored:\n  {}",
            a.subject,
            refused.len(),
            a.photos.len(),
            refused.join("\n  ")
        );
    }
    let n = accepted.len();
    let version = match &a.keep_photos {
        Some(dir) => reg.enroll_keeping_photos(
            spec,
            accepted
                .into_iter()
                .map(|(f, p)| (f.embedding.clone(), f.quality.score, p))
                .collect(),
            dir,
            &a.actor,
        )?,
        None => reg.enroll(
            spec,
            accepted
                .into_iter()
                .map(|(f, _)| (f.embedding.clone(), f.quality.score))
                .collect(),
            &a.actor,
        )?,
    };
    match n {
        0 => println!("updated subject {} ({version})", a.subject),
        _ => println!(
            "enrolled subject {} from {n} photo{} ({version}); identical faces are stored once",
            a.subject,
            if n == 1 { "" } else { "s" }
        ),
    }
    Ok(())
}

/// Allocations of 1 MiB and more (frames, tensors) get their own mapping, returned to the system
/// when freed. glibc otherwise raises its mmap threshold after the first such free and serves
/// later frames from its per-thread arenas, which fragment: a 4-camera `passwatch run` grew
/// from 579 to 619 MiB in 4 minutes (and on), against 518 → 525 MiB with a fixed threshold
/// (design/live.md, *Memory*). 1 MiB rather than less: OCR batches sit just below it and
/// mapping them cost 7% of replay time at 256 KiB, within noise at 1 MiB.
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
