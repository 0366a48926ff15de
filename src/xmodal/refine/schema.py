"""The refiner's output — the documented, stable JSON of `xmodal ask --json` — and the JSON the
LLM is asked to produce in one-call ("json") mode. `RefinedAnswer.model_json_schema()` is the schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..llm.evidence import Evidence

SCHEMA_VERSION = 1


class KeptItem(BaseModel):
    """A retrieved item the refiner kept, in final order; the answer cites it as [n]."""

    n: int = Field(description="citation number: the answer refers to this item as [n]")
    id: str
    path: str = Field(description="file path ('' for raw texts)")
    modality: str
    score: float = Field(description="score after retrieval (and reranking)")
    llm_score: float | None = Field(None, description="the LLM's relevance: yes/no logit, or null in one-call mode")
    evidence: list[Evidence] = Field(default_factory=list, description="what the judgement was based on")
    reason: str = Field("", description="one line: why it was kept")


class DroppedItem(BaseModel):
    """A retrieved item the refiner filtered out."""

    id: str
    path: str
    modality: str
    score: float
    llm_score: float | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    reason: str = Field("", description="one line: why it was dropped")


class RefinedAnswer(BaseModel):
    """What `xmodal ask` returns."""

    schema_version: int = SCHEMA_VERSION
    question: str
    answer: str = Field("", description="short answer citing kept items as [n]; '' when none could be given")
    kept: list[KeptItem] = Field(default_factory=list)
    dropped: list[DroppedItem] = Field(default_factory=list)
    citations: list[int] = Field(default_factory=list, description="the [n] the answer cites (all valid)")
    invalid_citations: list[str] = Field(default_factory=list, description="citation markers removed or rejected")
    degraded: bool = Field(False, description="true when the LLM could not judge and results are passed through")
    notes: list[str] = Field(default_factory=list, description="what went wrong or was skipped, for humans")
    backend: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per stage")


class LLMItemVerdict(BaseModel):
    n: int = Field(description="the item's number in the prompt")
    keep: bool
    reason: str = Field("", max_length=300)


class LLMVerdict(BaseModel):
    """What the LLM must return in one-call mode."""

    items: list[LLMItemVerdict]
    answer: str = Field("", max_length=1200)
