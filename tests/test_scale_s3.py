"""An index on S3 (Lance on a real Ceph radosgw, `--index s3://bucket/prefix`): the manifest in
the bucket, incremental re-runs, several processes writing one index at once (every file ends up
exactly once), the write lease, and the ANN index built there."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

import xmodal
from scalekit import PROFILE, assert_each_file_once, check_incremental, cli_popen, media_folder, run_cli, s3_uri
from xmodal.store import resolve_index

pytestmark = pytest.mark.services
pytest.importorskip("obstore", reason="the s3 extra is not installed; bash scripts/setup-services.sh")


@pytest.fixture
def s3_env(ceph_s3, monkeypatch):
    for key, value in ceph_s3.env().items():  # the usual AWS variables, as a user would set them
        monkeypatch.setenv(key, value)
    return ceph_s3.env()


def test_index_on_s3_manifest_incremental_prune_and_cli(ceph_s3, s3_env, tmp_path):
    folder = media_folder(tmp_path / "media", texts=6, images=1)
    uri = s3_uri(ceph_s3)
    idx = xmodal.open(uri, PROFILE)
    assert idx.path is None and idx.uri == uri and idx.stats()["store"] == "lancedb-s3"
    rep = idx.add([folder])
    assert len(rep.added) == 7 and len(rep.failed) == 1 and rep.failed[0][0].endswith("broken.png"), rep.failed
    # the manifest is an object beside the table, read without opening the table
    manifest = resolve_index(uri).read_manifest()
    assert manifest["profile_spec"]["name"] == "scale-test"
    assert json.loads(idx.store.objects.get("xmodal.json").data) == manifest

    check_incremental(uri, folder, files_before=7)

    # the CLI takes the URI, with the endpoint and keys from the environment
    out = run_cli("search", "owls at night", "--index", uri, "--json", "-k", "1", env=s3_env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["path"].endswith("note-001.txt")
    info = run_cli("info", "--index", uri, env=s3_env)
    assert info.returncode == 0 and "lancedb-s3" in info.stdout and "6 items" in info.stdout
    missing = run_cli("search", "x", "--index", uri + "-none", env=s3_env)
    assert missing.returncode == 1 and "no index at s3://" in missing.stderr


def test_concurrent_writers_leave_every_file_exactly_once(ceph_s3, s3_env, tmp_path):
    """Three `xmodal index` processes at once into one new S3 index, over overlapping folders:
    one manifest, every file once (the write lease and Lance's conditional-put commits)."""
    root = media_folder(tmp_path / "media", texts=18, images=0, bad=False)
    notes = sorted((root / "notes").iterdir())
    # each writer gets 8 of the 18 files: every file is in one or two writers' sets
    parts = [[str(f) for f in notes[w * 6: w * 6 + 8] + notes[: 2 if w == 2 else 0]] for w in range(3)]
    uri = s3_uri(ceph_s3, "concurrent")
    t0 = time.monotonic()
    procs = [cli_popen("index", *part, "--index", uri, "--profile", json_profile(tmp_path), "--batch-size", "2",
                       env=s3_env) for part in parts]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-2000:] for o in outs]
    idx = xmodal.open(uri)
    assert_each_file_once(idx.store, {str(f.resolve()) for f in notes})
    assert idx.store.write_lock().owner() is None  # every writer let the lease go
    print(f"\n3 concurrent writers, 18 files (24 with overlaps), batches of 2: {time.monotonic() - t0:.1f} s")


def json_profile(tmp_path) -> str:
    f = tmp_path / "profile.json"
    f.write_text(json.dumps(PROFILE))
    return str(f)


