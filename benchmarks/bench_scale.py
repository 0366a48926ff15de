"""Query latency, ANN recall and index build at 1k → 1M items, with faiss HNSW as the reference;
peak memory and disk per item while indexing 100k texts through the real pipeline.

    .venv/bin/python benchmarks/bench_scale.py --sizes 1000,10000,100000,1000000 --out benchmarks/results/scale.json
    .venv/bin/python benchmarks/bench_scale.py --ingest 100000 --out benchmarks/results/ingest-100k.json

Items (`--sizes`): synthetic but shaped like real data. A base of ~20k real texts (Tux Paint
captions in ~59 languages, ImageNet class names) is embedded once with the default text encoder;
item i is normalise(B[a] + 0.5·B[b] + noise) with the text "text[a] text[b]", so vectors sit near
the text manifold and BM25 has real words to match. Rows are bulk-written into a default-profile
index, then `finalize()` builds what the store builds (full-text index, id index and, at or
above the ANN threshold, the vector index). Queries: 200 real English stamp captions, embedded by
the index itself (`Index.search`, default hybrid, k=10: query embedding included).

Per size: p50/p95 of the default hybrid search and of vector-only search; recall@10 of the store's
vector search against exact search (numpy over the same vectors); for sizes with an ANN index,
its build time and the latency of queries issued while it builds; and faiss HNSW (M=32) on the
same vectors and query vectors: build time, per-query latency and recall@10 at several efSearch.

`--ingest N`: `Index.add_texts` of N synthetic texts in a fresh index, run in a child process so
its peak RSS is its own; reports items/s, peak RSS (its own, and its largest child's: the ANN
index builds in a child process), the finalize time and bytes on disk per item.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from speed_common import cpu_seconds, load_avg, machine, peak_rss_mb

import xmodal
from xmodal.config import cache_dir

SEED = 0
N_QUERIES = 200


# ------------------------------------------------------------------------------- data
def base_texts(limit: int = 20_000) -> list[str]:
    from xmodal.data.debian import fetch_deb
    from xmodal.data.tuxpaint import tuxpaint_stamps
    from xmodal.encode.image_conse import class_texts

    texts: list[str] = []
    for s in tuxpaint_stamps(fetch_deb("tuxpaint-stamps-default")):
        texts.append(s.caption)
        texts.extend(s.translations.values())
    texts.extend(class_texts()[0])
    texts = sorted(set(t.strip() for t in texts if t and t.strip()))
    rng = np.random.default_rng(SEED)
    return [texts[i] for i in sorted(rng.choice(len(texts), min(limit, len(texts)), replace=False))]


def base_vectors(texts: list[str], idx: Any) -> np.ndarray:
    import hashlib

    key = hashlib.sha256(json.dumps([texts, idx.space.encoder(xmodal.types.Modality.TEXT).config()]).encode()).hexdigest()[:12]
    path = cache_dir("bench") / f"scale-base-{key}.npy"
    if path.is_file():
        return np.load(path)
    vecs = idx.space.encoder(xmodal.types.Modality.TEXT).embed_texts(texts).astype(np.float32)
    np.save(path, vecs)
    return vecs


def queries() -> list[str]:
    from xmodal.data.debian import fetch_deb
    from xmodal.data.tuxpaint import tuxpaint_stamps

    caps = sorted({s.caption for s in tuxpaint_stamps(fetch_deb("tuxpaint-stamps-default"))})
    rng = np.random.default_rng(SEED + 1)
    return [caps[i] for i in rng.choice(len(caps), min(N_QUERIES, len(caps)), replace=False)]


def synth_chunks(n: int, base: np.ndarray, texts: list[str], chunk: int = 50_000, noise: float = 0.25):
    """(start, vectors (m, d), texts) chunks of the n synthetic items, deterministic per n."""
    rng = np.random.default_rng(SEED + 2)
    d = base.shape[1]
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        a = rng.integers(len(base), size=m)
        b = rng.integers(len(base), size=m)
        v = base[a] + 0.5 * base[b] + (noise / np.sqrt(d)) * rng.standard_normal((m, d), dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        yield start, v.astype(np.float32), [f"{texts[i]} {texts[j]}" for i, j in zip(a, b)]


def records(start: int, vecs: np.ndarray, txts: list[str]) -> list[dict[str, Any]]:
    return [{"id": f"t{start + i}", "path": "", "modality": "text", "content_hash": f"h{start + i}", "mtime": 0.0,
             "size": len(t), "duration": None, "pages": None, "text": t, "segments": "[]", "tokens": b"",
             "n_tokens": 0, "meta": "{}", "vector": v} for i, (v, t) in enumerate(zip(vecs, txts))]


# ------------------------------------------------------------------------------- timing
def pct(lat: list[float]) -> dict[str, float]:
    s = sorted(lat)
    return {"p50_ms": round(statistics.median(s), 2), "p95_ms": round(s[int(0.95 * (len(s) - 1))], 2),
            "mean_ms": round(sum(s) / len(s), 2), "max_ms": round(s[-1], 2), "n": len(s)}


def timed_queries(fn, qs: list[Any], repeats: int = 1) -> dict[str, float]:
    fn(qs[0])
    lat = []
    for _ in range(repeats):
        for q in qs:
            t = time.perf_counter()
            fn(q)
            lat.append((time.perf_counter() - t) * 1000)
    return pct(lat)


def exact_top(vecs: np.ndarray, qv: np.ndarray, k: int = 10) -> np.ndarray:
    scores = qv @ vecs.T  # (q, n)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1), 1)


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    k = truth.shape[1]
    return round(float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth.tolist())])), 4)


# ------------------------------------------------------------------------------- faiss
def faiss_reference(vecs: np.ndarray, qv: np.ndarray, truth: np.ndarray, efs=(16, 32, 64, 128, 256), ef_construction: int = 200) -> dict[str, Any]:
    try:
        import faiss
    except ImportError:
        return {"skipped": "faiss-cpu is not installed (pip install 'xmodal[bench]')"}
    faiss.omp_set_num_threads(2)
    index = faiss.IndexHNSWFlat(vecs.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    t0, c0 = time.perf_counter(), cpu_seconds()
    index.add(vecs)
    build, build_cpu = time.perf_counter() - t0, cpu_seconds() - c0
    faiss.omp_set_num_threads(1)  # one query at a time, like the store
    out: dict[str, Any] = {"index": f"IndexHNSWFlat M=32 efConstruction={ef_construction} (inner product, 2 threads to build)",
                           "build_s": round(build, 2), "build_cpu_s": round(build_cpu, 1), "efSearch": {}}
    for ef in efs:
        index.hnsw.efSearch = ef
        found = []

        def one(q: np.ndarray) -> None:
            found.append(index.search(q[None], 10)[1][0])

        lat = timed_queries(one, list(qv))
        out["efSearch"][ef] = {**lat, "recall@10": recall([list(f) for f in found[1:]], truth)}
    index.reset()  # free its memory before the next size
    faiss.omp_set_num_threads(2)
    return out


# ------------------------------------------------------------------------------- one size
def build(path: Path, n: int, base: np.ndarray, texts: list[str], ann: dict[str, Any] | None = None) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """Bulk-write n synthetic items into a fresh default-profile index (no ANN index yet)."""
    if path.exists():
        import shutil

        shutil.rmtree(path)
    idx = xmodal.open(path, store_options={"ann": ann} if ann else None)
    store = idx.store
    vecs = np.zeros((n, base.shape[1]), np.float32)
    t0 = time.perf_counter()
    for start, v, t in synth_chunks(n, base, texts):
        vecs[start : start + len(v)] = v
        store._table.add(__import__("pyarrow").Table.from_pylist(records(start, v, t), schema=store._table.schema))
    write = time.perf_counter() - t0
    # finalize without the vector index first (full-text and id indices), so the ANN build is timed alone
    threshold, store.ann_threshold = store.ann_threshold, n + 1
    t0 = time.perf_counter()
    store.finalize()
    fts = time.perf_counter() - t0
    store.ann_threshold = threshold
    return idx, vecs, {"items": n, "bulk_write_s": round(write, 1), "fts_and_id_index_s": round(fts, 1)}


def measure(idx: Any, vecs: np.ndarray, qs: list[str], qv: np.ndarray, truth: np.ndarray, label: str, limit: int | None = None) -> dict[str, Any]:
    store = idx.store
    qs, qv, truth = qs[:limit], qv[:limit], truth[:limit]
    found: list[list[int]] = []
    pos = {f"t{i}": i for i in range(len(vecs))} if len(vecs) <= 2_000_000 else {}

    def vec_only(q: np.ndarray) -> None:
        found.append([pos[r["id"]] for r in store.vector_search(q, 10, with_tokens=True)])

    out = {
        "hybrid_search": timed_queries(lambda q: idx.search(q, k=10), qs),
        "vector_only_search": timed_queries(lambda q: idx.search(q, k=10, hybrid=False), qs),
        "store_vector_search": timed_queries(vec_only, list(qv)),
    }
    out["recall@10"] = recall(found[1:], truth)
    print(f"  {label:26} hybrid p50 {out['hybrid_search']['p50_ms']:7.1f} p95 {out['hybrid_search']['p95_ms']:7.1f} ms | "
          f"vector-only p50 {out['vector_only_search']['p50_ms']:7.1f} | store vector p50 {out['store_vector_search']['p50_ms']:6.1f} ms "
          f"recall@10 {out['recall@10']:.3f}  (load {load_avg()[0]})", flush=True)
    return out


def build_ann_while_searching(idx: Any, qs: list[str]) -> dict[str, Any]:
    """Build the vector index in a thread while queries run; their latency shows what users see."""
    store = idx.store
    done = threading.Event()
    info: dict[str, Any] = {}

    def work() -> None:
        t0, c0 = time.perf_counter(), cpu_seconds(children=True)
        try:
            store.build_vector_index()
        finally:
            info["build_s"] = round(time.perf_counter() - t0, 1)
            info["build_cpu_s"] = round(cpu_seconds(children=True) - c0, 1)  # the build's child process and the queries
            done.set()

    th = threading.Thread(target=work)
    th.start()
    lat, i = [], 0
    while not done.is_set():
        q = qs[i % len(qs)]
        t = time.perf_counter()
        idx.search(q, k=10)
        lat.append((time.perf_counter() - t) * 1000)
        i += 1
    th.join()
    info["queries_during_build"] = pct(lat) if lat else {"n": 0}
    return info


def sweep_query_settings(idx: Any, vecs: np.ndarray, qv: np.ndarray, truth: np.ndarray, sweep: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store vector search (k=10) latency and recall@10 under other query-time ANN settings."""
    from dataclasses import replace

    store, out = idx.store, []
    keep = store.ann
    pos = {f"t{i}": i for i in range(len(vecs))}
    try:
        for setting in sweep:
            store.ann = replace(keep, **setting)
            found: list[list[int]] = []
            lat = timed_queries(lambda q: found.append([pos[r["id"]] for r in store.vector_search(q, 10, with_tokens=True)]), list(qv))
            out.append({"settings": setting, **lat, "recall@10": recall(found[1:], truth)})
            print(f"    query settings {json.dumps(setting):40} p50 {lat['p50_ms']:6.2f} p95 {lat['p95_ms']:6.2f} ms  recall@10 {out[-1]['recall@10']:.3f}", flush=True)
    finally:
        store.ann = keep
    return out


