#!/usr/bin/env bash
# Load benchmark of the review API (`passwatch serve`) over a large synthetic journal.
#
# Builds nothing: it takes the release binaries (`cargo build --release -p passwatch
# -p passwatch-bench` first). It makes a temporary data folder, writes a synthetic journal into
# it (`synthetic-journal`, 1,000,000 events by default), adds an admin user and a token, starts
# `passwatch serve` on a port the system picks, and drives it with wrk (bench/review_load.lua):
# GET /api/events rotating over realistic filters, with a bearer token, C connections for D
# seconds. Phases (--phases, comma-separated, in order):
#   read     the load alone;
#   append   the load while a second process writes events into the same journal at
#            --append-rate events/s the way `passwatch run`'s sink does (events.jsonl +
#            Journal::insert per event: `synthetic-journal --append-rate`);
#   replay   the load while a real `passwatch replay` of plates_dev.mp4 (the demo's site and
#            passes) writes into the same data folder — inference on the same cores; needs the
#            model cache (scripts/setup) and the fixtures.
# Then, unless --per-url 0, each URL alone for --per-url seconds: once over 1 connection (its
# service time) and once over C connections. serve's VmRSS/VmHWM is sampled every second.
#
# Results go to --out DIR: result.json (everything), summary.md, urls.txt, wrk-*.txt,
# rss.tsv, synthetic.json, writer-*.json.
#
# Usage: bench/review_load.sh --out DIR [--bin DIR] [--events N] [--seed N] [--duration S]
#          [--connections C] [--threads T] [--phases read,append] [--append-rate R]
#          [--per-url S] [--journal FILE] [--without TEXT] [--keep]
#   --bin DIR       where passwatch and synthetic-journal are (default target/release, or
#                   $CARGO_TARGET_DIR/release)
#   --journal FILE  copy this journal.db (with the synthetic.json beside it) instead of
#                   generating one (a rerun saves the minute generation takes)
#   --without TEXT  leave out the URLs containing TEXT (e.g. plate_match=prefix)
#   --keep          keep the temporary data folder (its path is printed)
set -euo pipefail
caller_dir=$PWD
cmdline="bench/review_load.sh $*"
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

out=
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
events=1000000
seed=1
duration=30
connections=50
threads=2
phases=read,append
append_rate=20
per_url=5
journal=
without=
keep=0
while (($#)); do
    case $1 in
        --out) out=$(pw_abs "$caller_dir" "$2"); shift 2 ;;
        --bin) bin=$(pw_abs "$caller_dir" "$2"); shift 2 ;;
        --events) events=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --phases) phases=$2; shift 2 ;;
        --append-rate) append_rate=$2; shift 2 ;;
        --per-url) per_url=$2; shift 2 ;;
        --journal) journal=$(pw_abs "$caller_dir" "$2"); shift 2 ;;
        --without) without=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ -n $out ]] || die "--out DIR is required (see --help)"
for b in passwatch synthetic-journal; do
    [[ -x $bin/$b ]] || die "$bin/$b not found: cargo build --release -p passwatch -p passwatch-bench"
done
command -v wrk >/dev/null || die "wrk not found (Debian: apt-get install -y wrk)"
for tool in curl python3; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
if [[ ,$phases, == *,replay,* ]]; then
    pw_cache_env "$caller_dir"
    pw_fixtures_env "$caller_dir"
    pw_ort_env
fi
mkdir -p "$out"
lua=$PWD/bench/review_load.lua

