"""The refine interface, citation checking, and the pass-through refiner used when no LLM can judge."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Any, Mapping, Sequence

from ..llm.evidence import Evidence
from ..types import SearchResult, Segment
from .schema import DroppedItem, KeptItem, RefinedAnswer

_CITE = re.compile(r"\[(\s*\d+(?:\s*,\s*\d+)*\s*)\]")


class Refiner(ABC):
    """Filters, reorders and augments retrieved results, and answers the question with citations."""

    @abstractmethod
    def refine(
        self,
        question: str,
        results: Sequence[SearchResult],
        *,
        segments: Mapping[str, Sequence[Segment]] | None = None,
    ) -> RefinedAnswer:
        """`segments`: each result's stored segments by id (tags, transcript windows, pages), if known."""

    def config(self) -> dict[str, Any]:
        return {"refiner": type(self).__name__}


def find_citations(answer: str) -> list[int]:
    """Citation numbers in order of appearance: '[1]', '[2, 3]' → [1, 2, 3]."""
    out = []
    for m in _CITE.finditer(answer):
        out.extend(int(x) for x in m.group(1).split(","))
    return out


def validate_citations(answer: str, valid: Sequence[int] | set[int], policy: str = "repair") -> tuple[str, list[int], list[str], list[str]]:
    """Check the answer's [n] against the citable numbers.

    policy "repair": invalid numbers are removed from their brackets (an emptied bracket goes);
    "reject": any invalid citation empties the answer. Returns (answer, cited, invalid, notes).
    """
    if policy not in ("repair", "reject"):
        raise ValueError(f"citation policy {policy!r}: choose 'repair' or 'reject'")
    valid = set(valid)
    invalid: list[str] = []
    cited: list[int] = []

    def fix(m: re.Match[str]) -> str:
        nums = [int(x) for x in m.group(1).split(",")]
        good = [n for n in nums if n in valid]
        invalid.extend(f"[{n}]" for n in nums if n not in valid)
        cited.extend(n for n in good if n not in cited)
        return "[" + ", ".join(str(n) for n in good) + "]" if good else ""

    fixed = _CITE.sub(fix, answer)
    notes: list[str] = []
    if invalid:
        where = f"items 1–{max(valid)}" if valid else "no items"
        if policy == "reject":
            notes.append(f"answer rejected: it cites {', '.join(invalid)}, but only {where} were kept from the retrieved results")
            return "", [], invalid, notes
        notes.append(f"removed citations {', '.join(invalid)} that point to no kept item (citable: {where})")
        fixed = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", fixed)).strip()
    if fixed and valid and not cited:
        notes.append("the answer cites no item")
    return fixed, cited, invalid, notes


def passthrough(
    question: str,
    results: Sequence[SearchResult],
    evidence: Sequence[list[Evidence]],
    notes: Sequence[str] = (),
    backend: dict[str, Any] | None = None,
    degraded: bool = True,
    reason: str = "not judged by an LLM; kept in retrieval order",
) -> RefinedAnswer:
    """Every result kept in its given order, no answer: what `ask` returns when the LLM cannot judge."""
    kept = [
        KeptItem(n=i, id=r.id, path=r.path, modality=str(r.modality), score=r.score, evidence=ev, reason=reason)
        for i, (r, ev) in enumerate(zip(results, evidence), 1)
    ]
    return RefinedAnswer(question=question, kept=kept, degraded=degraded, notes=list(notes), backend=backend or {})


class PassthroughRefiner(Refiner):
    """Keeps everything, answers nothing; gathers evidence. For pipelines without an LLM."""

    def refine(self, question, results, *, segments=None) -> RefinedAnswer:
        from .evidence import gather

        ev, notes = gather(results, segments or {}, augment=False)
        return passthrough(question, results, ev, notes, {"refiner": "none"}, degraded=False,
                           reason="kept: no refiner (retrieval order)")


__all__ = ["DroppedItem", "KeptItem", "PassthroughRefiner", "RefinedAnswer", "Refiner", "find_citations",
           "passthrough", "validate_citations"]