def sweep_build_settings(idx: Any, vecs: np.ndarray, qv: np.ndarray, truth: np.ndarray, builds: list[dict[str, Any]],
                         sweep: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rebuild the vector index under other build settings: build wall/CPU time, then the query sweep."""
    from dataclasses import replace

    store, out = idx.store, []
    keep = store.ann
    try:
        for b in builds:
            store.ann = replace(keep, **b)
            t0, c0 = time.perf_counter(), cpu_seconds(children=True)
            store.build_vector_index()
            row = {"build": b, "build_s": round(time.perf_counter() - t0, 1), "build_cpu_s": round(cpu_seconds(children=True) - c0, 1), "load": load_avg()}
            print(f"  build {json.dumps(b):50} {row['build_s']:7.1f} s wall, {row['build_cpu_s']:7.1f} s CPU (load {row['load'][0]})", flush=True)
            store.ann = keep
            row["queries"] = sweep_query_settings(idx, vecs, qv, truth, sweep or [{}])
            out.append(row)
    finally:
        store.ann = keep
    return out


def run_size(n: int, workdir: Path, base: np.ndarray, texts: list[str], qs: list[str], faiss_on: bool,
             ann: dict[str, Any], sweep: list[dict[str, Any]], builds: list[dict[str, Any]], during_build: bool = True,
             scan_queries: int | None = None) -> dict[str, Any]:
    path = workdir / f"scale-{n}"
    idx, vecs, res = build(path, n, base, texts, ann)
    qv = np.stack([idx.embed_query(q) for q in qs]).astype(np.float32)
    truth = exact_top(vecs, qv)
    res["load_before"] = load_avg()
    print(f"{n:>9} items: bulk write {res['bulk_write_s']} s, full-text + id index {res['fts_and_id_index_s']} s", flush=True)
    res["numpy_exact_matvec"] = timed_queries(lambda q: vecs @ q, list(qv))
    if n >= idx.store.ann_threshold:
        if during_build:
            res["before_ann_index"] = measure(idx, vecs, qs, qv, truth, "no ANN index (Lance scan)", limit=scan_queries)
            res["ann_build"] = build_ann_while_searching(idx, qs)
        else:
            t0, c0 = time.perf_counter(), cpu_seconds(children=True)
            idx.store.build_vector_index()
            res["ann_build"] = {"build_s": round(time.perf_counter() - t0, 1), "build_cpu_s": round(cpu_seconds(children=True) - c0, 1)}
        print(f"  ANN build {res['ann_build']}", flush=True)
        res["ann_index"] = idx.store.vector_index_stats()
        if sweep:
            res["query_settings_sweep"] = sweep_query_settings(idx, vecs, qv, truth, sweep)
        if builds:
            res["build_settings_sweep"] = sweep_build_settings(idx, vecs, qv, truth, builds, sweep)
            idx.store.build_vector_index()  # back to the settings under test
    res["search"] = measure(idx, vecs, qs, qv, truth, "ANN index" if n >= idx.store.ann_threshold else "exact (in-memory)")
    if faiss_on:
        res["faiss_hnsw"] = faiss_reference(vecs, qv, truth)
        for ef, r in res["faiss_hnsw"].get("efSearch", {}).items():
            print(f"  faiss HNSW efSearch {ef:4}: p50 {r['p50_ms']:.3f} ms p95 {r['p95_ms']:.3f} ms recall@10 {r['recall@10']:.3f}", flush=True)
    res["disk_bytes_per_item"] = round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / n)
    res["load_after"] = load_avg()
    return res


# ------------------------------------------------------------------------------- ingest
def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


class RssCurve:
    """VmRSS sampled every `every` s beside the rows committed so far (counted by wrapping the
    store's upsert), so growth with the item count shows apart from the peak."""

    def __init__(self, store: Any, every: float = 1.0):
        self.rows, self.samples, self._done = 0, [], threading.Event()
        upsert = store.upsert

        def counted(records: Any, *a: Any, **kw: Any) -> None:
            upsert(records, *a, **kw)
            self.rows += len(records)

        store.upsert = counted
        threading.Thread(target=self._sample, args=(every,), daemon=True).start()

    def _sample(self, every: float) -> None:
        while not self._done.wait(every):
            self.samples.append((self.rows, rss_mb()))

    def stop(self) -> None:
        self._done.set()

    def by_rows(self, points: int = 20) -> list[list[float]]:
        """[rows committed, highest RSS MB seen at that count] at about `points` row counts, the
        finalize (all rows in, indices building) included as the last."""
        best: dict[int, float] = {}
        for rows, mb in self.samples:
            best[rows] = max(best.get(rows, 0.0), mb)
        keys = sorted(best)
        step = max(1, len(keys) // points)
        picked = keys[::step] + ([keys[-1]] if keys and keys[-1] not in keys[::step] else [])
        return [[k, round(best[k])] for k in picked]


def ingest(n: int, workdir: Path, base_count: int) -> dict[str, Any]:
    texts = base_texts(base_count)
    rng = np.random.default_rng(SEED + 3)
    a, b = rng.integers(len(texts), size=n), rng.integers(len(texts), size=n)
    items = [(f"t{i}", f"{texts[x]} {texts[y]}") for i, (x, y) in enumerate(zip(a, b))]
    path = workdir / f"ingest-{n}"
    idx = xmodal.open(path)
    idx.add_texts(items[:10])  # warm-up: models load
    curve = RssCurve(idx.store)
    t0, load0 = time.perf_counter(), load_avg()
    rep = idx.add_texts(items[10:])
    dt = time.perf_counter() - t0
    curve.stop()
    disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {"items": n, "added": len(rep.added) + 10, "seconds": round(dt, 1), "items_per_s": round((n - 10) / dt, 1),
            "peak_rss_mb": peak_rss_mb(), "peak_rss_child_mb": peak_rss_mb(children=True), "rss_mb_by_rows": curve.by_rows(),
            "disk_bytes_per_item": round(disk / n), "load_before": load0, "load_after": load_avg(),
            "indices": [getattr(ix, "index_type", str(ix)) for ix in idx.store._table.list_indices()]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--ingest", type=int, default=0, help="index this many texts through Index.add_texts (child process)")
    ap.add_argument("--no-faiss", action="store_true")
    ap.add_argument("--base", type=int, default=20_000)
    ap.add_argument("--workdir", type=Path, default=None, help="where the indices go (default: a temp dir, removed)")
    ap.add_argument("--ann", type=json.loads, default={}, help='AnnSettings for the store, e.g. \'{"ef": 64, "m": 16}\'')
    ap.add_argument("--sweep", type=json.loads, default=[], help='query-time settings to try, e.g. \'[{"ef": 32}, {"ef": 64, "refine": 2}]\'')
    ap.add_argument("--no-scan", action="store_true", help="skip the searches before and during the ANN build")
    ap.add_argument("--scan-queries", type=int, default=None, help="queries measured before the ANN index exists (a scan each)")
    ap.add_argument("--builds", type=json.loads, default=[], help='build settings to try, e.g. \'[{"ef_construction": 100}]\'')
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    tmp = None
    workdir = args.workdir
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="xmodal-scale-")
        workdir = Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.ingest and args.child:
        print(json.dumps(ingest(args.ingest, workdir, args.base)))
        return
    results: dict[str, Any] = {"machine": machine(), "ann": args.ann}
    if args.ingest:  # a child process, so the peak RSS is the ingest's own
        cmd = [sys.executable, __file__, "--ingest", str(args.ingest), "--child", "--workdir", str(workdir), "--base", str(args.base)]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if out.returncode != 0:
            raise SystemExit(out.stderr[-3000:])
        results["ingest"] = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(results["ingest"], indent=1))
    else:
        texts = base_texts(args.base)
        with tempfile.TemporaryDirectory() as d:
            base = base_vectors(texts, xmodal.open(Path(d) / "i"))
        qs = queries()
        results["sizes"] = {}
        for n in [int(s) for s in args.sizes.split(",") if s]:
            results["sizes"][n] = run_size(n, workdir, base, texts, qs, not args.no_faiss, args.ann, args.sweep, args.builds, not args.no_scan,
                                           args.scan_queries)
            if args.out:  # keep what is done if a later (bigger) size fails
                args.out.write_text(json.dumps(results, indent=2))
    results["peak_rss_mb"] = peak_rss_mb()
    results["machine"]["load_avg_end"] = load_avg()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
