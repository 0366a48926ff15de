"""Smoke tests of the real servers behind the scale-out paths (issue 12), through the client
libraries xmodal uses: Lance and an object client on Ceph radosgw S3, pymilvus on Milvus 2.3,
Ray Data on a two-node local Ray cluster. Each prints what it measured (run with -s to see)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.services

DIM = 384


def _rows(n: int, start: int = 0, seed: int = 0) -> list[dict]:
    rnd = random.Random(seed)
    modalities = ("image", "audio", "text")
    return [{"id": f"item-{k}", "vector": [rnd.gauss(0, 1) for _ in range(DIM)],
             "modality": modalities[k % 3], "size": k * 100, "duration": float(k)}
            for k in range(start, start + n)]


# --- Lance and plain objects on Ceph radosgw ---------------------------------------------------

APPENDER = textwrap.dedent("""
    import json, sys
    import lancedb, pyarrow as pa
    uri, options, worker, batches, rows = json.loads(sys.argv[1])
    table = lancedb.connect(uri, storage_options=options).open_table("items")
    for b in range(batches):  # each add() is one Lance commit racing the other writers
        ids = [f"w{worker}-b{b}-r{r}" for r in range(rows)]
        table.add(pa.table({"id": ids, "worker": [worker] * rows}))
""")


def test_lance_on_radosgw_keeps_every_commit_of_three_concurrent_writers(ceph_s3, tmp_path):
    lancedb = pytest.importorskip("lancedb")
    import pyarrow as pa

    uri = f"s3://{ceph_s3.bucket}/concurrent-{tmp_path.name}"
    options = ceph_s3.storage_options()
    db = lancedb.connect(uri, storage_options=options)
    t0 = time.monotonic()
    db.create_table("items", pa.table({"id": pa.array(["seed"]), "worker": pa.array([-1])}))
    workers, batches, rows = 3, 8, 5
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER,
                               json.dumps([uri, options, w, batches, rows])],
                              stderr=subprocess.PIPE, text=True) for w in range(workers)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, errors
    table = db.open_table("items")
    ids = table.to_arrow()["id"].to_pylist()
    elapsed = time.monotonic() - t0
    assert len(ids) == 1 + workers * batches * rows
    assert len(set(ids)) == len(ids)
    assert table.version == 1 + workers * batches  # the create, then one commit per add()
    print(f"\nlance on radosgw: {workers}x{batches} concurrent commits in {elapsed:.1f} s; "
          f"radosgw start {ceph_s3.timings}; memory (MiB) {ceph_s3.memory_mib()}")


def test_json_object_put_get_and_conditional_create_on_radosgw(ceph_s3, monkeypatch):
    pafs = pytest.importorskip("pyarrow.fs")
    for key, value in ceph_s3.env().items():  # the checksum settings matter for pyarrow's uploads
        monkeypatch.setenv(key, value)
    fs = pafs.S3FileSystem(access_key=ceph_s3.access_key, secret_key=ceph_s3.secret_key,
                           endpoint_override=ceph_s3.endpoint, scheme="http",
                           region=ceph_s3.region)
    manifest = {"encoders": {"text": "minilm"}, "dim": DIM}
    path = f"{ceph_s3.bucket}/manifests/xmodal.json"
    with fs.open_output_stream(path) as out:
        out.write(json.dumps(manifest).encode())
    with fs.open_input_stream(path) as inp:
        assert json.loads(inp.read()) == manifest

    obstore = pytest.importorskip("obstore")
    from obstore.store import S3Store

    store = S3Store(ceph_s3.bucket, endpoint=ceph_s3.endpoint, region=ceph_s3.region,
                    access_key_id=ceph_s3.access_key, secret_access_key=ceph_s3.secret_key,
                    client_options={"allow_http": True})
    lock = "manifests/lock.json"
    obstore.put(store, lock, b'{"holder": "a"}', mode="create")  # If-None-Match: *
    with pytest.raises(obstore.exceptions.AlreadyExistsError):
        obstore.put(store, lock, b'{"holder": "b"}', mode="create")
    current = obstore.get(store, lock)
    assert bytes(current.bytes()) == b'{"holder": "a"}'
    etag = current.meta["e_tag"]
    # radosgw 16 compares If-Match with the bare ETag: the quoted form S3 returns never matches
    with pytest.raises(obstore.exceptions.PreconditionError):
        obstore.put(store, lock, b'{"holder": "c"}', mode={"e_tag": etag})
    obstore.put(store, lock, b'{"holder": "c"}', mode={"e_tag": etag.strip('"')})
    with pytest.raises(obstore.exceptions.PreconditionError):  # now stale
        obstore.put(store, lock, b'{"holder": "d"}', mode={"e_tag": etag.strip('"')})
    assert bytes(obstore.get(store, lock).bytes()) == b'{"holder": "c"}'


# --- Milvus -----------------------------------------------------------------------------------

def _items_collection(client, name: str) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=256)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("modality", DataType.VARCHAR, max_length=16)
    schema.add_field("size", DataType.INT64)
    schema.add_field("duration", DataType.FLOAT)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="HNSW", metric_type="COSINE",
                    params={"M": 16, "efConstruction": 64})
    client.create_collection(name, schema=schema, index_params=index,
                             consistency_level="Session")


def _ids(client, name: str, expr: str, **kw) -> set[str]:
    return {r["id"] for r in client.query(name, filter=expr, output_fields=["id"], **kw)}


def test_milvus_upsert_delete_filters_and_session_reads(milvus_server):
    from pymilvus import MilvusClient

    client = MilvusClient(uri=milvus_server.uri, timeout=30)
    name = "smoke_items"
    t0 = time.monotonic()
    _items_collection(client, name)
    rows = _rows(30)
    assert client.insert(name, rows)["insert_count"] == 30
    # Session consistency: this client reads its own insert at once
    assert _ids(client, name, "size >= 0") == {r["id"] for r in rows}

    changed = dict(rows[3], size=999_999, modality="audio")
    assert client.upsert(name, [changed])["upsert_count"] == 1
    got = client.query(name, filter='id == "item-3"', output_fields=["size", "modality"])
    assert [(g["size"], g["modality"]) for g in got] == [(999_999, "audio")]
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 30

    # 2.3.5 counts the ids sent, not the rows removed, and its delete replies carry no
    # timestamp, so Session reads may still see deleted rows: read deletes back with Strong
    assert client.delete(name, ids=["item-4", "item-5", "no-such-item"])["delete_count"] == 3
    client.delete(name, filter='modality == "text" and size < 1000')  # item-2, item-8 (item-5 gone)
    strong = {"consistency_level": "Strong"}
    assert _ids(client, name, 'id in ["item-2", "item-4", "item-5", "item-8"]', **strong) == set()
    assert client.query(name, filter="", output_fields=["count(*)"],
                        **strong)[0]["count(*)"] == 26

    hits = client.search(name, data=[rows[0]["vector"]], limit=5,
                         filter='modality in ["image", "audio"] and size >= 0',
                         output_fields=["modality", "size"],
                         search_params={"metric_type": "COSINE", "params": {"ef": 64}})[0]
    assert hits[0]["id"] == "item-0" and hits[0]["distance"] == pytest.approx(1.0, abs=1e-4)
    assert all(h["entity"]["modality"] in ("image", "audio") for h in hits)
    print(f"\nmilvus smoke: {time.monotonic() - t0:.1f} s; server memory "
          f"{milvus_server.memory_mib()} MiB; version {client.get_server_version()}")
    client.close()


def test_milvus_acknowledged_inserts_survive_kill9_and_restart(milvus_server):
    from pymilvus import MilvusClient

    client = MilvusClient(uri=milvus_server.uri, timeout=30)
    name = "crash_items"
    _items_collection(client, name)
    rows = _rows(200, seed=1)
    for start in range(0, len(rows), 50):  # each call returns only once Milvus acknowledged it
        assert client.insert(name, rows[start:start + 50])["insert_count"] == 50
    client.close()

    restart_s = milvus_server.restart(kill=True)  # SIGKILL, then start on the same data dir
    client = MilvusClient(uri=milvus_server.uri, timeout=60)
    client.load_collection(name)
    found = _ids(client, name, 'id like "item-%"', consistency_level="Strong", limit=1000)
    assert found == {r["id"] for r in rows}
    hits = client.search(name, data=[rows[7]["vector"]], limit=1, output_fields=["size"])[0]
    assert hits[0]["id"] == "item-7"
    print(f"\nmilvus kill -9: 200/200 acknowledged rows back after a restart of {restart_s:.1f} s")
    client.close()


# --- Ray Data ---------------------------------------------------------------------------------

class HashEmbedder:
    """Stands in for the embedding actor: built once per actor, then called per batch.

    It returns a pyarrow table with a FixedSizeList vector column: a 2-D numpy column would
    become Ray's tensor extension type (ray.data.arrow_tensor_v2), which Lance refuses."""

    def __init__(self, dim: int):
        import numpy as np

        self.np, self.dim = np, dim

    def __call__(self, batch):
        import os

        import pyarrow as pa

        np = self.np
        texts = batch["text"].to_pylist()
        vectors = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(self.dim)
                            for t in texts]).astype("float32")
        return batch.append_column("vector", pa.FixedSizeListArray.from_arrays(
            pa.array(vectors.ravel()), self.dim)).append_column(
            "actor_pid", pa.array([os.getpid()] * len(texts), pa.int64()))


