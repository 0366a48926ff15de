"""The store interface: one table of items (vector + metadata + extracted text + segments).

The embedded default is LanceDB (`store/lance.py`); a distributed engine implements the same
methods. Records are plain dicts with the columns in `COLUMNS`; searches and counts take a
`Filter` (`store/filters.py`), which each store compiles to its own engine's language.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Iterator, Sequence

import numpy as np

if TYPE_CHECKING:
    from .filters import Filter
    from .lock import WriteLock

# what built an index (profile, encoder configs, binding), kept beside the data by every store;
# read before the store is opened, since the store's vector size comes from it
MANIFEST = "xmodal.json"

# column -> meaning; every store keeps all of them
COLUMNS = {
    "id": "item id (str, unique)",
    "path": "source file path, absolute ('' for items added as raw text)",
    "modality": "text | image | audio | video | document",
    "content_hash": "blake2b of the file bytes (or of the text)",
    "mtime": "file modification time (float seconds)",
    "size": "file size in bytes",
    "duration": "seconds, audio/video (null otherwise)",
    "pages": "page count, documents (null otherwise)",
    "text": "text extracted on the way: OCR, transcript, page text, the text itself",
    "segments": "JSON list of Segment dicts, row i describes tokens row i",
    "tokens": "float16 bytes of the (n, dim) token/segment features",
    "n_tokens": "rows in tokens",
    "meta": "JSON object of other metadata (tags, title, shots, user fields)",
    "vector": "(dim,) float32, L2-normalised, in the shared space",
}

# the columns a Filter may read, with the Python type of their values (duration and pages are null
# where they do not apply)
FILTERABLE: dict[str, type] = {
    "id": str,
    "path": str,
    "modality": str,
    "content_hash": str,
    "mtime": float,
    "size": int,
    "duration": float,
    "pages": int,
    "text": str,
}
assert FILTERABLE.keys() <= COLUMNS.keys()

# what `Store.iter_file_states` gives per file: the incremental checks read nothing else
FILE_STATE = ("path", "id", "content_hash", "mtime", "size")

# capability flags (`Store.capabilities`): what a store can do beyond the vector search, filters
# and item columns every store has. The engine reads them and says what it leaves out without one.
TEXT_SEARCH = "text_search"  # full-text (BM25) search over `text`: hybrid search
TOKEN_FEATURES = "token_features"  # `tokens`/`segments` kept: where a result matched, the attention reranker


class Store(ABC):
    """What every store implements. Filters arrive as `xmodal.store.filters.Filter` trees, never
    as engine text, so one search path serves every engine:

    * `compile_filter(filter)` turns a tree into the engine's own filter (a Lance SQL string, a
      Milvus boolean expression, ...); `store/lance.py:compile_filter` is the model. The nodes:
      Eq(column, value), In(column, values), Range(column, gt/ge/lt/le; `bounds()` lists the set
      ones), IsNull(column), Prefix(column, prefix) (literal), Like(column, pattern) (`%`, `_`,
      `\\` escapes), TextMatch(words) (each word a substring of `text`, any case), And(parts),
      Or(parts), Not(part), Raw(expr, dialect). Values are already checked against the column's
      type in `FILTERABLE` (whole numbers for integer columns). Each node must keep the meaning
      `filters.evaluate` gives it: SQL three-valued logic (a comparison with null excludes the
      row, also under Not), Like and Prefix case-sensitive. Quote every value embedded, take
      column names only from `FILTERABLE`, parenthesise every compound and wrap a Raw as one
      parenthesised term. A Raw whose `dialect` is not `filter_dialect` is an XModalError
      (`filters.check_dialect`); a node the engine cannot express is an XModalError naming it,
      never dropped (dropping widens the results), unless the store filters those rows itself.
    * `vector_search`, `text_search` and `count` take `filter=None` (everything) or a tree, and
      return only rows that pass it: the filter narrows the candidates before the top k are
      taken (a pre-filter), so k results come back whenever k rows pass.
    """

    dim: int
    uri: str  # where the index is (a folder, s3://..., milvus://...), for messages
    filter_dialect: ClassVar[str]  # the dialect of the Raw filters this store runs
    capabilities: ClassVar[frozenset[str]] = frozenset()  # TEXT_SEARCH, TOKEN_FEATURES

    # A store is opened as `cls(dim=..., **options)` with the options `store.location` resolves
    # from an index URI; `read_manifest_at(**options)` reads the manifest there without opening
    # (or creating) anything, since the vector size comes from it.

    @classmethod
    @abstractmethod
    def read_manifest_at(cls, **options: Any) -> dict[str, Any] | None:
        """The manifest of the index at this location, None where there is none yet."""

    @abstractmethod
    def upsert(self, records: Sequence[dict[str, Any]], replaces: Iterable[str] = ()) -> None:
        """Insert or replace records by id, atomically: a crash leaves all or none of them. Ids
        repeated within `records` are written once, the last record winning.
        replaces: ids deleted in the same commit (an item re-recorded under a new id)."""

    @abstractmethod
    def touch(self, item_id: str, mtime: float, size: int) -> None:
        """Record a file's new mtime/size when its content (hash) did not change."""

    @abstractmethod
    def delete(self, ids: Iterable[str]) -> int:
        """Remove items; returns how many were really removed (ids not in the store count 0)."""

    @abstractmethod
    def file_states(self, paths: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """path -> {id, content_hash, mtime, size} for every item that came from one of `paths`
        (or from any file: small indexes; a run's planning pages through `iter_file_states`)."""

    @abstractmethod
    def iter_file_states(self, batch: int = 10_000) -> Iterator[dict[str, dict[str, Any]]]:
        """Every item that came from a file, a page of at most `batch` at a time:
        {path: {id, content_hash, mtime, size}} (the `FILE_STATE` columns). A paged scan, so an
        index of millions of files is never held in memory at once."""

    @abstractmethod
    def get(self, ids: Sequence[str], with_tokens: bool = False) -> list[dict[str, Any]]:
        """Records for these ids (in the given order, missing ids skipped)."""

    @abstractmethod
    def compile_filter(self, filter: Filter) -> Any:
        """The engine's own filter for this tree (see the class docstring)."""

    @abstractmethod
    def vector_search(
        self, vector: np.ndarray, k: int, filter: Filter | None = None, with_tokens: bool = False
    ) -> list[dict[str, Any]]:
        """Nearest items that pass `filter`, by cosine similarity; each record gains `_score`
        (cosine, higher is better). with_tokens: also return `tokens` and `vector` (for locating
        segments and reranking)."""

    @abstractmethod
    def text_search(
        self, query: str, k: int, filter: Filter | None = None, with_tokens: bool = False
    ) -> list[dict[str, Any]]:
        """Full-text (BM25) search over `text` among items that pass `filter`; each record gains
        `_score`. with_tokens: also return `tokens` and `vector`, as vector_search does."""

    @abstractmethod
    def count(self, filter: Filter | None = None) -> int:
        """Items that pass `filter` (all items without one)."""

    @abstractmethod
    def modality_counts(self) -> dict[str, int]: ...

    @abstractmethod
    def finalize(self) -> None:
        """After a run of writes: make them durable and searchable — flush, refresh the full-text
        index, build the ANN index when large enough, load what the engine serves from."""

    def missing_indices(self) -> list[str]:
        """Search indices that `finalize` builds and this store lacks ("full_text", "ann"), e.g.
        after a writer was killed between its last commit and its finalize. [] for a store that
        keeps no such indices itself."""
        return []

    @abstractmethod
    def read_manifest(self) -> dict[str, Any] | None:
        """What built this index (profile, encoder configs, dim), or None for a new index."""

    @abstractmethod
    def write_manifest(self, manifest: dict[str, Any]) -> None: ...

    # -- concurrency (store/lock.py); a store shared between processes must override these
    OWN_FILES: tuple[str, ...] = ()  # names this store keeps in its folder beside the manifest

    def write_lock(self) -> "WriteLock":
        """The lock every writer of this index holds while it commits."""
        if getattr(self, "_thread_lock", None) is None:
            from .lock import ThreadLock

            self._thread_lock = ThreadLock()
        return self._thread_lock

    def refresh(self) -> None:
        """Move to the latest committed state before writing (no-op for a store that always is)."""

    def create_manifest(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Record `manifest` unless the index has one; returns the one it holds afterwards (a
        writer that created the index at the same moment may have won). Stores shared between
        machines make this atomic (a conditional put); callers hold `write_lock()`."""
        existing = self.read_manifest()
        if existing is not None:
            return existing
        self.write_manifest(manifest)
        return manifest


def pack_tokens(tokens: np.ndarray) -> bytes:
    return np.ascontiguousarray(tokens, dtype=np.float16).tobytes()


def unpack_tokens(blob: bytes | None, n: int, dim: int) -> np.ndarray:
    if not blob or n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(blob, dtype=np.float16).reshape(n, dim).astype(np.float32)
