"""Text decoding: plain text and Markdown as-is, HTML reduced to its visible text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from xmodal.errors import MediaError
from xmodal.types import Media, Modality

if TYPE_CHECKING:
    from xmodal.media import Limits

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# elements whose text a reader never sees
_INVISIBLE = ("script", "style", "noscript", "template", "head", "iframe", "object")


def decode_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding): BOM, then UTF-8, then charset detection, then latin-1 (never fails)."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(enc, errors="replace"), enc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:  # optional: installed with most Python stacks, but not a hard dependency
        from charset_normalizer import from_bytes

        matches = list(from_bytes(data))
    except ImportError:
        matches = []
    if matches:
        best = matches[0]
        # short Western text fits many single-byte code pages equally well, and the detector's
        # pick among equals is arbitrary (often cp1250: 'crème' -> 'crčme'); prefer cp1252,
        # by far the most common of them, whenever it is among the equally good candidates
        ties = [
            m for m in matches
            if m.percent_chaos <= best.percent_chaos and m.percent_coherence >= best.percent_coherence
        ]
        if any("cp1252" in m.could_be_from_charset for m in ties):
            try:
                return data.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                pass
        return str(best), best.encoding
    return data.decode("latin-1"), "latin-1"


def html_to_text(html: str) -> tuple[str, str]:
    """(visible text, title) of an HTML page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_INVISIBLE):
        tag.decompose()
    text = soup.get_text("\n")
    lines = (re.sub(r"[ \t\u00a0]+", " ", ln).strip() for ln in text.splitlines())
    body = "\n".join(ln for ln in lines if ln)
    if title and title not in body:
        body = f"{title}\n\n{body}" if body else title
    return body, title


def load(path: Path, fmt: str, limits: "Limits") -> Media:
    size = path.stat().st_size
    # UTF-8 spends at most 4 bytes per character: a file this big cannot be under the limit
    if size > 4 * limits.max_text_chars:
        raise MediaError(
            str(path),
            f"text file is {size / 1e6:.1f} MB, over the {limits.max_text_chars:,} character limit "
            "(Limits.max_text_chars)",
        )
    text, encoding = decode_bytes(path.read_bytes())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    meta = {"format": fmt, "encoding": encoding}
    if fmt == "html":
        text, title = html_to_text(text)
        meta["title"] = title
    if len(text) > limits.max_text_chars:
        raise MediaError(
            str(path),
            f"text is {len(text):,} characters, over the {limits.max_text_chars:,} limit "
            "(Limits.max_text_chars)",
        )
    if not text.strip():
        raise MediaError(str(path), "no text (the file holds only whitespace or markup)")
    return Media(modality=Modality.TEXT, path=str(path), text=text, meta=meta)
