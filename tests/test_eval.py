"""xmodal.eval: set loading, metrics (checked against ranx), the runner and the reports.

The runner is driven by a small deterministic fake index, so no model is loaded here.
"""

from __future__ import annotations

import html.parser
import io
import json
import math
import random
import re
import wave
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from xmodal.eval import (
    SetError,
    evaluate,
    evaluate_run,
    load_set,
    print_table,
    query_metrics,
    recall_curve,
    write_html,
    write_json,
)
from xmodal.media import probe
from xmodal.types import Modality, SearchResult, Segment

KS = (1, 5, 10, 100)


# ---------------------------------------------------------------- metrics


def test_metrics_hand_checked_example():
    qrels = {
        "q1": {"a": 2, "b": 1, "c": 0},  # c is judged non-relevant (score 0)
        "q2": {"d": 1},
        "q3": {"f": 1, "g": 1},
    }
    run = {"q1": ["x", "a", "c", "b"], "q2": ["d", "e"], "q3": ["h", "i"]}
    means, per_query = evaluate_run(qrels, run, ks=(1, 5))
    # q1: first relevant (a) at rank 2 -> R@1 0, R@5 1, MRR 1/2.
    #     gains by rank [0, 2, 0, 1]: DCG = 2/log2(3) + 1/log2(5); ideal [2, 1]: IDCG = 2/log2(2) + 1/log2(3).
    #     AP: hits at ranks 2 and 4 -> (1/2 + 2/4) / 2 relevant = 0.5. BEIR recall@5 = 2/2.
    # q2: perfect -> 1 everywhere.   q3: nothing relevant retrieved -> 0 everywhere.
    ndcg_q1 = (2 / math.log2(3) + 1 / math.log2(5)) / (2 + 1 / math.log2(3))
    assert per_query["nDCG@10"]["q1"] == pytest.approx(ndcg_q1)
    assert per_query["mAP"]["q1"] == pytest.approx(0.5)
    assert per_query["MRR@10"] == pytest.approx({"q1": 0.5, "q2": 1.0, "q3": 0.0})
    assert means["R@1"] == pytest.approx(1 / 3)
    assert means["R@5"] == pytest.approx(2 / 3)
    assert means["MRR@10"] == pytest.approx(0.5)
    assert means["nDCG@10"] == pytest.approx((ndcg_q1 + 1) / 3)
    assert means["mAP"] == pytest.approx(0.5)
    assert means["BEIR-Recall@1"] == pytest.approx(1 / 3)  # only q2's single item
    assert means["BEIR-Recall@5"] == pytest.approx(2 / 3)
    # a query missing from the run scores 0 but still counts in the mean
    means2, _ = evaluate_run({**qrels, "q4": {"z": 1}}, run, ks=(1,))
    assert means2["R@1"] == pytest.approx(1 / 4)


def test_r_at_k_is_hit_rate_not_beir_recall():
    # two relevant items, one retrieved at rank 1: a cross-modal R@1 hit, but half of BEIR's recall
    m = query_metrics({"img1": 1, "img2": 1}, ["img1", "other", "img2"], ks=(1, 3))
    assert m["R@1"] == 1.0
    assert m["BEIR-Recall@1"] == 0.5
    assert m["BEIR-Recall@3"] == 1.0
    # a repeated id counts once, at its first position
    assert query_metrics({"a": 1}, ["b", "b", "a"], ks=(2,))["R@2"] == 1.0


def test_recall_curve_matches_r_at_k():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}}
    run = {"q1": ["a"], "q2": ["x", "y", "b"], "q3": ["x"]}
    curve = recall_curve(qrels, run, max_k=5)
    assert curve == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3])
    means, _ = evaluate_run(qrels, run, ks=(1, 3, 5))
    assert [means["R@1"], means["R@3"], means["R@5"]] == pytest.approx([curve[0], curve[2], curve[4]])


