"""Foundation benchmark: ingest throughput per modality, peak memory, query latency at 10k items.

    .venv/bin/python benchmarks/bench_foundation.py [--images 300] [--out results.json]

Data: Tux Paint stamp images and sounds and Asterisk prompts (real media from pinned Debian
packages, fetched into xmodal's cache), generated stamp clips, and for the 10k-item latency
index the stamps' captions in ~59 languages as text items. Machine: whatever runs it (the
figures in the README were taken on the 2-core CI machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import xmodal
from xmodal.data.asterisk import asterisk_prompts
from xmodal.data.debian import fetch_deb
from xmodal.data.sets import build_set
from xmodal.data.tuxpaint import tuxpaint_stamps


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest(paths: list[Path], label: str, results: dict, **kw) -> None:
    with tempfile.TemporaryDirectory() as d:
        idx = xmodal.open(Path(d) / "idx", **kw)
        if paths:  # warm-up on one file so model loading is not counted as throughput
            idx.add(paths[:1])
        t0 = time.perf_counter()
        rep = idx.add(paths[1:])
        dt = time.perf_counter() - t0
        n = len(rep.added)
        results["ingest"][label] = {"items": n, "seconds": round(dt, 2), "items_per_s": round(n / dt, 2) if dt else None, "failed": len(rep.failed)}
        print(f"{label:10} {n:5d} items in {dt:7.1f} s → {n / dt:7.1f} items/s  (failed {len(rep.failed)})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--sounds", type=int, default=60)
    ap.add_argument("--speech", type=int, default=60)
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--latency-items", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    results: dict = {"machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()}, "ingest": {}, "query": {}}

    stamps = tuxpaint_stamps(fetch_deb("tuxpaint-stamps-default"))
    stamps = [s for s in stamps if s.category != "symbols"]
    images = [s.image for s in stamps][: args.images]
    sounds = [s.sound for s in stamps if s.sound][: args.sounds]
    prompts = asterisk_prompts(fetch_deb("asterisk-core-sounds-en-wav"))
    speech = [p.wav for p in prompts][: args.speech]
    clips = sorted((build_set("tuxpaint-video") / "media").rglob("*.mp4"))[: args.videos]

    ingest(images, "image", results)
    ingest(sounds, "sound", results)
    ingest(speech, "speech", results)
    ingest(clips, "video", results)

    # 10k-item index for query latency: real captions in many languages as text items
    texts = []
    for s in stamps:
        texts.append(s.caption)
        texts.extend(s.translations.values())
    texts = list(dict.fromkeys(t for t in texts if t))
    while len(texts) < args.latency_items:
        texts = texts + [f"{t} ({len(texts)})" for t in texts]
    texts = texts[: args.latency_items]
    with tempfile.TemporaryDirectory() as d:
        idx = xmodal.open(Path(d) / "idx")
        t0 = time.perf_counter()
        idx.add_texts([(f"t{i}", t) for i, t in enumerate(texts)])
        dt = time.perf_counter() - t0
        results["ingest"]["text"] = {"items": len(texts), "seconds": round(dt, 2), "items_per_s": round(len(texts) / dt, 1)}
        print(f"text       {len(texts):5d} items in {dt:7.1f} s → {len(texts) / dt:7.1f} items/s", flush=True)
        queries = [s.caption for s in stamps[: args.queries]]
        idx.search(queries[0])  # warm
        for mode, hybrid in (("hybrid", True), ("vector", False)):
            lat = []
            for q in queries:
                t = time.perf_counter()
                idx.search(q, k=10, hybrid=hybrid)
                lat.append((time.perf_counter() - t) * 1000)
            lat.sort()
            p50, p95 = statistics.median(lat), lat[int(0.95 * (len(lat) - 1))]
            results["query"][mode] = {"items": idx.stats()["items"], "queries": len(lat), "p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
            print(f"query {mode:6} over {len(texts)} items: p50 {p50:.1f} ms, p95 {p95:.1f} ms (text embedding included)")
    results["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(f"peak RSS {results['peak_rss_mb']} MB")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
