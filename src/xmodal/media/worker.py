"""The decoding side of a decode worker: one job (hash, probe, decode one file; or render a
thumbnail of one) → one outcome.

`run_job` is what a worker does for each file; `main` is the loop of a worker *process*
(`python -m xmodal.media.worker FD`), which `xmodal.media.pool.DecodePool` starts, feeds
over a socket and kills when a file overruns its budget. A native crash in a decoder (a
segfault in FFmpeg, PDFium, cairo) then takes down only that process, never the run.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmodal.errors import MediaError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from xmodal.media import Limits
    from xmodal.types import Media


@dataclass
class DecodeJob:
    """One file to decode.

    prev_hash: the content hash the index holds for it; equal content is not decoded again.
    modalities: the modalities the index can embed (None: any); others fail before decoding.
    profile: the index's profile name, for that message. size: bytes, for the time budget.
    hash: compute the content hash (queries need none).
    """

    path: str
    prev_hash: str | None = None
    modalities: tuple[str, ...] | None = None
    profile: str = ""
    size: int | None = None
    hash: bool = True

    def run(self, limits: "Limits") -> "Outcome":
        from xmodal.media import content_hash, load, probe
        from xmodal.media.loader import checked_size

        path = Path(self.path)
        checked_size(path, limits)  # before hashing: 3 GiB is not read just to be refused
        digest = content_hash(path) if self.hash else None
        if self.prev_hash is not None and digest == self.prev_hash:
            return Outcome(digest=digest, unchanged=True)
        if self.modalities is not None:  # refuse what the profile cannot embed before decoding it
            modality, _ = probe(path)
            if modality.value not in self.modalities:
                raise MediaError(self.path, f"profile {self.profile!r} cannot embed {modality} items")
        return Outcome(media=load(path, limits), digest=digest)


@dataclass
class ThumbnailJob:
    """A JPEG thumbnail of an indexed file (`xmodal.media.thumbnail.render`): `modality` is what
    it was indexed as, `t` the video time, `page` the PDF page, `px` the longer side."""

    path: str
    modality: str
    t: float | None = None
    page: int | None = None
    px: int = 320
    size: int | None = None

    def run(self, limits: "Limits") -> "Outcome":
        from xmodal.media.thumbnail import render

        return Outcome(data=render(Path(self.path), self.modality, t=self.t, page=self.page, px=self.px, limits=limits))


@dataclass
class Outcome:
    """What came of a job: media (or None with `unchanged`), a thumbnail's bytes, or the reason it failed."""

    media: "Media | None" = None
    digest: str | None = None
    unchanged: bool = False
    data: bytes | None = None
    error: str | None = None
    seconds: float = 0.0
    peak_rss: int = 0  # bytes the worker grew by while decoding (0 where not measured)


def run_job(job: "DecodeJob | ThumbnailJob", limits: "Limits") -> Outcome:
    """Run one job. Every failure becomes Outcome.error; nothing raises but a crash."""
    t0 = time.perf_counter()
    try:
        out = job.run(limits)
    except MediaError as exc:
        out = Outcome(error=exc.reason)
    except MemoryError:
        out = Outcome(error="out of memory while decoding")
    except Exception as exc:  # a decoder bug must not stop the run
        out = Outcome(error=f"could not decode: {type(exc).__name__}: {exc}")
    out.seconds = time.perf_counter() - t0
    return out


# ------------------------------------------------------------------ the wire
# A message is a pickle (protocol 5) whose large buffers (numpy audio, frames) travel out of
# band, each as its own frame: a 3-hour recording is not copied into a second pickle in the
# worker, and arrives in a writable buffer.


def send(conn: "Connection", obj: Any) -> None:
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    conn.send_bytes(struct.pack(f"<I{len(raws)}Q", len(raws), *(r.nbytes for r in raws)) + head)
    for r in raws:
        conn.send_bytes(r)


def recv(conn: "Connection") -> Any:
    msg = conn.recv_bytes()
    (n,) = struct.unpack_from("<I", msg)
    sizes = struct.unpack_from(f"<{n}Q", msg, 4)
    buffers = []
    for size in sizes:
        buf = bytearray(size)
        if size:
            conn.recv_bytes_into(buf)
        else:
            conn.recv_bytes()
        buffers.append(buf)
    return pickle.loads(memoryview(msg)[4 + 8 * n :], buffers=buffers)


# ------------------------------------------------------------------ the worker process


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _peak_rss() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak() -> None:
    try:  # Linux: "5" resets the peak RSS (VmHWM) to the current RSS
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _die_with_parent(parent: int) -> None:
    """Ask the kernel to kill this worker when the process that started it dies (kill -9 of
    an index run must not leave decoders behind)."""
    import signal

    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the request took hold
        os._exit(0)


def main(argv: list[str]) -> None:
    from multiprocessing.connection import Connection

    fd, parent = int(argv[0]), int(argv[1])
    _die_with_parent(parent)
    conn = Connection(fd)
    send(conn, ("ready", os.getpid()))
    while True:
        try:
            kind, limits, jobs = recv(conn)
        except (EOFError, OSError):
            return  # the pool closed its end, or died
        if kind != "jobs":
            return
        for i, job in enumerate(jobs):
            _reset_peak()
            base = rss_bytes()
            out = run_job(job, limits)
            out.peak_rss = max(0, _peak_rss() - base)
            try:
                send(conn, ("done", i, out))
            except (EOFError, OSError):
                return


if __name__ == "__main__":
    # run the imported module's main, so what it pickles is xmodal.media.worker.Outcome,
    # not __main__.Outcome (which the pool could not unpickle)
    from xmodal.media.worker import main as _main

    _main(sys.argv[1:])