def ray_datasink_class():
    """A `ray.data.Datasink` subclass, built here so this module imports without Ray."""
    from ray.data import Datasink

    class LanceTableSink(Datasink):
        """Each write task adds its blocks to a LanceDB table: one atomic commit per call."""

        def __init__(self, uri: str, table: str):
            self.uri, self.table = uri, table

        def on_write_start(self, schema=None) -> None:
            self.schema_seen = schema

        def write(self, blocks, ctx) -> int:
            import lancedb
            import pyarrow as pa

            data = pa.concat_tables(list(blocks))  # pyarrow blocks (batch_format="pyarrow")
            if data.num_rows:
                lancedb.connect(self.uri).open_table(self.table).add(data)
            return data.num_rows

        def on_write_complete(self, write_result) -> None:
            self.written = sum(write_result.write_returns)

    return LanceTableSink


def test_ray_data_actor_pool_into_a_lance_datasink(ray_cluster, tmp_path):
    ray = pytest.importorskip("ray")
    lancedb = pytest.importorskip("lancedb")
    import pyarrow as pa
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers can't import tests/
    uri = str(tmp_path / "ray-index")
    schema = pa.schema([("id", pa.string()), ("text", pa.string()),
                        ("vector", pa.list_(pa.float32(), DIM)), ("actor_pid", pa.int64())])
    lancedb.connect(uri).create_table("items", schema=schema)
    t0 = time.monotonic()
    ray.init(address=ray_cluster.address, log_to_driver=False)
    try:
        nodes = [n for n in ray.nodes() if n["Alive"]]
        assert len(nodes) == 2 and {n["NodeManagerAddress"] for n in nodes} == {"127.0.0.1"}
        items = [{"id": f"doc-{i}", "text": f"note number {i}"} for i in range(240)]
        sink = ray_datasink_class()(uri, "items")
        (ray.data.from_items(items, override_num_blocks=12)
            .map_batches(HashEmbedder, fn_constructor_args=(DIM,), batch_size=20,
                         batch_format="pyarrow",
                         compute=ray.data.ActorPoolStrategy(size=2), num_cpus=0.75)
            .write_datasink(sink, ray_remote_args={"num_cpus": 0.25}))
        assert sink.written == len(items)  # on_write_complete ran on this (the driver's) sink
    finally:
        ray.shutdown()
    elapsed = time.monotonic() - t0
    table = lancedb.connect(uri).open_table("items").to_arrow()
    assert sorted(table["id"].to_pylist()) == sorted(i["id"] for i in items)
    # embedded by the pool's actors, never more than its size; how many of them get blocks
    # depends on when each actor comes up (on a loaded machine one may take them all)
    assert 1 <= len(set(table["actor_pid"].to_pylist())) <= 2
    print(f"\nray data: 240 rows through 2 actors into Lance in {elapsed:.1f} s "
          f"(cluster memory {ray_cluster.memory_mib()} MiB, nodes up in {ray_cluster.start_seconds})")
