"""Filtered vector search below the ANN threshold, 10k items: what LanceStore does (a filter goes to
Lance's prefiltered exact scan; no filter, the in-memory matrix product) vs. the alternative of
masking the in-memory matrix with `filters.evaluate` over cached columns, then fetching the top
rows from Lance, as the unfiltered path does.

    .venv/bin/python benchmarks/bench_filters.py --out benchmarks/results/filters.json

Synthetic items (384-d random unit vectors; five modalities; sizes, durations, paths, short
texts), so it needs no models. Each figure is the median of `--repeats` queries after a warm-up, wall time and CPU time
(all threads); the two paths alternate query by query.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from xmodal.store import FILTERABLE, Filter, evaluate, parse_where
from xmodal.store.lance import LanceStore

FILTERS = {
    "none": None,
    "modality IN (image, audio)": Filter.of(modalities=["image", "audio"]),
    "modality + size range + path prefix": Filter.of(modalities=["image", "audio"], path_prefix="/m/image/",
                                                     where="size > 100 AND size < 90000"),
    "OR / NOT / IS NULL": parse_where("(duration IS NULL OR duration < 30) AND NOT modality = 'text'"),
    "path LIKE '%7%'": parse_where("path LIKE '%7%'"),
    "text CONTAINS 'words'": Filter.of(contains="words"),
}


class MaskedSearch:
    """The alternative: vectors and filter columns in memory (one scan), mask, top k, fetch."""

    def __init__(self, store: LanceStore):
        self.store = store
        n = store.count()
        self.table = store._table.search().select(["vector", *FILTERABLE]).limit(n).to_arrow()
        self.ids = self.table.column("id").to_pylist()
        self.matrix = self.table.column("vector").combine_chunks().flatten().to_numpy().reshape(n, -1)

    def search(self, q: np.ndarray, k: int, f: Filter | None) -> list[dict]:
        scores = self.matrix @ q
        rows = np.arange(len(self.ids)) if f is None else np.flatnonzero(evaluate(f, self.table))
        if k < len(rows):
            rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
        top = rows[np.argsort(-scores[rows])]
        return self.store.get([self.ids[i] for i in top], with_tokens=True)


def build(folder: Path, n: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    mods = ["text", "image", "audio", "video", "document"]
    store = LanceStore(folder, dim)
    records = [
        dict(id=f"i{i}", path=f"/m/{mods[i % 5]}/f{i}", modality=mods[i % 5], content_hash=str(i), mtime=float(i),
             size=i * 10, duration=None if i % 5 < 2 else float(i % 60), pages=None, text=f"item {i} words here",
             segments="[]", tokens=b"", n_tokens=0, meta="{}", vector=vecs[i])
        for i in range(n)
    ]
    for start in range(0, n, 2000):
        store.upsert(records[start:start + 2000])
    store.finalize()


def timed(fn) -> tuple[float, float]:
    """(wall ms, CPU ms of all threads) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp), args.items, args.dim)
        store = LanceStore(tmp, args.dim)
        masked = MaskedSearch(store)
        queries = np.random.default_rng(1).normal(size=(args.repeats + 1, args.dim)).astype(np.float32)
        rows = []
        for name, f in FILTERS.items():
            store.vector_search(queries[0], 10, f, with_tokens=True), masked.search(queries[0], 10, f)  # warm-up
            ours, alt = [], []
            for q in queries[1:]:  # interleaved, so a busy machine slows both alike
                ours.append(timed(lambda: store.vector_search(q, 10, f, with_tokens=True)))
                alt.append(timed(lambda: masked.search(q, 10, f)))
            same = all({r["id"] for r in store.vector_search(q, 10, f)} == {r["id"] for r in masked.search(q, 10, f)}
                       for q in queries[:5])
            rows.append({"filter": name, "same_results": same,
                         "xmodal_ms": round(statistics.median(t[0] for t in ours), 2),
                         "xmodal_cpu_ms": round(statistics.median(t[1] for t in ours), 2),
                         "masked_ms": round(statistics.median(t[0] for t in alt), 2),
                         "masked_cpu_ms": round(statistics.median(t[1] for t in alt), 2)})
        where = "modality IN ('image', 'audio') AND (duration < 30 OR pages IS NOT NULL) AND path LIKE '/m/%'"
        parse = statistics.median(timed(lambda: parse_where(where))[0] for _ in range(200))
    result = {"items": args.items, "dim": args.dim, "repeats": args.repeats, "load": os.getloadavg()[0],
              "parse_where_ms": round(parse, 3), "rows": rows}
    print(f"{'filter':40} {'xmodal ms (CPU)':>18} {'masked in memory ms (CPU)':>27}  same")
    for r in rows:
        print(f"{r['filter']:40} {r['xmodal_ms']:8.2f} ({r['xmodal_cpu_ms']:6.2f}) "
              f"{r['masked_ms']:17.2f} ({r['masked_cpu_ms']:6.2f})  {r['same_results']}")
    print(f"parse_where: {parse:.3f} ms; load average {result['load']:.2f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
