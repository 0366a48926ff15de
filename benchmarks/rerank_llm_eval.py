"""R@1/5/10 before and after the LLM reranker on a fixed sample of every shipped set's test
queries, and the time it adds per query (packaged SmolLM2 through llama.cpp, this CPU).

    .venv/bin/python benchmarks/rerank_llm_eval.py [--n 20] [--depth 10] [--sets a,b] [--out results/rerank-llm.json]

Unlike the attention reranker's table (benchmarks/rerank_eval.py: every test query, top 50), a
pointwise LLM judgement costs ~0.1 s per candidate here, so this samples `--n` queries per set
(seed 0, all queries, not only those the first stage gets right) and judges the top `--depth`.
R@K before and after are over the same sampled queries. Indexes are shared with eval_sets.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time
from pathlib import Path

import xmodal
from xmodal.config import cache_dir
from xmodal.data import build_set, list_sets
from xmodal.eval import evaluate, load_set
from xmodal.rerank.llm import LLMReranker


def _hits(ranked: list[str], relevant: dict[str, int]) -> tuple[float, float, float]:
    first = next((i for i, d in enumerate(ranked) if relevant.get(d, 0) >= 1), None)
    return tuple(float(first is not None and first < k) for k in (1, 5, 10))  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(list_sets()))
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--depth", type=int, default=10)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    reranker = LLMReranker(model=args.model, max_candidates=args.depth, time_budget_s=60.0)
    rows, results = [], {}
    for name in args.sets.split(","):
        set_dir = build_set(name)
        index_dir = cache_dir("sets", ".indexes", "default") / name
        evaluate(set_dir, split="test", profile="default", index_dir=index_dir, progress=False)  # builds or reuses
        idx = xmodal.open(index_dir)
        es = load_set(set_dir, "test")
        qids = sorted(es.queries)
        sample = sorted(random.Random(0).sample(qids, min(args.n, len(qids))))
        before, after, added = [], [], []
        for qid in sample:
            q = es.queries[qid]
            t0 = time.perf_counter()
            first = idx.search(text=q.text, file=q.path, k=args.depth)
            t1 = time.perf_counter()
            reranked = idx.search(text=q.text, file=q.path, k=args.depth, rerank=reranker, rerank_depth=args.depth)
            t2 = time.perf_counter()
            added.append(((t2 - t1) - (t1 - t0)) * 1000.0)
            before.append(_hits([r.id for r in first], es.qrels[qid]))
            after.append(_hits([r.id for r in reranked], es.qrels[qid]))
        mean = lambda xs, k: sum(x[k] for x in xs) / len(xs)  # noqa: E731
        res = {"queries": len(sample), "depth": args.depth, "model": args.model,
               **{f"R@{k}_before": mean(before, i) for i, k in enumerate((1, 5, 10))},
               **{f"R@{k}_after": mean(after, i) for i, k in enumerate((1, 5, 10))},
               "added_ms_p50": statistics.median(added), "added_ms_max": max(added)}
        results[name] = res
        rows.append(f"| {name} | {len(sample)} | {res['R@1_before']:.2f} → {res['R@1_after']:.2f} "
                    f"| {res['R@5_before']:.2f} → {res['R@5_after']:.2f} | {res['added_ms_p50'] / 1000:.1f} s |")
        print(rows[-1], flush=True)
    print(f"\nLLM reranker ({args.model}, pointwise, top {args.depth}), sampled test queries\n")
    print("| set | queries | R@1 before → after | R@5 | added per query (p50) |\n|---|---|---|---|---|")
    print("\n".join(rows))
    gains = [r["R@1_after"] - r["R@1_before"] for r in results.values()]
    print(f"\nmean R@1 change: {100 * sum(gains) / max(len(gains), 1):+.1f} points over {len(gains)} sets")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
