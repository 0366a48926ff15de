"""Filtered vector search below the ANN threshold: the LanceStore's in-memory path (Arrow mask over
cached columns + one matrix product) vs. Lance's own prefiltered scan, on the same 10k-item table.

    .venv/bin/python benchmarks/bench_filters.py --out benchmarks/results/filters.json

Synthetic items (384-d random unit vectors; five modalities; sizes, durations, paths, short
texts), so it needs no models. Each figure is the median of `--repeats` queries after a warm-up.
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

from xmodal.store import Filter, parse_where
from xmodal.store.lance import LanceStore

FILTERS = {
    "none": None,
    "modality IN (image, audio)": Filter.of(modalities=["image", "audio"]),
    "modality + size range + path prefix": Filter.of(modalities=["image", "audio"], path_prefix="/m/image/",
                                                     where="size > 100 AND size < 90000"),
    "OR / NOT / IS NULL": parse_where("(duration IS NULL OR duration < 30) AND NOT modality = 'text'"),
    "path LIKE '%7%'": parse_where("path LIKE '%7%'"),
    "text CONTAINS (Lance path on both)": Filter.of(contains="words"),
}


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


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp), args.items, args.dim)
        memory = LanceStore(tmp, args.dim)  # in-memory exact search, mask over cached columns
        prefilter = LanceStore(tmp, args.dim, ann_threshold=1)  # same table; no ANN index, so Lance scans exactly
        queries = np.random.default_rng(1).normal(size=(args.repeats + 1, args.dim)).astype(np.float32)
        rows = []
        for name, f in FILTERS.items():
            qi = iter(queries)
            mem = median_ms(lambda: memory.vector_search(next(qi), 10, f), args.repeats)
            qi = iter(queries)
            pre = median_ms(lambda: prefilter.vector_search(next(qi), 10, f), args.repeats)
            same = all([r["id"] for r in memory.vector_search(q, 10, f)] == [r["id"] for r in prefilter.vector_search(q, 10, f)]
                       for q in queries[:5])
            rows.append({"filter": name, "in_memory_ms": round(mem, 2), "lance_prefilter_ms": round(pre, 2), "same_results": same})
        parse = median_ms(lambda: parse_where("modality IN ('image', 'audio') AND (duration < 30 OR pages IS NOT NULL) AND path LIKE '/m/%'"), 200)
    result = {"items": args.items, "dim": args.dim, "repeats": args.repeats, "load": os.getloadavg()[0],
              "parse_where_ms": round(parse, 3), "rows": rows}
    print(f"{'filter':40} {'in-memory ms':>13} {'Lance prefilter ms':>19}  same")
    for r in rows:
        print(f"{r['filter']:40} {r['in_memory_ms']:13.2f} {r['lance_prefilter_ms']:19.2f}  {r['same_results']}")
    print(f"parse_where: {parse:.3f} ms; load average {result['load']:.2f}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
