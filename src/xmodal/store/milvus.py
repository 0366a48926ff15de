"""Milvus as an index store: `--index milvus://host:port/collection` (the `milvus` extra).

Items, vectors and the filterable columns live in one collection (HNSW over cosine); the manifest
lives in a side collection `<collection>_xmodal`. Written for Milvus 2.3 (the server PyPI's
`milvus` package runs), whose limits shape it:

* no full-text (BM25) search and no bytes type: the store keeps neither a text index nor token
  features, and says so in `capabilities` (empty) — the engine then searches vectors only and
  refuses what needs token features, with a note; never silently.
* no nulls: `duration` and `pages` are stored as -1 where they do not apply, and the filter
  compiler keeps SQL's three-valued meaning (a comparison with a null excludes the row, also
  under NOT) by compiling each node to "rows where it is true" and "rows where it is false".
* LIKE matches only prefixes: `Prefix` compiles to a string range, which takes any prefix
  literally; another LIKE pattern and `text CONTAINS` are refused naming the node.
* VARCHAR holds at most 65,535 bytes: longer extracted text is cut (at a character boundary),
  and `meta` drops its largest keys, listing them under `_dropped`.
* `delete` replies count the ids sent, and carry no timestamp, so Session consistency does not
  cover them: deletes are counted before and confirmed after with Strong reads.

Consistency: Session by default (a client reads its own writes); `?consistency=Strong` in the URI
makes every read wait for every writer's writes.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..errors import XModalError
from .base import FILE_STATE, FILTERABLE, MANIFEST, Store
from .filters import And, Eq, Filter, In, IsNull, Like, Not, Or, Prefix, Range, Raw, TextMatch, check_dialect

log = logging.getLogger(__name__)


class _NoMvccWarning(logging.Filter):
    """Milvus 2.3 servers send no MVCC timestamp for query iterators; pymilvus then uses its own
    (Strong reads here make that moot) and warns on every scan."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_NoMvccWarning())

MAX_VARCHAR = 65_535  # bytes, Milvus's limit for one VARCHAR value
NULL = -1  # stored for a null duration/pages (both are never negative)
NULLABLE = ("duration", "pages")
MANIFEST_SUFFIX = "_xmodal"
CHUNK = 500  # ids per `id in [...]` expression
QUERY_LIMIT = 16_384  # Milvus's largest offset + limit for query and search
LOAD_TIMEOUT = 180.0  # seconds: a restarted 2.3 server takes ~25 s to load a collection again
CONSISTENCY = ("Strong", "Session", "Bounded", "Eventually")


# -- filters ---------------------------------------------------------------------------------------

def _literal(value: str | int | float) -> str:
    if isinstance(value, str):  # Milvus strings: backslash escapes, as JSON writes them
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _column(name: str) -> str:
    if name not in FILTERABLE:
        raise ValueError(f"not a filterable column: {name!r}")
    return name


