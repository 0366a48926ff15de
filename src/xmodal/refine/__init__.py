"""Refine stage: an LLM filters, reorders and augments retrieved results and answers with citations.

    answer = xmodal.open("my-index").ask("which pictures show a castle?", rerank="attention")
    print(answer.answer); [k.path for k in answer.kept]

The engine runs retrieve → rerank → refine (`Index.ask`); this package is the refine stage.
"""

from __future__ import annotations

from ..registry import Registry
from .base import PassthroughRefiner, Refiner, find_citations, validate_citations
from .prompts import PROMPTS
from .schema import DroppedItem, KeptItem, RefinedAnswer

REFINERS: Registry[Refiner] = Registry("refiner", Refiner)
REFINERS.register("llm", "xmodal.refine.llm:LLMRefiner")
REFINERS.register("none", PassthroughRefiner)

__all__ = [
    "PROMPTS", "REFINERS", "DroppedItem", "KeptItem", "PassthroughRefiner", "RefinedAnswer", "Refiner",
    "find_citations", "validate_citations",
]
