//! The bench's output: the terminal table, the markdown report and its SVG chart.

use crate::figures::{BenchReport, SweepPoint};
use crate::reference::Side;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::Path;

/// Writes `report.md`, `chart.svg` and `bench.json` into `dir` (created if missing).
pub fn write_report(report: &BenchReport, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("{}: cannot write", p.display()))
    };
    write("report.md", markdown(report, "chart.svg"))?;
    write("chart.svg", svg(&report.sweep, report.settings.analyse_fps))?;
    write("bench.json", serde_json::to_string_pretty(report)? + "\n")?;
    Ok(())
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn headline(r: &BenchReport) -> String {
    let s = &r.settings;
    format!(
        "{} ({}×{}, {:.0} fps, {:.1} s): {} stream{}, {} worker{} × {} thread{}, analysing {} fps \
         of each, {}, {} provider{}",
        file_name(&r.input),
        r.video.width,
        r.video.height,
        r.video.fps,
        r.video.duration_s,
        s.streams,
        plural(s.streams),
        s.workers,
        plural(s.workers),
        s.threads,
        plural(s.threads),
        s.analyse_fps,
        s.analyses.join("+"),
        r.machine.provider_used,
        if s.analyses.iter().any(|a| a == "plates") && s.detector == "platedet" {
            format!(", platedet canvas {}", s.platedet_canvas)
        } else {
            String::new()
        }
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn machine_line(r: &BenchReport) -> String {
    let m = &r.machine;
    let gpu = if m.gpus.is_empty() {
        "no GPU".to_string()
    } else {
        m.gpus.join("; ")
    };
    format!(
        "{} ({} cores, {:.1} GiB), {gpu}; load average {:.2} before, {:.2} after; ONNX Runtime {}; \
         GStreamer {}, H.264 decoder {}; passwatch {}",
        m.cpu,
        m.cores,
        m.memory_gib,
        m.load_before[0],
        m.load_after[0],
        m.onnxruntime.split(' ').next().unwrap_or(""),
        m.gstreamer.trim_start_matches("GStreamer "),
        m.h264_decoder,
        m.passwatch
    )
}

/// The terminal table.
pub fn table(r: &BenchReport) -> String {
    let mut t = String::new();
    let n = r.settings.streams.max(1) as f64;
    let _ = writeln!(t, "passwatch bench: {}", headline(r));
    let _ = writeln!(t, "machine: {}", machine_line(r));
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "throughput                            total    per stream"
    );
    let _ = writeln!(
        t,
        "  decode only ({} decoder{})     {:>9.1} fr/s  {:>9.1}",
        r.decode_only.streams,
        plural(r.decode_only.streams),
        r.decode_only_fps,
        r.decode_only_fps / r.decode_only.streams.max(1) as f64
    );
    let _ = writeln!(
        t,
        "  pipeline, decoded             {:>9.1} fr/s  {:>9.1}",
        r.pipeline_fps,
        r.pipeline_fps / n
    );
    let _ = writeln!(
        t,
        "  pipeline, analysed            {:>9.2} fr/s  {:>9.2}  (slowest {:.2}; real time needs {:.2}: {})",
        r.analysed_fps,
        r.analysed_fps / n,
        r.min_stream_analysed_fps,
        crate::analysis::REALTIME_SHARE * r.settings.analyse_fps,
        if r.realtime { "held" } else { "NOT held" }
    );
    let l = &r.limit;
    let _ = writeln!(
        t,
        "  limit (best possible)         {:>9.2} fr/s  achieved {:.0}% of it",
        r.limit_fps,
        100.0 * r.limit_share
    );
    let _ = writeln!(
        t,
        "    = decoding {:.1} ms ({:.1} frames) {} models {:.1} ms per analysed frame{}",
        l.decode_ms_per_analysed,
        l.decoded_per_analysed,
        if l.shared_hardware {
            "+"
        } else {
            "overlapped with"
        },
        l.inference_ms_per_analysed,
        if l.shared_hardware {
            " (same cores: they add up)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        t,
        "  in CPU time: {:.0} ms per analysed frame, decoding and models alone {:.0} ms: {:.0}%",
        r.cpu.pipeline_ms_per_analysed,
        r.cpu.limit_ms_per_analysed,
        100.0 * r.cpu.share
    );
    let _ = writeln!(t);
    let _ = writeln!(t, "verdict: {}", r.verdict.text);
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "stage latency per analysed frame   p50 ms    p99 ms   mean ms"
    );
    for (name, lat) in ordered_stages(r) {
        let _ = writeln!(
            t,
            "  {:<30} {:>8.2}  {:>8.2}  {:>8.2}",
            stage_label(name),
            lat.p50_ms,
            lat.p99_ms,
            lat.mean_ms
        );
    }
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "models alone ({} session{} × {} thread{}, tight loop on the file's own inputs)",
        r.settings.workers,
        plural(r.settings.workers),
        r.settings.threads,
        plural(r.settings.threads)
    );
    let _ = writeln!(
        t,
        "  {:<14} {:<13} {:<9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "model",
        "stage",
        "item",
        "per frame",
        "prep ms",
        "call p50",
        "call p99",
        "ms/item",
        "ms/frame"
    );
    for m in &r.models {
        let _ = writeln!(
            t,
            "  {:<14} {:<13} {:<9} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            m.model,
            m.stage,
            m.item,
            m.items_per_frame,
            m.preprocess_ms_per_item,
            m.call.p50_ms,
            m.call.p99_ms,
            m.ms_per_item,
            m.ms_per_frame
        );
    }
    if let Some(ms) = &r.max_streams {
        let _ = writeln!(t);
        let trials: Vec<String> = ms
            .trials
            .iter()
            .map(|x| format!("{}{}", x.streams, if x.held { "✓" } else { "✗" }))
            .collect();
        let _ = writeln!(
            t,
            "streams held at real time at {} analysed fps: {}{} (trials {})",
            ms.analyse_fps,
            ms.streams,
            if ms.capped { "+ (search bound)" } else { "" },
            trials.join(" ")
        );
    }
    if r.sweep.len() > 1 {
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "against N   analysed/s   slowest   frame p50 ms   frame p99 ms   held"
        );
        for p in &r.sweep {
            let _ = writeln!(
                t,
                "  {:>4}   {:>10.2}   {:>7.2}   {:>12.1}   {:>12.1}   {}",
                p.streams,
                p.analysed_fps,
                p.min_stream_analysed_fps,
                p.frame_p50_ms,
                p.frame_p99_ms,
                if p.held { "yes" } else { "no" }
            );
        }
    }
    if let Some(c) = &r.reference {
        let _ = writeln!(t);
        let v = &c.reference.versions;
        let _ = writeln!(
            t,
            "reference (Python {}, onnxruntime {}, OpenCV {}; {} threads), {} analysed frames:",
            v.get("python").map_or("?", String::as_str),
            v.get("onnxruntime").map_or("?", String::as_str),
            v.get("opencv").map_or("?", String::as_str),
            c.reference.threads,
            c.reference.frames_analysed
        );
        let sides: Vec<&Side> = std::iter::once(&c.same_work)
            .chain(c.as_configured.as_ref())
            .collect();
        for side in &sides {
            let a = &side.agreement;
            let _ = writeln!(
                t,
                "  {}: passwatch {:.2} analysed/s, reference {:.2}: {:.2}× ({:.2}× in CPU time); \
                 the same plate texts in {}/{} frames ({:.1}%), raw reads {}/{} ({:.1}%)",
                side_label(side),
                side.analysed_fps,
                c.reference.analysed_fps,
                side.ratio,
                side.cpu_ratio,
                a.same_texts,
                a.frames,
                100.0 * a.share,
                a.same_raw,
                a.frames,
                100.0 * a.raw_share
            );
        }
        let _ = writeln!(
            t,
            "  ms per analysed frame  {}  reference",
            sides
                .iter()
                .map(|s| format!("{:>9}", format!("pw 1/{}", s.detect_every)))
                .collect::<Vec<_>>()
                .join(" ")
        );
        for (k, v) in &c.reference.stages_ms {
            let ours: Vec<String> = sides
                .iter()
                .map(|s| {
                    s.stages_ms
                        .get(k)
                        .map_or("-".into(), |x| format!("{x:>9.1}"))
                })
                .collect();
            let _ = writeln!(t, "    {k:<20} {}  {v:>9.1}", ours.join(" "));
        }
        let tm: f64 = c
            .same_work
            .stages_ms
            .get("track+match")
            .copied()
            .unwrap_or(0.0);
        let _ = writeln!(t, "    {:<20} {tm:>9.1}  (passwatch only)", "track+match");
        for e in &c.same_work.agreement.examples {
            let _ = writeln!(
                t,
                "  frame {} ({:.2} s): passwatch {:?}, reference {:?}: {}",
                e.index, e.at_s, e.passwatch, e.reference, e.cause
            );
        }
    }
    t
}

