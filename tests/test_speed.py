"""Speed-motivated code paths give the same results as the plain computations they replace.

Correctness only: how fast they are is measured by benchmarks/ (see benchmarks/README.md).
"""

from __future__ import annotations

import io
import os
import sys
import time
from importlib import metadata

import numpy as np
import pytest

from xmodal.store.lance import AnnSettings, LanceStore


def _unit(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _records(vectors: np.ndarray, prefix: str = "i") -> list[dict]:
    return [dict(id=f"{prefix}{i}", path=f"/m/{prefix}{i}", modality="image", content_hash=str(i), mtime=0.0, size=1,
                 duration=None, pages=None, text=f"item {i}", segments="[]", tokens=b"", n_tokens=0, meta="{}", vector=v)
            for i, v in enumerate(vectors)]


# --------------------------------------------------------------------------- image preprocessing
def test_letterbox_pixels_equal_the_three_step_conversion():
    from PIL import Image

    from xmodal.encode.image_conse import letterbox

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (150, 310, 3), dtype=np.uint8))
    arr, placed = letterbox(img, 224)
    assert arr.dtype == np.float32 and arr.shape == (3, 224, 224) and arr.flags["C_CONTIGUOUS"]
    # the reference: the same canvas converted, transposed and scaled in separate steps
    canvas = Image.new("RGB", (224, 224), (255, 255, 255))
    x0, y0, x1, y1 = (int(v) for v in placed)
    canvas.paste(img.resize((x1 - x0, y1 - y0), Image.Resampling.BICUBIC, reducing_gap=3.0), (x0, y0))
    ref = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1) * (1.0 / 127.5) - 1.0
    assert np.array_equal(arr, ref)


def test_svg_probe_size_equals_the_size_of_a_64_px_render():
    cairosvg = pytest.importorskip("cairosvg")
    from PIL import Image

    from xmodal.media.image import _svg_size_at_width

    for w, h, view in ((300, 120, ""), (40, 900, ""), (0, 0, 'viewBox="0 0 17 33"')):
        size = f'width="{w}" height="{h}"' if w else ""
        svg = f'<svg xmlns="http://www.w3.org/2000/svg" {size} {view}><rect width="10" height="10" fill="red"/></svg>'.encode()
        rendered = Image.open(io.BytesIO(cairosvg.svg2png(bytestring=svg, unsafe=False, output_width=64))).size
        assert _svg_size_at_width(svg, 64) == rendered


# --------------------------------------------------------------------------- binding heads
def test_batched_region_heads_equal_one_product_per_image():
    from xmodal.bind import load_binding
    from xmodal.bind.heads import combine_residual, head_forward
    from xmodal.types import Embedding, Segment

    b = load_binding("default")
    rng = np.random.default_rng(0)

    def item(n_regions: int) -> Embedding:
        feats = rng.random((49, 1280), dtype=np.float32)
        cells = np.sort(rng.choice(49, n_regions, replace=False)).astype(np.int32)
        segs = [Segment(kind="region", index=j, box=(0, 0, 1, 1)) for j in range(n_regions)]
        segs.append(Segment(kind="tags", index=n_regions, text="x"))
        return Embedding(vector=_unit(1, 384, n_regions)[0], tokens=rng.random((n_regions + 1, 384), dtype=np.float32),
                         segments=segs, native={"effnet": feats.mean(0), "effnet_regions": feats, "region_cells": cells})

    embs = [item(n) for n in (49, 30, 1, 12)]
    before = [(e.tokens.copy(), e.native["effnet_regions"][e.native["region_cells"]]) for e in embs]
    b.apply("image", embs)
    h, a = b.heads["image"], float(b.heads["image"]["alpha"])
    for e, (toks, feats) in zip(embs, before):
        want = combine_residual(toks[:-1], head_forward("linear", b.head_weights("image"), h, feats), a)
        assert np.allclose(e.tokens[:-1], want, atol=1e-6)
        assert np.array_equal(e.tokens[-1], e.vector)  # the tags row is the item vector


# --------------------------------------------------------------------------- start-up helpers
def test_package_version_matches_importlib_metadata():
    from xmodal.encode.base import package_version

    for dist in ("numpy", "pyarrow", "lancedb"):
        assert package_version(dist) == metadata.version(dist)
    assert package_version("surely-not-installed-xmodal-dist") == "missing"


def test_file_digest_is_remembered_on_disk_and_follows_changes(tmp_path, monkeypatch):
    import hashlib

    from xmodal.encode import _onnx

    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))
    f = tmp_path / "weights.bin"
    f.write_bytes(b"a" * 1000)
    assert _onnx.file_digest(f) == hashlib.sha256(b"a" * 1000).hexdigest()[:12]
    assert len(list((tmp_path / "cache" / "digests").iterdir())) == 1
    _onnx._digest.cache_clear()
    assert _onnx.file_digest(f, n=20) == hashlib.sha256(b"a" * 1000).hexdigest()[:20]  # from the memo
    f.write_bytes(b"b" * 1001)  # new size and mtime: a new key, hashed again
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert _onnx.file_digest(f) == hashlib.sha256(b"b" * 1001).hexdigest()[:12]