def test_write_lease_waits_for_a_live_holder_and_takes_over_a_stale_one(ceph_s3, s3_env):
    from xmodal.store.lance_s3 import _objects
    from xmodal.store.lock import IndexBusy
    from xmodal.store.objects import LEASE, S3Lease

    loc = resolve_index(s3_uri(ceph_s3, "lease"))
    objects = _objects(loc.options["path"], loc.options["storage_options"])

    def held() -> dict:
        return json.loads(objects.get(LEASE).data)

    holder = S3Lease(objects, ttl_s=30)
    waiter = S3Lease(objects, ttl_s=30, timeout_s=1.0)
    with holder:
        with holder:  # re-entrant
            pass
        assert held()["pid"] == os.getpid() and holder.owner().pid == os.getpid()
        with pytest.raises(IndexBusy, match=f"another writer holds the index \\(pid {os.getpid()} on"):
            waiter.acquire()
    assert objects.get(LEASE) is None  # released: deleted
    # a holder that died: its lease expired, another writer takes it over
    objects.put(LEASE, json.dumps({"token": "dead", "pid": 1, "host": "gone", "expires": time.time() - 1}).encode())
    with waiter:
        assert held()["token"] != "dead"
    # renewed while held: it does not expire under a long write
    short = S3Lease(objects, ttl_s=1.5)
    with short:
        first = held()
        time.sleep(2.5)  # past the first expiry: only a renewal moves it (a loaded gateway may lag)
        now = held()
        assert now["token"] == first["token"] and now["expires"] > first["expires"]


def test_ann_index_builds_on_s3_and_searches(ceph_s3, s3_env):
    from xmodal.store import Prefix

    loc = resolve_index(s3_uri(ceph_s3, "ann"), options={"ann_threshold": 300})
    store = loc.open(dim=32)
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(600, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    t0 = time.monotonic()
    for start in range(0, 600, 200):  # three commits
        store.upsert([dict(id=f"v{i}", path=f"/data/{i % 3}/{i}.txt", modality="text", content_hash=str(i), mtime=0.0,
                           size=i, duration=None, pages=None, text=f"item {i}", segments="[]", tokens=b"",
                           n_tokens=0, meta="{}", vector=vecs[i]) for i in range(start, start + 200)])
    commits = time.monotonic() - t0
    t0 = time.monotonic()
    store.finalize()
    build = time.monotonic() - t0
    indexed = {c for ix in store._table.list_indices() for c in getattr(ix, "columns", [])}
    assert {"vector", "text", "id"} <= indexed
    reopened = resolve_index(loc.uri, options={"ann_threshold": 300}).open(dim=32)
    hits = reopened.vector_search(vecs[123], 5)
    assert hits[0]["id"] == "v123" and hits[0]["_score"] == pytest.approx(1.0, abs=1e-3)
    assert all(h["path"].startswith("/data/0/") for h in reopened.vector_search(vecs[7], 5, Prefix("path", "/data/0/")))
    assert [r["id"] for r in reopened.text_search("item 42", 3)][:1] == ["v42"]
    print(f"\nS3: 3 commits of 200 rows in {commits:.1f} s; FTS + scalar + IVF_HNSW_SQ build in {build:.1f} s")


def test_serve_replicas_answer_from_one_s3_index(ceph_s3, s3_env, tmp_path):
    """Two `xmodal serve` apps (replicas) over the same s3:// URI answer the same; no server path
    of the index leaks (it has none), uploads stay under the replica's work dir."""
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from xmodal.serve import Settings, create_app

    folder = media_folder(tmp_path / "media", texts=5, images=0, bad=False)
    uri = s3_uri(ceph_s3, "serve")
    xmodal.open(uri, PROFILE).add([folder])
    answers = []
    for r in range(2):
        settings = Settings(allowed_hosts=("testserver",), work_dir=tmp_path / f"replica{r}")
        with TestClient(create_app(xmodal.open(uri), settings)) as client:
            stats = client.get("/v1/stats").json()
            assert stats["items"] == 5 and stats["index"] == uri.rsplit("/", 1)[-1] and stats["store"] == "lancedb-s3"
            assert ceph_s3.bucket not in json.dumps(stats)
            hits = client.get("/v1/search", params={"q": "whales in the sea", "k": 2}).json()["results"]
            answers.append([h["id"] for h in hits])
    assert answers[0] == answers[1] and len(answers[0]) == 2
