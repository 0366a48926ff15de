"""Model selection shared by the trainers: one metrics module (the numbers did not move when
the trainers started using it) and one validation split by caption group (no leak)."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from xmodal.eval.metrics import ndcg_at, query_metrics, recall_at, reciprocal_rank, success_at
from xmodal.rerank.base import Candidate, RerankQuery, fuse_scores
from xmodal.train.split import caption_key, split_by_caption
from xmodal.types import Embedding, Media, Modality, Segment

pytest.importorskip("torch")


# ----------------------------------------------------------------------------- metrics
def test_metric_formulas_on_a_hand_checked_ranking():
    gains = np.array([0.0, 2.0, 0.0, 1.0, 0.0])  # relevant at ranks 2 (grade 2) and 4 (grade 1)
    assert success_at(gains, 1) == 0.0 and success_at(gains, 2) == 1.0
    assert recall_at(gains, 3, 4) == pytest.approx(2 / 3)  # a third relevant item was never retrieved
    assert reciprocal_rank(gains) == 0.5 and reciprocal_rank(gains, 1) == 0.0
    ideal = 2 + 1 / math.log2(3)
    assert ndcg_at(gains, [2, 1], 10) == pytest.approx((2 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert reciprocal_rank(np.zeros(3)) == 0.0 and ndcg_at(np.zeros(3), [1], 10) == 0.0


def _bind_rank_metrics_before(d, vecs, texts, k=10):
    """train/bind.py's rank_metrics as it was before the metrics were shared (reference)."""
    per = {}
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    for s in range(len(d.sources)):
        ts = [int(t) for t in texts if d.text_source[t] == s]
        if not ts:
            continue
        items = np.flatnonzero(d.item_source == s)
        order = np.argsort(-(d.text_vecs[ts] @ vecs[items].T), axis=1)
        m = per.setdefault(d.sources[s], {"nDCG@10": [], "MRR": [], "R@1": [], "R@10": []})
        for row, t in enumerate(ts):
            rel = d.rel[t]
            hit = np.isin(items[order[row]], list(rel))
            first = int(np.argmax(hit))
            m["MRR"].append(1.0 / (first + 1))
            m["R@1"].append(float(hit[0]))
            m["R@10"].append(float(hit[:k].sum()) / len(rel))
            ideal = disc[: min(len(rel), k)].sum()
            m["nDCG@10"].append(float((hit[:k] * disc).sum() / ideal))
    return {src: {name: float(np.mean(v)) for name, v in m.items()} for src, m in per.items()}


def _pair_data(name: str, captions: list[str], per: int = 2, seed: int = 0, dim: int = 16):
    from xmodal.train.pairs import Features, PairData, PairSource

    rng = np.random.default_rng(seed)
    n = len(captions) * per
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    feats = Features(bridge=unit(rng.normal(size=(n, dim))).astype(np.float32),
                     pooled=rng.normal(size=(n, 8)).astype(np.float32),
                     tokens=np.zeros((n, 1, 8), np.float16), n_tokens=np.ones(n, np.int32),
                     gate=np.ones(n, np.float32), ok=np.ones(n, bool),
                     text_vecs=unit(rng.normal(size=(len(captions), dim))).astype(np.float32))
    pairs = [(t, t * per + j) for t in range(len(captions)) for j in range(per)]
    return PairData(PairSource(name, f"fp-{name}", captions, [f"i{i}" for i in range(n)], pairs), feats)


