"""The rerank interface: reorder the first stage's top-N with finer interaction, and say why.

A reranker sees the query (its text, its decoded parts and their embeddings, with token
features) and each candidate as stored (vector, token features, segments, extracted text), and
returns one score per candidate plus, where it can, the segment that made it match.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..types import Embedding, Media, Modality, Segment


@dataclass
class RerankQuery:
    text: str | None  # the text part, if any
    parts: list[Media]  # decoded query parts (text and/or media)
    embeddings: list[Embedding]  # one per part: vector + tokens + segments
    vector: np.ndarray  # the fused first-stage query vector


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

    # weight of the reranker score in a convex combination with the (min-max normalised)
    # first-stage score; 1.0 means the reranker alone decides. Trained rerankers store the
    # weight chosen on a validation split in their artifact.
    fusion_weight: float = 1.0

    @abstractmethod
    def rerank(self, query: RerankQuery, candidates: Sequence[Candidate]) -> list[RerankScore]:
        """One RerankScore per candidate, in the candidates' order."""

    def config(self) -> dict[str, Any]:
        return {"reranker": type(self).__name__, "fusion_weight": self.fusion_weight}


def fuse_scores(first: Sequence[float], second: Sequence[float], weight: float) -> np.ndarray:
    """Convex combination of min-max normalised scores (weight on `second`)."""

    def norm(x: Sequence[float]) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64)
        span = a.max() - a.min() if len(a) else 0.0
        return (a - a.min()) / span if span > 0 else np.zeros_like(a)

    return (1.0 - weight) * norm(first) + weight * norm(second)
