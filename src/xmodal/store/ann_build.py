"""Build a Lance table's vector index in a child process (`LanceStore.build_vector_index`).

Why a process: LanceDB runs the IVF-HNSW build's CPU work on the threads of the Rust runtime
that also runs every query of the process (two on two cores), and a query issued meanwhile
waited for almost the whole build (173.6 s of a 191-s build at 100k items, load 10;
benchmarks/README.md "Search during an ANN build"). In a process of its own the build only shares the CPUs, and the OS scheduler shares
those; the parent's searches go on reading the last committed version (a scan) until the
index's commit lands.

    python -m xmodal.store.ann_build     # one JSON line on stdin: {"uri", "storage_options", "settings", "rows"}

The child watches its stdin: when the parent dies (kill -9 included) the pipe closes and the
child exits at once, so no orphan goes on to commit behind a later writer's back. A build cut
short commits nothing (Lance commits the index in one step at the end).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

CHILD = [sys.executable, "-m", "xmodal.store.ann_build"]  # the command the parent runs (tests wrap it)


def build_in_child(uri: str, storage_options: dict[str, str], settings: dict[str, Any], rows: int) -> None:
    """Run the build in a child process and wait for it; its error, if any, as a RuntimeError."""
    job = json.dumps({"uri": uri, "storage_options": storage_options, "settings": settings, "rows": rows})
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(CHILD, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=_child_env())
        try:
            assert proc.stdin is not None
            proc.stdin.write(job.encode() + b"\n")
            proc.stdin.flush()  # stdin stays open: its end tells the child the parent is gone
            code = proc.wait()
        except BaseException:  # Ctrl-C, or the parent's own error: the build stops with it
            proc.kill()
            proc.wait()
            raise
        finally:
            proc.stdin.close()
        if code != 0:
            err.seek(0)
            lines = [ln for ln in err.read().decode(errors="replace").splitlines() if ln.strip()]
            raise RuntimeError(f"vector index build failed (exit {code}): {lines[-1] if lines else 'no message'}")


def _child_env() -> dict[str, str]:
    """This environment, with the folder this xmodal was imported from first on the path: the
    child runs the same code as the parent (a source tree may shadow an installed copy)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


def _read_job() -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):  # the raw fd, not sys.stdin: a daemon thread blocked in a
        chunk = os.read(0, 1 << 16)  # buffered read aborts the interpreter's exit
        if not chunk:
            break
        data += chunk
    return json.loads(data)


def _exit_when_parent_goes() -> None:
    while os.read(0, 1 << 16):  # returns b"" at EOF: the parent closed the pipe or died
        pass
    os._exit(3)


def main() -> None:
    job = _read_job()
    threading.Thread(target=_exit_when_parent_goes, daemon=True).start()
    os.environ.setdefault("LANCE_LOG", "error")
    from ._lancedb_import import import_lancedb
    from .lance import TABLE, AnnSettings

    db = import_lancedb().connect(job["uri"], storage_options=job["storage_options"] or None)
    table = db.open_table(TABLE)
    table.create_index("vector", config=AnnSettings(**job["settings"]).index_config(job["rows"]))


if __name__ == "__main__":
    main()