def test_binding_trainer_metrics_are_unchanged():
    from xmodal.train.bind import _assemble, rank_metrics

    d = _assemble([_pair_data("a", [f"caption {i}" for i in range(40)], per=3, seed=1),
                   _pair_data("b", [f"other {i}" for i in range(25)], per=1, seed=2)], need_tokens=False)
    texts = np.arange(len(d.text_vecs))
    assert rank_metrics(d, d.bridge, texts) == _bind_rank_metrics_before(d, d.bridge, texts)
    # and on a fixed ranking, the values themselves: one text, its 2 items at ranks 1 and 3
    d1 = _assemble([_pair_data("c", ["only"], per=2, seed=3)], need_tokens=False)
    d1.bridge = np.array([[1.0] + [0.0] * 15, [0.0] * 16, [0.5] + [0.0] * 15], np.float32)  # ranks items 0, 2, 1
    d1.item_source = np.zeros(3, int)
    d1.text_vecs = np.array([[1.0] + [0.0] * 15], np.float32)
    got = rank_metrics(d1, d1.bridge, np.array([0]))["c"]
    assert got == {"nDCG@10": pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))),
                   "MRR": 1.0, "R@1": 1.0, "R@10": 1.0}


def _reranker_list_metrics_before(data, which, scores, weight=1.0):
    """train/rerank.py's list_metrics as it was before the metrics were shared (reference)."""
    r1 = r5 = r10 = mrr = 0.0
    for j, i in enumerate(which):
        lst = data.lists[i]
        if len(lst.first) == 0:
            continue
        s = lst.first if scores is None else fuse_scores(lst.first, scores[j], weight)
        order = np.argsort(-np.asarray(s), kind="stable")
        lab = lst.labels[order]
        r1 += float(lab[:1].any())
        r5 += float(lab[:5].any())
        r10 += float(lab[:10].any())
        hits = np.nonzero(lab[:10])[0]
        mrr += 1.0 / (hits[0] + 1) if len(hits) else 0.0
    n = max(len(which), 1)
    return {"R@1": r1 / n, "R@5": r5 / n, "R@10": r10 / n, "MRR@10": mrr / n}


def test_reranker_trainer_metrics_are_unchanged():
    from xmodal.train.rerank import ListSet, TrainList, list_metrics

    rng = np.random.default_rng(0)
    data = ListSet()
    for n in range(50):
        size = 0 if n == 7 else int(rng.integers(5, 40))  # one list came back empty
        labels = (rng.random(size) < 0.08).astype(np.float32)
        data.lists.append(TrainList(f"q{n}", "g", np.zeros((1, 4)), np.zeros(1), [], [], np.zeros((size, 1)),
                                    rng.random(size).astype(np.float32), labels, int(labels.sum())))
    which = list(range(50))
    scores = [rng.normal(size=len(lst.first)) for lst in data.lists]
    for sc, w in ((None, 1.0), (scores, 0.35), (scores, 1.0)):
        assert list_metrics(data, which, sc, w) == _reranker_list_metrics_before(data, which, sc, w)
    one = ListSet()
    one.lists.append(TrainList("q", "g", np.zeros((1, 4)), np.zeros(1), [], [], np.zeros((12, 1)),
                               np.linspace(1, 0, 12).astype(np.float32), np.eye(12, dtype=np.float32)[6], 1))
    assert list_metrics(one, [0], None) == {"R@1": 0.0, "R@5": 0.0, "R@10": 1.0, "MRR@10": pytest.approx(1 / 7)}


def test_evaluation_metrics_use_the_same_formulas():
    m = query_metrics({"a": 2, "b": 1, "z": 1}, ["x", "a", "y", "b"], ks=(1, 5))
    gains = np.array([0.0, 2.0, 0.0, 1.0])
    assert m["R@1"] == success_at(gains, 1) and m["R@5"] == success_at(gains, 5)
    assert m["MRR@10"] == reciprocal_rank(gains, 10) and m["nDCG@10"] == ndcg_at(gains, [2, 1, 1], 10)
    assert m["BEIR-Recall@5"] == recall_at(gains, 3, 5)


# ----------------------------------------------------------------------------- the split
def test_caption_groups_are_joined_across_examples():
    keys = [["frog"], ["frog", "blackbird"], ["blackbird"], ["drum"], []]
    sides = set()
    for seed in range(20):
        train, val = split_by_caption(keys, 0.5, seed)
        assert sorted(train + val) == list(range(5))
        assert len({0, 1, 2} & set(val)) in (0, 3)  # one group, joined through "frog" and "blackbird"
        sides.add(0 in val)
    assert sides == {True, False}  # the seed moves groups
    named = keys[:4]  # the order examples arrive in does not move them
    for seed in range(5):
        val, val_reversed = split_by_caption(named, 0.5, seed)[1], split_by_caption(named[::-1], 0.5, seed)[1]
        assert sorted(3 - i for i in val_reversed) == val
    assert caption_key("A Frog!") == caption_key("frog") == "frog"


