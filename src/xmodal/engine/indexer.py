"""Ingestion: files and texts in → decoded (worker processes, `decode.DecodePool`) → embedded in
batches → one atomic store commit per batch. Incremental: unchanged files are skipped, changed
ones re-embedded, and a file that cannot be decoded is reported with its reason, never fatal to
the run — not even when its decoder crashes or overruns its budget.

Concurrency: every commit happens under the store's write lock, on the latest table version,
and replaces whatever item held the same path; so two runs (two processes, or two threads of a
server) that index the same files leave each file exactly once. Reads never take the lock.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import logging
import os
import stat
import time
from collections import deque
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

from xmodal.errors import MediaError, XModalError
from xmodal.media import Limits, iter_files
from xmodal.media.names import display_path, fs_path
from xmodal.media.pool import DecodeJob, DecodePool, Outcome
from xmodal.space import Space
from xmodal.store import Store, pack_tokens
from xmodal.store.lock import describe_os_error, doing
from xmodal.types import Embedding, Media, Modality

log = logging.getLogger(__name__)

MAX_STORED_TEXT = 200_000  # characters of extracted text kept per item
MAX_BATCH_BYTES = 256 * 2**20  # decoded media held for one batch: a batch of videos commits early


class Progress(Protocol):
    """What `Index.add` reports as it goes (the CLI draws a Rich progress bar from it)."""

    def start(self, total: int) -> None: ...

    def item(self, path: str, status: str, reason: str = "") -> None: ...


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    # found while walking folders but not indexed, with why: links out of the folder, dangling
    # links, loops, linked folders, FIFOs, sockets, devices
    ignored: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def summary(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("added", "updated", "skipped", "failed", "pruned", "ignored")}

    @property
    def wrote(self) -> bool:
        """Whether the run changed any item (so the search indices need a refresh)."""
        return bool(self.added or self.updated or self.pruned)


@functools.cache
def _malloc_trim() -> Any:
    try:  # glibc only; elsewhere (musl, macOS) there is nothing to call and nothing is done
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def return_free_memory() -> None:
    """Hand the pages glibc's malloc holds free back to the system, after a batch is committed.

    Each batch allocates and frees tens of MB across threads (ONNX Runtime, Lance's writers,
    Arrow, Python) and glibc keeps the freed pages in fragmented per-thread arenas: RSS crept up
    by ~10 MB a batch of texts that no object held, and `malloc_trim` (under 1 ms here) returns it
    (benchmarks/README.md, "Memory of a 100k ingest")."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def item_id_for(path: Path | str) -> str:
    # the bytes of the name: a name that is not UTF-8 still gets an id (and the same one as before
    # for every name that is)
    return hashlib.blake2b(os.fsencode(str(path)), digest_size=8).hexdigest()


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def embed_size_error(media: Media, limits: Limits) -> str | None:
    """Why a decoded text or document is too long to embed (Limits.max_embed_chars), or None.
    Embedding time grows with the length (one model run per chunk): a 5 M-character text took
    minutes, so it fails here, before any of them is spent, like a file over a decode limit."""
    n = len(media.text or "") if media.modality in (Modality.TEXT, Modality.DOCUMENT) else 0
    if n <= limits.max_embed_chars:
        return None
    return (f"{media.modality} of {n:,} characters is over the {limits.max_embed_chars:,}-character embedding limit "
            "(Limits.max_embed_chars); not embedded")


def media_bytes(media: Media) -> int:
    """Rough memory held by decoded media (pixels, samples, text)."""
    n = sum(im.width * im.height * len(im.getbands()) for im in media.images)
    if media.audio is not None:
        n += media.audio.nbytes
    return n + len(media.text)


@dataclass
class _Job:
    path: Path  # the real (resolved) file
    display: str  # the path as stored and reported
    item_id: str
    prev: dict[str, Any] | None
    stat: Any


