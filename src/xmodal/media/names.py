"""File names that are not valid UTF-8 (a Latin-1 name copied from an old disk, bytes from a
zip): Python carries their bytes as lone surrogates, which no UTF-8 column, JSON string or
terminal accepts. The index stores the *displayable* form and maps it back to the real name."""

from __future__ import annotations

import os
import re
from pathlib import Path

_ESCAPED = re.compile(r"\\x([89a-f][0-9a-f])")  # what backslashreplace makes of bytes 0x80..0xff


def display_path(path: str | os.PathLike) -> str:
    """The path as a valid string: unchanged when it is valid UTF-8, else each byte that is
    not written as `\\xNN` (b'caf\\xe9.txt' → 'caf\\\\xe9.txt')."""
    s = os.fspath(path)
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def fs_path(stored: str) -> Path:
    """The file a stored (displayable) path names: its `\\xNN` escapes turned back into the
    bytes they stand for when such a file exists, else the path as written."""
    p = Path(stored)
    if "\\x" not in stored:
        return p
    raw = Path(_ESCAPED.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), stored))
    return raw if os.path.lexists(raw) or not os.path.lexists(p) else p
