"""Video = sampled frames through the space's image encoder + the audio track through its audio
encoder, pooled hierarchically: regions → frame (the image encoder's pooling), frames → shot,
shots → clip.

pooling="audio-guided" (the default): the track is also cut into `window_s` sound windows
(bridged by the audio encoder from the track's own sound features) and its speech segments; each
window has a time span and a salience (loudness; speech confidence), and what a window says
weights and joins the frames and shots it plays over (`encode/av.py`). Tokens are the frames,
the audio-guided shots, then the speech and sound windows, all with time spans, so search,
the reranker and explanations can align what is heard with what is seen.

pooling="mean": frames → shot and shots → clip by plain means, plus the whole track's audio
vector with a fixed weight; tokens are the frames, shots and the audio encoder's own windows.
A clip with no audible sound gets exactly these vectors under either pooling.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np

from ..errors import MediaError
from ..types import Embedding, Media, Modality, Segment
from .av import NOTE_PREFIX, AudioWindow, PoolParams, av_pool, frame_shot_members, is_speech_window, loudness_salience
from .base import Encoder, EncoderSet, l2_normalize

POOLINGS = ("audio-guided", "mean")


class FramesAudioVideoEncoder(Encoder):
    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.VIDEO})
    composite: ClassVar[bool] = True

    def __init__(self, space: EncoderSet, audio_weight: float = 0.5, min_audio_rms: float = 0.005,
                 pooling: str = "audio-guided", window_s: float = 1.0, audio_gain: float = PoolParams.audio_gain,
                 frame_temp: float = PoolParams.frame_temp, shot_temp: float = PoolParams.shot_temp,
                 window_weight: float = PoolParams.window_weight):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r}: use one of {', '.join(POOLINGS)}")
        if window_s <= 0:
            raise ValueError(f"window_s={window_s}: must be > 0")
        self.space = space
        self.audio_weight = audio_weight
        self.min_audio_rms = min_audio_rms  # quieter tracks (and windows) are treated as silent
        self.pooling = pooling
        self.window_s = float(window_s)
        self.params = PoolParams(audio_gain=audio_gain, frame_temp=frame_temp, shot_temp=shot_temp,
                                 window_weight=window_weight)

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.space.encoder(Modality.IMAGE).dim

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"encoder": "frames-audio", "audio_weight": self.audio_weight, "min_audio_rms": self.min_audio_rms}
        if self.pooling != "mean":  # the mean pooling keeps the config (and indexes) it always had
            p = self.params
            cfg.update(pooling=self.pooling, window_s=self.window_s, audio_gain=p.audio_gain, frame_temp=p.frame_temp,
                       shot_temp=p.shot_temp, window_weight=p.window_weight)
        return cfg

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
            audio = audio_embs.get(id(m))
            windows = self.audio_windows(m, audio) if audio is not None and n and self.pooling != "mean" else []
            if windows:
                out.append(self._pool_av(m, frame_embs[pos : pos + n], audio, windows))
            else:
                out.append(self._pool(m, frame_embs[pos : pos + n], audio))
            pos += n
        return out

    # ------------------------------------------------------------------ audio-guided
    def audio_windows(self, m: Media, track: Embedding) -> list[AudioWindow]:
        """The track's speech segments and audible `window_s` sound windows, with salience."""
        audio = np.asarray(m.audio, np.float32).reshape(-1)
        rate = m.sample_rate
        length = len(audio) / rate
        speech = [(s, t) for s, t in zip(track.segments, track.tokens) if is_speech_window(s)]
        conf = track.native.get("speech_confidence")
        conf = conf if conf is not None and len(conf) == len(speech) else np.ones(len(speech), np.float32)
        out = [AudioWindow(float(s.start or 0.0), float(s.end if s.end is not None else length), t, float(c), True, s.text)
               for (s, t), c in zip(speech, conf)]
        edges = np.arange(0.0, length, self.window_s)
        grid = [(float(a), float(min(a + self.window_s, length))) for a in edges if min(a + self.window_s, length) - a > 0.05]
        salience = []
        for a, b in grid:
            rms = float(np.sqrt(np.mean(audio[int(a * rate): max(int(b * rate), int(a * rate) + 1)] ** 2)))
            sal = loudness_salience(rms, self.min_audio_rms)
            for w in out:  # speech already speaks for the stretch it covers
                ov = max(0.0, min(b, w.end) - max(a, w.start)) / max(b - a, 1e-9)
                sal *= 1.0 - ov * w.salience
            salience.append(sal)
        keep = [k for k, sal in enumerate(salience) if sal > 0]
        if keep:
            embs = self._window_embeddings(m, track, [grid[k] for k in keep])
            for k, e in zip(keep, embs):
                out.append(AudioWindow(grid[k][0], grid[k][1], e.vector, salience[k], False,
                                       e.segments[0].text if e.segments else "sound"))
        return sorted(out, key=lambda w: (w.start, not w.speech))

    def _window_embeddings(self, m: Media, track: Embedding, spans: list[tuple[float, float]]) -> list[Embedding]:
        """Sound windows through the audio encoder: from the track's own features where the
        encoder offers it (one pass), else each window's samples as a clip of its own."""
        enc = self.space.encoder(Modality.AUDIO)
        if hasattr(enc, "encode_windows"):
            embs = enc.encode_windows(track, spans)
            if len(embs) == len(spans):
                return embs
        r = m.sample_rate
        parts = [Media(Modality.AUDIO, path=m.path, audio=np.asarray(m.audio)[int(a * r): int(b * r)], sample_rate=r,
                       duration=b - a) for a, b in spans]
        return enc.encode(parts)

    def _pool_av(self, m: Media, frames: list[Embedding], audio: Embedding, windows: list[AudioWindow]) -> Embedding:
        times = list(m.image_times) or [float(i) for i in range(len(frames))]
        end = m.duration or times[-1] + 1.0
        spans = np.array([[t, times[i + 1] if i + 1 < len(times) else end] for i, t in enumerate(times)], np.float64)
        shots = m.meta.get("shots") or [[0.0, end]]
        fv = np.stack([f.vector for f in frames]).astype(np.float32)
        pooled = av_pool(fv, spans, shots, windows, self.params)
        tokens = list(fv)
        segments = [Segment("frame", index=i, start=float(a), end=float(b), text=f.text) for i, ((a, b), f) in enumerate(zip(spans, frames))]
        for j, ((s0, s1), v) in enumerate(zip(shots, pooled.shots)):
            tokens.append(v)
            segments.append(Segment("shot", index=j, start=float(s0), end=float(s1)))
        for k, w in enumerate(windows):
            tokens.append(w.vector)
            segments.append(w.segment(k))
        notes = [(s, t) for s, t in zip(audio.segments, audio.tokens) if s.kind == "window" and s.text.startswith(NOTE_PREFIX)]
        for k, (s, t) in enumerate(notes, len(windows)):  # "not transcribed past N s"
            tokens.append(t)
            segments.append(Segment("window", index=k, start=s.start, end=s.end, text=s.text))
        return Embedding(vector=pooled.clip, tokens=np.stack(tokens).astype(np.float32), segments=segments,
                         text=_text(frames, audio))

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
            for j, ((s0, s1), sel) in enumerate(zip(shots, frame_shot_members(times, shots))):
                v = l2_normalize(fv[sel].mean(0))
                shot_vecs.append(v)
                tokens.append(v)
                segments.append(Segment("shot", index=j, start=float(s0), end=float(s1)))
            # each shot counts once however long it is, so a short shot is still findable
            visual = l2_normalize(np.mean(shot_vecs, axis=0))
        vector = visual
        if audio is not None:
            vector = l2_normalize(visual + self.audio_weight * audio.vector) if frames else audio.vector
            for s, t in zip(audio.segments, audio.tokens):
                tokens.append(t)
                segments.append(Segment(s.kind if s.kind != "token" else "window", index=s.index, start=s.start, end=s.end, text=s.text))
        tok = np.stack(tokens).astype(np.float32) if tokens else np.zeros((0, dim), np.float32)
        return Embedding(vector=l2_normalize(vector), tokens=tok, segments=segments, text=_text(frames, audio))


def _text(frames: list[Embedding], audio: Embedding | None) -> str:
    """The transcript, then the frames' own texts (OCR), for lexical search and display."""
    parts = sorted({f.text for f in frames if f.text})
    if audio is not None and audio.text:
        parts.insert(0, audio.text)
    return "\n".join(parts)
