"""The console script as a user drives it: index, search (--json, filters), info, models, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediagen import make_image, make_text
from xmodal.cli import app

# the CLI is driven on an index built with the real MiniLM / EfficientNet encoders
pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "media"
    make_text(root / "violin.txt", "The violin is a string instrument played with a bow.")
    make_text(root / "bread.txt", "Bake bread with flour, water, salt and yeast.")
    make_image(root / "red.png", color=(220, 20, 20))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"name": "cli-test", "text": {"encoder": "minilm-int8"}, "image": {"encoder": "conse-effnet", "args": {"ocr": False}}}))
    index = tmp_path / "idx"
    res = runner.invoke(app, ["index", str(root), "--index", str(index), "--profile", str(profile)])
    assert res.exit_code == 0, res.output
    assert "3 added" in res.output and "1 failed" in res.output
    assert "broken.jpg" in res.output  # the failed file is named with its reason
    return root, index


def test_search_json_shape(indexed):
    _, index = indexed
    res = runner.invoke(app, ["search", "string instrument", "--index", str(index), "--json", "-k", "2"])
    assert res.exit_code == 0, res.output
    results = json.loads(res.output)
    assert len(results) == 2
    assert {"id", "path", "modality", "score"} <= set(results[0])
    assert results[0]["path"].endswith("violin.txt")


def test_search_modality_filter_and_file_query(indexed):
    root, index = indexed
    res = runner.invoke(app, ["search", "--file", str(root / "red.png"), "-m", "image", "--index", str(index), "--json"])
    assert res.exit_code == 0, res.output
    assert [r["modality"] for r in json.loads(res.output)] == ["image"]


def test_rerun_reports_unchanged(indexed):
    root, index = indexed
    res = runner.invoke(app, ["index", str(root), "--index", str(index), "--json"])
    summary = json.loads(res.output[res.output.index("{") :])
    assert summary["skipped"] == 3 and summary["added"] == 0 and summary["failed"] == 1


def test_info_names_the_encoders(indexed):
    _, index = indexed
    res = runner.invoke(app, ["info", "--index", str(index), "--json"])
    info = json.loads(res.output)
    assert info["items"] == 3 and info["profile"] == "cli-test"
    assert info["encoders"]["text"]["encoder"] == "MiniLMTextEncoder"


def test_clear_errors(tmp_path, indexed):
    _, index = indexed
    res = runner.invoke(app, ["search", "x", "--index", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and "no index at" in res.output
    res = runner.invoke(app, ["search", "x", "-m", "smell", "--index", str(index)])
    assert res.exit_code == 1 and "unknown modality smell" in res.output
    res = runner.invoke(app, ["search", "--index", str(index)])
    assert res.exit_code == 1 and "give a text query" in res.output


def test_models_lists_installed_and_missing():
    res = runner.invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    for name in ("minilm-int8", "conse-effnet", "hf-clip", "open-clip"):
        assert name in res.output


def test_search_with_reranker_reports_stage_scores(indexed, tmp_path, monkeypatch):
    import shutil

    import xmodal
    from xmodal.rerank.attention import DEFAULT_DIR

    _, index = indexed
    # the shipped reranker serves the default profile's space, not this index's: a clear refusal
    res = runner.invoke(app, ["search", "string instrument", "--index", str(index), "--rerank", "attention"])
    assert res.exit_code == 1 and "trained in another space" in " ".join(res.output.split())
    # the same weights recorded for this index's space are used
    art = Path(shutil.copytree(DEFAULT_DIR, tmp_path / "reranker"))
    meta = json.loads((art / "reranker.json").read_text())
    meta["space"] = xmodal.open(index).space.fingerprint()
    (art / "reranker.json").write_text(json.dumps(meta))
    monkeypatch.setenv("XMODAL_RERANK_ATTENTION", str(art))
    res = runner.invoke(app, ["search", "string instrument", "--index", str(index), "--json", "--rerank", "attention"])
    assert res.exit_code == 0, res.output
    results = json.loads(res.output)
    assert results and {"first_stage", "rerank", "fused"} <= set(results[0]["scores"])
    res = runner.invoke(app, ["search", "x", "--index", str(index), "--rerank", "nope"])
    assert res.exit_code == 1 and "unknown reranker" in res.output


def test_search_where_filter(indexed):
    _, index = indexed
    res = runner.invoke(app, ["search", "instrument", "--where", "path LIKE '%bread%' OR size < 0", "--index", str(index), "--json"])
    assert res.exit_code == 0, res.output
    assert [Path(r["path"]).name for r in json.loads(res.output)] == ["bread.txt"]
    # an attempt to close the modality filter's parenthesis is a parse error, never a wider search
    res = runner.invoke(app, ["search", "instrument", "-m", "image", "--where", "1=1) OR (1=1", "--index", str(index)])
    assert res.exit_code == 1 and "invalid where filter" in res.output and "character 1: expected a column" in res.output
    res = runner.invoke(app, ["search", "instrument", "--where", "colour = 'red'", "--index", str(index)])
    assert res.exit_code == 1 and "unknown column 'colour'; filterable columns: id, path, modality" in " ".join(res.output.split())
    res = runner.invoke(app, ["search", "instrument", "--where", "path = '[/x]", "--index", str(index)])
    assert res.exit_code == 1 and "unterminated string" in res.output, res.output
