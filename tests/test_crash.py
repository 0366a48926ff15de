"""Several processes on one index, and processes killed with SIGKILL at random points (while
indexing, pruning, deleting, building the ANN index): afterwards every file is in the index
exactly once, nothing committed is lost, and `check()` finds nothing wrong."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from crashkit import KILL_POINTS, assert_exactly_once, child, concurrent_run, finish, kill_cycle, notes
from xmodal.store.lock import FolderLock, IndexBusy

# ------------------------------------------------------------------ the lock itself


def test_the_write_lock_excludes_other_processes_and_names_its_owner(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from xmodal.store.lock import FolderLock\n"
         f"l = FolderLock({str(tmp_path)!r}); l.acquire(); print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = FolderLock(tmp_path)
        with pytest.raises(IndexBusy, match=f"pid {holder.pid} on"):
            lock.acquire(timeout=0.3)
        assert lock.owner().pid == holder.pid
        holder.send_signal(signal.SIGKILL)  # a crashed writer: the kernel drops its lock
        holder.wait(timeout=30)
        lock.acquire(timeout=5)
        lock.release()
    finally:
        holder.kill()
        holder.wait()


def test_the_write_lock_is_reentrant_and_excludes_other_threads(tmp_path):
    import threading

    lock = FolderLock(tmp_path)
    order = []
    with lock:
        with lock:  # the same thread again: no deadlock
            t = threading.Thread(target=lambda: (lock.acquire(), order.append("other"), lock.release()))
            t.start()
            time.sleep(0.3)
            order.append("first")
    t.join(timeout=10)
    assert order == ["first", "other"]


@pytest.mark.slow  # waits out decode/lock time budgets (seconds)
def test_a_writer_gives_up_on_a_stuck_holder_naming_it_and_what_it_does(tmp_path):
    """The lock used to be waited for without end: a holder that hung made every writer hang."""
    import socket

    idx = tmp_path / "idx"
    idx.mkdir()
    (tmp_path / "a.txt").write_text("hello")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from xmodal.store.lock import FolderLock, doing\n"
         f"l = FolderLock({str(idx)!r})\nwith doing('committing 32 files'):\n    l.acquire()\n"
         "print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "xmodal.cli", "index", str(tmp_path / "a.txt"), "--index", str(idx),
                              "--lock-timeout", "1"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "COLUMNS": "300"})
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 1, run.stderr
    [message] = run.stderr.strip().splitlines()  # one line, no traceback
    assert message.startswith("error: ") and str(idx) in message
    assert f"pid {holder.pid} on {socket.gethostname()}, for " in message and ", committing 32 files" in message
    assert "gave up after waiting 1 s" in message and "--lock-timeout" in message
    assert waited < 60
    assert not (idx / "xmodal.json").exists()  # nothing was written


def test_the_lock_says_what_its_holder_is_doing_to_threads_and_processes(tmp_path):
    import threading

    import xmodal
    from xmodal.store.lock import DEFAULT_TIMEOUT_S

    index = xmodal.open(tmp_path / "idx", {"name": "t", "text": {"encoder": "minilm-int8"}}, store_options={"lock_timeout": 0.2})
    lock = index.store.write_lock()
    assert FolderLock(tmp_path).timeout == DEFAULT_TIMEOUT_S  # finite unless asked otherwise
    errors = []
    with index.indexer.writing("committing 3 files"):
        assert lock.owner().doing == "committing 3 files"  # what another process reads
        t = threading.Thread(target=lambda: errors.append(pytest.raises(IndexBusy, index.delete, ["a"])))
        t.start()
        t.join(timeout=30)
    [busy] = errors
    assert "held in this process by thread MainThread" in str(busy.value) and "committing 3 files" in str(busy.value)
    assert index.delete(["a"]) == 0  # released: the next writer goes ahead


# ------------------------------------------------------------------ concurrent writers


@pytest.mark.slow  # the children load the MiniLM weights
def test_two_index_runs_into_one_new_index_leave_each_file_once(tmp_path):
    """The reported case: both runs exited 0 with 392 and 296 rows for 200 files."""
    assert concurrent_run(tmp_path, writers=2, files=60) == {"errors": 0, "lost": 0, "duplicated": 0}
    assert_exactly_once(tmp_path / "idx", tmp_path / "notes")


@pytest.mark.slow
def test_concurrent_overlapping_runs_prune_and_a_reader(tmp_path):
    """Three writers with overlapping folders, one of them pruning, and a reader that checks
    every snapshot it sees for duplicates, in one index."""
    folder = notes(tmp_path / "notes", 40)
    index = tmp_path / "idx"
    finish(child(index, paths=[str(folder)]))
    notes(folder, 30, start=40)
    for i in range(0, 10):
        (folder / f"n{i:03d}.txt").unlink()
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time, xmodal
        idx = xmodal.open({str(index)!r})
        bad = most = 0
        for _ in range(200):
            # one query reads one table version: two reads (file states, then a count) may
            # straddle a prune's commit and disagree without anything being wrong
            rows = [r for batch in idx.store.iter_rows(["id", "path"]) for r in batch]
            paths = [r["path"] for r in rows]
            ids = [r["id"] for r in rows]
            bad += len(paths) != len(set(paths)) or len(ids) != len(set(ids))
            most = max(most, len(rows))
            time.sleep(0.02)
        print("bad", bad, "most", most)
        """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writers = [
        child(index, paths=[str(folder)], prune=True),
        child(index, paths=[str(folder / f"n{i:03d}.txt") for i in range(10, 70, 2)]),
        child(index, paths=[str(folder)]),
    ]
    for w in writers:
        finish(w)
    _, bad, _, most = finish(reader).split()
    assert bad == "0" and int(most) >= 40  # it saw whole snapshots, none with a row twice
    assert_exactly_once(index, folder)


# ------------------------------------------------------------------ kill -9 at random points

@pytest.mark.slow
@pytest.mark.parametrize("point", range(len(KILL_POINTS)))
def test_kill_9_at_random_points_loses_and_duplicates_nothing(tmp_path, point):
    result = kill_cycle(tmp_path, point, random.Random(point))
    assert result == {"killed": 1, "lost": 0, "duplicated": 0, "problems": []}


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_more_kill_9_cycles(tmp_path, seed):
    rng = random.Random(1000 + seed)
    result = kill_cycle(tmp_path, rng.randrange(len(KILL_POINTS)), rng)
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["problems"] == []
