"""Hybrid first stage: vector search plus BM25 over extracted text, fused by weighted RRF.

Images and sounds usually carry no text, so a plain RRF of the two lists would let every
text-bearing item outrank them. Here the vector list decides *which* items compete and the
lexical list only lends a bounded bonus: lexical-only hits must also clear a similarity floor
in the shared space, and the lexical weight is below the vector weight.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..store import Store, unpack_tokens
from ..types import Modality, Segment
from .fusion import reciprocal_rank_fusion


def modality_filter(modalities: Sequence[Modality | str] | None, where: str | None = None) -> str | None:
    """SQL filter for the store: the user's `where` AND modality IN (...)."""
    clauses = []
    if modalities:
        names = ", ".join(f"'{Modality(m).value}'" for m in modalities)
        clauses.append(f"modality IN ({names})")
    if where:
        clauses.append(f"({where})")
    return " AND ".join(clauses) or None


@dataclass
class HybridRetriever:
    store: Store
    lexical_weight: float = 0.5
    candidates: int = 100  # per list, before fusion
    lexical_floor: float = 0.1  # min cosine for a lexical-only hit to be kept
    rrf_k: int = 60

    def retrieve(self, vector: np.ndarray, text: str | None, k: int, where: str | None = None) -> list[dict[str, Any]]:
        n = max(self.candidates, k)
        dense = self.store.vector_search(vector, n, where)
        by_id = {r["id"]: r for r in dense}
        for r in dense:
            r["_scores"] = {"vector": r["_score"]}
        lexical = self.store.text_search(text, n, where) if text else []
        if not lexical:
            return dense[:k]
        lex_ids = []
        extra = [r["id"] for r in lexical if r["id"] not in by_id]
        vecs = {r["id"]: r["vector"] for r in self.store.get(extra, with_tokens=True)} if extra else {}
        for r in lexical:
            if r["id"] not in by_id:
                cos = float(np.dot(np.asarray(vecs.get(r["id"], np.zeros_like(vector)), np.float32), vector))
                if cos < self.lexical_floor:
                    continue
                r["_scores"] = {"vector": cos}
                by_id[r["id"]] = r
            by_id[r["id"]]["_scores"]["lexical"] = r["_score"]
            lex_ids.append(r["id"])
        dense_ids = sorted(by_id, key=lambda i: -by_id[i]["_scores"]["vector"])
        fused = reciprocal_rank_fusion([dense_ids, lex_ids], [1.0, self.lexical_weight], k=self.rrf_k)
        order = sorted(fused, key=lambda i: -fused[i])[:k]
        out = []
        for i in order:
            r = by_id[i]
            r["_scores"]["fused"] = fused[i]
            r["_score"] = fused[i]
            out.append(r)
        return out


def locate_segment(vector: np.ndarray, record: dict[str, Any], dim: int) -> Segment | None:
    """The segment whose token is most similar to the query: where in the item it matched."""
    segments = [Segment.from_dict(s) for s in json.loads(record.get("segments") or "[]")]
    tokens = unpack_tokens(record.get("tokens"), record.get("n_tokens") or 0, dim)
    usable = [i for i, s in enumerate(segments) if s.kind not in ("token", "tags", "item") and i < len(tokens)]
    if not usable:
        return None
    sims = tokens[usable] @ vector
    return segments[usable[int(np.argmax(sims))]]
