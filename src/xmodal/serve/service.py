"""What the endpoints do, as plain blocking methods over one `Index` (the routes run them on
worker threads). Everything that leaves here is scrubbed of server paths: results carry ids,
file names and URLs relative to the server, never where a file lives."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator, Sequence
from urllib.parse import quote

from fastapi import HTTPException

from xmodal import __version__
from xmodal.engine import Index, IndexReport, item_id_for
from xmodal.errors import MediaError, ModelUnavailable, XModalError
from xmodal.media import probe
from xmodal.store.filters import Filter, parse_where
from xmodal.types import SearchResult

from .jobs import Job, Jobs
from .limits import ReadWriteLock, Warmup
from .settings import Settings
from .thumbnails import THUMBNAIL_MODALITIES, ThumbnailCache

WRITE_CHUNK = 8  # files indexed per hold of the write lock, so searches interleave with a long upload
MAX_ID_CHARS = 256
_ABS_PATH = re.compile(r"(?<![\w.~-])/(?:[^\s/:'\"<>]+/)+([^\s/:'\"<>]+)")

# (modality, format) → (Content-Type, served as an attachment); formats as xmodal.media.probe names them
MEDIA_TYPES: dict[tuple[str, str], tuple[str, bool]] = {
    ("image", "png"): ("image/png", False), ("image", "jpeg"): ("image/jpeg", False),
    ("image", "webp"): ("image/webp", False), ("image", "gif"): ("image/gif", False),
    ("image", "bmp"): ("image/bmp", False), ("image", "tiff"): ("image/tiff", False),
    ("image", "svg"): ("image/svg+xml", True),  # SVG can carry script: never rendered as a page
    ("audio", "wav"): ("audio/wav", False), ("audio", "ogg"): ("audio/ogg", False),
    ("audio", "mp3"): ("audio/mpeg", False), ("audio", "flac"): ("audio/flac", False),
    ("audio", "m4a"): ("audio/mp4", False), ("audio", "webm"): ("audio/webm", False),
    ("audio", "aac"): ("audio/aac", False),
    ("video", "mp4"): ("video/mp4", False), ("video", "m4v"): ("video/mp4", False),
    ("video", "webm"): ("video/webm", False), ("video", "mov"): ("video/quicktime", False),
    ("video", "mkv"): ("video/x-matroska", False), ("video", "avi"): ("video/x-msvideo", False),
    ("document", "pdf"): ("application/pdf", False),
    ("text", "txt"): ("text/plain", False), ("text", "md"): ("text/plain", False),
    ("text", "html"): ("text/html", True),  # HTML too: a download, sandboxed if opened
}
ATTACHMENT_TYPES = {"image/svg+xml", "text/html", "application/octet-stream"}


def check_where(where: str | None) -> Filter | None:
    """The parsed filter; it may not test the `path` column over HTTP (yes/no answers would spell
    out server paths)."""
    if not where:
        return None
    try:
        filt = parse_where(where)
    except XModalError as exc:
        raise HTTPException(400, str(exc)) from None
    if "path" in filt.columns():
        raise HTTPException(400, "where: the path column cannot be filtered on through the API (it holds server paths)")
    return filt


def valid_id(item_id: str) -> bool:
    """Ids reach the store only if short and printable (no NUL, no control characters)."""
    return 0 < len(item_id) <= MAX_ID_CHARS and item_id.isprintable()


def safe_name(name: str | None, default: str = "upload") -> str:
    """A client's file name reduced to a harmless base name (no folders, no dot files, no odd bytes)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")[:100]
    return base or default


def _suffix(name: str | None) -> str:
    ext = Path(safe_name(name)).suffix.lower()
    return ext if ext[1:].isalnum() and len(ext) <= 8 else ""


