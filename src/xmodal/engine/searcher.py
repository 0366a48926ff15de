"""Search: a query (text, a file, both, a raw vector or a stored item) → the shared space → the
first-stage retriever → (optionally) a reranker over the top of the list."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from xmodal.errors import MediaError, XModalError
from xmodal.media import Limits
from xmodal.media.names import display_path
from xmodal.media.pool import DecodePool
from xmodal.retrieve import Retriever, locate_segment
from xmodal.space import Space, check_supported, combine
from xmodal.store import TEXT_SEARCH, TOKEN_FEATURES, Filter, Raw, Store
from xmodal.store.filters import walk
from xmodal.types import Embedding, Media, Modality, SearchResult

from .indexer import embed_size_error

if TYPE_CHECKING:
    from xmodal.rerank import Reranker

log = logging.getLogger(__name__)

# what the engine leaves out when a store lacks a capability (Store.capabilities)
WITHOUT = {
    TEXT_SEARCH: "hybrid search is off: it has no full-text (BM25) search, so results rank by vector similarity alone",
    TOKEN_FEATURES: ("it keeps no token features, so results do not say where they matched (region, time span, "
                     "page) and the attention reranker cannot run (--rerank llm can)"),
}


def capability_notes(store: Store) -> list[str]:
    """One sentence per capability `store` lacks, saying what is left out (see WITHOUT)."""
    kind = type(store).__name__.removesuffix("Store").lower()
    return [f"this {kind} index: {WITHOUT[c]}" for c in WITHOUT if c not in store.capabilities]


class Searcher:
    def __init__(self, space: Space, store: Store, retriever: Retriever, limits: Limits, decoder: DecodePool | None = None):
        self.decoder = decoder or DecodePool(limits)  # a query's file is decoded in a worker too
        self.space = space
        self.store = store
        self.retriever = retriever
        self.limits = limits
        self._rerankers: dict[str, "Reranker"] = {}
        self._fingerprint: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._reranking = threading.Lock()
        for note in capability_notes(store):  # said once per opened index, never silently
            log.warning("%s", note)

    def query_media(self, text: str | None = None, file: str | Path | None = None) -> list[Media]:
        parts = []
        if text and text.strip():
            parts.append(Media(Modality.TEXT, text=text.strip()))
        if file is not None:
            media = self.decoder.load(file)
            too_long = embed_size_error(media, self.limits)
            if too_long:
                raise MediaError(display_path(file), too_long)
            check_supported(self.space, media)
            parts.append(media)
        if not parts:
            raise XModalError("empty query: give text, a file, or both")
        return parts

    def embed_query(self, text: str | None = None, file: str | Path | None = None) -> np.ndarray:
        return self.space.embed_query(self.query_media(text, file))

    def search(
        self,
        text: str | None = None,
        file: str | Path | None = None,
        *,
        k: int = 10,
        modalities: Sequence[Modality | str] | None = None,
        where: str | Filter | None = None,
        hybrid: bool = True,
        vector: np.ndarray | None = None,
        rerank: "str | Reranker | None" = None,
        rerank_depth: int = 50,
    ) -> list[SearchResult]:
        if k < 1:
            raise XModalError(f"k must be at least 1, got {k}")
        filt = Filter.of(modalities=modalities, where=where)  # before embedding: a bad filter fails fast
        parts: list[Media] = []
        embs: list[Embedding] = []
        if vector is None:
            parts = self.query_media(text, file)
            embs = self.space.embed(parts)
            vector = combine(embs)
        depth = max(k, rerank_depth) if rerank else k
        hybrid = hybrid and TEXT_SEARCH in self.store.capabilities  # the note says so (capability_notes)
        try:
            hits = self.retriever.retrieve(vector, text if hybrid else None, depth, filt)
        except XModalError:
            raise
        except Exception as exc:  # only an engine's own (Raw) filter text reaches the engine unchecked
            raw = [n.expr for n in walk(filt) if isinstance(n, Raw)] if filt is not None else []
            if raw:
                raise XModalError(f"search with the raw filter {raw[0]!r} failed: {exc}") from exc
            raise
        results = [
            SearchResult(
                id=h["id"],
                path=h["path"],
                modality=Modality(h["modality"]),
                score=float(h["_score"]),
                text=h.get("text") or "",
                segment=locate_segment(vector, h, self.space.dim),
                scores=h.get("_scores", {"vector": float(h["_score"])}),
                meta=json.loads(h.get("meta") or "{}"),
            )
            for h in hits
        ]
        if rerank and results and parts:  # a raw-vector query has no parts to interact with
            from xmodal.rerank import RerankQuery, rerank_results

            query = RerankQuery(text=text, parts=parts, embeddings=embs, vector=vector)
            full = {h["id"]: h for h in hits}  # hits carry tokens and vectors already
            reranker = self.reranker(rerank)
            with self._reranking:  # rerankers keep model state; one query reranks at a time
                results = rerank_results(reranker, query, results, full, rerank_depth, self.space.dim)
        return results[:k]

    def similar(self, item_id: str, *, k: int = 10, **options: Any) -> list[SearchResult]:
        """More like this: search with a stored item's own vector (the item itself left out)."""
        rows = self.store.get([item_id], with_tokens=True)
        if not rows:
            raise XModalError(f"no item with id {item_id!r}")
        hits = self.search(vector=np.asarray(rows[0]["vector"], np.float32), k=k + 1, **options)
        return [r for r in hits if r.id != item_id][:k]

    def reranker(self, rerank: "str | Reranker") -> "Reranker":
        """A reranker by name, created once and reused (its weights load once); either way one
        made for another space than this index's is refused (IndexMismatchError), and so is one
        that reads what this index's store does not keep."""
        with self._lock:
            if self._fingerprint is None:
                self._fingerprint = self.space.fingerprint()
            if not isinstance(rerank, str):
                self._check_capabilities(type(rerank))
                rerank.check_space(self._fingerprint)
                return rerank
            if rerank not in self._rerankers:
                from xmodal.rerank import RERANKERS

                self._check_capabilities(RERANKERS.resolve(rerank))
                created = RERANKERS.create(rerank)
                created.check_space(self._fingerprint)
                self._rerankers[rerank] = created
            return self._rerankers[rerank]

    def _check_capabilities(self, reranker: "type[Reranker]") -> None:
        missing = sorted(reranker.requires - self.store.capabilities)
        if missing:
            raise XModalError(f"the {reranker.__name__} needs {', '.join(missing)}, which the "
                              f"{type(self.store).__name__} of {self.store.uri} does not keep; use --rerank llm, "
                              "or an index on Lance (a folder or s3://)")
