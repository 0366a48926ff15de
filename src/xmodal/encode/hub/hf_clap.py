"""CLAP through transformers: text and sounds in one space.

Audio arrives as mono float32 (16 kHz in xmodal's Media) and is resampled to the feature
extractor's rate (48 kHz for CLAP). CLAP sees at most `max_length_s` (10 s) at once, so longer
audio is cut into consecutive windows of that length; each window is embedded on its own (its
vector is a token row with a Segment(kind="window", start, end)), and the item's vector is the
duration-weighted mean of the window vectors, renormalised. Windows never exceed the model's
length, so the feature extractor's random crop / random fusion choice never happens and the same
audio always gives the same vectors.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import numpy as np

from ...errors import MediaError
from ...types import Embedding, Media, Modality, Segment
from ..base import l2_normalize
from ._hf import HFEncoder


class HFCLAPEncoder(HFEncoder):
    """LAION CLAP (`ClapModel` + `ClapProcessor`). dim = projection_dim.

    min_window_s: a trailing piece shorter than this is not embedded alone (mostly repeat-padding);
    the last window is moved back to end with the audio instead, overlapping the one before.
    """

    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.TEXT, Modality.AUDIO})
    default_model: ClassVar[str] = "hf-hub:laion/clap-htsat-unfused"
    model_types: ClassVar[frozenset[str]] = frozenset({"clap"})
    model_class: ClassVar[str] = "ClapModel"

    def __init__(
        self, model: str | None = None, device: str = "auto", batch_size: int = 32, min_window_s: float = 1.0
    ):
        super().__init__(model=model, device=device, batch_size=batch_size)
        fe = self.processor.feature_extractor
        self.sample_rate = int(fe.sampling_rate)
        self.window_samples = int(fe.nb_max_samples)
        self.window_s = self.window_samples / self.sample_rate
        self.min_window_s = float(min_window_s)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "window_s": self.window_s, "min_window_s": self.min_window_s}

    def _handlers(self) -> dict[Modality, Callable[[list[Media]], list[Embedding]]]:
        return {Modality.TEXT: self._encode_texts, Modality.AUDIO: self._encode_audio}

    # --- text ----------------------------------------------------------------------------------
    def _text_max_length(self) -> int:
        tc = self.model.config.text_config
        # RoBERTa-style positions start after the padding index, so fewer tokens fit than positions
        limit = int(tc.max_position_embeddings) - (int(tc.pad_token_id or 0) + 1)
        return min(limit, int(getattr(self.tokenizer, "model_max_length", limit) or limit))

    def _text_forward(self, inputs: dict[str, Any]) -> tuple[Any, Any]:
        tm = self.model.text_model
        out = tm(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"))
        proj = self.model.text_projection
        # pooled = projection(tanh(dense(first token))); every token gets the same head
        tokens = proj(tm.pooler.activation(tm.pooler.dense(out.last_hidden_state)))
        return proj(out.pooler_output), tokens

    # --- audio ---------------------------------------------------------------------------------
    def _encode_audio(self, media: list[Media]) -> list[Embedding]:
        spans: list[list[tuple[int, int]]] = []
        pieces: list[np.ndarray] = []
        for m in media:
            wav = _mono(m)
            if m.sample_rate <= 0:
                raise MediaError(m.path, f"invalid sample rate {m.sample_rate}")
            wav = resample(wav, m.sample_rate, self.sample_rate)
            if wav.size == 0:
                raise MediaError(m.path, "audio too short to embed")
            sp = split_windows(wav.size, self.window_samples, int(self.min_window_s * self.sample_rate))
            spans.append(sp)
            pieces.extend(wav[s:e] for s, e in sp)
        vectors = self._embed_windows(pieces)
        out: list[Embedding] = []
        k = 0
        for sp in spans:
            rows = vectors[k : k + len(sp)]
            k += len(sp)
            weights = np.array([e - s for s, e in sp], dtype=np.float32)
            vector = l2_normalize((rows * weights[:, None]).sum(axis=0))
            segs = [
                Segment(kind="window", index=i, start=s / self.sample_rate, end=e / self.sample_rate)
                for i, (s, e) in enumerate(sp)
            ]
            out.append(Embedding(vector=vector, tokens=rows, segments=segs))
        return out

    def _embed_windows(self, pieces: list[np.ndarray]) -> np.ndarray:
        """(n_windows, dim) L2-normalised, each window ≤ the model's length."""
        import torch

        fe = self.processor.feature_extractor
        rows = []
        for start in range(0, len(pieces), self.batch_size):
            chunk = pieces[start : start + self.batch_size]
            feats = fe(chunk, sampling_rate=self.sample_rate, return_tensors="pt")
            # no window is longer than the model's length, so none needs fusion; the extractor
            # would otherwise flag a random one as "longer" in fusion mode
            is_longer = torch.zeros((len(chunk), 1), dtype=torch.bool, device=self.device)
            with torch.inference_mode():
                out = self.model.audio_model(
                    input_features=feats["input_features"].to(self.device, self.dtype), is_longer=is_longer
                )
                emb = self.model.audio_projection(out.pooler_output)
            rows.append(l2_normalize(emb.float().cpu().numpy()))
        return np.concatenate(rows, axis=0) if rows else np.zeros((0, self.dim), np.float32)


def split_windows(n: int, window: int, min_tail: int = 0) -> list[tuple[int, int]]:
    """Consecutive [start, end) sample spans of at most `window` covering `n` samples.

    A tail shorter than `min_tail` (after at least one full window) becomes a full window ending
    at `n`, overlapping the previous one, rather than a sliver that is mostly padding.
    """
    if n <= window:
        return [(0, n)]
    spans = [(s, min(s + window, n)) for s in range(0, n, window)]
    s, e = spans[-1]
    if e - s < min_tail:
        spans[-1] = (n - window, n)
    return spans


def resample(wav: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample mono audio; polyphase (anti-aliased) with scipy, linear interpolation without it."""
    wav = np.asarray(wav, dtype=np.float32)
    if sr_in == sr_out or wav.size == 0:
        return wav
    try:
        from math import gcd

        from scipy.signal import resample_poly
    except ImportError:
        n_out = int(round(wav.size * sr_out / sr_in))
        t_out = np.arange(n_out, dtype=np.float64) * (sr_in / sr_out)
        return np.interp(t_out, np.arange(wav.size), wav).astype(np.float32)
    g = gcd(sr_in, sr_out)
    return resample_poly(wav, sr_out // g, sr_in // g).astype(np.float32)


def _mono(m: Media) -> np.ndarray:
    if m.audio is None:
        raise MediaError(m.path, "no decoded audio to embed (Media.audio is empty)")
    wav = np.asarray(m.audio, dtype=np.float32)
    if wav.ndim == 2:  # tolerate (channels, samples) or (samples, channels): mix down
        wav = wav.mean(axis=0 if wav.shape[0] <= wav.shape[1] else 1)
    if wav.ndim != 1 or wav.size == 0:
        raise MediaError(m.path, f"expected a mono waveform, got shape {np.shape(m.audio)}")
    if not np.all(np.isfinite(wav)):
        raise MediaError(m.path, "waveform holds NaN or infinite samples")
    return wav


__all__ = ["HFCLAPEncoder", "resample", "split_windows"]
