"""Colour composition stored by the decoders, and colour agreement in the reranker's features."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mediagen import make_image
from xmodal.media import load
from xmodal.media.colour import BASIC_COLOURS, classify_pixels, colour_shares
from xmodal.rerank._features import colour_agreement, colour_words


def test_pixels_fall_in_the_expected_basic_colours():
    rgb = np.array([[[230, 20, 20], [20, 160, 40], [30, 60, 220], [250, 220, 30], [250, 140, 20],
                     [5, 5, 5], [250, 250, 250], [128, 128, 128], [120, 70, 30], [140, 40, 180], [250, 160, 200]]],
                   np.uint8)
    got = [BASIC_COLOURS[i] for i in classify_pixels(rgb)[0]]
    assert got == ["red", "green", "blue", "yellow", "orange", "black", "white", "gray", "brown", "purple", "pink"]


def test_transparency_marks_the_subject(tmp_path):
    # a small green square on a large transparent canvas: the canvas is not "white"
    im = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    im.paste((20, 170, 40, 255), (40, 40, 60, 60))
    im.save(tmp_path / "g.png")
    media = load(tmp_path / "g.png")
    assert media.meta["colours"] == {"green": 1.0}


def test_flat_backdrop_is_ignored_and_shares_sum_to_one(tmp_path):
    im = Image.new("RGB", (120, 80), (255, 255, 255))
    im.paste((220, 20, 20), (10, 10, 50, 70))  # red on the left
    im.paste((30, 60, 220), (60, 10, 110, 70))  # blue on the right, a little larger
    shares = colour_shares(im)
    assert set(shares) == {"red", "blue"} and shares["blue"] > shares["red"]
    assert abs(sum(shares.values()) - 1.0) < 0.03  # edge pixels blend into minor colours, dropped


def test_photo_like_image_keeps_all_pixels(tmp_path):
    path = make_image(tmp_path / "red.jpg", size=(64, 64), color=(210, 30, 30))
    assert max(load(path).meta["colours"], key=load(path).meta["colours"].get) == "red"


def test_colour_words_in_several_languages():
    assert colour_words("A green bus.") == {"green"}
    assert colour_words("Un drapeau vert et blanc.") == {"green", "white"}
    assert colour_words("Eine rote Rose.") == {"red"}
    assert colour_words("Uma bola amarela") == {"yellow"}
    assert colour_words("A rose in a vase.") == set()  # the flower, not pink


def test_colour_agreement_scores_the_named_colour_share():
    assert colour_agreement({"green"}, {"green": 0.6, "gray": 0.4}) == (1.0, 0.6)
    assert colour_agreement({"green"}, {"yellow": 0.9, "black": 0.1}) == (1.0, 0.0)
    assert colour_agreement(set(), {"green": 1.0}) == (0.0, 0.0)  # nothing named: no signal
    assert colour_agreement({"red"}, None) == (0.0, 0.0)  # colours unknown (old index, text item)
