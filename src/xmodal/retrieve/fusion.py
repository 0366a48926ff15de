"""Score fusion of ranked lists."""

from __future__ import annotations

from typing import Sequence


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], weights: Sequence[float] | None = None, k: int = 60) -> dict[str, float]:
    """Weighted RRF (Cormack et al. 2009): score(d) = Σ_i w_i / (k + rank_i(d)), ranks from 1."""
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
    return scores