fn side_label(side: &Side) -> String {
    if side.detect_every <= 1 {
        "same work (detector on every frame)".into()
    } else {
        format!(
            "as configured (detector on 1 frame in {})",
            side.detect_every
        )
    }
}

fn stage_label(name: &str) -> String {
    match name {
        "decode" => "decode (frames since last)".into(),
        "convert" => "convert I420 → RGB".into(),
        "queue" => "queue (wait for a worker)".into(),
        "plate_detect" => "plate detect (pre+model+post)".into(),
        "plate_refine" => "plate lines (DBNet in boxes)".into(),
        "plate_ocr" => "plate OCR (crop+model+CTC)".into(),
        "face_detect" => "face detect (pre+model+post)".into(),
        "face_align" => "face align + quality".into(),
        "face_embed" => "face embed".into(),
        "decide" => "decide (track, consensus, registry, rules, evidence)".into(),
        "frame" => "frame, end to end (not decode)".into(),
        other => other.into(),
    }
}

/// Stages in pipeline order; unknown ones after.
fn ordered_stages(r: &BenchReport) -> Vec<(&str, &crate::stats::Latency)> {
    const ORDER: &[&str] = &[
        "decode",
        "convert",
        "queue",
        "plate_detect",
        "plate_refine",
        "plate_ocr",
        "face_detect",
        "face_align",
        "face_embed",
        "decide",
        "frame",
    ];
    let mut out: Vec<(&str, &crate::stats::Latency)> = ORDER
        .iter()
        .filter_map(|k| r.stages.get_key_value(*k).map(|(k, v)| (k.as_str(), v)))
        .collect();
    for (k, v) in &r.stages {
        if !ORDER.contains(&k.as_str()) {
            out.push((k.as_str(), v));
        }
    }
    out
}

