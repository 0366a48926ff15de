"""Hostile input, kill -9 and concurrent writers: the closing table of issue #13.

    .venv/bin/python benchmarks/hostile.py --before-src /path/to/old/xmodal/src

1. The full-size hostile corpus (tests/mediagen.py `hostile_corpus`): each file decoded
   *before* (the given older source tree, in-process `media.load`, one fresh process per file so
   a crash or balloon is its own) and *after* (this tree, through `DecodePool` with the default
   Limits and budgets). Outcome per file: clear error, indexed correctly, wrong (decoded where
   it should be refused, or as the wrong kind), crash, hang (past --hang-s), leak (a secret read
   or a request received). Time and memory growth per file (peak RSS over the RSS before
   decoding).
2. kill -9 cycles (tests/crashkit.py `kill_cycle`): kill an index run at random points while
   indexing, building the ANN index, pruning and deleting; re-run; count lost and duplicated.
3. Concurrent writers (`concurrent_run`): runs into one new index at once, before and after.

Writes benchmarks/results/hostile.md and hostile.json. Uses the text-only MiniLM profile for 2
and 3 (what is measured is the store and the indexer, not the encoders).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from crashkit import KILL_POINTS, Listener, concurrent_run, kill_cycle  # noqa: E402
from mediagen import hostile_corpus  # noqa: E402

SECRET = "XMODAL-SECRET-bench-41d2"

# runs in a fresh process per file, on the *before* tree: decode one file, report what came of it
BEFORE = """
import json, resource, sys
from xmodal.media import Limits, load
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096
base = rss()
out = {}
try:
    m = load(sys.argv[1], Limits())
    out = {"modality": m.modality.value, "secret": sys.argv[2] in (m.text + "".join(m.page_texts))}
except Exception as e:
    out = {"error": str(e)[:200]}