def _successor(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix` (code-point order, which is
    UTF-8 byte order); None when there is none (a prefix of only U+10FFFF)."""
    chars = list(prefix)
    while chars:
        c = ord(chars.pop()) + 1
        if c == 0xD800:  # surrogates are not characters
            c = 0xE000
        if c <= 0x10FFFF:
            return "".join(chars) + chr(c)
    return None


# A compiled node is an expression string, or True/False where the node is constant (Milvus has
# no boolean literals: they are folded away, and a constant left at the top becomes `id in []`).
def _join(op: str, parts: list[Any]) -> Any:
    absorbing, neutral = (False, True) if op == "and" else (True, False)
    if absorbing in parts:
        return absorbing
    parts = [p for p in parts if p is not neutral]
    if not parts:
        return neutral
    return parts[0] if len(parts) == 1 else "(" + f" {op} ".join(parts) + ")"


def _present(column: str) -> str:
    return f"{column} >= 0"


def _compare(f: Filter) -> str:
    """The comparison of a leaf as if its column were never null."""
    match f:
        case Eq(column=c, value=v):
            return f"{_column(c)} == {_literal(v)}"
        case In(column=c, values=vs):
            return f"{_column(c)} in [{', '.join(_literal(v) for v in vs)}]"
        case Range(column=c):
            return " and ".join(f"{_column(c)} {op} {_literal(v)}" for op, v in f.bounds())
        case Prefix(column=c, prefix=p):
            nxt = _successor(p) if p else None
            upper = f" and {c} < {_literal(nxt)}" if nxt is not None else ""
            return f"{_column(c)} >= {_literal(p)}{upper}"
    raise TypeError(f"not a leaf: {f!r}")


def _leaf(f: Filter) -> Filter:
    """A Like that Milvus can run, as Eq or Prefix; anything else it cannot is refused."""
    if isinstance(f, Like):
        literal = re.fullmatch(r"((?:[^\\%_]|\\.)*)(%?)", f.pattern, re.S)
        if literal:
            text = re.sub(r"\\(.)", r"\1", literal.group(1), flags=re.S)
            return Prefix(f.column, text) if literal.group(2) else Eq(f.column, text)
        raise XModalError(f"the milvus store cannot filter with {f.where()}: Milvus 2.3 matches LIKE patterns "
                          "only as a prefix ('abc%') or a whole value; narrow the filter to a prefix")
    if isinstance(f, TextMatch):
        raise XModalError(f"the milvus store cannot filter with {f.where()}: Milvus 2.3 has no substring or "
                          "full-text match; use a Lance index (a folder or s3://) for text filters")
    return f


def _truth(f: Filter, want: bool) -> Any:
    """Rows where `f` is true (want=True), or false (want=False) — not unknown: a comparison
    with a null is neither, so NOT of it selects no null row either."""
    f = _leaf(f)
    match f:
        case IsNull(column=c):
            if _column(c) not in NULLABLE:  # never null: IsNull is constant false
                return not want
            return f"{c} < 0" if want else _present(c)
        case Eq() | In() | Range() | Prefix():
            cmp = _compare(f) if want else f"not ({_compare(f)})"
            return f"({_present(f.column)} and {cmp})" if f.column in NULLABLE else f"({cmp})"
        case And(parts=ps):
            return _join("and" if want else "or", [_truth(p, want) for p in ps])
        case Or(parts=ps):
            return _join("or" if want else "and", [_truth(p, want) for p in ps])
        case Not(part=p):
            return _truth(p, not want)
        case Raw(expr=e):
            return f"({e})" if want else f"(not ({e}))"
    raise TypeError(f"not a filter node: {f!r}")


def compile_filter(f: Filter) -> str:
    """A Filter as a Milvus 2.3 boolean expression ("" when it passes every row)."""
    expr = _truth(f, True)
    if expr is True:
        return ""
    return "id in []" if expr is False else expr


# -- records ---------------------------------------------------------------------------------------

def _cut(text: str, limit: int = MAX_VARCHAR) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def _fit_meta(meta: str) -> str:
    """`meta` within the VARCHAR limit: its largest keys dropped (and named) until it fits."""
    if len(meta.encode("utf-8")) <= MAX_VARCHAR:
        return meta
    obj = json.loads(meta) if meta else {}
    dropped: list[str] = []
    while obj:
        out = json.dumps({**obj, "_dropped": dropped}, default=str)
        if len(out.encode("utf-8")) <= MAX_VARCHAR:
            return out
        biggest = max(obj, key=lambda k: len(json.dumps(obj[k], default=str)))
        dropped.append(biggest)
        del obj[biggest]
    return _cut(json.dumps({"_dropped": dropped}))


class MilvusStore(Store):
    """One Milvus collection (see the module docstring). Opened with the options
    `store.location.resolve_index` gives a `milvus://` URI: uri (http://host:port), collection,
    token, consistency."""

    filter_dialect = "milvus"
    capabilities: frozenset[str] = frozenset()  # no BM25, no token features in Milvus 2.3

    _SCALARS = ("path", "modality", "content_hash", "mtime", "size", "duration", "pages", "text", "meta")

    def __init__(self, uri: str, collection: str, dim: int, token: str | None = None,
                 consistency: str = "Session", hnsw: dict[str, int] | None = None, ef: int = 64,
                 timeout: float = 60.0):
        if consistency not in CONSISTENCY:
            raise XModalError(f"milvus consistency {consistency!r}: choose from {', '.join(CONSISTENCY)}")
        self.client = _client(uri, token, timeout)
        self.collection = collection
        self.uri = f"milvus://{uri.split('://', 1)[-1]}/{collection}"
        self.dim = dim
        self.consistency = consistency
        self.ef = ef
        self.timeout = timeout
        if self.client.has_collection(collection):
            self._check_schema()
            self._load()
        else:
            self._create(hnsw or {"M": 16, "efConstruction": 200})

    # -- collection ------------------------------------------------------------------------------
    def _create(self, hnsw: dict[str, int]) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=1024)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        for name, kind in (("path", DataType.VARCHAR), ("modality", DataType.VARCHAR), ("content_hash", DataType.VARCHAR),
                           ("mtime", DataType.DOUBLE), ("size", DataType.INT64), ("duration", DataType.DOUBLE),
                           ("pages", DataType.INT64), ("text", DataType.VARCHAR), ("meta", DataType.VARCHAR)):
            schema.add_field(name, kind, **({"max_length": MAX_VARCHAR} if kind == DataType.VARCHAR else {}))
        index = self.client.prepare_index_params()
        index.add_index(field_name="vector", index_type="HNSW", metric_type="COSINE", params=dict(hnsw))
        self.client.create_collection(self.collection, schema=schema, index_params=index,
                                      consistency_level=self.consistency)  # created loaded

    def _check_schema(self) -> None:
        from ..errors import IndexMismatchError

        fields = {f["name"]: f for f in self.client.describe_collection(self.collection)["fields"]}
        missing = [c for c in ("id", "vector", *self._SCALARS) if c not in fields]
        if missing:
            raise XModalError(f"{self.uri}: collection was not written by xmodal (no field {', '.join(missing)})")
        stored = int(fields["vector"]["params"]["dim"])
        if stored != self.dim:
            raise IndexMismatchError(f"{self.uri}: index vectors have {stored} dimensions, encoder gives {self.dim}")

    def _load(self) -> None:
        state = str(self.client.get_load_state(self.collection).get("state"))
        if "Loaded" not in state:
            self.client.load_collection(self.collection, timeout=LOAD_TIMEOUT)

    def compile_filter(self, filter: Filter) -> str:
        check_dialect(filter, self.filter_dialect)
        return compile_filter(filter)

    # -- writes ----------------------------------------------------------------------------------
    def _row(self, r: dict[str, Any]) -> dict[str, Any]:
        vector = np.asarray(r["vector"], dtype=np.float32)
        if vector.shape != (self.dim,):
            raise XModalError(f"item {r['id']!r}: vector of shape {vector.shape}, the index holds {self.dim}-d vectors")
        return {
            "id": r["id"], "vector": vector.tolist(), "path": r.get("path") or "", "modality": r["modality"],
            "content_hash": r.get("content_hash") or "", "mtime": float(r.get("mtime") or 0.0),
            "size": int(r.get("size") or 0),
            "duration": NULL if r.get("duration") is None else float(r["duration"]),
            "pages": NULL if r.get("pages") is None else int(r["pages"]),
            "text": _cut(r.get("text") or ""), "meta": _fit_meta(r.get("meta") or "{}"),
        }

    def upsert(self, records: Sequence[dict[str, Any]], replaces: Iterable[str] = ()) -> None:
        """replaces: ids removed first (Milvus has no multi-request transaction: a crash between
        the two leaves the file absent until the next run re-adds it, never twice)."""
        last = {r["id"]: r for r in records}  # one row per id, the last record winning
        stale = [i for i in replaces if i not in last]
        if stale:
            self.delete(stale)
        if last:
            self.client.upsert(self.collection, [self._row(r) for r in last.values()])

    def touch(self, item_id: str, mtime: float, size: int) -> None:
        rows = self._query(f"id == {_literal(item_id)}", ["id", "vector", *self._SCALARS])
        if rows:  # Milvus 2.3 has no partial update: the whole row again
            self.client.upsert(self.collection, [{**rows[0], "mtime": float(mtime), "size": int(size)}])

    def delete(self, ids: Iterable[str]) -> int:
        ids = list(dict.fromkeys(ids))
        removed = 0
        for start in range(0, len(ids), CHUNK):
            expr = f"id in [{', '.join(_literal(i) for i in ids[start:start + CHUNK])}]"
            present = [r["id"] for r in self._query(expr, ["id"], strong=True)]
            if not present:
                continue
            self.client.delete(self.collection, ids=present)  # its delete_count is len(present) whatever happened
            left = self._query(expr, ["id"], strong=True)  # Strong: a delete is invisible to Session reads
            removed += len(present) - len(left)
        return removed

    def finalize(self) -> None:
        """Seal what was written (so restarts replay less), and keep the collection loaded; the
        HNSW index is built by Milvus on each sealed segment."""
        self.client.flush(self.collection, timeout=LOAD_TIMEOUT)
        self._load()

    # -- reads -----------------------------------------------------------------------------------
    def _level(self, strong: bool) -> str:
        return "Strong" if strong else self.consistency

    def _query(self, expr: str, fields: list[str], strong: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
        kw = {"limit": limit} if limit is not None else {}
        return self.client.query(self.collection, filter=expr, output_fields=fields,
                                 consistency_level=self._level(strong), **kw)

    def _record(self, row: dict[str, Any], with_tokens: bool) -> dict[str, Any]:
        out = {k: row.get(k) for k in ("id", *self._SCALARS)}
        for c in NULLABLE:
            if out[c] is not None and out[c] < 0:
                out[c] = None
        out.update(segments="[]", n_tokens=0)
        if with_tokens:
            out["tokens"] = None
            out["vector"] = np.asarray(row["vector"], dtype=np.float32)
        return out

    def get(self, ids: Sequence[str], with_tokens: bool = False) -> list[dict[str, Any]]:
        fields = ["id", *self._SCALARS] + (["vector"] if with_tokens else [])
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start:start + CHUNK]
            for row in self._query(f"id in [{', '.join(_literal(i) for i in chunk)}]", fields, limit=len(chunk)):
                found[row["id"]] = self._record(row, with_tokens)
        return [dict(found[i]) for i in ids if i in found]

    def vector_search(self, vector: np.ndarray, k: int, filter: Filter | None = None,
                      with_tokens: bool = False) -> list[dict[str, Any]]:
        k = min(k, QUERY_LIMIT)
        expr = self.compile_filter(filter) if filter is not None else ""
        fields = ["id", *self._SCALARS] + (["vector"] if with_tokens else [])
        hits = self.client.search(
            self.collection, data=[np.asarray(vector, dtype=np.float32).tolist()], limit=k, filter=expr,
            output_fields=fields, consistency_level=self.consistency,
            search_params={"metric_type": "COSINE", "params": {"ef": max(self.ef, k)}})[0]
        out = []
        for h in hits:
            r = self._record({"id": h["id"], **h["entity"]}, with_tokens)
            r["_score"] = float(h["distance"])  # COSINE: the similarity itself
            out.append(r)
        return out

    def text_search(self, query: str, k: int, filter: Filter | None = None, with_tokens: bool = False) -> list[dict[str, Any]]:
        raise XModalError(f"{self.uri}: Milvus 2.3 has no full-text search (the store's capabilities do not "
                          "list text_search); search vectors only")

    def count(self, filter: Filter | None = None) -> int:
        expr = self.compile_filter(filter) if filter is not None else ""
        rows = self._query(expr, ["count(*)"], strong=True)
        return int(rows[0]["count(*)"]) if rows else 0

    def modality_counts(self) -> dict[str, int]:
        from ..types import Modality

        counts = {m.value: self.count(Eq("modality", m.value)) for m in Modality}
        return {m: n for m, n in sorted(counts.items()) if n}

    def file_states(self, paths: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        if paths is None:
            return {p: st for page in self.iter_file_states() for p, st in page.items()}
        out: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(paths))
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start:start + CHUNK]
            rows = self._query(f"path in [{', '.join(_literal(p) for p in chunk)}]", list(FILE_STATE), strong=True,
                               limit=QUERY_LIMIT)
            out.update((r["path"], {k: r[k] for k in FILE_STATE if k != "path"}) for r in rows)
        return out

    def iter_file_states(self, batch: int = 10_000) -> Iterator[dict[str, dict[str, Any]]]:
        it = self.client.query_iterator(self.collection, batch_size=min(batch, QUERY_LIMIT), filter='path != ""',
                                        output_fields=list(FILE_STATE), consistency_level="Strong")
        try:
            while True:
                rows = it.next()
                if not rows:
                    return
                yield {r["path"]: {k: r[k] for k in FILE_STATE if k != "path"} for r in rows}
        finally:
            it.close()

    # -- manifest --------------------------------------------------------------------------------
    @classmethod
    def read_manifest_at(cls, uri: str, collection: str, token: str | None = None, timeout: float = 60.0,
                         **_: Any) -> dict[str, Any] | None:
        return _read_manifest(_client(uri, token, timeout), collection + MANIFEST_SUFFIX)

    def read_manifest(self) -> dict[str, Any] | None:
        return _read_manifest(self.client, self.collection + MANIFEST_SUFFIX)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """The manifest as rows of a side collection (a JSON string in parts that fit a VARCHAR),
        written in one upsert."""
        from pymilvus import DataType, MilvusClient

        side = self.collection + MANIFEST_SUFFIX
        if not self.client.has_collection(side):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
            schema.add_field("value", DataType.VARCHAR, max_length=MAX_VARCHAR)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)  # every 2.3 collection needs one
            index = self.client.prepare_index_params()
            index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
            self.client.create_collection(side, schema=schema, index_params=index, consistency_level="Strong")
        text = json.dumps(manifest, sort_keys=True)
        step = MAX_VARCHAR // 4  # characters: at most 4 UTF-8 bytes each
        parts = [text[i:i + step] for i in range(0, len(text), step)] or [""]
        rows = [{"key": f"{MANIFEST}.{i:04d}", "value": p, "vector": [0.0, 0.0]} for i, p in enumerate(parts)]
        stale = [r["key"] for r in self.client.query(side, filter=f'key like "{MANIFEST}.%"', output_fields=["key"],
                                                     consistency_level="Strong") if r["key"] not in {x["key"] for x in rows}]
        self.client.upsert(side, rows)
        if stale:
            self.client.delete(side, ids=stale)
        self.client.flush(side)


def _read_manifest(client: Any, side: str) -> dict[str, Any] | None:
    if not client.has_collection(side):
        return None
    state = str(client.get_load_state(side).get("state"))
    if "Loaded" not in state:
        client.load_collection(side, timeout=LOAD_TIMEOUT)
    rows = client.query(side, filter=f'key like "{MANIFEST}.%"', output_fields=["key", "value"], consistency_level="Strong")
    if not rows:
        return None
    return json.loads("".join(r["value"] for r in sorted(rows, key=lambda r: r["key"])))


_CLIENTS: dict[tuple[str, str | None], Any] = {}


def _client(uri: str, token: str | None, timeout: float) -> Any:
    """One MilvusClient per server and token in a process (each opens a gRPC channel)."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise XModalError("a milvus:// index needs the milvus extra: pip install 'xmodal[milvus]'") from None
    key = (uri, token)
    if key not in _CLIENTS:
        t0 = time.monotonic()
        try:
            _CLIENTS[key] = MilvusClient(uri=uri, token=token or "", timeout=timeout)
        except Exception as exc:
            raise XModalError(f"cannot reach Milvus at {uri}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
        log.debug("connected to Milvus at %s in %.2f s", uri, time.monotonic() - t0)
    return _CLIENTS[key]