/// The markdown report; `chart` is the SVG's file name next to it.
pub fn markdown(r: &BenchReport, chart: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "# passwatch bench: {}\n", file_name(&r.input));
    let _ = writeln!(t, "{}.\n", headline(r));
    let _ = writeln!(
        t,
        "**Machine:** {}. OS: {}.\n",
        machine_line(r),
        r.machine.os
    );
    let _ = writeln!(
        t,
        "Run {} ({:.0} s in all). Every figure below was measured in this one run.\n",
        r.started_at, r.elapsed_s
    );
    let _ = writeln!(t, "## Throughput\n");
    let _ = writeln!(t, "| | total | per stream |\n|---|---:|---:|");
    let n = r.settings.streams.max(1) as f64;
    let _ = writeln!(
        t,
        "| decode only, {} decoder(s), frames/s | {:.1} | {:.1} |",
        r.decode_only.streams,
        r.decode_only_fps,
        r.decode_only_fps / r.decode_only.streams.max(1) as f64
    );
    let _ = writeln!(
        t,
        "| pipeline, decoded frames/s | {:.1} | {:.1} |",
        r.pipeline_fps,
        r.pipeline_fps / n
    );
    let _ = writeln!(
        t,
        "| pipeline, analysed frames/s | {:.2} | {:.2} (slowest {:.2}) |",
        r.analysed_fps,
        r.analysed_fps / n,
        r.min_stream_analysed_fps
    );
    let _ = writeln!(
        t,
        "| limit: best possible analysed frames/s | {:.2} | |",
        r.limit_fps
    );
    let _ = writeln!(
        t,
        "| achieved share of the limit | {:.0}% | |\n",
        100.0 * r.limit_share
    );
    let l = &r.limit;
    let _ = writeln!(
        t,
        "The limit: decoding the {:.1} frames behind each analysed frame takes {:.1} ms with \
         decoding alone; the models take {:.1} ms per analysed frame alone (table below); {}. \
         Real time at {} fps per stream needs every stream at ≥ {:.2} analysed frames/s: {}.\n",
        l.decoded_per_analysed,
        l.decode_ms_per_analysed,
        l.inference_ms_per_analysed,
        if l.shared_hardware {
            "both run on the same cores, so at best their times add up"
        } else {
            "they run on different hardware, so at best they overlap and the slower one bounds"
        },
        r.settings.analyse_fps,
        crate::analysis::REALTIME_SHARE * r.settings.analyse_fps,
        if r.realtime { "held" } else { "not held" }
    );
    let _ = writeln!(
        t,
        "In CPU time (steadier than wall time when other processes share the machine): the \
         pipeline spends {:.0} ms per analysed frame, decoding and the models alone {:.0} ms, so \
         {:.0}% of its CPU time is that work; at that cost the {} cores would give {:.2} \
         analysed frames/s.\n",
        r.cpu.pipeline_ms_per_analysed,
        r.cpu.limit_ms_per_analysed,
        100.0 * r.cpu.share,
        r.machine.cores,
        r.cpu.cores_bound_fps
    );
    let _ = writeln!(t, "**Verdict:** {}.\n", r.verdict.text);
    let _ = writeln!(t, "## Stage latency per analysed frame\n");
    let _ = writeln!(
        t,
        "| stage | p50 ms | p99 ms | mean ms |\n|---|---:|---:|---:|"
    );
    for (name, lat) in ordered_stages(r) {
        let _ = writeln!(
            t,
            "| {} | {:.2} | {:.2} | {:.2} |",
            stage_label(name),
            lat.p50_ms,
            lat.p99_ms,
            lat.mean_ms
        );
    }
    let _ = writeln!(
        t,
        "\n## Models alone\n\n{} session(s) × {} thread(s) per model, in a tight loop on tensors \
         made from {} frames of the file (and the plate boxes, crops and faces in them); \
         provider {}.\n",
        r.settings.workers,
        r.settings.threads,
        crate::figures::KEPT_FRAMES,
        r.machine.provider_used
    );
    let _ = writeln!(
        t,
        "| model | stage | item | items per frame | preprocess ms/item | call p50 ms | call p99 ms \
         | ms/item | ms/frame |\n|---|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for m in &r.models {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            m.model,
            m.stage,
            m.item,
            m.items_per_frame,
            m.preprocess_ms_per_item,
            m.call.p50_ms,
            m.call.p99_ms,
            m.ms_per_item,
            m.ms_per_frame
        );
    }
    let _ = writeln!(t, "\n## Against the number of streams\n");
    let _ = writeln!(t, "![throughput and latency against N]({chart})\n");
    let _ = writeln!(
        t,
        "| streams | analysed/s | slowest stream | frame p50 ms | frame p99 ms | held |\n\
         |---:|---:|---:|---:|---:|---|"
    );
    for p in &r.sweep {
        let _ = writeln!(
            t,
            "| {} | {:.2} | {:.2} | {:.1} | {:.1} | {} |",
            p.streams,
            p.analysed_fps,
            p.min_stream_analysed_fps,
            p.frame_p50_ms,
            p.frame_p99_ms,
            if p.held { "yes" } else { "no" }
        );
    }
    if let Some(ms) = &r.max_streams {
        let _ = writeln!(
            t,
            "\n**Streams held at real time at {} analysed frames/s: {}{}** (every stream ≥ 95% of \
             the rate; trials: {}).",
            ms.analyse_fps,
            ms.streams,
            if ms.capped {
                " or more (search bound)"
            } else {
                ""
            },
            ms.trials
                .iter()
                .map(|x| format!("{} {}", x.streams, if x.held { "held" } else { "not held" }))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(c) = &r.reference {
        let v = &c.reference.versions;
        let _ = writeln!(t, "\n## Against the reference\n");
        let _ = writeln!(
            t,
            "`bench/reference/plate_reference.py` (Python {}, onnxruntime {}, numpy {}, OpenCV {}), \
             same models, same preprocessing, {} threads, on the first {} analysed frames; \
             passwatch on exactly the same frames (one stream, plates only).\n",
            v.get("python").map_or("?", String::as_str),
            v.get("onnxruntime").map_or("?", String::as_str),
            v.get("numpy").map_or("?", String::as_str),
            v.get("opencv").map_or("?", String::as_str),
            c.reference.threads,
            c.reference.frames_analysed
        );
        let sides: Vec<&Side> = std::iter::once(&c.same_work)
            .chain(c.as_configured.as_ref())
            .collect();
        let head: Vec<String> = sides.iter().map(|s| side_label(s)).collect();
        let _ = writeln!(
            t,
            "| | {} | reference |\n|---|{}---:|",
            head.join(" | "),
            "---:|".repeat(sides.len())
        );
        let row = |name: &str, ours: Vec<String>, theirs: String| {
            format!("| {name} | {} | {theirs} |", ours.join(" | "))
        };
        let _ = writeln!(
            t,
            "{}",
            row(
                "analysed frames/s",
                sides
                    .iter()
                    .map(|s| format!("{:.2}", s.analysed_fps))
                    .collect(),
                format!("{:.2}", c.reference.analysed_fps)
            )
        );
        let _ = writeln!(
            t,
            "{}",
            row(
                "passwatch ÷ reference",
                sides
                    .iter()
                    .map(|s| format!("**{:.2}×**", s.ratio))
                    .collect(),
                String::new()
            )
        );
        let _ = writeln!(
            t,
            "{}",
            row(
                "CPU ms per analysed frame (all threads)",
                sides
                    .iter()
                    .map(|s| format!("{:.0}", s.cpu_ms_per_analysed))
                    .collect(),
                format!(
                    "{:.0}",
                    c.reference.cpu_s * 1e3 / c.reference.frames_analysed.max(1) as f64
                )
            )
        );
        let _ = writeln!(
            t,
            "{}",
            row(
                "reference ÷ passwatch, CPU time",
                sides
                    .iter()
                    .map(|s| format!("{:.2}×", s.cpu_ratio))
                    .collect(),
                String::new()
            )
        );
        let _ = writeln!(
            t,
            "{}",
            row(
                "decoded frames/s",
                sides
                    .iter()
                    .map(|s| format!("{:.1}", s.decoded_fps))
                    .collect(),
                format!("{:.1}", c.reference.decoded_fps)
            )
        );
        for (k, theirs) in &c.reference.stages_ms {
            let _ = writeln!(
                t,
                "{}",
                row(
                    &format!("{k}, ms per analysed frame"),
                    sides
                        .iter()
                        .map(|s| s.stages_ms.get(k).map_or("–".into(), |x| format!("{x:.1}")))
                        .collect(),
                    format!("{theirs:.1}")
                )
            );
        }
        let _ = writeln!(
            t,
            "{}",
            row(
                "track + match, ms per analysed frame",
                sides
                    .iter()
                    .map(|s| {
                        s.stages_ms
                            .get("track+match")
                            .map_or("–".into(), |x| format!("{x:.1}"))
                    })
                    .collect(),
                "–".into()
            )
        );
        for side in &sides {
            let a = &side.agreement;
            let _ = writeln!(
                t,
                "\n**{}: passwatch ÷ reference {:.2}×.** Reads: the same plate texts in {} of {} \
                 frames ({:.1}%), the same raw CTC reads in {} ({:.1}%); {} frames had a read on \
                 either side.",
                side_label(side),
                side.ratio,
                a.same_texts,
                a.frames,
                100.0 * a.share,
                a.same_raw,
                100.0 * a.raw_share,
                a.frames_with_reads
            );
            if !a.causes.is_empty() {
                let _ = writeln!(t, "\n| cause of a difference | frames |\n|---|---:|");
                for (cause, k) in &a.causes {
                    let _ = writeln!(t, "| {cause} | {k} |");
                }
                let _ = writeln!(
                    t,
                    "\n| frame | at s | passwatch | reference | cause |\n|---:|---:|---|---|---|"
                );
                for e in &a.examples {
                    let _ = writeln!(
                        t,
                        "| {} | {:.2} | {} | {} | {} |",
                        e.index,
                        e.at_s,
                        e.passwatch.join(", "),
                        e.reference.join(", "),
                        e.cause
                    );
                }
            }
        }
        let _ = writeln!(t);
        if !c.reference.simplifications.is_empty() {
            let _ = writeln!(t, "\nWhere the reference does less than passwatch:\n");
            for s in &c.reference.simplifications {
                let _ = writeln!(t, "- {s}");
            }
        }
        let _ = writeln!(t, "\nCommand: `{}`", c.command);
    }
    t
}

/// One series of a chart: its name, colour and (N, value) points.
type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);
/// One panel of a chart: title, top edge, series, and an optional horizontal reference line.
type Panel<'a> = (&'a str, f64, Vec<Series<'a>>, Option<f64>);

