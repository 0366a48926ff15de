"""The retriever interface: a query vector (and its text, if any) → the top-k stored records."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ..store import Filter


class Retriever(ABC):
    @abstractmethod
    def retrieve(self, vector: np.ndarray, text: str | None, k: int, filter: Filter | None = None) -> list[dict[str, Any]]:
        """Top-k records (with `tokens` and `vector`) among those that pass `filter`, best first,
        each with `_score` and per-part `_scores` ({"vector": ..., "lexical": ..., "fused": ...}
        as they apply)."""
