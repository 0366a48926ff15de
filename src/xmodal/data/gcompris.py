"""GCompris activities: photos, drawings and sounds with the names and descriptions the lessons show.

Debian's gcompris-qt-data packs each activity as a Qt resource file (`rcc/NAME.rcc`), read here
with a small reader of that format (`read_rcc`). The activities' QML/JS hold the texts:
object literals such as

    {"image": ".../horse.svg", "title": qsTr("Horse"), "text": qsTr("The horse goes 'neigh'. …"),
     "audio": ...("qrc:/…/horse.$CA"), "image2": ".../horse.webp", "text2": qsTr("…")}

give a drawing (`image`), a photo (`image2`) and a sound (`audio`, `$CA` = ogg) captioned by the
`title` (or `text` minus 'Find the …'); categorised photos (`categorization/resource/images/
tools/hammer6.webp`) are captioned by file name with the category as detail; the memory game's
sounds by file name ('LRFactory_noise_01_LA' → 'factory noise').
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

from xmodal.data.named import NamedItem, extract_dir, first_sentence, group_key, name_caption, write_once

RCC_DIR = "usr/share/gcompris-qt/rcc"
_IMAGE_EXT = (".webp", ".svg", ".svgz", ".png", ".jpg", ".jpeg")
_BLOCK = re.compile(r"\{([^{}]*)\}", re.S)
_FIELD = re.compile(r"\"(\w+)\"\s*:\s*(?:qsTr\(\s*\"((?:[^\"\\]|\\.)*)\"\s*\)|\"([^\"]*)\"|[\w.]+\(\s*\"([^\"]*)\"\s*\))")
_DECOR = re.compile(r"/(key|question|suitcase|[^/]*frame|[^/]*background)\.svg$")
# memory-sound names: 'LRFactory_noise_01_LA_cut' → 'Factory noise'
_SOUND_NOISE = {"lr", "la", "cut", "son", "melody"}
# memory-sound names that do not say what is heard ('Weird', a short pause)
_VAGUE_SOUNDS = {"weird", "pause short", "pause"}


class RccError(ValueError):
    pass


def read_rcc(data: bytes) -> dict[str, bytes]:
    """{path: bytes} of every file in a Qt resource (.rcc) blob (format versions 1–3, zlib)."""
    if data[:4] != b"qres" or len(data) < 20:
        raise RccError("not a Qt resource file (no 'qres' header)")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    entry = 14 if version == 1 else 22
    out: dict[str, bytes] = {}

    def name_at(off: int) -> str:
        (n,) = struct.unpack(">H", data[names + off : names + off + 2])
        return data[names + off + 6 : names + off + 6 + 2 * n].decode("utf-16-be")

    def walk(i: int, prefix: str, depth: int) -> None:
        if depth > 64:
            raise RccError("resource tree nested too deep")
        e = tree + i * entry
        name_off, flags = struct.unpack(">IH", data[e : e + 6])
        name = name_at(name_off) if i else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", data[e + 6 : e + 14])
            for c in range(first, first + count):
                walk(c, f"{prefix}{name}/" if i else "", depth + 1)
            return
        (off,) = struct.unpack(">I", data[e + 10 : e + 14])
        (size,) = struct.unpack(">I", data[payload + off : payload + off + 4])
        raw = data[payload + off + 4 : payload + off + 4 + size]
        if flags & 1:
            raw = zlib.decompress(raw[4:])  # qCompress: 4-byte length, then zlib
        elif flags & 4:
            raise RccError(f"{prefix}{name}: zstd-compressed entries are not supported")
        out[prefix + name] = raw

    try:
        walk(0, "", 0)
    except (struct.error, zlib.error, UnicodeDecodeError, IndexError, RecursionError) as e:
        raise RccError(f"damaged resource file ({e})") from e
    return out


def parse_blocks(source: str) -> list[dict[str, str]]:
    """The flat object literals of a QML/JS file as {key: string value} (qsTr unwrapped)."""
    rows = []
    for block in _BLOCK.findall(source):
        fields = {m.group(1): next(g for g in m.groups()[1:] if g is not None) for m in _FIELD.finditer(block)}
        if fields:
            rows.append({k: v.replace('\\"', '"') for k, v in fields.items()})
    return rows


def _qrc_key(ref: str) -> str:
    return ref.replace("qrc:/", "", 1).replace("$CA", "ogg")


def _caption(row: dict[str, str]) -> str:
    title = row.get("title") or row.get("text2") or row.get("text") or ""
    title = re.sub(r"^(find|click on|select)( the| a| an)?\s+", "", title.strip(), flags=re.I)
    return title.strip(" .!")


def gcompris_records(root: Path | None = None, out_dir: Path | None = None) -> list[NamedItem]:
    """Every captioned picture and sound of the GCompris activities (images and audio together)."""
    from xmodal.data.debian import fetch_deb
    from xmodal.data.sources import pin

    folder = (root or fetch_deb("gcompris-qt-data")) / RCC_DIR
    out = out_dir or extract_dir("gcompris", pin("gcompris-qt-data"))
    items: dict[str, NamedItem] = {}

    def add(files: dict[str, bytes], key: str, caption: str, modality: str, detail: str) -> None:
        if key not in files or key in items or sum(ch.isalpha() for ch in caption) < 3:
            return
        path = write_once(out / key, files[key])
        items[key] = NamedItem(path, caption, "gcompris" if modality == "image" else "gcompris-sounds",
                               group_key(caption), modality, detail)

    for rcc in sorted(folder.glob("*.rcc")):
        try:
            files = read_rcc(rcc.read_bytes())
        except RccError:
            continue
        activity = rcc.stem
        for name, data in files.items():
            if not name.endswith((".qml", ".js")):
                continue
            for row in parse_blocks(data.decode("utf-8", errors="replace")):
                caption = _caption(row)
                if not caption:
                    continue
                desc = first_sentence(row.get("text", "")) if row.get("title") else ""
                for field, modality in (("image2", "image"), ("image", "image"), ("audio", "audio")):
                    ref = row.get(field, "")
                    if not ref or _DECOR.search(ref):
                        continue
                    kind = "photo" if field == "image2" else "drawing" if modality == "image" else "sound"
                    said = caption
                    if modality == "audio" and activity == "explore_world_music" and "music" not in caption.lower():
                        said = f"music of {caption}"  # the sound is a region's music, not the region
                    add(files, _qrc_key(ref), said, modality, "; ".join(x for x in (f"{activity} {kind}", desc) if x))
        for name in sorted(files):
            parts = name.split("/")
            if "categorization" in parts and "images" in parts and name.endswith(_IMAGE_EXT):
                category = parts[-2]
                if category not in ("numbers", "alphabets", "images"):
                    add(files, name, name_caption(Path(name).stem), "image", f"photo, {name_caption(category)}")
            elif activity == "memory-sound" and name.endswith(".ogg"):
                caption = name_caption(Path(name).stem, _SOUND_NOISE)
                if caption not in _VAGUE_SOUNDS:
                    add(files, name, caption.capitalize(), "audio", "memory-sound sound")
    return list(items.values())


def gcompris_image_records(root: Path | None = None, out_dir: Path | None = None) -> list[NamedItem]:
    return [it for it in gcompris_records(root, out_dir) if it.modality == "image"]


def gcompris_sound_records(root: Path | None = None, out_dir: Path | None = None) -> list[NamedItem]:
    return [it for it in gcompris_records(root, out_dir) if it.modality == "audio"]
