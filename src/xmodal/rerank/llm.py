"""LLM reranker: a chat model judges each candidate's relevance from its textual evidence.

Pointwise (default): one short prompt per candidate, "does this item match the query? yes/no";
the score is log P(yes) - log P(no) from the first token's logprobs when the backend gives them
(llama.cpp, most OpenAI-compatible servers, transformers), else a 0–10 score generated under a
JSON schema and parsed robustly. The query and the instructions form a shared prompt prefix,
which llama.cpp keeps cached, so each candidate costs only its own evidence tokens.
Listwise: one prompt lists the candidates and asks for a ranking (JSON).

Evidence is content-derived only (tags, OCR, transcript, sounds, page text; never the file
name). Candidates are judged in first-stage order until `time_budget_s` runs out; the rest keep
their first-stage order, below the judged ones, with a note in their `reason`.
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

from ..llm import ChatBackend, LLMOutputError, LLMTimeout, extract_json, get_backend, parse_score
from ..llm.evidence import evidence_prompt, item_evidence
from ..types import Modality
from .base import Candidate, Reranker, RerankQuery, RerankScore

PROMPTS: dict[str, str] = {
    "system": "You judge search results. A user searched a collection of images, sounds, videos, documents and texts. "
              "Each item is described only by what was extracted from its content.",
    "pointwise": "Search query: {query}\nRetrieved item: {item}\nDoes the item match the search query? Answer yes or no.",
    "score": "Search query: {query}\nRetrieved item: {item}\nRate how well the item matches the query from 0 (not at all) "
             "to 10 (exactly). Reply as JSON: {{\"score\": N}}.",
    "listwise": "Search query: {query}\nRetrieved items:\n{items}\nRank the items from best to worst match for the query. "
                "Reply as JSON: {{\"ranking\": [item numbers, best first]}}.",
}

SCORE_SCHEMA = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 10}},
                "required": ["score"]}
RANKING_SCHEMA = {"type": "object", "properties": {"ranking": {"type": "array", "items": {"type": "integer"}}},
                  "required": ["ranking"]}


def query_text(query: RerankQuery, max_chars: int = 400) -> str:
    """The query as text: its text part, plus the evidence of any media parts (a query by example)."""
    parts = [query.text.strip()] if query.text and query.text.strip() else []
    for media, emb in zip(query.parts, query.embeddings):
        if media.modality == Modality.TEXT:
            continue
        parts.append("like this " + evidence_prompt(media.modality, item_evidence(media.modality, emb.text or media.text, emb.segments), max_chars))
    return " ".join(parts)[:max_chars] or "(empty query)"


class LLMReranker(Reranker):
    """Args:
        backend: a name from `xmodal.llm.BACKENDS` ("llamacpp", "openai", "transformers-vlm") or an instance.
        model: the backend's model (llamacpp: "smollm2", "qwen2.5-coder-0.5b" or a .gguf path).
        time_budget_s: wall time for the whole list; unjudged candidates keep first-stage order.
        mode: "pointwise" (yes/no logits, or 0–10 scores) or "listwise" (one ranking prompt).
        max_candidates: judge at most this many of the first-stage top (the rest keep their order).
        fusion_weight: weight of the LLM score against the first stage (see `fuse_scores`).
        prompts: overrides for PROMPTS keys.
        backend_options: passed to the backend's constructor (base_url, n_ctx, threads…).
    """

    def __init__(
        self,
        backend: str | ChatBackend = "llamacpp",
        model: str | None = None,
        time_budget_s: float = 20.0,
        mode: str = "pointwise",
        max_candidates: int = 20,
        fusion_weight: float = 0.3,
        max_evidence_chars: int = 300,
        prompts: dict[str, str] | None = None,
        backend_options: dict[str, Any] | None = None,
    ) -> None:
        if mode not in ("pointwise", "listwise"):
            raise ValueError(f"mode={mode!r}: choose 'pointwise' or 'listwise'")
        if time_budget_s <= 0:
            raise ValueError(f"time_budget_s={time_budget_s}: must be > 0")
        self.backend_arg = backend
        opts = dict(backend_options or {})
        if model is not None:
            opts["model"] = model
        self.backend_options = opts
        self.time_budget_s = float(time_budget_s)
        self.mode = mode
        self.max_candidates = int(max_candidates)
        self.fusion_weight = float(fusion_weight)
        self.max_evidence_chars = int(max_evidence_chars)
        self.prompts = {**PROMPTS, **(prompts or {})}
        self._llm: ChatBackend | None = None
        self.last_stats: dict[str, Any] = {}

    @property
    def llm(self) -> ChatBackend:
        if self._llm is None:
            self._llm = get_backend(self.backend_arg, **self.backend_options)
        return self._llm

    def config(self) -> dict[str, Any]:
        return {**super().config(), "mode": self.mode, "time_budget_s": self.time_budget_s,
                "max_candidates": self.max_candidates, **self.llm.config()}

    def _messages(self, user: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.prompts["system"]}, {"role": "user", "content": user}]

    def _item(self, c: Candidate) -> str:
        ev = item_evidence(c.modality, c.text, c.segments, None, self.max_evidence_chars)
        return evidence_prompt(c.modality, ev, self.max_evidence_chars)

    def _score_one(self, q: str, c: Candidate, timeout_s: float) -> tuple[float, str]:
        item = self._item(c)
        logit = self.llm.yes_no(self._messages(self.prompts["pointwise"].format(query=q, item=item)), timeout_s=timeout_s)
        if logit is not None:
            return logit, f"LLM yes/no logit {logit:+.2f} from: {item}"
        reply = self.llm.chat(self._messages(self.prompts["score"].format(query=q, item=item)), max_tokens=16,
                              json_schema=SCORE_SCHEMA if self.llm.supports_json_schema else None, timeout_s=timeout_s)
        score = parse_score(reply)
        # on the yes/no logit scale, so one list never mixes two scales: 0 -> about -3, 10 -> +3
        p = (score + 0.5) / 11.0
        return math.log(p / (1.0 - p)), f"LLM score {score:g}/10 from: {item}"

    def rerank(self, query: RerankQuery, candidates: Sequence[Candidate]) -> list[RerankScore]:
        t0 = time.perf_counter()
        q = query_text(query)
        n_judge = min(len(candidates), self.max_candidates)
        scores: list[float | None] = [None] * len(candidates)
        reasons = [""] * len(candidates)
        errors: list[str] = []
        timed_out = False
        if self.mode == "listwise":
            timed_out = self._listwise(q, candidates[:n_judge], scores, reasons, errors, t0)
        else:
            for i in range(n_judge):
                left = self.time_budget_s - (time.perf_counter() - t0)
                if left <= 0:
                    timed_out = True
                    break
                try:
                    scores[i], reasons[i] = self._score_one(q, candidates[i], left)
                except LLMTimeout:
                    timed_out = True
                    break
                except LLMOutputError as e:  # one bad reply does not sink the list
                    errors.append(str(e))
                    reasons[i] = f"not judged: {e}"
        judged = [s for s in scores if s is not None]
        floor = (min(judged) - 1.0) if judged else 0.0
        why = (f"not judged by the LLM within the {self.time_budget_s:g} s budget" if timed_out
               else f"beyond the {self.max_candidates} candidates the LLM judges")
        out = []
        for i, s in enumerate(scores):
            if s is None:
                # below every judged candidate, all equal: fusion then keeps their first-stage order
                out.append(RerankScore(score=floor, reason=reasons[i] or f"{why}; first-stage order kept"))
            else:
                out.append(RerankScore(score=float(s), reason=reasons[i]))
        self.last_stats = {"judged": len(judged), "candidates": len(candidates), "timed_out": timed_out,
                           "errors": errors, "seconds": time.perf_counter() - t0}
        return out

    def _listwise(self, q: str, cands: Sequence[Candidate], scores: list, reasons: list, errors: list, t0: float) -> bool:
        items = "\n".join(f"[{i}] {self._item(c)}" for i, c in enumerate(cands, 1))
        left = self.time_budget_s - (time.perf_counter() - t0)
        try:
            reply = self.llm.chat(self._messages(self.prompts["listwise"].format(query=q, items=items)),
                                  max_tokens=8 + 4 * len(cands), timeout_s=left,
                                  json_schema=RANKING_SCHEMA if self.llm.supports_json_schema else None)
            obj = extract_json(reply)
            ranking = obj.get("ranking") if isinstance(obj, dict) else obj
            if not isinstance(ranking, list):
                raise LLMOutputError("expected {\"ranking\": [numbers]}", reply)
        except LLMTimeout:
            return True
        except LLMOutputError as e:
            errors.append(str(e))
            return False
        seen: list[int] = []
        for n in ranking:
            if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= len(cands) and n not in seen:
                seen.append(n)
        for pos, n in enumerate(seen):
            scores[n - 1] = float(len(cands) - pos)
            reasons[n - 1] = f"LLM ranked it {pos + 1} of {len(cands)}"
        for i in range(len(cands)):
            if scores[i] is None:
                reasons[i] = "left out of the LLM's ranking; first-stage order kept"
        return False
