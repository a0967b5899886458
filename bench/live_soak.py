#!/usr/bin/env python3
"""Live capacity and soak: N RTSP cameras into one `passwatch run`, measured from outside.

Starts N `rtsp-serve` processes (each serves the file as a live, looped camera on 127.0.0.1),
writes a site with one camera per server in a zone restricted at all times, starts
`passwatch run` on it with the demo pass registry, and samples the process every few seconds:
resident memory (VmRSS), CPU time (utime + stime of every thread), and its `/metrics`
(per-camera frames in, analysed, dropped, reconnects). Every event line `passwatch run` prints
carries `latency_ms`: the time from the capture (arrival) of the sighting's last read to the
event being synced to disk. At the end it sends SIGTERM and times the orderly stop.

Reported (JSON on stdout and, with --report DIR, report.json + report.md):
  - per camera: analysed frames/s, frames in/s, frames dropped, reconnects, over the soak;
  - capture-to-event latency p50/p99 (and the frame stage: arrival to analysis done, from the
    histogram);
  - CPU (cores busy) and RSS over time; RSS at the end against RSS after the warm-up (--warmup,
    default the first minute);
  - the machine and the settings.

Usage (after `cargo build --release -p passwatch`):
  python3 bench/live_soak.py --file ../shared/fixtures/video/plates_dev.mp4 --cameras 4 \
      --minutes 11 --report bench/runs/DATE-MACHINE/live-4cams
"""

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def start_server(binary, file):
    p = subprocess.Popen(
        [binary, "--file", str(file), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = p.stdout.readline().strip()
    if not url.startswith("rtsp://"):
        p.kill()
        sys.exit(f"rtsp-serve did not print its URL (got {url!r})")
    return p, url


def site_toml(urls, analyse_fps):
    s = 'name = "soak"\nutc_offset = "+00:00"\n\n[plates]\nregions = ["us", "eu", "br"]\n'
    s += "fuzzy_max_cost = 0.75\nmin_confidence = 0.5\n\n"
    for i, url in enumerate(urls):
        s += f'[[cameras]]\nid = "cam{i + 1}"\nsource = "{url}"\nzone = "centre"\n'
        s += 'analyses = ["plates"]\n'
        if analyse_fps:
            s += f"analyse_fps = {analyse_fps}\n"
        s += "\n"
    s += '[[zones]]\nid = "centre"\n[[zones.restrictions]]\n\n[[zones]]\nid = "north"\n'
    return s


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


METRIC = re.compile(r'^(passwatch_[a-z_]+)(?:\{([^}]*)\})?\s+([0-9.eE+-]+|NaN)$')


TOKEN = None


def viewer_token(passwatch, out):
    """A viewer and its token in the run's data folder: /metrics needs one (design/review-api.md)."""
    subprocess.run([passwatch, "users", "add", "soak", "--role", "viewer", "--data", out],
                   input="soak-viewer-password\n", text=True, check=True, stdout=subprocess.DEVNULL)
    made = subprocess.run([passwatch, "tokens", "create", "--user", "soak", "--data", out],
                          text=True, check=True, capture_output=True)
    return made.stdout.strip().splitlines()[-1]


def scrape(base):
    request = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    text = urllib.request.urlopen(request, timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        m = METRIC.match(line)
        if not m:
            continue
        name, labels, value = m.groups()
        lab = dict(re.findall(r'(\w+)="([^"]*)"', labels or ""))
        out.setdefault(name, []).append((lab, float(value)))
    return out


def per_camera(metrics, name):
    """Per camera, summed over the other labels (frames dropped: at the source and in the queue)."""
    out = {}
    for lab, v in metrics.get(name, []):
        if "camera" in lab:
            out[lab["camera"]] = out.get(lab["camera"], 0) + v
    return out


def histogram_quantile(metrics, stage, q):
    buckets = sorted(
        (float("inf") if lab["le"] == "+Inf" else float(lab["le"]), v)
        for lab, v in metrics.get("passwatch_stage_latency_seconds_bucket", [])
        if lab.get("stage") == stage
    )
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    for le, count in buckets:
        if count >= q * total:
            return le
    return None


def percentile(values, q):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, round(q * (len(v) - 1))))
    return v[k]


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) / 1024 / 1024
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "kernel": platform.release(),
        "load_before": os.getloadavg(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", required=True, type=Path)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=11.0)
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds before the soak's baseline")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--analyse-fps", type=float, default=None)
    ap.add_argument("--passes", type=Path, default=ROOT / "fixtures/demo/passes.csv")
    ap.add_argument("--passwatch", type=Path, default=ROOT / "target/release/passwatch")
    ap.add_argument("--rtsp-serve", type=Path, default=ROOT / "target/release/rtsp-serve")
    ap.add_argument("--report", type=Path, default=None)
    ap.add_argument("run_args", nargs="*", help="more options for passwatch run (after --)")
    args = ap.parse_args()

    info = machine()
    work = Path(tempfile.mkdtemp(prefix="passwatch-soak-"))
    servers = [start_server(str(args.rtsp_serve), args.file) for _ in range(args.cameras)]
    urls = [u for _, u in servers]
    (work / "site.toml").write_text(site_toml(urls, args.analyse_fps))
    global TOKEN
    TOKEN = viewer_token(str(args.passwatch), str(work / "out"))
    cmd = [
        str(args.passwatch), "run", "--site", str(work / "site.toml"), "--out", str(work / "out"),
        "--passes", str(args.passes), "--http", "127.0.0.1:0", *args.run_args,
    ]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(work / "run.log", "w"), text=True)
    first = run.stdout.readline().strip()
    if not first.startswith("listening on "):
        sys.exit(f"passwatch run did not start: {first!r}; see {work / 'run.log'}")
    base = first.split("listening on ", 1)[1]
    started = time.monotonic()
    events = []

    def read_events():
        for line in run.stdout:
            m = re.search(r"latency_ms=(\d+)", line)
            if line.startswith("event ") and m:
                events.append((time.monotonic() - started, int(m.group(1)), line.split()[2]))

    threading.Thread(target=read_events, daemon=True).start()

    samples = []
    baseline = None
    end = started + args.minutes * 60
    try:
        while time.monotonic() < end:
            time.sleep(args.sample)
            t = time.monotonic() - started
            try:
                m = scrape(base)
            except OSError as e:
                print(f"scrape failed at {t:.0f} s: {e}", file=sys.stderr)
                continue
            s = {
                "t": t,
                "rss_kib": rss_kib(run.pid),
                "cpu_s": cpu_s(run.pid),
                "frames_in": per_camera(m, "passwatch_camera_frames_in_total"),
                "analysed": per_camera(m, "passwatch_camera_frames_analysed_total"),
                "dropped": per_camera(m, "passwatch_camera_frames_dropped_total"),
                "reconnects": per_camera(m, "passwatch_camera_reconnects_total"),
                "events": len(events),
            }
            samples.append(s)
            if baseline is None and t >= args.warmup:
                baseline = s
            print(
                f"{t:6.0f} s  rss {s['rss_kib'] / 1024:7.1f} MiB  cpu {s['cpu_s']:7.1f} s  "
                f"analysed {sum(s['analysed'].values()):6.0f}  events {len(events)}",
                file=sys.stderr,
            )
        last_metrics = scrape(base)
    finally:
        stop_at = time.monotonic()
        run.send_signal(signal.SIGTERM)
        try:
            code = run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
            code = "killed after 60 s"
        stop_s = time.monotonic() - stop_at
        for p, _ in servers:
            p.kill()
            p.wait()

    if baseline is None:
        baseline = samples[0]
    last = samples[-1]
    span = last["t"] - baseline["t"]
    cams = {}
    for cam in sorted(last["analysed"]):
        cams[cam] = {
            "analysed_fps": (last["analysed"][cam] - baseline["analysed"].get(cam, 0)) / span,
            "frames_in_fps": (last["frames_in"][cam] - baseline["frames_in"].get(cam, 0)) / span,
            "frames_dropped": last["dropped"].get(cam, 0),
            "frames_dropped_in_soak": last["dropped"].get(cam, 0) - baseline["dropped"].get(cam, 0),
            "frames_in": last["frames_in"][cam],
            "frames_analysed": last["analysed"][cam],
            "reconnects": last["reconnects"].get(cam, 0),
        }
    latencies = [ms for _, ms, _ in events]
    rss_ratio = last["rss_kib"] / baseline["rss_kib"]
    rss_max = max(s["rss_kib"] for s in samples)
    result = {
        "machine": info | {"load_after": os.getloadavg()},
        "settings": {
            "file": str(args.file),
            "cameras": args.cameras,
            "minutes": args.minutes,
            "warmup_s": args.warmup,
            "analyse_fps": args.analyse_fps,
            "passes": str(args.passes),
            "command": cmd,
        },
        "soak_s": span,
        "cameras": cams,
        "analysed_fps_per_camera_mean": statistics.mean(c["analysed_fps"] for c in cams.values()),
        "frames_in_fps_per_camera_mean": statistics.mean(c["frames_in_fps"] for c in cams.values()),
        "cpu_cores_busy": (last["cpu_s"] - baseline["cpu_s"]) / span,
        "rss_mib": {
            "after_warmup": baseline["rss_kib"] / 1024,
            "end": last["rss_kib"] / 1024,
            "max": rss_max / 1024,
            "end_over_warmup": rss_ratio,
            "within_10_percent": abs(rss_ratio - 1) <= 0.10,
        },
        "events": {
            "n": len(events),
            "kinds": {k: sum(1 for e in events if e[2] == k) for k in {e[2] for e in events}},
            "capture_to_event_ms": {
                "p50": percentile(latencies, 0.5),
                "p99": percentile(latencies, 0.99),
                "max": max(latencies) if latencies else None,
            },
        },
        "frame_stage_s": {
            "p50_bucket": histogram_quantile(last_metrics, "frame", 0.5),
            "p99_bucket": histogram_quantile(last_metrics, "frame", 0.99),
        },
        "queue_stage_s": {
            "p50_bucket": histogram_quantile(last_metrics, "queue", 0.5),
            "p99_bucket": histogram_quantile(last_metrics, "queue", 0.99),
        },
        "shutdown": {"exit": code, "seconds": stop_s},
        "rss_series_mib": [(round(s["t"]), round(s["rss_kib"] / 1024, 1)) for s in samples],
    }
    print(json.dumps(result, indent=2))
    if args.report:
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / "report.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.report / "report.md").write_text(markdown(result))


