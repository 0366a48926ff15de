"""LanceDB, the embedded default store: one versioned table in a folder, no server.

Every write is one Lance commit, so a crash or Ctrl-C mid-run leaves the table at its last
committed version: what was stored stays stored, what was in flight is simply absent.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..blas_threads import one_blas_thread
from .base import FILE_STATE, FILTERABLE, MANIFEST, TEXT_SEARCH, TOKEN_FEATURES, Store
from .filters import And, Eq, Filter, In, IsNull, Like, Not, Or, Prefix, Range, Raw, TextMatch, check_dialect, escape_like
from .lock import DEFAULT_TIMEOUT_S, LOCK_FILE, FolderLock, WriteLock

log = logging.getLogger(__name__)

TABLE = "items"
READ_CONSISTENCY = timedelta(seconds=2)  # how stale a reader's view of the table may get
CREATE_ATTEMPTS = 8  # tries to open or create the table while other processes create it too
VERSIONS_KEPT_FOR = timedelta(minutes=10)  # old table versions younger than this are never removed


def _schema(dim: int):
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("path", pa.string()),
            pa.field("modality", pa.string()),
            pa.field("content_hash", pa.string()),
            pa.field("mtime", pa.float64()),
            pa.field("size", pa.int64()),
            pa.field("duration", pa.float64()),
            pa.field("pages", pa.int32()),
            pa.field("text", pa.string()),
            pa.field("segments", pa.string()),
            pa.field("tokens", pa.binary()),
            pa.field("n_tokens", pa.int32()),
            pa.field("meta", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dim)),
        ]
    )


def _vector_index(indices: Iterable[Any]) -> Any:
    """The index over the vector column among `indices` (Lance's list_indices()), or None."""
    return next((ix for ix in indices if "vector" in getattr(ix, "columns", [])), None)


@dataclass(frozen=True)
class AnnSettings:
    """The IVF-HNSW-SQ vector index: how it is built and how a query searches it.

    Build: `partitions` IVF partitions (each one HNSW graph; None = Lance's own choice), `m`
    graph neighbours and `ef_construction` candidates while building. Query: `nprobes`
    partitions visited, `ef` graph candidates, and `refine` × k candidates re-scored with the
    full-precision vectors (the graph holds 8-bit scalar-quantised copies). Chosen with
    benchmarks/bench_scale.py: recall@10 against exact search and p50/p95 (Lance's own default
    `ef` gave 0.92 at 100k; ef 64 gives 0.97 at 100k but 0.90 at 1M, ef 128 0.96 at 1M for the
    same 8.6 ms a query: results/speed-14.md).
    """

    m: int = 20
    ef_construction: int = 300
    partitions: int | None = None
    nprobes: int | None = None
    ef: int | None = 128
    refine: int | None = None

    def index_config(self, rows: int) -> Any:
        from lancedb.index import IvfHnswSq

        return IvfHnswSq(distance_type="cosine", num_partitions=self.partitions, m=self.m, ef_construction=self.ef_construction)

    def apply(self, query: Any, k: int) -> Any:
        if self.nprobes:
            query = query.nprobes(self.nprobes)
        if self.ef:
            query = query.ef(max(self.ef, k))
        if self.refine:
            query = query.refine_factor(self.refine)
        return query


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _literal(value: str | int | float) -> str:
    return _quote(value) if isinstance(value, str) else repr(value)  # ints stay ints: Lance refuses 5.0 for an int column


def _column(name: str) -> str:
    if name not in FILTERABLE:  # the nodes check this too; a compiler never trusts its input
        raise ValueError(f"not a filterable column: {name!r}")
    return name


def compile_filter(f: Filter) -> str:
    """A Filter as a Lance (DataFusion) SQL predicate. Every compound is parenthesised, strings
    are quoted ('' for '), LIKE patterns escaped with backslashes (Lance's only LIKE escape)."""
    match f:
        case Eq(column=c, value=v):
            return f"{_column(c)} = {_literal(v)}"
        case In(column=c, values=vs):
            return f"{_column(c)} IN ({', '.join(_literal(v) for v in vs)})"
        case Range(column=c):
            return "(" + " AND ".join(f"{_column(c)} {op} {_literal(v)}" for op, v in f.bounds()) + ")"
        case IsNull(column=c):
            return f"{_column(c)} IS NULL"
        case Prefix(column=c, prefix=p):
            return f"{_column(c)} LIKE {_quote(escape_like(p) + '%')}"
        case Like(column=c, pattern=p):
            return f"{_column(c)} LIKE {_quote(p)}"
        case TextMatch(words=ws):  # ILIKE, not the FTS index: exact substring semantics, nulls unknown
            return "(" + " AND ".join(f"text ILIKE {_quote('%' + escape_like(w) + '%')}" for w in ws) + ")"
        case And(parts=ps):
            return "(" + " AND ".join(compile_filter(p) for p in ps) + ")"
        case Or(parts=ps):
            return "(" + " OR ".join(compile_filter(p) for p in ps) + ")"
        case Not(part=p):
            return f"(NOT ({compile_filter(p)}))"
        case Raw(expr=e):
            return f"({e})"
    raise TypeError(f"not a filter node: {f!r}")


def _where(path: str | Path) -> tuple[str, Path | None]:
    """(the URI Lance opens, the local folder or None for object storage)."""
    text = os.fspath(path)
    if "://" in text and not text.startswith("file://"):
        return text.rstrip("/"), None
    local = Path(text[len("file://"):] if text.startswith("file://") else text)
    return str(local), local


class LanceStore(Store):
    """Items in `<dir>/items.lance`, what built them in `<dir>/xmodal.json`. `<dir>` is a local
    folder here; `S3LanceStore` (store/lance_s3.py) is the same table on object storage.

    ann_threshold: below this many rows search is exact (a scan is fast and exact at that size);
    at or above it an IVF_HNSW_SQ index is built, as measured in DESIGN.md.
    """

    filter_dialect = "lancedb"
    capabilities = frozenset({TEXT_SEARCH, TOKEN_FEATURES})

    def __init__(self, path: str | Path, dim: int, ann_threshold: int = 50_000,
                 lock_timeout: float | None = DEFAULT_TIMEOUT_S, storage_options: dict[str, str] | None = None,
                 ann: AnnSettings | dict[str, Any] | None = None):
        """lock_timeout: how long a writer waits for the index's write lock before it gives up
        naming the holder (`store/lock.py`; None: as long as it takes). storage_options: the
        object store's settings, for a Lance table that is not a local folder. ann: the vector
        index's build and query settings (`AnnSettings`)."""
        os.environ.setdefault("LANCE_LOG", "error")  # Lance's Rust side warns on every query otherwise
        from ._lancedb_import import import_lancedb

        lancedb = import_lancedb()

        warnings.filterwarnings("ignore", module="lancedb")
        self.uri, self.path = _where(path)
        self.storage_options = dict(storage_options or {})
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.ann_threshold = ann_threshold
        self.lock_timeout = lock_timeout
        self.ann = ann if isinstance(ann, AnnSettings) else AnnSettings(**(ann or {}))
        # readers move to what other processes committed within seconds (a server sees a CLI
        # run's items), and never read a version older than that: the version clean-up relies on it
        self._db = lancedb.connect(self.uri, storage_options=self.storage_options or None,
                                  read_consistency_interval=READ_CONSISTENCY)
        self._table = self._open_or_create_table()
        self._fts_rows = -1  # rows covered by the full-text index at last refresh
        self._lock: FolderLock | None = None
        self._flat: tuple[int, list[str], np.ndarray] | None = None  # (table version, ids, vectors)
        self._count: tuple[int, int] | None = None  # (table version, rows)
        self._fts: tuple[int, bool] | None = None  # (table version, has a full-text index)

    def _open_or_create_table(self) -> Any:
        """Open the table, or create it. Several processes (or threads) opening one new index at
        the same moment race on its first commit: Lance fails the losers with a commit conflict,
        or lists a table whose first version is not readable yet. Each loser tries again, and
        then finds the table the winner made."""
        attempt = 0
        while True:
            try:
                if TABLE in self._db.list_tables().tables:
                    table = self._db.open_table(TABLE)
                    self._table = table
                    self._check_schema()
                    return table
                return self._db.create_table(TABLE, schema=_schema(self.dim), exist_ok=True)
            except (RuntimeError, ValueError) as exc:
                racing = "conflict" in str(exc).lower() or "was not found" in str(exc)
                attempt += 1
                if not racing or attempt == CREATE_ATTEMPTS:
                    raise
                time.sleep(0.05 * attempt + random.random() * 0.05)

    def compile_filter(self, filter: Filter) -> str:
        check_dialect(filter, self.filter_dialect)
        return compile_filter(filter)

    def _check_schema(self) -> None:
        """A table another program wrote (or an older xmodal) is refused in one line, not met
        later as a traceback in the middle of a run."""
        from ..errors import IndexMismatchError, XModalError

        schema = self._table.schema
        missing = [c for c in _schema(self.dim).names if c not in schema.names]
        if missing:
            raise XModalError(
                f"{self.uri}: table {TABLE!r} was not written by xmodal (no column {', '.join(missing)}); "
                "index into a new folder"
            )
        stored_dim = getattr(schema.field("vector").type, "list_size", None)
        if stored_dim != self.dim:
            raise IndexMismatchError(f"{self.uri}: index vectors have {stored_dim} dimensions, encoder gives {self.dim}")

    # -- writes --------------------------------------------------------------------------
    def upsert(self, records: Sequence[dict[str, Any]], replaces: Iterable[str] = ()) -> None:
        """replaces: ids removed in the same commit (a file's item under its previous id), so a
        reader never sees the file twice or not at all."""
        replaces = [i for i in replaces if i not in {r["id"] for r in records}]
        if not records:
            self.delete(replaces)
            return
        import pyarrow as pa

        last = {r["id"]: r for r in records}  # merge_insert would insert duplicate source keys twice
        rows = [{**r, "vector": np.asarray(r["vector"], dtype=np.float32)} for r in last.values()]
        data = pa.Table.from_pylist(rows, schema=_schema(self.dim))
        merge = self._table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
        if replaces:
            merge = merge.when_not_matched_by_source_delete(f"id IN ({', '.join(_quote(i) for i in replaces)})")
        merge.execute(data)

    def touch(self, item_id: str, mtime: float, size: int) -> None:
        self._table.update(where=f"id = {_quote(item_id)}", values={"mtime": float(mtime), "size": int(size)})

    def delete(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        before = self._table.count_rows()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            self._table.delete(f"id IN ({', '.join(_quote(i) for i in chunk)})")
        return before - self._table.count_rows()

    def finalize(self) -> None:
        n = self._table.count_rows()
        if n == 0:
            return
        indices = {ix.name: ix for ix in self._table.list_indices()}
        # called after writes only (the indexer never calls it on a run that wrote nothing, so a
        # read-only index stays usable): fold new and changed rows into the indices, and drop the
        # table versions no reader can still be on (see cleanup_versions)
        if any("text" in getattr(ix, "columns", []) for ix in indices.values()):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._table.optimize(cleanup_older_than=VERSIONS_KEPT_FOR)
        else:
            with warnings.catch_warnings():  # the replacement API in 0.40 does not yet take FTS configs here
                warnings.simplefilter("ignore")
                self._table.create_fts_index("text", replace=True, with_position=False)
        self._fts_rows = n
        for column in ("id", "path"):  # fast `IN (...)` lookups: by id, and a commit's same-path check
            if not any(getattr(ix, "columns", []) == [column] for ix in indices.values()):
                with warnings.catch_warnings():  # the newer call is not stable yet in 0.40
                    warnings.simplefilter("ignore")
                    self._table.create_scalar_index(column, index_type="BTREE", replace=True)
        if n >= self.ann_threshold and _vector_index(indices.values()) is None:
            self.build_vector_index()

    # -- the ANN index -------------------------------------------------------------------
    def build_vector_index(self) -> None:
        """Build (or rebuild) the IVF-HNSW-SQ index over the vector column (see AnnSettings), in
        a child process (store/ann_build.py says why): this store's searches, on other threads,
        keep being answered from the last committed version meanwhile, and see the index once
        this returns."""
        from .ann_build import build_in_child

        rows = self._table.count_rows()
        log.info("building ANN index over %d items", rows)
        build_in_child(self.uri, self.storage_options, asdict(self.ann), rows)
        self._table.checkout_latest()

    def vector_index_stats(self) -> dict[str, Any] | None:
        """What the vector index is (type, partitions, rows covered), or None without one."""
        ix = _vector_index(self._table.list_indices())
        if ix is None:
            return None
        st = self._table.index_stats(ix.name)
        return {"name": ix.name, "type": str(st.index_type), "distance": st.distance_type, "parts": st.num_indices,
                "indexed_rows": st.num_indexed_rows, "unindexed_rows": st.num_unindexed_rows, "settings": asdict(self.ann)}

    # -- reads ---------------------------------------------------------------------------
    _LIGHT = ["id", "path", "modality", "content_hash", "mtime", "size", "duration", "pages", "text", "segments", "n_tokens", "meta"]

    def file_states(self, paths: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        where = "path != ''" if paths is None else f"path IN ({', '.join(_quote(p) for p in paths)})"
        if paths is not None and not paths:
            return {}
        rows = self._scan(["id", "path", "content_hash", "mtime", "size"], where)
        return {
            r["path"]: {"id": r["id"], "content_hash": r["content_hash"], "mtime": r["mtime"], "size": r["size"]}
            for r in rows
        }

    def iter_file_states(self, batch: int = 10_000) -> Iterator[dict[str, dict[str, Any]]]:
        # no count-derived limit: a count and a scan are two reads, and rows a writer commits
        # between them would be cut off (a plain scan without a limit reads one whole version)
        q = self._table.search().select(list(FILE_STATE)).where("path != ''")
        for rb in q.to_batches(batch):
            yield {r["path"]: {k: r[k] for k in FILE_STATE if k != "path"} for r in rb.to_pylist()}

    def _scan(self, columns: list[str], where: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        q = self._table.search().select(columns)
        if where:
            q = q.where(where)
        return (q if limit is None else q.limit(limit)).to_list()  # no limit: one whole version

    def _rows(self) -> int:
        """Row count, remembered per table version (a count is a round trip into Lance)."""
        version = self._table.version
        if self._count is None or self._count[0] != version:
            self._count = (version, self._table.count_rows())
        return self._count[1]

    def get(self, ids: Sequence[str], with_tokens: bool = False) -> list[dict[str, Any]]:
        if not ids:
            return []
        cols = self._LIGHT + (["tokens", "vector"] if with_tokens else [])
        filt = f"id IN ({', '.join(_quote(i) for i in ids)})"
        rows = {r["id"]: r for r in self._scan(cols, filt, limit=len(set(ids)))}  # ids are unique in the table
        return [rows[i] for i in ids if i in rows]

    def vector_search(
        self, vector: np.ndarray, k: int, filter: Filter | None = None, with_tokens: bool = False
    ) -> list[dict[str, Any]]:
        # a filtered search goes to Lance's prefilter, exact below the ANN threshold (no index yet):
        # at 10k items it is as fast as masking the in-memory matrix, since fetching the top rows
        # costs a Lance query either way (benchmarks/bench_filters.py)
        if filter is None and self._rows() < self.ann_threshold:
            return self._flat_search(np.asarray(vector, dtype=np.float32), k, with_tokens)
        q = self._table.search(np.asarray(vector, dtype=np.float32), vector_column_name="vector").metric("cosine")
        q = self.ann.apply(q, k)
        if filter is not None:
            q = q.where(self.compile_filter(filter), prefilter=True)
        cols = self._LIGHT + (["tokens", "vector"] if with_tokens else [])
        rows = q.select(cols + ["_distance"]).limit(k).to_list()
        for r in rows:
            r["_score"] = 1.0 - float(r.pop("_distance"))
        return rows

    def _flat_search(self, vector: np.ndarray, k: int, with_tokens: bool) -> list[dict[str, Any]]:
        """Exact search over an in-memory copy of the vectors, refreshed when the table's version
        moves: below the ANN threshold one matrix product beats a Lance scan by ~10 ms a query."""
        ids, matrix = self.vectors()
        if not len(ids):
            return []
        with one_blas_thread():
            scores = matrix @ vector
        top = np.argpartition(-scores, min(k, len(ids)) - 1)[:k] if k < len(ids) else np.arange(len(ids))
        top = top[np.argsort(-scores[top])]
        rows = self.get([ids[i] for i in top], with_tokens=with_tokens)
        by_id = {r["id"]: r for r in rows}
        out = []
        for i in top:
            r = by_id.get(ids[i])
            if r is not None:
                r["_score"] = float(scores[i])
                out.append(r)
        return out

    def vectors(self) -> tuple[list[str], np.ndarray]:
        """(ids, (n, dim) matrix) of every item, cached per table version."""
        version = self._table.version
        if self._flat is None or self._flat[0] != version:
            tbl = self._table.search().select(["id", "vector"]).to_arrow()
            if tbl.num_rows == 0:
                self._flat = (version, [], np.zeros((0, self.dim), np.float32))
            else:
                matrix = tbl.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, self.dim)
                self._flat = (version, tbl.column("id").to_pylist(), np.ascontiguousarray(matrix, dtype=np.float32))
        return self._flat[1], self._flat[2]

    def text_search(
        self, query: str, k: int, filter: Filter | None = None, with_tokens: bool = False
    ) -> list[dict[str, Any]]:
        if not query.strip() or not self._has_fts():
            return []
        q = self._table.search(query, query_type="fts")
        if filter is not None:
            q = q.where(self.compile_filter(filter), prefilter=True)
        cols = self._LIGHT + (["tokens", "vector"] if with_tokens else [])
        try:
            rows = q.select(cols + ["_score"]).limit(k).to_list()
        except Exception as exc:  # a query the FTS parser rejects is no reason to fail the search
            log.debug("full-text search skipped: %s", exc)
            return []
        for r in rows:
            r["_score"] = float(r.pop("_score", 0.0))
        return rows

    def missing_indices(self) -> list[str]:
        n = self._table.count_rows()
        if n == 0:
            return []
        missing = [] if self._has_fts() else ["full_text"]
        if n >= self.ann_threshold and _vector_index(self._table.list_indices()) is None:
            missing.append("ann")
        return missing

    def _has_fts(self) -> bool:
        """Whether a full-text index exists, remembered per table version."""
        version = self._table.version
        if self._fts is None or self._fts[0] != version:
            self._fts = (version, any("text" in getattr(ix, "columns", []) for ix in self._table.list_indices()))
        return self._fts[1]

    def count(self, filter: Filter | None = None) -> int:
        return self._table.count_rows(self.compile_filter(filter)) if filter is not None else self._table.count_rows()

    def modality_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self._scan(["modality"]):
            counts[r["modality"]] = counts.get(r["modality"], 0) + 1
        return dict(sorted(counts.items()))

    # -- concurrency and upkeep (see store/lock.py) -------------------------------------------
    MANIFEST_TMP = Path(MANIFEST).with_suffix(".tmp").name  # written, then renamed onto the manifest
    OWN_FILES = (f"{TABLE}.lance", LOCK_FILE, MANIFEST_TMP)  # what this store puts in its folder beside the manifest

    def write_lock(self) -> WriteLock:
        if self._lock is None:
            self._lock = FolderLock(self.path, timeout=self.lock_timeout)
        return self._lock

    def refresh(self) -> None:
        """Move to the latest committed version (a writer does, under the lock, before it writes)."""
        self._table.checkout_latest()

    def cleanup_versions(self, older_than: timedelta = VERSIONS_KEPT_FOR) -> int:
        """Compact, and remove table versions (and the files only they use) older than
        `older_than`; the latest version is always kept. Safe for running readers as long as
        `older_than` is well over READ_CONSISTENCY plus the longest query: no reader of this
        store is on a version that old. Returns how many versions were removed."""
        before = self.version_count()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._table.optimize(cleanup_older_than=older_than)
        self._fts_rows = self._table.count_rows()  # optimize folded new rows into the indices
        return max(0, before - self.version_count())

    def version_count(self) -> int:
        return len(self._table.list_versions())

    def iter_rows(self, columns: Sequence[str], batch: int = 10_000) -> Iterator[list[dict[str, Any]]]:
        """Every row's `columns` (plus `_rowid`), a batch of dicts at a time (for checks)."""
        if self._table.count_rows() == 0:
            return
        for rb in self._table.search().with_row_id(True).select(list(columns)).to_batches(batch):
            yield rb.to_pylist()

    def delete_rows(self, row_ids: Sequence[int]) -> int:
        """Remove rows by their Lance row id in one commit: the one way to drop one of two rows
        that share an id (a repair)."""
        if not row_ids:
            return 0
        before = self._table.count_rows()
        self._table.delete(f"_rowid IN ({', '.join(str(int(r)) for r in row_ids)})")
        return before - self._table.count_rows()

    # -- manifest ------------------------------------------------------------------------
    @classmethod
    def read_manifest_at(cls, path: str | Path, **_: Any) -> dict[str, Any] | None:
        f = Path(path) / MANIFEST
        return json.loads(f.read_text()) if f.exists() else None

    def read_manifest(self) -> dict[str, Any] | None:
        return self.read_manifest_at(self.path)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        f, tmp = self.path / MANIFEST, self.path / self.MANIFEST_TMP
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.replace(tmp, f)  # atomic: a reader sees the old or the new manifest, never half
