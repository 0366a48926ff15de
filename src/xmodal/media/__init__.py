"""Probe and decode files into `xmodal.types.Media`.

The kind of a file is decided from its content (magic bytes, SVG/XML and text sniffing), never
from its extension. Decoders live in submodules that import Pillow, PyAV, pypdfium2 etc. only
when a file of their kind is loaded, so importing this package stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xmodal.media.sniff import (  # stdlib only: cheap to import
    content_hash,
    iter_files,
    probe,
)
from xmodal.types import Modality

if TYPE_CHECKING:
    from xmodal.types import Media

__all__ = [
    "Limits",
    "SUPPORTED",
    "probe",
    "load",
    "load_bytes",
    "iter_files",
    "content_hash",
]

GiB = 1024**3


@dataclass
class Limits:
    """Bounds that keep one hostile or huge file from exhausting memory or time.

    A file over a limit raises MediaError naming the limit, so the user knows what to raise.
    """

    max_file_bytes: int = 2 * GiB
    max_pixels: int = 50_000_000  # checked from the header, before pixel data is decoded
    max_audio_seconds: float = 3 * 3600.0
    max_video_seconds: float = 3 * 3600.0
    max_pages: int = 2000
    max_text_chars: int = 5_000_000
    # characters of a text or document that are embedded: each 150 characters or so is one more
    # chunk through the text model, so a longer one fails before its minutes of embedding are
    # spent (checked by the engine after decoding; vectors of shorter texts are unaffected)
    max_embed_chars: int = 1_000_000
    video_fps: float = 1.0  # frames sampled per second of video
    max_frames: int = 32  # longer videos are sampled uniformly instead
    image_max_side: int = 1024  # decoded images/frames are downscaled to this longer side
    page_render_px: int = 512  # longer side of a rendered PDF page
    max_page_renders: int = 64  # only the first pages are rendered; all page texts are kept
    max_svg_bytes: int = 20_000_000  # an SVG's size after its entities are expanded, checked before expanding
    max_pdf_stream_bytes: int = 256 * 1024**2  # what one compressed PDF stream may inflate to, checked before PDFium parses it
    # per-file budgets, enforced where decoding runs in worker processes (`xmodal.media.pool`):
    # a worker past either is killed and replaced, and the file fails naming the budget
    max_decode_seconds: float = 10.0  # wall time for a small file ...
    decode_seconds_per_mib: float = 0.5  # ... plus this per MiB, so a 3-hour recording still fits
    max_decode_memory: int = GiB  # resident memory a worker may grow by while decoding one file

    def decode_seconds(self, size: int) -> float:
        """The time budget of decoding a file of `size` bytes."""
        return self.max_decode_seconds + self.decode_seconds_per_mib * size / 2**20


SUPPORTED: dict[Modality, tuple[str, ...]] = {
    Modality.IMAGE: ("png", "jpg", "jpeg", "webp", "gif", "svg", "bmp", "tiff"),
    Modality.AUDIO: ("wav", "ogg", "oga", "opus", "mp3", "flac", "m4a"),
    Modality.VIDEO: ("mp4", "m4v", "webm", "avi", "mov", "mkv"),
    Modality.TEXT: ("txt", "md", "markdown", "html", "htm"),
    Modality.DOCUMENT: ("pdf",),
}


def load(path: str | Path, limits: Limits | None = None) -> "Media":
    """Decode a file into Media (see `xmodal.types.Media`). Every failure is a MediaError."""
    from xmodal.media.loader import load as _load

    return _load(path, limits or Limits())


def load_bytes(data: bytes, suffix_hint: str | None = None, limits: Limits | None = None) -> "Media":
    """Decode in-memory bytes (e.g. an uploaded query). The suffix only names the temp file."""
    from xmodal.media.loader import load_bytes as _load_bytes

    return _load_bytes(data, suffix_hint, limits or Limits())
