"""Settings shared by every stage: where caches live, and the named profiles of encoders."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """xmodal's cache (exported models, class-text embeddings, fetched data sets).

    $XMODAL_CACHE, else $XDG_CACHE_HOME/xmodal, else ~/.cache/xmodal. Created on demand.
    """
    root = os.environ.get("XMODAL_CACHE")
    if root:
        base = Path(root)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "xmodal"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
