"""The refine stage: schema, citation checks, judging, malformed output, budgets, fallbacks, `xmodal ask`."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from llm_fakes import KeywordLLM
from xmodal.llm import BACKENDS, LLMOutputError
from xmodal.engine.ask import ask
from xmodal.refine import REFINERS, RefinedAnswer, find_citations, validate_citations
from xmodal.refine.llm import LLMRefiner
from xmodal.types import Modality, SearchResult, Segment


def _res(i: int, modality: Modality, text: str = "", tags: str | None = None, path: str = ""):
    segs = [Segment("tags", text=tags)] if tags else []
    return SearchResult(id=f"r{i}", path=path or f"/x/castle-{i}.png", modality=modality, score=1.0 - i / 10, text=text), segs


@pytest.fixture
def results():
    items = [
        _res(0, Modality.IMAGE, tags="garbage truck 0.61; trailer truck 0.1"),
        _res(1, Modality.IMAGE, text="CASTLE TOURS", tags="castle 0.41; palace 0.2"),
        _res(2, Modality.AUDIO, text="the dog barks at night"),
        _res(3, Modality.TEXT, text="Ruins of an old castle on the hill."),
    ]
    return [r for r, _ in items], {r.id: s for r, s in items}


def test_schema_is_documented_and_round_trips():
    schema = RefinedAnswer.model_json_schema()
    assert {"answer", "kept", "dropped", "citations", "notes", "degraded"} <= set(schema["properties"])
    kept = schema["$defs"]["KeptItem"]["properties"]
    assert {"n", "id", "path", "modality", "evidence", "reason"} <= set(kept)
    assert "description" in kept["n"]
    ans = RefinedAnswer(question="q", answer="a [1]")
    assert RefinedAnswer.model_validate_json(ans.model_dump_json()) == ans


def test_citation_validation_repairs_or_rejects():
    assert find_citations("see [1], [2, 3] and [12]") == [1, 2, 3, 12]
    text, cited, invalid, notes = validate_citations("Castle [2] and truck [5]. Also [1, 7].", {1, 2})
    assert text == "Castle [2] and truck. Also [1]." and cited == [2, 1] and invalid == ["[5]", "[7]"]
    assert "[5], [7]" in notes[0] and "items 1–2" in notes[0]
    text, cited, invalid, notes = validate_citations("Truck [5].", {1, 2}, policy="reject")
    assert text == "" and invalid == ["[5]"] and "rejected" in notes[0]
    assert validate_citations("No citations here.", {1})[3] == ["the answer cites no item"]


def test_pointwise_filters_reorders_and_cites(results):
    res, segs = results
    fake = KeywordLLM(reply="The castle ruins are shown in [1] and described in [2]; see also [3].")
    ans = LLMRefiner(backend=fake, augment=False).refine("Where are castle ruins?", res, segments=segs)
    assert [k.id for k in ans.kept] == ["r1", "r3"] and [k.n for k in ans.kept] == [1, 2]
    assert {d.id for d in ans.dropped} == {"r0", "r2"}
    assert all("judged not relevant" in d.reason for d in ans.dropped)
    assert ans.answer == "The castle ruins are shown in [1] and described in [2]; see also." and ans.citations == [1, 2]
    assert ans.invalid_citations == ["[3]"] and any("removed citations [3]" in n for n in ans.notes)
    kinds = {e.kind for e in ans.kept[0].evidence}
    assert kinds == {"tags", "ocr"}
    # the answer prompt sees only the kept items, numbered as cited
    answer_prompt = [c for c in fake.calls if c["kind"] == "chat"][-1]["prompt"]
    assert "[1] image; objects seen: castle" in answer_prompt and "garbage" not in answer_prompt
    assert all("/x/" not in c["prompt"] for c in fake.calls)


def test_json_mode_renumbers_and_validates_citations(results):
    res, segs = results
    verdict = {"items": [{"n": 4, "keep": True, "reason": "describes castle ruins"},
                         {"n": 2, "keep": True, "reason": "a castle"},
                         {"n": 1, "keep": False, "reason": "a truck"},
                         {"n": 9, "keep": True, "reason": "hallucinated"}],
               "answer": "Ruins are described in [4] and pictured in [2], unlike [1]."}
    fake = KeywordLLM(reply=json.dumps(verdict), logprobs=False)
    ans = LLMRefiner(backend=fake, augment=False).refine("castle ruins?", res, segments=segs)
    assert [k.id for k in ans.kept] == ["r3", "r1", "r2"]  # judged first in the LLM's order; unjudged r2 after
    assert ans.kept[0].reason == "describes castle ruins"
    assert [d.id for d in ans.dropped] == ["r0"]
    assert ans.answer == "Ruins are described in [1] and pictured in [2], unlike." and ans.citations == [1, 2]
    assert ans.invalid_citations == ["[1]"]  # the model cited a dropped item
    assert any("[9], which was not retrieved" in n for n in ans.notes)
    assert any("did not judge item(s) 3" in n for n in ans.notes)
    assert fake.calls[0]["json_schema"]["required"] == ["items"]


def test_malformed_output_degrades_with_note_or_raises(results):
    res, segs = results
    fake = KeywordLLM(reply='{"items": "lots"}', logprobs=False)
    ans = LLMRefiner(backend=fake, augment=False).refine("castle?", res, segments=segs)
    assert ans.degraded and [k.id for k in ans.kept] == ["r0", "r1", "r2", "r3"]
    assert "malformed model output" in ans.notes[-1] and "unfiltered" in ans.notes[-1]
    with pytest.raises(LLMOutputError, match="verdict schema"):
        LLMRefiner(backend=fake, augment=False, on_error="raise").refine("castle?", res, segments=segs)


def test_timeouts_and_unavailable_llm_fall_back_to_retrieved_list(results, tmp_path):
    res, segs = results
    slow = KeywordLLM(delay_s=0.3)
    ans = LLMRefiner(backend=slow, augment=False, time_budget_s=0.2).refine("castle?", res, segments=segs)
    assert ans.degraded and len(ans.kept) == 4 and "LLM timed out" in ans.notes[-1]
    # budget spent mid-way: judged items are filtered, the rest kept unjudged, and the answer is skipped
    mid = LLMRefiner(backend=KeywordLLM(delay_s=0.5), augment=False, time_budget_s=1.25).refine("castle?", res, segments=segs)
    assert not mid.degraded and any("time budget spent after judging" in n for n in mid.notes)
    assert any("not judged (time budget)" in k.reason for k in mid.kept)
    gone = LLMRefiner(backend="llamacpp", model=str(tmp_path / "none.gguf"), augment=False).refine("castle?", res, segments=segs)
    assert gone.degraded and "LLM unavailable" in gone.notes[-1] and "none.gguf" in gone.notes[-1]


def test_lazy_ocr_runs_only_on_images_without_text(results, tmp_path, monkeypatch):
    import xmodal.refine.evidence as evmod
    from xmodal.llm.evidence import Evidence

    from mediagen import make_audio, make_image

    res, segs = results
    for r in res:
        make = {Modality.IMAGE: make_image, Modality.AUDIO: make_audio}.get(r.modality)
        r.path = str(make(tmp_path / f"{r.id}.{'png' if r.modality == Modality.IMAGE else 'wav'}") if make else tmp_path / "x.txt")
    seen = []
    monkeypatch.setattr(evmod, "_ocr", lambda media: seen.append(media.path) or [Evidence(kind="ocr", text="NO ENTRY", source="ocr")])
    monkeypatch.setattr(evmod, "_asr", lambda media: [])
    ev, notes = evmod.gather(res, segs)
    assert seen == [res[0].path]  # r1 already has OCR text, r2/r3 are not images
    assert ev[0][-1].text == "NO ENTRY" and ev[0][-1].source == "ocr"


@pytest.fixture(scope="module")
def text_index(tmp_path_factory):
    import xmodal

    idx = xmodal.open(tmp_path_factory.mktemp("ask") / "idx", {"name": "t", "text": {"encoder": "minilm-int8"}})
    idx.add_texts([("castle", "The ruined castle stands on a hill above the river."),
                   ("bread", "Bake bread with flour, water, salt and yeast."),
                   ("violin", "The violin is a string instrument played with a bow.")])
    return idx


@pytest.mark.slow
def test_ask_end_to_end_and_cli(text_index):
    ans = ask(text_index, "Which castle is ruined?", k=3, refiner="llm", backend=KeywordLLM(reply="A hilltop castle [1]."), augment=False)
    assert [k.id for k in ans.kept] == ["castle"] and ans.answer == "A hilltop castle [1]." and ans.citations == [1]
    assert {"retrieve_s", "ask_s"} <= set(ans.timings)
    # an unknown reranker degrades to first stage with a note
    ans = ask(text_index, "castle", k=2, rerank="no-such-reranker", refiner="none")
    assert "failed" in ans.notes[0] and ans.kept and not ans.degraded

    from xmodal.cli.ask import ask as ask_cmd

    class KeywordFake(KeywordLLM):
        def __init__(self, **kw):
            super().__init__(reply="It is [1].")

    app = typer.Typer()
    app.command()(ask_cmd)
    app.command("noop")(lambda: None)  # two commands, so typer keeps `ask` as a subcommand
    runner = CliRunner()
    with BACKENDS.registered("keyword-fake", KeywordFake):
        _check_ask_cli(runner, app, text_index)
    assert "keyword-fake" not in BACKENDS.names()
    assert "none" in REFINERS.names() and "llm" in REFINERS.names()


def _check_ask_cli(runner, app, text_index):
    out = runner.invoke(app, ["ask", "ruined castle", "--index", str(text_index.path), "--backend", "keyword-fake",
                              "--k", "3", "--json", "--no-augment"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["kept"][0]["id"] == "castle" and data["answer"] == "It is [1]." and data["schema_version"] == 1
    pretty = runner.invoke(app, ["ask", "ruined castle", "--index", str(text_index.path), "--backend", "keyword-fake", "--no-augment"])
    assert pretty.exit_code == 0 and "answer:" in pretty.stdout and "dropped" in pretty.stdout
    schema = runner.invoke(app, ["ask", "--schema"])
    assert json.loads(schema.stdout)["title"] == "RefinedAnswer"
    missing = runner.invoke(app, ["ask", "x", "--index", str(text_index.path) + "-nope"])
    assert missing.exit_code == 1
