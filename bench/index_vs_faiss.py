#!/usr/bin/env python3
"""The watchlist index against faiss-cpu, side by side, on the same vectors in one run.

Generates 100 000 x 512 seeded random unit vectors and 256 queries (half near-duplicates of
database rows, half random) once, writes them as raw little-endian f32 files, and measures, with
the same thread count (default 1) and k = 10:

* faiss ``IndexFlatIP`` (faiss-cpu from PyPI, in its own venv), and
* passwatch's ``WatchlistIndex`` (``target/release/index_bench``, built here),

at batch 1 (queries one at a time) and batch 256 (one search of 256). Rounds alternate the two
(A/B, B/A, ...) so that a noisy neighbour on a shared box hits both alike; every round does a
warm-up then several timed repetitions, and the reported rate is the median of all repetitions.
It prints queries/s of both, the passwatch / faiss ratios, the machine and versions, and whether
the two agree on the results (top-1 subject of every query; top-10 sets equal, or rank-by-rank
scores within 1e-5 where they differ, i.e. near-ties).

    python3 bench/index_vs_faiss.py            # the table
    python3 bench/index_vs_faiss.py --json     # one JSON object on stdout (progress on stderr)
    python3 bench/index_vs_faiss.py --out results.json --rounds 5

faiss-cpu and numpy (pinned in bench/requirements-faiss.txt) are installed with pip into
``${PASSWATCH_CACHE:-$HOME/.cache/passwatch}/venv-bench`` on first use, never system-wide; the
script then re-runs itself with that venv's Python. Exit status: 0 when the results agree, 1
when they do not, 2 on other errors.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REQUIREMENTS = HERE / "requirements-faiss.txt"
IN_VENV_MARK = "PASSWATCH_INDEX_BENCH_IN_VENV"
SCORE_TOL = 1e-5


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The venv


def venv_dir() -> Path:
    cache = os.environ.get("PASSWATCH_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "passwatch"
    )
    return Path(cache) / "venv-bench"


def pinned() -> dict:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def venv_satisfied(python: Path) -> bool:
    check = (
        "import importlib.metadata as m, json, sys\n"
        "pins = json.loads(sys.argv[1])\n"
        "for n, v in pins.items():\n"
        "    try:\n"
        "        if m.version(n) != v: sys.exit(1)\n"
        "    except m.PackageNotFoundError: sys.exit(1)\n"
    )
    r = subprocess.run([str(python), "-c", check, json.dumps(pinned())], capture_output=True)
    return r.returncode == 0


def ensure_venv_and_reexec(args_threads: int):
    """Creates/refreshes the bench venv if needed and re-executes this script inside it."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    if not python.exists():
        log(f"creating venv {venv}")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not venv_satisfied(python):
        log(f"installing {', '.join(f'{n}=={v}' for n, v in pinned().items())} into {venv}")
        subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
             "-r", str(REQUIREMENTS)],
            check=True,
        )
    env = dict(os.environ)
    env[IN_VENV_MARK] = "1"
    # Before numpy/faiss load: their OpenMP and BLAS pools take the thread count from here.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args_threads)
    os.execve(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]], env)


# ---------------------------------------------------------------------------------------------
# Data


