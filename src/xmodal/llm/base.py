"""The chat interface every LLM backend implements, its errors, and robust JSON extraction.

A message is an OpenAI-style dict: ``{"role": "user", "content": "text"}``, or, for backends
that see pixels, ``"content": [{"type": "text", "text": ...}, {"type": "image", "image": PIL
image or path}]``. Backends that cannot see images receive only the text parts.
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from typing import Any, Sequence

from ..errors import ModelUnavailable, XModalError

Message = dict[str, Any]


class LLMError(XModalError):
    """A backend failed to answer (HTTP error, bad response, generation error)."""


class LLMTimeout(LLMError):
    """A backend did not answer within its time budget."""


class LLMUnavailable(ModelUnavailable):
    """A backend's runtime, weights or endpoint is not reachable here; the message says how to fix it."""


class LLMOutputError(LLMError):
    """The model's output is not the structured answer that was asked for."""

    def __init__(self, reason: str, output: str):
        self.output = output
        snippet = output if len(output) <= 200 else output[:200] + "…"
        super().__init__(f"malformed model output: {reason}; got {snippet!r}")


class ChatBackend(ABC):
    """One chat model. Implementations are registered in `xmodal.llm.BACKENDS`."""

    name: str = "backend"
    supports_json_schema: bool = False  # constrained (grammar) generation of a JSON schema
    supports_images: bool = False

    @abstractmethod
    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
        timeout_s: float = 30.0,
    ) -> str:
        """The assistant's reply text. With `json_schema`, a JSON document (constrained where supported)."""

    def yes_no(self, messages: Sequence[Message], *, timeout_s: float = 30.0) -> float | None:
        """log P(yes) - log P(no) for the reply's first token, or None if the backend has no logprobs."""
        return None

    def config(self) -> dict[str, Any]:
        return {"backend": self.name}


def text_only(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Messages with image parts removed and content flattened to a string."""
    out = []
    for m in messages:
        content = m.get("content", "")
        if isinstance(content, list):
            content = "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
        out.append({"role": m["role"], "content": str(content)})
    return out


_YES = {"yes", "y", "true"}
_NO = {"no", "n", "false"}
LOGP_FLOOR = -20.0  # log-probability assumed for an answer absent from the top-k list


def yes_no_from_top_logprobs(top: Sequence[tuple[str, float]]) -> float | None:
    """log P(yes) - log P(no) from (token, logprob) pairs, summing case/space variants."""
    p_yes = sum(math.exp(lp) for tok, lp in top if tok.strip().lower() in _YES)
    p_no = sum(math.exp(lp) for tok, lp in top if tok.strip().lower() in _NO)
    if p_yes == 0.0 and p_no == 0.0:
        return None
    ly = math.log(p_yes) if p_yes > 0 else LOGP_FLOOR
    ln = math.log(p_no) if p_no > 0 else LOGP_FLOOR
    return ly - ln


# The OpenAI chat-completions wire format, spoken by llama.cpp's server API and by any
# OpenAI-compatible endpoint alike.
YES_NO_REQUEST = {"max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": 20}


def chat_request(wire_messages: list[dict[str, Any]], max_tokens: int, temperature: float,
                 json_schema: dict[str, Any] | None, strict: bool = False) -> dict[str, Any]:
    """A chat-completions request body; with a schema, constrained JSON output is asked for."""
    body: dict[str, Any] = {"messages": wire_messages, "max_tokens": int(max_tokens), "temperature": float(temperature)}
    if json_schema is not None:
        spec: dict[str, Any] = {"name": "answer", "schema": json_schema}
        if strict:
            spec["strict"] = True
        body["response_format"] = {"type": "json_schema", "json_schema": spec}
    return body


def reply_text(response: dict[str, Any]) -> str:
    """The first choice's message content of a chat-completions response ('' if none)."""
    return str(response["choices"][0].get("message", {}).get("content") or "")


def yes_no_from_response(response: dict[str, Any]) -> float | None:
    """`yes_no_from_top_logprobs` of a chat-completions response's first token; None without logprobs."""
    try:
        top = response["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        pairs = [(t["token"], float(t["logprob"])) for t in top]
    except (KeyError, IndexError, TypeError):
        return None
    return yes_no_from_top_logprobs(pairs)


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def extract_json(text: str) -> Any:
    """Parse the first JSON object or array in a model reply (code fences and chatter tolerated).

    Raises LLMOutputError naming what was wrong, with a snippet of the output.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for cand in candidates:
        cand = cand.strip()
        try:
            return json.loads(cand)
        except ValueError:
            pass
        dec = json.JSONDecoder()
        for i, ch in enumerate(cand):
            if ch in "{[":
                try:
                    obj, _ = dec.raw_decode(cand[i:])
                    return obj
                except ValueError:
                    continue
    if not text.strip():
        raise LLMOutputError("empty reply, expected JSON", text)
    raise LLMOutputError("no JSON object found", text)


_SCORE = re.compile(r"(?<![\d.])(10|\d)(?:\s*/\s*10)?(?![\d])")


def parse_score(text: str, lo: int = 0, hi: int = 10) -> float:
    """A 0–10 relevance score from free text or JSON ({"score": 7}, "Score: 7/10", "7")."""
    try:
        obj = extract_json(text)
        if isinstance(obj, dict):
            for key in ("score", "relevance", "rating"):
                if key in obj and isinstance(obj[key], (int, float)) and not isinstance(obj[key], bool):
                    return float(min(max(obj[key], lo), hi))
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            return float(min(max(obj, lo), hi))
    except LLMOutputError:
        pass
    m = _SCORE.search(text)
    if m is None:
        raise LLMOutputError(f"no {lo}-{hi} score found", text)
    return float(min(max(int(m.group(1)), lo), hi))
