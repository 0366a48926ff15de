"""The rerank interface: reorder the first stage's top-N with finer interaction, and say why.

A reranker sees the query (its text, its decoded parts and their embeddings, with token
features) and each candidate as stored (vector, token features, segments, extracted text), and
returns one score per candidate plus, where it can, the segment that made it match.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from ..store import unpack_tokens
from ..types import Embedding, Media, Modality, SearchResult, Segment


@dataclass
class RerankQuery:
    text: str | None  # the text part, if any
    parts: list[Media]  # decoded query parts (text and/or media)
    embeddings: list[Embedding]  # one per part: vector + tokens + segments
    vector: np.ndarray  # the fused first-stage query vector

    @property
    def modality(self) -> Modality:
        """The query's media modality (its first non-text part), else text."""
        return next((p.modality for p in self.parts if p.modality != Modality.TEXT), Modality.TEXT)


@dataclass
class Candidate:
    id: str
    path: str
    modality: Modality
    text: str  # extracted text: OCR, transcript, page text, the text itself
    vector: np.ndarray
    tokens: np.ndarray  # (n, dim)
    segments: list[Segment]
    meta: dict[str, Any] = field(default_factory=dict)
    first_stage_score: float = 0.0
    first_stage_rank: int = 0
    duration: float | None = None  # seconds (audio, video): explanations must fall inside
    pages: int | None = None  # documents


@dataclass
class RerankScore:
    score: float  # higher is better; comparable across the candidates of one query
    segment: Segment | None = None  # where in the candidate it matched (explanation)
    reason: str = ""


class Reranker(ABC):
    """Scores candidates for a query. `fuse` says how to combine with the first stage."""

    # store capabilities (xmodal.store.base) this reranker reads; an index whose store lacks
    # one refuses the reranker with an error instead of feeding it empty features
    requires: ClassVar[frozenset[str]] = frozenset()

    # weight of the reranker score in a convex combination with the (min-max normalised)
    # first-stage score; 1.0 means the reranker alone decides. Trained rerankers store the
    # weight chosen on a validation split in their artifact.
    fusion_weight: float = 1.0

    def check_space(self, fingerprint: dict[str, Any]) -> None:
        """Refuse (IndexMismatchError) an index whose space (`Space.fingerprint()`) this reranker
        was not made for; a reranker that reads no vectors works in any space."""

    def weight_for(self, query: Modality, candidate: Modality) -> float:
        """The fusion weight for one modality pair (trained rerankers may set one per pair)."""
        return self.fusion_weight

    @abstractmethod
    def rerank(self, query: RerankQuery, candidates: Sequence[Candidate]) -> list[RerankScore]:
        """One RerankScore per candidate, in the candidates' order."""

    def config(self) -> dict[str, Any]:
        return {"reranker": type(self).__name__, "fusion_weight": self.fusion_weight}


def fuse_scores(first: Sequence[float], second: Sequence[float], weight: "float | Sequence[float]") -> np.ndarray:
    """Convex combination of min-max normalised scores (weight on `second`; one per item or one for all)."""

    def norm(x: Sequence[float]) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64)
        span = a.max() - a.min() if len(a) else 0.0
        return (a - a.min()) / span if span > 0 else np.zeros_like(a)

    w = np.asarray(weight, dtype=np.float64)
    return (1.0 - w) * norm(first) + w * norm(second)


def rerank_results(
    reranker: Reranker,
    query: RerankQuery,
    results: list[SearchResult],
    records: dict[str, dict[str, Any]],
    depth: int,
    dim: int,
) -> list[SearchResult]:
    """Rerank the first `depth` results (their stored records give tokens and segments), fuse the
    scores with the first stage's, and keep the rest below them in their old order."""
    import json

    head, tail = results[:depth], results[depth:]
    cands = []
    for rank, r in enumerate(head, 1):
        rec = records.get(r.id, {})
        cands.append(
            Candidate(
                id=r.id, path=r.path, modality=r.modality, text=r.text,
                vector=np.asarray(rec.get("vector", np.zeros(dim)), np.float32),
                tokens=unpack_tokens(rec.get("tokens"), rec.get("n_tokens") or 0, dim),
                segments=[Segment.from_dict(s) for s in json.loads(rec.get("segments") or "[]")],
                meta=r.meta, first_stage_score=r.score, first_stage_rank=rank,
                duration=rec.get("duration"), pages=rec.get("pages"),
            )
        )
    scored = reranker.rerank(query, cands)
    weights = [reranker.weight_for(query.modality, c.modality) for c in cands]
    fused = fuse_scores([r.score for r in head], [s.score for s in scored], weights)
    for r, s, f in zip(head, scored, fused):
        r.scores.update(first_stage=r.score, rerank=float(s.score), fused=float(f))
        r.score = float(f)
        if s.segment is not None:
            r.segment = s.segment
        if s.reason:
            r.meta["reason"] = s.reason
    floor = min((r.score for r in head), default=0.0)
    for i, r in enumerate(tail, 1):
        r.scores["first_stage"] = r.score
        r.score = floor - i * 1e-6
    return sorted(head, key=lambda r: -r.score) + tail
