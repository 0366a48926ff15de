"""PDF decoding with pypdfium2: text per page, and the first pages rendered as RGB images."""

from __future__ import annotations

import re
import threading
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from xmodal.errors import MediaError
from xmodal.types import Media, Modality

if TYPE_CHECKING:
    from PIL.Image import Image

    from xmodal.media import Limits


# PDFium is not thread-safe, not even across documents, and pypdfium2 releases the GIL: the
# indexer decodes on worker threads, so every PDF passes through this lock (a segfault otherwise)
_PDFIUM = threading.Lock()


_STREAM = re.compile(rb"(?<!end)stream\r?\n")


def check_streams(path: Path, limit: int) -> None:
    """Raise MediaError if a Flate stream of the PDF inflates past `limit` bytes.

    PDFium inflates a page's content streams whole before parsing them, so a 1 MB file whose
    stream inflates to 1 GiB costs gigabytes (and gets indexed). Each stream is inflated here
    in bounded steps, counted and thrown away, so this check itself stays at a few MB. Streams
    that are not zlib data (images in DCT, raw streams) fail at their first bytes and are skipped.
    """
    import mmap

    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        starts = [m.end() for m in _STREAM.finditer(mm)]  # offsets only: no match may pin the map
        data = memoryview(mm)
        try:
            for start in starts:
                _check_stream(path, data, start, limit)
        finally:
            data.release()


def _check_stream(path: Path, data: memoryview, start: int, limit: int, step: int = 1 << 20) -> None:
    d, out = zlib.decompressobj(), 0
    buf = data[start : start + 4096]  # a stream that is not zlib fails in its first bytes
    pos = start + len(buf)
    try:
        while buf:
            out += len(d.decompress(buf, step))
            if out > limit:
                raise MediaError(
                    str(path),
                    f"a compressed stream at byte {start} inflates past {limit / 2**20:.0f} MiB "
                    "(Limits.max_pdf_stream_bytes); not decoded",
                )
            if d.eof:
                return
            if d.unconsumed_tail:
                buf = d.unconsumed_tail
            else:
                buf = data[pos : pos + step]
                pos += len(buf)
    except zlib.error:
        return


def load(path: Path, fmt: str, limits: "Limits") -> Media:
    with _document(path, limits) as pdf:
        return _read(pdf, path, fmt, limits)


def render_page(path: Path, page: int, limits: "Limits") -> "Image":
    """Page `page` (1-based) rendered so its longer side is `limits.page_render_px` pixels, under
    the same checks as `load` (stream inflation, page count)."""
    with _document(path, limits) as pdf:
        if not 1 <= page <= len(pdf):
            raise MediaError(str(path), f"no page {page}: the PDF has {len(pdf)} pages")
        p = pdf[page - 1]
        try:
            return _render(p, limits.page_render_px)
        finally:
            p.close()


@contextmanager
def _document(path: Path, limits: "Limits") -> Iterator[Any]:
    """The open PdfDocument (1 to Limits.max_pages pages, no stream inflating past its limit),
    under the PDFium lock; a library error inside becomes a MediaError naming the file."""
    import pypdfium2 as pdfium

    check_streams(path, limits.max_pdf_stream_bytes)
    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as e:
            msg = str(e)
            if "password" in msg.lower():
                raise MediaError(str(path), "encrypted PDF (needs a password)") from None
            raise MediaError(str(path), f"corrupt or unreadable PDF: {msg}") from None
        try:
            n = len(pdf)
            if n == 0:
                raise MediaError(str(path), "PDF has no pages")
            if n > limits.max_pages:
                raise MediaError(
                    str(path), f"PDF has {n} pages, over the {limits.max_pages} page limit (Limits.max_pages)"
                )
            yield pdf
        except MediaError:
            raise
        except Exception as e:  # PdfiumError on a broken page tree, etc.
            raise MediaError(str(path), f"corrupt PDF: {type(e).__name__}: {e}") from None
        finally:
            pdf.close()


def _render(page: Any, px: int) -> "Image":
    """A page as RGB, `px` pixels on its longer side."""
    w, h = page.get_size()  # points (1/72 inch)
    return page.render(scale=px / max(w, h, 1.0)).to_pil().convert("RGB")


def _read(pdf: Any, path: Path, fmt: str, limits: "Limits") -> Media:
    n = len(pdf)
    texts: list[str] = []
    images = []
    for i in range(n):
        page = pdf[i]
        try:
            tp = page.get_textpage()
            try:
                texts.append(tp.get_text_bounded().replace("\r\n", "\n").replace("\r", "\n").strip())
            finally:
                tp.close()
            # rendering is the memory-heavy part: only the first pages get pictures
            if i < limits.max_page_renders:
                images.append(_render(page, limits.page_render_px))
        finally:
            page.close()
    meta = {"format": fmt, "rendered_pages": len(images)}
    try:
        title = (pdf.get_metadata_dict().get("Title") or "").strip()
        if title:
            meta["title"] = title
    except Exception:  # metadata is a nicety; odd encodings must not fail the load
        pass
    return Media(
        modality=Modality.DOCUMENT,
        path=str(path),
        text="\n\n".join(t for t in texts if t),
        images=images,
        page_texts=texts,
        pages=n,
        meta=meta,
    )
