"""PDF decoding with pypdfium2: text per page, and the first pages rendered as RGB images."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from xmodal.errors import MediaError
from xmodal.types import Media, Modality

if TYPE_CHECKING:
    from xmodal.media import Limits


# PDFium is not thread-safe, not even across documents, and pypdfium2 releases the GIL: the
# indexer decodes on worker threads, so every PDF passes through this lock (a segfault otherwise)
_PDFIUM = threading.Lock()


def load(path: Path, fmt: str, limits: "Limits") -> Media:
    with _PDFIUM:
        return _load(path, fmt, limits)


def _load(path: Path, fmt: str, limits: "Limits") -> Media:
    import pypdfium2 as pdfium

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
                    w, h = page.get_size()  # points (1/72 inch)
                    scale = limits.page_render_px / max(w, h, 1.0)
                    images.append(page.render(scale=scale).to_pil().convert("RGB"))
            finally:
                page.close()
        meta = {"format": fmt, "rendered_pages": len(images)}
        try:
            title = (pdf.get_metadata_dict().get("Title") or "").strip()
            if title:
                meta["title"] = title
        except Exception:  # metadata is a nicety; odd encodings must not fail the load
            pass
    except MediaError:
        raise
    except Exception as e:  # PdfiumError on a broken page tree, etc.
        raise MediaError(str(path), f"corrupt PDF: {type(e).__name__}: {e}") from None
    finally:
        pdf.close()
    return Media(
        modality=Modality.DOCUMENT,
        path=str(path),
        text="\n\n".join(t for t in texts if t),
        images=images,
        page_texts=texts,
        pages=n,
        meta=meta,
    )
