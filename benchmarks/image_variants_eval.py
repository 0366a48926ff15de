"""Image-side variants of the offline space on the shipped sets and on held-out named sources.

    nice .venv/bin/python benchmarks/image_variants_eval.py \
        --variants bridge,bridge-wordnet,quality,quality-wordnet,default \
        [--sets tuxpaint-t2i,...] [--out benchmarks/results/image-variants.json]

Variants (first stage, hybrid retrieval as `xmodal search` does it):
- default:          the offline default profile with its shipped binding (Lite0, imagenet-v1 texts)
- bridge:           the same without the binding (`binding="none"`): the training-free ConSE bridge
- bridge-wordnet:   the bridge with the WordNet class texts (`class_texts="wordnet-v1"`)
- quality:          the `effnet-ensemble` profile (Lite0 + Lite2 averaged probabilities), no binding
- quality-wordnet:  the `effnet-ensemble` profile with the WordNet class texts, no binding

Indexes are kept under cache_dir("sets", ".indexes", "variants", VARIANT) and reused while the
corpus and the space are unchanged. Results are merged into --out per (set, variant), so runs
for different variants or sets can be made one after another.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

from xmodal.config import cache_dir
from xmodal.data import build_set
from xmodal.data.named_sets import NAMED_T2I_SETS
from xmodal.eval import evaluate
from xmodal.space import PROFILES

SHIPPED = ["tuxpaint-t2i", "tuxpaint-i2t", "tuxpaint-multilingual-t2i", "tuxpaint-speech2i", "tuxpaint-a2i",
           "tuxpaint-video"]


def _profile(base: str, name: str, **image_args: Any) -> dict[str, Any]:
    spec = copy.deepcopy(PROFILES[base])
    spec.pop("binding", None)
    spec["image"].setdefault("args", {}).update(image_args)
    return {"name": name, **spec}


def variants() -> dict[str, tuple[Any, str | None]]:
    """label -> (profile, binding) as `evaluate` takes them."""
    out: dict[str, tuple[Any, str | None]] = {
        "default": ("default", None),
        "bridge": (_profile("default", "bridge"), "none"),
        "bridge-wordnet": (_profile("default", "bridge-wordnet", class_texts="wordnet-v1"), "none"),
    }
    if "effnet-ensemble" in PROFILES:
        out["quality"] = (_profile("effnet-ensemble", "quality"), "none")
        out["quality-wordnet"] = (_profile("effnet-ensemble", "quality-wordnet", class_texts="wordnet-v1"), "none")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="bridge,bridge-wordnet")
    ap.add_argument("--sets", default=",".join(SHIPPED + list(NAMED_T2I_SETS)))
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "image-variants.json")
    args = ap.parse_args()
    table = variants()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    rows = []
    for name in args.sets.split(","):
        set_dir = build_set(name)
        for label in args.variants.split(","):
            profile, binding = table[label]
            index_dir = cache_dir("sets", ".indexes", "variants", label) / name
            t0 = time.perf_counter()
            res = evaluate(set_dir, split=args.split, profile=profile, index_dir=index_dir, binding=binding,
                           ks=(1, 5, 10, 100), progress=False)
            m = res["stages"]["retrieve"]
            results.setdefault(name, {})[label] = {
                "metrics": m, "n_queries": res["n_queries"], "n_corpus": res["n_corpus"],
                "index_s": round(res["timing"]["index_s"], 1), "seconds": round(time.perf_counter() - t0, 1),
                "load_1min": round(os.getloadavg()[0], 1)}
            rows.append(f"| {name} | {label} | {res['n_queries']} | {res['n_corpus']} | {m['R@1']:.3f} | {m['R@5']:.3f} "
                        f"| {m['R@10']:.3f} | {m['nDCG@10']:.3f} | {res['timing']['index_s']:.0f} |")
            print(rows[-1], flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1, default=str))
    print("\n| set | variant | queries | corpus | R@1 | R@5 | R@10 | nDCG@10 | index s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