def make_data(folder: Path, rows: int, dim: int, n_queries: int, seed: int) -> dict:
    """Seeded unit vectors (normalised in float64, stored as float32) as raw LE f32 files."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def unit(x):
        x = x.astype(np.float64)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype("<f4")

    db = np.empty((rows, dim), dtype="<f4")
    chunk = 10_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        db[start:start + n] = unit(rng.standard_normal((n, dim)))
    n_near = n_queries // 2
    sources = rng.choice(rows, size=n_near, replace=False)
    # Noise of norm 0 .. 1 around each source: cosine with the source from 1.0 down to ~0.71.
    noise_norm = np.linspace(0.0, 1.0, n_near)[:, None]
    noise = rng.standard_normal((n_near, dim)) / np.sqrt(dim) * noise_norm
    near = unit(db[sources].astype(np.float64) + noise)
    far = unit(rng.standard_normal((n_queries - n_near, dim)))
    queries = np.ascontiguousarray(np.concatenate([near, far]), dtype="<f4")

    db_path, q_path = folder / "db.f32", folder / "queries.f32"
    db.tofile(db_path)
    queries.tofile(q_path)
    meta = {
        "rows": rows, "dim": dim, "queries": n_queries, "seed": seed,
        "near_duplicate_queries": n_near, "near_duplicate_sources": sources.tolist(),
        "format": "raw little-endian float32, row-major, no header",
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return {"db": db, "queries": queries, "db_path": db_path, "q_path": q_path, "meta": meta}


# ---------------------------------------------------------------------------------------------
# Measurements


def measure_faiss(index, queries, k, reps, batch1_queries, batch):
    """The same schedule as index_bench: warm-up, then `reps` timed blocks per regime."""
    index.search(queries[0:1], k)
    rates1 = []
    nxt = 1 % len(queries)
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(batch1_queries):
            index.search(queries[nxt:nxt + 1], k)
            nxt = (nxt + 1) % len(queries)
        rates1.append(batch1_queries / (time.perf_counter() - t))
    qb = queries[:batch]
    D, I = index.search(qb, k)
    rates_b = []
    for _ in range(reps):
        t = time.perf_counter()
        index.search(qb, k)
        rates_b.append(len(qb) / (time.perf_counter() - t))
    return {"rates1": rates1, "rates_b": rates_b, "ids": I.tolist(), "scores": D.tolist()}


def measure_passwatch(binary, data, args):
    cmd = [
        str(binary), "--db", str(data["db_path"]), "--queries", str(data["q_path"]),
        "--dim", str(args.dim), "--threads", str(args.threads), "--k", str(args.k),
        "--reps", str(args.reps), "--batch1-queries", str(args.batch1_queries),
        "--batch", str(args.batch), "--json",
    ]
    if args.isa:
        cmd += ["--isa", args.isa]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    out = json.loads(r.stdout)
    return {
        "rates1": out["batch1"]["rates"], "rates_b": out["batch"]["rates"],
        "ids": out["ids"], "scores": out["scores"], "isa": out["isa"], "load_s": out["load_s"],
    }


def compare(fa, pw, k, n_near, sources):
    """Agreement of two top-k answers (ids, scores), per query."""
    n = len(fa["ids"])
    top1_equal = top1_tie = sets_equal = sets_tie = 0
    disagree = []
    max_diff = 0.0
    near_found = {"faiss": 0, "passwatch": 0}
    for q in range(n):
        fi, fs = fa["ids"][q], fa["scores"][q]
        pi, ps = pw["ids"][q], pw["scores"][q]
        diffs = [abs(a - b) for a, b in zip(fs, ps)]
        scores_close = len(fi) == len(pi) and all(d <= SCORE_TOL for d in diffs)
        max_diff = max([max_diff, *diffs])
        if fi[:1] == pi[:1]:
            top1_equal += 1
        elif scores_close:
            top1_tie += 1
        else:
            disagree.append({"query": q, "faiss": list(zip(fi, fs)), "passwatch": list(zip(pi, ps))})
            continue
        if set(fi) == set(pi):
            sets_equal += 1
        elif scores_close:
            sets_tie += 1
        else:
            disagree.append({"query": q, "faiss": list(zip(fi, fs)), "passwatch": list(zip(pi, ps))})
        if q < n_near:
            near_found["faiss"] += fi[0] == sources[q]
            near_found["passwatch"] += pi[0] == sources[q]
    return {
        "queries": n, "k": k, "agree": not disagree,
        "top1_equal": top1_equal, "top1_tie_within_tol": top1_tie,
        "topk_sets_equal": sets_equal, "topk_sets_differ_only_in_near_ties": sets_tie,
        "max_abs_score_diff": max_diff, "score_tolerance": SCORE_TOL,
        "near_duplicate_queries": n_near, "near_duplicate_source_is_top1": near_found,
        "disagreements": disagree[:5], "disagreement_count": len(disagree),
    }


# ---------------------------------------------------------------------------------------------
# Machine and versions


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cmd_out(cmd, cwd=None) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd).stdout.strip()
    except OSError:
        return ""


def faiss_simd(faiss) -> str:
    loaded = sorted(m for m in sys.modules if m.startswith("faiss.swigfaiss"))
    opts = ""
    try:
        opts = faiss.get_compile_options().strip()
    except Exception:  # noqa: BLE001 - older faiss has no such call
        pass
    return f"{opts} ({', '.join(loaded)})" if loaded else opts


def build_binary(args) -> Path:
    if args.binary:
        return Path(args.binary)
    meta = json.loads(cmd_out(["cargo", "metadata", "--no-deps", "--format-version", "1"], REPO))
    binary = Path(meta["target_directory"]) / "release" / "index_bench"
    if not args.no_build:
        log("building: cargo build --release -p passwatch-bench --bin index_bench")
        r = subprocess.run(
            ["cargo", "build", "--release", "-p", "passwatch-bench", "--bin", "index_bench"],
            cwd=REPO, stdout=sys.stderr,
        )
        if r.returncode != 0:
            raise RuntimeError(f"cargo build failed (--no-build uses {binary} as it is)")
    if not binary.exists():
        raise RuntimeError(f"{binary} not found (build it, or pass --binary)")
    return binary


# ---------------------------------------------------------------------------------------------


def summarise(rates):
    return {
        "qps": statistics.median(rates), "min": min(rates), "max": max(rates),
        "samples": len(rates),
    }


def print_table(res):
    m, f, p = res["machine"], res["faiss"], res["passwatch"]
    v, d, a = res["versions"], res["data"], res["agreement"]
    b = d["batch"]
    print(f"machine:  {m['cpu']}, {m['cpus']} CPUs ({m['usable_cpus']} usable), "
          f"load average {m['loadavg_before']} before, {m['loadavg_after']} after")
    print(f"versions: faiss-cpu {v['faiss']} [{v['faiss_simd']}; OpenMP threads "
          f"{v['faiss_omp_max_threads']}], numpy {v['numpy']}, "
          f"Python {v['python']}; {v['rustc']}; passwatch {v['passwatch_commit']} "
          f"(kernel {p['isa']})")
    print(f"data:     {d['rows']} x {d['dim']} unit vectors (seed {d['seed']}), {d['queries']} "
          f"queries ({d['near_duplicate_queries']} near-duplicates), k = {d['k']}, "
          f"{d['threads']} thread(s)")
    print(f"schedule: {d['rounds']} rounds alternating faiss/passwatch, each a warm-up then "
          f"{d['reps']} reps; batch 1 = {d['batch1_queries']} queries a rep; medians of all reps")
    print()

    def cell(s):
        return f"{s['qps']:8.1f} ({s['min']:.0f}-{s['max']:.0f})"

    print(f"{'method':<28}{'batch 1 q/s (range)':>26}{f'batch {b} q/s (range)':>28}")
    print(f"{'faiss IndexFlatIP':<28}{cell(f['batch1']):>26}{cell(f['batch']):>28}")
    print(f"{'passwatch WatchlistIndex':<28}{cell(p['batch1']):>26}{cell(p['batch']):>28}")
    r = res["ratio_passwatch_over_faiss"]
    print(f"{'passwatch / faiss':<28}{r['batch1']:>25.2f}x{r['batch']:>27.2f}x")
    print()
    verdict = "AGREE" if a["agree"] else "DISAGREE"
    print(f"results:  {verdict}: top-1 equal {a['top1_equal']}/{a['queries']}"
          + (f" (+{a['top1_tie_within_tol']} ties within {SCORE_TOL:g})"
             if a["top1_tie_within_tol"] else "")
          + f"; top-{a['k']} sets equal {a['topk_sets_equal']}/{a['queries']}"
          + (f", {a['topk_sets_differ_only_in_near_ties']} differ only in near-ties "
             f"(scores rank by rank within {SCORE_TOL:g})"
             if a["topk_sets_differ_only_in_near_ties"] else "")
          + f"; max |score difference| {a['max_abs_score_diff']:.2e}")
    nf = a["near_duplicate_source_is_top1"]
    print(f"          near-duplicate queries whose source row is top-1: faiss "
          f"{nf['faiss']}/{a['near_duplicate_queries']}, passwatch "
          f"{nf['passwatch']}/{a['near_duplicate_queries']}")
    for dis in a["disagreements"]:
        print(f"          query {dis['query']}: faiss {dis['faiss'][:3]}... "
              f"passwatch {dis['passwatch'][:3]}...")


def run(args) -> int:
    import numpy as np
    import faiss

    faiss.omp_set_num_threads(args.threads)
    binary = build_binary(args)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())

    folder = Path(args.data_dir) if args.data_dir else Path(
        tempfile.mkdtemp(prefix="passwatch-index-vs-faiss-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        log(f"generating {args.rows} x {args.dim} vectors and {args.queries} queries in {folder}")
        data = make_data(folder, args.rows, args.dim, args.queries, args.seed)
        log("building faiss IndexFlatIP")
        index = faiss.IndexFlatIP(args.dim)
        index.add(data["db"])
        queries = data["queries"]

        faiss_runs, pw_runs = [], []
        for rnd in range(args.rounds):
            order = ("faiss", "passwatch") if rnd % 2 == 0 else ("passwatch", "faiss")
            for who in order:
                log(f"round {rnd + 1}/{args.rounds}: {who}")
                if who == "faiss":
                    faiss_runs.append(measure_faiss(index, queries, args.k, args.reps,
                                                    args.batch1_queries, args.batch))
                else:
                    pw_runs.append(measure_passwatch(binary, data, args))
        load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    finally:
        if not args.data_dir:
            shutil.rmtree(folder, ignore_errors=True)

    def pooled(runs, key):
        return [x for r in runs for x in r[key]]

    f1, fb = summarise(pooled(faiss_runs, "rates1")), summarise(pooled(faiss_runs, "rates_b"))
    p1, pb = summarise(pooled(pw_runs, "rates1")), summarise(pooled(pw_runs, "rates_b"))
    meta = data["meta"]
    agreement = compare(faiss_runs[0], pw_runs[0], args.k, meta["near_duplicate_queries"],
                        meta["near_duplicate_sources"])
    commit = cmd_out(["git", "rev-parse", "--short", "HEAD"], REPO) or "unknown"
    if cmd_out(["git", "status", "--porcelain", "--untracked-files=no"], REPO):
        commit += " (working tree modified)"
    result = {
        "machine": {
            "cpu": cpu_model(), "cpus": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(),
            "kernel": platform.release(),
            "loadavg_before": load_before, "loadavg_after": load_after,
        },
        "versions": {
            "faiss": faiss.__version__, "faiss_simd": faiss_simd(faiss),
            "faiss_omp_max_threads": faiss.omp_get_max_threads(),
            "numpy": np.__version__, "python": platform.python_version(),
            "rustc": cmd_out(["rustc", "--version"]), "passwatch_commit": commit,
        },
        "data": {
            "rows": args.rows, "dim": args.dim, "queries": args.queries,
            "near_duplicate_queries": meta["near_duplicate_queries"], "seed": args.seed,
            "k": args.k, "threads": args.threads, "batch": min(args.batch, args.queries),
            "rounds": args.rounds, "reps": args.reps, "batch1_queries": args.batch1_queries,
        },
        "faiss": {"method": "faiss IndexFlatIP", "batch1": f1, "batch": fb},
        "passwatch": {
            "method": "passwatch WatchlistIndex", "isa": pw_runs[0]["isa"],
            "load_s": statistics.median(r["load_s"] for r in pw_runs),
            "batch1": p1, "batch": pb,
        },
        "ratio_passwatch_over_faiss": {
            "batch1": p1["qps"] / f1["qps"], "batch": pb["qps"] / fb["qps"],
        },
        "agreement": agreement,
    }
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0 if agreement["agree"] else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=256, help="query vectors generated")
    ap.add_argument("--batch", type=int, default=256, help="the large batch size")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="for both faiss and passwatch")
    ap.add_argument("--rounds", type=int, default=4, help="A/B rounds (alternating order)")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions per regime a round")
    ap.add_argument("--batch1-queries", type=int, default=40,
                    help="queries one at a time per batch-1 repetition")
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--isa", choices=["avx512", "avx2", "scalar"],
                    help="force passwatch's kernel (default: the best this CPU has)")
    ap.add_argument("--binary", help="a built index_bench (skips cargo build)")
    ap.add_argument("--no-build", action="store_true", help="use target/release/index_bench as is")
    ap.add_argument("--data-dir", help="write (and keep) the vector files here, not in a temp dir")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--out", help="also write the JSON object to this file")
    args = ap.parse_args()
    if min(args.rows, args.dim, args.queries, args.batch, args.k, args.threads, args.rounds,
           args.reps, args.batch1_queries) < 1 or args.queries < 2:
        ap.error("sizes and counts must be positive (and at least 2 queries)")

    try:
        if os.environ.get(IN_VENV_MARK) != "1":
            ensure_venv_and_reexec(args.threads)  # does not return
        return run(args)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        log(f"error: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
