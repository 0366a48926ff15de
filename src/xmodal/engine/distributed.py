"""Distributed ingest on a Ray cluster: `xmodal index PATHS --index URI --ray ADDRESS|auto`,
`Index.add(paths, ray="auto")`. Needs the `ray` extra, and xmodal installed on every node.

    driver    Indexer.plan: list the files, check them against the index (the incremental rules
              of a local run, the same code), keep those to decode
    tasks     decode_batch: hash and decode files (Ray tasks, `read_cpus` each), each file in a
              crash-contained decode worker under its time and memory budget, as locally
    actors    Embedder: embed in batches; each actor builds the index's space once
              (ActorPoolStrategy, `embed_cpus` each: fractions, so reads run beside them)
    writes    IndexSink (a ray.data.Datasink): one store commit per write task of at least
              `batch_size` rows, into whichever store the index URI names
    driver    the report (added/updated/skipped/failed with reasons, as a local run), prune,
              Store.finalize (full-text and ANN index, flush, load)

Every committed batch stays committed when the job is interrupted or killed; the next run
skips those files (their size and mtime are in the index) and does the rest. A file that cannot
be decoded or embedded comes back in `report.failed` with its reason — also one whose decoder
crashed or overran its budget: each Ray worker process decodes through its own
`media.pool.DecodePool` (one worker subprocess, kept between tasks).

Rows travel between stages as Arrow tables: vectors as a FixedSizeList column (a 2-D numpy
column would become Ray's tensor extension type, which Lance refuses), decoded media pickled
into a binary column.
"""

from __future__ import annotations

import logging
import pickle
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from xmodal.errors import MediaError, XModalError
from xmodal.media import Limits

from .indexer import IndexReport, Progress, commit_batch, decode_job, embed_isolating_failures, make_record

if TYPE_CHECKING:
    import pyarrow as pa

    from xmodal.store import IndexLocation

    from . import Index

log = logging.getLogger(__name__)

# a row's stage outcome, in the `_status` column
DECODED, UNCHANGED, FAILED, EMBEDDED = "decoded", "unchanged", "failed", "embedded"


