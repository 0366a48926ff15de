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


def test_searches_are_answered_while_the_ann_index_builds(tmp_path, monkeypatch):
    """The ANN build runs in a child process (store/ann_build.py): a search on another thread
    never waits for it. Here the child holds off its build until this test's searches have been
    answered, so the test proves they were answered while the build was in flight; a build run
    inside this process (where Lance's build starved the query threads) fails the test."""
    import sys
    import threading

    from xmodal.store import ann_build

    gate = tmp_path / "go"
    waiting_child = ("import os, runpy, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.02)\n"
                     "sys.argv = sys.argv[:1]\nrunpy.run_module('xmodal.store.ann_build', run_name='__main__')")
    monkeypatch.setattr(ann_build, "CHILD", [sys.executable, "-c", waiting_child, str(gate)])
    store = LanceStore(tmp_path / "idx", dim=16, ann_threshold=1000)
    vecs = _unit(1200, 16, 9)
    store.upsert(_records(vecs))
    store.ann_threshold = 10_000  # full-text and id indices now, the vector index below
    store.finalize()
    store.ann_threshold = 1000
    queries = vecs[:20]
    before = [[r["id"] for r in store.vector_search(q, 10)] for q in queries]  # a scan: exact
    builder = threading.Thread(target=store.build_vector_index)
    builder.start()
    during = [[r["id"] for r in store.vector_search(q, 10)] for q in queries]
    texts = store.text_search("item", 5)
    assert builder.is_alive(), "the build finished before the gate opened: it did not run in the child"
    gate.touch()
    builder.join(timeout=300)
    assert not builder.is_alive()
    assert during == before and len(texts) == 5
    assert store.vector_index_stats()["indexed_rows"] == 1200  # this store sees the new index at once
    after = [[r["id"] for r in store.vector_search(q, 10)] for q in queries]
    assert [a[0] for a in after] == [f"i{i}" for i in range(20)]  # each vector finds itself first
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(after, before)]) >= 0.9


def test_a_failed_ann_build_is_one_clear_error_and_the_store_stays_searchable(tmp_path, monkeypatch):
    import sys

    import pytest

    from xmodal.store import ann_build

    monkeypatch.setattr(ann_build, "CHILD", [sys.executable, "-c", "import sys; sys.exit('no room left on the disk')"])
    store = LanceStore(tmp_path, dim=16, ann_threshold=100)
    vecs = _unit(150, 16, 10)
    store.upsert(_records(vecs))
    with pytest.raises(RuntimeError, match="vector index build failed.*no room left on the disk"):
        store.build_vector_index()
    assert store.vector_index_stats() is None
    assert store.vector_search(vecs[3], 1)[0]["id"] == "i3"


# Threads (and, the same way, processes) opening one new index at once, in a fresh interpreter so
# that lancedb's import races too: a thread used to get the half-imported module ("partially
# initialized module 'lancedb'"), and the losers of the table's first commit Lance's "commit
# conflict" or "Table 'items' was not found" (3 writers into one new S3 index: exit 1).
RACE = """
import sys, tempfile, threading
from xmodal.store.lance import LanceStore
errors, opened = [], []
for _ in range(int(sys.argv[1])):
    folder = tempfile.mkdtemp(dir=sys.argv[2])
    start = threading.Barrier(6)
    def open_it():
        start.wait()
        try:
            opened.append(LanceStore(folder + "/idx", dim=8).count())
        except Exception as exc:
            errors.append(repr(exc)[:300])
    threads = [threading.Thread(target=open_it) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
print(len(opened), sorted(set(errors)))
"""


def test_one_new_index_opened_by_many_at_once_opens_for_all(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", RACE, "20", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "120 []"