def test_lancedb_import_defers_the_rest_client_but_keeps_it_usable():
    from xmodal.store._lancedb_import import import_lancedb

    lancedb = import_lancedb()
    assert hasattr(lancedb, "connect")
    client = sys.modules.get("lance_namespace_urllib3_client")
    assert client is not None
    assert client.ApiClient is not None  # first use runs the package's real __init__
    assert type(client).__name__ == "module"
    overrides = pytest.importorskip("overrides")  # the real package again once lancedb is in
    assert hasattr(overrides, "overrides") and overrides.EnforceOverrides.__module__.startswith("overrides")


def test_one_blas_thread_limits_and_restores():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from xmodal.blas_threads import one_blas_thread

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    with one_blas_thread():
        assert all(n == 1 for n in blas_threads())
        m = np.ones((64, 64), np.float32)
        assert float((m @ m)[0, 0]) == 64.0
    assert blas_threads() == before


# --------------------------------------------------------------------------- store
def test_ann_settings_reach_the_index_and_keep_recall(tmp_path):
    ann = AnnSettings(m=12, ef_construction=100, ef=64, refine=2)
    store = LanceStore(tmp_path, dim=16, ann_threshold=1000, ann=ann)
    vecs = _unit(1500, 16, 1)
    store.upsert(_records(vecs))
    store.finalize()
    stats = store.vector_index_stats()
    assert stats is not None and stats["indexed_rows"] == 1500 and stats["settings"]["ef"] == 64
    queries = _unit(30, 16, 2)
    recall = np.mean([
        len({r["id"] for r in store.vector_search(q, 10)} & {f"i{i}" for i in np.argsort(-(vecs @ q))[:10]}) / 10
        for q in queries
    ])
    assert recall >= 0.95
    assert LanceStore(tmp_path / "b", dim=16, ann={"ef": 32}).ann == AnnSettings(ef=32)  # a dict from store_options


def test_row_count_and_fulltext_presence_follow_writes(tmp_path):
    store = LanceStore(tmp_path, dim=8)
    assert store.count() == 0 and store.text_search("item", 5) == []
    store.upsert(_records(_unit(5, 8, 0)))
    store.finalize()
    assert store._rows() == 5 and {r["id"] for r in store.text_search("item", 10)} == {f"i{i}" for i in range(5)}
    store.upsert(_records(_unit(3, 8, 1), prefix="n"))
    assert store._rows() == 8
    store.delete(["i0", "n1"])
    assert store._rows() == 6 and [r["id"] for r in store.get(["n2", "i0", "i4"])] == ["n2", "i4"]


# --------------------------------------------------------------------------- audio
@pytest.mark.slow
def test_audio_batch_with_sound_features_ahead_equals_one_item_at_a_time():
    from xmodal.encode.audio import SpeechSoundAudioEncoder
    from xmodal.encode.sound_bank import AisfxEmbedder
    from xmodal.types import Media, Modality

    if not (SpeechSoundAudioEncoder.availability()[0] and AisfxEmbedder.availability()[0]):
        pytest.skip("faster-whisper / aisfx not installed")
    sr = 16000
    t = np.arange(2 * sr) / sr
    clips = [(0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in (220.0, 880.0)]
    clips.append(np.zeros(sr, np.float32))  # silent: no sound features are computed for it
    clips.append((0.2 * np.random.default_rng(0).standard_normal(3 * sr)).astype(np.float32))
    media = [Media(Modality.AUDIO, path=f"c{i}.wav", audio=a, duration=len(a) / sr) for i, a in enumerate(clips)]
    enc = SpeechSoundAudioEncoder()
    together = enc.encode(media)
    alone = [enc.encode([m])[0] for m in media]
    for a, b in zip(together, alone):
        assert np.allclose(a.vector, b.vector, atol=1e-6) and np.allclose(a.tokens, b.tokens, atol=1e-6)
        assert [s.to_dict() for s in a.segments] == [s.to_dict() for s in b.segments]
        assert set(a.native) == set(b.native)


def test_warm_in_background_loads_the_encoder_on_a_thread_and_a_bound_one_too():
    import threading

    from xmodal.bind.artifact import BoundEncoder
    from xmodal.encode import ENCODERS
    from xmodal.encode.base import Encoder
    from xmodal.space import Space
    from xmodal.types import Modality

    class SlowLoading(Encoder):
        modalities = (Modality.TEXT,)
        dim = 8

        def __init__(self) -> None:
            self.loaded_on: str | None = None

        def config(self) -> dict:
            return {"name": "slow-loading"}

        def encode(self, media):
            raise AssertionError("not called")

        def warm(self) -> None:
            self.loaded_on = threading.current_thread().name

    with ENCODERS.registered("SlowLoadingTest", SlowLoading):
        space = Space({"name": "t", "text": {"encoder": "SlowLoadingTest"}}, binding="none")
        thread = space.warm_in_background(Modality.TEXT)
        assert thread is not None
        thread.join(5)
        enc = space.encoder(Modality.TEXT)
        assert enc.loaded_on == thread.name != threading.current_thread().name
        assert space.warm_in_background(Modality.IMAGE) is None  # no such encoder in the profile

        inner = SlowLoading()
        BoundEncoder(inner, binding=None, modality=Modality.TEXT).warm()  # type: ignore[arg-type]
        assert inner.loaded_on == threading.current_thread().name
