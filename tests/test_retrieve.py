"""Hybrid retrieval: word matches help, but never bury items that carry no text."""

from __future__ import annotations

import numpy as np

from xmodal.retrieve import HybridRetriever


class FakeStore:
    """Items with fixed cosines to the query and fixed BM25 scores."""

    def __init__(self, cos: dict[str, float], bm25: dict[str, float]):
        self.cos, self.bm25 = cos, bm25
        self.vectors = {}  # an item's stored vector, where it differs from (its cosine, 0)

    def _vector(self, i):
        return self.vectors.get(i, np.array([self.cos.get(i, 0.0), 0.0]))

    def vector_search(self, vector, k, filter=None, with_tokens=False):
        ids = sorted(self.cos, key=lambda i: -self.cos[i])[:k]
        return [{"id": i, "_score": self.cos[i]} for i in ids]

    def text_search(self, query, k, filter=None, with_tokens=False):
        ids = sorted(self.bm25, key=lambda i: -self.bm25[i])[:k]
        return [{"id": i, "_score": self.bm25[i], **({"vector": self._vector(i)} if with_tokens else {})} for i in ids]

    def get(self, ids, with_tokens=False):
        return [{"id": i, "vector": self._vector(i)} for i in ids]


def ranked(cos, bm25, **kw):
    r = HybridRetriever(FakeStore(cos, bm25), **kw)
    return [h["id"] for h in r.retrieve(np.array([1.0, 0.0]), "query words", k=10)]


def test_clearly_better_picture_stays_above_word_matches():
    cos = {"picture": 0.80, "note": 0.50, "caption": 0.55}
    bm25 = {"note": 9.0, "caption": 4.0}  # the picture has no text at all
    assert ranked(cos, bm25)[0] == "picture"


def test_word_match_settles_a_close_call():
    cos = {"picture": 0.80, "note": 0.76}
    bm25 = {"note": 5.0}
    assert ranked(cos, bm25)[:2] == ["note", "picture"]


def test_lexical_only_hit_needs_some_similarity():
    cos = {"picture": 0.8}
    bm25 = {"unrelated": 9.0, "related": 3.0}
    store = FakeStore(cos, bm25)
    store.vectors = {"related": np.array([0.3, 0.0]), "unrelated": np.array([-0.2, 0.0])}
    out = [h["id"] for h in HybridRetriever(store).retrieve(np.array([1.0, 0.0]), "q", k=10)]
    assert "related" in out and "unrelated" not in out


def test_no_text_query_means_vector_order():
    r = HybridRetriever(FakeStore({"a": 0.2, "b": 0.9}, {"a": 9.0}))
    assert [h["id"] for h in r.retrieve(np.array([1.0, 0.0]), None, k=2)] == ["b", "a"]
