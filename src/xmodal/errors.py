"""Errors a user can act on. Every message names the file or the setting at fault."""

from __future__ import annotations


class XModalError(Exception):
    """Base class for xmodal's own errors."""


class MediaError(XModalError):
    """A file could not be decoded: corrupt, truncated, empty, unsupported, or over a limit."""

    def __init__(self, path: str | None, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)


class UnsupportedMedia(MediaError):
    """The file's content is of no kind xmodal indexes."""


class IndexMismatchError(XModalError):
    """An index was opened with encoders or settings other than the ones that built it."""


class ModelUnavailable(XModalError):
    """An encoder's weights or libraries are not installed here; the message says how to get them."""
