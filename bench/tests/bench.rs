//! `passwatch bench` end to end, on the real models and a fixture clip: the options as the
//! command line parses them, the JSON as `--json` prints it, the report files as `--report`
//! writes them.
//!
//! Needs the model cache (`scripts/setup`) and the fixtures (`PASSWATCH_FIXTURES`, default
//! `../shared/fixtures`); without them it fails with a message saying so.

use clap::Parser;
use passwatch_bench::{report, run_report, BenchArgs};
use std::path::PathBuf;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
}

fn fixture(rel: &str) -> PathBuf {
    let root = std::env::var_os("PASSWATCH_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"));
    let p = root.join(rel);
    assert!(
        p.is_file(),
        "{} not found: set PASSWATCH_FIXTURES to the fixtures folder",
        p.display()
    );
    p
}

fn args(extra: &[&str]) -> BenchArgs {
    let input = fixture("video/plates_dev.mp4");
    let mut argv = vec![
        "bench".to_string(),
        "--input".into(),
        input.display().to_string(),
        "--duration".into(),
        "5".into(),
        "--json".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    Cli::parse_from(argv).bench
}

#[test]
fn bench_json_has_the_figures_and_a_sane_share() {
    let report = run_report(&args(&[
        "--analyses",
        "plates,faces",
        "--registry-size",
        "10000",
    ]))
    .expect("passwatch bench runs");
    let v = serde_json::to_value(&report).expect("serialises");
    for key in [
        "decode_only_fps",
        "pipeline_fps",
        "analysed_fps",
        "limit_fps",
        "limit_share",
        "cpu",
        "verdict",
        "stages",
        "machine",
        "models",
        "per_stream",
    ] {
        assert!(v.get(key).is_some(), "key {key} missing from {v:#}");
    }
    // On a machine loaded by other processes, the wall-clock limit (measured a few seconds
    // apart from the pipeline) and the pipeline see different contention, and their ratio can
    // leave (0, 1.2] for reasons that are not passwatch's; the CPU-time share is then the one
    // that means something.
    let m = &report.machine;
    let loaded = m.load_before[0].max(m.load_after[0]) > m.cores as f64;
    let (name, share) = if loaded {
        eprintln!(
            "load average {:?} above {} cores: checking the CPU-time share",
            m.load_before, m.cores
        );
        ("cpu.share", report.cpu.share)
    } else {
        ("limit_share", report.limit_share)
    };
    assert!(
        share > 0.0 && share <= 1.2,
        "{name} {share} outside (0, 1.2]"
    );
    assert!(report.cpu.pipeline_ms_per_analysed > 0.0);
    assert!(
        report.decode_only_fps > report.pipeline_fps,
        "decoding alone is the faster"
    );
    assert!(report.analysed_fps > 0.0);
    assert!(matches!(
        report.verdict.bound.as_str(),
        "decode" | "inference"
    ));
    for stage in [
        "decode",
        "convert",
        "plate_detect",
        "plate_ocr",
        "face_detect",
        "decide",
        "frame",
    ] {
        let s = report
            .stages
            .get(stage)
            .unwrap_or_else(|| panic!("stage {stage} missing"));
        assert!(s.n > 0 && s.p99_ms >= s.p50_ms, "{stage}: {s:?}");
    }
    let models: Vec<&str> = report.models.iter().map(|m| m.model.as_str()).collect();
    assert!(
        models.contains(&"platedet") && models.contains(&"yunet-2023mar"),
        "{models:?}"
    );
    assert!(!report.machine.cpu.is_empty() && report.machine.cores >= 1);
    assert_eq!(report.machine.provider_used, "cpu");

    let dir = std::env::temp_dir().join(format!("passwatch-bench-test-{}", std::process::id()));
    report::write_report(&report, &dir).expect("report written");
    let md = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(
        md.contains("## Throughput") && md.contains("chart.svg"),
        "{md}"
    );
    let svg = std::fs::read_to_string(dir.join("chart.svg")).expect("chart.svg");
    assert!(svg.starts_with("<svg"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bench.json")).expect("bench.json"))
            .expect("bench.json parses");
    assert_eq!(json["settings"]["streams"], 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_options_are_refused_with_a_reason() {
    let e = run_report(&args(&["--analyses", "qr"])).unwrap_err();
    assert!(e.to_string().contains("qr"), "{e:#}");
    let e = run_report(&args(&["--streams", "0"])).unwrap_err();
    assert!(e.to_string().contains("--streams"), "{e:#}");
    let mut a = args(&[]);
    a.input = PathBuf::from("/nonexistent/clip.mp4");
    let e = run_report(&a).unwrap_err();
    assert!(format!("{e:#}").contains("/nonexistent/clip.mp4"), "{e:#}");
}
