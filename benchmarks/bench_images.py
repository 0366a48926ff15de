"""Image ingest end to end vs. the bare image model, per stage, on real photos and Tux Paint stamps.

    .venv/bin/python benchmarks/bench_images.py [--photos 400] [--stamps 300] [--out benchmarks/results/images.json]

For each set, in one run:
* bare model: the same EfficientNet-Lite0 ONNX file the encoder uses, the same ONNX Runtime
  session settings (2 intra-op threads), batches of 32 pre-decoded, pre-letterboxed inputs;
  measured before and after the end-to-end pass (the mean is the reference);
* end to end: `Index.add` of the files into a fresh index (default profile with its binding,
  decode → letterbox → model → region maps → OCR gate → binding head → LanceDB commit), after a
  one-file warm-up so model loading is not counted; every stage's wall and thread-CPU seconds,
  the process's CPU and the decode workers' CPU. Since the overlap (issue 14) decoding runs a
  batch ahead in the workers, letterboxing on two threads, the network 8 images a call, and the
  region maps and OCR of one call on two side threads beside the next: stages overlap, so their
  wall times no longer add up to the run's.

The ratio (end to end / bare model) is the figure issue 14 asks for (target ≥ 0.6, and ≥ 100 img/s).
Photos: `speed_common.photo_set` (real photos from pinned Debian packages and scikit-image,
re-encoded as JPEG/PNG at 200–1,000 px, built once into the cache).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from speed_common import StageClock, cpu_seconds, machine, photo_set, photo_stats, timed_add, write_results

import xmodal.engine.indexer as indexer_mod
import xmodal.encode.image_conse as conse_mod
import xmodal.media.image as image_mod
from xmodal.bind.artifact import Binding
from xmodal.encode.image_conse import ConSEImageEncoder
from xmodal.encode.ocr import OCR
from xmodal.media import load
from xmodal.store.lance import LanceStore


BARE_SETTINGS = [(2, True), (2, False), (1, True)]  # (intra-op threads, spinning): the best one is the reference


def bare_model(pixels: list[np.ndarray], model: Path, outputs: list[str], batch: int = 32,
               settings: list[tuple[int, bool]] = BARE_SETTINGS) -> dict[str, Any]:
    """The model alone on pre-decoded batches, under each session setting; the fastest counts."""
    import onnxruntime as ort

    runs = {}
    for threads, spinning in settings:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        sess = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
        sess.run(outputs, {"pixels": np.stack(pixels[:batch])})  # warm-up
        t0, c0 = time.perf_counter(), cpu_seconds()
        for b in range(0, len(pixels), batch):
            sess.run(outputs, {"pixels": np.stack(pixels[b : b + batch])})
        dt, dc = time.perf_counter() - t0, cpu_seconds() - c0
        runs[f"threads={threads},spinning={spinning}"] = {"seconds": round(dt, 3), "img_per_s": round(len(pixels) / dt, 1),
                                                          "cpu_ms_per_img": round(1000 * dc / len(pixels), 2)}
    best = max(runs, key=lambda k: runs[k]["img_per_s"])
    return {"items": len(pixels), "img_per_s": runs[best]["img_per_s"], "best": best, "settings": runs}


def decode_costs(paths: list[Path]) -> dict[str, Any]:
    """Thread-CPU ms per image, one thread, by format: Pillow's full decode, a JPEG draft decode
    (libjpeg scaling by 1/2..1/8 straight to about the model's input size), xmodal's `load`
    (decode + EXIF orientation + colour shares + flattening), and the letterbox to 224 px."""
    from PIL import Image

    def cpu_ms(fn: Any, items: list[Any]) -> float:
        c = time.thread_time()
        for x in items:
            fn(x)
        return round((time.thread_time() - c) / max(len(items), 1) * 1000, 3)

    def full(p: Path) -> None:
        with Image.open(p) as im:
            im.load()

    def draft(p: Path) -> None:
        with Image.open(p) as im:
            if im.format == "JPEG":
                w, h = im.size
                r = 224 / max(w, h)
                im.draft("RGB", (max(1, round(w * r)), max(1, round(h * r))))
            im.load()

    out: dict[str, Any] = {}
    for fmt in sorted({p.suffix.lower() for p in paths}):
        ps = [p for p in paths if p.suffix.lower() == fmt]
        loaded = [load(p).images[0] for p in ps]
        row = {"items": len(ps), "xmodal_load_ms": cpu_ms(load, ps), "letterbox_ms": cpu_ms(lambda im: conse_mod.letterbox(im, 224), loaded)}
        if fmt != ".svg":
            row |= {"pillow_decode_ms": cpu_ms(full, ps), "pillow_draft_decode_ms": cpu_ms(draft, ps)}
        out[fmt] = row
    return out


def instrument(clock: StageClock) -> None:
    # hash, probe and decode run in the decode worker processes since #13 (Index decode_workers):
    # only an in-process tree (older, or decode_workers=0) times them here; decode_costs() does per format
    clock.wrap(indexer_mod, "content_hash", "hash")
    clock.wrap(indexer_mod, "probe", "probe")
    clock.wrap(indexer_mod, "load", "decode (incl. colour shares)")
    clock.wrap(image_mod, "colour_shares", "colour shares")
    clock.wrap(conse_mod, "letterbox", "letterbox (resize)")
    clock.wrap(ConSEImageEncoder, "_classify", "model")
    clock.wrap(ConSEImageEncoder, "_region_vectors", "region maps")
    if hasattr(ConSEImageEncoder, "_start_reading"):  # OCR on its own thread, beside the next model call
        clock.wrap(ConSEImageEncoder, "_start_reading", "OCR gate")
        clock.wrap(ConSEImageEncoder, "_read_text", "waiting for OCR")
    else:  # older trees: gate and OCR in the embedding thread, after the model
        clock.wrap(ConSEImageEncoder, "_read_text", "OCR gate (+ OCR)")
    clock.wrap(OCR, "read", "OCR read")
    clock.wrap(ConSEImageEncoder, "_embed_batch", "embed batch (model..assembly)")
    clock.wrap(Binding, "apply", "binding head")
    clock.wrap(indexer_mod.Indexer, "_record", "record building")  # older trees
    clock.wrap(indexer_mod, "make_record", "record building")
    clock.wrap(LanceStore, "upsert", "store commit")
    clock.wrap(LanceStore, "finalize", "finalize (FTS, id index)")


def end_to_end(paths: list[Path], clock: StageClock, **open_kw: Any) -> dict[str, Any]:
    r = timed_add(paths, clock, instrument, **open_kw)
    return {**r, "seconds": r["wall_s"], "img_per_s": round(r["items"] / r["wall_s"], 1)}


def run_set(name: str, paths: list[Path], model: Path, clock: StageClock, repeats: int, **open_kw: Any) -> dict[str, Any]:
    enc = ConSEImageEncoder()
    pixels = [conse_mod.letterbox(load(p).images[0], enc.size)[0] for p in paths[1:]]
    out: dict[str, Any] = {"set": name, "runs": []}
    for r in range(repeats):
        before = bare_model(pixels, model, conse_mod._ONNX_OUTPUTS)
        e2e = end_to_end(paths, clock, **open_kw)
        after = bare_model(pixels, model, conse_mod._ONNX_OUTPUTS)
        bare = (before["img_per_s"] + after["img_per_s"]) / 2
        run = {"bare_model_before": before, "end_to_end": e2e, "bare_model_after": after,
               "bare_img_per_s": round(bare, 1), "ratio": round(e2e["img_per_s"] / bare, 3)}
        out["runs"].append(run)
        print(f"{name:7} run {r + 1}: end to end {e2e['img_per_s']:6.1f} img/s ({e2e['items']} in {e2e['seconds']} s, "
              f"CPU {e2e['cpu_utilisation']:.2f} cores, {1000 * e2e['cpu_s'] / e2e['items']:.1f} ms CPU/img + "
              f"{1000 * e2e['decode_workers_cpu_s'] / e2e['items']:.1f} in decode workers), bare model {bare:6.1f} img/s "
              f"({before['best']}) → ratio {run['ratio']:.2f}  load {e2e['load_before'][0]}", flush=True)
    out["decode_costs"] = decode_costs(paths)
    print(f"{name:7} decode costs (thread CPU ms per image): {json.dumps(out['decode_costs'])}", flush=True)
    logits_only = bare_model(pixels, model, ["logits"], settings=[(2, False)])
    out["bare_model_logits_only"] = logits_only
    best = max(out["runs"], key=lambda r: r["end_to_end"]["img_per_s"])
    print(f"{name:7} stages of the best run (thread CPU ms per image; wall s):")
    for stage, s in best["end_to_end"]["stages"].items():
        print(f"    {stage:32} {s['cpu_ms_per_item']:7.2f} ms   {s['wall_s']:7.2f} s  ({s['calls']} calls)")
    print(f"{name:7} bare model, logits output only: {logits_only['img_per_s']} img/s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=400)
    ap.add_argument("--stamps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sets", default="photos,stamps")
    ap.add_argument("--profile", default=None, help="profile name or JSON file (default: the offline default)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from xmodal.data.debian import fetch_deb
    from xmodal.data.tuxpaint import tuxpaint_stamps

    results: dict[str, Any] = {"machine": machine(), "sets": {}}
    sets = {}
    if "photos" in args.sets:
        sets["photos"] = photo_set(args.photos)
    if "stamps" in args.sets:
        stamps = [s for s in tuxpaint_stamps(fetch_deb("tuxpaint-stamps-default")) if s.category != "symbols"]
        sets["stamps"] = [s.image for s in stamps][: args.stamps]
    open_kw = {"profile": args.profile} if args.profile else {}
    model = conse_mod.export_onnx("lite0")  # the file the default profile's image encoder runs
    results["model_file"] = model.name
    clock = StageClock()
    for name, paths in sets.items():
        results["sets"][name] = {"data": photo_stats(paths), **run_set(name, paths, model, clock, args.repeats, **open_kw)}
    write_results(results, args.out)


if __name__ == "__main__":
    main()
