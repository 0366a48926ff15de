"""Learned bindings: training on cached features, the artifact, and its use by Space and Index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest

import xmodal
from mediagen import make_image
from xmodal.bind import Binding, BindingError, load_binding
from xmodal.bind.artifact import MODALITY_FEATURES
from xmodal.train.pairs import Features, PairData, PairSource
from xmodal.encode import ENCODERS, Encoder, l2_normalize
from xmodal.space import Space
from xmodal.errors import IndexMismatchError
from xmodal.types import Embedding, Media, Modality, Segment

pytest.importorskip("torch")

DIM, D_IN = 32, 24


def _synthetic(n_concepts: int = 80, per: int = 2, seed: int = 0) -> tuple[PairData, np.ndarray]:
    """Texts are random unit vectors; an item's native features are a fixed random linear image
    of its text vector plus noise, and its bridge vector is mostly noise: a head can learn the
    map, the bridge alone ranks poorly."""
    rng = np.random.default_rng(seed)
    texts = l2_normalize(rng.normal(size=(n_concepts, DIM)))
    A = rng.normal(size=(DIM, D_IN))
    items, pairs = [], []
    for t in range(n_concepts):
        for _ in range(per):
            pairs.append((t, len(items)))
            items.append(t)
    owner = np.array(items)
    pooled = (texts[owner] @ A + 0.3 * rng.normal(size=(len(owner), D_IN))).astype(np.float32)
    bridge = l2_normalize(0.3 * texts[owner] + rng.normal(size=(len(owner), DIM)) / np.sqrt(DIM))
    tokens = (pooled[:, None, :] + 0.1 * rng.normal(size=(len(owner), 4, D_IN))).astype(np.float16)
    feats = Features(bridge=bridge, pooled=pooled, tokens=tokens, n_tokens=np.full(len(owner), 4, np.int32),
                     gate=np.ones(len(owner), np.float32), ok=np.ones(len(owner), bool), text_vecs=texts)
    src = PairSource("synthetic", "fp0", [f"t{i}" for i in range(n_concepts)], [f"i{i}" for i in range(len(owner))], pairs)
    return PairData(src, feats), owner


def _recall10(text_vecs: np.ndarray, item_vecs: np.ndarray, owner: np.ndarray) -> float:
    top = np.argsort(-(text_vecs @ item_vecs.T), axis=1)[:, :10]
    return float(np.mean([np.mean(np.isin(np.flatnonzero(owner == t), top[t])) for t in range(len(text_vecs))]))


def _embeddings(data: PairData) -> list[Embedding]:
    f = data.feats
    return [Embedding(vector=f.bridge[i].copy(), tokens=np.zeros((0, DIM), np.float32), segments=[],
                      native={"effnet": f.pooled[i], "effnet_regions": f.tokens[i].astype(np.float32)})
            for i in range(len(f.bridge))]


@pytest.fixture(scope="module")
def trained() -> tuple[Binding, dict[str, Any], PairData, np.ndarray]:
    from xmodal.train.bind import TrainConfig, fit_head

    data, owner = _synthetic()
    cfg = TrainConfig(epochs=25, batch_size=64, lr=5e-3, patience=25, seed=0)
    b, run = fit_head([data], "image", cfg, encoder_config={"encoder": "fake-image", "dim": DIM}, name="synthetic")
    return b, run, data, owner


@pytest.mark.slow
def test_training_reduces_loss_and_raises_recall(trained):
    b, run, data, owner = trained
    losses = [r["loss"] for r in run["history"]]
    assert losses[-1] < 0.7 * losses[0]
    before = _recall10(data.feats.text_vecs, data.feats.bridge, owner)
    after = _recall10(data.feats.text_vecs, np.stack([e.vector for e in b.apply("image", _embeddings(data))]), owner)
    assert after > before + 0.2, (before, after)
    assert run["val_R@10_binding_macro"] >= run["val_R@10_bridge_macro"]  # alpha is validated: never below the bridge
    assert b.heads["image"]["alpha"] > 0


@pytest.mark.slow
def test_numpy_inference_matches_torch(trained):
    """What training optimised (torch) is what indexing computes (numpy)."""
    import torch

    from xmodal.train.bind import _assemble, _item_vectors, _torch_model, TrainConfig

    b, _, data, _ = trained
    w = b.head_weights("image")
    cfg = TrainConfig(dropout=0.0, alpha_init=b.heads["image"]["alpha"])
    model = _torch_model("linear", D_IN, DIM, w["mu"], w["sd"], cfg)
    with torch.no_grad():
        model.lin.weight.copy_(torch.from_numpy(w["W"].T))
        model.lin.bias.copy_(torch.from_numpy(w["b"]))
    ref = _item_vectors(model, _assemble([data], False), "cpu", "linear")
    got = np.stack([e.vector for e in b.apply("image", _embeddings(data))])
    np.testing.assert_allclose(got, ref, atol=1e-4)


@pytest.mark.slow
def test_alpha_zero_is_the_bridge(trained):
    b, _, data, _ = trained
    embs = b.apply("image", _embeddings(data), alpha=0.0)
    np.testing.assert_allclose(np.stack([e.vector for e in embs]), data.feats.bridge, atol=1e-6)


@pytest.mark.slow
def test_artifact_round_trip(tmp_path, trained):
    b, _, data, _ = trained
    b.save(tmp_path / "b")
    cfg = json.loads((tmp_path / "b" / "binding.json").read_text())
    assert cfg["format"] == "xmodal-binding" and cfg["heads"]["image"]["kind"] == "linear"
    assert cfg["encoders"]["image"] == {"encoder": "fake-image", "dim": DIM}
    again = load_binding(tmp_path / "b")
    assert again.fingerprint() == b.fingerprint()
    one = np.stack([e.vector for e in b.apply("image", _embeddings(data))])
    two = np.stack([e.vector for e in again.apply("image", _embeddings(data))])
    np.testing.assert_array_equal(one, two)
    # a damaged folder is refused by name
    (tmp_path / "b" / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises(BindingError, match="weights"):
        load_binding(tmp_path / "b")
    with pytest.raises(BindingError, match="not a binding"):
        load_binding(tmp_path / "nowhere")


@pytest.mark.slow
def test_attention_head_trains_and_matches_numpy():
    from xmodal.train.bind import TrainConfig, fit_head

    data, owner = _synthetic(n_concepts=40, seed=1)
    cfg = TrainConfig(head="attn", epochs=6, batch_size=64, d_model=16, n_heads=2, n_queries=2, patience=10)
    b, run = fit_head([data], "image", cfg, name="attn")
    assert b.heads["image"]["kind"] == "attn"
    assert run["history"][-1]["loss"] < run["history"][0]["loss"]
    vecs = np.stack([e.vector for e in b.apply("image", _embeddings(data))])
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_mlp_head_trains_and_numpy_matches_torch():
    """The residual-MLP head: training beats the bridge, numpy inference equals the torch head it
    was trained as (regions included: a region goes through the same MLP)."""
    import torch

    from xmodal.train.bind import TrainConfig, _assemble, _item_vectors, _torch_model, fit_head

    data, owner = _synthetic(n_concepts=60, seed=2)
    cfg = TrainConfig(head="mlp", hidden=16, epochs=20, batch_size=64, lr=5e-3, patience=20)
    b, run = fit_head([data], "image", cfg, name="mlp")
    h = b.heads["image"]
    assert h["kind"] == "mlp" and h["hidden"] == 16 and h["alpha"] > 0
    assert run["val_R@10_binding_macro"] >= run["val_R@10_bridge_macro"]
    w = b.head_weights("image")
    assert np.abs(w["W2"]).max() > 0  # the MLP path was trained, not left at its zero start
    model = _torch_model("mlp", D_IN, DIM, w["mu"], w["sd"], TrainConfig(head="mlp", hidden=16, dropout=0.0,
                                                                        alpha_init=h["alpha"]))
    with torch.no_grad():
        for layer, (wk, bk) in ((model.lin, ("W", "b")), (model.fc1, ("W1", "b1")), (model.fc2, ("W2", "b2"))):
            layer.weight.copy_(torch.from_numpy(w[wk].T))
            layer.bias.copy_(torch.from_numpy(w[bk]))
    ref = _item_vectors(model, _assemble([data], False), "cpu", "mlp")
    embs = _embeddings(data)
    for e in embs:  # one region token per item: the pooled feature itself
        e.tokens = e.vector[None].astype(np.float32).copy()
        e.segments = [Segment(kind="region", index=0)]
        e.native["region_cells"] = np.array([0])
        e.native["effnet_regions"] = e.native["effnet"][None]
    got = np.stack([e.vector for e in b.apply("image", embs)])
    np.testing.assert_allclose(got, ref, atol=1e-4)
    np.testing.assert_allclose(np.stack([e.tokens[0] for e in embs]), ref, atol=1e-4)


# -------------------------------------------------------------------- Space / Index integration
class FakeImageEncoder(Encoder):
    """Vector from the mean colour; native features = colour statistics (stand-in for EfficientNet)."""

    modalities = frozenset({Modality.IMAGE})
    dim = DIM

    def __init__(self, variant: str = "a"):
        self.variant = variant

    def config(self) -> dict[str, Any]:
        return {"encoder": "fake-image", "dim": DIM, "variant": self.variant}

    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        from PIL import Image

        out = []
        for m in media:
            img = m.images[0] if m.images else Image.open(m.path)
            px = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
            stats = np.concatenate([px.mean((0, 1)), px.std((0, 1))])
            feat = np.resize(stats, D_IN).astype(np.float32)
            vec = l2_normalize(np.resize(np.concatenate([stats, [1.0]]), DIM))
            out.append(Embedding(vector=vec, tokens=vec[None], segments=[Segment("tags", text="x")],
                                 native={"effnet": feat, "effnet_regions": feat[None]}))
        return out


class FakeTextEncoder(Encoder):
    modalities = frozenset({Modality.TEXT})
    dim = DIM

    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        out = []
        for m in media:
            rng = np.random.default_rng(abs(hash(m.text)) % 2**32)
            v = l2_normalize(rng.normal(size=DIM))
            out.append(Embedding(vector=v, tokens=v[None], segments=[Segment("chunk")]))
        return out


@pytest.fixture(autouse=True)
def fake_encoders():
    with ENCODERS.registered("test-bind-image", FakeImageEncoder), ENCODERS.registered("test-bind-text", FakeTextEncoder):
        yield


PROFILE = {"name": "bind-test", "text": {"encoder": "test-bind-text"}, "image": {"encoder": "test-bind-image"}}


def _random_binding(name: str, seed: int, variant: str = "a") -> Binding:
    rng = np.random.default_rng(seed)
    spec = MODALITY_FEATURES["image"]
    w = {"image.mu": np.zeros(D_IN, np.float32), "image.sd": np.ones(D_IN, np.float32),
         "image.W": rng.normal(size=(D_IN, DIM)).astype(np.float32), "image.b": np.zeros(DIM, np.float32)}
    head = {"kind": "linear", "alpha": 1.0, "pooled": spec["pooled"], "tokens": spec["tokens"], "gate": None, "d_in": D_IN}
    return Binding(name=name, heads={"image": head}, weights=w,
                   encoders={"image": {"encoder": "fake-image", "dim": DIM, "variant": variant}})


def test_binding_for_another_encoder_config_is_refused(tmp_path):
    _random_binding("other", 0, variant="b").save(tmp_path / "b")
    space = Space(PROFILE, binding=tmp_path / "b")
    with pytest.raises(IndexMismatchError, match="variant"):
        space.encoder(Modality.IMAGE)
    with pytest.raises(IndexMismatchError):
        xmodal.open(tmp_path / "idx", PROFILE, binding=tmp_path / "b")


def test_space_applies_binding_and_fingerprints_it(tmp_path):
    _random_binding("one", 0).save(tmp_path / "b")
    plain, bound = Space(PROFILE), Space(PROFILE, binding=tmp_path / "b")
    img = make_image(tmp_path / "x.png", size=(16, 16), color=(200, 40, 40))
    m = Media(Modality.IMAGE, path=str(img))
    v0, v1 = plain.embed([m])[0].vector, bound.embed([m])[0].vector
    assert not np.allclose(v0, v1) and abs(np.linalg.norm(v1) - 1) < 1e-5
    assert "binding" in bound.fingerprint() and "binding" not in plain.fingerprint()
    # text is the anchor: untouched
    t = Media(Modality.TEXT, text="hello")
    np.testing.assert_array_equal(plain.embed([t])[0].vector, bound.embed([t])[0].vector)


def test_index_records_binding_and_rejects_another(tmp_path):
    _random_binding("one", 0).save(tmp_path / "b1")
    _random_binding("two", 1).save(tmp_path / "b2")
    img = make_image(tmp_path / "media" / "red.png", size=(16, 16), color=(220, 20, 20))
    idx = xmodal.open(tmp_path / "idx", PROFILE, binding=tmp_path / "b1")
    assert idx.add([img]).added
    assert idx.manifest["binding"]["fingerprint"]["name"] == "one"
    again = xmodal.open(tmp_path / "idx")  # no binding given: the recorded one is re-created
    assert again.space.binding is not None and again.space.binding.name == "one"
    hit = again.search(file=img, k=1)[0]
    assert hit.score > 0.999  # the query went through the same head as the indexed item
    with pytest.raises(IndexMismatchError, match="binding"):
        xmodal.open(tmp_path / "idx", binding=tmp_path / "b2")
    # the binding folder replaced by another version of itself (an upgraded default): say so
    _random_binding("one", 7).save(tmp_path / "b1")
    with pytest.raises(IndexMismatchError, match="another version of binding 'one'.*Re-index"):
        xmodal.open(tmp_path / "idx")
    plain = tmp_path / "plain"
    xmodal.open(plain, PROFILE)
    with pytest.raises(IndexMismatchError, match="binding"):
        xmodal.open(plain, binding=tmp_path / "b1")


def test_profile_names_its_binding_and_none_turns_it_off(tmp_path):
    _random_binding("profiled", 0).save(tmp_path / "b")
    profile = {**PROFILE, "name": "bound-profile", "binding": str(tmp_path / "b")}
    assert Space(profile).binding.name == "profiled"  # the profile's own binding, unasked
    assert Space(profile, binding="none").binding is None
    assert Space(profile, binding="NONE").fingerprint() == Space(PROFILE | {"name": "bound-profile"}).fingerprint()
    # an index built without a binding reopens without one, even under a profile that binds
    img = make_image(tmp_path / "media" / "blue.png", size=(16, 16), color=(20, 20, 220))
    bare = xmodal.open(tmp_path / "bare", profile, binding="none")
    assert bare.add([img]).added
    again = xmodal.open(tmp_path / "bare")
    assert again.space.binding is None and again.search(file=img, k=1)[0].score > 0.999


def test_offline_default_profile_uses_the_shipped_binding():
    from xmodal.bind import default_binding_path
    from xmodal.space import PROFILES

    assert PROFILES["default"]["binding"] == "default"
    shipped = load_binding("default")
    assert shipped.path.resolve() == Path(default_binding_path()).resolve()
    assert shipped.has_head(Modality.IMAGE)  # the learned image head the offline default relies on
