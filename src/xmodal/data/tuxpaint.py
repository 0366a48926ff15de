"""Tux Paint stamps: each stamp X has X.txt (English caption + translations), X.png/X.svg,
and optionally X.ogg (the object's sound) and X_desc.ogg (the caption spoken in English)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# A translation line: "de.utf8=Eine Amsel." Older or hand-edited files also use "de=...",
# "de.UTF-8=..." or "sr@latin.utf8 = ..."; the language tag is kept without the charset suffix.
_TRANSLATION = re.compile(r"^\s*([A-Za-z]{2,3}(?:_[A-Za-z]{2})?(?:@[A-Za-z]+)?)(?:\.[A-Za-z0-9-]+)?\s*=(.*)$")
_IMAGE_EXTS = (".png", ".svg")  # PNG first: a raster the artist made; SVG when it is the only one


@dataclass
class Stamp:
    id: str  # path relative to the stamps folder, without extension: "animals/birds/blackbird"
    category: str  # top folder: "animals"
    image: Path
    caption: str  # English, from the first line of X.txt
    translations: dict[str, str] = field(default_factory=dict)  # {"de": "Eine Amsel.", ...}
    sound: Path | None = None  # X.ogg: the object's own sound
    spoken: Path | None = None  # X_desc.ogg: the caption read aloud in English
    spoken_translations: dict[str, Path] = field(default_factory=dict)  # X_desc_LL.ogg / .wav
    svg: Path | None = None  # the SVG version too, where a stamp has both

    @property
    def name(self) -> str:
        return self.id.rsplit("/", 1)[-1]


def _decode(data: bytes) -> str:
    # The files are UTF-8, but a stray Latin-1 file must not stop a whole data set.
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # unreachable: latin-1 decodes any bytes


def parse_caption_file(text: str | bytes) -> tuple[str, dict[str, str]]:
    """(English caption, {lang: translation}) from the contents of a stamp's X.txt.

    The caption is the first non-blank line that is not a translation line; translation lines
    are `LANG.utf8=text`. Blank translations are dropped; a repeated language keeps its first
    line. Returns ("", {...}) when a file has no English caption.
    """
    if isinstance(text, bytes):
        text = _decode(text)
    caption = ""
    translations: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        m = _TRANSLATION.match(line)
        if m:
            lang, value = m.group(1), m.group(2).strip()
            if value and lang not in translations:
                translations[lang] = value
        elif not caption and not translations:
            caption = line
    return caption, translations


def normalise_caption(caption: str) -> str:
    """Grouping key for captions: case-folded, punctuation and a leading article removed."""
    s = re.sub(r"[^\w\s]", " ", caption.casefold())
    s = re.sub(r"\s+", " ", s).strip()
    return re.sub(r"^(a|an|the|some) ", "", s)


def stamps_dir(root: Path) -> Path:
    """The stamps folder from an extraction root, or ROOT itself when it already is that folder."""
    from xmodal.data.sources import TUXPAINT_STAMPS

    root = Path(root)
    inner = root / TUXPAINT_STAMPS
    return inner if inner.is_dir() else root


def tuxpaint_stamps(root: Path) -> list[Stamp]:
    """All stamps with both a caption and an image, sorted by id.

    ROOT is the package's extraction root (or the stamps folder). Stamps whose X.txt has no
    image (Tux Paint cannot show them) and images without X.txt (the `_mirror` variants) are
    left out.
    """
    base = stamps_dir(root)
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: no Tux Paint stamps folder here")
    out: list[Stamp] = []
    for txt in sorted(base.rglob("*.txt")):
        stem = txt.with_suffix("")
        images = [stem.with_suffix(e) for e in _IMAGE_EXTS if stem.with_suffix(e).is_file()]
        if not images:
            continue
        caption, translations = parse_caption_file(txt.read_bytes())
        if not caption:
            continue
        rel = stem.relative_to(base).as_posix()
        spoken_tr: dict[str, Path] = {}
        for p in sorted(stem.parent.glob(f"{stem.name}_desc_*")):
            if p.suffix in (".ogg", ".wav"):
                lang = p.stem[len(stem.name) + len("_desc_"):]
                spoken_tr.setdefault(lang, p)
        sound = stem.with_suffix(".ogg")
        spoken = stem.parent / f"{stem.name}_desc.ogg"
        svg = stem.with_suffix(".svg")
        out.append(
            Stamp(
                id=rel,
                category=rel.split("/", 1)[0] if "/" in rel else "",
                image=images[0],
                caption=caption,
                translations=translations,
                sound=sound if sound.is_file() else None,
                spoken=spoken if spoken.is_file() else None,
                spoken_translations=spoken_tr,
                svg=svg if svg.is_file() else None,
            )
        )
    out.sort(key=lambda s: s.id)  # by id, not by file name: "frog" before "frog-1"
    return out
