"""Thumbnails: a small JPEG of an image, of a video's frame at a time, of a PDF's page.

Rendered by the same decoders and under the same limits as indexing (content sniffing, pixel
limits, safe SVG, PDF stream checks); a server runs `render` in a decode worker
(`DecodePool.thumbnail`), so a file that changed since it was indexed into something hostile
costs one request, never the server.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import TYPE_CHECKING

from xmodal.errors import MediaError
from xmodal.types import Modality

if TYPE_CHECKING:
    from PIL.Image import Image

    from xmodal.media import Limits

THUMBNAIL_MODALITIES = ("image", "video", "document")


def render(path: Path, modality: str, *, t: float | None, page: int | None, px: int, limits: "Limits") -> bytes:
    """A JPEG of at most `px` pixels on its longer side. `modality` is what the file was indexed
    as; a file whose content is now something else is refused."""
    from PIL import Image

    from xmodal.media import document, image, video
    from xmodal.media.loader import checked_size
    from xmodal.media.sniff import probe

    if modality not in THUMBNAIL_MODALITIES:
        raise MediaError(str(path), f"{modality} items have no thumbnail")
    checked_size(path, limits)
    found, fmt = probe(path)
    if found.value != modality:
        raise MediaError(str(path), f"the file now holds {found} content, not the {modality} it was indexed as")
    # decode no larger than needed (a 1024-px frame only to shrink it is wasted work and memory)
    small = dataclasses.replace(limits, image_max_side=max(px, 64), page_render_px=px)
    im: Image
    if found == Modality.IMAGE:
        im = image.load(path, fmt, small).images[0]
    elif found == Modality.VIDEO:
        im = video.frame_at(path, fmt, t or 0.0, small)
    else:
        im = document.render_page(path, page or 1, small)
    im = im.convert("RGB")
    im.thumbnail((px, px), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=82, optimize=True)
    return buf.getvalue()