out["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
print(json.dumps(out))
"""


def classify(expect: str, modality: str | None, error: str | None, secret: bool) -> str:
    if secret:
        return "leak"
    kind, _, words = expect.partition(":")
    if error is not None:
        if "crashed" in error:
            return "crash (contained)"
        if "budget" in error:
            return "over budget (stopped)"
        return "clear error" if kind == "error" else "wrong"
    return "indexed correctly" if kind == "ok" and modality == words else "wrong"


def before_file(path: Path, expect: str, src: str, hang_s: float) -> dict:
    env = {**os.environ, "PYTHONPATH": src}
    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-c", BEFORE, str(path), SECRET], capture_output=True, text=True,
                           timeout=hang_s, env=env)
    except subprocess.TimeoutExpired:
        return {"outcome": "hang", "seconds": hang_s, "rss": None}
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        return {"outcome": f"crash (exit {r.returncode})", "seconds": seconds, "rss": None}
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return {"outcome": classify(expect, out.get("modality"), out.get("error"), out.get("secret", False)),
            "seconds": seconds, "rss": out["peak"], "error": out.get("error")}


def after_files(cases, workers: int) -> list[dict]:
    from xmodal.media import Limits
    from xmodal.media.pool import DecodeJob, DecodePool

    with DecodePool(Limits(), workers=workers) as pool:
        futures = [pool.submit(DecodeJob(str(c.path))) for c in cases]
        results = []
        for c, f in zip(cases, futures):
            o = f.result()
            secret = o.media is not None and SECRET in (o.media.text + "".join(o.media.page_texts))
            results.append({"outcome": classify(c.expect, o.media.modality.value if o.media else None, o.error, secret),
                            "seconds": o.seconds, "rss": o.peak_rss, "error": o.error})
        return results


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants (decode workers included)."""
    children: dict[int, list[int]] = defaultdict(list)
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(d))
            rss[int(d)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def folder_run(folder: Path, index: Path, src: str | None, profile: str, timeout: float = 1800) -> dict:
    """`xmodal index folder` in a process of its own: exit code, wall time, peak RSS of the
    process tree (sampled every 50 ms), and its summary."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    cmd = [sys.executable, "-c", "from xmodal.cli import main; main()", "index", str(folder), "--index", str(index),
           "--profile", profile, "--json"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    import threading

    out: dict = {}
    reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), proc.communicate())), daemon=True)
    reader.start()
    while proc.poll() is None and time.perf_counter() - t0 < timeout:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    reader.join(timeout=30)
    stdout = out.get("stdout") or ""
    summary = json.loads(stdout[stdout.index("{"):]) if proc.returncode == 0 and "{" in stdout else None
    return {"returncode": proc.returncode, "seconds": time.perf_counter() - t0, "peak_rss": peak,
            "summary": {k: v for k, v in (summary or {}).items() if isinstance(v, int)} or None,
            "error": None if proc.returncode == 0 else (out.get("stderr") or "")[-300:]}


def mb(n: float | None) -> str:
    return "—" if n is None else f"{n / 2**20:.0f} MB"


def corpus_table(cases, before: list[dict] | None, after: list[dict]) -> list[str]:
    kinds: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(cases):
        kinds[c.kind].append(i)

    def summary(results, idx) -> str:
        return ", ".join(f"{n} {k}" for k, n in Counter(results[i]["outcome"] for i in idx).most_common())

    def worst(results, idx, key) -> float | None:
        vals = [results[i][key] for i in idx if results[i][key] is not None]
        return max(vals) if vals else None

    rows = ["| kind | files | before: outcomes | after: outcomes | worst time before → after | worst RSS growth before → after |",
            "|---|---:|---|---|---|---|"]
    groups = list(kinds.items()) + [("**all**", list(range(len(cases))))]
    for kind, idx in groups:
        b = summary(before, idx) if before else "—"
        tb = f"{worst(before, idx, 'seconds'):.1f} s" if before else "—"
        rb = mb(worst(before, idx, "rss")) if before else "—"
        rows.append(f"| {kind} | {len(idx)} | {b} | {summary(after, idx)} | {tb} → {worst(after, idx, 'seconds'):.1f} s | "
                    f"{rb} → {mb(worst(after, idx, 'rss'))} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before-src", help="an older xmodal src/ to measure the corpus and concurrency 'before'")
    ap.add_argument("--hang-s", type=float, default=120.0, help="a file decoding longer than this counts as a hang (before)")
    ap.add_argument("--kill-cycles", type=int, default=4, help="kill -9 cycles per kill point")
    ap.add_argument("--concurrency-runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: corpus, folder, kill, concurrency")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "hostile"))
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    report: dict = {"load": os.getloadavg(), "cpus": os.cpu_count(), "command": " ".join(sys.argv)}
    md = ["# Hostile input, kill -9 and concurrent writers (issue #13)", "",
          f"`{report['command']}` — {report['cpus']} CPUs, load average at start {report['load'][0]:.1f}.", ""]
    with tempfile.TemporaryDirectory(prefix="xmodal-hostile-") as tmp:
        tmp = Path(tmp)
        if "corpus" not in skip:
            listener = Listener()
            cases = hostile_corpus(tmp / "corpus", SECRET, listener.port, full=True)
            print(f"corpus: {len(cases)} files", file=sys.stderr)
            before = None
            if args.before_src:
                before = [before_file(c.path, c.expect, args.before_src, args.hang_s) for c in cases]
                before_hits, listener.hits = listener.hits, 0
            t0 = time.perf_counter()
            after = after_files(cases, args.workers)
            after_s = time.perf_counter() - t0
            listener.close()
            report["corpus"] = [{"file": c.path.name, "kind": c.kind, "expect": c.expect, "before": b, "after": a}
                                for c, b, a in zip(cases, before or [None] * len(cases), after)]
            md += ["## Hostile files, one by one", "",
                   "Before: the older tree's `media.load`, a fresh process per file. After: this tree's `DecodePool` "
                   f"({args.workers} workers, default `Limits`: 10 s + 0.5 s/MiB and 1 GiB per file). RSS growth = peak "
                   "resident memory minus the resident memory before decoding.", ""]
            md += corpus_table(cases, before, after)
            md += ["", f"Network requests received: before {before_hits if before else '—'}, after {listener.hits}. "
                   f"All {len(cases)} files through the pool in {after_s:.1f} s.", ""]
            wrong = [f"{c.path.name}: {a['outcome']} ({a.get('error')})" for c, a in zip(cases, after)
                     if a["outcome"] not in ("clear error", "indexed correctly")]
            md += ["After, files not a clear error or correctly decoded: " + ("; ".join(wrong) if wrong else "none") + ".", ""]
            if "folder" not in skip:
                md += folder_section(tmp, cases, args.before_src, report)
        if "kill" not in skip:
            rng = random.Random(13)
            cycles = []
            for point in range(len(KILL_POINTS)):
                for k in range(args.kill_cycles):
                    r = kill_cycle(tmp / f"kill-{point}-{k}", point, rng)
                    cycles.append({"point": KILL_POINTS[point][0], **r})
                    print("kill", cycles[-1], file=sys.stderr)
            report["kill"] = cycles
            md += ["## kill -9 at random points, then a clean re-run", "",
                   "| killed while | runs | killed | lost | duplicated | check problems |", "|---|---:|---:|---:|---:|---:|"]
            by = defaultdict(list)
            for c in cycles:
                by[c["point"]].append(c)
            for point, cs in by.items():
                md.append(f"| {point} | {len(cs)} | {sum(c['killed'] for c in cs)} | {sum(c['lost'] for c in cs)} | "
                          f"{sum(c['duplicated'] for c in cs)} | {sum(len(c['problems']) for c in cs)} |")
            md += [f"| **all** | **{len(cycles)}** | {sum(c['killed'] for c in cycles)} | {sum(c['lost'] for c in cycles)} | "
                   f"{sum(c['duplicated'] for c in cycles)} | {sum(len(c['problems']) for c in cycles)} |", ""]
        if "concurrency" not in skip:
            rows = []
            for label, src in (("before", args.before_src), ("after", None)):
                if label == "before" and not src:
                    continue
                for writers in (2, 3):
                    for k in range(args.concurrency_runs):
                        r = concurrent_run(tmp / f"conc-{label}-{writers}-{k}", writers=writers, files=200, src=src)
                        rows.append({"tree": label, "writers": writers, **r})
                        print("concurrency", rows[-1], file=sys.stderr)
            report["concurrency"] = rows
            md += ["## Concurrent `index` runs of one 200-file folder into one new index", "",
                   "| tree | writers | runs | failed runs | lost | duplicated |", "|---|---:|---:|---:|---:|---:|"]
            for (tree, writers), rs in _group(rows).items():
                md.append(f"| {tree} | {writers} | {len(rs)} | {sum(r['errors'] for r in rs)} | {sum(r['lost'] for r in rs)} | "
                          f"{sum(r['duplicated'] for r in rs)} |")
            md.append("")
    report["load_end"] = os.getloadavg()
    md.append(f"Load average at the end: {report['load_end'][0]:.1f}.")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str))
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


def folder_section(tmp: Path, cases, before_src: str | None, report: dict) -> list[str]:
    """The whole corpus folder through `xmodal index` with the offline default profile (all
    encoders), before and after; before also without the multichannel files (which crash it),
    for its memory figure."""
    import shutil

    folder = cases[0].path.parent
    runs = {}
    if before_src:
        runs["before"] = folder_run(folder, tmp / "idx-before", before_src, "default")
        calm = tmp / "files-without-multichannel"
        shutil.copytree(folder, calm, ignore=lambda d, names: [n for n in names if n.startswith("ch")])
        runs["before, without the multichannel files"] = folder_run(calm, tmp / "idx-before-calm", before_src, "default")
    runs["after"] = folder_run(folder, tmp / "idx-after", None, "default")
    report["folder"] = runs
    rows = ["## The whole corpus folder through `xmodal index` (offline default profile)", "",
            "| run | exit | wall | peak RSS, process tree | summary |", "|---|---:|---:|---:|---|"]
    for name, r in runs.items():
        last = (r["error"] or "").strip().splitlines()[-1:] or ["killed by a signal, nothing printed"]
        summ = ", ".join(f"{v} {k}" for k, v in (r["summary"] or {}).items() if v) or last[0]
        rows.append(f"| {name} | {r['returncode']} | {r['seconds']:.0f} s | {mb(r['peak_rss'])} | {summ} |")
    return rows + [""]


def _group(rows: list[dict]) -> dict:
    out: dict = defaultdict(list)
    for r in rows:
        out[(r["tree"], r["writers"])].append(r)
    return out


if __name__ == "__main__":
    main()
