"""Flags named by the place they stand for.

- iso-flags-svg: `country-4x3/XX.svg` by ISO 3166 alpha-2 code, named through iso-codes'
  `iso_3166-1.json` (common name where it has one); the `_basque`-style extras by file name.
- KGeography: every map's `.kgm` names its divisions and their flag files
  (`<division><name>Algeria</name><flag>algeria.png</flag>`); regions read "flag of Kalmykia, Russia".
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from xmodal.data.named import NamedItem, group_key, name_caption

ISO_FLAGS = "usr/share/iso-flags-svg/country-4x3"
ISO_3166 = "usr/share/iso-codes/json/iso_3166-1.json"
KGEOGRAPHY = "usr/share/kgeography"


def _flag(path: Path, place: str, source: str, detail: str = "flag") -> NamedItem:
    caption = f"flag of {place}"
    return NamedItem(path, caption, source, group_key(place), "image", detail)


def iso_flag_records(root: Path | None = None, codes_root: Path | None = None) -> list[NamedItem]:
    from xmodal.data.debian import fetch_deb

    folder = (root or fetch_deb("iso-flags-svg")) / ISO_FLAGS
    table = json.loads(((codes_root or fetch_deb("iso-codes")) / ISO_3166).read_text(encoding="utf-8"))
    names = {c["alpha_2"].lower(): c.get("common_name") or c["name"] for c in table["3166-1"]}
    items = []
    for f in sorted(folder.glob("*.svg")):
        if f.stem.startswith("_"):
            place = name_caption(f.stem).title()
            if place.lower() in ("generic", "earth pernefeldt", ""):
                continue
        else:
            place = names.get(f.stem.lower())
            if place is None:
                continue
        items.append(_flag(f, place, "flags"))
    return items


# "Portugal Districts", "Russia (Subjects)" → the country alone
_MAP_KIND = re.compile(r"\s+(Districts|Provinces|Regions|States|Counties|Prefectures|Departments|Cantons|"
                       r"Voivodeships|Oblasts|Municipalities|Subjects|Divisions|Governorates)$", re.I)


def kgeography_flag_records(root: Path | None = None) -> list[NamedItem]:
    """Flags of every division named in KGeography's maps; one item per flag file."""
    from xmodal.data.debian import fetch_deb

    base = (root or fetch_deb("kgeography-data")) / KGEOGRAPHY
    seen: dict[Path, NamedItem] = {}
    for kgm in sorted(base.glob("*.kgm")):
        try:
            doc = ET.parse(kgm).getroot()
        except ET.ParseError:
            continue
        map_name = _MAP_KIND.sub("", re.sub(r"\s*\(.*?\)", "", (doc.findtext("name") or kgm.stem))).strip()
        for div in doc.iter("division"):
            name, flag = (div.findtext("name") or "").strip(), (div.findtext("flag") or "").strip()
            if not name or not flag:
                continue
            path = base / "flags" / flag
            if not path.is_file() or path in seen:
                continue
            # a region of a country map reads "Kalmykia, Russia"; countries of world maps stand alone
            region = "/" in flag
            place = f"{name}, {map_name}" if region else name
            seen[path] = _flag(path, place, "kgeography-flags", "regional flag" if region else "flag")
    return sorted(seen.values(), key=lambda it: str(it.path))