tmp=$(mktemp -d "${TMPDIR:-/tmp}/review-load.XXXXXX")
data=$tmp/data
serve_pid=
sampler_pid=
cleanup() {
    [[ -n $sampler_pid ]] && kill "$sampler_pid" 2>/dev/null || true
    if [[ -n $serve_pid ]] && kill -0 "$serve_pid" 2>/dev/null; then
        kill -TERM "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
    fi
    if ((keep)); then
        note "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

# The binaries are copied first: a build in the same target folder during the run must not
# change what is measured between phases.
mkdir -p "$tmp/bin" "$data"
cp "$bin/passwatch" "$bin/synthetic-journal" "$tmp/bin/"
sha256sum "$bin/passwatch" "$bin/synthetic-journal" | sed "s|  $bin/|  |" >"$out/binaries.sha256"
bin=$tmp/bin

# --- the journal ---------------------------------------------------------------------------
if [[ -n $journal ]]; then
    note "copying $journal"
    cp "$journal" "$data/journal.db"
    cp "$(dirname "$journal")/synthetic.json" "$out/synthetic.json"
else
    note "writing $events synthetic events (seed $seed) into $data/journal.db"
    "$bin/synthetic-journal" --out "$data" --events "$events" --seed "$seed" >"$out/synthetic.json"
    rm -f "$data/synthetic.json"
fi

# --- a user and a token --------------------------------------------------------------------
password=$(head -c 18 /dev/urandom | base64)
printf '%s\n' "$password" | "$bin/passwatch" users add bench --role admin --data "$data" \
    --actor review-load >/dev/null
token=$("$bin/passwatch" tokens create --user bench --data "$data" --actor review-load | tail -n 1)
[[ $token == pwt_* ]] || die "no token from passwatch tokens create (got ${token:0:12}…)"

# --- the server ----------------------------------------------------------------------------
"$bin/passwatch" serve --data "$data" --listen 127.0.0.1:0 >"$tmp/serve.out" 2>"$tmp/serve.err" &
serve_pid=$!
base=
for _ in $(seq 1 600); do
    if line=$(grep -m1 -o 'http://[0-9.:]*' "$tmp/serve.out" 2>/dev/null); then
        base=$line
        break
    fi
    kill -0 "$serve_pid" 2>/dev/null || { cat "$tmp/serve.err" >&2; die "passwatch serve exited"; }
    sleep 0.1
done
[[ -n $base ]] || die "passwatch serve did not say where it listens within 60 s"
note "passwatch serve (pid $serve_pid) on $base"

rss_now() { # VmRSS and VmHWM of serve, KiB, tab-separated
    awk '/^VmRSS/ {rss = $2} /^VmHWM/ {hwm = $2} END {printf "%s\t%s\n", rss, hwm}' \
        "/proc/$serve_pid/status" 2>/dev/null || printf '\t\n'
}
printf 'seconds\tphase\tvm_rss_kib\tvm_hwm_kib\n' >"$out/rss.tsv"
t0=$SECONDS
printf '%s\tstart\t%s\n' 0 "$(rss_now)" >>"$out/rss.tsv"
phase_file=$tmp/phase
echo idle >"$phase_file"
(
    while kill -0 "$serve_pid" 2>/dev/null; do
        printf '%s\t%s\t%s\n' $((SECONDS - t0)) "$(<"$phase_file")" "$(rss_now)" >>"$out/rss.tsv"
        sleep 1
    done
) &
sampler_pid=$!

get() { # PATH: the answer's body on stdout; fails on a non-2xx
    curl -fsS -H "Authorization: Bearer $token" "$base$1"
}

# --- the URLs ------------------------------------------------------------------------------
python3 - "$out/synthetic.json" >"$tmp/urls-first.txt" <<'EOF'
import json, sys
from datetime import datetime, timedelta
s = json.load(open(sys.argv[1]))
end = datetime.fromisoformat(s["end"].replace("Z", "+00:00"))
iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
cams, zones = s["cameras"], s["zones"]
busy = s["busiest_plates"][0]["plate"]
conf = s["confusable_plate"] or busy
swap = {"O": "0", "0": "O", "D": "0", "I": "1", "1": "I", "B": "8", "8": "B", "S": "5",
        "5": "S", "Z": "2", "2": "Z", "G": "6", "6": "G"}
variant = next((conf[:i] + swap[c] + conf[i + 1:] for i, c in enumerate(conf) if c in swap), conf)
urls = [
    "/api/events",
    "/api/events?order=oldest_pending",
    f"/api/events?camera={cams[6 % len(cams)]}",
    f"/api/events?zone={zones[2 % len(zones)]}&review=pending",
    f"/api/events?plate={busy}",
    f"/api/events?plate={s['one_off_plate'] or busy}",
    f"/api/events?plate={variant}&plate_match=confusable",
    "/api/events?plate=ABC&plate_match=prefix",
    f"/api/events?since={iso(end - timedelta(days=30))}&until={iso(end - timedelta(days=29))}",
    f"/api/events?camera={cams[2 % len(cams)]}&since={iso(end - timedelta(days=14))}"
    f"&until={iso(end - timedelta(days=7))}",
    "/api/events?kind=stay_home_breach",
    "/api/events?kind=needs_review&review=pending",
]
print("\n".join(urls))
EOF
cp "$tmp/urls-first.txt" "$out/urls.txt"
next=$(get "/api/events" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next"] or "")')
[[ -n $next ]] || die "the first page has no next cursor"
echo "/api/events?cursor=$next" >>"$out/urls.txt"
next=$(get "/api/events?order=oldest_pending" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["next"] or "")')
if [[ -n $next ]]; then
    echo "/api/events?order=oldest_pending&cursor=$next" >>"$out/urls.txt"
else
    note "warning: the review queue has no second page (order=oldest_pending gave at most one page)"
fi

if [[ -n $without ]]; then
    grep -v -F -- "$without" "$out/urls.txt" >"$tmp/urls.txt" || die "--without $without leaves no URL"
    cp "$tmp/urls.txt" "$out/urls.txt"
fi

# Each URL once: status, events returned, time (cold, then warm).
note "checking each URL"
: >"$tmp/check.tsv"
while IFS= read -r url; do
    for pass in cold warm; do
        curl -sS -o "$tmp/body.json" -w "%{http_code}\t%{time_total}\n" \
            -H "Authorization: Bearer $token" "$base$url" >"$tmp/w.txt"
        IFS=$'\t' read -r code secs <"$tmp/w.txt"
        n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("events", [])))' \
            "$tmp/body.json" 2>/dev/null || echo "?")
        printf '%s\t%s\t%s\t%s\t%s\n' "$url" "$pass" "$code" "$n" "$secs" >>"$tmp/check.tsv"
        [[ $code == 200 ]] || die "$url answered $code: $(head -c 300 "$tmp/body.json")"
    done
