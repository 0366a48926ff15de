"""LLMRefiner: an LLM filters and reorders the retrieved items from their evidence, then answers
with citations that are checked against the kept items.

Modes: "pointwise" — one yes/no prompt per item (logprobs; cheap with a cached prefix, and the
only mode a 135M-parameter model does reliably), then one answer prompt over the kept items;
"json" — one prompt judging every item and answering, as JSON (constrained by a grammar where
the backend supports it) — for capable models; "auto" — pointwise when the backend gives
logprobs, else json.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from pydantic import ValidationError

from ..errors import ModelUnavailable
from ..llm import ChatBackend, LLMError, LLMOutputError, LLMTimeout, extract_json, get_backend
from ..llm.evidence import Evidence, evidence_prompt
from ..types import SearchResult, Segment
from .base import Refiner, passthrough, validate_citations
from .evidence import gather
from .prompts import PROMPTS
from .schema import DroppedItem, KeptItem, LLMVerdict, RefinedAnswer

CHARS_PER_TOKEN = 4  # budget arithmetic: a rough, conservative English average


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 40.0), -40.0)))


class LLMRefiner(Refiner):
    """Args:
        backend / model / backend_options: see `xmodal.llm.get_backend`.
        mode: "auto" | "pointwise" | "json".
        keep_threshold: pointwise: keep items whose yes/no logit is at least this…
        relative_margin: …or within this of the best item's logit (small models are biased toward
            "no" on every item; None disables the relative rule). 1.0, not tighter: the packaged
            judges' logits barely separate relevant items (AUC ≈ 0.5), and at 0.5 SmolLM2 dropped
            the relevant picture on 5 of 12 queries (benchmarks/results/refine-judges.md).
        time_budget_s: for the whole refine (augmentation, judging, answer).
        max_prompt_tokens / answer_tokens: token budget of one prompt / of the answer.
        augment: run OCR / ASR on results lacking extracted text.
        citation_policy: "repair" (drop invalid citations) or "reject" (empty the answer).
        on_error: "degrade" (return the results unjudged with a note) or "raise".
    """

    def __init__(
        self,
        backend: str | ChatBackend = "llamacpp",
        model: str | None = None,
        mode: str = "auto",
        keep_threshold: float = 0.0,
        relative_margin: float | None = 1.0,
        time_budget_s: float = 30.0,
        max_prompt_tokens: int = 1500,
        answer_tokens: int = 80,
        max_evidence_chars: int = 300,
        augment: bool = True,
        augment_budget_s: float = 10.0,
        citation_policy: str = "repair",
        on_error: str = "degrade",
        prompts: dict[str, str] | None = None,
        backend_options: dict[str, Any] | None = None,
    ) -> None:
        if mode not in ("auto", "pointwise", "json"):
            raise ValueError(f"mode={mode!r}: choose auto, pointwise or json")
        if on_error not in ("degrade", "raise"):
            raise ValueError(f"on_error={on_error!r}: choose degrade or raise")
        if citation_policy not in ("repair", "reject"):
            raise ValueError(f"citation_policy={citation_policy!r}: choose repair or reject")
        self.backend_arg = backend
        self.backend_options = {**(backend_options or {}), **({"model": model} if model else {})}
        self.mode = mode
        self.keep_threshold = float(keep_threshold)
        self.relative_margin = relative_margin
        self.time_budget_s = float(time_budget_s)
        self.max_prompt_tokens = int(max_prompt_tokens)
        self.answer_tokens = int(answer_tokens)
        self.max_evidence_chars = int(max_evidence_chars)
        self.augment = augment
        self.augment_budget_s = float(augment_budget_s)
        self.citation_policy = citation_policy
        self.on_error = on_error
        self.prompts = {**PROMPTS, **(prompts or {})}

    def config(self) -> dict[str, Any]:
        return {"refiner": "llm", "mode": self.mode, "time_budget_s": self.time_budget_s, **self.backend_options,
                "backend": self.backend_arg if isinstance(self.backend_arg, str) else self.backend_arg.name}

    def _messages(self, user: str) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.prompts["system"]}, {"role": "user", "content": user}]

    def refine(
        self,
        question: str,
        results: Sequence[SearchResult],
        *,
        segments: Mapping[str, Sequence[Segment]] | None = None,
    ) -> RefinedAnswer:
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        evidence, notes = gather(results, segments or {}, augment=self.augment,
                                 time_budget_s=min(self.augment_budget_s, self.time_budget_s / 3),
                                 max_chars=self.max_evidence_chars)
        timings["evidence_s"] = time.perf_counter() - t0
        if not results:
            return RefinedAnswer(question=question, answer="", notes=notes + ["nothing was retrieved"], timings=timings)
        # token budget: share the prompt among the items
        per_item = max(60, min(self.max_evidence_chars, (self.max_prompt_tokens * CHARS_PER_TOKEN - 600) // len(results)))
        lines = [evidence_prompt(r.modality, ev, per_item) for r, ev in zip(results, evidence)]
        backend_cfg: dict[str, Any] = {}
        try:
            llm = get_backend(self.backend_arg, **self.backend_options)
            backend_cfg = llm.config()
            mode = self.mode
            if mode == "auto":
                mode = "pointwise"  # falls back to json below if the backend has no logprobs
            if mode == "pointwise":
                out = self._pointwise(llm, question, results, evidence, lines, t0, timings)
                if out is None:
                    mode = "json"
            if mode == "json":
                out = self._json(llm, question, results, evidence, lines, t0, timings)
        except (LLMError, ModelUnavailable) as exc:
            if self.on_error == "raise":
                raise
            kind = "timed out" if isinstance(exc, LLMTimeout) else "unavailable" if isinstance(exc, ModelUnavailable) else "failed"
            ans = passthrough(question, results, evidence, notes + [f"LLM {kind}: {exc}; results are the retrieved (and reranked) list, unfiltered"],
                              backend_cfg or {"backend": str(self.backend_arg)})
            ans.timings = {**timings, "total_s": time.perf_counter() - t0}
            return ans
        out.notes = notes + out.notes
        out.backend = {**backend_cfg, "mode": mode}
        out.timings = {**timings, "total_s": time.perf_counter() - t0}
        return out

    # -- pointwise -------------------------------------------------------------------
    def _left(self, t0: float) -> float:
        left = self.time_budget_s - (time.perf_counter() - t0)
        if left <= 0:
            raise LLMTimeout(f"refine time budget of {self.time_budget_s:g} s spent")
        return left

    def _pointwise(self, llm, question, results, evidence, lines, t0, timings) -> RefinedAnswer | None:
        t1 = time.perf_counter()
        logits: list[float | None] = []
        notes: list[str] = []
        for line in lines:
            try:
                lg = llm.yes_no(self._messages(self.prompts["judge"].format(question=question, item=line)), timeout_s=self._left(t0))
            except LLMTimeout:
                if not logits or all(x is None for x in logits):
                    raise
                notes.append(f"time budget spent after judging {len(logits)} of {len(lines)} items; the rest are kept unjudged")
                break
            if lg is None:
                return None  # no logprobs from this backend: the caller switches to json mode
            logits.append(lg)
        timings["judge_s"] = time.perf_counter() - t1
        judged = [x for x in logits if x is not None]
        best = max(judged)
        thr = self.keep_threshold
        if self.relative_margin is not None:
            thr = min(thr, best - float(self.relative_margin))
        order = sorted(range(len(results)), key=lambda i: (-(logits[i]) if i < len(logits) else math.inf, i))
        kept_idx = [i for i in order if i >= len(logits) or logits[i] >= thr]
        drop_idx = [i for i in range(len(logits)) if logits[i] < thr]
        kept = []
        for n, i in enumerate(kept_idx, 1):
            r = results[i]
            if i < len(logits):
                reason = f"judged relevant (P(yes|yes,no)={_sigmoid(logits[i]):.2f}) from {_basis(evidence[i])}"
            else:
                reason = "not judged (time budget); kept in retrieval order"
            kept.append(KeptItem(n=n, id=r.id, path=r.path, modality=str(r.modality), score=r.score,
                                 llm_score=logits[i] if i < len(logits) else None, evidence=evidence[i], reason=reason))
        dropped = [DroppedItem(id=results[i].id, path=results[i].path, modality=str(results[i].modality), score=results[i].score,
                               llm_score=logits[i], evidence=evidence[i],
                               reason=f"judged not relevant (P(yes|yes,no)={_sigmoid(logits[i]):.2f}, below the keep threshold {thr:+.2f}) from {_basis(evidence[i])}")
                   for i in drop_idx]
        ans = RefinedAnswer(question=question, kept=kept, dropped=dropped, notes=notes)
        self._answer(llm, ans, [lines[i] for i in kept_idx], t0, timings)
        return ans

    def _answer(self, llm, ans: RefinedAnswer, kept_lines: list[str], t0: float, timings: dict[str, float]) -> None:
        if not ans.kept:
            ans.answer = "None of the retrieved items fits the question."
            return
        t1 = time.perf_counter()
        items = "\n".join(f"[{n}] {line}" for n, line in enumerate(kept_lines, 1))
        try:
            text = llm.chat(self._messages(self.prompts["answer"].format(question=ans.question, items=items)),
                            max_tokens=self.answer_tokens, timeout_s=self._left(t0))
        except LLMTimeout as exc:
            ans.notes.append(f"no answer: {exc}; the kept items are still judged and ordered")
            return
        finally:
            timings["answer_s"] = time.perf_counter() - t1
        self._set_answer(ans, text.strip(), set(range(1, len(ans.kept) + 1)))

    def _set_answer(self, ans: RefinedAnswer, text: str, valid: set[int]) -> None:
        fixed, cited, invalid, notes = validate_citations(text, valid, self.citation_policy)
        ans.answer, ans.citations, ans.invalid_citations = fixed, cited, invalid
        ans.notes.extend(notes)
        if ans.kept and not cited:
            # an answer that cites nothing is not grounded in the results: say what was found instead
            ans.answer = extractive_answer(ans)
            ans.citations = [ans.kept[0].n]
            ans.notes.append("the model's answer cited no kept item, so it was replaced by the best match's evidence")

    # -- one call, JSON ----------------------------------------------------------------
    def _json(self, llm, question, results, evidence, lines, t0, timings) -> RefinedAnswer:
        t1 = time.perf_counter()
        items = "\n".join(f"[{n}] {line}" for n, line in enumerate(lines, 1))
        schema = LLMVerdict.model_json_schema() if llm.supports_json_schema else None
        text = llm.chat(self._messages(self.prompts["judge_all"].format(question=question, items=items)),
                        max_tokens=self.answer_tokens + 40 * len(results), json_schema=schema, timeout_s=self._left(t0))
        timings["judge_s"] = time.perf_counter() - t1
        try:
            verdict = LLMVerdict.model_validate(extract_json(text))
        except ValidationError as e:
            raise LLMOutputError(f"does not match the verdict schema ({e.error_count()} errors: {e.errors()[0]['msg']})", text) from e
        notes: list[str] = []
        seen: dict[int, Any] = {}
        for v in verdict.items:
            if not 1 <= v.n <= len(results):
                notes.append(f"the LLM judged item [{v.n}], which was not retrieved; ignored")
            elif v.n not in seen:
                seen[v.n] = v
        missing = [n for n in range(1, len(results) + 1) if n not in seen]
        if missing:
            notes.append(f"the LLM did not judge item(s) {', '.join(map(str, missing))}; they are kept after the judged ones")
        kept_in = [n for n, v in seen.items() if v.keep] + missing
        renumber = {n_in: k for k, n_in in enumerate(kept_in, 1)}
        kept = []
        for n_in in kept_in:
            r, v = results[n_in - 1], seen.get(n_in)
            kept.append(KeptItem(n=renumber[n_in], id=r.id, path=r.path, modality=str(r.modality), score=r.score,
                                 evidence=evidence[n_in - 1],
                                 reason=(v.reason.strip() if v and v.reason.strip() else "kept by the LLM") if v else "not judged; kept"))
        dropped = [DroppedItem(id=results[n - 1].id, path=results[n - 1].path, modality=str(results[n - 1].modality),
                               score=results[n - 1].score, evidence=evidence[n - 1],
                               reason=v.reason.strip() or "dropped by the LLM") for n, v in seen.items() if not v.keep]
        ans = RefinedAnswer(question=question, kept=kept, dropped=dropped, notes=notes)
        # the model cited prompt numbers: check them against the kept ones, then renumber to [n] of `kept`
        fixed, cited, invalid, cnotes = validate_citations(verdict.answer.strip(), set(kept_in), self.citation_policy)
        ans.answer = _renumber_citations(fixed, renumber)
        ans.citations = [renumber[c] for c in cited]
        ans.invalid_citations = invalid
        ans.notes.extend(cnotes)
        return ans


def extractive_answer(ans: RefinedAnswer) -> str:
    """'Best match [1]: <its first evidence>' — a grounded answer that needs no generation."""
    top = ans.kept[0]
    said = next((e.text for e in top.evidence if e.text), "") or Path(top.path).name or top.id
    return f"Best match [{top.n}]: {' '.join(said.split())[:200]}"


def _renumber_citations(text: str, renumber: dict[int, int]) -> str:
    import re

    def sub(m: re.Match[str]) -> str:
        nums = [int(x) for x in m.group(1).split(",")]  # all valid: checked before
        return "[" + ", ".join(str(renumber[n]) for n in nums) + "]"

    return re.sub(r"\[(\s*\d+(?:\s*,\s*\d+)*\s*)\]", sub, text)


def _basis(ev: Sequence[Evidence]) -> str:
    kinds = [e.kind for e in ev if e.text]
    return ", ".join(dict.fromkeys(kinds)) if kinds else "no extracted text"
