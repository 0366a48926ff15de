"""Icons and symbols named by what they show.

- freedesktop icon themes (Oxygen, Papirus, Breeze, Adwaita, GNOME, elementary; Tango apart as
  a held-out theme): icon names follow the naming spec (`weather-showers-scattered`,
  `face-smile-big`, `input-keyboard`); one item per (theme, name), the scalable SVG or the
  largest PNG up to 256 px. Aliases (symlinks) and contexts that name file types or brands
  (mimetypes, most apps) are skipped.
- Bootstrap icons: one SVG per name (`cup-hot-fill` → "cup hot").
- Inkscape open symbols: symbol sheets (SJJB map icons, Material Design, weather, US state
  outlines, …); each <symbol> is written out as its own SVG file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from xmodal.data.named import NamedItem, extract_dir, group_key, has_known_words, name_caption, write_once

ICONS = "usr/share/icons"
# contexts whose names describe a thing, a state or an action (not a file type or a brand)
ICON_CONTEXTS = {"actions", "categories", "devices", "emblems", "emotes", "places", "status", "legacy", "apps"}
# app icon names that are generic (freedesktop standard names), not products
_GENERIC_APP = re.compile(r"^(accessories|applications|preferences|system|utilities|multimedia|help|internet|"
                          r"office|graphics|user|input|weather|audio|video|camera|phone|calendar|clock|"
                          r"calculator|mail|web|folder)-")
_ICON_NOISE = {"symbolic", "gtk", "gnome", "stock", "kde", "rtl", "ltr", "x", "alt"}
# Papirus ships every folder icon in ~25 colours: one name per colour says nothing new
_COLOURED_FOLDER = re.compile(r"^(folder|user)-(black|blue|bluegrey|breeze|brown|cyan|deeporange|green|grey|indigo|"
                              r"magenta|nordic|orange|pale-?brown|pink|red|teal|violet|white|yellow|yaru|adwaita|"
                              r"carmine|paleorange|darkcyan)\b")
# themes read by `icon_theme_records`: package → theme folder
ICON_THEMES = {
    "oxygen-icon-theme": "oxygen",
    "papirus-icon-theme": "Papirus",
    "breeze-icon-theme": "breeze",
    "adwaita-icon-theme": "Adwaita",
    "gnome-icon-theme": "gnome",
    "elementary-xfce-icon-theme": "elementary-xfce",
}


def _size_of(parts: tuple[str, ...]) -> int:
    """Pixel size named in an icon path ('48x48', '48', '48@2x'); scalable counts as 1000."""
    for p in parts:
        if p == "scalable":
            return 1000
        m = re.fullmatch(r"(\d+)(?:x\d+)?(?:@(\d)x)?", p)
        if m:
            return int(m.group(1)) * int(m.group(2) or 1)
    return 0


def icon_caption(name: str) -> str:
    """'weather-showers-scattered-symbolic' → 'weather showers scattered'."""
    return name_caption(re.sub(r"^(gtk|gnome|stock)[-_]", "", name), _ICON_NOISE)


def theme_icons(theme_dir: Path, source: str, max_px: int = 256) -> list[NamedItem]:
    """One item per icon name of a theme folder (the best file: SVG, else largest PNG ≤ max_px)."""
    best: dict[str, tuple[int, Path, str]] = {}
    for f in sorted(theme_dir.rglob("*")):
        if f.suffix.lower() not in (".svg", ".png") or f.is_symlink() or not f.is_file():
            continue
        parts = f.relative_to(theme_dir).parts[:-1]
        context = next((p for p in parts if p in ICON_CONTEXTS), None)
        name = f.stem
        if context is None or (context == "apps" and not _GENERIC_APP.match(name)) or _COLOURED_FOLDER.match(name):
            continue
        size = _size_of(parts)
        if size > max_px and f.suffix.lower() == ".png":
            continue
        rank = size + (2000 if f.suffix.lower() == ".svg" and "symbolic" not in name else 0)
        if name not in best or rank > best[name][0]:
            best[name] = (rank, f, context)
    items = []
    for name, (_, f, context) in sorted(best.items()):
        caption = icon_caption(name)
        if sum(ch.isalpha() for ch in caption) >= 3:
            items.append(NamedItem(f, caption, source, group_key(caption), "image", f"icon, {context}"))
    return items


# contexts kept for training: names of things and states. 'actions' (and 'legacy', mostly old
# actions) name UI commands ('format align vertical center', 'path break apart') that say little
# about the picture and nothing a user would search pictures for.
TRAIN_ICON_CONTEXTS = {"emotes", "devices", "places", "status", "categories", "emblems", "apps"}
# leading words of the naming spec that classify rather than describe ('applications games')
_SPEC_PREFIX = re.compile(r"^(applications|preferences|accessories|utilities|emblem|system|internet|user)\s+(?=\w)")


def icon_training_caption(item: NamedItem, vocabulary: set[str] | None) -> str | None:
    """An icon-theme record's caption for training, or None when it is UI jargon: only the
    `TRAIN_ICON_CONTEXTS`, the spec's classifying prefixes dropped, 'face smile' read as
    'smile face' and 'folder music' as 'music folder', every word an English (WordNet) word."""
    context = item.detail.rsplit(", ", 1)[-1]
    if context not in TRAIN_ICON_CONTEXTS:
        return None
    caption = item.caption
    for _ in range(2):  # 'preferences system time' → 'time'
        caption = _SPEC_PREFIX.sub("", caption)
    caption = re.sub(r"^(face|folder|emoji)\s+(?:custom\s+)?(.+)$", r"\2 \1", caption)
    if sum(ch.isalpha() for ch in caption) < 3 or not has_known_words(caption, vocabulary):
        return None
    return caption


def icon_theme_records(roots: dict[str, Path] | None = None,
                       themes: dict[str, str] | None = None) -> list[NamedItem]:
    """Icons of the ICON_THEMES packages (or `themes`: package → theme folder); `roots` maps a
    package to an already extracted tree (tests), others are fetched."""
    from xmodal.data.debian import fetch_deb

    items: list[NamedItem] = []
    for pkg, folder in (themes or ICON_THEMES).items():
        root = (roots or {}).get(pkg) or fetch_deb(pkg)
        items.extend(theme_icons(root / ICONS / folder, "icon-themes"))
    return items


def tango_records(root: Path | None = None) -> list[NamedItem]:
    from xmodal.data.debian import fetch_deb

    return theme_icons((root or fetch_deb("tango-icon-theme")) / ICONS / "Tango", "tango-icons")


# ------------------------------------------------------------------------------- Bootstrap
BOOTSTRAP_SVG = "usr/share/bootstrap-icons/svg"
_BOOTSTRAP_NOISE = _ICON_NOISE | {"fill", "btn", "lg", "sm"}


def bootstrap_icon_records(root: Path | None = None) -> list[NamedItem]:
    from xmodal.data.debian import fetch_deb

    folder = (root or fetch_deb("bootstrap-icons")) / BOOTSTRAP_SVG
    items = []
    for f in sorted(folder.glob("*.svg")):
        caption = name_caption(f.stem, _BOOTSTRAP_NOISE)
        if sum(ch.isalpha() for ch in caption) >= 3:
            items.append(NamedItem(f, caption, "bootstrap-icons", group_key(caption), "image", "icon"))
    return items


# ------------------------------------------------------------------------------- open symbols
SYMBOLS = "usr/share/inkscape/symbols"
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
# sheets whose names do not describe a picture (brand logos, UI widgets, circuit jargon) or that
# repeat another source (emojione = the EmojiOne emoji source)
SKIP_SHEETS = ("emojione", "internet-symbols", "humble-ui", "taiga", "circuitikz", "dashicons")
_SYMBOL_NOISE = {"ic", "px", "symbolic", "alt", "stroke", "fill", "sjjb", "app", "rtl", "ltr"}


def _sheet_label(title: str, stem: str) -> str:
    """'SJJB Map Icons [Sport Set]' → 'map symbol, sport'; 'Material Design Icons [Maps Set]' → 'icon, maps'."""
    m = re.search(r"\[(.+?)(?: [Ss]et)?\]", title)
    kind = "map symbol" if stem.startswith("sjjb") else "US state outline" if stem == "StateFace" else "icon"
    return f"{kind}, {m.group(1).lower()}" if m else kind


def symbol_caption(title: str | None, symbol_id: str, sheet: str) -> str | None:
    raw = title if title and not re.fullmatch(r"[0-9a-fA-F-]+", title) else symbol_id
    caption = name_caption(raw, _SYMBOL_NOISE)
    if sum(ch.isalpha() for ch in caption) < 3:
        return None
    if sheet == "StateFace":
        return f"outline of {raw.strip()}"
    return caption


def _standalone_svg(sheet: ET.Element, symbol: ET.Element) -> bytes | None:
    """A symbol as its own SVG document: its viewBox, the sheet's <defs> and <style>, its children.
    None when the symbol has no usable viewBox (the suru, StateFace and weather sheets place
    their paths in sheet coordinates that only a renderer could measure)."""
    view_box = symbol.get("viewBox") or sheet.get("viewBox") or ""
    try:
        _, _, w, h = (float(v) for v in re.split(r"[\s,]+", view_box.strip()))
    except ValueError:
        return None
    scale = 256.0 / max(w, h, 1e-6)
    root = ET.Element(f"{{{SVG_NS}}}svg", {"viewBox": view_box, "width": f"{w * scale:.0f}",
                                           "height": f"{h * scale:.0f}", "version": "1.1"})
    if sheet.get("style"):
        root.set("style", sheet.get("style"))
    for child in sheet:
        if child.tag in (f"{{{SVG_NS}}}defs", f"{{{SVG_NS}}}style"):
            root.append(child)
    for child in symbol:
        if child.tag != f"{{{SVG_NS}}}title":
            root.append(child)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def open_symbol_records(root: Path | None = None, out_dir: Path | None = None,
                        skip: tuple[str, ...] = SKIP_SHEETS) -> list[NamedItem]:
    """Every named <symbol> of the Inkscape symbol sheets, written out as one SVG each."""
    from xmodal.data.debian import fetch_deb
    from xmodal.data.sources import pin

    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    folder = (root or fetch_deb("inkscape-open-symbols")) / SYMBOLS
    out = out_dir or extract_dir("open-symbols", pin("inkscape-open-symbols"))
    items: list[NamedItem] = []
    for sheet_path in sorted(folder.glob("*.svg")):
        if sheet_path.stem.startswith(skip):
            continue
        sheet = ET.parse(sheet_path).getroot()
        title_el = sheet.find(f"{{{SVG_NS}}}title")
        label = _sheet_label(title_el.text or "" if title_el is not None else "", sheet_path.stem)
        for sym in sheet.iter(f"{{{SVG_NS}}}symbol"):
            sid = sym.get("id") or ""
            t = sym.find(f"{{{SVG_NS}}}title")
            caption = symbol_caption(t.text.strip() if t is not None and t.text else None, sid, sheet_path.stem)
            if caption is None or not sid:
                continue
            svg = _standalone_svg(sheet, sym)
            if svg is None:
                continue
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", sid)
            path = write_once(out / sheet_path.stem / f"{safe}.svg", svg)
            items.append(NamedItem(path, caption, "open-symbols", group_key(caption), "image", label))
    return items