done <"$out/urls.txt"
cp "$tmp/check.tsv" "$out/check.tsv"

cpu_ticks() { # serve's user + system CPU time so far, in clock ticks
    awk '{print $14 + $15}' "/proc/$serve_pid/stat"
}

busy_ticks() { # the whole machine's busy CPU time so far (user, nice, system, irq, softirq)
    awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat
}

# Waits until the server has drained what an earlier run left in flight (wrk stops sending,
# not the server working): a one-event page answering in under 50 ms three times running.
settle() {
    local fast=0 secs
    for _ in $(seq 1 300); do
        secs=$(curl -sS -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" \
            "$base/api/events?limit=1")
        if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.05 else 1)' "$secs"; then
            fast=$((fast + 1))
            ((fast < 3)) || return 0
        else
            fast=0
        fi
        sleep 0.2
    done
    note "warning: the server did not settle within 60 s"
}

run_wrk() { # NAME CONNECTIONS THREADS SECONDS [ONLY]
    local name=$1 c=$2 t=$3 d=$4 only=${5:-} before busy timer=()
    settle
    # wrk's own CPU time, to tell serve's share of the machine from the load generator's and
    # from anything else running (another build on the same cores shows as "other").
    [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f '%U %S' -o "$out/time-$name.txt")
    before=$(cpu_ticks)
    busy=$(busy_ticks)
    PW_URLS=$out/urls.txt PW_TOKEN=$token PW_RESULT=$out/wrk-$name.json PW_ONLY=$only \
        "${timer[@]}" wrk -t "$t" -c "$c" -d "${d}s" --timeout 30s --latency -s "$lua" "$base" \
        >"$out/wrk-$name.txt" 2>&1
    printf '%s %s %s %s %s\n' "$before" "$(cpu_ticks)" "$(getconf CLK_TCK)" "$busy" \
        "$(busy_ticks)" >"$out/cpu-$name.txt"
}

# --- the phases ----------------------------------------------------------------------------
IFS=, read -r -a phase_list <<<"$phases"
for phase in "${phase_list[@]}"; do
    writer_pid=
    case $phase in
        read) ;;
        append)
            "$bin/synthetic-journal" --out "$data" --append-rate "$append_rate" \
                --duration $((duration + 2)) --seed $((seed + 1000)) \
                >"$out/writer-append.json" 2>"$tmp/writer.err" &
            writer_pid=$!
            sleep 1
            ;;
        replay)
            "$bin/passwatch" replay "$PASSWATCH_FIXTURES/video/plates_dev.mp4" \
                --site fixtures/demo/site.toml --passes fixtures/demo/passes.csv \
                --out "$data" --recorded-at 2026-04-01T07:59:15.600Z --json \
                >"$out/writer-replay.json" 2>"$tmp/writer.err" &
            writer_pid=$!
            # Past the model loading and the footage's first minute, which raises nothing: the
            # load then meets the replay's writes (its events come in its second minute).
            sleep 55
            ;;
        *) die "unknown phase $phase (read, append, replay)" ;;
    esac
    before=$(get "/api/events?limit=1" >/dev/null && echo ok)
    [[ $before == ok ]] || die "the server does not answer before phase $phase"
    echo "$phase" >"$phase_file"
    note "phase $phase: wrk -t$threads -c$connections -d${duration}s"
    run_wrk "$phase" "$connections" "$threads" "$duration"
    echo "after-$phase" >"$phase_file"
    if [[ -n $writer_pid ]]; then
        if [[ $phase == replay ]]; then
            note "waiting for the replay to finish"
        fi
        wait "$writer_pid" || { cat "$tmp/writer.err" >&2; die "the $phase writer failed"; }
    fi
    sleep 2
    printf '%s\tafter-%s\t%s\n' $((SECONDS - t0)) "$phase" "$(rss_now)" >>"$out/rss.tsv"
