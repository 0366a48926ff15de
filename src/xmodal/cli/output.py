"""Terminal-safe output of what users and strangers supplied (paths, indexed text, reasons).

Indexed text and file names are data, never markup or terminal commands: a text holding
`[/url]` must not crash a table (Rich MarkupError), `[red]` must not recolour it, `:smile:`
must not become an emoji, and an escape sequence in a file name must not reach the terminal
(it could retitle the window, move the cursor or hide text). `plain` makes a string printable as
it is; `text` wraps it in a Rich Text that no markup, emoji or highlighter interprets.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

# C0 and C1 controls (ESC, BEL, CR, backspace...), DEL, bidirectional overrides and isolates
# (text that displays reversed), zero-width joiners used to hide text, and lone surrogates
# (bytes of a non-UTF-8 file name)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
# the same, but newlines and tabs pass: prose written for the reader (an LLM's answer)
_UNSAFE_IN_PROSE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")


def _escape(ch: str) -> str:
    o = ord(ch)
    if 0xDC80 <= o <= 0xDCFF:  # a byte of a non-UTF-8 file name, as the index stores it too
        return f"\\x{o - 0xDC00:02x}"
    return f"\\x{o:02x}" if o <= 0xFF else f"\\u{o:04x}"


def plain(value: Any, prose: bool = False) -> str:
    """str(value) with every unsafe character shown as its escape (`\\x1b`, `\\u202e`); with
    `prose`, line breaks and tabs are kept."""
    return (_UNSAFE_IN_PROSE if prose else _UNSAFE).sub(lambda m: _escape(m.group(0)), str(value))


def text(value: Any, style: str = "") -> Text:
    """A Rich Text of `plain(value)`: printed verbatim (no markup, emoji or highlighting)."""
    return Text(plain(value), style=style)


def line(*parts: Any) -> Text:
    """A line from parts: (string, style) pairs are ours and styled; anything else is data."""
    out = Text()
    for part in parts:
        if isinstance(part, tuple):
            out.append(part[0], style=part[1])
        else:
            out.append(plain(part))
    return out
