"""The engine end to end on the real default text/image encoders: indexing, incremental
updates, bad input, interruption, filters and mixed queries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import xmodal
from mediagen import make_elf, make_image, make_pdf, make_random, make_text, truncate
from xmodal.errors import IndexMismatchError, XModalError
from xmodal.store import Prefix

# every test here indexes with the real MiniLM / EfficientNet encoders
pytestmark = pytest.mark.slow

# text + images (no OCR, to keep tests quick) + documents; audio/video are covered elsewhere
PROFILE = {
    "name": "test-text-image",
    "text": {"encoder": "minilm-int8"},
    "image": {"encoder": "conse-effnet", "args": {"ocr": False}},
    "document": {"encoder": "pages"},
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    make_text(root / "notes" / "violin.txt", "The violin is a string instrument played with a bow.")
    make_text(root / "notes" / "bread.md", "# Recipes\n\nBake bread with flour, water, salt and yeast.")
    make_image(root / "img" / "red.png", size=(64, 48), color=(220, 20, 20))
    make_image(root / "img" / "blue.jpg", size=(64, 48), color=(20, 20, 220))
    make_pdf(root / "report.pdf", ["Quarterly report on orchestra ticket sales.", "Appendix: the canteen menu of soups and stews."])
    return root


def test_index_and_search_across_modalities(tmp_path, folder):
    idx = xmodal.open(tmp_path / "idx", PROFILE)
    rep = idx.add([folder])
    assert sorted(Path(p).name for p in rep.added) == ["blue.jpg", "bread.md", "red.png", "report.pdf", "violin.txt"]
    assert rep.failed == []
    assert idx.stats()["by_modality"] == {"document": 1, "image": 2, "text": 2}

    top = idx.search("a musical instrument with strings", k=3)
    assert Path(top[0].path).name == "violin.txt"
    assert {"id", "path", "modality", "score"} <= set(top[0].to_dict())

    docs = idx.search("what soup does the canteen serve", k=5, modalities=["document"])
    assert [r.modality.value for r in docs] == ["document"]
    assert docs[0].segment is not None and docs[0].segment.page == 2  # points into the right page


def test_reopen_reuses_encoders_and_rejects_other_profile(tmp_path, folder):
    xmodal.open(tmp_path / "idx", PROFILE).add([folder / "notes"])
    again = xmodal.open(tmp_path / "idx")  # no profile: the manifest's encoders are rebuilt
    assert again.stats()["profile"] == "test-text-image"
    assert Path(again.search("baking with yeast", k=1)[0].path).name == "bread.md"
    other = {**PROFILE, "image": {"encoder": "conse-effnet", "args": {"ocr": False, "top_k": 3}}}
    with pytest.raises(IndexMismatchError, match="mix vector spaces"):
        xmodal.open(tmp_path / "idx", other)


def test_incremental_skip_update_prune(tmp_path, folder):
    idx = xmodal.open(tmp_path / "idx", PROFILE)
    assert len(idx.add([folder]).added) == 5
    rep = idx.add([folder])
    assert len(rep.skipped) == 5 and not rep.added and not rep.updated

    # same bytes, new mtime: recognised by content hash, not re-embedded
    note = folder / "notes" / "violin.txt"
    os.utime(note, (time.time() + 10, time.time() + 10))
    rep = idx.add([folder])
    assert len(rep.skipped) == 5 and not rep.updated

    note.write_text("Penguins are flightless birds of the southern hemisphere.")
    rep = idx.add([folder])
    assert [Path(p).name for p in rep.updated] == ["violin.txt"] and len(rep.skipped) == 4
    assert idx.stats()["items"] == 5
    hit = idx.search("flightless birds", k=1, modalities=["text"])[0]
    assert Path(hit.path).name == "violin.txt" and "Penguins" in hit.text

    (folder / "notes" / "bread.md").unlink()
    rep = idx.add([folder], prune=True)
    assert [Path(p).name for p in rep.pruned] == ["bread.md"]
    assert idx.stats()["items"] == 4
    assert all(Path(r.path).name != "bread.md" for r in idx.search("bread", k=10))


def test_bad_input_is_reported_and_nothing_is_lost(tmp_path, folder):
    idx = xmodal.open(tmp_path / "idx", PROFILE)
    idx.add([folder])
    bad = tmp_path / "bad"
    (bad).mkdir()
    (bad / "empty.png").write_bytes(b"")
    truncate(make_image(tmp_path / "src.jpg", size=(256, 256)), keep=0.3, out=bad / "cut.jpg")
    make_random(bad / "noise.mp3")
    make_elf(bad / "program.jpg")
    make_image(bad / "really-a-jpeg.png", fmt="JPEG", color=(20, 200, 20))  # mis-named but valid
    rep = idx.add([bad])
    failed = {Path(p).name: reason for p, reason in rep.failed}
    assert set(failed) == {"empty.png", "cut.jpg", "noise.mp3", "program.jpg"}
    assert all(reason for reason in failed.values())
    assert "empty" in failed["empty.png"]
    assert [Path(p).name for p in rep.added] == ["really-a-jpeg.png"]
    # the index still holds everything it had, and still answers
    assert idx.stats()["items"] == 6
    assert Path(idx.search("string instrument", k=1)[0].path).name == "violin.txt"
    # a second run reports the same failures and re-embeds nothing
    rep2 = idx.add([bad])
    assert len(rep2.failed) == 4 and len(rep2.skipped) == 1


def test_missing_path_is_an_error_not_a_crash(tmp_path, folder):
    idx = xmodal.open(tmp_path / "idx", PROFILE)
    rep = idx.add([folder / "notes", tmp_path / "does-not-exist"])
    assert len(rep.added) == 2
    assert [Path(p).name for p, _ in rep.failed] == ["does-not-exist"]


def test_ctrl_c_keeps_committed_batches_and_resumes(tmp_path):
    root = tmp_path / "notes"
    for i in range(8):
        make_text(root / f"n{i}.txt", f"Note number {i} about topic {i * 7}.")

    class InterruptAfter:
        def __init__(self, n):
            self.n, self.done = n, 0

        def start(self, total):
            pass

        def item(self, path, status, reason=""):
            self.done += status == "added"
            if self.done == self.n:
                raise KeyboardInterrupt

    idx = xmodal.open(tmp_path / "idx", PROFILE, batch_size=2)
    rep = idx.add([root], progress=InterruptAfter(4))
    assert rep.interrupted
    kept = idx.stats()["items"]
    assert kept >= 4
    rep = xmodal.open(tmp_path / "idx").add([root])
    assert len(rep.skipped) == kept and len(rep.added) == 8 - kept
    assert xmodal.open(tmp_path / "idx").stats()["items"] == 8


def test_killed_process_leaves_a_valid_index(tmp_path):
    root = tmp_path / "notes"
    for i in range(40):
        make_text(root / f"n{i:02d}.txt", f"Sentence {i}: a short note about item {i}.")
    script = textwrap.dedent(
        f"""
        import sys, time, xmodal
        class Slow:
            def start(self, total): pass
            def item(self, path, status, reason=""):
                print(status, flush=True); time.sleep(0.1)
        xmodal.open({str(tmp_path / "idx")!r}, {PROFILE!r}, batch_size=2).add([{str(root)!r}], progress=Slow())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    seen = 0
    for line in proc.stdout:
        seen += line.strip() == "added"
        if seen >= 6:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    idx = xmodal.open(tmp_path / "idx")
    kept = idx.stats()["items"]
    assert 6 <= kept < 40
    rep = idx.add([root])
    assert len(rep.added) + len(rep.skipped) == 40 and len(rep.skipped) == kept
    assert idx.stats()["items"] == 40


