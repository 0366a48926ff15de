"""Thumbnails of stored items, made on first request and cached on disk.

Images go through xmodal's own decoder (content sniffing, pixel limits, safe SVG rendering), a
video gives the frame at a time (its matched span), a PDF the page asked for. The cache key holds
the item's content hash, so a changed file never shows a stale picture.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmodal.errors import MediaError
from xmodal.media import Limits, load

if TYPE_CHECKING:
    from PIL.Image import Image

THUMBNAIL_MODALITIES = ("image", "video", "document")


def video_frame(path: Path, t: float, max_side: int) -> "Image":
    """The first frame at or after `t` seconds (the key frame before it when `t` is past the end)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            stream = next(s for s in c.streams.video)
            tb = stream.time_base
            start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
            c.seek(int((max(t, 0.0) + start) / tb), stream=stream, backward=True, any_frame=False)
            last = None
            for frame in c.decode(stream):
                last = frame
                if frame.pts is None or float(frame.pts * tb) - start >= t - 1e-3:
                    break
            if last is None:
                raise MediaError(str(path), f"no video frame at {t:.1f} s")
            w, h = last.width, last.height
            s = min(1.0, max_side / max(w, h, 1))
            return last.to_image(width=max(2, int(w * s)), height=max(2, int(h * s)))
    except MediaError:
        raise
    except StopIteration:
        raise MediaError(str(path), "no video stream in the file") from None
    except Exception as exc:  # FFmpeg errors of many kinds
        raise MediaError(str(path), f"cannot decode a video frame: {type(exc).__name__}: {exc}") from None


def pdf_page(path: Path, page: int, max_side: int) -> "Image":
    """Page `page` (1-based) of a PDF rendered so its longer side is `max_side` pixels."""
    import pypdfium2 as pdfium

    # PDFium is not thread-safe, not even across documents: share the decoder's lock
    from xmodal.media.document import _PDFIUM

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            raise MediaError(str(path), f"corrupt or unreadable PDF: {exc}") from None
        try:
            if not 1 <= page <= len(pdf):
                raise MediaError(str(path), f"no page {page}: the PDF has {len(pdf)} pages")
            p = pdf[page - 1]
            try:
                w, h = p.get_size()
                return p.render(scale=max_side / max(w, h, 1.0)).to_pil().convert("RGB")
            finally:
                p.close()
        finally:
            pdf.close()


def render(path: Path, modality: str, *, t: float | None, page: int | None, px: int, limits: Limits) -> bytes:
    """A JPEG of at most `px` pixels on its longer side."""
    from PIL import Image

    if modality == "image":
        im = load(path, dataclasses.replace(limits, image_max_side=max(px, 64))).images[0]
    elif modality == "video":
        im = video_frame(path, t or 0.0, px)
    elif modality == "document":
        im = pdf_page(path, page or 1, px)
    else:
        raise MediaError(str(path), f"{modality} items have no thumbnail")
    im = im.convert("RGB")
    im.thumbnail((px, px), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=82, optimize=True)
    return buf.getvalue()


class ThumbnailCache:
    """`<folder>/<hash of id>-<content hash>-<variant>-<px>.jpg`, written atomically; one maker per file."""

    def __init__(self, folder: Path, px: int, limits: Limits):
        self.folder = folder
        self.px = px
        self.limits = limits
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
                data = render(Path(record["path"]), record["modality"], t=t, page=page, px=self.px, limits=self.limits)
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
