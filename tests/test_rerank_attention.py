"""The cross-modal attention reranker: training beats the first stage, artifacts round-trip,
explanations point inside the item, the engine hook works, bad artifacts fail clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import xmodal
from mediagen import make_image, make_text
from xmodal.errors import IndexMismatchError, ModelUnavailable
from xmodal.rerank import RERANKERS, Candidate, RerankQuery
from xmodal.rerank.attention import DEFAULT_DIR, AttentionReranker, load_artifact, save_artifact
from xmodal.rerank.base import fuse_scores
from xmodal.space import Space
from xmodal.train.rerank import MIN_PAIR_VAL_LISTS, FitConfig, ListSet, choose_pair_weights, fit, list_metrics, score_lists
from xmodal.types import Embedding, Media, Modality, Segment

DIM = 32


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _synthetic_list(rng: np.random.Generator, n_cands: int = 12):
    """A text query whose concept is planted in ONE region of the relevant image; the first
    stage barely prefers it (cosines are mostly noise), so only looking inside helps."""
    concept = _unit(rng.normal(size=DIM))
    q_tokens = _unit(np.stack([concept + 0.1 * rng.normal(size=DIM), rng.normal(size=DIM), rng.normal(size=DIM)]))
    query = RerankQuery(
        text="the planted thing",
        parts=[Media(Modality.TEXT, text="the planted thing")],
        embeddings=[Embedding(vector=_unit(concept + rng.normal(size=DIM)), tokens=q_tokens,
                              segments=[Segment("token", index=i, text=w) for i, w in enumerate(["planted", "thing", "the"])])],
        vector=_unit(concept + rng.normal(size=DIM)),
    )
    pos = int(rng.integers(n_cands))
    planted = int(rng.integers(9))
    cands = []
    for i in range(n_cands):
        regions = _unit(rng.normal(size=(9, DIM)))
        if i == pos:
            regions[planted] = _unit(concept + 0.1 * rng.normal(size=DIM))
        boxes = [((c % 3) / 3, (c // 3) / 3, (c % 3 + 1) / 3, (c // 3 + 1) / 3) for c in range(9)]
        segs = [Segment("region", index=c, box=b) for c, b in enumerate(boxes)] + [Segment("tags", index=9, text="thing 0.5")]
        cands.append(Candidate(
            id=f"c{i}", path=f"/x/c{i}.png", modality=Modality.IMAGE, text="",
            vector=_unit(rng.normal(size=DIM)), tokens=np.concatenate([regions, _unit(rng.normal(size=(1, DIM)))]),
            segments=segs, first_stage_score=float(rng.uniform(0.3, 0.5) + (0.03 if i == pos else 0.0)),
        ))
    order = sorted(range(n_cands), key=lambda i: -cands[i].first_stage_score)
    cands = [cands[i] for i in order]
    for r, c in enumerate(cands, 1):
        c.first_stage_rank = r
    return query, cands, {f"c{pos}": 1}, planted


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    rng = np.random.default_rng(0)
    data = ListSet()
    examples = [_synthetic_list(rng) for _ in range(60)]
    for n, (q, cands, rel, _) in enumerate(examples):
        data.add(f"q{n}", "synthetic", q, cands, rel)
    model, weight, metrics = fit(data, FitConfig(epochs=15, group=8, lr=3e-3, val_frac=0.0, seed=0),
                                 {"d": 32, "heads": 2})
    out = save_artifact(model, tmp_path_factory.mktemp("art") / "reranker", weight, {"training": {"fingerprint": "synthetic"}, "metrics": metrics})
    return data, model, weight, metrics, out, examples


@pytest.mark.slow
def test_trained_reranker_beats_first_stage_on_its_set(trained):
    data, _, weight, metrics, out, examples = trained
    every = list(range(len(data.lists)))
    first = list_metrics(data, every, None)
    rr = AttentionReranker(out)  # through the saved artifact, as a user would load it
    scores = [np.array([s.score for s in rr.rerank(q, c)]) for q, c, _, _ in examples]
    after = list_metrics(data, every, scores, rr.fusion_weight)
    assert first["R@1"] < 0.6
    assert after["R@1"] >= first["R@1"] + 0.25, (first, after, metrics["history"][-3:])
    assert after["MRR@10"] > first["MRR@10"]


@pytest.mark.slow
def test_fusion_weight_per_modality_pair(trained):
    data, model, _, metrics, out, _ = trained
    pw = metrics["pair_weights"]
    assert set(pw) == {"text->image"} and pw["text->image"]["val_lists"] == len(data.lists)
    rr = AttentionReranker(out)
    assert rr.weight_for(Modality.TEXT, Modality.IMAGE) == pw["text->image"]["weight"] > 0
    assert rr.weight_for(Modality.AUDIO, Modality.IMAGE) == rr.fusion_weight  # a pair never validated
    # too few validation lists to trust the reranker on a pair: the first stage decides there
    few = list(range(MIN_PAIR_VAL_LISTS - 1))
    assert choose_pair_weights(data, few, score_lists(model, data, few))["text->image"]["weight"] == 0.0
    # one weight per item: the first item keeps its first-stage score, the second its reranker score
    assert list(fuse_scores([1.0, 0.0], [0.0, 1.0], [0.0, 1.0])) == [1.0, 1.0]


@pytest.mark.slow
def test_artifact_round_trips(trained):
    data, model, weight, _, out, examples = trained
    meta = json.loads((out / "reranker.json").read_text())
    assert meta["format"] == "xmodal-rerank-attention" and meta["version"] >= 1
    assert meta["fusion_weight"] == pytest.approx(weight)
    loaded, _ = load_artifact(out)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name
    q, cands, _, _ = examples[0]
    s1 = [s.score for s in AttentionReranker(out).rerank(q, cands)]
    s2 = [s.score for s in AttentionReranker(out).rerank(q, cands)]
    assert s1 == s2


@pytest.mark.slow
def test_explanations_point_inside_the_item(trained):
    _, _, _, _, out, examples = trained
    rr = AttentionReranker(out)
    found = 0
    for q, cands, rel, planted in examples[:20]:
        for c, s in zip(cands, rr.rerank(q, cands)):
            assert s.segment is not None and s.segment.kind == "region"  # never the tags row
            x0, y0, x1, y1 = s.segment.box
            assert 0.0 <= x0 <= x1 <= 1.0 and 0.0 <= y0 <= y1 <= 1.0
            if c.id in rel:
                found += s.segment.index == planted
    assert found >= 10  # attention lands on the planted region for most relevant items

    # audio windows and video frames: the time span lies within the item, even when a stored
    # segment runs past the end
    rng = np.random.default_rng(1)
    q, cands, _, _ = _synthetic_list(rng, 3)
    timed = Candidate(id="a", path="/x/a.wav", modality=Modality.AUDIO, text="", vector=cands[0].vector,
                      tokens=_unit(rng.normal(size=(3, DIM))),
                      segments=[Segment("window", index=0, start=0.0, end=2.0), Segment("window", index=1, start=2.0, end=4.0),
                                Segment("window", index=2, start=-1.0, end=9.5)], first_stage_score=0.4, first_stage_rank=1)
    for s in rr.rerank(q, [timed]):
        assert s.segment is not None and 0.0 <= s.segment.start <= s.segment.end <= 9.5


@pytest.mark.slow
def test_missing_or_corrupt_artifact_fails_clearly(tmp_path, trained):
    with pytest.raises(ModelUnavailable, match="not an attention-reranker artifact"):
        AttentionReranker(tmp_path / "nowhere")
    out = trained[4]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "reranker.json").write_text((out / "reranker.json").read_text())
    (bad / "weights.npz").write_bytes((out / "weights.npz").read_bytes()[:200])  # truncated
    with pytest.raises(ModelUnavailable, match="corrupt or incompatible"):
        AttentionReranker(bad)
    (bad / "reranker.json").write_text("{not json")
    with pytest.raises(ModelUnavailable, match="unreadable"):
        AttentionReranker(bad)
    # a reranker for another space refuses a query of the wrong size
    rr = AttentionReranker(out)
    q, cands, _, _ = _synthetic_list(np.random.default_rng(2), 2)
    q.vector = np.zeros(DIM * 2, np.float32)
    with pytest.raises(ModelUnavailable, match="-d vectors"):
        rr.rerank(q, cands)


def test_shipped_default_is_small_and_loads():
    size = sum(f.stat().st_size for f in DEFAULT_DIR.iterdir())
    assert size < 5_000_000
    meta = json.loads((DEFAULT_DIR / "reranker.json").read_text())
    assert 0.0 <= meta["fusion_weight"] <= 1.0 and meta["training"]["fingerprint"]
    assert all(s["split"] != "test" for s in meta["training"]["sources"])
    reranker = RERANKERS.create("attention")
    assert isinstance(reranker, AttentionReranker)
    # it records the space it serves: the offline default profile with the shipped binding, as
    # that profile embeds today (a changed encoder setting or binding must re-record or retrain it)
    assert meta["space"]["binding"]["name"] == "xmodal-default"
    reranker.check_space(Space("default").fingerprint())


PROFILE = {"name": "test-text-image", "text": {"encoder": "minilm-int8"}, "image": {"encoder": "conse-effnet", "args": {"ocr": False}}}


@pytest.mark.slow
def test_reranker_refuses_an_index_of_another_space(tmp_path):
    make_text(tmp_path / "media" / "violin.txt", "The violin is a string instrument played with a bow.")
    idx = xmodal.open(tmp_path / "idx", PROFILE)  # no OCR, no binding: not the shipped reranker's space
    idx.add([tmp_path / "media"])
    with pytest.raises(IndexMismatchError, match=r"trained in another space.*image\.ocr.*binding \(xmodal-default vs none\)"):
        idx.search("a string instrument", k=2, rerank="attention")
    assert idx.search("a string instrument", k=2)  # the index itself is untouched


@pytest.mark.slow
def test_artifact_space_record_is_checked(tmp_path, trained):
    _, model, weight, metrics, _, _ = trained
    space = Space(PROFILE).fingerprint()
    out = save_artifact(model, tmp_path / "r", weight, {"metrics": metrics}, space=space)
    rr = AttentionReranker(out)
    rr.check_space(json.loads(json.dumps(space)))  # its own space, as read back from an index manifest
    rr.check_space({**space, "profile": "renamed"})  # the profile's name does not decide the vectors
    other = json.loads(json.dumps(space))
    other["encoders"]["image"]["top_k"] = 5
    with pytest.raises(IndexMismatchError, match=r"differs in image\.top_k"):
        rr.check_space(other)
    with pytest.raises(IndexMismatchError, match=r"differs in audio \(no audio encoder\)"):
        rr.check_space({**space, "encoders": {**space["encoders"], "audio": {"encoder": "x"}}})
    # an artifact that records no space cannot vouch for any index
    bare = save_artifact(model, tmp_path / "bare", weight, {"metrics": metrics})
    with pytest.raises(IndexMismatchError, match="records no space"):
        AttentionReranker(bare).check_space(space)


@pytest.mark.slow
def test_search_with_attention_rerank_through_the_engine(tmp_path):
    root = tmp_path / "media"
    make_text(root / "violin.txt", "The violin is a string instrument played with a bow.")
    make_text(root / "bread.txt", "Bake bread with flour, water, salt and yeast.")
    make_text(root / "cello.txt", "A cello is a large bowed string instrument.")
    make_image(root / "red.png", size=(64, 48), color=(220, 20, 20))
    idx = xmodal.open(tmp_path / "idx")  # the default profile: the shipped reranker's own space
    idx.add([root])
    plain = idx.search("a string instrument", k=4)
    res = idx.search("a string instrument", k=4, rerank="attention")
    assert {r.id for r in res} == {r.id for r in plain}  # reordered, nothing lost
    assert [r.score for r in res] == sorted((r.score for r in res), reverse=True)
    for r in res:
        assert {"first_stage", "rerank", "fused"} <= set(r.scores)
    assert Path(res[0].path).name in {"violin.txt", "cello.txt"}
    img = next(r for r in idx.search("a red picture", k=4, rerank="attention") if r.modality == Modality.IMAGE)
    assert img.segment is not None and img.segment.box is not None
    assert all(0.0 <= v <= 1.0 for v in img.segment.box)


def _tiny_text_set(root: Path) -> Path:
    """A BEIR-layout text set where word overlap decides: each query names its document's topic."""
    topics = ["violin", "bread", "volcano", "penguin", "bicycle", "lighthouse", "cactus", "submarine", "tornado", "piano"]
    with open(root / "corpus.jsonl", "w") as f:
        for t in topics:
            f.write(json.dumps({"_id": f"d-{t}", "text": f"A short note about the {t} and where it is found.", "modality": "text"}) + "\n")
    (root / "qrels").mkdir()
    with open(root / "queries.jsonl", "w") as fq, open(root / "qrels" / "train.tsv", "w") as fr:
        fr.write("query-id\tcorpus-id\tscore\n")
        for t in topics:
            fq.write(json.dumps({"_id": f"q-{t}", "text": f"tell me about the {t}", "modality": "text"}) + "\n")
            fr.write(f"q-{t}\td-{t}\t1\n")
    return root


