"""Ingestion: files and texts in → decoded (worker threads) → embedded in batches → one atomic
store commit per batch. Incremental: unchanged files are skipped, changed ones re-embedded, and
a file that cannot be decoded is reported with its reason, never fatal to the run."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

from xmodal.errors import MediaError, XModalError
from xmodal.media import Limits, content_hash, iter_files, load, probe
from xmodal.space import Space
from xmodal.store import Store, pack_tokens
from xmodal.types import Embedding, Media, Modality

log = logging.getLogger(__name__)

MAX_STORED_TEXT = 200_000  # characters of extracted text kept per item


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
    seconds: float = 0.0
    interrupted: bool = False

    def summary(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("added", "updated", "skipped", "failed", "pruned")}


def item_id_for(path: Path) -> str:
    return hashlib.blake2b(str(path).encode(), digest_size=8).hexdigest()


@dataclass
class _Job:
    path: Path
    item_id: str
    prev: dict[str, Any] | None
    stat: Any


class Indexer:
    """Writes items of one space into one store."""

    def __init__(self, space: Space, store: Store, limits: Limits, batch_size: int = 32):
        self.space = space
        self.store = store
        self.limits = limits
        self.batch_size = batch_size

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
        t0 = time.perf_counter()
        report = IndexReport()
        paths = list(paths)
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
                    files.extend(f for f in iter_files([p]) if not (f.resolve() in seen or seen.add(f.resolve())))
                except MediaError as exc:
                    report.failed.append((str(p), exc.reason))
        states = self.store.file_states()
        jobs: list[_Job] = []
        if progress:
            progress.start(len(files))
        for f in files:
            key = f.resolve()
            try:
                st = key.stat()
                if not key.is_file():
                    raise IsADirectoryError(21, "not a regular file (explicit ids name files, not folders)")
            except OSError as exc:
                report.failed.append((str(f), f"cannot read file: {exc.strerror or exc}"))
                if progress:
                    progress.item(str(f), "failed", exc.strerror or str(exc))
                continue
            prev = states.get(str(key))
            want = id_of.get(key) or (prev["id"] if prev else item_id_for(key))
            if prev and prev["id"] == want and prev["mtime"] == st.st_mtime and prev["size"] == st.st_size:
                report.skipped.append(str(f))
                if progress:
                    progress.item(str(f), "skipped")
                continue
            jobs.append(_Job(key, want, prev, st))
        try:
            self._run_jobs(jobs, report, progress, meta or {})
        except KeyboardInterrupt:
            report.interrupted = True
        else:  # prune only after a clean run: every vanished file anywhere in the index goes
            if prune:
                gone = {p: s["id"] for p, s in states.items() if not Path(p).exists()}
                self.store.delete(gone.values())
                report.pruned = list(gone)
        finally:
            self.store.finalize()
            report.seconds = time.perf_counter() - t0
        return report

    def _run_jobs(self, jobs: list[_Job], report: IndexReport, progress: Progress | None, meta: dict[str, Any]) -> None:
        batch: list[tuple[_Job, Media, str]] = []
        for job, outcome in self._decoded(jobs):
            if isinstance(outcome, MediaError):
                report.failed.append((str(job.path), outcome.reason))
                if progress:
                    progress.item(str(job.path), "failed", outcome.reason)
                continue
            media, digest = outcome
            if media is None:  # content unchanged, only the mtime moved: remember the new one
                self.store.touch(job.item_id, float(job.stat.st_mtime), int(job.stat.st_size))
                report.skipped.append(str(job.path))
                if progress:
                    progress.item(str(job.path), "skipped")
                continue
            batch.append((job, media, digest))
            if len(batch) >= self.batch_size:
                self._commit(batch, report, progress, meta)
                batch = []
        self._commit(batch, report, progress, meta)

    def _decoded(self, jobs: list[_Job]) -> Iterator[tuple[_Job, tuple[Media | None, str] | MediaError]]:
        """Decode files on worker threads, ahead of the encoder but bounded in memory."""

        def work(job: _Job) -> tuple[Media | None, str] | MediaError:
            try:
                digest = content_hash(job.path)
                if job.prev and job.prev["id"] == job.item_id and job.prev["content_hash"] == digest:
                    return None, digest
                modality, _ = probe(job.path)  # refuse what the profile cannot embed before decoding it
                if modality not in self.space.spec:
                    raise MediaError(str(job.path), f"profile {self.space.name!r} cannot embed {modality} items")
                media = load(job.path, self.limits)
                return media, digest
            except MediaError as exc:
                return exc
            except Exception as exc:  # a decoder bug must not stop the run
                return MediaError(str(job.path), f"could not decode: {type(exc).__name__}: {exc}")

        workers = 2
        window = self.batch_size + 2 * workers  # a batch can fill while the next files decode
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xmodal-decode")
        try:
            pending: deque[tuple[_Job, Future]] = deque()
            it = iter(jobs)
            for job in it:
                pending.append((job, pool.submit(work, job)))
                if len(pending) >= window:
                    break
            while pending:
                job, fut = pending.popleft()
                nxt = next(it, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(work, nxt)))
                yield job, fut.result()
        finally:  # on Ctrl-C, drop queued decodes instead of finishing them
            pool.shutdown(wait=False, cancel_futures=True)

    def _embed_isolating_failures(self, media: list[Media]) -> list[Embedding | MediaError]:
        try:
            return list(self.space.embed(media))
        except Exception:
            if len(media) == 1:
                raise
        out: list[Embedding | MediaError] = []
        for m in media:  # find the one bad item instead of failing its whole batch
            try:
                out.append(self.space.embed([m])[0])
            except MediaError as exc:
                out.append(exc)
            except Exception as exc:
                out.append(MediaError(m.path, f"could not embed: {type(exc).__name__}: {exc}"))
        return out

    def _commit(self, batch: list[tuple[_Job, Media, str]], report: IndexReport, progress: Progress | None, meta: dict[str, Any]) -> None:
        if not batch:
            return
        try:
            embs = self._embed_isolating_failures([m for _, m, _ in batch])
        except MediaError as exc:
            embs = [exc]
        except Exception as exc:
            embs = [MediaError(str(batch[0][0].path), f"could not embed: {type(exc).__name__}: {exc}")]
        records, done = [], []
        for (job, media, digest), emb in zip(batch, embs):
            if isinstance(emb, MediaError):
                report.failed.append((str(job.path), emb.reason))
                if progress:
                    progress.item(str(job.path), "failed", emb.reason)
                continue
            records.append(self._record(job.item_id, str(job.path), media, emb, digest, job.stat.st_mtime, job.stat.st_size, meta))
            done.append(job)
        # a file indexed before under another id (explicit ids changed) must not linger twice
        self.store.delete([j.prev["id"] for j in done if j.prev and j.prev["id"] != j.item_id])
        self.store.upsert(records)  # one atomic commit per batch
        for job in done:
            status = "updated" if job.prev else "added"
            getattr(report, status).append(str(job.path))
            if progress:
                progress.item(str(job.path), status)

    def _record(self, item_id: str, path: str, media: Media, emb: Embedding, digest: str, mtime: float, size: int, meta: dict[str, Any]) -> dict[str, Any]:
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

    def add_texts(self, items: Iterable[tuple[str, str] | tuple[str, str, dict[str, Any]]]) -> IndexReport:
        """Index raw texts under the given ids (unchanged texts are skipped)."""
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
                if existing.get(item[0]) == digest:
                    report.skipped.append(item[0])
                else:
                    todo.append((item, digest))
            if not todo:
                continue
            media = [Media(Modality.TEXT, text=item[1]) for item, _ in todo]
            embs = self.space.embed(media)
            records = [
                self._record(item[0], "", m, e, digest, 0.0, len(item[1]), item[2] if len(item) > 2 else {})
                for (item, digest), m, e in zip(todo, media, embs)
            ]
            self.store.upsert(records)
            for item, _ in todo:
                (report.updated if item[0] in existing else report.added).append(item[0])
        self.store.finalize()
        report.seconds = time.perf_counter() - t0
        return report

    def delete(self, ids: Iterable[str]) -> int:
        n = self.store.delete(ids)
        self.store.finalize()
        return n

