"""Real media from registry packages: fetching, parsing, the demo sample and evaluation sets.

Nothing here downloads from a hub or URL: the media come from pinned Debian packages fetched
with apt (see sources.py). Heavy libraries (PyAV, Pillow, cairosvg, fpdf2) load only when used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_demo", "build_set", "fetch_deb", "list_sets", "load_set", "validate_set",
           "tuxpaint_stamps", "asterisk_prompts", "make_stamp_clip"]

_LAZY = {
    "build_demo": "xmodal.data.demo",
    "build_set": "xmodal.data.sets",
    "list_sets": "xmodal.data.sets",
    "load_set": "xmodal.data.beir",
    "validate_set": "xmodal.data.beir",
    "fetch_deb": "xmodal.data.debian",
    "tuxpaint_stamps": "xmodal.data.tuxpaint",
    "asterisk_prompts": "xmodal.data.asterisk",
    "make_stamp_clip": "xmodal.data.video",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xmodal.data' has no attribute {name!r}")
