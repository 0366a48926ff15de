"""Decode workers: files are decoded in separate processes, so that one hostile file can crash,
hang or balloon only its own worker, never the run (or the server).

    pool = DecodePool(limits, workers=2, chunk=1)
    fut = pool.submit(DecodeJob("/photos/a.jpg", size=123_456))   # a concurrent Future
    outcome = fut.result()        # Outcome(media=..., digest=...) or Outcome(error="...")
    media = pool.load("query.jpg")  # the same, waited for; a failure is a MediaError
    jpeg = pool.thumbnail("/videos/a.mp4", "video", t=3.0, px=320)   # rendered in a worker too

* **Crash containment.** A worker that dies (SIGSEGV in FFmpeg, PDFium, cairo; SIGKILL from the
  OOM killer) fails the file it was decoding with the signal in the reason; a fresh worker takes
  its place and the files queued behind it carry on.
* **Per-file budgets** (`Limits.decode_seconds(size)`, `Limits.max_decode_memory`): a manager
  thread watches each busy worker's clock and resident memory (every `poll_s`); a worker past
  either is killed and replaced, and the file fails naming the budget.
* **A parallel decode pool** (issue #14): `workers` processes decode while the caller embeds;
  `chunk` files travel per message to amortise the round trip. Large arrays cross the socket
  without pickling copies (`xmodal.media.worker.send`).
* **Thread-safe**: any number of threads may submit (the indexer and the server's query
  uploads share one pool); the manager thread alone talks to the workers.

`workers=0` decodes in-process on threads instead (no isolation, no budgets): for debugging and
for platforms without /proc. Workers never outlive the pool: `close()` kills them, an atexit
hook closes every pool, and each worker asks the kernel to kill it when its parent dies.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import astuple, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xmodal
from xmodal.errors import MediaError
from xmodal.media import Limits
from xmodal.media.names import display_path
from xmodal.media.worker import DecodeJob, Outcome, ThumbnailJob, recv, rss_bytes, run_job, send

if TYPE_CHECKING:
    from xmodal.types import Media

log = logging.getLogger(__name__)

__all__ = ["DecodeJob", "DecodePool", "Outcome", "ThumbnailJob", "shared_pool"]

_POOLS: "weakref.WeakSet[DecodePool]" = weakref.WeakSet()
_SHARED: dict[tuple, "DecodePool"] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(limits: Limits | None = None) -> "DecodePool":
    """One process-wide pool per set of limits, for decodes that have no index's pool at hand
    (an encoder given only a path, the OCR/ASR evidence of `xmodal ask`). Its workers start on
    first use and are let go when idle, like any pool's."""
    limits = limits or Limits()
    key = astuple(limits)
    with _SHARED_LOCK:
        pool = _SHARED.get(key)
        if pool is None or pool._closed:
            pool = _SHARED[key] = DecodePool(limits)
        return pool


@atexit.register
def _close_all() -> None:
    for pool in list(_POOLS):
        pool.close()


