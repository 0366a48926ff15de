"""Hybrid first stage: vector search plus BM25 over extracted text.

Images and sounds usually carry no text, so rank fusion (RRF) of the two lists lets every
text-bearing item outrank them: a middling vector hit with a word match beats the best picture.
Here the score stays on the cosine scale and the lexical side adds a *bounded* bonus:

    score = cosine + lexical_weight * bm25 / max(bm25 of this query)

so a word match can reorder close calls but never buries an item without text whose cosine is
clearly higher. Lexical-only hits are admitted when their cosine clears a floor.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..encode.av import locate_moment
from ..store import Filter, Store, unpack_tokens
from ..types import Segment
from .base import Retriever


_lexical: tuple[int, ThreadPoolExecutor] | None = None


def _lexical_pool() -> ThreadPoolExecutor:
    """Helper threads for the full-text half of hybrid searches, made once per process (a forked
    child gets its own: an inherited executor's threads do not exist there)."""
    global _lexical
    if _lexical is None or _lexical[0] != os.getpid():
        _lexical = (os.getpid(), ThreadPoolExecutor(max_workers=2, thread_name_prefix="xmodal-fts"))
    return _lexical[1]


@dataclass
class HybridRetriever(Retriever):
    store: Store
    lexical_weight: float = 0.1
    candidates: int = 30  # lexical hits considered (a word match adds at most lexical_weight)
    lexical_floor: float = 0.1  # min cosine for a lexical-only hit to be kept

    def retrieve(self, vector: np.ndarray, text: str | None, k: int, filter: Filter | None = None) -> list[dict[str, Any]]:
        """Top-k records (with `tokens` and `vector`), each with `_score` and per-part `_scores`.

        The dense list needs only depth k: an item outside it has cosine ≤ the k-th, so it can
        only enter the top k through a lexical bonus, and then it is in the lexical list.
        """
        lexical_wanted = bool(text and text.strip() and self.lexical_weight > 0)
        # the two searches are independent Lance queries that release the GIL: run the full-text
        # one on a helper thread while this one does the vector search
        # (its hits come with their vectors and tokens, so no third query fetches them: ~7 ms at 100k)
        pending = (_lexical_pool().submit(self.store.text_search, text, max(self.candidates, k), filter, with_tokens=True)
                   if lexical_wanted else None)
        try:
            dense = self.store.vector_search(vector, k, filter, with_tokens=True)
        finally:
            lexical = pending.result() if pending is not None else []
        by_id = {r["id"]: r for r in dense}
        for r in dense:
            r["_scores"] = {"vector": r["_score"]}
        if not lexical:
            return dense
        top_bm25 = max(r["_score"] for r in lexical) or 1.0
        for r in lexical:
            hit = by_id.get(r["id"])
            if hit is None:
                cos = float(np.dot(np.asarray(r["vector"], np.float32), vector)) if r.get("vector") is not None else -1.0
                if cos < self.lexical_floor:
                    continue
                hit = {**r, "_scores": {"vector": cos}}
                by_id[r["id"]] = hit
            hit["_scores"]["lexical"] = r["_score"]
        for r in by_id.values():
            s = r["_scores"]
            s["fused"] = s["vector"] + self.lexical_weight * s.get("lexical", 0.0) / top_bm25
            r["_score"] = s["fused"]
        return sorted(by_id.values(), key=lambda r: -r["_score"])[:k]


def locate_segment(vector: np.ndarray, record: dict[str, Any], dim: int) -> Segment | None:
    """The segment whose token is most similar to the query: where in the item it matched.
    A video's is the moment (window or shot) and the sense that carried it (`encode/av.py`)."""
    segments = [Segment.from_dict(s) for s in json.loads(record.get("segments") or "[]")]
    tokens = unpack_tokens(record.get("tokens"), record.get("n_tokens") or 0, dim)
    moment = locate_moment(vector, segments, tokens) if record.get("modality") == "video" else None
    if moment is not None:
        return moment
    usable = [i for i, s in enumerate(segments) if s.kind not in ("token", "tags", "item") and i < len(tokens)]
    if not usable:
        return None
    sims = tokens[usable] @ vector
    return segments[usable[int(np.argmax(sims))]]