def ray_add(
    index: "Index",
    paths: Iterable[str | Path],
    ids: Sequence[str] | None = None,
    *,
    address: str = "auto",
    prune: bool = False,
    progress: Progress | None = None,
    meta: dict[str, Any] | None = None,
    actors: int = 2,
    embed_cpus: float = 0.75,
    read_cpus: float = 0.25,
    files_per_read: int = 16,
    ray_progress: bool = False,
) -> IndexReport:
    """`Index.add` on a Ray cluster (see the module docstring). address: a Ray address
    (`host:port`) or "auto" (the cluster this machine belongs to); ray_progress: let Ray Data
    draw its progress bars (the CLI does)."""
    ray = _import_ray()
    t0 = time.perf_counter()
    indexer = index.indexer
    index.store.refresh()  # plan against what every writer has committed
    jobs, report = indexer.plan(paths, ids, progress)
    started = False
    try:
        if jobs:
            if not ray.is_initialized():
                _init(ray, address)
                started = True
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = ray_progress
            logging.getLogger("ray.data").setLevel(logging.INFO if ray_progress else logging.WARNING)
            sink = IndexSink(index.location, index.space.dim, indexer.batch_size)
            blocks = _job_blocks(jobs, index.space, files_per_read)
            batches = -(-len(jobs) // indexer.batch_size)  # more actors than batches would idle
            dataset = (
                ray.data.from_arrow(blocks)
                .map_batches(decode_batch, fn_kwargs={"limits": index.limits},
                             batch_size=files_per_read, batch_format="pyarrow", num_cpus=read_cpus)
                .map_batches(Embedder, fn_constructor_kwargs={"manifest": index.manifest, "meta": meta or {}},
                             batch_size=indexer.batch_size, batch_format="pyarrow", num_cpus=embed_cpus,
                             compute=ray.data.ActorPoolStrategy(size=max(1, min(actors, batches))))
            )
            try:
                dataset.write_datasink(sink, ray_remote_args={"num_cpus": read_cpus})
            except KeyboardInterrupt:
                report.interrupted = True
            _merge(report, sink.outcomes, progress)
        if prune and not report.interrupted:
            indexer.prune(report)
        if not jobs and not report.pruned:
            indexer.finalize(only_missing=True)
    finally:
        if started:
            ray.shutdown()
        index.store.refresh()  # the workers' commits
        if jobs or report.pruned:
            indexer.finalize()  # under the write lock: indices, version clean-up
        report.seconds = time.perf_counter() - t0
    return report


def _job_blocks(jobs: list[Any], space: Any, size: int) -> list["pa.Table"]:
    """The planned files (their `DecodeJob`s and what the sink needs) as Arrow tables of `size`
    rows, one decode task each, with explicit types (a block of only nulls would otherwise get a
    null column)."""
    import pyarrow as pa

    schema = pa.schema([("path", pa.string()), ("display", pa.string()), ("item_id", pa.string()),
                        ("prev_hash", pa.string()), ("prev_id", pa.string()), ("modalities", pa.list_(pa.string())),
                        ("profile", pa.string()), ("mtime", pa.float64()), ("size", pa.int64())])
    rows = []
    for j in jobs:
        d = decode_job(j, space)  # the local run's decode request, field for field
        rows.append({"path": d.path, "display": j.display, "item_id": j.item_id, "prev_hash": d.prev_hash,
                     "prev_id": j.prev["id"] if j.prev else None, "modalities": list(d.modalities or ()),
                     "profile": d.profile, "mtime": float(j.stat.st_mtime), "size": int(j.stat.st_size)})
    return [pa.Table.from_pylist(rows[i:i + size], schema=schema) for i in range(0, len(rows), size)]


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise XModalError("distributed ingest needs the ray extra: pip install 'xmodal[ray]'") from None
    return ray


def _init(ray: Any, address: str) -> None:
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise XModalError(f"cannot join the Ray cluster at {address!r}: {str(exc).splitlines()[0][:300]}") from None


def _merge(report: IndexReport, outcomes: list[tuple[str, str, str]], progress: Progress | None) -> None:
    for path, status, reason in outcomes:
        if status == FAILED:
            report.failed.append((path, reason))
        else:
            getattr(report, status).append(path)
        if progress:
            progress.item(path, "failed" if status == FAILED else status, reason)


# -- the stages (run on the cluster's workers) -----------------------------------------------------

def _space(manifest: dict[str, Any]) -> Any:
    """The index's own space, rebuilt from its manifest (the binding it records, or none)."""
    from .manifest import space_for

    return space_for(manifest, None, None, where="the index")


_DECODED_SCHEMA = [("display", "string"), ("item_id", "string"), ("prev_id", "string"), ("mtime", "float64"),
                   ("size", "int64"), ("_status", "string"), ("_reason", "string"), ("digest", "string"),
                   ("media", "binary")]
_POOLS: dict[Any, Any] = {}  # DecodePool per Limits, kept in each Ray worker process between tasks


def decode_batch(batch: "pa.Table", limits: Limits) -> "pa.Table":
    """Ray task: hash and decode each file of the batch through a crash-contained decode worker
    (`media.pool`, the local run's decoding): `_status` decoded/unchanged/failed, `_reason`,
    `digest`, `media` (pickled)."""
    import pyarrow as pa

    from xmodal.media.pool import DecodeJob, DecodePool

    key = repr(limits)
    if key not in _POOLS:
        _POOLS[key] = DecodePool(limits, workers=1)
    rows = batch.to_pylist()
    futures = [_POOLS[key].submit(DecodeJob(r["path"], prev_hash=r["prev_hash"], modalities=tuple(r["modalities"]),
                                            profile=r["profile"], size=r["size"])) for r in rows]
    out = []
    for r, fut in zip(rows, futures):
        outcome = fut.result()
        rec = {k: r[k] for k in ("display", "item_id", "prev_id", "mtime", "size")}
        if outcome.error is not None:
            out.append({**rec, "_status": FAILED, "_reason": outcome.error})
        elif outcome.unchanged:
            out.append({**rec, "_status": UNCHANGED, "_reason": "", "digest": outcome.digest})
        else:
            media = outcome.media
            media.path = r["display"]
            out.append({**rec, "_status": DECODED, "_reason": "", "digest": outcome.digest,
                        "media": pickle.dumps(media, protocol=pickle.HIGHEST_PROTOCOL)})
    return pa.Table.from_pylist(out, schema=pa.schema([(n, getattr(pa, t)()) for n, t in _DECODED_SCHEMA]))


def _records_schema(dim: int) -> "pa.Schema":
    import pyarrow as pa

    return pa.schema([
        ("id", pa.string()), ("path", pa.string()), ("modality", pa.string()), ("content_hash", pa.string()),
        ("mtime", pa.float64()), ("size", pa.int64()), ("duration", pa.float64()), ("pages", pa.int32()),
        ("text", pa.string()), ("segments", pa.string()), ("tokens", pa.binary()), ("n_tokens", pa.int32()),
        ("meta", pa.string()), ("vector", pa.list_(pa.float32(), dim)),
        ("_status", pa.string()), ("_reason", pa.string()), ("_prev_id", pa.string()),
    ])


class Embedder:
    """Ray actor: builds the index's space once, then embeds batches of decoded files into
    store records (`indexer.make_record`); rows that failed or were unchanged pass through with
    their status."""

    def __init__(self, manifest: dict[str, Any], meta: dict[str, Any]):
        self.space = _space(manifest)
        self.meta = meta
        self.schema = _records_schema(self.space.dim)

    def __call__(self, batch: "pa.Table") -> "pa.Table":
        import numpy as np
        import pyarrow as pa

        rows = batch.to_pylist()
        todo = [i for i, r in enumerate(rows) if r["_status"] == DECODED]
        media = [pickle.loads(rows[i]["media"]) for i in todo]
        embs = embed_isolating_failures(self.space, media) if media else []
        out: list[dict[str, Any]] = []
        embedded = dict(zip(todo, zip(media, embs)))
        for i, r in enumerate(rows):
            base = {"id": r["item_id"], "path": r["display"], "mtime": r["mtime"], "size": r["size"],
                    "content_hash": r["digest"], "_status": r["_status"], "_reason": r["_reason"], "_prev_id": r["prev_id"]}
            if i not in embedded:
                out.append(base)
                continue
            m, emb = embedded[i]
            if isinstance(emb, MediaError):
                out.append({**base, "_status": FAILED, "_reason": emb.reason})
                continue
            rec = make_record(r["item_id"], r["display"], m, emb, r["digest"], r["mtime"], r["size"], self.meta)
            rec["vector"] = np.asarray(rec["vector"], np.float32)
            out.append({**base, **rec, "_status": EMBEDDED})
        return pa.Table.from_pylist(out, schema=self.schema)


def _ray_datasink_base() -> type:
    try:
        from ray.data import Datasink

        return Datasink
    except ImportError:  # this module imports without Ray; ray_add says what to install
        return object


class IndexSink(_ray_datasink_base()):  # type: ignore[misc]
    """Writes embedded rows into the index's store: each write task is one commit of at least
    `batch_size` rows (Ray bundles blocks up to it). It carries only the location and the vector
    size: each write task opens the store itself."""

    def __init__(self, location: "IndexLocation", dim: int, batch_size: int):
        self.location = location
        self.dim = dim
        self.batch_size = batch_size
        self.outcomes: list[tuple[str, str, str]] = []  # (path, added/updated/skipped/failed, reason)

    @property
    def min_rows_per_write(self) -> int:
        return self.batch_size

    def write(self, blocks: Iterable["pa.Table"], ctx: Any) -> list[tuple[str, str, str]]:
        import pyarrow as pa

        tables = [b for b in blocks if b.num_rows]
        if not tables:
            return []
        rows = pa.concat_tables(tables).to_pylist()
        store = self.location.open(dim=self.dim)  # opened per write: on the latest version
        outcomes: list[tuple[str, str, str]] = []
        records, touched = [], []
        for r in rows:
            status = r.pop("_status")
            reason = r.pop("_reason") or ""
            prev_id = r.pop("_prev_id")
            if status == FAILED:
                outcomes.append((r["path"], FAILED, reason))
            elif status == UNCHANGED:  # content unchanged, only the mtime moved: it rides along
                touched.append((r["path"], r["mtime"], r["size"]))
                outcomes.append((r["path"], "skipped", ""))
            else:
                records.append(r)
                outcomes.append((r["path"], "updated" if prev_id else "added", ""))
        if records or touched:
            commit_batch(store, records, touched)  # one atomic commit, under the index's write lock
        return outcomes

    def on_write_complete(self, write_result: Any) -> None:
        self.outcomes = [o for ret in write_result.write_returns for o in ret]
