"""Video = sampled frames through the space's image encoder + the audio track through its audio
encoder, pooled hierarchically: regions → frame (the image encoder's pooling), frames → shot,
shots → clip. Tokens are the frame and shot vectors with their time spans, then the audio windows.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from ..errors import MediaError
from ..types import Embedding, Media, Modality, Segment
from .base import Encoder, EncoderSet, l2_normalize



class FramesAudioVideoEncoder(Encoder):
    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.VIDEO})
    composite: ClassVar[bool] = True

    def __init__(self, space: EncoderSet, audio_weight: float = 0.5, min_audio_rms: float = 0.005):
        self.space = space
        self.audio_weight = audio_weight
        self.min_audio_rms = min_audio_rms  # quieter tracks are treated as silent

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.space.encoder(Modality.IMAGE).dim

    def config(self) -> dict[str, Any]:
        return {"encoder": "frames-audio", "audio_weight": self.audio_weight, "min_audio_rms": self.min_audio_rms}

    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        image_enc = self.space.encoder(Modality.IMAGE)
        frames = [Media(Modality.IMAGE, path=m.path, images=[im]) for m in media for im in m.images]
        frame_embs = image_enc.encode(frames) if frames else []
        with_audio = [m for m in media if self._has_sound(m)]
        audio_embs: dict[int, Embedding] = {}
        if with_audio and Modality.AUDIO in self.space.modalities:
            track = [Media(Modality.AUDIO, path=m.path, audio=m.audio, sample_rate=m.sample_rate, duration=m.duration) for m in with_audio]
            for m, e in zip(with_audio, self.space.encoder(Modality.AUDIO).encode(track)):
                audio_embs[id(m)] = e
        out, pos = [], 0
        for m in media:
            n = len(m.images)
            if n == 0 and id(m) not in audio_embs:
                raise MediaError(m.path, "video has neither decodable frames nor an audio track")
            out.append(self._pool(m, frame_embs[pos : pos + n], audio_embs.get(id(m))))
            pos += n
        return out

    def _has_sound(self, m: Media) -> bool:
        return m.audio is not None and m.audio.size > 0 and float(np.sqrt(np.mean(m.audio**2))) >= self.min_audio_rms

    def _pool(self, m: Media, frames: list[Embedding], audio: Embedding | None) -> Embedding:
        dim = self.dim
        times = list(m.image_times) or [float(i) for i in range(len(frames))]
        end = m.duration or (times[-1] + 1.0 if times else 0.0)
        tokens: list[np.ndarray] = []
        segments: list[Segment] = []
        visual = np.zeros(dim, dtype=np.float32)
        if frames:
            fv = np.stack([f.vector for f in frames])
            for i, (t, f) in enumerate(zip(times, frames)):
                t_end = times[i + 1] if i + 1 < len(times) else end
                tokens.append(f.vector)
                segments.append(Segment("frame", index=i, start=t, end=t_end, text=f.text))
            shots = m.meta.get("shots") or [[0.0, end]]
            shot_vecs = []
            for j, (s0, s1) in enumerate(shots):
                sel = [i for i, t in enumerate(times) if s0 <= t < s1] or [min(range(len(times)), key=lambda i: abs(times[i] - s0))]
                v = l2_normalize(fv[sel].mean(0))
                shot_vecs.append(v)
                tokens.append(v)
                segments.append(Segment("shot", index=j, start=float(s0), end=float(s1)))
            # each shot counts once however long it is, so a short shot is still findable
            visual = l2_normalize(np.mean(shot_vecs, axis=0))
        vector = visual
        text_parts = sorted({f.text for f in frames if f.text})
        if audio is not None:
            vector = l2_normalize(visual + self.audio_weight * audio.vector) if frames else audio.vector
            for s, t in zip(audio.segments, audio.tokens):
                tokens.append(t)
                segments.append(Segment(s.kind if s.kind != "token" else "window", index=s.index, start=s.start, end=s.end, text=s.text))
            if audio.text:
                text_parts.insert(0, audio.text)
        tok = np.stack(tokens).astype(np.float32) if tokens else np.zeros((0, dim), np.float32)
        return Embedding(vector=l2_normalize(vector), tokens=tok, segments=segments, text="\n".join(text_parts))
