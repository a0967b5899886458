//! Plate fuzzy matching against a large pass registry, as one JSON object: the snapshot's build
//! time and resident memory, and matches per second (one thread) at several edit-cost budgets,
//! every query a different misread. Each budget runs through the queries until they are done or
//! `--seconds` have passed (a cost of 2 scans whole length buckets: milliseconds a query).
//!
//! ```text
//! registry_bench [--passes 1000000] [--queries 20000] [--seconds 5] [--costs 0.75,1,2]
//! ```

use anyhow::{bail, Context, Result};
use passwatch_bench::registry::{build_snapshot, misread_queries};
use serde_json::json;
use std::time::Instant;

fn main() -> Result<()> {
    let mut passes = 1_000_000usize;
    let mut queries = 20_000usize;
    let mut seconds = 5.0f64;
    let mut costs = vec![0.75f32, 1.0, 2.0];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--passes" => passes = value()?.parse().context("--passes")?,
            "--queries" => queries = value()?.parse().context("--queries")?,
            "--seconds" => seconds = value()?.parse().context("--seconds")?,
            "--costs" => {
                costs = value()?
                    .split(',')
                    .map(|c| c.trim().parse::<f32>())
                    .collect::<Result<_, _>>()
                    .context("--costs")?
            }
            "-h" | "--help" => {
                println!(
                    "registry_bench [--passes N] [--queries N] [--seconds S] [--costs 0.75,1,2]"
                );
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    let (snap, bytes, build_s) = build_snapshot(passes, 42);
    let qs = misread_queries(&snap, queries.max(1), 43);
    let mut results = Vec::new();
    for &cost in &costs {
        // A short warm-up (the last queries, not timed), then the queries in order.
        for q in qs.iter().rev().take(20) {
            std::hint::black_box(snap.fuzzy(q, cost));
        }
        let t = Instant::now();
        let (mut done, mut found, mut matched) = (0usize, 0usize, 0usize);
        for q in &qs {
            let r = snap.fuzzy(q, cost);
            found += r.len();
            matched += usize::from(!r.is_empty());
            done += 1;
            if t.elapsed().as_secs_f64() >= seconds {
                break;
            }
        }
        let s = t.elapsed().as_secs_f64();
        results.push(json!({
            "max_cost": cost,
            "queries": done,
            "matches_per_s": done as f64 / s.max(1e-9),
            "us_per_query": s * 1e6 / done.max(1) as f64,
            "queries_with_a_match": matched,
            "passes_returned": found,
        }));
    }
    let out = json!({
        "passes": snap.len(),
        "build_s": build_s,
        "resident_mib": bytes as f64 / (1u64 << 20) as f64,
        "bytes_per_pass": bytes as f64 / snap.len().max(1) as f64,
        "threads": 1,
        "results": results,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
