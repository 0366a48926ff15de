"""Battle for Wesnoth pictures: unit sprites and painted portraits named by their unit type's .cfg
(`name= _ "Skeleton Archer"`, `race=undead`, `image=`, `profile=`, `description=`), plus item,
attack-icon and inventory-icon pictures named by file ("potion-yellow.png" → "potion yellow").
"""

from __future__ import annotations

import re
from pathlib import Path

from xmodal.data.named import NamedItem, first_sentence, group_key, name_caption

WESNOTH_CORE = "usr/share/games/wesnoth/1.16/data/core"
# picture folders named by file, and what the picture is
NAMED_IMAGE_DIRS = {"items": "item", "attacks": "attack icon", "icons": "item icon"}
_KEY = r"^[ \t]*{key}[ \t]*=[ \t]*(?:_[ \t]*)?\"?([^\"\n]*)\"?"
_DESCRIPTION = re.compile(r"^[ \t]*description[ \t]*=[ \t]*_?[ \t]*\"(.*?)\"", re.M | re.S)


def _first(key: str, text: str) -> str:
    m = re.search(_KEY.format(key=key), text, re.M)
    return m.group(1).strip() if m else ""


def _image_path(images: Path, ref: str) -> Path | None:
    """An image reference from a .cfg ('units/x.png~RC(magenta>red)') as an existing file."""
    ref = ref.split("~", 1)[0].split(":", 1)[0].strip()
    if not ref or not re.fullmatch(r"[\w./+-]+\.(png|webp|jpg)", ref):  # frame lists, macros
        return None
    path = images / ref
    return path if path.is_file() else None


def parse_unit_cfg(text: str) -> dict[str, str]:
    """The top-level name, race, image, profile and description of a [unit_type] .cfg."""
    d = _DESCRIPTION.search(text)
    return {"name": _first("name", text), "race": _first("race", text), "image": _first("image", text),
            "profile": _first("profile", text), "description": d.group(1) if d else ""}


def wesnoth_image_records(root: Path | None = None) -> list[NamedItem]:
    from xmodal.data.debian import fetch_deb

    core = (root or fetch_deb("wesnoth-1.16-data")) / WESNOTH_CORE
    images = core / "images"
    items: dict[Path, NamedItem] = {}
    for cfg in sorted((core / "units").rglob("*.cfg")):
        text = cfg.read_text(encoding="utf-8", errors="replace")
        unit = parse_unit_cfg(text)
        name = re.sub(r"^\w+\^", "", unit["name"])  # 'female^Elvish Shaman': a translation context, not a name
        if not name or "[unit_type]" not in text:
            continue
        desc = first_sentence(unit["description"]) if unit["description"] else ""
        race = unit["race"]
        for ref, kind in ((unit["image"], "unit sprite"), (unit["profile"], "portrait")):
            path = _image_path(images, ref)
            if path is not None and path not in items:
                detail = "; ".join(x for x in (f"{race} {kind}".strip(), desc) if x)
                items[path] = NamedItem(path, name, "wesnoth", group_key(name), "image", detail)
    for folder, kind in NAMED_IMAGE_DIRS.items():
        for f in sorted((images / folder).glob("*.png")):
            caption = name_caption(f.stem)
            if sum(ch.isalpha() for ch in caption) >= 3 and f not in items:
                items[f] = NamedItem(f, caption, "wesnoth", group_key(caption), "image", kind)
    return list(items.values())
