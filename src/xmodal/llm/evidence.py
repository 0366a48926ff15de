"""Textual evidence for an item, from what xmodal extracted (OCR, transcript, ImageNet tags,
sound labels, page text, frame text) — so a text-only LLM can reason about any modality.

Only content-derived evidence is used: never the file name or path, which in evaluation sets
could leak the answer and in real collections is often meaningless.
"""

from __future__ import annotations

import re
from typing import Literal, Sequence

from pydantic import BaseModel, Field

from ..types import Modality, Segment

EvidenceKind = Literal["ocr", "transcript", "tags", "sound", "passage", "text", "frame", "region", "time_span"]


class Evidence(BaseModel):
    """One piece of evidence about an item, with where in the item it comes from."""

    kind: EvidenceKind = Field(description="ocr | transcript | tags | sound | passage | text | frame | region | time_span")
    text: str = Field("", description="the evidence itself (may be empty for a bare region/time span)")
    start: float | None = Field(None, description="seconds, for audio/video")
    end: float | None = Field(None, description="seconds, for audio/video")
    page: int | None = Field(None, description="1-based page, for documents")
    box: tuple[float, float, float, float] | None = Field(None, description="(x0, y0, x1, y1) in [0, 1]")
    source: Literal["index", "ocr", "asr"] = Field("index", description="index: extracted at indexing; ocr/asr: run now")

    def describe(self) -> str:
        where = ""
        if self.start is not None:
            where = Segment("window", start=self.start, end=self.end).describe()
        elif self.page is not None:
            where = f"page {self.page}"
        elif self.box is not None:
            where = Segment("region", box=self.box).describe()
        return f"{self.kind}" + (f" [{where}]" if where else "") + (f": {self.text}" if self.text else "")


_SCORE_SUFFIX = re.compile(r"\s+\d(?:\.\d+)?$")


def tag_names(tags_text: str) -> list[str]:
    """'tabby cat 0.62; tiger cat 0.11' -> ['tabby cat', 'tiger cat']."""
    names = []
    for part in tags_text.split(";"):
        name = _SCORE_SUFFIX.sub("", part.strip()).strip()
        if name:
            names.append(name)
    return names


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: max(0, n - 1)].rstrip() + "…"


def item_evidence(
    modality: Modality | str,
    text: str,
    segments: Sequence[Segment] = (),
    matched: Segment | None = None,
    max_chars: int = 600,
) -> list[Evidence]:
    """Evidence for one item from its extracted text and stored segments (most telling first)."""
    mod = Modality(modality)
    ev: list[Evidence] = []
    text = (text or "").strip()
    if mod == Modality.IMAGE:
        for s in segments:
            if s.kind == "tags" and s.text:
                ev.append(Evidence(kind="tags", text=s.text))
        if text:
            ev.append(Evidence(kind="ocr", text=_clip(text, max_chars)))
        if matched is not None and matched.box is not None:
            ev.append(Evidence(kind="region", box=matched.box))
    elif mod in (Modality.AUDIO, Modality.VIDEO):
        speech = [s for s in segments if s.kind == "window" and s.text and not s.text.startswith(("sound:", "note:"))]
        sounds = [s for s in segments if s.kind == "window" and s.text.startswith("sound:")]
        frames = [s for s in segments if s.kind == "frame" and s.text]
        if speech:
            for s in speech[:6]:
                ev.append(Evidence(kind="transcript", text=_clip(s.text, max_chars // 2), start=s.start, end=s.end))
        elif text:
            ev.append(Evidence(kind="transcript", text=_clip(text, max_chars)))
        seen: set[str] = set()
        for s in sounds:
            label = s.text.removeprefix("sound:").strip()
            if label and label not in seen:
                seen.add(label)
                ev.append(Evidence(kind="sound", text=label, start=s.start, end=s.end))
            if len(seen) >= 3:
                break
        for s in frames[:4]:
            ev.append(Evidence(kind="frame", text=_clip(s.text, max_chars // 3), start=s.start, end=s.end))
        if matched is not None and matched.start is not None:
            ev.append(Evidence(kind="time_span", text=_clip(matched.text, 120), start=matched.start, end=matched.end))
    elif mod == Modality.DOCUMENT:
        pages = [s for s in segments if s.kind == "page" and s.text]
        if matched is not None and matched.page is not None and matched.text:
            ev.append(Evidence(kind="passage", text=_clip(matched.text, max_chars), page=matched.page))
            pages = [p for p in pages if p.page != matched.page]
        for p in pages[:2]:
            ev.append(Evidence(kind="passage", text=_clip(p.text, max_chars // 2), page=p.page))
        if not ev and text:
            ev.append(Evidence(kind="passage", text=_clip(text, max_chars)))
    else:  # text
        if matched is not None and matched.kind == "chunk" and matched.text:
            ev.append(Evidence(kind="passage", text=_clip(matched.text, max_chars)))
        if text:
            ev.append(Evidence(kind="text", text=_clip(text, max_chars)))
    return ev


_LABELS = {
    "tags": "objects seen", "ocr": "text in the image", "transcript": "speech", "sound": "sounds",
    "passage": "passage", "text": "text", "frame": "frame", "region": "", "time_span": "",
}


def evidence_prompt(modality: Modality | str, evidence: Sequence[Evidence], max_chars: int = 600) -> str:
    """One compact line for a prompt: 'image; objects seen: castle, palace; text in the image: …'."""
    parts = [str(Modality(modality))]
    for e in evidence:
        label = _LABELS.get(e.kind, e.kind)
        if not label or not e.text:
            continue
        body = ", ".join(tag_names(e.text)[:5]) if e.kind == "tags" else e.text
        if e.kind in ("transcript", "frame") and e.start is not None:
            body = f"({e.start:.0f}s) {body}"
        parts.append(f"{label}: {body}")
    if len(parts) == 1:
        parts.append("no extracted text")
    return _clip("; ".join(parts), max_chars)
