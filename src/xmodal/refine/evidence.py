"""Knowledge-enhanced augmentation: evidence per result from what the index holds, plus OCR and
speech recognition run now on results that lack them (so a text-only LLM can judge pixels and sound).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import MediaError
from ..llm.evidence import Evidence, item_evidence
from ..media.pool import DecodePool, shared_pool
from ..types import Media, Modality, SearchResult, Segment

log = logging.getLogger(__name__)
_ASR: Any = None


def _ocr(media: Media) -> list[Evidence]:
    from ..encode.ocr import OCR

    text, conf = OCR().read(media.images[0]) if media.images else ("", 0.0)
    return [Evidence(kind="ocr", text=text[:600], source="ocr")] if text.strip() else []


def _asr(media: Media) -> list[Evidence]:
    global _ASR
    from ..encode.audio import SpeechSoundAudioEncoder

    if media.audio is None or len(media.audio) == 0:
        return []
    if _ASR is None:
        _ASR = SpeechSoundAudioEncoder(sound_bank=None, max_transcribe_s=120.0)
    tr = _ASR.transcribe(media.audio, media.sample_rate)
    return [Evidence(kind="transcript", text=s.text, start=round(s.start, 2), end=round(s.end, 2), source="asr")
            for s in tr.segments[:8]]


def gather(
    results: Sequence[SearchResult],
    segments: Mapping[str, Sequence[Segment]],
    *,
    augment: bool = True,
    time_budget_s: float = 10.0,
    max_chars: int = 600,
    decoder: DecodePool | None = None,
) -> tuple[list[list[Evidence]], list[str]]:
    """(evidence per result, notes). OCR/ASR run only on images / audio / video that have no
    extracted text yet and whose file exists, and stop when the time budget is spent. Files are
    decoded by `decoder` (default: the process's shared decode pool)."""
    t0 = time.perf_counter()
    out, notes, skipped = [], [], 0
    for r in results:
        ev = item_evidence(r.modality, r.text, segments.get(r.id, ()), r.segment, max_chars)
        kinds = {e.kind for e in ev}
        job = None
        if augment and r.path and Path(r.path).is_file():
            if r.modality == Modality.IMAGE and "ocr" not in kinds:
                job = _ocr
            elif r.modality in (Modality.AUDIO, Modality.VIDEO) and "transcript" not in kinds:
                job = _asr
        if job is not None:
            if time.perf_counter() - t0 > time_budget_s:
                skipped += 1
            else:
                try:
                    # decoded in a worker under the per-file budgets: the file may have changed
                    # since it was indexed, into one that crashes or hangs a decoder
                    ev.extend(job((decoder or shared_pool()).load(r.path)))
                except Exception as exc:  # augmentation is a bonus: never fatal
                    why = exc.reason if isinstance(exc, MediaError) else exc
                    notes.append(f"{r.path}: {'OCR' if job is _ocr else 'speech recognition'} failed: {why}")
        out.append(ev)
    if skipped:
        notes.append(f"OCR/ASR skipped on {skipped} item(s): augmentation budget of {time_budget_s:g} s spent")
    return out, notes
