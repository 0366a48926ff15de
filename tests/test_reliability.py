"""Indexing folders nobody curated: hostile names, links and special files, foreign or broken
index folders, read-only and full disks, concurrent writers and threads, old versions, and the
`info --check / --repair` pair. (Hostile *content* is tests/test_hostile.py; kill -9 and
multi-process runs are tests/test_crash.py.) Tests that index load the MiniLM weights: slow."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import xmodal
from mediagen import make_multichannel_audio, make_text
from xmodal.cli import app
from xmodal.errors import XModalError

TEXT = {"name": "text-only", "text": {"encoder": "minilm-int8"}}
runner = CliRunner()


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    make_text(root / "violin.txt", "The violin is a string instrument played with a bow.")
    make_text(root / "bread.txt", "Bake bread with flour, water, salt and yeast.")
    make_text(root / "sea.txt", "Whales and dolphins live in the sea.")
    return root


def _one_line(output: str) -> str:
    """The one error line of a command's output (a progress bar may precede it), never a traceback."""
    errors = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    return errors[0]


# ------------------------------------------------------------------ index folders that are not ours


def test_index_path_that_is_a_file_is_one_line(tmp_path, notes):
    f = make_text(tmp_path / "not-a-folder", "x")
    res = runner.invoke(app, ["index", str(notes), "--index", str(f), "--profile", "default"])
    assert res.exit_code == 1 and "is a file, not an index folder" in _one_line(res.output)


@pytest.mark.parametrize("manifest", [b"\x00\xff garbage", b'{"hello": "world"}', b"[1, 2, 3]", b'{"fingerprint": 3}'])
def test_garbage_or_foreign_manifest_is_one_line(tmp_path, notes, manifest):
    index = tmp_path / "idx"
    index.mkdir()
    (index / "xmodal.json").write_bytes(manifest)
    for args in (["index", str(notes)], ["search", "violin"], ["info"]):
        res = runner.invoke(app, [*args, "--index", str(index)])
        assert res.exit_code == 1 and "not an xmodal index manifest" in _one_line(res.output), args
    assert (index / "xmodal.json").read_bytes() == manifest


def test_foreign_lancedb_folder_is_refused_and_left_untouched(tmp_path, notes):
    import lancedb

    index = tmp_path / "theirs"
    db = lancedb.connect(str(index))
    db.create_table("items", data=[{"id": 1, "vector": [0.1, 0.2], "other": "x"}])
    db.create_table("metrics", data=[{"a": 1}])
    before = sorted(p.relative_to(index) for p in index.rglob("*"))
    res = runner.invoke(app, ["index", str(notes), "--index", str(index)])
    assert res.exit_code == 1 and "not an xmodal index" in _one_line(res.output)
    assert sorted(p.relative_to(index) for p in index.rglob("*")) == before  # no manifest, no lock, nothing


@pytest.mark.slow  # loads the MiniLM weights
def test_foreign_table_under_our_manifest_is_one_line(tmp_path, notes):
    import lancedb

    index = tmp_path / "idx"
    xmodal.open(index, TEXT).close()
    db = lancedb.connect(str(index))
    db.drop_table("items")
    db.create_table("items", data=[{"id": "1", "vector": [0.1] * 384, "other": "x"}])
    with pytest.raises(XModalError, match="not written by xmodal"):
        xmodal.open(index)


def test_a_non_empty_folder_never_becomes_an_index(tmp_path, notes):
    res = runner.invoke(app, ["index", str(notes), "--index", str(notes)])
    assert res.exit_code == 1 and "not an xmodal index" in _one_line(res.output) and "new or empty folder" in res.output
    assert not (notes / "xmodal.json").exists()


# ------------------------------------------------------------------ read-only and full disks


def _tree_state(folder: Path) -> dict[str, tuple[int, float]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime) for p in folder.rglob("*")}


