"""Image encoder throughput of the default (Lite0) and `quality` (Lite0+Lite2) ConSE encoders.

    nice .venv/bin/python benchmarks/bench_image_variants.py [--n 200] [--rounds 2]

Encodes the first N pictures of the tuxpaint-t2i corpus from their files (decode, letterbox,
classifier, ConSE, region tokens, the OCR gate), as indexing does, without the store. Variants
alternate round by round so both see the same machine load; each round reports wall img/s and
img per CPU-second (`time.process_time`, all threads of this process), which a busy shared
machine inflates much less than wall time. One warm-up batch per variant is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from xmodal.data import build_set
from xmodal.encode.image_conse import ConSEImageEncoder
from xmodal.encode.text_minilm import MiniLMTextEncoder
from xmodal.types import Media, Modality


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", default="lite0,lite0+lite2")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    folder = build_set("tuxpaint-t2i")
    rows = [json.loads(line) for line in (folder / "corpus.jsonl").read_text().splitlines()]
    media = [Media(Modality.IMAGE, path=str(folder / r["path"])) for r in rows[: args.n]]
    text = MiniLMTextEncoder()
    encoders = {v: ConSEImageEncoder(variant=v, text_encoder=text) for v in args.variants.split(",")}
    for enc in encoders.values():
        enc.encode(media[:32])  # loads the sessions, class vectors and OCR engine
    results: dict[str, list[dict[str, float]]] = {v: [] for v in encoders}
    for r in range(args.rounds):
        for v, enc in encoders.items():
            t0, c0, load = time.perf_counter(), time.process_time(), os.getloadavg()[0]
            enc.encode(media)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            results[v].append({"img_per_s": len(media) / wall, "img_per_cpu_s": len(media) / cpu, "load_1min": load})
            print(f"round {r} {v}: {len(media) / wall:.1f} img/s wall, {len(media) / cpu:.1f} img per CPU-s, load {load:.1f}",
                  flush=True)
    summary = {v: {k: round(max(x[k] for x in rs), 1) for k in ("img_per_s", "img_per_cpu_s")} |
               {"load_1min_mean": round(sum(x["load_1min"] for x in rs) / len(rs), 1)} for v, rs in results.items()}
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"n": len(media), "rounds": results, "best": summary}, indent=1))


if __name__ == "__main__":
    main()