def _random_graded(seed: int, n_queries: int = 60, n_docs: int = 300):
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(n_docs)]
    qrels, run = {}, {}
    for q in range(n_queries):
        qid = f"q{q}"
        judged = {d: rng.choice([0, 1, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 8))}
        if not any(s >= 1 for s in judged.values()):
            judged[rng.choice(list(judged))] = 1
        qrels[qid] = judged
        if q % 13 == 5:
            continue  # no results at all for some queries
        # mix relevant items into random positions so every metric sees hits and misses
        pool = list(dict.fromkeys(rng.sample(docs, rng.randint(1, 120)) + rng.sample(list(judged), rng.randint(0, len(judged)))))
        rng.shuffle(pool)
        run[qid] = pool
    return qrels, run


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_metrics_agree_with_ranx(seed):
    ranx = pytest.importorskip("ranx")
    qrels, run = _random_graded(seed)
    ks = (1, 5, 10, 100)
    means, per_query = evaluate_run(qrels, run, ks)
    # ranx sorts by score: give strictly decreasing scores so it sees our order exactly
    ranx_run = ranx.Run({q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in run.items()})
    ranx_qrels = ranx.Qrels(qrels)
    names = {"nDCG@10": "ndcg@10", "MRR@10": "mrr@10", "mAP": "map"}
    for k in ks:
        names[f"BEIR-Recall@{k}"] = f"recall@{k}"
        names[f"R@{k}"] = f"hit_rate@{k}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba type-safety chatter inside ranx
        theirs = ranx.evaluate(ranx_qrels, ranx_run, list(names.values()), return_mean=False, make_comparable=True)
    qids = sorted(qrels)
    order = sorted(ranx_qrels.keys())  # ranx returns per-query arrays in its sorted query order
    assert order == qids
    for ours, name in names.items():
        got = np.array([per_query[ours][q] for q in qids])
        assert np.allclose(got, np.asarray(theirs[name]), atol=1e-6), ours
        assert means[ours] == pytest.approx(float(np.mean(theirs[name])), abs=1e-6)


