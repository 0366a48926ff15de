"""Drive xmodal index processes for the crash and concurrency tests (tests/test_crash.py) and
the hostile-input benchmark (benchmarks/hostile.py): a child process that indexes, prunes or
deletes and prints where it is, kill -9 at chosen points, and the exactly-once check."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import xmodal
from mediagen import make_text

TEXT = {"name": "text-only", "text": {"encoder": "minilm-int8"}}

# A child that indexes (or prunes, or deletes) and says where it is, one line at a time, so the
# parent can kill it at a chosen moment. Phases are announced by wrapping the store's methods.
CHILD = textwrap.dedent(
    """
    import json, sys, time, xmodal
    index, args = sys.argv[1], json.loads(sys.argv[2])
    idx = xmodal.open(index, args.get("profile"), batch_size=args.get("batch_size", 4),
                      store_options={"ann_threshold": args.get("ann_threshold", 50_000)})
    def announce(name, fn):
        def wrapped(*a, **k):
            print("phase", name, flush=True)
            return fn(*a, **k)
        return wrapped
    idx.store.finalize = announce("finalize", idx.store.finalize)
    idx.store.delete = announce("delete", idx.store.delete)
    class Say:
        def start(self, total): print("start", total, flush=True)
        def item(self, path, status, reason=""):
            print("item", status, flush=True)
            time.sleep(args.get("item_sleep", 0))
    if args.get("delete"):
        ids = [s["id"] for s in idx.store.file_states().values()][: args["delete"]]
        print("deleted", idx.delete(ids), flush=True)
    else:
        rep = idx.add(args["paths"], prune=args.get("prune", False), progress=Say())
        print("done", json.dumps(rep.summary()), flush=True)
    """
)


def child(index: Path, src: str | None = None, **args) -> subprocess.Popen:
    """Start the child on `index`; src: the xmodal source tree it runs (default: this one)."""
    args.setdefault("profile", TEXT)
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    return subprocess.Popen([sys.executable, "-c", CHILD, str(index), json.dumps(args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


def kill_when(proc: subprocess.Popen, predicate, delay: float = 0.0) -> bool:
    """SIGKILL the child once a line of its output satisfies `predicate` (after `delay` s);
    False if it finished first."""
    for line in proc.stdout:
        if predicate(line.split()):
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            return True
    proc.wait(timeout=60)
    return False


def notes(root: Path, n: int, start: int = 0) -> Path:
    for i in range(start, start + n):
        make_text(root / f"n{i:03d}.txt", f"Note {i}: the {i % 7} harbour boats and {i % 5} lighthouses.")
    return root


def assert_exactly_once(index: Path, folder: Path) -> None:
    """Every regular file of `folder` is one item, no path or id twice, nothing else in it."""
    idx = xmodal.open(index)
    try:
        files = sorted(str(p.resolve()) for p in folder.iterdir() if p.is_file())
        states = idx.store.file_states()
        assert sorted(states) == files
        assert idx.store.count() == len(files)  # no row twice (file_states keys would hide it)
        report = idx.check()
        assert report.ok, [p.to_dict() for p in report.problems]
    finally:
        idx.close()


KILL_POINTS = [
    # (what the child does, when to kill: a predicate on its output line, delay range)
    ("index", lambda w: w[:2] == ["item", "added"], (0.0, 0.3)),
    ("index", lambda w: w[:1] == ["start"], (0.0, 1.5)),
    ("ann-build", lambda w: w[:2] == ["phase", "finalize"], (0.0, 0.4)),
    ("prune", lambda w: w[:2] == ["phase", "delete"], (0.0, 0.05)),
    ("delete", lambda w: w[:2] == ["phase", "delete"], (0.0, 0.05)),
]


def kill_cycle(tmp_path: Path, point: int, rng: random.Random) -> dict[str, int]:
    """One kill at `KILL_POINTS[point]`, then a clean re-run; returns lost and duplicated
    counts (both must be 0)."""
    what, when, (lo, hi) = KILL_POINTS[point]
    folder = notes(tmp_path / f"notes{point}", 24)
    index = tmp_path / f"idx{point}"
    ann = {"ann_threshold": 12} if what == "ann-build" else {}
    if what in ("prune", "delete"):
        finish(child(index, paths=[str(folder)], **ann))
    if what == "prune":
        for p in sorted(folder.iterdir())[:12]:
            p.unlink()
        proc = child(index, paths=[str(folder)], prune=True, **ann)
    elif what == "delete":
        proc = child(index, paths=[str(folder)], delete=16)
    else:
        proc = child(index, paths=[str(folder)], batch_size=rng.choice([1, 2, 4]), **ann)
    killed = kill_when(proc, when, rng.uniform(lo, hi))
    # the next run resumes: all files, each once (what the killed delete removed stays removed
    # or comes back with the re-run, never twice)
    finish(child(index, paths=[str(folder)], prune=True, **ann))
    idx = xmodal.open(index)
    try:
        files = {str(p.resolve()) for p in folder.iterdir()}
        states = idx.store.file_states()
        lost = len(files - set(states))
        duplicated = idx.store.count() - len(states) + len(set(states) - files)
        problems = [p.kind for p in idx.check().problems]
    finally:
        idx.close()
    return {"killed": int(killed), "lost": lost, "duplicated": duplicated, "problems": problems}




def concurrent_run(root: Path, writers: int = 2, files: int = 60, src: str | None = None) -> dict[str, int]:
    """`writers` processes index the same folder into one new index at once; returns the runs
    that failed, and the files lost and duplicated afterwards."""
    folder = notes(root / "notes", files)
    index = root / "idx"
    procs = [child(index, src=src, paths=[str(folder)]) for _ in range(writers)]
    errors = 0
    for p in procs:
        p.communicate(timeout=900)
        errors += p.returncode != 0
    idx = xmodal.open(index)
    try:
        states = idx.store.file_states()
        expected = {str(p.resolve()) for p in folder.iterdir()}
        return {"errors": errors, "lost": len(expected - set(states)), "duplicated": idx.store.count() - len(states)}
    finally:
        idx.close()


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections made to it (none may be)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join(timeout=2)
        self.sock.close()