done

# --- each URL alone ------------------------------------------------------------------------
if ((per_url > 0)); then
    echo per-url >"$phase_file"
    i=0
    while IFS= read -r _; do
        i=$((i + 1))
        note "URL $i alone: 1 connection, then $connections"
        run_wrk "url$i-c1" 1 1 "$per_url" "$i"
        run_wrk "url$i-c$connections" "$connections" "$threads" "$per_url" "$i"
    done <"$out/urls.txt"
fi
echo idle >"$phase_file"
sleep 5
printf '%s\tend\t%s\n' $((SECONDS - t0)) "$(rss_now)" >>"$out/rss.tsv"
kill "$sampler_pid" 2>/dev/null || true
sampler_pid=
events_after=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM events").fetchone()[0])' \
    "$data/journal.db" 2>/dev/null || echo null)
kill -TERM "$serve_pid"
wait "$serve_pid" || note "warning: passwatch serve exited with $?"
serve_pid=
cp "$tmp/serve.err" "$out/serve.err"

# --- the results ---------------------------------------------------------------------------
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -c . || true)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
python3 - "$out" "$phases" "$per_url" "$connections" "$threads" "$duration" "$append_rate" \
    "$commit" "$dirty" "$cpu" "$(nproc)" "$events_after" "$cmdline" <<'EOF'
import csv, json, os, sys
out, phases, per_url, conns, threads, duration, rate, commit, dirty, cpu, cores, after, cmd = sys.argv[1:]
def load(p):
    r = json.load(open(os.path.join(out, p)))
    cpu = os.path.join(out, p.replace("wrk-", "cpu-").replace(".json", ".txt"))
    if p.startswith("wrk-") and os.path.exists(cpu):
        a, b, hz, busy_a, busy_b = map(float, open(cpu).read().split())
        secs = (b - a) / hz
        r["serve_cpu"] = {"seconds": round(secs, 2), "cores": round(secs / r["seconds"], 2),
                          "ms_per_request": round(1000 * secs / max(r["requests"], 1), 2)}
        busy = (busy_b - busy_a) / hz
        r["machine_busy_cores"] = round(busy / r["seconds"], 2)
        t = os.path.join(out, p.replace("wrk-", "time-").replace(".json", ".txt"))
        if os.path.exists(t):
            wrk_s = sum(map(float, open(t).read().split()[-2:]))
            r["wrk_cpu_cores"] = round(wrk_s / r["seconds"], 2)
            r["other_cpu_cores"] = round(max(busy - secs - wrk_s, 0) / r["seconds"], 2)
    return r
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
rss = list(csv.DictReader(open(os.path.join(out, "rss.tsv")), delimiter="\t"))
def rss_of(phase):
    xs = [int(r["vm_rss_kib"]) for r in rss if r["phase"] == phase and r["vm_rss_kib"]]
    return {"samples": len(xs), "max_mib": round(max(xs) / 1024, 1),
            "last_mib": round(xs[-1] / 1024, 1)} if xs else None
urls = [u for u in open(os.path.join(out, "urls.txt")).read().splitlines() if u]
check = [dict(zip(["url", "pass", "status", "events", "seconds"], l.split("\t")))
         for l in open(os.path.join(out, "check.tsv")).read().splitlines()]