class Service:
    def __init__(self, index: Index, settings: Settings):
        self.index = index
        self.settings = settings
        if settings.work_dir is None:
            from xmodal.config import cache_dir

            key = hashlib.blake2b(str(index.path.resolve() if index.path else index.uri).encode(), digest_size=8).hexdigest()
            work = cache_dir("serve", key)
        else:
            work = Path(settings.work_dir)
        self.work_dir = work.resolve()
        self.tmp_dir = self.work_dir / "tmp"
        # files added through the API live with a local index; beside an index on S3 or Milvus
        # they stay on this server (other replicas cannot serve their media)
        self.uploads = ((index.path or self.work_dir) / "uploads").resolve()
        self.tmp_dir.mkdir(parents=True, exist_ok=True)  # uploads/ only once something is uploaded
        for stale in self.tmp_dir.iterdir():  # a killed server leaves its query files behind
            stale.unlink(missing_ok=True)
        self.thumbs = ThumbnailCache(self.work_dir / "thumbnails", settings.thumbnail_px, index.decoder)
        self.rw = ReadWriteLock()
        self.warm = Warmup()
        self.jobs = Jobs()
        self.started = time.time()
        # server folders named in messages: the index by a placeholder, the server's own by nothing
        roots = {(str(p), "") for p in (self.tmp_dir, self.uploads, self.work_dir)}
        if index.path is not None:
            roots.add((str(index.path.resolve()), "<index>"))
        self._roots = sorted(roots, key=lambda r: -len(r[0]))

    # -- scrubbing ------------------------------------------------------------------------
    def clean(self, message: str) -> str:
        """A message without server paths: known folders by name, any other absolute path by its base name."""
        for root, name in self._roots:
            message = message.replace(root + os.sep, name + "/" if name else "").replace(root, name)
        return _ABS_PATH.sub(r"\1", message)

    def scrub(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.clean(obj) if "/" in obj else obj
        if isinstance(obj, dict):
            return {k: self.scrub(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.scrub(v) for v in obj]
        return obj

    def fail(self, exc: Exception, upload_name: str | None = None) -> HTTPException:
        """The HTTP error for an engine exception, in the user's terms."""
        if isinstance(exc, MediaError):
            who = safe_name(upload_name) if upload_name else "file"
            return HTTPException(400, f"{who}: {self.clean(exc.reason)}")
        if isinstance(exc, ModelUnavailable):
            return HTTPException(503, self.clean(str(exc)))
        if isinstance(exc, (XModalError, ValueError)):
            return HTTPException(400, self.clean(str(exc)))
        if isinstance(exc, KeyError):  # an unknown reranker / backend name from a registry
            return HTTPException(400, self.clean(str(exc).strip("\"'")))
        raise exc

    # -- URLs and JSON --------------------------------------------------------------------
    @staticmethod
    def item_url(prefix: str, item_id: str, what: str = "") -> str:
        return f"{prefix}/v1/items/{quote(item_id, safe='')}" + (f"/{what}" if what else "")

    def thumbnail_url(self, prefix: str, item_id: str, modality: str, segment: dict[str, Any] | None) -> str | None:
        if modality not in THUMBNAIL_MODALITIES:
            return None
        url = self.item_url(prefix, item_id, "thumbnail")
        if segment and modality == "video" and segment.get("start") is not None:
            url += f"?t={float(segment['start']):.1f}"
        elif segment and modality == "document" and segment.get("page") is not None:
            url += f"?page={int(segment['page'])}"
        return url

    def result_json(self, r: SearchResult, prefix: str) -> dict[str, Any]:
        seg = r.segment.to_dict() if r.segment else None
        return {
            "id": r.id,
            "modality": str(r.modality),
            "score": r.score,
            "scores": r.scores,
            "name": Path(r.path).name if r.path else None,
            "text": r.text[: self.settings.result_text_chars],
            "segment": seg,
            "where": r.segment.describe() if r.segment else None,
            "meta": self.scrub(r.meta),
            "media_url": self.item_url(prefix, r.id, "media") if r.path else None,
            "thumbnail_url": self.thumbnail_url(prefix, r.id, str(r.modality), seg) if r.path else None,
        }

    def item_json(self, rec: dict[str, Any], prefix: str) -> dict[str, Any]:
        has_file = bool(rec.get("path"))
        return {
            "id": rec["id"],
            "modality": rec["modality"],
            "name": Path(rec["path"]).name if has_file else None,
            "text": rec.get("text") or "",
            "segments": self.scrub(rec.get("segments") or []),
            "meta": self.scrub(rec.get("meta") or {}),
            "size": rec.get("size"),
            "mtime": rec.get("mtime"),
            "duration": rec.get("duration"),
            "pages": rec.get("pages"),
            "content_hash": rec.get("content_hash"),
            "media_url": self.item_url(prefix, rec["id"], "media") if has_file else None,
            "thumbnail_url": self.thumbnail_url(prefix, rec["id"], rec["modality"], None) if has_file else None,
        }

    # -- reads ----------------------------------------------------------------------------
    @contextmanager
    def query_file(self, upload: IO[bytes] | None, name: str | None) -> Iterator[Path | None]:
        """The uploaded query as a file the decoders can open; removed whatever happens."""
        if upload is None:
            yield None
            return
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir, prefix="query-", suffix=_suffix(name))
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(upload, out, 1 << 20)
            yield Path(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _query_key(self, text: str | None, file: Path | None, rerank: str | None) -> tuple:
        """Which lazily loaded models a query touches: the first query of each kind runs alone."""
        key: list[str] = ["text"] if text and text.strip() else []
        if file is not None:
            try:
                key.append(str(probe(file)[0]))
            except MediaError:
                key.append("?")
        return tuple(key + ([f"rerank:{rerank}"] if rerank else []))

    def _page(self, results: list[SearchResult], offset: int, k: int, min_score: float | None, prefix: str) -> dict[str, Any]:
        page = results[offset : offset + k]
        more = len(results) == offset + k
        if min_score is not None:
            kept = [r for r in page if r.score >= min_score]
            more = more and len(kept) == len(page)  # scores fall down the list: a cut ends it
            page = kept
        return {"results": [self.result_json(r, prefix) for r in page], "next_offset": offset + k if more and page else None}

    def search(self, *, text: str | None, upload: IO[bytes] | None = None, upload_name: str | None = None,
               k: int = 10, offset: int = 0, modalities: Sequence[str] | None = None, where: str | None = None,
               min_score: float | None = None, rerank: str | None = None, hybrid: bool = True, prefix: str = "") -> dict[str, Any]:
        rerank = None if rerank in (None, "", "none") else rerank
        if not (text and text.strip()) and upload is None:
            raise HTTPException(400, "empty query: give q (text), a file, or both")
        where = check_where(where)
        t0 = time.perf_counter()
        with self.query_file(upload, upload_name) as file:
            try:
                with self.rw.read():
                    results = self.warm.run(self._query_key(text, file, rerank), lambda: self.index.search(
                        text, file, k=offset + k, modalities=modalities or None, where=where, hybrid=hybrid,
                        rerank=rerank, rerank_depth=max(50, offset + k)))
            except (XModalError, KeyError, ValueError) as exc:
                raise self.fail(exc, upload_name) from None
        return {**self._page(results, offset, k, min_score, prefix), "took_ms": round((time.perf_counter() - t0) * 1000, 2)}

    def similar(self, item_id: str, *, k: int = 10, offset: int = 0, modalities: Sequence[str] | None = None,
                where: str | None = None, min_score: float | None = None, prefix: str = "") -> dict[str, Any]:
        if self.record(item_id) is None:
            raise HTTPException(404, "no such item")
        where = check_where(where)
        t0 = time.perf_counter()
        try:
            with self.rw.read():
                results = self.index.similar(item_id, k=offset + k, modalities=modalities or None, where=where)
        except (XModalError, KeyError, ValueError) as exc:
            raise self.fail(exc) from None
        return {**self._page(results, offset, k, min_score, prefix), "took_ms": round((time.perf_counter() - t0) * 1000, 2)}

    def record(self, item_id: str) -> dict[str, Any] | None:
        if not valid_id(item_id):
            return None
        with self.rw.read():
            rows = self.index.get([item_id])
        return rows[0] if rows else None

    def item(self, item_id: str, prefix: str) -> dict[str, Any]:
        rec = self.record(item_id)
        if rec is None:
            raise HTTPException(404, "no such item")
        return self.item_json(rec, prefix)

    def media(self, item_id: str) -> tuple[Path, str, bool]:
        """(file, Content-Type, as attachment) of an item, found by id only; 404 unless it is a
        regular file that is exactly the indexed path (no symlink swapped in since)."""
        rec = self.record(item_id)
        if rec is None or not rec.get("path"):
            raise HTTPException(404, "no such item with a file (texts added as text have none)")
        path = Path(rec["path"])
        if not path.is_absolute() or os.path.realpath(path) != str(path) or not path.is_file():
            raise HTTPException(404, "the item's file is gone")
        fmt = (rec.get("meta") or {}).get("format", "")
        mime, attachment = MEDIA_TYPES.get((rec["modality"], fmt), ("application/octet-stream", True))
        return path, mime, attachment

    def thumbnail(self, item_id: str, t: float | None, page: int | None) -> Path:
        rec = self.record(item_id)
        if rec is None or not rec.get("path"):
            raise HTTPException(404, "no such item with a file")
        if rec["modality"] not in THUMBNAIL_MODALITIES:
            raise HTTPException(404, f"{rec['modality']} items have no thumbnail")
        try:
            return self.thumbs.get(rec, t, page)
        except MediaError as exc:
            raise HTTPException(422, f"{safe_name(Path(rec['path']).name)}: {self.clean(exc.reason)}") from None

    def ask(self, *, question: str | None, upload: IO[bytes] | None = None, upload_name: str | None = None,
            k: int = 10, modalities: Sequence[str] | None = None, rerank: str | None = None, refiner: str = "llm",
            mode: str = "auto", time_budget_s: float | None = None, augment: bool = False, prefix: str = "") -> dict[str, Any]:
        rerank = None if rerank in (None, "", "none") else rerank
        if not (question and question.strip()) and upload is None:
            raise HTTPException(400, "give a question, a file, or both")
        opts: dict[str, Any] = {}
        if refiner == "llm":
            s = self.settings
            budget = min(time_budget_s or s.ask_time_budget_s, s.ask_time_budget_s)
            opts = dict(backend=s.llm_backend, model=s.llm_model, mode=mode, time_budget_s=budget, augment=augment,
                        backend_options={"base_url": s.llm_base_url} if s.llm_base_url else {})
        with self.query_file(upload, upload_name) as file:
            try:
                with self.rw.read():
                    ans = self.warm.run(self._query_key(question, file, rerank), lambda: self.index.ask(
                        question, file=file, k=k, modalities=modalities or None, rerank=rerank, refiner=refiner, **opts))
            except (XModalError, KeyError, ValueError) as exc:
                raise self.fail(exc, upload_name) from None
        out = self.scrub(ans.model_dump(mode="json"))
        with self.rw.read():
            recs = {r["id"]: r for r in self.index.get([i["id"] for i in out["kept"] + out["dropped"]])}
        for it in out["kept"] + out["dropped"]:
            rec = recs.get(it["id"])
            it["path"] = Path(it["path"]).name if it["path"] else ""
            has_file = bool(rec and rec.get("path"))
            it["media_url"] = self.item_url(prefix, it["id"], "media") if has_file else None
            it["thumbnail_url"] = self.thumbnail_url(prefix, it["id"], it["modality"], None) if has_file else None
        return out

    def stats(self) -> dict[str, Any]:
        with self.rw.read():
            s = self.index.stats()
        # the index by its name only: a folder's, or the last part of an s3:// or milvus:// URI
        s["index"] = self.index.path.name if self.index.path is not None else self.index.uri.split("?")[0].rsplit("/", 1)[-1]
        s.pop("path", None)
        if s.get("binding"):
            s["binding"] = Path(s["binding"]).name
        return self.scrub(s)

    def warm_up(self) -> None:
        """Load the text encoder now, so the first text query costs what every other one does."""
        self.warm.run(("text",), lambda: self.index.embed_query("warm up"))

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "uptime_s": round(time.time() - self.started, 1),
                "auth": {"read": self.settings.read_key is not None, "write": self.settings.api_key is not None}}

    # -- writes (background jobs) ---------------------------------------------------------
    def store_upload(self, upload: IO[bytes], name: str | None) -> tuple[str, Path]:
        """Keep an uploaded file as an item's file: uploads/<content hash>/<safe name>, so the same
        bytes under the same name are the same item and an upload never overwrites another."""
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir, prefix="upload-")
        h = hashlib.blake2b(digest_size=12)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := upload.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
            dest = self.uploads / h.hexdigest() / safe_name(name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.exists():
                Path(tmp).unlink()
            else:
                os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return safe_name(name), dest

    def _forget_upload(self, path: Path) -> None:
        if path.parent.parent == self.uploads:
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()
            except OSError:
                pass

    def add_files(self, files: list[tuple[str, Path]]) -> Job:
        def work(job: Job) -> dict[str, Any]:
            job.total = len(files)
            counts = dict.fromkeys(("added", "updated", "skipped", "failed"), 0)
            t0 = time.perf_counter()
            for start in range(0, len(files), WRITE_CHUNK):
                chunk = files[start : start + WRITE_CHUNK]
                ids = [item_id_for(p) for _, p in chunk]
                with self.rw.write():
                    rep = self.index.add([p for _, p in chunk], ids, progress=job, finalize=False)
                self._finalize(rep)
                status = {**{p: "added" for p in rep.added}, **{p: "updated" for p in rep.updated},
                          **{p: "skipped" for p in rep.skipped}}
                reasons = dict(rep.failed)
                for (name, path), item_id in zip(chunk, ids):
                    st = status.get(str(path), "failed")
                    counts[st] += 1
                    entry = {"name": name, "id": item_id if st != "failed" else None, "status": st}
                    if st == "failed":
                        entry["reason"] = self.clean(reasons.get(str(path), "not indexed"))
                        self._forget_upload(path)
                    job.items.append(entry)
            return {**counts, "seconds": round(time.perf_counter() - t0, 3)}

        return self.jobs.submit("add", self._scrubbed(work), total=len(files))

    def add_texts(self, items: list[tuple[str, str, dict[str, Any]]]) -> Job:
        def work(job: Job) -> dict[str, Any]:
            with self.rw.write():
                rep = self.index.add_texts(items, finalize=False)
            self._finalize(rep)
            job.done = len(items)
            for item_id in rep.added + rep.updated + rep.skipped:
                st = "added" if item_id in rep.added else "updated" if item_id in rep.updated else "skipped"
                job.items.append({"name": None, "id": item_id, "status": st})
            return {**rep.summary(), "seconds": round(rep.seconds, 3)}

        return self.jobs.submit("add_texts", self._scrubbed(work), total=len(items))

    def _finalize(self, rep: IndexReport) -> None:
        """Refresh the search indices after a write (after a chunk that wrote nothing: build
        only those missing), outside the write hold: searches go on meanwhile (the ANN index,
        built once the index passes its threshold, takes minutes)."""
        self.index.finalize(only_missing=not rep.wrote)

    def delete(self, item_id: str) -> Job:
        if self.record(item_id) is None:
            raise HTTPException(404, "no such item")

        def work(job: Job) -> dict[str, Any]:
            with self.rw.write():
                rows = self.index.get([item_id])
                n = self.index.delete([item_id])
            for r in rows:
                if r.get("path"):
                    self._forget_upload(Path(r["path"]))
            job.done = 1
            job.items.append({"name": None, "id": item_id, "status": "deleted" if n else "missing"})
            return {"deleted": n}

        return self.jobs.submit("delete", self._scrubbed(work), total=1)

    def _scrubbed(self, work):
        def run(job: Job) -> dict[str, Any]:
            try:
                return work(job)
            except Exception as exc:
                raise RuntimeError(self.clean(f"{type(exc).__name__}: {exc}")) from None
        return run
