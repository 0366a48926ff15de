"""The Milvus store on a real Milvus 2.3.5 (`--index milvus://host:port/collection`): upsert with
repeated ids, delete counting what was really removed, every filter against the reference meaning
(nulls included), incremental re-runs through the engine, what the engine leaves out and says so,
and a kill -9 of the server that keeps every acknowledged item."""

from __future__ import annotations

import json
import random
import time
import uuid

import numpy as np
import pytest

import xmodal
from scalekit import PROFILE, assert_each_file_once, check_incremental, media_folder, run_cli
from test_filters import DIM, _random_filter, _records, HAND_CHECKED
from xmodal.errors import XModalError
from xmodal.store import Eq, In, IsNull, Like, Prefix, Range, TextMatch, evaluate, resolve_index
from xmodal.store.filters import walk

pytestmark = pytest.mark.services


def _uri(milvus_server, name: str) -> str:
    return f"milvus://127.0.0.1:{milvus_server.port}/{name}_{uuid.uuid4().hex[:8]}"


def _milvus_records():
    """test_filters' rows as xmodal writes them (extracted text is "" where there is none)."""
    return [dict(r, text=r["text"] or "") for r in _records()]


def _reference(f, rows):
    import pyarrow as pa

    cols = ("id", "path", "modality", "content_hash", "mtime", "size", "duration", "pages", "text")
    table = pa.Table.from_pylist([{k: r[k] for k in cols} for r in rows])
    return {r["id"] for r, keep in zip(rows, evaluate(f, table)) if keep}


def _unsupported(f) -> bool:
    return any(isinstance(n, TextMatch) or isinstance(n, Like) and not _prefix_like(n.pattern) for n in walk(f))


def _prefix_like(pattern: str) -> bool:
    import re

    return re.fullmatch(r"(?:[^\\%_]|\\.)*%?", pattern, re.S) is not None


@pytest.fixture(scope="module")
def filter_store(milvus_server):
    store = resolve_index(_uri(milvus_server, "filters")).open(dim=DIM)
    store.upsert(_milvus_records())
    return store


def test_every_filter_means_what_the_reference_says(filter_store):
    rows = _milvus_records()
    q = np.ones(DIM, np.float32) / np.sqrt(DIM)
    cases = [f for f, _ in HAND_CHECKED]
    rng = random.Random(11)
    cases += [_random_filter(rng) for _ in range(150)]
    checked = refused = 0
    for f in cases:
        if _unsupported(f):
            with pytest.raises(XModalError, match="the milvus store cannot filter with"):
                filter_store.count(f)
            refused += 1
            continue
        expected = _reference(f, rows)
        assert {r["id"] for r in filter_store.vector_search(q, 100, f)} == expected, f.where()
        assert filter_store.count(f) == len(expected), f.where()
        checked += 1
    assert checked > 100 and refused > 10
    # wildcards inside a prefix are literal, and non-ASCII, quotes and backslashes are quoted
    for prefix, ids in [("/m/100%/", {"item-2"}), ("/m/b_c/", {"item-4"}), ("/m/it's/", {"it's-6"}),
                        ("/m/back\\slash/", {"item-7"}), ("/m/Ünïcode/", {"item-8"})]:
        assert {r["id"] for r in filter_store.vector_search(q, 100, Prefix("path", prefix))} == ids


def test_upsert_keeps_the_last_of_repeated_ids_and_delete_counts_what_went(milvus_server):
    store = resolve_index(_uri(milvus_server, "writes")).open(dim=DIM)
    rows = _milvus_records()
    store.upsert(rows + [dict(rows[0], size=777), dict(rows[0], size=778)])  # item-0 three times
    assert store.count() == len(rows)
    assert store.get(["item-0"])[0]["size"] == 778
    assert store.count(Eq("id", "item-0")) == 1
    # Milvus's own delete_count is the number of ids sent; the store's is what was there
    assert store.delete(["item-1", "item-2", "no-such-item", "item-1"]) == 2
    assert store.delete(["item-1"]) == 0
    assert store.count() == len(rows) - 2 and store.get(["item-1", "item-3"])[0]["id"] == "item-3"
    # reads right after a delete do not see the deleted rows (Session does not cover deletes)
    q = rows[2]["vector"]
    assert "item-2" not in {h["id"] for h in store.vector_search(q, 20)}
    store.touch("item-3", 5.0, 55)
    got = store.get(["item-3"], with_tokens=True)[0]
    assert (got["mtime"], got["size"], got["duration"], got["pages"]) == (5.0, 55, None, None)
    assert np.allclose(got["vector"], rows[3]["vector"], atol=1e-6) and got["tokens"] is None
    # VARCHAR holds 65,535 bytes: longer text is cut at a character boundary, big meta keys dropped
    store.upsert([dict(rows[4], text="é" * 40_000, meta=json.dumps({"shots": ["x" * 70_000], "title": "t"}))])
    big = store.get(["item-4"])[0]
    assert big["text"] == "é" * 32_767
    assert json.loads(big["meta"]) == {"title": "t", "_dropped": ["shots"]}
    assert sum(len(p) for p in store.iter_file_states(batch=3)) == sum(1 for r in rows if r["path"]) - 2