result = {
    "machine": {"cpu": cpu, "cores": int(cores), "mem_gib": round(mem / 2**20, 1)},
    "command": cmd, "commit": commit, "uncommitted_files": int(dirty),
    "binaries_sha256": dict(reversed(l.split()) for l in open(os.path.join(out, "binaries.sha256"))),
    "load": {"tool": "wrk 4 (closed loop)", "connections": int(conns), "threads": int(threads),
             "seconds": int(duration), "urls": urls},
    "synthetic": load("synthetic.json"),
    "check": check,
    "phases": {},
    "rss": {"start": rss_of("start"), "end_idle": rss_of("end"),
            "max_mib": round(max(int(r["vm_rss_kib"]) for r in rss if r["vm_rss_kib"]) / 1024, 1),
            "hwm_mib": round(int(rss[-1]["vm_hwm_kib"]) / 1024, 1)},
    "events_after": None if after == "null" else int(after),
}
for p in phases.split(","):
    r = {"wrk": load(f"wrk-{p}.json"), "rss_during": rss_of(p), "rss_after": rss_of(f"after-{p}")}
    w = os.path.join(out, f"writer-{p}.json")
    if os.path.exists(w) and os.path.getsize(w):
        try:
            r["writer"] = json.loads(open(w).read().strip().splitlines()[-1])
            if p == "replay":
                r["writer"] = {"elapsed_s": r["writer"].get("elapsed_s"),
                               "events": len(r["writer"].get("events", [])),
                               "frames_analysed": r["writer"].get("frames_analysed"),
                               "stages_s": r["writer"].get("stages")}
        except (ValueError, IndexError):
            r["writer"] = {"raw": open(w).read()[-2000:]}
    if p == "append":
        r["writer_note"] = f"synthetic-journal --append-rate {rate}: FolderSink::emit + flush per event"
    result["phases"][p] = r
if int(per_url) > 0:
    result["per_url"] = []
    for i, u in enumerate(urls, 1):
        result["per_url"].append({"url": u, "c1": load(f"wrk-url{i}-c1.json"),
                                  f"c{conns}": load(f"wrk-url{i}-c{conns}.json")})
json.dump(result, open(os.path.join(out, "result.json"), "w"), indent=2)

lines = [f"# review API load: {cpu}, {cores} cores, {result['machine']['mem_gib']} GiB", "",
         f"{result['synthetic']['events']:,} events, wrk {threads} threads × {conns} connections"
         f" × {duration} s over {len(urls)} URLs; commit {commit[:10]}"
         + (f" (+{dirty} uncommitted files)" if int(dirty) else ""), "",
         "| phase | requests | requests/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket errors | CPU cores: serve / wrk / other | serve RSS max MiB |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
for p, r in result["phases"].items():
    w = r["wrk"]; l = w["latency_ms"]; e = sum(w["socket_errors"].values())
    lines.append(f"| {p} | {w['requests']} | {w['requests_per_s']:.0f} | {l['p50']:.1f} | "
                 f"{l['p90']:.1f} | {l['p99']:.1f} | {l['max']:.1f} | {w['non_2xx']} | {e} | "
                 f"{w['serve_cpu']['cores']} / {w.get('wrk_cpu_cores')} / "
                 f"{w.get('other_cpu_cores')} | {(r['rss_during'] or {}).get('max_mib')} |")
if "per_url" in result:
    lines += ["", "| URL | 1 conn: p50 ms | p99 ms | req/s | serve CPU ms/req | "
              f"{conns} conns: p50 ms | p99 ms | req/s | non-2xx | other CPU cores |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for x in result["per_url"]:
        a, b = x["c1"], x[f"c{conns}"]
        u = x["url"] if len(x["url"]) <= 90 else x["url"][:60] + "…"
        lines.append(f"| `{u}` | {a['latency_ms']['p50']:.1f} | "
                     f"{a['latency_ms']['p99']:.1f} | {a['requests_per_s']:.0f} | "
                     f"{a['serve_cpu']['ms_per_request']} | "
                     f"{b['latency_ms']['p50']:.1f} | {b['latency_ms']['p99']:.1f} | "
                     f"{b['requests_per_s']:.0f} | {b['non_2xx']} | "
                     f"{a.get('other_cpu_cores')}, {b.get('other_cpu_cores')} |")
for p, r in result["phases"].items():
    if "writer" in r:
        lines += ["", f"{p} writer: {json.dumps(r['writer'])}"]
lines += ["", f"serve RSS: start {result['rss']['start']}, max {result['rss']['max_mib']} MiB, "
          f"idle at the end {result['rss']['end_idle']}, high-water mark {result['rss']['hwm_mib']} MiB"]
open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
