"""Bridge vs learned binding vs binding with attention pooling, on every shipped set's test split.

    # 1. train the bindings (features are cached once per set; training is minutes on 2 cores)
    xmodal train bind -m image -p ~/.cache/xmodal/sets/tuxpaint-t2i:train -p scratch-images --out BIND_LINEAR
    # (more varied pairs: add -p openclipart:3000; the first run renders 3000 SVGs, ~15 min on 2 cores;
    #  drawings that duplicate a Tux Paint stamp, the tuxpaint sets' test corpus, are dropped)
    xmodal train bind -m image -p ~/.cache/xmodal/sets/tuxpaint-t2i:train --head attn --out BIND_ATTN
    # 2. measure (indexes are kept under cache_dir("sets", ".indexes", ...) and reused)
    .venv/bin/python benchmarks/bind_eval.py --binding linear=BIND_LINEAR --binding attn=BIND_ATTN \
        [--sets tuxpaint-t2i,tuxpaint-multilingual-t2i] [--out benchmarks/results/bind-eval.json]

Sets whose train split fed the binding are marked "seen" (their test half is still unseen
caption groups); all others are "unseen".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from xmodal.bind import load_binding
from xmodal.config import cache_dir
from xmodal.data import build_set, list_sets
from xmodal.eval import evaluate
from xmodal.space import Space


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binding", action="append", default=[], help="LABEL=FOLDER (repeatable)")
    ap.add_argument("--sets", default=",".join(list_sets()))
    ap.add_argument("--split", default="test")
    ap.add_argument("--no-bridge", action="store_true", help="skip the bridge (no binding) rows")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--profile", default="default", help="profile name or JSON file (e.g. one naming an older sound bank)")
    args = ap.parse_args()
    configs: list[tuple[str, object]] = [] if args.no_bridge else [("bridge", None)]
    for spec in args.binding:
        label, _, folder = spec.partition("=")
        configs.append((label, load_binding(folder)))
    results: dict[str, dict[str, object]] = {}
    rows = []
    for name in args.sets.split(","):
        set_dir = build_set(name)
        for label, b in configs:
            seen = "-"
            if b is not None:
                srcs = [s["name"] for t in b.training.values() for s in t.get("sources", [])]
                seen = "seen" if any(s.split(":")[0] == name for s in srcs) else "unseen"
            # the space (encoders, bank, binding) in the folder name: two spaces never share an index folder
            space_fp = json.dumps(Space(args.profile, binding=b if b is not None else "none").fingerprint(),
                                  sort_keys=True, default=str)
            tag = f"{'bridge' if b is None else label}-{hashlib.sha256(space_fp.encode()).hexdigest()[:8]}"
            index_dir = cache_dir("sets", ".indexes", "bind", tag) / name
            t0 = time.perf_counter()
            res = evaluate(set_dir, split=args.split, profile=args.profile, index_dir=index_dir, binding=b if b is not None else "none",
                           ks=(1, 5, 10, 100), progress=False)
            m = res["stages"]["retrieve"]
            results.setdefault(name, {})[label] = {"metrics": m, "by_pair": res["by_pair"], "seen": seen,
                                                   "n_queries": res["n_queries"], "seconds": round(time.perf_counter() - t0, 1)}
            rows.append(f"| {name} | {label} | {seen} | {res['n_queries']} | {m['R@1']:.3f} | {m['R@5']:.3f} | {m['R@10']:.3f} | {m['nDCG@10']:.3f} |")
            print(rows[-1], flush=True)
    print("\n| set | config | binding saw set's train split | queries | R@1 | R@5 | R@10 | nDCG@10 |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