/// An SVG chart of the points against N: analysed frames/s (total, and the slowest stream with
/// the real-time line) above, frame latency p50/p99 below.
pub fn svg(points: &[SweepPoint], analyse_fps: f64) -> String {
    const W: f64 = 640.0;
    const PANEL_H: f64 = 200.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 30.0;
    const GAP: f64 = 60.0;
    let h = TOP + 2.0 * PANEL_H + GAP + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" \
         viewBox=\"0 0 {W} {h}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let max_n = points.iter().map(|p| p.streams).max().unwrap_or(1).max(1) as f64;
    let x_of = |n: f64| {
        LEFT + (W - LEFT - RIGHT)
            * if max_n > 1.0 {
                (n - 1.0) / (max_n - 1.0)
            } else {
                0.5
            }
    };
    let panels: [Panel<'_>; 2] = [
        (
            "analysed frames/s",
            TOP,
            vec![
                (
                    "all streams",
                    "#1f77b4",
                    points
                        .iter()
                        .map(|p| (p.streams as f64, p.analysed_fps))
                        .collect(),
                ),
                (
                    "slowest stream",
                    "#ff7f0e",
                    points
                        .iter()
                        .map(|p| (p.streams as f64, p.min_stream_analysed_fps))
                        .collect(),
                ),
            ],
            Some(crate::analysis::REALTIME_SHARE * analyse_fps),
        ),
        (
            "frame latency, ms",
            TOP + PANEL_H + GAP,
            vec![
                (
                    "p50",
                    "#2ca02c",
                    points
                        .iter()
                        .map(|p| (p.streams as f64, p.frame_p50_ms))
                        .collect(),
                ),
                (
                    "p99",
                    "#d62728",
                    points
                        .iter()
                        .map(|p| (p.streams as f64, p.frame_p99_ms))
                        .collect(),
                ),
            ],
            None,
        ),
    ];
    for (title, y0, series, hline) in panels.iter() {
        let y_max = series
            .iter()
            .flat_map(|(_, _, pts)| pts.iter().map(|p| p.1))
            .chain(hline.iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
            .max(1e-6)
            * 1.1;
        let y_of = |v: f64| y0 + PANEL_H - PANEL_H * (v / y_max).clamp(0.0, 1.0);
        let _ = writeln!(
            s,
            "<text x=\"{LEFT}\" y=\"{:.1}\" font-weight=\"bold\">{title}</text>",
            y0 - 8.0
        );
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y0}\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"black\"/>\
             <line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>",
            y0 + PANEL_H,
            y0 + PANEL_H,
            W - RIGHT,
            y0 + PANEL_H
        );
        for k in 0..=4 {
            let v = y_max * k as f64 / 4.0;
            let y = y_of(v);
            let _ = writeln!(
                s,
                "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                W - RIGHT,
                LEFT - 4.0,
                y + 4.0,
                tick(v)
            );
        }
        for p in points {
            let x = x_of(p.streams as f64);
            let _ = writeln!(
                s,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                y0 + PANEL_H + 14.0,
                p.streams
            );
        }
        if let Some(v) = hline {
            let y = y_of(*v);
            let _ = writeln!(
                s,
                "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#888\" \
                 stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" \
                 fill=\"#555\">real time per stream ({})</text>",
                W - RIGHT,
                W - RIGHT,
                y - 4.0,
                tick(*v)
            );
        }
        for (i, (name, colour, pts)) in series.iter().enumerate() {
            let path: Vec<String> = pts
                .iter()
                .filter(|p| p.1.is_finite())
                .map(|&(n, v)| format!("{:.1},{:.1}", x_of(n), y_of(v)))
                .collect();
            if path.len() > 1 {
                let _ = writeln!(
                    s,
                    "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
                    path.join(" ")
                );
            }
            for &(n, v) in pts.iter().filter(|p| p.1.is_finite()) {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                    x_of(n),
                    y_of(v)
                );
            }
            let lx = LEFT + 10.0 + 130.0 * i as f64;
            let _ = writeln!(
                s,
                "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{name}</text>",
                y0 + 4.0,
                lx + 14.0,
                y0 + 13.0
            );
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">streams (N)</text>",
        LEFT + (W - LEFT - RIGHT) / 2.0,
        h - 8.0
    );
    s.push_str("</svg>\n");
    s
}