@contextmanager
def writing(store: Store, what: str = "") -> Iterator[None]:
    """Hold the store's write lock on its latest version, saying `what` for (a writer that gives
    up waiting names it); OS errors (a full disk, a read-only index) become one-line
    XModalErrors. Committed batches stay committed."""
    where = getattr(store, "uri", None) or getattr(store, "path", "the index")
    try:
        with doing(what), store.write_lock():
            store.refresh()
            yield
    except XModalError:
        raise
    except OSError as exc:
        raise XModalError(f"{where}: cannot write the index: {describe_os_error(exc)}") from None
    except Exception as exc:  # Lance reports I/O failures as its own errors carrying the OS text
        if any(k in str(exc) for k in ("No space left", "Read-only file system", "Permission denied", "quota exceeded")):
            raise XModalError(f"{where}: cannot write the index: {describe_os_error(exc)}") from None
        raise


def decode_job(job: "_Job", space: Space) -> DecodeJob:
    """What the decode pool (or a distributed decode task) gets for a planned file."""
    prev_hash = job.prev["content_hash"] if job.prev and job.prev["id"] == job.item_id else None
    return DecodeJob(str(job.path), prev_hash=prev_hash, modalities=tuple(str(m) for m in space.spec),
                     profile=space.name, size=int(job.stat.st_size))


def embed_isolating_failures(space: Space, media: list[Media]) -> list[Embedding | MediaError]:
    """Embeddings of a batch; when the batch fails, each item alone, so a bad item fails alone."""
    try:
        return list(space.embed(media))
    except Exception as exc:
        if len(media) == 1:
            return [exc if isinstance(exc, MediaError) else MediaError(media[0].path, f"could not embed: {type(exc).__name__}: {exc}")]
    out: list[Embedding | MediaError] = []
    for m in media:  # find the one bad item instead of failing its whole batch
        try:
            out.append(space.embed([m])[0])
        except MediaError as exc:
            out.append(exc)
        except Exception as exc:
            out.append(MediaError(m.path, f"could not embed: {type(exc).__name__}: {exc}"))
    return out


def make_record(item_id: str, path: str, media: Media, emb: Embedding, digest: str, mtime: float, size: int,
                meta: dict[str, Any]) -> dict[str, Any]:
    """The stored record (`xmodal.store.COLUMNS`) of an embedded item."""
    text = emb.text or media.text
    return {
        "id": item_id,
        "path": path,
        "modality": media.modality.value,
        "content_hash": digest,
        "mtime": float(mtime),
        "size": int(size),
        "duration": media.duration,
        "pages": media.pages,
        "text": text[:MAX_STORED_TEXT],
        "segments": json.dumps([s.to_dict() for s in emb.segments]),
        "tokens": pack_tokens(emb.tokens),
        "n_tokens": int(len(emb.tokens)),
        "meta": json.dumps({**media.meta, **meta}, default=str),
        "vector": emb.vector,
    }


def commit_batch(store: Store, records: list[dict[str, Any]], touched: Sequence[tuple[str, float, int]] = (),
                 what: str = "committing") -> None:
    """One batch, one atomic commit, under the store's write lock on its latest version:
    `records` (embedded files), plus the new (mtime, size) of `touched` files whose content did
    not change. What the table holds for these paths *now* (another writer may have committed
    them since this run planned) decides what is replaced: the item a file had under another id
    goes in the same commit, so a path is never twice in the index and never missing."""
    records = list(records)
    with writing(store, what):
        current = store.file_states([r["path"] for r in records] + [t[0] for t in touched])
        mine = {r["path"]: r["id"] for r in records}
        replaces = [s["id"] for p, s in current.items() if p in mine and s["id"] != mine[p]]
        moved = {current[p]["id"]: (mtime, size) for p, mtime, size in touched if p in current}
        for row in store.get(list(moved), with_tokens=True):
            mtime, size = moved[row["id"]]
            records.append({**row, "mtime": float(mtime), "size": int(size)})
        store.upsert(records, replaces=replaces)


