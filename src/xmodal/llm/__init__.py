"""Chat LLM backends shared by the LLM reranker and the refiner, registered by name.

    from xmodal.llm import get_backend
    llm = get_backend("llamacpp")                       # packaged SmolLM2-135M, offline
    llm = get_backend("openai", base_url="http://127.0.0.1:8080/v1", model="any")
    llm.chat([{"role": "user", "content": "hi"}], max_tokens=16)
"""

from __future__ import annotations

import json
import threading
from typing import Any

from ..registry import Registry
from .base import (
    ChatBackend,
    LLMError,
    LLMOutputError,
    LLMTimeout,
    LLMUnavailable,
    Message,
    extract_json,
    parse_score,
)

BACKENDS: Registry[ChatBackend] = Registry("LLM backend", ChatBackend)
BACKENDS.register("llamacpp", "xmodal.llm.llamacpp:LlamaCppBackend")
BACKENDS.register("openai", "xmodal.llm.openai:OpenAIBackend")
BACKENDS.register("transformers-vlm", "xmodal.llm.vlm:TransformersVLMBackend")

_CACHE: dict[str, ChatBackend] = {}
_LOCK = threading.Lock()


def get_backend(backend: str | ChatBackend = "llamacpp", **options: Any) -> ChatBackend:
    """A backend by name (one instance per name+options per process, so weights load once)."""
    if isinstance(backend, ChatBackend):
        return backend
    key = backend + json.dumps(options, sort_keys=True, default=str)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = BACKENDS.create(backend, **options)
        return _CACHE[key]


__all__ = [
    "BACKENDS", "ChatBackend", "LLMError", "LLMOutputError", "LLMTimeout", "LLMUnavailable",
    "Message", "extract_json", "get_backend", "parse_score",
]