def _lists_with_shared_captions():
    """A t2i list per caption (the caption is the query) and an i2t list per caption (an image
    query whose relevant text item is the caption, written differently): the two tasks share
    caption groups, as the tuxpaint sets do."""
    from xmodal.train.rerank import ListSet

    rng = np.random.default_rng(0)
    dim = 8
    data = ListSet()
    captions = [f"A picture of thing number {i}." for i in range(60)]

    def cand(i: int) -> Candidate:
        return Candidate(id=f"c{i}", path=f"/x/c{i}", modality=Modality.IMAGE, text="", vector=rng.normal(size=dim).astype(np.float32),
                         tokens=rng.normal(size=(2, dim)).astype(np.float32), segments=[Segment("region", index=0), Segment("region", index=1)],
                         first_stage_score=float(rng.random()), first_stage_rank=i + 1)

    def query(text: str | None) -> RerankQuery:
        v = rng.normal(size=dim).astype(np.float32)
        part = Media(Modality.TEXT, text=text) if text else Media(Modality.IMAGE)
        return RerankQuery(text=text, parts=[part], embeddings=[Embedding(vector=v, tokens=v[None], segments=[Segment("token", index=0)])], vector=v)

    for n, cap in enumerate(captions):
        data.add(f"t2i-{n}", "tuxpaint-t2i", query(cap), [cand(i) for i in range(4)], {"c0": 1}, captions=[cap])
        data.add(f"i2t-{n}", "tuxpaint-i2t", query(None), [cand(i) for i in range(4)], {"c1": 1},
                 captions=["", cap.lower().rstrip(".")])
    return data


def test_reranker_validation_never_sees_a_training_caption():
    from xmodal.train.rerank import split_val

    data = _lists_with_shared_captions()
    for seed in range(3):
        train, val = split_val(data.lists, 0.2, seed)
        assert train and val and sorted(train + val) == list(range(len(data.lists)))
        seen = {k for i in train for k in data.lists[i].captions}
        assert not any(k in seen for i in val for k in data.lists[i].captions), "a caption on both sides"
        assert {data.lists[i].group for i in val} == {"tuxpaint-t2i", "tuxpaint-i2t"}

    # the split it replaced (by query id) leaked on exactly this data: a t2i training caption
    # came back as an i2t validation list
    def by_query_id(lst) -> bool:
        return int(hashlib.sha1(f"0:{lst.group}:{lst.qid}".encode()).hexdigest()[:8], 16) % 10_000 < 2000

    old_val = [i for i, lst in enumerate(data.lists) if by_query_id(lst)]
    old_seen = {k for i, lst in enumerate(data.lists) if i not in old_val for k in lst.captions}
    assert any(k in old_seen for i in old_val for k in data.lists[i].captions)


def test_binding_validation_groups_captions_across_sources():
    from xmodal.train.bind import _assemble, _split_texts

    a = [f"A photo of object {i}." for i in range(50)]
    b = [c.upper().rstrip(".") for c in a[:30]] + [f"something else {i}" for i in range(10)]  # same captions, other source
    d = _assemble([_pair_data("a", a, seed=1), _pair_data("b", b, seed=2)], need_tokens=False)
    train, val = _split_texts(d, 0.25, 0)
    assert len(train) and len(val) and len(train) + len(val) == len(a) + len(b)
    side = {}
    for t in train:
        side[caption_key(d.texts[t])] = "train"
    assert not any(side.get(caption_key(d.texts[t])) == "train" for t in val)
    assert 0.1 < len(val) / (len(train) + len(val)) < 0.4