def test_filters_and_mixed_query(tmp_path, folder):
    idx = xmodal.open(tmp_path / "idx", PROFILE)
    idx.add([folder])
    only_notes = idx.search("instrument", k=10, where="path LIKE '%notes%'")
    assert {Path(r.path).parent.name for r in only_notes} == {"notes"}
    images = idx.search("instrument", k=10, modalities=["image"])
    assert {r.modality.value for r in images} == {"image"}
    with pytest.raises(XModalError, match="unknown column 'no_such_column'"):
        idx.search("instrument", where="no_such_column = 3")
    # the modality filter holds against a user filter with OR, and cannot be closed off
    images_only = idx.search("instrument", k=10, modalities=["image"], where="modality = 'text' OR size >= 0")
    assert images_only and {r.modality.value for r in images_only} == {"image"}
    with pytest.raises(XModalError, match="invalid where filter"):
        idx.search("instrument", modalities=["image"], where="1=1) OR (1=1")
    # a typed filter does what the string does
    under_notes = idx.search("instrument", k=10, where=Prefix("path", str(folder / "notes") + os.sep))
    assert {r.id for r in under_notes} == {r.id for r in only_notes}

    # query by example: the blue picture finds itself first among images
    by_file = idx.search(file=folder / "img" / "blue.jpg", k=2, modalities=["image"])
    assert Path(by_file[0].path).name == "blue.jpg"
    # mixed: text + image; both parts steer the ranking of their own kind
    mixed = idx.search("baking bread", file=folder / "img" / "blue.jpg", k=10)
    names = [Path(r.path).name for r in mixed]
    assert names.index("blue.jpg") < names.index("red.png")
    assert names.index("bread.md") < names.index("violin.txt")
    v_text, v_mixed = idx.embed_query("baking bread"), idx.embed_query("baking bread", folder / "img" / "blue.jpg")
    assert not np.allclose(v_text, v_mixed)


