"""Index URIs and store capabilities, without servers: which store a URI picks and with what
settings, the Milvus filter compiler's shape (its meaning is checked on a real server in
test_scale_milvus.py), and how the engine degrades, clearly, on a store that lacks a capability."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

import xmodal
from xmodal.errors import XModalError
from xmodal.store import STORES, And, Eq, In, IsNull, Like, Not, Or, Prefix, Range, Raw, TextMatch, resolve_index
from xmodal.store.lance import LanceStore
from xmodal.store.location import s3_settings
from xmodal.store.milvus import _successor, compile_filter


def test_a_folder_is_lance_as_before(tmp_path):
    loc = resolve_index(tmp_path / "idx")
    assert (loc.store, loc.path, loc.uri) == ("lancedb", tmp_path / "idx", str(tmp_path / "idx"))
    assert loc.options == {"path": tmp_path / "idx"}
    assert resolve_index(f"file://{tmp_path}/idx").path == tmp_path / "idx"
    assert resolve_index("relative/idx").path == Path("relative/idx")
    assert loc.read_manifest() is None  # nothing is created by looking
    assert not (tmp_path / "idx").exists()


def test_s3_uri_takes_aws_environment(monkeypatch):
    for k in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT", "AWS_ALLOW_HTTP", "AWS_SESSION_TOKEN", "XMODAL_S3_CONFIG", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AK")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    loc = resolve_index("s3://bucket/some/prefix/")
    assert (loc.store, loc.uri, loc.path) == ("lancedb-s3", "s3://bucket/some/prefix", None)
    assert loc.options["storage_options"] == {"aws_endpoint": "http://127.0.0.1:9000", "aws_region": "eu-west-1",
                                              "aws_access_key_id": "AK", "aws_secret_access_key": "SK", "allow_http": "true"}
    assert "SK" not in str(loc) and "SK" not in repr(loc.uri)


def test_s3_config_file_fills_what_the_environment_lacks(tmp_path, monkeypatch):
    conf = tmp_path / "s3.json"
    conf.write_text(json.dumps({"endpoint": "https://s3.example.org", "access_key_id": "file-ak",
                                "secret_access_key": "file-sk", "region": "r1"}))
    env = {"XMODAL_S3_CONFIG": str(conf), "AWS_ACCESS_KEY_ID": "env-ak"}
    s = s3_settings(env)
    assert (s.endpoint, s.access_key_id, s.secret_access_key, s.region, s.allow_http) == (
        "https://s3.example.org", "env-ak", "file-sk", "r1", False)
    conf.write_text(json.dumps({"endpoint": "x", "password": "p"}))
    with pytest.raises(XModalError, match="unknown: password"):
        s3_settings(env)


def test_milvus_uri(monkeypatch):
    monkeypatch.setenv("MILVUS_TOKEN", "root:secret")
    loc = resolve_index("milvus://127.0.0.1:19531/my_items?consistency=Strong")
    assert loc.store == "milvus" and loc.path is None
    assert loc.options == {"uri": "http://127.0.0.1:19531", "collection": "my_items", "consistency": "Strong",
                           "token": "root:secret"}
    assert loc.uri == "milvus://127.0.0.1:19531/my_items?consistency=Strong"
    assert resolve_index("milvus://db.local/c1").options["uri"] == "http://db.local:19530"


@pytest.mark.parametrize("uri,message", [
    ("milvus://host:1/bad-name", "expected milvus://host:port/collection"),
    ("milvus://host:1/", "expected milvus://host:port/collection"),
    ("milvus://host:x/c", "the port is not a number"),
    ("milvus://host:1/c?ttl=3", "unknown option ttl"),
    ("s3:///prefix", "give a bucket"),
    ("s3://b/p?endpoint=x", "takes no query"),
    ("gs://b/p", "unknown index URI scheme 'gs'"),
])
def test_bad_uris_are_one_line_errors(uri, message):
    with pytest.raises(XModalError, match=message):
        resolve_index(uri)


def test_store_name_must_fit_the_uri():
    with pytest.raises(XModalError, match="store 'milvus' cannot open it"):
        resolve_index("s3://b/p", store="milvus")
    with pytest.raises(XModalError, match="store 'lancedb' cannot open it"):
        resolve_index("milvus://h:1/c", store="lancedb")


# -- the Milvus compiler's shape ---------------------------------------------------------------------

def test_milvus_compiler_keeps_nulls_out_and_quotes():
    assert compile_filter(Eq("path", 'a"b\\c')) == '(path == "a\\"b\\\\c")'
    # a comparison on a nullable column excludes the nulls (stored as -1), also under NOT
    assert compile_filter(Range("duration", lt=10)) == "(duration >= 0 and duration < 10.0)"
    assert compile_filter(Not(Range("duration", lt=10))) == "(duration >= 0 and not (duration < 10.0))"
    assert compile_filter(IsNull("pages")) == "pages < 0"
    assert compile_filter(Not(IsNull("pages"))) == "pages >= 0"
    # path is never null: IsNull(path) is constant false, folded away
    assert compile_filter(Or((IsNull("path"), Eq("size", 3)))) == "(size == 3)"
    assert compile_filter(IsNull("path")) == "id in []"
    assert compile_filter(Not(IsNull("path"))) == ""
    assert compile_filter(In("modality", ("image", "audio"))) == '(modality in ["image", "audio"])'
    assert compile_filter(Not(And((Eq("size", 1), Raw("size > 3", dialect="milvus"))))) == "((not (size == 1)) or (not (size > 3)))"


def test_milvus_prefix_is_a_range_and_takes_wildcards_literally():
    assert compile_filter(Prefix("path", "/m/100%_x/")) == '(path >= "/m/100%_x/" and path < "/m/100%_x0")'
    assert compile_filter(Prefix("path", "")) == '(path >= "")'
    assert compile_filter(Like("path", "/a/b%")) == '(path >= "/a/b" and path < "/a/c")'
    assert compile_filter(Like("path", "/a/b\\%c")) == '(path == "/a/b%c")'
    assert _successor("a\U0010ffff") == "b" and _successor("\U0010ffff") is None and _successor("\ud7ff") == "\ue000"


def test_milvus_compiler_refuses_what_milvus_cannot_do():
    with pytest.raises(XModalError, match="cannot filter with path LIKE '%.jpg'.*only as a prefix"):
        compile_filter(And((Eq("size", 1), Like("path", "%.jpg"))))
    with pytest.raises(XModalError, match="cannot filter with text CONTAINS 'red'.*no substring"):
        compile_filter(Not(TextMatch("red")))


# -- degrading by capability -------------------------------------------------------------------------

class BareLanceStore(LanceStore):
    """A Lance store that declares no capabilities: stands in for any engine without full-text
    search or token features (Milvus 2.3 is one)."""

    capabilities = frozenset()


PROFILE = {"name": "text-only", "text": {"encoder": "minilm-int8"}}


@pytest.mark.slow  # real MiniLM weights
def test_engine_says_what_a_store_without_capabilities_leaves_out(tmp_path, caplog):
    with STORES.registered("bare-lance", BareLanceStore):
        with caplog.at_level(logging.WARNING):
            idx = xmodal.open(tmp_path / "idx", PROFILE, store="bare-lance")
        idx.add_texts([("a", "the violin is a string instrument"), ("b", "bake bread with yeast")])
        notes = idx.notes
        assert any("hybrid search is off" in n for n in notes) and any("no token features" in n for n in notes)
        assert all(n in caplog.text for n in notes)  # logged when the index opens, not silently
        assert idx.stats()["notes"] == notes
        # the full-text side is never asked (it would find "bread" lexically)
        idx.store.text_search = lambda *a, **k: pytest.fail("text_search called on a store without it")
        hits = idx.search("bread", k=2)
        assert [h.id for h in hits][0] == "b" and set(hits[0].scores) == {"vector"}
        with pytest.raises(XModalError, match="AttentionReranker needs token_features, which the BareLanceStore"):
            idx.search("bread", rerank="attention")
    full = xmodal.open(tmp_path / "full", PROFILE)
    assert full.notes == [] and full.store.capabilities == {"text_search", "token_features"}


def test_store_interface_iterates_file_states_in_pages(tmp_path):
    store = LanceStore(tmp_path / "s", dim=4)
    vec = np.ones(4, np.float32) / 2
    store.upsert([dict(id=f"i{k}", path=f"/f/{k}" if k % 5 else "", modality="text", content_hash=f"h{k}",
                       mtime=float(k), size=k, duration=None, pages=None, text="", segments="[]", tokens=b"",
                       n_tokens=0, meta="{}", vector=vec) for k in range(23)])
    pages = list(store.iter_file_states(batch=5))
    assert all(len(p) <= 5 for p in pages)
    merged = {k: v for p in pages for k, v in p.items()}
    assert len(merged) == 18 and merged["/f/7"] == {"id": "i7", "content_hash": "h7", "mtime": 7.0, "size": 7}
    assert merged == store.file_states()
    # ids repeated in one upsert: written once, the last record winning; delete counts what went
    store.upsert([dict(store.get(["i1"])[0], mtime=-1.0, vector=vec),
                  dict(store.get(["i1"])[0], mtime=-2.0, vector=vec)])
    assert store.count(Eq("id", "i1")) == 1 and store.get(["i1"])[0]["mtime"] == -2.0
    assert store.delete(["i1", "i2", "no-such-id"]) == 2
