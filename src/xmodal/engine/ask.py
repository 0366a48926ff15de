"""`ask`: retrieve → rerank (if asked) → refine, the whole path of a question to a cited answer."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from xmodal.errors import ModelUnavailable, XModalError
from xmodal.refine import REFINERS, RefinedAnswer, Refiner
from xmodal.types import Modality, Segment

if TYPE_CHECKING:
    from . import Index


def stored_segments(index: "Index", ids: Sequence[str]) -> dict[str, list[Segment]]:
    """Each item's stored segments (ImageNet tags, transcript windows, pages) by id."""
    out = {}
    for rec in index.store.get(list(ids)):
        out[rec["id"]] = [Segment.from_dict(s) for s in json.loads(rec.get("segments") or "[]")]
    return out


def ask(
    index: "Index",
    question: str | None,
    *,
    file: str | Path | None = None,
    k: int = 10,
    modalities: Sequence[Modality | str] | None = None,
    rerank: Any = None,
    refiner: str | Refiner = "llm",
    **refiner_options: Any,
) -> RefinedAnswer:
    """Retrieve → rerank (if asked) → refine. A reranker that fails falls back to the first stage
    with a note; a refiner whose LLM is unavailable returns the results unjudged with a note."""
    t0 = time.perf_counter()
    notes: list[str] = []
    try:
        results = index.search(question, file, k=k, modalities=modalities, rerank=rerank)
    except (ModelUnavailable, XModalError, KeyError) as exc:
        if not rerank or isinstance(exc, KeyError) and "reranker" not in str(exc):
            raise
        notes.append(f"reranker {rerank!r} failed ({exc}); showing first-stage results")
        results = index.search(question, file, k=k, modalities=modalities)
    t_retrieve = time.perf_counter() - t0
    segments = stored_segments(index, [r.id for r in results])
    ref = refiner if isinstance(refiner, Refiner) else REFINERS.create(refiner, **refiner_options)
    # a query by example says nothing of its own; its file name is no evidence (it may name the answer)
    q = question.strip() if question and question.strip() else "Which items are like the example given?"
    ans = ref.refine(q, results, segments=segments)
    ans.notes = notes + ans.notes
    ans.timings = {"retrieve_s": t_retrieve, **ans.timings, "ask_s": time.perf_counter() - t0}
    return ans