@pytest.mark.slow
def test_cli_trains_an_artifact_from_a_set(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from xmodal.cli.train import train_app

    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))  # the corpus index is cached here
    set_dir = _tiny_text_set(tmp_path)
    out = tmp_path / "artifact"
    res = CliRunner().invoke(train_app, ["rerank", "--pairs", f"{set_dir}:train", "--out", str(out), "--epochs", "2", "--val-frac", "0"])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "reranker.json").read_text())
    assert meta["training"]["sources"][0]["split"] == "train" and meta["training"]["fingerprint"]
    assert AttentionReranker(out).fusion_weight == meta["fusion_weight"]
    assert meta["space"] == json.loads(json.dumps(Space("default").fingerprint()))  # the space it was trained in

    bad = CliRunner().invoke(train_app, ["rerank", "--pairs", str(tmp_path / "nope") + ":train", "--out", str(out)])
    assert bad.exit_code == 1 and "neither a set folder nor a set name" in " ".join(bad.output.split())


@pytest.mark.slow
def test_collected_lists_carry_their_caption_groups(tmp_path, monkeypatch):
    """A list's captions are its query's text and its relevant text items' texts, so the split
    keeps a caption on one side whether it was the query or the answer."""
    from xmodal.train.rerank import collect
    from xmodal.train.split import caption_key

    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))
    data, info = collect(_tiny_text_set(tmp_path), "train", index_dir=tmp_path / "idx")
    assert len(data.lists) == 10 and info["space"]["encoders"]["text"]
    violin = next(lst for lst in data.lists if lst.qid == "q-violin")
    assert set(violin.captions) == {caption_key("tell me about the violin"),
                                    caption_key("A short note about the violin and where it is found.")}


