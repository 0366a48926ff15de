"""Training pairs from the named sources, and the filter that keeps evaluation items out of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mediagen import make_image
from xmodal.data import dedup
from xmodal.data.icons import icon_training_caption
from xmodal.data.named import NAMED_SOURCES, NamedItem, NamedSource
from xmodal.data.sounds import sfx_training_caption
from xmodal.errors import XModalError
from xmodal.train import pairs as P


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))


# ------------------------------------------------------------------------------ duplicate tests
def test_duplicate_masks_find_a_copied_file_a_re_encoded_picture_and_a_test_name(tmp_path):
    rng = np.random.default_rng(0)
    ref_pooled = rng.normal(size=(5, 16)).astype(np.float32)
    ref_file = make_image(tmp_path / "eval" / "frog.png", color=(10, 200, 30))
    copy = tmp_path / "train" / "renamed.png"
    copy.parent.mkdir()
    shutil.copyfile(ref_file, copy)  # the same bytes under another name
    other = make_image(tmp_path / "train" / "other.png", color=(200, 10, 30))
    pooled = np.stack([
        rng.normal(size=16),  # the copied file (its features need not match: the bytes do)
        ref_pooled[2] * 1.5 + 0.01 * rng.normal(size=16),  # the same picture re-encoded (cosine ~1)
        rng.normal(size=16),  # something new, captioned like a test query
        rng.normal(size=16),  # something new
    ]).astype(np.float32)
    files = [copy, other, other, None]
    captions = [None, None, "A Frog!", "a toad"]
    m = dedup.duplicate_masks(pooled, np.ones(4, bool), files, captions, ref_pooled,
                              {dedup.file_digest(ref_file)}, {"frog"})
    assert m["same_file"].tolist() == [True, False, False, False]
    assert m["cosine"].tolist() == [False, True, False, False]
    assert m["same_name"].tolist() == [False, False, True, False]
    assert m["any"].tolist() == [True, True, True, False]
    assert m["max_cosine"][1] > 0.99 > m["max_cosine"][3]
    # an item without features is never a cosine duplicate
    assert not dedup.duplicate_masks(pooled, np.array([1, 0, 1, 1], bool), files, captions, ref_pooled, set(),
                                     set())["cosine"][1]


def _pair_data(tmp_path: Path, set_dir: Path | None = None) -> P.PairData:
    rng = np.random.default_rng(1)
    items = [make_image(tmp_path / "src" / f"{i}.png", color=(30 * i, 60, 90)) for i in range(4)]
    pooled = rng.normal(size=(4, 8)).astype(np.float32)
    feats = P.Features(bridge=np.zeros((4, 4), np.float32), pooled=pooled, tokens=pooled[:, None].astype(np.float16),
                       n_tokens=np.ones(4, np.int32), gate=np.ones(4, np.float32), ok=np.ones(4, bool),
                       text_vecs=np.zeros((3, 4), np.float32))
    src = P.PairSource("toy", "fp", ["a cat", "the Duck", "a boat"], [str(p) for p in items],
                       [(0, 0), (1, 1), (2, 2), (2, 3)], set_dir=set_dir)
    return P.PairData(src, feats)


def test_drop_eval_duplicates_removes_a_planted_duplicate_and_test_names(tmp_path, monkeypatch):
    data = _pair_data(tmp_path)
    eval_dir = tmp_path / "eval-set"
    planted = data.feats.pooled[3] + 1e-3  # item 3 re-encoded sits in an evaluation corpus
    ref = P.EvalReference([eval_dir.resolve()], [np.stack([planted, -planted])], [set()], {"duck": "toy-eval"})
    monkeypatch.setattr(P, "eval_reference", lambda space, modality: ref)
    out = P.drop_eval_duplicates(None, data, "image")
    # pair (1, 1) names an evaluation caption ("the Duck" ~ "duck"); item 3 is a planted duplicate
    assert out.source.pairs == [(0, 0), (2, 2)]
    assert out.feats.ok.tolist() == [True, False, True, False]  # item 1 lost its only pair
    assert out.source.dedup["same_picture_or_sound"] == 1 and out.source.dedup["texts_named_in_eval"] == 1
    # names kept on request; the picture duplicate still goes
    assert P.drop_eval_duplicates(None, data, "image", names=False).source.pairs == [(0, 0), (1, 1), (2, 2)]
    # a source built from that evaluation set itself (its train half) is not compared with its own corpus
    own = _pair_data(tmp_path, set_dir=eval_dir)
    assert P.drop_eval_duplicates(None, own, "image", names=False).source.pairs == own.source.pairs


def test_eval_corpus_source_keeps_unjudged_distractors(tmp_path):
    from xmodal.data.sets import _SetWriter

    w = _SetWriter(tmp_path / "set")
    for i in range(3):
        w.add_corpus_media(f"i{i}", make_image(tmp_path / f"p{i}.png", color=(80 * i, 0, 0)), "image", "x")
    w.add_query("q0", "test", ["i1"], text="a red square")
    w.add_query("q1", "train", ["i2"], text="a redder square")
    w.finish({})
    src = P.eval_corpus_source(tmp_path / "set", "image")
    assert len(src.items) == 3 and src.texts == ["a red square"]
    assert [src.items[i].endswith(".png") for _, i in src.pairs] == [True]
    assert src.items_fingerprint == P.eval_corpus_source(tmp_path / "set", "image", "train").items_fingerprint


# ------------------------------------------------------------------------------ caption cleaning
def _icon(name: str, context: str) -> NamedItem:
    from xmodal.data.icons import icon_caption
    from xmodal.data.named import group_key

    cap = icon_caption(name)
    return NamedItem(Path(f"/x/{name}.svg"), cap, "icon-themes", group_key(cap), "image", f"icon, {context}")


def test_icon_training_captions_drop_ui_commands_and_read_names_as_descriptions():
    vocab = {"smile", "face", "music", "folder", "games", "weather", "showers", "scattered", "format", "align",
             "center", "drive", "harddisk", "time"}
    assert icon_training_caption(_icon("face-smile", "emotes"), vocab) == "smile face"
    assert icon_training_caption(_icon("folder-music-symbolic", "places"), vocab) == "music folder"
    assert icon_training_caption(_icon("applications-games", "categories"), vocab) == "games"
    assert icon_training_caption(_icon("preferences-system-time", "apps"), vocab) == "time"
    assert icon_training_caption(_icon("weather-showers-scattered", "status"), vocab) == "weather showers scattered"
    assert icon_training_caption(_icon("format-align-center", "actions"), vocab) is None  # a UI command
    assert icon_training_caption(_icon("drive-harddisk-solidstate", "devices"), vocab) is None  # 'solidstate': no word


def test_sfx_training_captions_describe_the_sound():
    def item(caption: str) -> NamedItem:
        return NamedItem(Path("/x.ogg"), caption, "game-sfx", caption, "audio", "wesnoth data")

    assert sfx_training_caption(item("wolf hit"), None) == "wolf cry of pain"
    assert sfx_training_caption(item("human female die"), None) == "human female death cry"
    assert sfx_training_caption(item("mace miss"), None) == "mace swish"
    assert sfx_training_caption(item("menu selected"), None) is None
    assert sfx_training_caption(item("audio channel front left"), None) is None  # spoken, not a sound effect
    assert sfx_training_caption(item("camera shutter"), None) == "camera shutter"


def test_training_records_regroup_by_the_cleaned_caption_and_limit_each_group(tmp_path):
    recs = [_icon("face-smile", "emotes"), _icon("face-smile-symbolic", "emotes"), _icon("smile-face", "emotes"),
            _icon("face-smile-big", "legacy")]
    src = NamedSource("icons-toy", "image", "icons", (), "", "train", "icons:tango_records",
                      train_caption="icons:icon_training_caption")
    out = src.training_records(recs, max_per_group=2, vocabulary={"smile", "face", "big"})
    assert [(r.caption, r.group) for r in out] == [("smile face", "smile face")] * 2  # 3 alike, 2 kept; legacy dropped


def test_held_out_sources_are_refused_as_training_pairs():
    held = [n for n, s in NAMED_SOURCES.items() if s.role == "heldout"]
    assert {"open-symbols", "bootstrap-icons", "gcompris", "gcompris-sounds", "ovos-animals"} <= set(held)
    with pytest.raises(XModalError, match="held-out"):
        P.parse_source("open-symbols", "image")
    with pytest.raises(XModalError, match="not image"):
        P.named_pairs_source("opensfx", "image")


def test_every_evaluation_set_of_the_filter_is_a_known_set():
    from xmodal.data.sets import SETS

    for modality, names in dedup.EVAL_SETS.items():
        assert names and set(names) <= set(SETS), modality


def test_centred_cosine_tells_non_negative_sound_features_apart():
    """aisfx-like features (non-negative, a shared offset) make every raw cosine high; centred on the
    evaluation mean only the re-encoded recording stays a duplicate."""
    rng = np.random.default_rng(3)
    ref = 5.0 + np.abs(rng.normal(size=(20, 32))).astype(np.float32)
    cand = np.stack([ref[4] + 0.01 * rng.normal(size=32), 5.0 + np.abs(rng.normal(size=32))]).astype(np.float32)
    args = (np.ones(2, bool), [None, None], [None, None], ref, set(), set())
    raw = dedup.duplicate_masks(cand, *args)
    assert raw["cosine"].tolist() == [True, True]  # the unrelated sound passes for a duplicate raw
    centred = dedup.duplicate_masks(cand, *args, centre=dedup.CENTRED["audio"])
    assert centred["cosine"].tolist() == [True, False]
