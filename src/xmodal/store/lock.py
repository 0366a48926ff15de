"""The write lock of an index: writers take turns committing; readers never wait.

Two `xmodal index` runs into one new index used to both insert every file (Lance commits of new
rows never conflict with each other), leaving each file twice. Every write of an index now
happens under its store's `WriteLock`, and a writer first moves its table to the latest version,
so an upsert by id sees rows another process committed a moment before. The lock is held per
commit (one batch, a prune, an index build), not per run, so a long `index` run does not starve
a server's uploads; both runs do their own decoding, and each file ends up exactly once.

A `WriteLock` is a small interface so that each store brings the lock its storage can offer:

* a local folder: `FolderLock`, `flock(2)` on `<folder>/.xmodal-write.lock`. The kernel drops
  the lock when its holder dies (kill -9, OOM, power loss on the local disk), so a crash never
  leaves a stale lock; the file records the owner (pid, host, since when, its command line, and
  what it is doing under the lock, `doing(...)`) for messages. A writer waits at most
  `timeout` seconds (`DEFAULT_TIMEOUT_S` unless told otherwise; `xmodal index --lock-timeout`),
  then fails with `IndexBusy` naming the holder: a holder that hangs (stopped, stuck on a dead
  network disk) must not make every other writer hang with it.
* object storage (S3 and the like, issue #12), where no file lock exists: a lease object written
  with a conditional put (`If-None-Match: *`) holding the owner and an expiry that the holder
  renews while it writes; a lease past its expiry counts as stale and may be replaced by a
  conditional put on its ETag. Lance's own commit conflict detection still refuses two
  commits of the same version, so the lease only has to stop the duplicate *inserts*.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import XModalError

LOCK_FILE = ".xmodal-write.lock"
# a commit holds the lock for one batch, a prune or an index build: seconds, minutes for the
# vector index of millions of rows; a writer that has waited this long has met a stuck holder
DEFAULT_TIMEOUT_S = 600.0

_DOING: ContextVar[str] = ContextVar("xmodal_write_lock_doing", default="")


@contextmanager
def doing(what: str) -> Iterator[None]:
    """Say what the write lock taken inside this block is for ("committing 32 files"): the lock
    records it, and a writer that gives up waiting names it."""
    token = _DOING.set(what)
    try:
        yield
    finally:
        _DOING.reset(token)


class IndexBusy(XModalError):
    """Another writer held the index's write lock for longer than we were willing to wait."""


@dataclass
class LockOwner:
    pid: int
    host: str
    since: float  # time.time() when it took the lock
    what: str = ""  # the command line, shortened
    doing: str = ""  # what it does under the lock (`doing(...)`)

    def describe(self) -> str:
        age = max(0.0, time.time() - self.since)
        doing = f", {self.doing}" if self.doing else ""
        what = f" ({self.what})" if self.what else ""
        return f"pid {self.pid} on {self.host}, for {age:.0f} s{doing}{what}"


def _this_process() -> LockOwner:
    return LockOwner(os.getpid(), socket.gethostname(), time.time(), " ".join(sys.argv)[:200], _DOING.get())


class WriteLock(ABC):
    """Mutual exclusion of an index's writers, across processes and threads.

    Re-entrant within a thread (a prune inside a run that holds it); other threads of the same
    process wait like other processes do.
    """

    def __init__(self) -> None:
        self._local = threading.RLock()
        self._depth = 0
        self._holder: tuple[str, LockOwner] | None = None  # (thread name, record) while held here

    @abstractmethod
    def _acquire(self, timeout: float | None) -> None:
        """Take the cross-process lock or raise IndexBusy after `timeout` seconds."""

    @abstractmethod
    def _release(self) -> None: ...

    @abstractmethod
    def owner(self) -> LockOwner | None:
        """Who holds (or last held) the lock, as far as the lock can tell."""

    def acquire(self, timeout: float | None = None) -> None:
        start = time.monotonic()
        if not self._local.acquire(timeout=-1 if timeout is None else timeout):
            held = self._holder
            by = f" by thread {held[0]} ({held[1].describe()})" if held else ""
            raise IndexBusy(f"the index write lock is held in this process{by}; waited {timeout:.0f} s")
        try:
            if self._depth == 0:
                # the time spent waiting for this process's other threads counts against the budget
                self._acquire(None if timeout is None else max(0.0, timeout - (time.monotonic() - start)))
                self._holder = (threading.current_thread().name, _this_process())
        except BaseException:
            self._local.release()
            raise
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                self._holder = None
                self._release()
        finally:
            self._local.release()

    def __enter__(self) -> "WriteLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class ThreadLock(WriteLock):
    """Only the threads of one process: for a store no other process can open (in memory)."""

    def _acquire(self, timeout: float | None) -> None:
        pass

    def _release(self) -> None:
        pass

    def owner(self) -> LockOwner | None:
        return None


class FolderLock(WriteLock):
    """`flock` on a file in the index folder (see the module docstring)."""

    POLL_S = 0.05

    def __init__(self, folder: str | Path, timeout: float | None = DEFAULT_TIMEOUT_S):
        super().__init__()
        self.file = Path(folder) / LOCK_FILE
        self.timeout = timeout  # default for acquire(); None waits as long as it takes
        self._fd: int | None = None

    def acquire(self, timeout: float | None = None) -> None:
        super().acquire(self.timeout if timeout is None else timeout)

    def _acquire(self, timeout: float | None) -> None:
        import fcntl

        try:
            fd = os.open(self.file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _write_error(self.file.parent, exc) from None
        start = time.monotonic()
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if timeout is not None and time.monotonic() - start >= timeout:
                        owner = self.owner()
                        raise IndexBusy(
                            f"{self.file.parent}: another writer holds the index's write lock"
                            f"{f' ({owner.describe()})' if owner else ''}; gave up after waiting {timeout:.0f} s. "
                            "A writer holds it only while it commits: try again when it is done, stop it if it "
                            "is stuck, or wait longer (--lock-timeout)"
                        ) from None
                    time.sleep(self.POLL_S)
                except OSError as exc:
                    if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                        raise XModalError(
                            f"{self.file.parent}: this file system offers no file locks ({exc.strerror}); "
                            "xmodal cannot keep concurrent writers apart here"
                        ) from None
                    raise
            me = _this_process()
            try:  # the record is informational: a full disk must not stop a writer that could commit
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(me.__dict__).encode(), 0)
            except OSError:
                pass
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _release(self) -> None:
        import fcntl

        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def owner(self) -> LockOwner | None:
        try:
            return LockOwner(**json.loads(self.file.read_text() or "null"))
        except (OSError, ValueError, TypeError):
            return None


def _write_error(folder: Path, exc: OSError) -> XModalError:
    """One-line error for an index that cannot be written (read-only, full disk)."""
    return XModalError(f"{folder}: cannot write the index: {describe_os_error(exc)}")


def describe_os_error(exc: BaseException) -> str:
    """'disk full (No space left on device)', 'read-only (...)', or the error's own words; also
    for the errors Lance raises, which carry the OS message in their text."""
    text = str(exc)
    no = getattr(exc, "errno", None)
    if no == errno.ENOSPC or "No space left" in text:
        return "the disk is full (No space left on device); everything committed before is kept"
    if no == errno.EDQUOT or "quota exceeded" in text.lower():
        return "the disk quota is exceeded; everything committed before is kept"
    if no in (errno.EROFS, errno.EACCES, errno.EPERM) or "Read-only file system" in text or "Permission denied" in text:
        return f"it is read-only ({getattr(exc, 'strerror', None) or text.splitlines()[0][:200]})"
    return f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}"