class Indexer:
    """Writes items of one space into one store."""

    def __init__(
        self,
        space: Space,
        store: Store,
        limits: Limits,
        batch_size: int = 32,
        decoder: DecodePool | None = None,
        exclude: Sequence[str | Path] = (),
    ):
        self.space = space
        self.store = store
        self.limits = limits
        self.batch_size = batch_size
        self.decoder = decoder or DecodePool(limits)
        self.exclude = list(exclude)  # folders never walked (the index's own)

    # ------------------------------------------------------------------ writes, under the lock
    def writing(self, what: str = "") -> Any:
        """`writing(self.store, what)`: the write lock, on the latest version."""
        return writing(self.store, what)

    def finalize(self, only_missing: bool = False) -> None:
        """After writes: refresh the full-text and ANN indices, and drop old table versions
        (only those no reader can still be on: see `LanceStore.cleanup_versions`).

        only_missing (after a run that wrote nothing): only when a writer killed between its
        last commit and its finalize left search indices missing. Where that cannot be written
        (a read-only index) searching still works without them, so it is a warning, not a failure."""
        missing = self.store.missing_indices() if only_missing else []
        if only_missing and not missing:
            return
        try:
            with self.writing("refreshing the search indices"):
                self.store.finalize()
        except (OSError, XModalError) as exc:
            if not only_missing:
                raise
            log.warning("the %s index is missing and could not be built: %s", " and ".join(missing), exc)

    def add(
        self,
        paths: Iterable[str | Path],
        ids: Sequence[str] | None = None,
        *,
        prune: bool = False,
        progress: Progress | None = None,
        meta: dict[str, Any] | None = None,
        force: bool = False,
        finalize: bool = True,
    ) -> IndexReport:
        """Index files and folders. Unchanged files are skipped; changed ones re-embedded.

        Each batch is committed as it completes, so an interrupted run keeps what it finished
        and the next run resumes. A file that cannot be decoded is reported, never fatal. A run
        with nothing to change writes nothing (so it also works on a read-only index).
        force: embed every file again, changed or not (a repair).
        finalize: False leaves `finalize()` (or, after a run that wrote nothing, the missing
        indices) to the caller: a server runs it outside its own write hold, so its searches go
        on while the ANN index builds.
        """
        t0 = time.perf_counter()
        jobs, report = self.plan(paths, ids, progress, force=force)
        wrote = False
        try:
            wrote = self._run_jobs(jobs, report, progress, meta or {})
        except KeyboardInterrupt:
            report.interrupted = True
            wrote = True  # some batches may have landed
        else:  # prune only after a clean run: every vanished file anywhere in the index goes
            if prune:
                wrote |= self.prune(report)
            if not wrote and finalize:
                self.finalize(only_missing=True)
        finally:
            if wrote and finalize:
                self.finalize()
            report.seconds = time.perf_counter() - t0
        return report

    def plan(
        self, paths: Iterable[str | Path], ids: Sequence[str] | None = None, progress: Progress | None = None,
        force: bool = False,
    ) -> tuple[list[_Job], IndexReport]:
        """The incremental rules, before anything is decoded: walk `paths`, look up what the
        index holds for each file, and skip one whose id, size and mtime are unchanged (unless
        `force`). Returns the files left to decode (a decode then skips one whose content hash is
        unchanged) and a report of what was skipped, failed or ignored so far. Local and
        distributed (`engine.distributed`) runs both start here."""
        report = IndexReport()
        paths = list(paths)

        def ignore(p: Path, reason: str) -> None:
            report.ignored.append((display_path(p), reason))

        if ids is not None:
            if len(ids) != len(paths):
                raise XModalError(f"got {len(ids)} ids for {len(paths)} paths")
            if len(set(ids)) != len(ids):
                raise XModalError("ids must be unique: one item per id")
            files = [Path(p) for p in paths]
            id_of = {Path(p).resolve(): i for p, i in zip(paths, ids)}
        else:
            files, id_of, seen = [], {}, set()
            for p in paths:
                try:  # overlapping arguments (a folder and a file inside it) index each file once
                    walked = iter_files([p], skipped=ignore, exclude=self.exclude)
                    files.extend(f for f in walked if not (f.resolve() in seen or seen.add(f.resolve())))
                except MediaError as exc:
                    report.failed.append((display_path(p), exc.reason))
        # a hint (each commit re-reads what it replaces), looked up a chunk of paths at a time
        states = self.states_of([display_path(f.resolve()) for f in files])
        jobs: list[_Job] = []
        if progress:
            progress.start(len(files))
        for f in files:
            key = f.resolve()
            try:
                st = key.stat()
                if not stat.S_ISREG(st.st_mode):
                    raise IsADirectoryError(21, "not a regular file (explicit ids name files, not folders)")
            except OSError as exc:
                report.failed.append((display_path(f), f"cannot read file: {exc.strerror or exc}"))
                if progress:
                    progress.item(display_path(f), "failed", exc.strerror or str(exc))
                continue
            shown = display_path(key)
            prev = states.get(shown)
            want = id_of.get(key) or (prev["id"] if prev else item_id_for(key))
            if prev and prev["id"] == want and prev["mtime"] == st.st_mtime and prev["size"] == st.st_size and not force:
                report.skipped.append(shown)
                if progress:
                    progress.item(shown, "skipped")
                continue
            jobs.append(_Job(key, shown, want, None if force else prev, st))
        return jobs, report

    def states_of(self, paths: Sequence[str], chunk: int = 1000) -> dict[str, dict[str, Any]]:
        """What the index holds for these paths (never the whole index in one dict)."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(paths), chunk):
            found.update(self.store.file_states(paths[start:start + chunk]))
        return found

    def prune(self, report: IndexReport) -> bool:
        """Remove items whose file is gone, or is no longer a regular file (a folder, a FIFO)."""
        gone = {p: s["id"] for page in self.store.iter_file_states() for p, s in page.items() if not _is_regular(fs_path(p))}
        if not gone:
            return False
        # re-check on the latest version: another run may have re-added some
        with self.writing(f"removing {len(gone)} items whose files are gone"):
            fresh = self.store.file_states(list(gone))
            ids = [s["id"] for p, s in fresh.items() if not _is_regular(fs_path(p))]
            self.store.delete(ids)
        report.pruned = [p for p, s in fresh.items() if s["id"] in set(ids)]
        return True

    def _run_jobs(self, jobs: list[_Job], report: IndexReport, progress: Progress | None, meta: dict[str, Any]) -> bool:
        batch: list[tuple[_Job, Media, str]] = []
        touched: list[_Job] = []
        held = 0
        wrote = False
        for job, outcome in self._decoded(jobs):
            error = outcome.error if outcome.media is None else embed_size_error(outcome.media, self.limits)
            if error is not None:
                report.failed.append((job.display, error))
                if progress:
                    progress.item(job.display, "failed", error)
                continue
            if outcome.unchanged:  # content unchanged, only the mtime moved: remember the new one
                touched.append(job)
                report.skipped.append(job.display)
                if progress:
                    progress.item(job.display, "skipped")
            else:
                assert outcome.media is not None and outcome.digest is not None
                batch.append((job, outcome.media, outcome.digest))
                held += media_bytes(outcome.media)
            if len(batch) + len(touched) >= self.batch_size or held >= MAX_BATCH_BYTES:
                wrote |= self._commit(batch, touched, report, progress, meta)
                batch, touched, held = [], [], 0
        wrote |= self._commit(batch, touched, report, progress, meta)
        return wrote

    def _decoded(self, jobs: list[_Job]) -> Iterator[tuple[_Job, Outcome]]:
        """Decode files in the worker pool, ahead of the encoder but bounded in memory: while the
        decoded items are small (photos), a whole batch ahead, so that the workers decode the next
        batch while this one is embedded (issue 14; benchmarks/README.md); a few only, once one is large
        (a recording, a video) or before any has been seen."""
        share = 2 * max(1, self.decoder.workers) * self.decoder.chunk
        few, full = min(self.batch_size, 8) + share, self.batch_size + share
        largest = None  # bytes of the largest decoded item so far
        pending: deque[tuple[_Job, Future]] = deque()
        it = iter(jobs)

        def top_up() -> None:
            window = few if largest is None else max(few, min(full, MAX_BATCH_BYTES // max(largest, 1)))
            while len(pending) < window and (job := next(it, None)) is not None:
                pending.append((job, self.decoder.submit(decode_job(job, self.space))))

        try:
            top_up()
            while pending:
                job, fut = pending.popleft()
                top_up()
                outcome = fut.result()
                if outcome.media is not None:
                    largest = max(largest or 0, media_bytes(outcome.media))
                yield job, outcome
        finally:  # on Ctrl-C, drop queued decodes instead of finishing them
            for _, fut in pending:
                fut.cancel()

    def _commit(
        self,
        batch: list[tuple[_Job, Media, str]],
        touched: list[_Job],
        report: IndexReport,
        progress: Progress | None,
        meta: dict[str, Any],
    ) -> bool:
        if not batch and not touched:
            return False
        embs: list[Embedding | MediaError] = []
        if batch:
            try:
                embs = embed_isolating_failures(self.space, [m for _, m, _ in batch])
            except Exception as exc:
                embs = [MediaError(str(batch[0][0].path), f"could not embed: {type(exc).__name__}: {exc}")]
        records, done = [], []
        for (job, media, digest), emb in zip(batch, embs):
            if isinstance(emb, MediaError):
                report.failed.append((job.display, emb.reason))
                if progress:
                    progress.item(job.display, "failed", emb.reason)
                continue
            media.path = job.display
            records.append(make_record(job.item_id, job.display, media, emb, digest, job.stat.st_mtime, job.stat.st_size, meta))
            done.append(job)
        if not records and not touched:
            return False
        commit_batch(self.store, records, [(j.display, j.stat.st_mtime, j.stat.st_size) for j in touched],
                     what=f"committing {len(records) + len(touched)} files")
        return_free_memory()
        for job in done:
            status = "updated" if job.prev else "added"
            getattr(report, status).append(job.display)
            if progress:
                progress.item(job.display, status)
        return True

    def add_texts(self, items: Iterable[tuple[str, str] | tuple[str, str, dict[str, Any]]], finalize: bool = True) -> IndexReport:
        """Index raw texts under the given ids (unchanged texts are skipped); finalize as in `add`."""
        t0 = time.perf_counter()
        report = IndexReport()
        items = [tuple(i) for i in items]
        if len({i[0] for i in items}) != len(items):
            raise XModalError("ids must be unique: one item per id")
        existing = {r["id"]: r["content_hash"] for r in self.store.get([i[0] for i in items])}
        for start in range(0, len(items), 256):
            chunk = items[start : start + 256]
            todo = []
            for item in chunk:
                digest = hashlib.blake2b(item[1].encode(), digest_size=16).hexdigest()
                error = embed_size_error(Media(Modality.TEXT, text=item[1]), self.limits)
                if existing.get(item[0]) == digest:
                    report.skipped.append(item[0])
                elif error is not None:
                    report.failed.append((item[0], error))
                else:
                    todo.append((item, digest))
            if not todo:
                continue
            media = [Media(Modality.TEXT, text=item[1]) for item, _ in todo]
            embs = self.space.embed(media)
            records = [
                make_record(item[0], "", m, e, digest, 0.0, len(item[1]), item[2] if len(item) > 2 else {})
                for (item, digest), m, e in zip(todo, media, embs)
            ]
            with self.writing(f"committing {len(records)} texts"):
                self.store.upsert(records)
            return_free_memory()
            for item, _ in todo:
                (report.updated if item[0] in existing else report.added).append(item[0])
        if finalize:
            self.finalize(only_missing=not report.wrote)
        report.seconds = time.perf_counter() - t0
        return report

    def delete(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        if not ids:
            return 0
        with self.writing(f"deleting {len(ids)} items"):
            n = self.store.delete(ids)
        if n:
            self.finalize()
        return n