@pytest.mark.slow  # loads the MiniLM weights
def test_a_run_with_nothing_to_do_writes_nothing(tmp_path, notes):
    """A read-only index used to fail every run: each one called optimize() (a write)."""
    idx = xmodal.open(tmp_path / "idx", TEXT)
    idx.add([notes])
    before = _tree_state(tmp_path / "idx")
    again = xmodal.open(tmp_path / "idx")
    rep = again.add([notes], prune=True)
    assert rep.summary()["skipped"] == 3 and not rep.failed
    assert _tree_state(tmp_path / "idx") == before


def _killed_before_finalize(index: Path, notes: Path) -> None:
    """What a writer killed between its last commit and its finalize leaves: every row, no
    full-text index (the kill -9 test met it under load: the next run had nothing to write, so
    the index stayed without one and hybrid search lost its lexical half)."""
    idx = xmodal.open(index, TEXT)
    idx.store.finalize = lambda: None
    idx.add([notes])
    assert [p.kind for p in xmodal.open(index).check().problems] == ["fts_index_missing"]


@pytest.mark.slow  # loads the MiniLM weights
def test_a_run_with_nothing_to_write_builds_the_indices_a_killed_writer_left_out(tmp_path, notes):
    _killed_before_finalize(tmp_path / "idx", notes)
    again = xmodal.open(tmp_path / "idx")
    assert again.add([notes]).summary()["skipped"] == 3
    assert again.check().ok
    assert [r["path"] for r in again.store.text_search("violin", 3)] == [str((notes / "violin.txt").resolve())]


@pytest.fixture
def read_only(tmp_path):
    """Make a folder read-only for real: chmod for a normal user; a read-only bind mount for
    root (whom permissions do not stop); skipped where neither is possible."""
    mounted: list[Path] = []

    def make(folder: Path) -> None:
        if os.geteuid() != 0:
            for p in [folder, *folder.rglob("*")]:
                p.chmod(p.stat().st_mode & ~0o222)
            return
        ok = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode == 0
        if not ok:
            pytest.skip("cannot make a read-only mount here")
        mounted.append(folder)
        if subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")

    yield make
    for folder in mounted:
        subprocess.run(["umount", str(folder)], capture_output=True)
    if os.geteuid() != 0:
        for p in tmp_path.rglob("*"):
            p.chmod(p.stat().st_mode | 0o200)