def test_index_in_milvus_incremental_runs_and_what_it_leaves_out(milvus_server, tmp_path, caplog):
    folder = media_folder(tmp_path / "media", texts=8, images=2)
    uri = _uri(milvus_server, "engine")
    idx = xmodal.open(uri, PROFILE)
    assert any("hybrid search is off" in n for n in idx.notes) and any("no token features" in n for n in idx.notes)
    rep = idx.add([folder])
    assert len(rep.added) == 10 and len(rep.failed) == 1 and rep.failed[0][0].endswith("broken.png")
    assert idx.stats()["by_modality"] == {"image": 2, "text": 8}
    top = idx.search("whales swimming in the ocean", k=3)
    assert top[0].path.endswith("note-003.txt") and top[0].segment is None and set(top[0].scores) == {"vector"}
    assert {r.modality.value for r in idx.search("a picture", k=5, modalities=["image"])} == {"image"}
    in_img = idx.search("notes", k=5, where=Prefix("path", f"{folder.resolve()}/img/") & IsNull("duration"))
    assert len(in_img) == 2 and all(r.path.endswith(".png") for r in in_img)
    with pytest.raises(XModalError, match="AttentionReranker needs token_features, which the MilvusStore"):
        idx.search("whales", rerank="attention")
    with pytest.raises(XModalError, match="cannot filter with text CONTAINS"):
        idx.search("whales", where="text CONTAINS 'whale'")

    again = check_incremental(uri, folder, files_before=10)  # the manifest from the side collection
    assert again.delete([again.search("owls at night", k=1)[0].id, "no-such-id"]) == 1

    # the CLI says what is left out, and searches
    out = run_cli("search", "chess openings", "--index", uri, "--json", "-k", "1")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["path"].endswith("note-006.txt")
    assert "hybrid search is off" in out.stderr and "no token features" in out.stderr
    refused = run_cli("search", "trains", "--index", uri, "--rerank", "attention")
    assert refused.returncode == 1 and "needs token_features" in refused.stderr


def test_kill9_of_the_server_keeps_every_acknowledged_item(milvus_server, tmp_path):
    folder = media_folder(tmp_path / "media", texts=12, images=0, bad=False)
    uri = _uri(milvus_server, "crash")
    idx = xmodal.open(uri, PROFILE, batch_size=4)
    rep = idx.add([folder])  # each batch of 4 acknowledged by Milvus before the next
    assert len(rep.added) == 12
    before = {r["id"]: r["content_hash"] for r in idx.store.get([idx.search(f"note {i}", k=1)[0].id for i in range(3)])}

    restart_s = milvus_server.restart(kill=True)  # SIGKILL, then the same data dir
    t0 = time.monotonic()
    reopened = xmodal.open(uri)  # waits for the collection to load again
    load_s = time.monotonic() - t0
    files = {str(p.resolve()) for p in folder.rglob("*") if p.is_file()}
    assert_each_file_once(reopened.store, files)
    assert {r["id"]: r["content_hash"] for r in reopened.store.get(list(before))} == before
    rerun = reopened.add([folder])  # nothing lost, nothing to redo, no duplicates
    assert rerun.summary()["skipped"] == 12 and not rerun.added
    assert_each_file_once(reopened.store, files)
    print(f"\nmilvus kill -9: 12/12 acknowledged items back; restart {restart_s:.1f} s, reopen + load {load_s:.1f} s")


def test_compiled_ranges_and_lists_on_numbers(filter_store):
    q = np.ones(DIM, np.float32) / np.sqrt(DIM)
    assert filter_store.count(Range("size", ge=200, lt=400)) == 2
    assert filter_store.count(In("pages", (3,))) == 1
    assert len(filter_store.vector_search(q, 3, Range("mtime", gt=1000.5))) == 3