# ---------------------------------------------------------------- sets on disk


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _write_qrels(folder: Path, rows: list[tuple[str, str, int]], split: str = "test") -> None:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in rows]
    (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")


def make_text_set(root: Path) -> Path:
    """A plain BEIR set: no modality keys, titles on some docs, one bad judgement."""
    root.mkdir(parents=True, exist_ok=True)
    _write_jsonl(root / "corpus.jsonl", [
        {"_id": "d1", "title": "Violin", "text": "a string instrument played with a bow"},
        {"_id": "d2", "title": "", "text": "the frog jumps into the pond"},
        {"_id": "d3", "text": "a red apple on a table"},
        {"_id": "d4", "text": "green frog sitting on a leaf"},
    ])
    _write_jsonl(root / "queries.jsonl", [
        {"_id": "q1", "text": "violin bow"},
        {"_id": "q2", "text": "frog"},
        {"_id": "q3", "text": "apple"},
        {"_id": "q9", "text": "not judged in this split"},
    ])
    _write_qrels(root, [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d4", 1), ("q3", "d3", 1), ("q3", "gone", 1)])
    return root


def _png(path: Path, colour: tuple[int, int, int], mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (48, 32), colour if mode == "RGB" else (*colour, 128)).save(path)


def _wav(path: Path, seconds: float = 0.2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        t = np.arange(int(8000 * seconds)) / 8000
        w.writeframes((np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes())


def make_media_set(root: Path) -> Path:
    """Images and texts in the corpus; text, image, audio and mixed queries."""
    _png(root / "images" / "red.png", (220, 20, 20))
    _png(root / "images" / "blue.png", (20, 20, 220), mode="RGBA")
    _png(root / "images" / "green.png", (20, 200, 20))
    (root / "images" / "broken.png").write_bytes(b"not a png")
    _png(root / "queries" / "green-shape.png", (30, 190, 30))
    _png(root / "queries" / "blue-shape.png", (30, 30, 190))
    _wav(root / "queries" / "red-sound.wav")
    _wav(root / "queries" / "bell.wav")
    _write_jsonl(root / "corpus.jsonl", [
        {"_id": "img-red", "modality": "image", "path": "images/red.png"},
        {"_id": "img-blue", "modality": "image", "path": "images/blue.png"},
        {"_id": "img-green", "modality": "image", "path": "images/green.png"},
        {"_id": "img-broken", "modality": "image", "path": "images/broken.png"},
        {"_id": "txt-red", "modality": "text", "text": "a red square"},
        {"_id": "txt-green", "modality": "text", "title": "Green", "text": "a green square"},
    ])
    _write_jsonl(root / "queries.jsonl", [
        {"_id": "t-red", "modality": "text", "text": "red"},
        {"_id": "t-blue", "modality": "text", "text": "blue <b>&</b> square"},
        {"_id": "t-broken", "modality": "text", "text": "broken <script>alert(1)</script> & co"},
        {"_id": "i-green", "modality": "image", "path": "queries/green-shape.png"},
        {"_id": "i-blue", "modality": "image", "path": "queries/blue-shape.png"},
        {"_id": "a-red", "modality": "audio", "path": "queries/red-sound.wav"},
        {"_id": "a-bell", "modality": "audio", "path": "queries/bell.wav"},
        {"_id": "m-green", "text": "picture", "path": "queries/green-shape.png"},  # mixed, modality inferred
    ])
    _write_qrels(root, [
        ("t-red", "img-red", 2), ("t-red", "txt-red", 1),
        ("t-blue", "img-blue", 1),
        ("t-broken", "img-broken", 1),
        ("i-green", "img-green", 1), ("i-green", "txt-green", 1),
        ("i-blue", "txt-red", 1),  # deliberately unfindable for the fake: a failed query
        ("a-red", "img-red", 1),
        ("a-bell", "img-green", 1),  # shares no word with its target: a failed audio query
        ("m-green", "img-green", 1),
    ])
    return root


def test_load_plain_beir_text_set(tmp_path):
    root = make_text_set(tmp_path / "tiny")
    with pytest.warns(UserWarning, match="gone"):
        es = load_set(root, "test")
    assert es.name == "tiny"
    assert set(es.queries) == {"q1", "q2", "q3"}  # q9 is not in this split's qrels
    assert es.qrels["q2"] == {"d2": 2, "d4": 1}
    assert es.qrels["q3"] == {"d3": 1}  # the judgement of an unknown doc was dropped...
    assert any("gone" in w for w in es.warnings)  # ...and said so
    assert all(item.modality == "text" for item in es.corpus.values())
    assert es.corpus["d1"].index_text() == "Violin a string instrument played with a bow"  # BEIR's join
    assert es.corpus["d2"].index_text() == "the frog jumps into the pond"
    with pytest.raises(SetError, match="gone"):
        load_set(root, "test", strict=True)
    with pytest.raises(SetError, match="dev.tsv.*splits present: test"):
        load_set(root, "dev")


def test_load_media_set(tmp_path):
    root = make_media_set(tmp_path / "media")
    es = load_set(root)
    assert es.corpus_modalities == ["image", "text"]
    assert es.corpus["img-red"].path == (root / "images" / "red.png").resolve()
    assert es.queries["i-green"].modality == "image"
    assert es.queries["m-green"].modality == "text+image"
    assert es.queries["m-green"].text == "picture" and es.queries["m-green"].path is not None
    assert es.queries["a-red"].modality == "audio"


def test_modality_comes_from_the_content(tmp_path):
    """Undeclared: the media stage's sniffing decides (not the extension); declared: the content
    must agree, except that bytes which merely read as text are left to indexing to report."""
    root = make_media_set(tmp_path / "media")
    _wav(root / "sounds" / "chirp.png")  # a WAV whatever its name says
    _png(root / "images" / "photo.png", (1, 2, 3))
    (root / "images" / "photo.png").rename(root / "images" / "photo.dat")
    rows = [json.loads(line) for line in (root / "corpus.jsonl").read_text().splitlines()]
    _write_jsonl(root / "corpus.jsonl", rows + [{"_id": "snd", "path": "sounds/chirp.png"},
                                               {"_id": "pic", "path": "images/photo.dat"}])
    es = load_set(root)
    assert es.corpus["snd"].modality == "audio" and es.corpus["pic"].modality == "image"
    assert es.corpus["img-broken"].modality == "image"  # "not a png": declared, kept, fails at indexing
    _write_jsonl(root / "corpus.jsonl", rows + [{"_id": "snd", "modality": "image", "path": "sounds/chirp.png"}])
    with pytest.raises(SetError, match=r"corpus\.jsonl:7: 'sounds/chirp\.png' is declared 'image' but its content is audio"):
        load_set(root)


@pytest.mark.parametrize("path, reason", [
    ("../../../../../../etc/passwd", "climbs out of the set folder"),
    ("images/../../outside/secret.png", "climbs out of the set folder"),
    ("/etc/passwd", "is absolute"),
    ("OUTSIDE_ABS", "is absolute"),
    ("images/link.png", "is a symbolic link to .*secret.png, outside the set folder"),
    ("linked-dir/secret.png", "is a symbolic link to .*secret.png, outside the set folder"),
    ("images/red.png\u0000.txt", "contains a NUL byte"),
])
@pytest.mark.parametrize("where", ["corpus", "queries"])
def test_media_paths_never_leave_the_set_folder(tmp_path, path, reason, where):
    root = make_media_set(tmp_path / "media")
    secret = tmp_path / "outside" / "secret.png"
    _png(secret, (9, 9, 9))
    (root / "images" / "link.png").symlink_to(secret)
    (root / "linked-dir").symlink_to(secret.parent, target_is_directory=True)
    path = str(secret) if path == "OUTSIDE_ABS" else path
    name = f"{where}.jsonl"
    lines = (root / name).read_text().splitlines()
    # a hostile line in the middle of the file: the error names the file, the line and the reason
    bad = json.dumps({"_id": "img-red" if where == "corpus" else "i-green", "modality": "image"})[:-1]
    bad += ', "path": ' + json.dumps(path) + "}"  # a NUL arrives as JSON's \u0000
    lines[0 if where == "corpus" else 3] = bad
    (root / name).write_text("\n".join(lines) + "\n")
    line = 1 if where == "corpus" else 4
    with pytest.raises(SetError, match=rf"media[/\\]{name}:{line}\b.*{reason}"):
        load_set(root)


def test_cli_eval_names_the_hostile_line_without_a_traceback(tmp_path):
    from typer.testing import CliRunner

    from xmodal.cli import app

    root = make_media_set(tmp_path / "media")
    rows = (root / "corpus.jsonl").read_text().splitlines()
    rows[2] = json.dumps({"_id": "img-green", "modality": "image", "path": "../../../../../../../etc/passwd"})
    (root / "corpus.jsonl").write_text("\n".join(rows) + "\n")
    res = CliRunner().invoke(app, ["eval", str(root)])
    out = "".join(res.output.split())  # Rich wraps the line at the terminal width
    assert res.exit_code == 1 and "corpus.jsonl:3" in out and "climbsoutofthesetfolder" in out
    assert "Traceback" not in res.output


def test_symlink_inside_the_set_folder_is_followed(tmp_path):
    root = make_media_set(tmp_path / "media")
    (root / "images" / "alias.png").symlink_to(root / "images" / "red.png")
    rows = [json.loads(line) for line in (root / "corpus.jsonl").read_text().splitlines()]
    rows[0]["path"] = "images/alias.png"
    _write_jsonl(root / "corpus.jsonl", rows)
    assert load_set(root).corpus["img-red"].path == (root / "images" / "red.png").resolve()


def test_report_never_inlines_a_file_outside_the_set(tmp_path):
    """Even handed a set whose item points outside (built by hand, not by the loader), the HTML
    report shows no byte of that file and no link to it."""
    import base64

    root = make_media_set(tmp_path / "media")
    secret = tmp_path / "secret.png"
    _png(secret, (123, 45, 67))
    res = evaluate(root, progress=False, opener=FakeIndex.open)
    es = res.eval_set
    for item in es.corpus.values():  # every shown item now names the outside file
        if item.path is not None:
            item.path = secret
    for q in es.queries.values():
        if q.path is not None:
            q.path = secret
    doc = write_html(res, tmp_path / "r.html", root, n_failed=50).read_text()
    assert "outside the set folder" in doc
    assert base64.b64encode(secret.read_bytes()).decode()[:40] not in doc
    assert secret.as_uri() not in doc and "data:image/png" not in doc


def test_load_set_errors_name_the_fault(tmp_path):
    root = make_media_set(tmp_path / "media")
    (root / "images" / "green.png").unlink()
    with pytest.raises(SetError, match=r"corpus\.jsonl:3.*images/green\.png.*not found"):
        load_set(root)
    root2 = make_text_set(tmp_path / "t2")
    (root2 / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n{broken\n')
    with pytest.raises(SetError, match=r"queries\.jsonl:2: not valid JSON"):
        load_set(root2)
    _write_jsonl(root2 / "corpus.jsonl", [{"_id": "d1", "modality": "smell", "text": "x"}])
    with pytest.raises(SetError, match="unknown modality 'smell'"):
        load_set(root2)
    with pytest.raises(SetError, match="corpus.jsonl: missing"):
        load_set(tmp_path)


# ---------------------------------------------------------------- runner with a fake index


class FakeIndex:
    """Deterministic stand-in for xmodal.Index: scores = shared words between query and item.

    An item's words are its text, or the words of its file name ("red.png" -> "red"); a query's
    are its text plus its file name's words ("green-shape.png" -> "green", "shape"). A file
    called broken.* fails to index. Ties go to the smaller id. `rerank` adds a bonus for
    text items, so the rerank stage differs from the retrieve stage.
    """

    instances: dict[str, "FakeIndex"] = {}

    def __init__(self, path: Path, profile: str):
        self.path, self.profile = Path(path), profile
        self.items: dict[str, tuple[Modality, str, set[str]]] = {}
        self.add_calls = 0
        self.search_calls: list[dict[str, Any]] = []
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "fake.db").write_text("x")
        FakeIndex.instances[str(self.path)] = self

    @classmethod
    def open(cls, path: Path, profile: str) -> "FakeIndex":
        prev = cls.instances.get(str(path))
        return prev if prev is not None and (Path(path) / "fake.db").exists() else cls(path, profile)

    @staticmethod
    def _words(s: str) -> set[str]:
        return set(re.findall(r"[a-z]+", s.lower()))

    def add(self, paths, ids=None, progress=None):
        self.add_calls += 1
        failed = []
        for p, i in zip(paths, ids):
            if Path(p).stem == "broken":
                failed.append((str(p), "not a PNG file"))
                continue
            mod = probe(p)[0]
            self.items[i] = (mod, str(p), self._words(Path(p).stem))
        return type("Report", (), {"failed": failed})()

    def add_texts(self, items):
        self.add_calls += 1
        for i, text in items:
            self.items[i] = (Modality.TEXT, "", self._words(text))
        return type("Report", (), {"failed": []})()

    def stats(self):
        return {"items": len(self.items)}

    def search(self, text=None, file=None, k=10, modalities=None, where=None, rerank=None):
        self.search_calls.append({"text": text, "file": file, "k": k, "modalities": modalities, "rerank": rerank})
        words = self._words(text or "") | (self._words(Path(file).stem) if file else set())
        allowed = {Modality(m) for m in modalities} if modalities else None
        scored = []
        for i, (mod, path, iw) in self.items.items():
            if allowed and mod not in allowed:
                continue
            score = len(words & iw) + (0.5 if rerank and mod == Modality.TEXT else 0.0)
            scored.append((-score, i, mod, path))
        scored.sort()
        out = [SearchResult(id=i, path=p, modality=m, score=-s) for s, i, m, p in scored[:k]]
        for r in out if rerank else []:  # a reranker says where each item matched
            r.segment = Segment("region", index=0, box=(0.0, 0.0, 0.5, 0.5))
            r.meta["reason"] = f"attention on {r.segment.describe()} of {r.id}"
        return out


@pytest.fixture(autouse=True)
def _fresh_fakes():
    FakeIndex.instances.clear()
    yield
    FakeIndex.instances.clear()


def test_evaluate_end_to_end_shape_and_values(tmp_path):
    root = make_media_set(tmp_path / "media")
    res = evaluate(root, ks=KS, progress=False, opener=FakeIndex.open)
    assert res["set"] == "media" and res["split"] == "test" and res["profile"] == "default"
    assert res["n_queries"] == 8 and res["n_corpus"] == 6
    assert set(res["stages"]) == {"retrieve"}  # no reranker asked for
    retrieve = res["stages"]["retrieve"]
    for name in ["R@1", "R@5", "R@10", "R@100", "nDCG@10", "MRR@10", "mAP", "BEIR-Recall@10"]:
        assert 0.0 <= retrieve[name] <= 1.0
    # rank 1 is right for t-red (img-red, "red" shared; tie with txt-red broken by id),
    # t-blue, i-green, a-red, m-green; t-broken's item failed to index, i-blue's and a-bell's
    # targets share no word with them.
    assert retrieve["R@1"] == pytest.approx(5 / 8)
    assert retrieve["R@100"] == pytest.approx(7 / 8)  # the fake returns every indexed item: only t-broken misses
    assert set(res["by_pair"]) == {"text->image", "text->text", "image->image", "image->text",
                                   "audio->image", "text+image->image"}
    assert res["by_pair"]["text->image"]["n_queries"] == 3
    assert res["by_pair"]["text->image"]["R@1"] == pytest.approx(2 / 3)
    assert res["by_pair"]["text->text"]["R@1"] == 1.0  # restricted to text items, t-red finds txt-red first
    assert res["by_pair"]["audio->image"]["n_queries"] == 2 and res["by_pair"]["audio->image"]["R@1"] == 0.5
    assert set(res["timing"]) >= {"index_s", "query_p50_ms", "query_p95_ms"}
    assert res["n_failed_items"] == 1
    assert res["failed_items"][0]["id"] == "img-broken" and "PNG" in res["failed_items"][0]["reason"]
    assert len(res["recall_curve"]["retrieve"]) == 100
    assert "runs" not in res
    assert res.runs["retrieve"]["t-red"][0][0] == "img-red"
    fake = next(iter(FakeIndex.instances.values()))
    # media went in by path under their corpus ids, texts through add_texts
    assert set(fake.items) == {"img-red", "img-blue", "img-green", "txt-red", "txt-green"}
    # pair searches asked the engine for one corpus modality each
    assert {tuple(c["modalities"]) for c in fake.search_calls if c["modalities"]} == {(Modality.IMAGE,), (Modality.TEXT,)}
    assert all(c["k"] == 100 for c in fake.search_calls)
    json.dumps(dict(res))  # JSON-ready as it stands


def test_evaluate_rerank_stage_and_include_runs(tmp_path):
    root = make_media_set(tmp_path / "media")
    res = evaluate(root, rerank="fake-reranker", progress=False, include_runs=True, opener=FakeIndex.open)
    assert set(res["stages"]) == {"retrieve", "rerank"}
    assert "rerank_query_p50_ms" in res["timing"]
    assert "rerank" in res["by_pair"]["text->image"]
    # the fake reranker lifts text items: t-red's top hit becomes txt-red (grade 1, not 2)
    assert res["runs"]["rerank"]["t-red"][0][0] == "txt-red"
    # where the top results matched is kept for the rerank stage only (the first stage has none)
    assert res["explanations"]["rerank"]["t-red"]["txt-red"] == "attention on region (0.00,0.00)-(0.50,0.50) of txt-red"
    assert not res["explanations"]["retrieve"]
    assert all(len(w) <= 5 for w in res.explanations["rerank"].values())
    assert res.per_query["retrieve"]["nDCG@10"]["t-red"] == pytest.approx(1.0)
    assert res.per_query["rerank"]["nDCG@10"]["t-red"] == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    fake = next(iter(FakeIndex.instances.values()))
    assert any(c["rerank"] == "fake-reranker" for c in fake.search_calls)


def test_evaluate_text_only_beir_set(tmp_path):
    root = make_text_set(tmp_path / "tiny")
    with pytest.warns(UserWarning):
        res = evaluate(root, progress=False, opener=FakeIndex.open)
    assert set(res["by_pair"]) == {"text->text"}
    assert res["n_queries"] == 3 and res["stages"]["retrieve"]["R@1"] == 1.0
    assert res["warnings"]
    fake = next(iter(FakeIndex.instances.values()))
    assert all(c["modalities"] is None for c in fake.search_calls)  # one corpus modality: no pair searches


def test_evaluate_reuses_index_dir_by_fingerprint(tmp_path):
    root = make_media_set(tmp_path / "media")
    index_dir = tmp_path / "idx"
    first = evaluate(root, index_dir=index_dir, progress=False, opener=FakeIndex.open)
    fake = FakeIndex.instances[str(index_dir.resolve())]
    assert fake.add_calls == 2 and first["timing"]["index_reused"] is False
    second = evaluate(root, index_dir=index_dir, progress=False, opener=FakeIndex.open)
    assert fake.add_calls == 2 and second["timing"]["index_reused"] is True
    assert second["stages"] == first["stages"]
    assert second["n_failed_items"] == 1  # remembered from the build
    # another profile (or corpus) means another index: the old one is rebuilt
    evaluate(root, index_dir=index_dir, profile="other", progress=False, opener=FakeIndex.open)
    assert FakeIndex.instances[str(index_dir.resolve())].add_calls == 2
    assert FakeIndex.instances[str(index_dir.resolve())] is not fake
    # a folder with someone else's files is never wiped
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(Exception, match="did not write"):
        evaluate(root, index_dir=foreign, progress=False, opener=FakeIndex.open)
    assert (foreign / "notes.txt").read_text() == "keep me"


# ---------------------------------------------------------------- reports


class _Parsed(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.srcs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.srcs += [v for k, v in attrs if k == "src" and v]

    def handle_data(self, data):
        self.text.append(data)


def test_reports(tmp_path):
    root = make_media_set(tmp_path / "media")
    res = evaluate(root, rerank="fake", progress=False, opener=FakeIndex.open)

    buf = io.StringIO()
    from rich.console import Console

    print_table(res, Console(file=buf, width=200))
    out = buf.getvalue()
    assert "nDCG@10" in out and "text->image" in out and "rerank" in out and "broken.png" in out

    j = write_json(res, tmp_path / "out" / "r.json")
    loaded = json.loads(j.read_text())
    assert loaded["stages"]["retrieve"] == res["stages"]["retrieve"] and "runs" not in loaded

    page = write_html(res, tmp_path / "r.html", root, n_failed=50)
    doc = page.read_text()
    p = _Parsed()
    p.feed(doc)
    p.close()
    assert "table" in p.tags and "svg" in p.tags and "polyline" in p.tags
    assert "http://" not in doc.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched
    assert "script" not in p.tags
    text = "".join(p.text)
    # i-blue (an image query) failed: it is shown as an embedded JPEG thumbnail
    assert "query i-blue" in text
    assert any(s.startswith("data:image/jpeg;base64,") for s in p.srcs)
    # reranked results say where they matched
    assert "matched at: attention on region (0.00,0.00)-(0.50,0.50)" in text
    # a-bell (an audio query) failed: it gets an inline player
    assert "audio" in p.tags and any(s.startswith("data:audio/") for s in p.srcs)
    # query text is escaped, shown as text and never run
    assert "broken <script>alert(1)</script> & co" in text
    assert "<script>" not in doc
    # the sample comes from the last stage (rerank): one card per query that misses rank 1 there
    missed = sorted(q for q, v in res.per_query["rerank"]["R@1"].items() if v < 1)
    assert {"t-broken", "i-blue", "a-bell"} <= set(missed)
    assert text.count("should have found") == len(missed)


def test_html_from_json_with_runs(tmp_path):
    """A result read back from JSON (include_runs=True) still gives the failed-query section."""
    root = make_media_set(tmp_path / "media")
    res = evaluate(root, progress=False, include_runs=True, opener=FakeIndex.open)
    loaded = json.loads(write_json(res, tmp_path / "r.json").read_text())
    doc = write_html(loaded, tmp_path / "r.html", root).read_text()
    assert "i-blue" in doc and "should have found" in doc
    assert doc.count("<section class=fail>") == 3  # t-broken, i-blue and a-bell miss rank 1


def test_interrupted_index_build_is_resumed_not_refused(tmp_path):
    root = make_media_set(tmp_path / "media")
    index_dir = tmp_path / "idx"

    class Interrupting(FakeIndex):
        def add_texts(self, items):
            raise KeyboardInterrupt  # the user pressed Ctrl-C half way through indexing

    with pytest.raises(KeyboardInterrupt):
        evaluate(root, index_dir=index_dir, progress=False, opener=Interrupting)
    assert json.loads((index_dir / "xmodal-eval.json").read_text())["complete"] is False
    res = evaluate(root, index_dir=index_dir, progress=False, opener=FakeIndex)
    assert res["timing"]["index_reused"] is False and res["n_queries"] == 8
    assert json.loads((index_dir / "xmodal-eval.json").read_text())["complete"] is True
