"""The engine: wires media → encoders (one shared space) → store → retrieval. No stage logic here.

    idx = xmodal.open("my-index")          # new index with the offline default profile
    idx.add(["photos/", "sounds/"])        # incremental: unchanged files are skipped
    idx.search("a dog barking", k=5)       # any modality finds any other

The three jobs live apart: `manifest` (what built an index and the policy that it is only opened
with exactly that), `indexer` (ingestion) and `searcher` (queries, reranking). `Index` only wires
them to one store and one space; `check` verifies and repairs an index.

Threads: one `Index` may be used from several threads at once (a server's queries beside its
uploads). What is serialised: each encoder instance runs one `encode` at a time (so a text query
waits for a batch of texts, not for a batch of images); rerankers run one query at a time; every
commit holds the store's write lock (which also excludes other processes). Reads (search, get,
stats) and decoding (the shared `DecodePool`, whose workers are processes) run concurrently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from xmodal.errors import XModalError
from xmodal.media import Limits
from xmodal.media.names import display_path
from xmodal.media.pool import DecodePool
from xmodal.retrieve import RETRIEVERS
from xmodal.store import Filter, IndexLocation, Store, resolve_index
from xmodal.store.base import MANIFEST
from xmodal.store.lock import describe_os_error
from xmodal.types import Media, Modality, SearchResult

from .indexer import IndexReport, Indexer, Progress, item_id_for
from .manifest import build_manifest, check_compatible, space_for
from .searcher import Searcher, capability_notes

if TYPE_CHECKING:
    from xmodal.refine import RefinedAnswer

    from .check import CheckReport
    from xmodal.rerank import Reranker

__all__ = ["Index", "IndexReport", "Progress", "item_id_for", "open"]


class Index:
    """One index: a store plus the profile of encoders (and binding) that built it.

    `path` is where the index lives: a folder (Lance, the embedded default), `s3://bucket/prefix`
    (Lance on object storage) or `milvus://host:port/collection` (see `xmodal.store.location`).
    Opening an existing index re-creates its encoders from its manifest; passing a different
    profile is an IndexMismatchError, never a silent mix of vector spaces.
    """

    def __init__(
        self,
        path: str | Path | IndexLocation,
        profile: str | dict[str, Any] | None = None,
        *,
        store: str | None = None,
        limits: Limits | None = None,
        batch_size: int = 32,
        store_options: dict[str, Any] | None = None,
        binding: "str | Path | Any | None" = None,
        retriever: str = "hybrid",
        decode_workers: int = 2,
        decode_chunk: int = 1,
    ):
        """store: a registered store for a local folder (default lancedb; a URI names its own);
        store_options: extra keyword arguments for the store (e.g. ann_threshold);
        decode_workers: processes that decode files (0: threads of this process, without
        crash containment or per-file budgets); decode_chunk: files sent to a worker at once."""
        self.location = resolve_index(path, store=store, options=store_options)
        self.uri = self.location.uri
        self.path: Path | None = self.location.path  # the folder of a local index, else None
        self.limits = limits or Limits()
        manifest = self._read_manifest()
        if manifest is None:
            self._refuse_foreign_folder()
        self.space = space_for(manifest, profile, binding, where=self.uri)
        # the text model is needed by nearly every call (queries, OCR text, captions): it loads
        # while the store opens, instead of after (start-up of a one-off `xmodal search`)
        self.space.warm_in_background(Modality.TEXT)
        try:
            self.store: Store = self.location.open(dim=self.space.dim)
        except XModalError:
            raise
        except Exception as exc:  # full or read-only disk, a table in a shape Lance itself rejects, a server away
            raise XModalError(f"{self.uri}: cannot open the index: {describe_os_error(exc)}") from None
        self.decoder = DecodePool(self.limits, workers=decode_workers, chunk=decode_chunk)
        self.retriever = RETRIEVERS.create(retriever, store=self.store)
        self.indexer = Indexer(self.space, self.store, self.limits, batch_size, decoder=self.decoder,
                               exclude=[self.path] if self.path is not None else [])
        self.searcher = Searcher(self.space, self.store, self.retriever, self.limits, decoder=self.decoder)
        if manifest is None:
            self._create(profile)

    def _read_manifest(self) -> dict[str, Any] | None:
        """The manifest (read through the store class, without opening the store), None for a
        new index; garbage or a foreign file is a one-line error."""
        if self.path is not None and self.path.exists() and not self.path.is_dir():
            raise XModalError(f"{self.path}: is a file, not an index folder (give --index a folder)")
        where = f"{self.uri.rstrip('/')}/{MANIFEST}"
        try:
            manifest = self.location.read_manifest()
        except XModalError:
            raise
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise XModalError(f"{where}: not an xmodal index manifest ({type(exc).__name__}: {str(exc)[:200]})") from None
        except Exception as exc:  # a server away, credentials refused: the client's own words
            raise XModalError(f"{self.uri}: cannot read the index: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}") from None
        if manifest is None:
            return None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("fingerprint"), dict) or "profile_spec" not in manifest:
            raise XModalError(f"{where}: not an xmodal index manifest (no profile or fingerprint); was it written by another program?")
        return manifest

    def _refuse_foreign_folder(self) -> None:
        """A new index goes into a new or empty folder: never into a folder of other files (a
        LanceDB database of another program, the user's documents), which would get our table
        and manifest written into it."""
        if self.path is None or not self.path.is_dir():
            return
        # the manifest too: another process creating this index at the same moment writes it
        own = {MANIFEST, *getattr(self.location.store_class(), "OWN_FILES", ())}
        try:
            other = sorted(n for n in os.listdir(self.path) if n not in own)
        except OSError as exc:
            raise XModalError(f"{self.path}: cannot read the folder: {describe_os_error(exc)}") from None
        if other:
            shown = ", ".join(display_path(n) for n in other[:3]) + (", ..." if len(other) > 3 else "")
            raise XModalError(
                f"{self.path}: not an xmodal index (no {MANIFEST}) and not empty ({shown}); "
                "give --index a new or empty folder"
            )

    def _create(self, profile: Any) -> None:
        """Record the manifest of a new index, once, even when two processes create it at the
        same moment (the second checks it matches what it would have written)."""
        with self.indexer.writing("creating the index"):
            recorded = self.store.read_manifest()
            if recorded is None:
                if self.store.count() > 0:  # our own files, but rows and no manifest: not ours to adopt
                    raise XModalError(f"{self.uri}: holds items but no {MANIFEST}; it cannot be reopened safely")
                # a conditional create where the store has one (S3): one manifest, whoever is first
                recorded = self.store.create_manifest(build_manifest(self.space))
            check_compatible(recorded, self.space, reopening=profile is None, where=self.uri)

    def close(self) -> None:
        """Stop the decode workers (they also stop when the process exits)."""
        self.decoder.close()

    def __del__(self) -> None:
        decoder = getattr(self, "decoder", None)
        if decoder is not None:
            decoder.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def notes(self) -> list[str]:
        """What this index's store cannot do and what the engine leaves out because of it (empty
        for Lance); the CLI and the server show these."""
        return capability_notes(self.store)

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
        ray: str | None = None,
        finalize: bool = True,
    ) -> IndexReport:
        """Index files and folders. Unchanged files are skipped; changed ones re-embedded.

        Each batch is committed as it completes, so an interrupted run keeps what it finished
        and the next run resumes. A file that cannot be decoded is reported, never fatal.

        ray: decode and embed on a Ray cluster (its address, or "auto"; the `ray` extra) instead
        of this process — see `xmodal.engine.distributed`. The files are listed and checked
        against the index here first, by the same rules.

        finalize: False leaves refreshing the search indices (and building the ANN index past
        its threshold) to a later `finalize()` call (local runs; a Ray run always finalizes).
        """
        if ray is not None:
            from .distributed import ray_add

            return ray_add(self, paths, ids, address=ray, prune=prune, progress=progress, meta=meta)
        return self.indexer.add(paths, ids, prune=prune, progress=progress, meta=meta, finalize=finalize)

    def add_texts(self, items: Iterable[tuple[str, str] | tuple[str, str, dict[str, Any]]], finalize: bool = True) -> IndexReport:
        """Index raw texts under the given ids (unchanged texts are skipped); finalize as in `add`."""
        return self.indexer.add_texts(items, finalize=finalize)

    def finalize(self, only_missing: bool = False) -> None:
        """Refresh the full-text and ANN indices after writes made with finalize=False;
        only_missing (after a run that wrote nothing): build only those missing."""
        self.indexer.finalize(only_missing)

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

    def check(self) -> "CheckReport":
        """Verify the index (rows vs manifest, duplicate ids and paths, vectors, files gone);
        changes nothing. See `xmodal.engine.check`."""
        from .check import check

        self._check_checkable()
        return check(self)

    def repair(self) -> "CheckReport":
        """Fix what `check` finds without losing an item; returns the check made afterwards."""
        from .check import repair

        self._check_checkable()
        return repair(self)

    def _check_checkable(self) -> None:
        if not hasattr(self.store, "iter_rows"):  # the checks read Lance rows by row id
            raise XModalError(f"{self.uri}: --check and --repair work on Lance indexes (a folder or s3://), "
                              f"not on the {self.location.store} store")

    def stats(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "path": self.uri,
            "items": self.store.count(),
            "by_modality": self.store.modality_counts(),
            "profile": m.get("fingerprint", {}).get("profile"),
            "dim": m.get("fingerprint", {}).get("dim"),
            "encoders": m.get("fingerprint", {}).get("encoders", {}),
            "binding": (m.get("binding") or {}).get("path"),
            "xmodal_version": m.get("xmodal_version"),
            "store": self.location.store,
            "notes": self.notes,
        }


def open(path: str | Path, profile: str | dict[str, Any] | None = None, **kwargs: Any) -> Index:  # noqa: A001
    """Open (or create) the index at `path`: a folder, `s3://bucket/prefix` or
    `milvus://host:port/collection`."""
    return Index(path, profile, **kwargs)

