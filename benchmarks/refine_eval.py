"""Honest checks of the LLM refiner and the LLM reranker on the shipped sets.

For each set, queries are sampled (fixed seed) among those whose relevant item is in the
first-stage top-K, so every list holds the answer *and* the distractors first-stage retrieval
ranks highest. The refiner judges those K items:
  - precision / recall of kept items vs. the qrels (baseline "keep all": precision = |rel|/K, recall 1)
  - citation validity: valid citations / all citations the model wrote, before repair
  - latency per ask (evidence + judging + answer), packaged LLM, this CPU; also the CPU seconds
    the ask used (`time.process_time`), which a busy shared machine inflates far less than wall time
The LLM reranker reorders the same top-K: R@1 / R@5 before and after, and added latency.

    PYTHONPATH=src .venv/bin/python benchmarks/refine_eval.py --sets tuxpaint-t2i tuxpaint-t2a --n 12
    PYTHONPATH=src .venv/bin/python benchmarks/refine_eval.py --model qwen2.5-coder-0.5b --no-rerank
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import xmodal
from xmodal.config import cache_dir
from xmodal.data.beir import load_set
from xmodal.engine.ask import stored_segments
from xmodal.refine.llm import LLMRefiner
from xmodal.rerank.llm import LLMReranker


def index_for(name: str) -> Path:
    path = cache_dir("sets", ".indexes", "default", name)
    if not (path / "xmodal-eval.json").exists():
        from xmodal.eval import evaluate

        evaluate(cache_dir("sets", name), index_dir=path, ks=(1,), progress=True)  # builds and keeps the index
    return path


def run_set(name: str, n: int, k: int, model: str, seed: int, budget: float, threads: int = 2,
            rerank: bool = True) -> dict:
    es = load_set(cache_dir("sets", name), "test")
    idx = xmodal.open(index_for(name))
    rng = random.Random(seed)
    qids = sorted(q for q in es.queries if es.queries[q].text)
    rng.shuffle(qids)
    refiner = LLMRefiner(backend="llamacpp", model=model, mode="pointwise", time_budget_s=budget, augment=False,
                         backend_options={"threads": threads})
    reranker = LLMReranker(backend="llamacpp", model=model, time_budget_s=budget, max_candidates=k,
                            backend_options={"threads": threads})
    rows, picked = [], 0
    idx.search("warm up", k=1)
    for qid in qids:
        if picked >= n:
            break
        q = es.queries[qid]
        rel = {d for d, s in es.qrels[qid].items() if s >= 1}
        first = idx.search(q.text, k=k)
        ids = [r.id for r in first]
        if not rel & set(ids):
            continue  # nothing to keep: filtering cannot be judged on this query
        picked += 1
        t0, c0 = time.perf_counter(), time.process_time()
        segs = stored_segments(idx, ids)
        ans = refiner.refine(q.text, first, segments=segs)
        ask_s, ask_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        kept = {x.id for x in ans.kept}
        rel_in = rel & set(ids)
        tp = len(kept & rel_in)
        cites = len(ans.citations) + len(ans.invalid_citations)
        t1 = time.perf_counter()
        rr = idx.search(q.text, k=k, rerank=reranker, rerank_depth=k) if rerank else first
        rerank_s = time.perf_counter() - t1
        rows.append({
            "qid": qid, "query": q.text, "n_rel_in_topk": len(rel_in), "kept": len(kept), "tp": tp,
            "precision": tp / len(kept) if kept else 0.0, "recall": tp / len(rel_in),
            "citations": cites, "valid_citations": len(ans.citations), "ask_s": ask_s, "ask_cpu_s": ask_cpu_s,
            "load_1min": os.getloadavg()[0], "degraded": ans.degraded,
            "answer": ans.answer, "notes": ans.notes,
            "r1_before": float(ids[0] in rel), "r1_after": float(rr[0].id in rel),
            "r5_before": float(bool(rel & set(ids[:5]))), "r5_after": float(bool(rel & {r.id for r in rr[:5]})),
            "rerank_s": rerank_s, "judged": reranker.last_stats.get("judged"),
            "kept_evidence": [(x.id in rel, x.llm_score, " | ".join(e.describe() for e in x.evidence)[:120]) for x in ans.kept],
            "dropped_evidence": [(x.id in rel, x.llm_score, " | ".join(e.describe() for e in x.evidence)[:120]) for x in ans.dropped],
        })
        print(f"{name} {qid} kept {len(kept)}/{k} tp {tp}/{len(rel_in)} ask {ask_s:.2f}s rerank {rerank_s:.2f}s "
              f"R@1 {rows[-1]['r1_before']:.0f}->{rows[-1]['r1_after']:.0f}", flush=True)

    def mean(key: str) -> float:
        return round(statistics.fmean(r[key] for r in rows), 3) if rows else 0.0

    cites = sum(r["citations"] for r in rows)
    return {
        "set": name, "model": model, "k": k, "n_queries": len(rows),
        "precision_kept": mean("precision"), "recall_kept": mean("recall"),
        "precision_keep_all": round(statistics.fmean(r["n_rel_in_topk"] / k for r in rows), 3) if rows else 0.0,
        "kept_per_query": mean("kept"),
        "citation_validity": round(sum(r["valid_citations"] for r in rows) / cites, 3) if cites else None,
        "answers_with_citations": mean("valid_citations") and round(sum(r["valid_citations"] > 0 for r in rows) / len(rows), 3),
        "ask_s_p50": round(statistics.median(r["ask_s"] for r in rows), 2) if rows else None,
        "ask_s_mean": mean("ask_s"), "ask_cpu_s_p50": round(statistics.median(r["ask_cpu_s"] for r in rows), 2) if rows else None,
        "load_1min_mean": mean("load_1min"), "degraded": sum(r["degraded"] for r in rows),
        "R@1_before": mean("r1_before"), "R@1_after_llm_rerank": mean("r1_after"),
        "R@5_before": mean("r5_before"), "R@5_after_llm_rerank": mean("r5_after"),
        "rerank_s_mean": mean("rerank_s"), "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="+", default=["tuxpaint-t2i", "tuxpaint-t2a"])
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--no-rerank", action="store_true", help="skip the LLM reranker pass (refiner only)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "refine_eval.json")
    args = ap.parse_args()
    results = [run_set(s, args.n, args.k, args.model, args.seed, args.budget, args.threads, not args.no_rerank)
               for s in args.sets]
    for r in results:
        print(json.dumps({k: v for k, v in r.items() if k != "rows"}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    prev = json.loads(args.out.read_text()) if args.out.exists() else {}
    prev[args.model] = results
    args.out.write_text(json.dumps(prev, indent=1))
    print(f"→ {args.out}")


if __name__ == "__main__":
    main()