def _colour_list(rng: np.random.Generator, n_cands: int = 10):
    """Look-alike pictures (same vectors up to noise) told apart only by the colour the query names."""
    colours = ["red", "green", "blue", "yellow", "purple"]
    want = colours[int(rng.integers(len(colours)))]
    base = _unit(rng.normal(size=DIM))
    text = f"a {want} flag"
    query = RerankQuery(text=text, parts=[Media(Modality.TEXT, text=text)],
                        embeddings=[Embedding(vector=base, tokens=np.zeros((0, DIM), np.float32), segments=[])], vector=base)
    pos = int(rng.integers(n_cands))
    cands = []
    for i in range(n_cands):
        other = [c for c in colours if c != want][i % 4]
        main = want if i == pos else other
        cands.append(Candidate(
            id=f"c{i}", path=f"/x/c{i}.png", modality=Modality.IMAGE, text="",
            vector=_unit(base + 0.05 * rng.normal(size=DIM)), tokens=np.zeros((0, DIM), np.float32), segments=[],
            meta={"colours": {main: 0.8, "white": 0.2}}, first_stage_score=float(rng.uniform(0.5, 0.52)),
        ))
    order = sorted(range(n_cands), key=lambda i: -cands[i].first_stage_score)
    cands = [cands[i] for i in order]
    for r, c in enumerate(cands, 1):
        c.first_stage_rank = r
    return query, cands, {f"c{pos}": 1}


@pytest.mark.slow
def test_reranker_learns_to_match_named_colours():
    rng = np.random.default_rng(1)
    data = ListSet()
    for n in range(80):
        data.add(f"q{n}", "colours", *_colour_list(rng))
    model, weight, _ = fit(data, FitConfig(epochs=10, group=8, lr=3e-3, val_frac=0.0, seed=0), {"d": 16, "heads": 2})
    test = ListSet()
    for n in range(30):
        test.add(f"t{n}", "colours", *_colour_list(rng))
    every = list(range(len(test.lists)))
    before = list_metrics(test, every, None)["R@1"]
    after = list_metrics(test, every, score_lists(model, test, every), weight)["R@1"]
    assert before < 0.4 and after > 0.9


def test_lexical_words_agree_on_spoken_and_written_numbers():
    from xmodal.rerank._features import words

    assert words("eighteenth") == words("18th.")
    assert words("Press two for sales") == {"press", "2", "sale"}
    assert words("ninety nine") == {"90", "9"}
