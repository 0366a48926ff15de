"""xmodal — multimodal retrieval: text, images, audio, video and documents in one vector space."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .engine import Index


def open(path: Any, profile: Any = None, **kwargs: Any) -> "Index":  # noqa: A001 - mirrors lancedb.connect / io.open naming
    """Open (or create) an index folder. See `xmodal.engine.Index`."""
    from .engine import open as _open

    return _open(path, profile, **kwargs)


__all__ = ["__version__", "open"]