def _signal_name(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            sig = signal.Signals(-returncode)
            return f"{sig.name}: {signal.strsignal(sig) or ''}".rstrip(": ")
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


@dataclass
class _Worker:
    proc: subprocess.Popen
    conn: Connection
    ready: bool = False
    jobs: deque = field(default_factory=deque)  # (job, future) sent and not yet answered, in order
    started: float = 0.0  # when the file at jobs[0] began decoding
    deadline: float = float("inf")
    baseline: int = 0  # resident bytes when that file began


class DecodePool:
    """Decode files in `workers` restartable processes under per-file time and memory budgets."""

    def __init__(
        self,
        limits: Limits | None = None,
        workers: int = 2,
        chunk: int = 1,
        poll_s: float = 0.02,
        worker_argv: list[str] | None = None,
        idle_s: float = 30.0,
    ):
        """poll_s: how often busy workers' clocks and memory are checked; idle_s: workers with
        nothing to do for this long are stopped (and started again on demand); worker_argv: the
        command that starts a worker (default: this Python running `xmodal.media.worker`); it
        receives the socket's fd and this process's pid."""
        if workers < 0 or chunk < 1:
            raise ValueError(f"workers={workers}, chunk={chunk}: need workers >= 0 and chunk >= 1")
        self.worker_argv = worker_argv or [sys.executable, "-m", "xmodal.media.worker"]
        self.limits = limits or Limits()
        self.workers = workers
        self.chunk = chunk
        self.poll_s = poll_s
        self.idle_s = idle_s
        self.restarts = 0  # workers replaced after a crash or an overrun (for reports and tests)
        self._lock = threading.Lock()
        self._queue: deque[tuple[DecodeJob, Future]] = deque()
        self._procs: list[_Worker] = []
        self._thread: threading.Thread | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._closed = False
        _POOLS.add(self)

    # ------------------------------------------------------------------ API
    def submit(self, job: "DecodeJob | ThumbnailJob") -> "Future[Outcome]":
        """Queue one file (to decode, or to render a thumbnail of); the Future's result is its Outcome (never an exception, unless the
        pool is closed). Cancelling the Future before a worker takes the file skips it."""
        if self.workers == 0:
            with self._lock:
                if self._threads is None:
                    self._threads = ThreadPoolExecutor(2, thread_name_prefix="xmodal-decode")
            return self._threads.submit(run_job, job, self.limits)
        fut: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("decode pool is closed")
            self._queue.append((job, fut))
            if self._thread is None:
                self._thread = threading.Thread(target=self._manage, name="xmodal-decode-pool", daemon=True)
                self._thread.start()
        self._wake()
        return fut

    def decode(self, job: "DecodeJob | ThumbnailJob") -> Outcome:
        """Run one job and wait for it (a query's file, an upload)."""
        return self.submit(job).result()

    def load(self, path: str | os.PathLike) -> "Media":
        """Decode one file in a worker and wait for it; a failure (a crash and an overrun
        included) is a MediaError naming the file."""
        return self._result(path, self.decode(DecodeJob(os.fspath(path), hash=False))).media

    def thumbnail(self, path: str | os.PathLike, modality: str, *, t: float | None = None,
                  page: int | None = None, px: int = 320) -> bytes:
        """A JPEG of the image, of the video's frame at `t`, of the PDF's `page`, rendered in a
        worker (`xmodal.media.thumbnail.render`); a failure is a MediaError naming the file."""
        job = ThumbnailJob(os.fspath(path), modality, t=t, page=page, px=px)
        return self._result(path, self.decode(job)).data

    @staticmethod
    def _result(path: str | os.PathLike, outcome: Outcome) -> Outcome:
        if outcome.error is not None:
            raise MediaError(display_path(path), outcome.error)
        return outcome

    def close(self) -> None:
        """Kill the workers; queued files are cancelled."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            queued = list(self._queue)
            self._queue.clear()
        for _, fut in queued:
            fut.cancel()
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        for s in (self._wake_r, self._wake_w):
            s.close()

    def __enter__(self) -> "DecodePool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ manager thread
    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:  # closed, or the buffer is full of wake-ups already
            pass

    def _spawn(self) -> _Worker:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        # the worker imports this very xmodal, wherever it was imported from
        root = str(Path(xmodal.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
        env.setdefault("MALLOC_ARENA_MAX", "2")  # per-thread malloc arenas would inflate memory
        quiet = None if os.environ.get("XMODAL_DEBUG") else subprocess.DEVNULL
        proc = subprocess.Popen(
            [*self.worker_argv, str(child.fileno()), str(os.getpid())],
            pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL, stdout=quiet, stderr=quiet,
            close_fds=True,
        )
        child.close()
        conn = Connection(parent.detach())
        return _Worker(proc, conn)

    def _manage(self) -> None:
        idle_since = time.monotonic()
        retired = False
        try:
            while True:
                with self._lock:
                    if self._closed:
                        break
                    if not self._queue and not any(w.jobs for w in self._procs) and time.monotonic() - idle_since > self.idle_s:
                        # idle a while: let the workers go (a long-lived process holding many
                        # indexes keeps no idle decoders); the next submit starts afresh
                        self._kill_all()
                        self._thread = None
                        retired = True
                        return
                self._fill()
                busy = [w for w in self._procs if w.jobs]
                now = time.monotonic()
                if busy:
                    idle_since = now
                    timeout = max(0.0, min(self.poll_s, min(w.deadline for w in busy) - now))
                elif any(not w.ready for w in self._procs):
                    timeout = self.poll_s
                else:
                    timeout = max(0.0, self.idle_s - (now - idle_since)) + self.poll_s
                ready = wait([self._wake_r, *(w.conn for w in self._procs)], timeout)
                if self._wake_r in ready:
                    idle_since = time.monotonic()
                    try:
                        while self._wake_r.recv(4096):
                            pass
                    except (BlockingIOError, OSError):
                        pass
                for w in list(self._procs):
                    if w.conn in ready:
                        self._receive(w)
                self._police()
        except Exception:  # the manager must never die silently with futures pending
            log.exception("decode pool manager failed")
        finally:
            if not retired:
                self._shutdown()

    def _fill(self) -> None:
        """Start workers while files wait, and hand files to idle ready workers."""
        with self._lock:
            waiting = len(self._queue)
        if waiting and len(self._procs) < self.workers:
            for _ in range(min(waiting, self.workers - len(self._procs))):
                self._procs.append(self._spawn())
        for w in self._procs:
            if not w.ready or w.jobs:
                continue
            batch = []
            with self._lock:
                while self._queue and len(batch) < self.chunk:
                    job, fut = self._queue.popleft()
                    # a file put back after its worker died is already running
                    if fut.running() or fut.set_running_or_notify_cancel():
                        batch.append((job, fut))
            if not batch:
                continue
            w.jobs.extend(batch)
            try:
                send(w.conn, ("jobs", self.limits, [job for job, _ in batch]))
            except OSError:
                self._lost(w, "the decoder died before it took the file")
                continue
            self._begin(w)

    def _begin(self, w: _Worker) -> None:
        job = w.jobs[0][0]
        size = job.size
        if size is None:
            try:
                size = os.stat(job.path).st_size
            except OSError:
                size = 0
        w.started = time.monotonic()
        w.deadline = w.started + self.limits.decode_seconds(size)
        w.baseline = rss_bytes(w.proc.pid)

    def _receive(self, w: _Worker) -> None:
        try:
            msg = recv(w.conn)
        except (EOFError, OSError):
            w.proc.wait()
            self._lost(w, f"the decoder crashed ({_signal_name(w.proc.returncode)})")
            return
        except Exception as exc:  # an answer that does not unpickle: drop that worker, not the pool
            self._kill(w, f"the decoder's answer could not be read ({type(exc).__name__}: {exc})")
            return
        if msg[0] == "ready":
            w.ready = True
        elif msg[0] == "done":
            job, fut = w.jobs.popleft()
            fut.set_result(msg[2])
            if w.jobs:
                self._begin(w)

    def _police(self) -> None:
        now = time.monotonic()
        for w in list(self._procs):
            if not w.jobs:
                continue
            if now > w.deadline and not w.conn.poll(0):  # readable: it finished, answer pending
                budget = w.deadline - w.started
                self._kill(w, f"decoding ran past the {budget:.1f} s per-file time budget "
                              "(Limits.max_decode_seconds + decode_seconds_per_mib × size); stopped")
                continue
            grown = rss_bytes(w.proc.pid) - w.baseline
            if grown > self.limits.max_decode_memory:
                self._kill(w, f"decoding grew past the {self.limits.max_decode_memory / 2**20:.0f} MiB per-file "
                              "memory budget (Limits.max_decode_memory); stopped")

    def _kill(self, w: _Worker, reason: str) -> None:
        try:
            w.proc.kill()
        except OSError:
            pass
        w.proc.wait()
        self._lost(w, reason)

    def _lost(self, w: _Worker, reason: str) -> None:
        """A worker is gone: fail the file it was on, put the rest of its chunk back in front."""
        self._procs.remove(w)
        w.conn.close()
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()
        self.restarts += 1
        if w.jobs:
            job, fut = w.jobs.popleft()
            if not fut.done():
                fut.set_result(Outcome(error=f"{reason}; the file was skipped and the decoder restarted",
                                       seconds=time.monotonic() - w.started))
            with self._lock:
                for job_fut in reversed(w.jobs):
                    self._queue.appendleft(job_fut)
            w.jobs.clear()

    def _kill_all(self) -> None:
        for w in self._procs:
            if w.proc.poll() is None:
                w.proc.kill()
            w.proc.wait()
            w.conn.close()
        self._procs.clear()

    def _shutdown(self) -> None:
        for w in self._procs:
            for _, fut in w.jobs:
                if not fut.done():
                    fut.cancel() or fut.set_exception(RuntimeError("decode pool closed"))
        self._kill_all()
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
        for _, fut in queued:
            fut.cancel()
