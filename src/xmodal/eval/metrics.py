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

The per-ranking formulas (`success_at`, `recall_at`, `reciprocal_rank`, `ndcg_at`,
`average_precision`) take the gains of a ranking as retrieved — the relevance score at each
rank, 0 for a non-relevant item — and are the ones the binding and reranker trainers use too,
so model selection and evaluation measure alike.

They are computed here with numpy rather than through ranx: ranx needs a ~30 s numba compile
on first use (and ~4 s to load it in every later process) and hashes ids into float64; the
formulas are short, and tests/test_eval.py checks them against ranx on random graded runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

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


def _first_hit(gains: np.ndarray, k: int | None = None) -> int | None:
    """1-based rank of the first relevant item within the top k (all ranks when k is None)."""
    hits = np.flatnonzero(np.asarray(gains[:k] if k is not None else gains) > 0)
    return int(hits[0]) + 1 if len(hits) else None


def success_at(gains: np.ndarray, k: int) -> float:
    """1 if a relevant item is in the top k, else 0 (the cross-modal ``R@k``)."""
    return 1.0 if _first_hit(gains, k) is not None else 0.0


def recall_at(gains: np.ndarray, n_relevant: int, k: int) -> float:
    """|relevant ∩ top k| / |relevant| (BEIR's recall)."""
    return float(np.count_nonzero(np.asarray(gains[:k]) > 0)) / n_relevant if n_relevant else 0.0


def reciprocal_rank(gains: np.ndarray, k: int | None = None) -> float:
    """1 / rank of the first relevant item within the top k (k None: anywhere), else 0."""
    first = _first_hit(gains, k)
    return 1.0 / first if first is not None else 0.0


@lru_cache(maxsize=16)
def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def ndcg_at(gains: np.ndarray, relevant_scores: Sequence[float], k: int) -> float:
    """nDCG@k: gain = the qrel score, discount log2(rank + 1), ideal DCG from `relevant_scores`."""
    gains = np.asarray(gains, dtype=np.float64)
    discounts = _discounts(k)
    dcg = float(np.sum(gains[:k] * discounts[: min(k, len(gains))]))
    ideal = np.array(sorted(relevant_scores, reverse=True)[:k], dtype=np.float64)
    idcg = float(np.sum(ideal * discounts[: len(ideal)]))
    return dcg / idcg if idcg > 0 else 0.0


def average_precision(gains: np.ndarray, n_relevant: int) -> float:
    """Sum of precision@rank at each relevant hit, over all `n_relevant` items (misses count)."""
    hits = np.asarray(gains) > 0
    ranks = np.flatnonzero(hits) + 1
    if not len(ranks) or not n_relevant:
        return 0.0
    return float(np.sum(np.cumsum(hits)[ranks - 1] / ranks) / n_relevant)


def first_relevant_rank(judged: Mapping[str, int], ranking: Sequence[str]) -> int | None:
    """1-based rank of the first relevant item in the ranking, or None if none was retrieved."""
    for i, doc in enumerate(_dedupe(ranking), start=1):
        if judged.get(doc, 0) >= 1:
            return i
    return None


def query_metrics(judged: Mapping[str, int], ranking: Sequence[str], ks: Iterable[int]) -> dict[str, float]:
    """All metrics of `metric_names(ks)` for one query (see the module docstring)."""
    rel_scores = [float(s) for s in judged.values() if s >= 1]
    n_rel = len(rel_scores)
    if n_rel == 0:  # undefined; callers drop such queries, but never divide by zero
        return {name: 0.0 for name in metric_names(ks)}
    gains = _gains(judged, _dedupe(ranking))
    ks = sorted(set(int(k) for k in ks))
    out = {f"R@{k}": success_at(gains, k) for k in ks}
    out["nDCG@10"] = ndcg_at(gains, rel_scores, 10)
    out["MRR@10"] = reciprocal_rank(gains, 10)
    out["mAP"] = average_precision(gains, n_rel)
    out.update({f"BEIR-Recall@{k}": recall_at(gains, n_rel, k) for k in ks})
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