def _skips_and_searches(index: Path, notes: Path) -> None:
    """`xmodal index` of the same notes skips all three; `xmodal search` finds one."""
    res = runner.invoke(app, ["index", str(notes), "--index", str(index), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output[res.output.index("{"):])["skipped"] == 3
    res = runner.invoke(app, ["search", "violin", "--index", str(index), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)[0]["path"].endswith("violin.txt")


@pytest.mark.slow  # loads the MiniLM weights
def test_read_only_index_searches_skips_and_fails_writes_in_one_line(tmp_path, notes, read_only):
    index = tmp_path / "idx"
    xmodal.open(index, TEXT).add([notes])
    read_only(index)
    _skips_and_searches(index, notes)
    make_text(notes / "new.txt", "A new note.")
    res = runner.invoke(app, ["index", str(notes), "--index", str(index)])
    assert res.exit_code == 1 and "read-only" in _one_line(res.output)


@pytest.mark.slow  # loads the MiniLM weights
def test_a_read_only_index_without_its_full_text_index_still_skips_and_searches(tmp_path, notes, read_only):
    index = tmp_path / "idx"
    _killed_before_finalize(index, notes)
    read_only(index)
    _skips_and_searches(index, notes)


@pytest.mark.slow  # loads the MiniLM weights
def test_disk_full_is_one_line_and_keeps_what_was_committed(tmp_path, notes, monkeypatch):
    index = tmp_path / "idx"
    idx = xmodal.open(index, TEXT, batch_size=1)
    real, calls = idx.store.upsert, []

    def upsert(records, replaces=()):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(records, replaces)

    monkeypatch.setattr(idx.store, "upsert", upsert)
    with pytest.raises(XModalError, match="disk is full") as exc:
        idx.add([notes])
    assert "\n" not in str(exc.value)
    monkeypatch.undo()
    again = xmodal.open(index)
    assert again.stats()["items"] == 1
    rep = again.add([notes])
    assert len(rep.added) == 2 and again.stats()["items"] == 3


@pytest.mark.slow  # loads the MiniLM weights
def test_disk_full_on_a_real_small_file_system(tmp_path, notes):
    """A tmpfs of a few MB fills during indexing (root with mount rights only)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        for i in range(60):
            make_text(notes / f"more{i:02d}.txt", f"Note {i}: " + "words of text " * 40)
        res = runner.invoke(app, ["index", str(notes), "--index", str(mnt / "idx"), "--profile", _profile_file(tmp_path)])
        assert res.exit_code == 1, res.output
        assert "disk is full" in res.output and "Traceback" not in res.output
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def _profile_file(tmp_path: Path) -> str:
    f = tmp_path / "text-only.json"
    f.write_text(json.dumps(TEXT))
    return str(f)


# ------------------------------------------------------------------ names, links, special files


HOSTILE_NAMES = [
    b"caf\xe9 latin-1.txt",  # not UTF-8: used to abort the whole run
    b"\xff\xfe raw bytes.txt",
    "[bold red]markup[red] [link=x].txt".encode(),
    b"\x1b]0;pwned\x07title \x1b[2J.txt",
    "bidi \u202eevil.txt".encode(),
    ":smile: emoji code.txt".encode(),
    b"-rf leading dash.txt",
    b"line\nbreak.txt",
    b"x" * 251 + b".txt",
]


@pytest.mark.slow  # loads the MiniLM weights
def test_hostile_file_names_are_indexed_found_and_shown_safely(tmp_path):
    root = tmp_path / "names"
    root.mkdir()
    for i, name in enumerate(HOSTILE_NAMES):
        with open(os.path.join(os.fsencode(root), name), "w") as f:
            f.write(f"Note number {i} about the harbour lighthouse.")
    index = tmp_path / "idx"
    res = runner.invoke(app, ["index", str(root), "--index", str(index), "--profile", _profile_file(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{"):])
    assert summary["added"] == len(HOSTILE_NAMES) and summary["failed"] == 0
    idx = xmodal.open(index)
    stored = idx.store.file_states()
    assert len({s["id"] for s in stored.values()}) == len(HOSTILE_NAMES)
    assert any("caf\\xe9" in p for p in stored)  # displayable, and maps back to the real file
    rep = idx.add([root], prune=True)  # the next run recognises every file: nothing re-added or pruned
    assert len(rep.skipped) == len(HOSTILE_NAMES) and not rep.pruned and not rep.added
    res = runner.invoke(app, ["search", "harbour lighthouse", "--index", str(index), "-k", "20"])
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.output and "\x07" not in res.output and "\u202e" not in res.output
    res = runner.invoke(app, ["search", "harbour lighthouse", "--index", str(index), "-k", "20", "--json"])
    names = {Path(r["path"]).name for r in json.loads(res.output)}
    assert "[bold red]markup[red] [link=x].txt" in names and ":smile: emoji code.txt" in names
    assert "caf\\xe9 latin-1.txt" in names


@pytest.mark.slow  # loads the MiniLM weights
def test_indexed_text_with_markup_never_breaks_search_output(tmp_path):
    index = tmp_path / "idx"
    idx = xmodal.open(index, TEXT)
    idx.add_texts([("a", "Read the [/url] manual about [bold]lighthouses[/bold]."),
                   ("b", "Lighthouse keeper \x1b[31mred\x1b[0m log :smile:")])
    res = runner.invoke(app, ["search", "lighthouse", "--index", str(index)])
    assert res.exit_code == 0, res.output
    assert "[/url]" in res.output and "[bold]lighthouses[/bold]" in res.output
    assert "\x1b" not in res.output and "\\x1b[31mred" in res.output and ":smile:" in res.output


def test_prose_keeps_its_line_breaks_but_not_terminal_controls():
    from xmodal.cli.output import plain

    answer = "Best match [1]\n[2] a frog\tgreen \x1b]0;owned\x07 \u202eevil"
    shown = plain(answer, prose=True)
    assert shown.splitlines()[1].startswith("[2] a frog\tgreen")  # an LLM answer's lines stay lines
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "\n" not in plain(answer)  # a path or an indexed text stays on its one line


@pytest.mark.slow  # loads the MiniLM weights
def test_links_out_of_the_folder_and_special_files_are_reported_not_followed(tmp_path):
    secret = make_text(tmp_path / "outside" / "passwd", "root:x:0:0:XMODAL-SECRET")
    root = tmp_path / "media"
    make_text(root / "real.txt", "A real note about gardens.")
    (root / "sub").mkdir()
    make_text(root / "sub" / "inner.txt", "An inner note about rivers.")
    os.symlink(secret, root / "link.txt")  # out of the folder
    os.symlink(tmp_path / "outside", root / "linked-out")  # a linked folder, outside
    os.symlink(root / "sub", root / "linked-in")  # a linked folder, inside
    os.symlink(root / "real.txt", root / "alias.txt")  # a link to a file inside: same item as real.txt
    os.symlink(tmp_path / "nowhere", root / "dangling.txt")
    os.symlink(root / "loop-b", root / "loop-a")
    os.symlink(root / "loop-a", root / "loop-b")
    os.mkfifo(root / "pipe.txt")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock.txt"))
    try:
        idx = xmodal.open(tmp_path / "idx", TEXT)
        rep = idx.add([root])
    finally:
        sock.close()
    assert sorted(Path(p).name for p in rep.added) == ["inner.txt", "real.txt"] and not rep.failed
    reasons = {Path(p).name: r for p, r in rep.ignored}
    assert "outside the indexed folder" in reasons["link.txt"]
    assert "outside the indexed folder" in reasons["linked-out"]
    assert "symbolic link to a folder" in reasons["linked-in"]
    assert "dangling" in reasons["dangling.txt"]
    assert "loop" in reasons["loop-a"] and "loop" in reasons["loop-b"]
    assert "FIFO" in reasons["pipe.txt"] and "socket" in reasons["sock.txt"]
    assert all("XMODAL-SECRET" not in r["text"] for r in idx.get([s["id"] for s in idx.store.file_states().values()]))
    assert not any("SECRET" in r.text for r in idx.search("root password", k=10))


@pytest.mark.slow  # loads the MiniLM weights
def test_index_dot_skips_its_own_index_folder(tmp_path, monkeypatch):
    make_text(tmp_path / "a.txt", "A note about stars.")
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        res = runner.invoke(app, ["index", ".", "--profile", _profile_file(tmp_path), "--json"])
        assert res.exit_code == 0, res.output
        summary = json.loads(res.output[res.output.index("{"):])
        assert summary["failed"] == 0 and summary["added"] + summary["skipped"] == 2  # a.txt and the profile file


@pytest.mark.slow  # loads the MiniLM weights
def test_prune_removes_items_whose_path_became_a_folder_or_fifo(tmp_path, notes):
    idx = xmodal.open(tmp_path / "idx", TEXT)
    idx.add([notes])
    (notes / "violin.txt").unlink()
    (notes / "violin.txt").mkdir()
    (notes / "bread.txt").unlink()
    os.mkfifo(notes / "bread.txt")
    rep = idx.add([notes], prune=True)
    assert sorted(Path(p).name for p in rep.pruned) == ["bread.txt", "violin.txt"]
    assert [Path(p).name for p in idx.store.file_states()] == ["sea.txt"]


@pytest.mark.slow  # loads the MiniLM weights
def test_a_file_that_vanishes_before_decoding_is_reported(tmp_path, notes):
    class DeleteOnStart:
        def start(self, total):
            (notes / "sea.txt").unlink()

        def item(self, path, status, reason=""):
            pass

    idx = xmodal.open(tmp_path / "idx", TEXT)
    rep = idx.add([notes], progress=DeleteOnStart())
    assert [Path(p).name for p, _ in rep.failed] == ["sea.txt"] and "no such file" in rep.failed[0][1].lower()
    assert len(rep.added) == 2


@pytest.mark.slow  # loads the MiniLM weights
def test_search_by_an_8_channel_file_does_not_kill_the_process(tmp_path, notes):
    xmodal.open(tmp_path / "idx", TEXT).add([notes])
    f = make_multichannel_audio(tmp_path / "surround.wav", channels=8)
    res = subprocess.run([sys.executable, "-c", "from xmodal.cli import main; main()", "search", "--file", str(f), "--index", str(tmp_path / "idx")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr
    assert "cannot embed audio" in res.stderr and "Traceback" not in res.stderr


# ------------------------------------------------------------------ versions, check and repair


@pytest.mark.slow  # loads the MiniLM weights
def test_re_runs_do_not_pile_up_versions_and_old_ones_are_cleaned(tmp_path, notes, monkeypatch):
    idx = xmodal.open(tmp_path / "idx", TEXT)
    idx.add([notes])
    v0 = idx.store.version_count()
    for _ in range(10):
        idx.add([notes])
    assert idx.store.version_count() == v0  # nothing changed, nothing written
    from datetime import timedelta

    for i in range(5):
        make_text(notes / "sea.txt", f"Whales, version {i}.")
        idx.add([notes])
    grown = idx.store.version_count()
    assert grown > v0
    removed = idx.store.cleanup_versions(older_than=timedelta(0))
    assert removed > 0 and idx.store.version_count() < grown
    assert idx.stats()["items"] == 3 and idx.search("whales")[0].path.endswith("sea.txt")


def _table(idx):
    return idx.store._table


@pytest.mark.slow  # loads the MiniLM weights
def test_check_finds_and_repair_fixes_without_losing_items(tmp_path, notes):
    idx = xmodal.open(tmp_path / "idx", TEXT)
    idx.add([notes])
    assert idx.check().ok
    rows = idx.store.get(sorted(s["id"] for s in idx.store.file_states().values()), with_tokens=True)
    by_name = {Path(r["path"]).name: r for r in rows}
    # a duplicate row of one id (what concurrent writers used to leave)
    _table(idx).add([{**by_name["violin.txt"], "vector": np.asarray(by_name["violin.txt"]["vector"], np.float32)}])
    # a second item for the same file under another id
    idx.store.upsert([{**by_name["bread.txt"], "id": "stray-copy"}])
    # a vector off unit length, and a broken one
    idx.store.upsert([{**by_name["sea.txt"], "vector": 3.0 * np.asarray(by_name["sea.txt"]["vector"], np.float32)}])
    report = idx.check()
    kinds = {p.kind: p.count for p in report.problems}
    assert kinds == {"duplicate_ids": 1, "duplicate_paths": 1, "unnormalised_vectors": 1}
    make_text(notes / "gone.txt", "soon gone")
    idx.add([notes])
    (notes / "gone.txt").unlink()
    assert idx.check().get("files_gone").count == 1

    res = runner.invoke(app, ["info", "--check", "--index", str(tmp_path / "idx")])
    assert res.exit_code == 1 and "duplicate ids" in res.output
    res = runner.invoke(app, ["info", "--repair", "--index", str(tmp_path / "idx"), "--json"])
    after = json.loads(res.output)
    assert after["repaired"]["duplicate_rows_removed"] == 1 and after["repaired"]["duplicate_items_removed"] == 1
    assert after["repaired"]["vectors_renormalised"] == 1
    assert [p["kind"] for p in after["problems"]] == ["files_gone"]  # kept: --prune decides that
    again = xmodal.open(tmp_path / "idx")
    assert sorted(Path(p).name for p in again.store.file_states()) == ["bread.txt", "gone.txt", "sea.txt", "violin.txt"]
    assert again.stats()["items"] == 4


@pytest.mark.slow  # loads the MiniLM weights
def test_repair_re_embeds_a_broken_item_from_its_file(tmp_path, notes):
    idx = xmodal.open(tmp_path / "idx", TEXT)
    idx.add([notes])
    row = next(r for r in idx.store.get([s["id"] for s in idx.store.file_states().values()], with_tokens=True) if r["path"].endswith("sea.txt"))
    idx.store.upsert([{**row, "vector": np.zeros(384, np.float32)}])
    assert idx.check().get("broken_items").count == 1
    after = idx.repair()
    assert after.ok and after.repaired["items_reembedded"] == 1
    assert idx.search("whales and dolphins", k=1)[0].path.endswith("sea.txt")


# ------------------------------------------------------------------ threads


@pytest.mark.slow  # loads the MiniLM weights
def test_the_engine_is_safe_to_call_from_several_threads(tmp_path, notes):
    more = tmp_path / "more"
    for i in range(24):
        make_text(more / f"m{i:02d}.txt", f"Extra note {i} about boats and harbours number {i}.")
    idx = xmodal.open(tmp_path / "idx", TEXT, batch_size=4)
    idx.add([notes])
    errors: list[BaseException] = []
    seen_counts: list[int] = []

    def searcher():
        try:
            for _ in range(15):
                hits = idx.search("boats in the harbour", k=5)
                assert len({h.id for h in hits}) == len(hits)
                seen_counts.append(idx.stats()["items"])
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    def writer(folder):
        try:
            idx.add([folder])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    threads += [threading.Thread(target=writer, args=(more,)), threading.Thread(target=writer, args=(more,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert idx.stats()["items"] == 27 == len(idx.store.file_states())
    assert idx.check().ok


def test_a_text_too_long_to_embed_fails_before_any_embedding(tmp_path, monkeypatch):
    """The budgets covered decoding only: a 5 M-character text passed them, then took minutes in
    the text model. Over Limits.max_embed_chars a text or document now fails in one line, before
    the encoder sees it (benchmarks/embed_budget.py), and texts under it embed as before."""
    from mediagen import make_long_text, make_pdf
    from xmodal.encode.text_minilm import MiniLMTextEncoder
    from xmodal.errors import MediaError
    from xmodal.media import Limits

    embedded = []
    monkeypatch.setattr(MiniLMTextEncoder, "encode", lambda self, media: embedded.append(media) or pytest.fail("embedded"))
    long = make_long_text(tmp_path / "d" / "long.txt", 12_000)
    make_pdf(tmp_path / "d" / "long.pdf", ["Soup and stew and bread. " * 100] * 3)
    idx = xmodal.open(tmp_path / "idx", {**TEXT, "document": {"encoder": "pages"}}, limits=Limits(max_embed_chars=5_000))
    report = idx.add([tmp_path / "d"])
    failed = dict((Path(p).name, reason) for p, reason in report.failed)
    assert set(failed) == {"long.txt", "long.pdf"} and report.added == []
    assert "over the 5,000-character embedding limit (Limits.max_embed_chars)" in failed["long.txt"]
    assert failed["long.pdf"].startswith("document of ")
    texts = idx.add_texts([("big", "word " * 2000)])
    assert texts.failed == [("big", "text of 10,000 characters is over the 5,000-character embedding limit "
                                    "(Limits.max_embed_chars); not embedded")]
    with pytest.raises(MediaError, match=r"long\.txt: text of [\d,]+ characters is over"):
        idx.search(file=long)  # a query file too
    assert embedded == [] and idx.stats()["items"] == 0
    assert Limits().max_embed_chars == 1_000_000  # the default: a long book embeds, a 5 M-character dump does not
