"""Writes as background jobs: one worker thread, so writes never interleave; each job has an id,
a status and progress a client polls (`GET /v1/jobs/{id}`)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

KEEP_JOBS = 500  # finished jobs remembered for polling; the oldest are forgotten first


@dataclass
class Job:
    kind: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "queued"  # queued | running | done | failed
    total: int = 0
    done: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)  # per file/text: name, id, status, reason
    result: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    # the indexer's Progress protocol, so `Index.add` reports into the job as it goes
    def start(self, total: int) -> None:
        self.total = max(self.total, total)  # a job indexes its files in several calls

    def item(self, path: str, status: str, reason: str = "") -> None:
        self.done += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.id, "kind": self.kind, "status": self.status,
            "progress": {"done": self.done, "total": self.total},
            "items": self.items, "result": self.result, "error": self.error,
            "created": self.created, "started": self.started, "finished": self.finished,
        }


class Jobs:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xmodal-write")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, kind: str, work: Callable[[Job], dict[str, Any]], total: int = 0) -> Job:
        """Queue `work(job)`; what it returns becomes the job's result, what it raises its error."""
        job = Job(kind, total=total)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                oldest = next(iter(self._jobs.values()))
                if oldest.status in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Job], dict[str, Any]]) -> None:
        job.status, job.started = "running", time.time()
        try:
            job.result = work(job)
            job.status = "done"
        except Exception as exc:  # reported to the client that polls, never lost
            job.error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
            job.status = "failed"
        finally:
            job.finished = time.time()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once no job is queued or running (tests, shutdown)."""
        end = time.time() + timeout
        while time.time() < end:
            with self._lock:
                if all(j.status in ("done", "failed") for j in self._jobs.values()):
                    return True
            time.sleep(0.02)
        return False

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
