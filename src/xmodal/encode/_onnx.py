"""Shared ONNX Runtime helpers: one cached CPU session per (model file, thread count), file digests."""

from __future__ import annotations

import hashlib
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime as ort

_SESSIONS: dict[tuple[str, int, int, str, bool], "ort.InferenceSession"] = {}
_LOCK = threading.Lock()


def session(path: str | Path, threads: int = 2, optimize: str = "all", spinning: bool = True) -> "ort.InferenceSession":
    """A CPU InferenceSession for `path` with `threads` intra-op threads, created once per process.

    `optimize`: ORT graph optimisation level, "basic" | "extended" | "all". Keyed by the file's
    path and mtime too, so a re-exported model is picked up. `spinning=False`: idle intra-op
    threads sleep instead of busy-waiting for the next op, which leaves the CPU to the decode
    and post-processing threads of a pipeline (on 2 cores, spinning threads starve them).
    """
    from ..errors import ModelUnavailable

    try:
        import onnxruntime as ort
    except ImportError as e:  # pragma: no cover - onnxruntime is a core dependency
        raise ModelUnavailable("onnxruntime is not installed: pip install onnxruntime") from e
    p = Path(path)
    if not p.is_file():
        raise ModelUnavailable(f"{p}: ONNX model file not found")
    levels = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if optimize not in levels:
        raise ValueError(f"optimize={optimize!r}: choose one of {sorted(levels)}")
    key = (str(p.resolve()), p.stat().st_mtime_ns, int(threads), optimize, bool(spinning))
    with _LOCK:
        sess = _SESSIONS.get(key)
        if sess is None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = max(1, int(threads))
            # one graph at a time per call: extra inter-op threads only oversubscribe small CPUs
            opts.inter_op_num_threads = 1
            opts.graph_optimization_level = levels[optimize]
            opts.log_severity_level = 3  # keep ORT's initializer warnings off the user's terminal
            if not spinning:
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            sess = ort.InferenceSession(str(p), sess_options=opts, providers=["CPUExecutionProvider"])
            _SESSIONS[key] = sess
    return sess


@lru_cache(maxsize=1)
def shrink_arena() -> "ort.RunOptions":
    """Run options that return the CPU memory arena's growth to the system when the run ends.

    ORT's arena keeps every block it ever extended to, and a model fed ever-changing shapes (the
    text encoder: batch × padded length) fragments it further with each new shape: the text
    model alone went from 0.4 to 0.9 GB of RSS over 5k texts and a 100k-text ingest peaked at
    2.5 GB (benchmarks/README.md, "Memory of a 100k ingest"). Shrinking after each run costs
    page faults on the next, so callers pass this once per call of many batches.
    """
    import onnxruntime as ort

    opts = ort.RunOptions()
    opts.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return opts


@lru_cache(maxsize=32)
def _digest(path: str, mtime_ns: int, size: int, n: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:n]


def file_digest(path: str | Path, n: int = 12) -> str:
    """First `n` hex digits of the file's SHA-256, memoised per path, mtime and size: in the
    process, and on disk in the cache (weights files are hashed each time an index opens, and a
    one-off `xmodal search` should not re-read tens of MB for that)."""
    p = Path(path).resolve()
    st = p.stat()
    key = hashlib.blake2b(f"{p}\0{st.st_mtime_ns}\0{st.st_size}\0{st.st_ino}".encode(), digest_size=16).hexdigest()
    memo = _digest_memo_dir() / key
    try:
        known = memo.read_text().strip()
        if len(known) >= n and all(c in "0123456789abcdef" for c in known):
            return known[:n]
    except OSError:
        pass
    full = _digest(str(p), st.st_mtime_ns, st.st_size, 64)
    try:
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(full)
        os.replace(tmp, memo)
    except OSError:
        pass  # a read-only cache only costs the re-hash next time
    return full[:n]


def _digest_memo_dir() -> Path:
    from ..config import cache_dir

    return cache_dir("digests")


def text_digest(*parts: str, n: int = 12) -> str:
    """First `n` hex digits of the SHA-256 of the parts, joined unambiguously."""
    h = hashlib.sha256()
    for part in parts:
        b = part.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:n]
