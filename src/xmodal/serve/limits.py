"""Bounds and locks around the one shared Index.

* `Gate`: at most N jobs of a kind run at once (each on a worker thread, off the event loop) and
  at most M more wait; past that a request is refused at once with 429 instead of queueing
  without end.
* `ReadWriteLock`: the server's own serialisation of the index, until the engine is thread-safe.
  Reads (search, similar, get, ask, thumbnails) share it; every write (add, add_texts, delete)
  holds it alone, so a read never sees a half-finished batch and no two writes interleave. The
  index refresh after a write (full-text index, the ANN build past the threshold) runs outside
  it: it changes no item, and searches go on meanwhile.
* `Warmup`: models load lazily on first use, and the lazy loaders are not safe to run twice at
  once, so the first query of each kind runs alone; later ones run concurrently.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Hashable, Iterator, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")


class Busy(Exception):
    """Too many requests of one kind in flight: the client should retry later (HTTP 429)."""

    def __init__(self, what: str, retry_after_s: int = 1):
        self.what = what
        self.retry_after_s = retry_after_s
        super().__init__(f"server busy: too many {what} in flight; retry shortly")


class Gate:
    """Run blocking calls on worker threads, `active` at a time, `waiting` more queued.

    Create inside the running event loop (on first use): anyio's limiter binds to it."""

    def __init__(self, what: str, active: int, waiting: int):
        self.what = what
        self.limiter = anyio.CapacityLimiter(max(1, active))
        self.max_in_flight = max(1, active) + max(0, waiting)
        self.in_flight = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.in_flight >= self.max_in_flight:  # no await between check and increment: one loop
            raise Busy(self.what)
        self.in_flight += 1
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)
        finally:
            self.in_flight -= 1


def gates(max_encodes: int, max_waiting: int, max_asks: int) -> dict[str, Gate]:
    """The server's gates: searches (query encodes), quick reads, thumbnails, asks (one LLM)."""
    return {
        "search": Gate("searches", max_encodes, max_waiting),
        "read": Gate("reads", 4, 4 * max_waiting),
        "thumbnail": Gate("thumbnails", max_encodes, max_waiting),
        "ask": Gate("asks", max_asks, 0),
    }


class ReadWriteLock:
    """Many readers or one writer; a waiting writer stops new readers (no writer starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class Warmup:
    """The first call for each key runs alone (it loads models); once one succeeded, calls run freely."""

    def __init__(self) -> None:
        self._warm: set[Hashable] = set()
        self._lock = threading.Lock()

    def run(self, key: Hashable, fn: Callable[[], T]) -> T:
        if key in self._warm:
            return fn()
        with self._lock:
            out = fn()
            self._warm.add(key)
            return out
