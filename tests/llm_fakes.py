"""A deterministic fake chat backend for the LLM reranker / refiner tests (no weights)."""

from __future__ import annotations

import re
import time
from typing import Any, Sequence

from xmodal.llm import ChatBackend
from xmodal.llm.base import text_only


def _words(s: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", s.lower()) if len(w) > 2}


class KeywordLLM(ChatBackend):
    """Says "yes" with logit +3 when the item line shares a word with the query/question, else -3.

    chat() returns `reply` (a string, or a callable of the user prompt). `delay_s` sleeps per call.
    logprobs=False makes yes_no() return None, as a backend without logprobs does.
    """

    name = "keyword-fake"

    def __init__(self, reply: Any = "", delay_s: float = 0.0, logprobs: bool = True, json_schema: bool = True) -> None:
        self.reply = reply
        self.delay_s = delay_s
        self.logprobs = logprobs
        self.supports_json_schema = json_schema
        self.calls: list[dict[str, Any]] = []

    def _user(self, messages: Sequence[dict]) -> str:
        return text_only(messages)[-1]["content"]

    def chat(self, messages, *, max_tokens=256, temperature=0.0, json_schema=None, timeout_s=30.0) -> str:
        self.calls.append({"kind": "chat", "prompt": self._user(messages), "json_schema": json_schema, "timeout_s": timeout_s})
        time.sleep(self.delay_s)
        if self.delay_s > timeout_s:
            from xmodal.llm import LLMTimeout

            raise LLMTimeout(f"fake: {self.delay_s} s > {timeout_s} s")
        return self.reply(self._user(messages)) if callable(self.reply) else self.reply

    def yes_no(self, messages, *, timeout_s=30.0):
        if not self.logprobs:
            return None
        prompt = self._user(messages)
        self.calls.append({"kind": "yes_no", "prompt": prompt, "timeout_s": timeout_s})
        time.sleep(self.delay_s)
        if self.delay_s > timeout_s:
            from xmodal.llm import LLMTimeout

            raise LLMTimeout("fake timeout")
        head, _, item = prompt.partition("Retrieved item:")
        head = head.split(":", 1)[-1]
        item = item.split("\n")[0]
        return 3.0 if _words(head) & _words(item) else -3.0