fn tick(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> Vec<SweepPoint> {
        [
            (1, 3.1, 3.1, 320.0, 410.0),
            (2, 3.3, 1.6, 600.0, 800.0),
            (4, 3.2, 0.8, 1200.0, 1500.0),
        ]
        .iter()
        .map(|&(n, a, m, p50, p99)| SweepPoint {
            streams: n,
            analysed_fps: a,
            pipeline_fps: a * 12.5,
            min_stream_analysed_fps: m,
            frame_p50_ms: p50,
            frame_p99_ms: p99,
            held: m >= 1.9,
        })
        .collect()
    }

    #[test]
    fn svg_is_well_formed_and_has_every_point() {
        let s = svg(&points(), 2.0);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        // Four series of three points each.
        assert_eq!(s.matches("<circle").count(), 12);
        assert_eq!(s.matches("<polyline").count(), 4);
        assert!(s.contains("real time per stream (1.90)"));
        // Every element opened is closed: a crude but useful check of hand-written XML.
        assert_eq!(s.matches('<').count(), s.matches('>').count());
        // One point only: no line, still a chart.
        let one = svg(&points()[..1], 2.0);
        assert_eq!(one.matches("<circle").count(), 4);
        assert_eq!(one.matches("<polyline").count(), 0);
        assert!(!one.contains("NaN"));
        let none = svg(&[], 2.0);
        assert!(none.contains("</svg>") && !none.contains("NaN"));
    }
}
