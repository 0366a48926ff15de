"""Thumbnails of stored items, made on first request and cached on disk.

They are rendered in the index's decode workers (`DecodePool.thumbnail`, `xmodal.media.thumbnail`)
under the per-file time and memory budgets: a file that changed since it was indexed into
something that crashes, hangs or balloons a decoder costs that one request (422), never the
server. The cache key holds the item's content hash, so a changed file never shows a stale picture.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from xmodal.media.pool import DecodePool
from xmodal.media.thumbnail import THUMBNAIL_MODALITIES

__all__ = ["THUMBNAIL_MODALITIES", "ThumbnailCache"]


class ThumbnailCache:
    """`<folder>/<hash of id>-<content hash>-<variant>-<px>.jpg`, written atomically; one maker per file."""

    def __init__(self, folder: Path, px: int, decoder: DecodePool):
        self.folder = folder
        self.px = px
        self.decoder = decoder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def variant(self, record: dict[str, Any], t: float | None, page: int | None) -> tuple[float | None, int | None, str]:
        """Clamp and round what was asked so the cache stays small: 0.1 s steps, real pages."""
        if record["modality"] == "video":
            dur = record.get("duration") or 0.0
            t = round(min(max(t if t is not None else min(1.0, dur / 2), 0.0), max(dur - 0.05, 0.0)), 1)
            return t, None, f"t{t:.1f}"
        if record["modality"] == "document":
            page = min(max(page or 1, 1), record.get("pages") or 1)
            return None, page, f"p{page}"
        return None, None, "i"

    def get(self, record: dict[str, Any], t: float | None = None, page: int | None = None) -> Path:
        t, page, variant = self.variant(record, t, page)
        # ids may hold any character: the file is named by a hash of the id, never the id itself
        key = hashlib.blake2b(record["id"].encode(), digest_size=10).hexdigest()
        name = f"{key}-{(record.get('content_hash') or 'x')[:16]}-{variant}-{self.px}.jpg"
        out = self.folder / name
        if out.exists():
            return out
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if not out.exists():
                data = self.decoder.thumbnail(record["path"], record["modality"], t=t, page=page, px=self.px)
                fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".part")
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                    os.replace(tmp, out)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
        with self._guard:
            self._locks.pop(name, None)
        return out
