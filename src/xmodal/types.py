"""Core data types shared by every stage: modalities, segments, decoded media, embeddings, results."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # Pillow is only needed by the media stage
    from PIL.Image import Image


class Modality(str, Enum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"

    def __str__(self) -> str:  # so f-strings and CLI output print "image", not "Modality.IMAGE"
        return self.value


@dataclass
class Segment:
    """A part of an item that later stages attend over and results can point into.

    kind: "region" (image area), "window" (audio time span), "frame" (video frame),
    "shot" (video time span), "page" (document page), "chunk" (text passage), "item" (whole).
    Times are seconds; boxes are (x0, y0, x1, y1) in [0, 1] of the image or frame.
    evidence: set on a search result's segment of a video: which sense carried the match there,
    "sound" (what is heard), "picture" (what is seen) or "both"; "" elsewhere.
    """

    kind: str
    index: int = 0
    start: float | None = None
    end: float | None = None
    page: int | None = None
    box: tuple[float, float, float, float] | None = None
    text: str = ""
    evidence: str = ""

    def to_dict(self) -> dict[str, Any]:
        # hand-rolled rather than dataclasses.asdict: called for every region of every item
        d: dict[str, Any] = {"kind": self.kind, "index": self.index}
        for key in ("start", "end", "page", "box", "text", "evidence"):
            v = getattr(self, key)
            if v is not None and v != "":
                d[key] = list(v) if key == "box" else v
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Segment":
        d = dict(d)
        if d.get("box") is not None:
            d["box"] = tuple(d["box"])
        return cls(**d)

    def describe(self) -> str:
        """Short human form: '00:03.0-00:05.0', '00:03.0-00:04.0 (sound)', 'page 2',
        'region (0.1,0.2)-(0.5,0.6)'."""
        if self.start is not None:
            span = f"{_clock(self.start)}-{_clock(self.end if self.end is not None else self.start)}"
            return f"{span} ({self.evidence})" if self.evidence else span
        if self.page is not None:
            return f"page {self.page}"
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            return f"region ({x0:.2f},{y0:.2f})-({x1:.2f},{y1:.2f})"
        return self.kind


def _clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


@dataclass
class Media:
    """Decoded content of one file (or one part of a query), ready for encoders.

    - text: the item's own text (text files, document text, a text query)
    - images: the picture (image), sampled frames (video) or page renders (document), RGB
    - image_times: timestamp in seconds of each frame (video only)
    - page_texts: text of each page (document only)
    - audio: mono float32 waveform at `sample_rate` (audio, and the audio track of a video)
    - duration: seconds (audio/video); pages: page count (document)
    """

    modality: Modality
    path: str | None = None
    text: str = ""
    images: list["Image"] = field(default_factory=list)
    image_times: list[float] = field(default_factory=list)
    page_texts: list[str] = field(default_factory=list)
    audio: np.ndarray | None = None
    sample_rate: int = 16000
    duration: float | None = None
    pages: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Embedding:
    """What an encoder returns for one Media.

    vector: (dim,) L2-normalised, in the shared space.
    tokens: (n, dim) token/segment features (text token states, image regions, audio windows,
        video frames, pages); row i describes segments[i]. May have n == 0.
    text: text extracted on the way (OCR, transcript, page text) for lexical search and display.
    native: the encoder's own pre-bridge features, for learned bindings (xmodal.bind): e.g.
        "effnet" (1280,), "effnet_regions" (h*w, 1280), "aisfx" (512,). Not stored in an index.
    """

    vector: np.ndarray
    tokens: np.ndarray
    segments: list[Segment]
    text: str = ""
    native: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class SearchResult:
    id: str
    path: str
    modality: Modality
    score: float
    text: str = ""
    segment: Segment | None = None  # where in the item it matched, if it has segments
    scores: dict[str, float] = field(default_factory=dict)  # per stage: vector, lexical, fused...
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "modality": str(self.modality),
            "score": self.score,
            "text": self.text,
            "segment": self.segment.to_dict() if self.segment else None,
            "scores": self.scores,
            "meta": self.meta,
        }
