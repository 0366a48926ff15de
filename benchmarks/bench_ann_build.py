"""Search latency while the ANN index builds: in the same process, and from another process.

    .venv/bin/python benchmarks/bench_ann_build.py --items 100000 --label after --out benchmarks/results/ann-build-search.json

The index is bench_scale.py's synthetic one (`--items` texts with real-text vectors, full-text
and id indices, no vector index), kept in `--workdir` between runs. Each run drops the vector
index and measures the default hybrid search (`Index.search`, k=10, query embedding included),
one query after another, on one thread:

* `no_build`: with nothing else running (a Lance scan: no vector index yet);
* `same_process`: while this process builds the vector index on another thread
  (`store.build_vector_index`, what `Index.finalize` and a server's upload job call);
* `other_process`: while an `xmodal index` run in a child process indexes one new text file,
  which takes the index past its threshold and builds the vector index there;

each with p50/p95/max, the slowest queries' start times, the build's wall time and the machine's
load; then recall@10 of the store's vector search against exact search over the new index.
`--label` names the run (e.g. before/after a change, run with that code on PYTHONPATH); runs
are merged into `--out` under their label.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from bench_scale import base_texts, base_vectors, build, exact_top, queries, recall, synth_chunks
from speed_common import load_avg, machine

import xmodal


def stats(lat: list[tuple[float, float]]) -> dict[str, Any]:
    """p50 (the upper middle value), p95 (the value at 0.95·(n−1), as bench_scale.py's) and max of
    (start s, latency ms) pairs, and the five slowest with their start times."""
    if not lat:
        return {"n": 0}
    ms = sorted(x[1] for x in lat)
    return {"n": len(ms), "p50_ms": round(ms[len(ms) // 2], 1), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
            "max_ms": round(ms[-1], 1), "slowest": [[round(t, 1), round(m, 1)] for t, m in sorted(lat, key=lambda x: -x[1])[:5]]}


def search_until(idx: Any, qs: list[str], done: Callable[[], bool], t0: float, limit: int | None = None) -> list[tuple[float, float]]:
    lat, i = [], 0
    while not done() and (limit is None or i < limit):
        t = time.perf_counter()
        idx.search(qs[i % len(qs)], k=10)
        lat.append((t - t0, (time.perf_counter() - t) * 1000))
        i += 1
    return lat


def drop_vector_index(store: Any) -> None:
    for ix in store._table.list_indices():
        if "vector" in getattr(ix, "columns", []):
            store._table.drop_index(ix.name)
    store._table.checkout_latest()


def the_index(path: Path, n: int, base: np.ndarray, texts: list[str]) -> Any:
    """bench_scale's n-item index at `path`, made once and reused (its vector index dropped)."""
    if not (path / "xmodal.json").is_file():
        idx, _, info = build(path, n, base, texts)
        print(f"built {n} items: {info}", flush=True)
        idx.close()
    idx = xmodal.open(path)
    drop_vector_index(idx.store)
    return idx


def ann_recall(idx: Any, n: int, base: np.ndarray, texts: list[str], qv: np.ndarray) -> float:
    vecs = np.concatenate([v for _, v, _ in synth_chunks(n, base, texts)])
    truth = exact_top(vecs, qv)
    pos = {f"t{i}": i for i in range(n)}
    found = [[pos.get(r["id"], -1) for r in idx.store.vector_search(q, 10)] for q in qv]
    return recall(found, truth)


def same_process(idx: Any, qs: list[str]) -> dict[str, Any]:
    done, info = threading.Event(), {}

    def work() -> None:
        t = time.perf_counter()
        idx.store.build_vector_index()
        info["build_s"] = round(time.perf_counter() - t, 1)
        done.set()

    load0, t0 = load_avg(), time.perf_counter()
    th = threading.Thread(target=work)
    th.start()
    lat = search_until(idx, qs, done.is_set, t0)
    th.join()
    return {**info, "queries": stats(lat), "load_before": load0, "load_after": load_avg()}


def other_process(idx: Any, path: Path, qs: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="xmodal-annbuild-") as d:
        note = Path(d) / f"note-{time.time_ns()}.txt"  # new each run: the run writes, so it finalizes
        note.write_text(f"A note written at {time.ctime()} about a red kite over the hills.")
        load0, t0 = load_avg(), time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "xmodal.cli", "index", str(note), "--index", str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lat = search_until(idx, qs, lambda: proc.poll() is not None, t0)
        out = proc.communicate()[0]
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(out[-2000:])
    time.sleep(2.5)  # READ_CONSISTENCY: this process's view moves to the run's commit
    return {"index_run_s": round(wall, 1), "queries": stats(lat), "load_before": load0, "load_after": load_avg()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--label", default="run")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "xmodal-ann-build")
    ap.add_argument("--baseline-queries", type=int, default=50)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    texts = base_texts()
    with tempfile.TemporaryDirectory() as d:
        base = base_vectors(texts, xmodal.open(Path(d) / "i"))
    qs = queries()
    path = args.workdir / f"ann-{args.items}"
    idx = the_index(path, args.items, base, texts)
    qv = np.stack([idx.embed_query(q) for q in qs]).astype(np.float32)
    res: dict[str, Any] = {"items": idx.store.count(), "xmodal_from": str(Path(xmodal.__file__).parents[1]), "machine": machine()}
    idx.search(qs[0], k=10)
    load0, t0 = load_avg(), time.perf_counter()
    res["no_build"] = {"queries": stats(search_until(idx, qs, lambda: False, t0, args.baseline_queries)), "load_before": load0,
                       "load_after": load_avg()}
    print(f"[{args.label}] no build: {res['no_build']}", flush=True)
    res["same_process"] = same_process(idx, qs)
    print(f"[{args.label}] same process: {res['same_process']}", flush=True)
    res["same_process"]["recall@10_after"] = ann_recall(idx, args.items, base, texts, qv)
    drop_vector_index(idx.store)
    res["other_process"] = other_process(idx, path, qs)
    idx.store.refresh()
    res["other_process"]["vector_index_after"] = idx.store.vector_index_stats() is not None
    res["other_process"]["recall@10_after"] = ann_recall(idx, args.items, base, texts, qv)
    print(f"[{args.label}] other process: {res['other_process']}", flush=True)
    res["load_avg_end"] = load_avg()
    if args.out:
        old = json.loads(args.out.read_text()) if args.out.is_file() else {}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**old, args.label: res}, indent=2))
    idx.close()


if __name__ == "__main__":
    main()
