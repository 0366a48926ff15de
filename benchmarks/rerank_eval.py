"""R@1/5/10 before and after the attention reranker on every shipped set's test split, and the
latency it adds per query (top-50), as one Markdown table.

    .venv/bin/python benchmarks/rerank_eval.py [--artifact DIR] [--sets a,b] [--out results/rerank-attention.json]

Corpus indexes are shared with benchmarks/eval_sets.py (xmodal's cache: sets/.indexes/default/SET)
and reused. Sets the artifact was trained on (its reranker.json lists them) are marked "trained";
the others are "unseen". Training only ever uses train splits, so every row here is held out
at the query level; "unseen" rows are also new tasks or languages for the reranker.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from xmodal.config import cache_dir
from xmodal.data import build_set, list_sets
from xmodal.eval import evaluate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--artifact", type=Path, default=None, help="reranker folder (default: the shipped one)")
    ap.add_argument("--sets", default=",".join(list_sets()))
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.artifact:
        os.environ["XMODAL_RERANK_ATTENTION"] = str(args.artifact.resolve())
    from xmodal.rerank.attention import DEFAULT_DIR

    meta = json.loads(((args.artifact or DEFAULT_DIR) / "reranker.json").read_text())
    trained_on = {s["set"] for s in meta.get("training", {}).get("sources", [])}
    rows, results, gains = [], {}, []
    for name in args.sets.split(","):
        t0 = time.perf_counter()
        set_dir = build_set(name)
        index_dir = cache_dir("sets", ".indexes", "default") / name
        res = evaluate(set_dir, split=args.split, profile="default", index_dir=index_dir, rerank="attention", progress=False)
        results[name] = res
        before, after = res["stages"]["retrieve"], res["stages"]["rerank"]
        t = res["timing"]
        added = t["rerank_query_p50_ms"] - t["query_p50_ms"]
        gains.append(after["R@1"] - before["R@1"])
        rows.append(
            f"| {name} | {'trained' if name in trained_on else 'unseen'} | {res['n_queries']} "
            f"| {before['R@1']:.3f} → {after['R@1']:.3f} ({100 * (after['R@1'] - before['R@1']):+.1f}) "
            f"| {before['R@5']:.3f} → {after['R@5']:.3f} | {before['R@10']:.3f} → {after['R@10']:.3f} "
            f"| {t['query_p50_ms']:.0f} | {added:+.0f} | {t['rerank_query_p95_ms'] - t['query_p95_ms']:+.0f} |"
        )
        print(rows[-1], f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\nattention reranker {meta.get('training', {}).get('fingerprint')} (fusion weight {meta['fusion_weight']:.2f}), split {args.split}\n")
    print("| set | reranker saw its train split | queries | R@1 before → after (points) | R@5 | R@10 | first-stage p50 ms | added p50 ms | added p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nmean R@1 change: {100 * sum(gains) / max(len(gains), 1):+.1f} points over {len(gains)} sets")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
