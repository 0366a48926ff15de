"""Retrieval metrics over rankings as retrieved, with graded relevance judgements.

Conventions (the ones trec_eval, pytrec_eval, BEIR and ranx share):

- A document is *relevant* when its qrel score is >= 1; scores <= 0 mean "judged non-relevant".
- Rankings are evaluated in the order the engine returned them (no re-sorting by score, so
  ties cannot be broken differently from what a user saw). A repeated id counts once, at its
  first position.
- Every query of the qrels counts: a query with no results scores 0 on everything. A query
  with no relevant document at all has no defined score and is left out (load_set drops them).

Metrics (k is a cut-off; "top k" is the first k retrieved ids):

- ``R@k`` — cross-modal-retrieval recall as in CLIP_benchmark / Flickr30k / MSR-VTT papers:
  1 if at least one relevant item is in the top k, else 0 (a "hit rate"; ranx ``hit_rate@k``).
- ``BEIR-Recall@k`` — BEIR's recall: |relevant ∩ top k| / |relevant| (ranx ``recall@k``).
  The two differ as soon as a query has several relevant items.
- ``nDCG@k`` — Järvelin-Kekäläinen nDCG as in trec_eval ``ndcg_cut`` and BEIR: gain = the qrel
  score, discount log2(rank + 1), ideal DCG from the query's judged scores (ranx ``ndcg@k``).
- ``MRR@k`` — 1 / rank of the first relevant item within the top k, else 0 (ranx ``mrr@k``).
- ``mAP`` — trec_eval average precision over the whole ranking as retrieved: the sum of
  precision@rank at each relevant hit, divided by the number of relevant items of the query
  (unretrieved relevant items count as misses) (ranx ``map``).

They are computed here with numpy rather than through ranx: ranx needs a ~30 s numba compile
on first use (and ~4 s to load it in every later process) and hashes ids into float64; the
formulas are short, and tests/test_eval.py checks them against ranx on random graded runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Sequence[str]]  # query id -> retrieved ids, best first


def metric_names(ks: Iterable[int]) -> list[str]:
    """The metric names `evaluate_run` reports, in display order."""
    ks = sorted(set(int(k) for k in ks))
    return (
        [f"R@{k}" for k in ks]
        + ["nDCG@10", "MRR@10", "mAP"]
        + [f"BEIR-Recall@{k}" for k in ks]
    )


def _dedupe(ranking: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for doc in ranking:
        if doc not in seen:
            seen.add(doc)
            out.append(doc)
    return out


def _gains(judged: Mapping[str, int], ranking: Sequence[str]) -> np.ndarray:
    """Relevance score (0 when < 1 or unjudged) at each position of the ranking."""
    return np.array([float(s) if (s := judged.get(d, 0)) >= 1 else 0.0 for d in ranking], dtype=np.float64)


def first_relevant_rank(judged: Mapping[str, int], ranking: Sequence[str]) -> int | None:
    """1-based rank of the first relevant item in the ranking, or None if none was retrieved."""
    for i, doc in enumerate(_dedupe(ranking), start=1):
        if judged.get(doc, 0) >= 1:
            return i
    return None


def query_metrics(judged: Mapping[str, int], ranking: Sequence[str], ks: Iterable[int]) -> dict[str, float]:
    """All metrics of `metric_names(ks)` for one query (see the module docstring)."""
    ranking = _dedupe(ranking)
    rel_scores = sorted((s for s in judged.values() if s >= 1), reverse=True)
    n_rel = len(rel_scores)
    gains = _gains(judged, ranking)
    hits = gains > 0
    out: dict[str, float] = {}
    if n_rel == 0:  # undefined; callers drop such queries, but never divide by zero
        return {name: 0.0 for name in metric_names(ks)}

    first = int(np.argmax(hits)) + 1 if hits.any() else None
    cum_hits = np.cumsum(hits)
    for k in sorted(set(int(k) for k in ks)):
        out[f"R@{k}"] = 1.0 if first is not None and first <= k else 0.0

    # nDCG@10: gain = qrel score, discount log2(rank + 1), ideal from the judged scores.
    k = 10
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float(np.sum(gains[:k] * discounts[: min(k, len(gains))]))
    ideal = np.array(rel_scores[:k], dtype=np.float64)
    idcg = float(np.sum(ideal * discounts[: len(ideal)]))
    out["nDCG@10"] = dcg / idcg
    out["MRR@10"] = 1.0 / first if first is not None and first <= 10 else 0.0
    # AP: precision at each relevant hit, over all relevant items of the query.
    ranks = np.flatnonzero(hits) + 1
    out["mAP"] = float(np.sum(cum_hits[ranks - 1] / ranks) / n_rel) if len(ranks) else 0.0
    for k in sorted(set(int(k) for k in ks)):
        out[f"BEIR-Recall@{k}"] = float(cum_hits[min(k, len(cum_hits)) - 1]) / n_rel if len(cum_hits) else 0.0
    return out


def evaluate_run(
    qrels: Qrels, run: Run, ks: Iterable[int] = (1, 5, 10, 100)
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean metrics over the queries of `qrels` that have a relevant item, and per-query values.

    Returns (means, per_query) with per_query[metric][query_id]. Queries missing from `run`
    count as empty rankings. Means are plain floats in [0, 1]; with no query they are 0.
    """
    ks = tuple(ks)
    names = metric_names(ks)
    per_query: dict[str, dict[str, float]] = {name: {} for name in names}
    for qid, judged in qrels.items():
        if not any(s >= 1 for s in judged.values()):
            continue
        values = query_metrics(judged, run.get(qid, ()), ks)
        for name in names:
            per_query[name][qid] = values[name]
    means = {
        name: float(np.mean(list(per_query[name].values()))) if per_query[name] else 0.0 for name in names
    }
    return means, per_query


def recall_curve(qrels: Qrels, run: Run, max_k: int = 100) -> list[float]:
    """R@K (fraction of queries with a relevant item in the top K) for K = 1..max_k."""
    counts = np.zeros(max_k + 1, dtype=np.int64)
    n = 0
    for qid, judged in qrels.items():
        if not any(s >= 1 for s in judged.values()):
            continue
        n += 1
        first = first_relevant_rank(judged, run.get(qid, ()))
        if first is not None and first <= max_k:
            counts[first] += 1
    if n == 0:
        return [0.0] * max_k
    return [float(x) for x in (np.cumsum(counts)[1:] / n)]
