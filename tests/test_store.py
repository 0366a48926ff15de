"""The LanceDB store: exact search below the ANN threshold, an ANN index above it, upserts."""

from __future__ import annotations

import numpy as np

from xmodal.store import Eq
from xmodal.store.lance import LanceStore


def _records(vectors: np.ndarray, prefix: str = "i", modality: str = "image") -> list[dict]:
    return [
        dict(id=f"{prefix}{i}", path=f"/m/{prefix}{i}", modality=modality, content_hash=str(i), mtime=0.0, size=1,
             duration=None, pages=None, text=f"item {i}", segments="[]", tokens=b"", n_tokens=0, meta="{}", vector=v)
        for i, v in enumerate(vectors)
    ]


def _unit(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_search_matches_numpy_and_sees_new_writes(tmp_path):
    store = LanceStore(tmp_path, dim=16)
    vecs = _unit(300, 16, 0)
    store.upsert(_records(vecs))
    store.finalize()
    q = vecs[7]
    expected = [f"i{i}" for i in np.argsort(-(vecs @ q))[:5]]
    assert [r["id"] for r in store.vector_search(q, 5)] == expected
    store.upsert(_records(q[None], prefix="new"))  # an exact copy of the query arrives
    hits = store.vector_search(q, 2)
    assert {h["id"] for h in hits} == {"i7", "new0"} and abs(hits[0]["_score"] - 1.0) < 1e-5


def test_ann_index_is_built_past_the_threshold_and_keeps_recall(tmp_path):
    store = LanceStore(tmp_path, dim=16, ann_threshold=1000)
    vecs = _unit(1200, 16, 1)
    store.upsert(_records(vecs))
    store.finalize()
    assert any(ix.columns == ["vector"] for ix in store._table.list_indices())
    queries = _unit(20, 16, 2)
    recall = np.mean([
        len({r["id"] for r in store.vector_search(q, 10)} & {f"i{i}" for i in np.argsort(-(vecs @ q))[:10]}) / 10
        for q in queries
    ])
    assert recall >= 0.9


def test_filters_apply_on_both_search_paths(tmp_path):
    store = LanceStore(tmp_path, dim=16)
    store.upsert(_records(_unit(50, 16, 3)) + _records(_unit(50, 16, 4), prefix="a", modality="audio"))
    store.finalize()
    hits = store.vector_search(_unit(1, 16, 5)[0], 10, Eq("modality", "audio"))
    assert len(hits) == 10 and {h["modality"] for h in hits} == {"audio"}
    ann = LanceStore(tmp_path / "ann", dim=16, ann_threshold=1000)
    ann.upsert(_records(_unit(600, 16, 6)) + _records(_unit(600, 16, 7), prefix="a", modality="audio"))
    ann.finalize()
    assert any(ix.columns == ["vector"] for ix in ann._table.list_indices())
    hits = ann.vector_search(_unit(1, 16, 8)[0], 10, Eq("modality", "audio"))
    assert len(hits) == 10 and {h["modality"] for h in hits} == {"audio"}
    assert store.modality_counts() == {"audio": 50, "image": 50}
