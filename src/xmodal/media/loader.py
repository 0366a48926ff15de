"""`load` and `load_bytes`: probe, check limits, dispatch to the decoder of the modality."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from xmodal.errors import MediaError
from xmodal.media.sniff import _stat_regular, probe
from xmodal.types import Media, Modality

if TYPE_CHECKING:
    from xmodal.media import Limits

_DECODERS = {
    Modality.IMAGE: "xmodal.media.image",
    Modality.AUDIO: "xmodal.media.audio",
    Modality.VIDEO: "xmodal.media.video",
    Modality.TEXT: "xmodal.media.text",
    Modality.DOCUMENT: "xmodal.media.document",
}


def checked_size(path: Path, limits: "Limits") -> int:
    """Size of a regular file within Limits.max_file_bytes (checked before anything reads it);
    MediaError otherwise."""
    size = _stat_regular(path)
    if size > limits.max_file_bytes:
        raise MediaError(
            str(path),
            f"file is {size / 2**30:.2f} GiB, over the {limits.max_file_bytes / 2**30:.2f} GiB limit "
            "(Limits.max_file_bytes)",
        )
    return size


def load(path: str | Path, limits: "Limits") -> Media:
    """Decode one file. Every failure, including a library's own exception, is a MediaError."""
    import importlib

    path = Path(path)
    size = checked_size(path, limits)
    modality, fmt = probe(path)
    decoder = importlib.import_module(_DECODERS[modality])
    try:
        media = decoder.load(path, fmt, limits)
    except MediaError:
        raise
    except MemoryError:
        raise MediaError(str(path), f"out of memory decoding this {fmt} {modality}") from None
    except Exception as e:  # a decoder let a library error through: still name the file
        raise MediaError(str(path), f"could not decode {fmt} {modality}: {type(e).__name__}: {e}") from None
    media.meta.setdefault("format", fmt)
    media.meta["bytes"] = size
    return media


def load_bytes(data: bytes, suffix_hint: str | None, limits: "Limits") -> Media:
    """Decode bytes via a temporary file. Errors name '<bytes>' rather than the temp path."""
    suffix = ""
    if suffix_hint:
        suffix = "." + suffix_hint.lower().lstrip(".")
        if not suffix[1:].isalnum():
            suffix = ""  # only used for the temp file's name: keep it harmless
    label = f"<bytes{suffix}>"
    if not data:
        raise MediaError(label, "empty file (0 bytes)")
    fd, tmp = tempfile.mkstemp(prefix="xmodal-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            media = load(tmp, limits)
        except MediaError as e:
            raise type(e)(label, e.reason) from None
    finally:
        os.unlink(tmp)
    media.path = None
    return media
