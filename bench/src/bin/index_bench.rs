//! The Rust half of `bench/index_vs_faiss.py`: loads a database and queries from raw
//! little-endian f32 files (row-major, `--dim` floats a row) into a [`WatchlistIndex`], one
//! subject per database row (subject id = row number), and measures queries per second at
//! batch 1 and batch 256, the way the script measures faiss `IndexFlatIP`.
//!
//! ```text
//! index_bench --db DB.f32 --queries Q.f32 [--dim 512] [--threads 1] [--k 10]
//!             [--reps 5] [--batch1-queries 40] [--batch 256] [--isa avx512|avx2|scalar] [--json]
//! ```
//!
//! Batch 1: after one warm-up query, `--reps` blocks of `--batch1-queries` queries searched one
//! at a time (cycling through the query file); each block gives a rate. Batch 256 (or all the
//! queries if there are fewer): after one warm-up search, `--reps` searches of the whole batch,
//! one rate each. The medians are the results. With `--json` one JSON object goes to stdout,
//! including every rate and the top-`k` subjects and scores of every query (from the batch
//! search), so the caller can compare them with another index.

use anyhow::{bail, Context, Result};
use passwatch_face_matcher::index::kernel::Isa;
use passwatch_face_matcher::{Embedding, Match, WatchlistIndex};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

const MODEL: &str = "bench";

struct Args {
    db: PathBuf,
    queries: PathBuf,
    dim: usize,
    threads: usize,
    k: usize,
    reps: usize,
    batch1_queries: usize,
    batch: usize,
    isa: Option<Isa>,
    json: bool,
}

const USAGE: &str =
    "usage: index_bench --db FILE --queries FILE [--dim 512] [--threads 1] [--k 10] \
[--reps 5] [--batch1-queries 40] [--batch 256] [--isa avx512|avx2|scalar] [--json]";

fn parse_args() -> Result<Args> {
    let mut db = None;
    let mut queries = None;
    let mut a = Args {
        db: PathBuf::new(),
        queries: PathBuf::new(),
        dim: 512,
        threads: 1,
        k: 10,
        reps: 5,
        batch1_queries: 40,
        batch: 256,
        isa: None,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let num = |v: String| -> Result<usize> {
            v.parse()
                .with_context(|| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--db" => db = Some(PathBuf::from(value()?)),
            "--queries" => queries = Some(PathBuf::from(value()?)),
            "--dim" => a.dim = num(value()?)?,
            "--threads" => a.threads = num(value()?)?,
            "--k" => a.k = num(value()?)?,
            "--reps" => a.reps = num(value()?)?.max(1),
            "--batch1-queries" => a.batch1_queries = num(value()?)?.max(1),
            "--batch" => a.batch = num(value()?)?.max(1),
            "--isa" => {
                a.isa = Some(match value()?.as_str() {
                    "avx512" => Isa::Avx512,
                    "avx2" => Isa::Avx2,
                    "scalar" => Isa::Scalar,
                    other => bail!("--isa: unknown instruction set {other}\n{USAGE}"),
                })
            }
            "--json" => a.json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    a.db = db.with_context(|| format!("--db is required\n{USAGE}"))?;
    a.queries = queries.with_context(|| format!("--queries is required\n{USAGE}"))?;
    if a.dim == 0 {
        bail!("--dim must be positive");
    }
    Ok(a)
}

/// A raw little-endian f32 file as rows of `dim` floats.
fn read_rows(path: &PathBuf, dim: usize) -> Result<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let row_bytes = dim * 4;
    if bytes.is_empty() || bytes.len() % row_bytes != 0 {
        bail!(
            "{}: {} bytes is not a whole number of {dim}-float rows",
            path.display(),
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(row_bytes)
        .map(|row| {
            row.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect())
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("index_bench: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;

    let t_load = Instant::now();
    let db_rows = read_rows(&args.db, args.dim)?;
    let query_rows = read_rows(&args.queries, args.dim)?;
    let mut index = WatchlistIndex::new(MODEL, args.dim).with_threads(args.threads);
    if let Some(isa) = args.isa {
        index = index.with_isa(isa)?;
    }
    for (row, v) in db_rows.into_iter().enumerate() {
        let e = Embedding::from_raw(MODEL, v).with_context(|| format!("database row {row}"))?;
        index.add(&row.to_string(), &[e])?;
    }
    let queries: Vec<Embedding> = query_rows
        .into_iter()
        .enumerate()
        .map(|(i, v)| Embedding::from_raw(MODEL, v).with_context(|| format!("query {i}")))
        .collect::<Result<_>>()?;
    let load_s = t_load.elapsed().as_secs_f64();

    // Batch 1: one warm-up query, then blocks of queries one at a time.
    index.search_one(&queries[0], args.k)?;
    let mut batch1_rates = Vec::with_capacity(args.reps);
    let mut next = 1 % queries.len();
    for _ in 0..args.reps {
        let t = Instant::now();
        for _ in 0..args.batch1_queries {
            std::hint::black_box(index.search_one(&queries[next], args.k)?);
            next = (next + 1) % queries.len();
        }
        batch1_rates.push(args.batch1_queries as f64 / t.elapsed().as_secs_f64());
    }

    // Batch 256: one warm-up search (its answers are the ones reported), then repeats.
    let batch = &queries[..args.batch.min(queries.len())];
    let results: Vec<Vec<Match>> = index.search(batch, args.k)?;
    let mut batch_rates = Vec::with_capacity(args.reps);
    for _ in 0..args.reps {
        let t = Instant::now();
        std::hint::black_box(index.search(batch, args.k)?);
        batch_rates.push(batch.len() as f64 / t.elapsed().as_secs_f64());
    }

    let b1 = median(&batch1_rates);
    let bn = median(&batch_rates);
    if args.json {
        let ids: Vec<Vec<u64>> = results
            .iter()
            .map(|l| {
                l.iter()
                    .map(|m| m.subject_id.parse::<u64>().unwrap_or(u64::MAX))
                    .collect()
            })
            .collect();
        let scores: Vec<Vec<f32>> = results
            .iter()
            .map(|l| l.iter().map(|m| m.score).collect())
            .collect();
        let out = json!({
            "method": "passwatch WatchlistIndex",
            "isa": format!("{:?}", index.isa()),
            "threads": args.threads,
            "rows": index.references(),
            "dim": args.dim,
            "k": args.k,
            "load_s": load_s,
            "batch1": {"qps": b1, "rates": batch1_rates, "queries_per_rep": args.batch1_queries},
            "batch": {"size": batch.len(), "qps": bn, "rates": batch_rates},
            "ids": ids,
            "scores": scores,
        });
        println!("{out}");
    } else {
        println!(
            "passwatch WatchlistIndex, {} rows × {}, {} thread(s), {:?}, k = {} (load {:.2} s)",
            index.references(),
            args.dim,
            args.threads,
            index.isa(),
            args.k,
            load_s
        );
        println!(
            "  batch 1:   {b1:8.1} queries/s (median of {} reps)",
            args.reps
        );
        println!(
            "  batch {:<3}: {bn:8.1} queries/s (median of {} reps)",
            batch.len(),
            args.reps
        );
    }
    Ok(())
}
