"""The engine: wires media → encoders (one shared space) → store → retrieval. No stage logic here.

    idx = xmodal.open("my-index")          # new index with the offline default profile
    idx.add(["photos/", "sounds/"])        # incremental: unchanged files are skipped
    idx.search("a dog barking", k=5)       # any modality finds any other

The three jobs live apart: `manifest` (what built an index and the policy that it is only opened
with exactly that), `indexer` (ingestion) and `searcher` (queries, reranking). `Index` only wires
them to one store and one space.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from xmodal.media import Limits
from xmodal.retrieve import RETRIEVERS
from xmodal.store import STORES, Filter, Store
from xmodal.store.base import MANIFEST
from xmodal.types import Media, Modality, SearchResult

from .indexer import IndexReport, Indexer, Progress, item_id_for
from .manifest import build_manifest, space_for
from .searcher import Searcher

if TYPE_CHECKING:
    from xmodal.refine import RefinedAnswer
    from xmodal.rerank import Reranker

__all__ = ["Index", "IndexReport", "Progress", "item_id_for", "open"]


class Index:
    """One index: a store plus the profile of encoders (and binding) that built it.

    Opening an existing index re-creates its encoders from its manifest; passing a different
    profile is an IndexMismatchError, never a silent mix of vector spaces.
    """

    def __init__(
        self,
        path: str | Path,
        profile: str | dict[str, Any] | None = None,
        *,
        store: str = "lancedb",
        limits: Limits | None = None,
        batch_size: int = 32,
        store_options: dict[str, Any] | None = None,
        binding: "str | Path | Any | None" = None,
        retriever: str = "hybrid",
    ):
        self.path = Path(path)
        self.limits = limits or Limits()
        manifest = self._read_manifest_file()
        self.space = space_for(manifest, profile, binding, where=str(self.path))
        self.store: Store = STORES.create(store, path=self.path, dim=self.space.dim, **(store_options or {}))
        if manifest is None:
            self.store.write_manifest(build_manifest(self.space))
        self.retriever = RETRIEVERS.create(retriever, store=self.store)
        self.indexer = Indexer(self.space, self.store, self.limits, batch_size)
        self.searcher = Searcher(self.space, self.store, self.retriever, self.limits)

    def _read_manifest_file(self) -> dict[str, Any] | None:
        f = self.path / MANIFEST
        return json.loads(f.read_text()) if f.exists() else None

    @property
    def manifest(self) -> dict[str, Any]:
        return self.store.read_manifest() or {}

    @property
    def batch_size(self) -> int:
        return self.indexer.batch_size

    # -- writes --------------------------------------------------------------------------
    def add(
        self,
        paths: Iterable[str | Path],
        ids: Sequence[str] | None = None,
        *,
        prune: bool = False,
        progress: Progress | None = None,
        meta: dict[str, Any] | None = None,
    ) -> IndexReport:
        """Index files and folders. Unchanged files are skipped; changed ones re-embedded.

        Each batch is committed as it completes, so an interrupted run keeps what it finished
        and the next run resumes. A file that cannot be decoded is reported, never fatal.
        """
        return self.indexer.add(paths, ids, prune=prune, progress=progress, meta=meta)

    def add_texts(self, items: Iterable[tuple[str, str] | tuple[str, str, dict[str, Any]]]) -> IndexReport:
        """Index raw texts under the given ids (unchanged texts are skipped)."""
        return self.indexer.add_texts(items)

    def delete(self, ids: Iterable[str]) -> int:
        """Remove items by id; returns how many were removed."""
        return self.indexer.delete(ids)

    # -- reads ---------------------------------------------------------------------------
    def query_media(self, text: str | None = None, file: str | Path | None = None) -> list[Media]:
        return self.searcher.query_media(text, file)

    def embed_query(self, text: str | None = None, file: str | Path | None = None) -> np.ndarray:
        return self.searcher.embed_query(text, file)

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
        """Text, a file (image, sound, video, document, text), or both (a mixed query).

        where: a filter on item columns, in the `--where` language (`"duration < 10 AND path LIKE
        '/music/%'"`, grammar in `xmodal.store.filters`) or a `xmodal.store.Filter`; it is ANDed
        with `modalities`.

        rerank: a reranker name (`attention`, `llm`) or instance; it reorders the first stage's
        top `rerank_depth` and its score is fused with the first stage's.
        """
        return self.searcher.search(text, file, k=k, modalities=modalities, where=where, hybrid=hybrid,
                                    vector=vector, rerank=rerank, rerank_depth=rerank_depth)

    def similar(self, item_id: str, *, k: int = 10, **options: Any) -> list[SearchResult]:
        """More like this: the items nearest to a stored item (by its own vector), itself excluded."""
        return self.searcher.similar(item_id, k=k, **options)

    def get(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Stored items by id (missing ids skipped): columns of `xmodal.store.COLUMNS` without the
        vector and token features, with `segments` and `meta` parsed."""
        out = []
        for r in self.store.get(list(ids)):
            r = dict(r)
            r["segments"] = json.loads(r.get("segments") or "[]")
            r["meta"] = json.loads(r.get("meta") or "{}")
            out.append(r)
        return out

    def ask(self, question: str | None, **options: Any) -> "RefinedAnswer":
        """Retrieve → rerank → refine: an LLM keeps, drops and orders the results and answers
        citing them (see `xmodal.engine.ask.ask` for the options)."""
        from .ask import ask

        return ask(self, question, **options)

    def stats(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "path": str(self.path),
            "items": self.store.count(),
            "by_modality": self.store.modality_counts(),
            "profile": m.get("fingerprint", {}).get("profile"),
            "dim": m.get("fingerprint", {}).get("dim"),
            "encoders": m.get("fingerprint", {}).get("encoders", {}),
            "binding": (m.get("binding") or {}).get("path"),
            "xmodal_version": m.get("xmodal_version"),
        }


def open(path: str | Path, profile: str | dict[str, Any] | None = None, **kwargs: Any) -> Index:  # noqa: A001
    """Open (or create) the index in folder `path`."""
    return Index(path, profile, **kwargs)

