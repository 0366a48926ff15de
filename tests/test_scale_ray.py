"""Distributed ingest on a real two-node Ray cluster (`--ray ADDRESS`): the same items and
failure reasons as a local run, incremental re-runs, into Lance (a folder and S3) and Milvus, and a
driver killed mid-job whose committed batches stay and whose next run does the rest."""

from __future__ import annotations

import os
import signal
import time
import uuid

import numpy as np
import pytest

import xmodal
from scalekit import PROFILE, assert_each_file_once, cli_popen, media_folder, run_cli, s3_uri

pytestmark = pytest.mark.services
pytest.importorskip("ray", reason="the ray extra is not installed; bash scripts/setup-services.sh")


def _files(folder, bad: str | None = "broken.png") -> set[str]:
    return {str(p.resolve()) for p in folder.rglob("*") if p.is_file() and p.name != bad}


def test_ray_ingest_gives_what_a_local_run_gives(ray_cluster, tmp_path):
    folder = media_folder(tmp_path / "media", texts=10, images=2)
    local = xmodal.open(tmp_path / "local", PROFILE)
    want = local.add([folder])
    idx = xmodal.open(tmp_path / "ray-idx", PROFILE, batch_size=4)
    got = idx.add([folder], ray=ray_cluster.address)
    assert sorted(got.added) == sorted(want.added) and len(got.added) == 12
    assert got.failed == want.failed and len(got.failed) == 1  # the same file, the same reason
    assert_each_file_once(idx.store, _files(folder))
    ids = sorted(r["id"] for page in idx.store.iter_file_states() for r in page.values())
    mine = {r["id"]: r for r in idx.store.get(ids, with_tokens=True)}
    theirs = {r["id"]: r for r in local.store.get(ids, with_tokens=True)}
    for i in ids:  # the same vectors, text and token features as the local run's
        assert np.allclose(mine[i]["vector"], theirs[i]["vector"], atol=1e-5)
        assert (mine[i]["text"], mine[i]["n_tokens"], mine[i]["content_hash"]) == (theirs[i]["text"], theirs[i]["n_tokens"], theirs[i]["content_hash"])
    assert idx.search("whales in the sea", k=1)[0].path.endswith("note-003.txt")

    # incremental: nothing to do, then one changed file and one whose mtime alone moved
    assert idx.add([folder], ray=ray_cluster.address).summary()["skipped"] == 12
    (folder / "notes" / "note-001.txt").write_text("Changed: owls at night.")
    os.utime(folder / "notes" / "note-004.txt", (1_000_000, 1_000_000))
    rep = idx.add([folder], ray=ray_cluster.address, prune=True)
    assert [p.rsplit("/", 1)[-1] for p in rep.updated] == ["note-001.txt"] and rep.summary()["skipped"] == 11
    assert idx.store.file_states()[str((folder / "notes" / "note-004.txt").resolve())]["mtime"] == 1_000_000
    assert idx.search("owls at night", k=1)[0].path.endswith("note-001.txt")
    assert_each_file_once(idx.store, _files(folder))


def test_ray_ingest_into_s3_from_the_cli_and_into_milvus(ray_cluster, ceph_s3, milvus_server, tmp_path, monkeypatch):
    folder = media_folder(tmp_path / "media", texts=8, images=1)
    uri = s3_uri(ceph_s3, "ray")
    out = run_cli("index", str(folder), "--index", uri, "--profile", _profile_file(tmp_path), "--batch-size", "4",
                  "--ray", ray_cluster.address, "--json", env=ceph_s3.env())
    assert out.returncode == 0, out.stderr[-3000:]
    assert '"added": 9' in out.stdout and '"failed": 1' in out.stdout and "broken.png" in out.stdout
    for key, value in ceph_s3.env().items():  # the cluster's workers got them through the sink
        monkeypatch.setenv(key, value)
    assert_each_file_once(xmodal.open(uri).store, _files(folder))

    muri = f"milvus://127.0.0.1:{milvus_server.port}/ray_{uuid.uuid4().hex[:8]}"
    idx = xmodal.open(muri, PROFILE, batch_size=4)
    rep = idx.add([folder], ray=ray_cluster.address)
    assert len(rep.added) == 9 and [p.rsplit("/", 1)[-1] for p, _ in rep.failed] == ["broken.png"]
    assert_each_file_once(idx.store, _files(folder))
    assert idx.add([folder], ray=ray_cluster.address).summary()["skipped"] == 9


def _profile_file(tmp_path) -> str:
    import json

    f = tmp_path / "profile.json"
    f.write_text(json.dumps(PROFILE))
    return str(f)


def test_killed_driver_keeps_committed_batches_and_the_next_run_resumes(ray_cluster, tmp_path):
    # Enough batches that the job cannot finish between the poll that sees the first commit and
    # the kill, even on a fast machine (40 texts once all landed inside one poll interval).
    total = 400
    folder = media_folder(tmp_path / "media", texts=total, images=0, bad=False)
    uri = str(tmp_path / "idx")
    xmodal.open(uri, PROFILE)  # created here, so the poll below can open it
    driver = cli_popen("index", str(folder), "--index", uri, "--batch-size", "4", "--ray", ray_cluster.address,
                       start_new_session=True)
    watcher = xmodal.open(uri)
    deadline = time.monotonic() + 400
    committed = 0
    while time.monotonic() < deadline and driver.poll() is None:
        watcher.store.refresh()
        committed = watcher.store.count()
        if committed >= 4:  # at least one batch is in
            break
        time.sleep(0.05)
    assert driver.poll() is None, f"the job ended before it could be killed: {driver.communicate()[1][-2000:]}"
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and anything it started in its session
    driver.wait(timeout=30)
    # the cluster tears the job's workers down; a sink worker may still finish the commit it was
    # in, so wait until the count has held still for a while (a loaded machine is slow to reap)
    kept, still_since, deadline = -1, time.monotonic(), time.monotonic() + 120
    while time.monotonic() < deadline:
        watcher.store.refresh()
        now = watcher.store.count()
        if now != kept:
            kept, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= 6:
            break
        time.sleep(1)
    assert 4 <= kept < total  # whole batches (each write commits at least 4 rows)
    resumed = xmodal.open(uri).add([folder], ray=ray_cluster.address)
    assert resumed.summary()["skipped"] == kept and len(resumed.added) == total - kept and not resumed.failed
    assert_each_file_once(watcher.store, _files(folder, bad=None))
    print(f"\nray driver killed with {kept}/{total} items committed; the next run added the other {total - kept}")
