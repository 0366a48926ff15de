"""Pinned Debian packages that carry real media with human-written text (see DATA.md).

Debian point releases change versions: when a download fails because a version is gone,
re-pin it here (``apt-cache policy PKG`` shows the current one). This is the only place pins live.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DebSource:
    package: str
    version: str
    license: str
    note: str = ""


DEBS: dict[str, DebSource] = {
    s.package: s
    for s in (
        DebSource("tuxpaint-stamps-default", "2022.06.04-1", "GPL-2",
                  "Tux Paint stamps: images, captions in ~59 languages, sounds, spoken captions"),
        DebSource("asterisk-core-sounds-en-wav", "1.6.1-1", "CC-BY-SA-3.0",
                  "Asterisk voice prompts, 8 kHz mono WAV"),
        DebSource("asterisk-core-sounds-en", "1.6.1-1", "CC-BY-SA-3.0",
                  "Asterisk prompt transcripts (core-sounds-en.txt.gz)"),
        DebSource("scratch", "1.4.0.6~dfsg1-6.1", "CC-BY-SA-3.0 (media)",
                  "Scratch 1.4 media: photo backgrounds, sprites, labelled sounds"),
        DebSource("openclipart-svg", "1:0.18+dfsg-19", "public domain",
                  "Openclipart SVG drawings with dc:title / keywords"),
    )
}

# Where the media sit inside each extracted package.
TUXPAINT_STAMPS = "usr/share/tuxpaint/stamps"
ASTERISK_SOUNDS = "usr/share/asterisk/sounds/en_US_f_Allison"
ASTERISK_TRANSCRIPTS = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"


def pin(package: str) -> str:
    """The pinned version of a known package."""
    try:
        return DEBS[package].version
    except KeyError:
        raise KeyError(f"{package}: not a pinned source; known: {', '.join(sorted(DEBS))}") from None
