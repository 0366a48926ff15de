"""Any OpenAI-compatible chat endpoint (llama.cpp server, vLLM, Ollama, LM Studio, OpenAI…) over
plain HTTP with the standard library — no SDK. Images in messages are sent as data URLs, so a
multimodal model behind the endpoint sees the pixels.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Sequence

from .base import YES_NO_REQUEST, ChatBackend, LLMError, LLMTimeout, LLMUnavailable, Message, chat_request, reply_text, yes_no_from_response


def _image_url(image: Any) -> str:
    """A data URL for a PIL image or an image file path."""
    if isinstance(image, (str, Path)):
        data = Path(image).read_bytes()
        ext = Path(image).suffix.lower().lstrip(".") or "png"
        mime = "image/jpeg" if ext in ("jpg", "jpeg") else f"image/{ext}"
    else:
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="PNG")
        data, mime = buf.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _wire(messages: Sequence[Message], images: bool) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        content = m.get("content", "")
        if isinstance(content, list):
            parts = []
            for p in content:
                if p.get("type") == "text":
                    parts.append({"type": "text", "text": p["text"]})
                elif p.get("type") == "image" and images:
                    parts.append({"type": "image_url", "image_url": {"url": _image_url(p["image"])}})
            content = parts if images else "\n".join(p["text"] for p in parts)
        out.append({"role": m["role"], "content": content})
    return out


class OpenAIBackend(ChatBackend):
    """POST {base_url}/chat/completions. `api_key` defaults to $OPENAI_API_KEY (may be empty for local servers).

    images=True sends image parts (for a vision model behind the endpoint); json_schema uses
    `response_format: {"type": "json_schema"}`, which most servers turn into a grammar.
    """

    name = "openai"
    supports_json_schema = True

    def __init__(
        self,
        base_url: str | None = None,
        model: str = "default",
        api_key: str | None = None,
        images: bool = False,
        logprobs: bool = True,
        seed: int | None = 42,
    ) -> None:
        base = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base:
            raise LLMUnavailable("the openai backend needs base_url (or $OPENAI_BASE_URL), e.g. http://127.0.0.1:8080/v1")
        self.base_url = base.rstrip("/")
        self.model = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.supports_images = bool(images)
        self.logprobs = bool(logprobs)
        self.seed = seed

    def config(self) -> dict[str, Any]:
        return {"backend": self.name, "base_url": self.base_url, "model": self.model, "images": self.supports_images}

    def _post(self, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        url = f"{self.base_url}/chat/completions"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode("utf-8", "replace")
            raise LLMError(f"{url}: HTTP {e.code}: {detail}") from e
        except (socket.timeout, TimeoutError) as e:
            raise LLMTimeout(f"{url}: no answer within {timeout_s:g} s") from e
        except urllib.error.URLError as e:
            if isinstance(e.reason, (socket.timeout, TimeoutError)):
                raise LLMTimeout(f"{url}: no answer within {timeout_s:g} s") from e
            raise LLMUnavailable(f"{url}: cannot reach the endpoint: {e.reason}") from e
        try:
            data = json.loads(raw)
            data["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise LLMError(f"{url}: not an OpenAI chat response: {raw[:200]!r}") from e
        return data

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
        timeout_s: float = 30.0,
    ) -> str:
        body = {"model": self.model,
                **chat_request(_wire(messages, self.supports_images), max_tokens, temperature, json_schema, strict=True)}
        if self.seed is not None:
            body["seed"] = self.seed
        return reply_text(self._post(body, timeout_s))

    def yes_no(self, messages: Sequence[Message], *, timeout_s: float = 30.0) -> float | None:
        if not self.logprobs:
            return None
        body = {"model": self.model, "messages": _wire(messages, self.supports_images), **YES_NO_REQUEST}
        data = self._post(body, timeout_s)
        try:
            data["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        except (KeyError, IndexError, TypeError):
            self.logprobs = False  # the server does not return them; stop asking
            return None
        return yes_no_from_response(data)
