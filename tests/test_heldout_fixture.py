"""Pictures from sources held out of all training are found by their names (real packages, default profile).

A small real fixture: icons of the Tango theme, Inkscape's open symbols and GCompris' animal
drawings, none of which (nor any duplicate of them) the shipped binding was trained on
(`xmodal.data.dedup`). Each query is a picture's own name; the picture must come back in the
top 3 of the fixture's pictures. Copies get opaque file names, so only the picture can match.
"""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.slow

# (held-out source, caption of the picture to find); the fixture also holds the distractors below
QUERIES = [
    ("tango-icons", "printer"),
    ("open-symbols", "bicycle"),
    ("gcompris", "Horse"),
]
DISTRACTORS = {
    "tango-icons": ["audio card", "camera photo", "computer", "input keyboard", "media floppy", "weather snow",
                    "face smile", "start here", "user trash", "mail message new"],
    "open-symbols": ["airport", "bank", "castle", "fuel", "cafe", "camping", "cinema", "dentist"],
    "gcompris": ["Cow", "Pig", "Duck", "Sheep", "Cat", "Dog", "Chicken", "Owl"],
}


@pytest.fixture(scope="module")
def fixture_index(tmp_path_factory):
    import xmodal
    from xmodal.data.dedup import caption_key
    from xmodal.data.named import named_records

    folder = tmp_path_factory.mktemp("heldout")
    wanted: dict[str, set[str]] = {}
    for source, caption in QUERIES:
        wanted.setdefault(source, set()).add(caption_key(caption))
    for source, captions in DISTRACTORS.items():
        wanted.setdefault(source, set()).update(caption_key(c) for c in captions)
    chosen: dict[tuple[str, str], str] = {}
    for source, keys in wanted.items():
        for rec in sorted(named_records(source), key=lambda r: str(r.path)):
            key = caption_key(rec.caption)
            if key in keys and (source, key) not in chosen and rec.modality == "image":
                dst = folder / "pictures" / f"p{len(chosen):03d}{rec.path.suffix.lower()}"
                dst.parent.mkdir(exist_ok=True)
                shutil.copyfile(rec.path, dst)
                chosen[(source, key)] = str(dst.resolve())
    missing = [(s, c) for s, keys in wanted.items() for c in keys if (s, c) not in chosen]
    assert not missing, f"fixture pictures not found in their packages: {missing}"
    idx = xmodal.open(folder / "index")  # the offline default profile, shipped binding included
    report = idx.add([folder / "pictures"])
    assert not report.failed, report.failed
    return idx, chosen


@pytest.mark.parametrize("source,caption", QUERIES)
def test_held_out_picture_is_found_by_its_name(fixture_index, source, caption):
    from pathlib import Path

    from xmodal.data.dedup import caption_key

    idx, chosen = fixture_index
    hits = idx.search(caption, k=3, modalities=["image"])
    assert chosen[(source, caption_key(caption))] in [str(Path(h.path).resolve()) for h in hits], \
        [(Path(h.path).name, round(h.score, 3)) for h in hits]


def test_fixture_pictures_are_not_training_data():
    """The fixture's sources are held out: the trainer refuses them as pairs."""
    from xmodal.errors import XModalError
    from xmodal.train.pairs import parse_source

    for source in {s for s, _ in QUERIES}:
        with pytest.raises(XModalError, match="held-out"):
            parse_source(source, "image")