def test_empty_query_is_a_clear_error(tmp_path):
    idx = xmodal.open(tmp_path / "idx", PROFILE)
    with pytest.raises(XModalError, match="empty query"):
        idx.search("   ")


def test_rerank_hook_reorders_top_n_and_keeps_stage_scores(tmp_path, folder):
    from xmodal.rerank import Reranker, RerankScore

    class LastFirst(Reranker):
        """Reverses the first stage's order and points at each candidate's first segment."""

        fusion_weight = 1.0

        def rerank(self, query, candidates):
            assert query.embeddings and query.embeddings[0].tokens.shape[1] == query.vector.shape[0]
            return [RerankScore(score=float(c.first_stage_rank), segment=c.segments[0] if c.segments else None, reason="test") for c in candidates]

    idx = xmodal.open(tmp_path / "idx", PROFILE)
    idx.add([folder])
    plain = [r.id for r in idx.search("string instrument", k=5)]
    reranked = idx.search("string instrument", k=5, rerank=LastFirst(), rerank_depth=5)
    assert [r.id for r in reranked] == plain[::-1]
    assert {"first_stage", "rerank", "fused"} <= set(reranked[0].scores)
    assert reranked[0].meta["reason"] == "test"


def test_overlapping_paths_and_duplicate_ids_never_make_two_rows(tmp_path, folder):
    idx = xmodal.open(tmp_path / "idx", PROFILE)
    rep = idx.add([folder / "notes", folder / "notes" / "violin.txt"])
    assert len(rep.added) == 2 and idx.stats()["items"] == 2
    with pytest.raises(XModalError, match="unique"):
        idx.add_texts([("x", "one"), ("x", "two")])


def test_explicit_ids_replace_the_files_previous_item(tmp_path, folder):
    idx = xmodal.open(tmp_path / "idx", PROFILE)
    note = folder / "notes" / "violin.txt"
    idx.add([note])
    rep = idx.add([note], ids=["mine"])  # same bytes, new id: re-recorded under the new id
    assert rep.updated and idx.stats()["items"] == 1
    assert [r.id for r in idx.search("violin", k=5)] == ["mine"]


def test_touched_file_is_not_rehashed_on_the_next_run(tmp_path, folder, monkeypatch):
    idx = xmodal.open(tmp_path / "idx", PROFILE)
    idx.add([folder])
    note = folder / "notes" / "violin.txt"
    os.utime(note, (time.time() + 50, time.time() + 50))
    rep = idx.add([folder])  # hashes once, finds the content unchanged, records the new mtime
    assert rep.added == rep.updated == [] and len(rep.skipped) == 5
    sent = []  # files handed to the decode workers (which hash them)
    real = idx.decoder.submit
    monkeypatch.setattr(idx.decoder, "submit", lambda job: sent.append(job.path) or real(job))
    rep = idx.add([folder])
    assert sent == [] and len(rep.skipped) == 5


def test_unknown_modality_in_the_api_is_a_clear_error(tmp_path, folder):
    idx = xmodal.open(tmp_path / "idx", PROFILE)
    idx.add([folder / "notes"])
    with pytest.raises(XModalError, match="unknown modality pictures"):
        idx.search("violin", modalities=["pictures"])


def test_many_pdfs_decode_safely_on_worker_threads(tmp_path):
    """PDFium is not thread-safe; the indexer's two decode threads must not crash the process."""
    root = tmp_path / "pdfs"
    for i in range(40):
        make_pdf(root / f"doc{i:02d}.pdf", [f"Report {i}: shipping volumes.", f"Annex {i}: contacts."])
    script = textwrap.dedent(
        f"""
        import xmodal
        rep = xmodal.open({str(tmp_path / "idx")!r}, {PROFILE!r}).add([{str(root)!r}])
        print(len(rep.added), len(rep.failed))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["40", "0"]