def markdown(r):
    m = r["machine"]
    lines = [
        f"# Live: {r['settings']['cameras']} RTSP cameras, {r['soak_s'] / 60:.1f} min soak",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; load "
        f"{m['load_before'][0]:.2f} before, {m['load_after'][0]:.2f} after.",
        f"File: `{Path(r['settings']['file']).name}`, served by `rtsp-serve` (real time, looped).",
        "",
        "| camera | frames in/s | analysed frames/s | dropped (soak) | reconnects |",
        "|---|---:|---:|---:|---:|",
    ]
    for cam, c in r["cameras"].items():
        lines.append(
            f"| {cam} | {c['frames_in_fps']:.1f} | {c['analysed_fps']:.2f} | "
            f"{c['frames_dropped_in_soak']:.0f} | {c['reconnects']:.0f} |"
        )
    e = r["events"]["capture_to_event_ms"]
    rss = r["rss_mib"]
    lines += [
        "",
        f"- CPU: {r['cpu_cores_busy']:.2f} cores busy on average.",
        f"- RSS: {rss['after_warmup']:.0f} MiB after the warm-up, {rss['end']:.0f} MiB at the end "
        f"({100 * (rss['end_over_warmup'] - 1):+.1f}%), max {rss['max']:.0f} MiB.",
        f"- Events: {r['events']['n']}; capture to event p50 {e['p50']} ms, p99 {e['p99']} ms.",
        f"- Shutdown on SIGTERM: exit {r['shutdown']['exit']} in {r['shutdown']['seconds']:.1f} s.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
