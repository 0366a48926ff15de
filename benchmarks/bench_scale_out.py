"""Scale-out (issue 12) on one machine, real servers: Ceph radosgw (S3), Milvus 2.3.5, a Ray
cluster of a head and a worker node (tests/services starts and stops them).

    scripts/netns-loopback.sh .venv/bin/python benchmarks/bench_scale_out.py \
        --out benchmarks/results/scale-out.json [--files 2000] [--items 100000] [--parts ingest,query,crash]

* ingest: the same mixed files (3/4 text notes, 1/4 PNG pictures of 64-256 px; profile: MiniLM
  text + ConSE EfficientNet images, no OCR) into a local Lance folder, Lance on radosgw and
  Milvus, each by a plain local run and by Ray with 2 embedding actors (0.75 CPU each, reads
  0.25). Wall time of `Index.add` from a freshly opened index, model loading included on both
  sides (once in the local process, once per Ray actor).
* query: `--items` synthetic 384-d unit vectors in 1,000 clusters (embeddings cluster; uniform
  random vectors are the worst case for any ANN index), 200 queries drawn from the same mixture;
  p50/p95 of `Store.vector_search(k=10)` and recall@10 against exact search (numpy), for local
  Lance (IVF_HNSW_SQ over 50k items), Lance on S3 (the same index) and Milvus (HNSW, ef 64).
  Also the S3 commit latency (one 200-row upsert under the write lease) and Milvus upsert latency.
* crash: a Ray embedding actor killed -9 mid-run, and the Milvus server killed -9 mid-ingest
  (then restarted and the run repeated): acknowledged items lost and duplicate rows afterwards.

Needs the ray, milvus and s3 extras and the Ceph packages (`bash scripts/setup-services.sh`); Ray
and Milvus listen on every interface, hence the loopback-only network namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the service classes and the media generators live there

import xmodal  # noqa: E402
from mediagen import make_image, make_text  # noqa: E402
from services.ceph import CephS3  # noqa: E402
from services.milvus import MilvusServer  # noqa: E402
from services.process import descendants, port_open, wait_for  # noqa: E402
from services.raycluster import RayCluster  # noqa: E402
from xmodal.store import resolve_index  # noqa: E402

PROFILE = {"name": "bench-scale", "text": {"encoder": "minilm-int8"},
           "image": {"encoder": "conse-effnet", "args": {"ocr": False}}}
WORDS = ("violin bread train whale snow coffee chess tomato solar jazz river castle owl tiger rocket garden "
         "market bridge forest desert lamp mirror clock candle harbor glacier meadow canyon").split()


def corpus(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        if i % 4 == 3:
            side = int(rng.integers(64, 257))
            make_image(root / "img" / f"{i:05d}.png", size=(side, int(side * 0.75)),
                       color=tuple(int(c) for c in rng.integers(0, 256, 3)))
        else:
            words = " ".join(rng.choice(WORDS, size=12))
            make_text(root / "txt" / f"{i:05d}.txt", f"Note {i}: {words}.")
    return root


def timed_add(uri: str, folder: Path, ray: str | None, actors: int = 2) -> dict:
    idx = xmodal.open(uri, PROFILE, batch_size=32)
    t0 = time.perf_counter()
    if ray is None:
        rep = idx.add([folder])
    else:
        from xmodal.engine.distributed import ray_add

        rep = ray_add(idx, [folder], address=ray, actors=actors)
    wall = time.perf_counter() - t0
    n = len(rep.added)
    return {"files": n, "failed": len(rep.failed), "seconds": round(wall, 1), "files_per_s": round(n / wall, 1),
            "rows": idx.store.count()}


def ingest(args, ceph, milvus, ray, work: Path) -> dict:
    folder = corpus(work / "corpus", args.files)
    out = {}
    for target in ("lance-local", "lance-s3", "milvus"):
        for mode in ("local", "ray"):
            uri = {"lance-local": str(work / f"idx-{mode}"), "lance-s3": f"s3://{ceph.bucket}/bench-{mode}-{uuid.uuid4().hex[:6]}",
                   "milvus": f"milvus://127.0.0.1:{milvus.port}/bench_{mode}_{uuid.uuid4().hex[:6]}"}[target]
            load = os.getloadavg()[0]
            res = timed_add(uri, folder, ray.address if mode == "ray" else None)
            res["loadavg_1min_before"] = round(load, 1)
            out[f"{target}/{mode}"] = res
            print(target, mode, res, flush=True)
    return out


def clustered(n: int, dim: int, seed: int, centers: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = centers[rng.integers(0, len(centers), n)] + rng.normal(scale=0.35 / np.sqrt(dim) * 4, size=(n, dim))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def rows(vecs: np.ndarray, start: int) -> list[dict]:
    return [dict(id=f"v{start + i}", path=f"/data/{(start + i) % 7}/{start + i}", modality="image", content_hash=str(start + i),
                 mtime=0.0, size=start + i, duration=None, pages=None, text="", segments="[]", tokens=b"", n_tokens=0,
                 meta="{}", vector=v) for i, v in enumerate(vecs)]


def query_bench(args, ceph, milvus, work: Path) -> dict:
    dim = 384
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(1000, dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    data = clustered(args.items, dim, 2, centers)
    queries = clustered(200, dim, 3, centers)
    truth = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    out = {}
    targets = {"lance-local": str(work / "q-local"), "lance-s3": f"s3://{ceph.bucket}/bench-q-{uuid.uuid4().hex[:6]}",
               "milvus": f"milvus://127.0.0.1:{milvus.port}/bench_q_{uuid.uuid4().hex[:6]}"}
    for name, uri in targets.items():
        store = resolve_index(uri).open(dim=dim)
        t0 = time.perf_counter()
        commit_s = []
        for start in range(0, args.items, 10_000):
            c0 = time.perf_counter()
            store.upsert(rows(data[start:start + 10_000], start))
            commit_s.append(time.perf_counter() - c0)
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        store.finalize()
        if name == "milvus":
            wait_milvus_index(store)
        build_s = time.perf_counter() - t0
        for q in queries[:5]:  # warm-up (caches, the index loaded)
            store.vector_search(q, 10)
        lat, recall = [], []
        for q, want in zip(queries, truth):
            t0 = time.perf_counter()
            hits = store.vector_search(q, 10)
            lat.append(time.perf_counter() - t0)
            recall.append(len({int(h["id"][1:]) for h in hits} & set(want.tolist())) / 10)
        small = []
        for i in range(10):  # a typical ingest commit: 200 rows
            c0 = time.perf_counter()
            store.upsert(rows(clustered(200, dim, 100 + i, centers), args.items + 200 * i))
            small.append(time.perf_counter() - c0)
        out[name] = {"items": args.items, "load_s": round(load_s, 1), "upsert_10k_s_median": round(statistics.median(commit_s), 2),
                     "finalize_s": round(build_s, 1), "p50_ms": round(1000 * statistics.median(lat), 1),
                     "p95_ms": round(1000 * float(np.percentile(lat, 95)), 1), "recall_at_10": round(float(np.mean(recall)), 3),
                     "upsert_200_rows_ms_p50": round(1000 * statistics.median(small), 1),
                     "upsert_200_rows_ms_max": round(1000 * max(small), 1), "loadavg_1min": round(os.getloadavg()[0], 1)}
        print(name, out[name], flush=True)
    return out


def wait_milvus_index(store, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = store.client.describe_index(store.collection, "vector")
        if int(info.get("pending_index_rows", 0)) == 0 and int(info.get("indexed_rows", 0)) >= int(info.get("total_rows", 0)):
            return
        time.sleep(1)


def crash_bench(args, milvus: MilvusServer, ray: RayCluster, work: Path) -> dict:
    out = {}
    folder = corpus(work / "crash-corpus", args.crash_files)
    expected = {str(p.resolve()) for p in folder.rglob("*") if p.is_file()}

    # a Ray embedding actor killed -9 while the job runs
    idx = xmodal.open(work / "crash-ray", PROFILE, batch_size=16)
    killed: list[int] = []

    def kill_an_actor() -> None:
        """SIGKILL the first embedding actor seen, a few seconds after it appears (it has loaded
        its models and taken batches by then)."""
        deadline, seen = time.monotonic() + 600, None
        while time.monotonic() < deadline and not killed:
            for node in ray.nodes:
                for pid in descendants(node.pid):
                    try:
                        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                    except OSError:
                        continue
                    if "MapWorker" in cmd and "Embedder" in cmd:
                        seen = seen or (pid, time.monotonic())
            if seen and time.monotonic() - seen[1] > 8:
                os.kill(seen[0], signal.SIGKILL)
                killed.append(seen[0])
                return
            time.sleep(0.3)

    killer = threading.Thread(target=kill_an_actor)
    killer.start()
    try:
        rep = idx.add([folder], ray=ray.address)
        first = {"completed": True, "added": len(rep.added), "failed": len(rep.failed)}
    except Exception as exc:  # the job may fail when its actor dies: the re-run finishes it
        first = {"completed": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    killer.join()
    idx.store.refresh()
    before_rerun = set(idx.store.file_states())
    rerun = idx.add([folder], ray=ray.address)
    out["ray_actor_kill9"] = {"actor_killed": bool(killed), "first_run": first, "rows_kept_before_rerun": len(before_rerun),
                              "rerun_added": len(rerun.added), **count_loss(idx.store, expected, before_rerun)}
    print("ray actor kill", out["ray_actor_kill9"], flush=True)

    # the Milvus server killed -9 in the middle of a local ingest, restarted, the run repeated
    uri = f"milvus://127.0.0.1:{milvus.port}/crash_{uuid.uuid4().hex[:6]}"
    idx = xmodal.open(uri, PROFILE, batch_size=16)
    acknowledged: set[str] = set()

    class Watch:  # the Progress protocol: a file is acknowledged once its batch's upsert returned
        def start(self, total: int) -> None: ...

        def item(self, path: str, status: str, reason: str = "") -> None:
            if status in ("added", "updated"):
                acknowledged.add(path)
            if len(acknowledged) >= len(expected) // 3 and not killed_milvus:
                killed_milvus.append(time.monotonic())
                milvus.kill9()

    killed_milvus: list[float] = []
    try:
        idx.add([folder], progress=Watch())
        first_ok = True
    except Exception:
        first_ok = False
    if not killed_milvus:
        milvus.kill9()
    wait_for(lambda: not port_open(milvus.port), 30, "Milvus port released")
    restart_s = milvus.start()
    reopened = xmodal.open(uri)
    kept = set(reopened.store.file_states())
    rerun = reopened.add([folder])
    out["milvus_server_kill9"] = {"acknowledged_before_kill": len(acknowledged), "first_run_completed": first_ok,
                                  "acknowledged_lost": len(acknowledged - kept), "restart_s": round(restart_s, 1),
                                  "rerun_added": len(rerun.added), **count_loss(reopened.store, expected, kept)}
    print("milvus kill", out["milvus_server_kill9"], flush=True)
    return out


def count_loss(store, expected: set[str], kept: set[str]) -> dict:
    store.refresh()
    final = set(store.file_states())
    rows_n = store.count()
    return {"files": len(expected), "missing_after_rerun": len(expected - final), "duplicate_rows": rows_n - len(final)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/scale-out.json")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--crash-files", type=int, default=200)
    ap.add_argument("--parts", default="ingest,query,crash")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    result: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "loadavg_before": [round(x, 2) for x in os.getloadavg()]},
                    "args": {k: v for k, v in vars(args).items() if k != "out"}}
    ceph = CephS3(work / "ceph")
    milvus = MilvusServer(work / "milvus")
    ray = RayCluster(work / "ray", cpus_per_node=1, object_store_bytes=300 * 1024**2)
    try:
        endpoint = ceph.start()
        os.environ.update(endpoint.env())
        milvus.start()
        if "ingest" in parts or "crash" in parts:
            ray.start()
        if "ingest" in parts:
            result["ingest"] = ingest(args, endpoint, milvus, ray, work)
        if "query" in parts:
            result["query"] = query_bench(args, endpoint, milvus, work)
        if "crash" in parts:
            result["crash"] = crash_bench(args, milvus, ray, work)
    finally:
        for service in (ray, milvus, ceph):
            try:
                service.stop()
            except Exception as exc:  # stop the others whatever happens
                print(f"stopping {type(service).__name__}: {exc}", file=sys.stderr)
    result["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
