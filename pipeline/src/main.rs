//! The `passwatch` command line: a thin layer over the pipeline library.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use passwatch_models::{ExecutionProvider, ModelCache, SessionOptions};
use passwatch_pipeline::eval;
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
    /// Measure plate OCR and detection on labelled folders.
    Eval {
        #[command(subcommand)]
        what: EvalWhat,
    },
}

#[derive(Subcommand)]
enum EvalWhat {
    /// Plate reading: `--crops DIR` (OCR on plate crops) or `--photos DIR` (end to end).
    Plates(EvalPlates),
}

#[derive(Args)]
struct EvalPlates {
    /// A folder of plate crops with labels.csv (file,region,plate[,subregion]).
    #[arg(long, conflicts_with = "photos", required_unless_present = "photos")]
    crops: Option<PathBuf>,
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
    /// Plate regions to read with (comma-separated format ids).
    #[arg(long, value_delimiter = ',', default_value = "us,eu,br")]
    regions: Vec<String>,
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
            regions: self.regions.clone(),
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
        Command::Eval {
            what: EvalWhat::Plates(args),
        } => {
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
