"""A labelled reference sound bank: the training-free bridge from non-speech sound into text space.

No audio–text model installs from the registries, so sounds reach the shared (MiniLM) text space
the way ConSE (Norouzi et al., 2014) brings images there: a sound is embedded with a learned
*audio-only* model, compared with a bank of reference sounds whose labels are known, and replaced
by the similarity-weighted mean of the text embeddings of its nearest references' labels.

- Audio embedding: `aisfx` (Ma & Lerch, ISMIR 2022), a 9-layer CNN trained on professional
  sound-effect libraries; 512-d per ~2.3 s block of a 96-band log-mel spectrogram at 44.1 kHz.
  Blocks are mean-pooled into one clip vector. Its weights come from the `aisfx` wheel, installed
  with `pip install --no-deps aisfx==0.1.2` (its own pins would downgrade numpy); xmodal reads the
  checkpoint file and runs the network itself, never importing aisfx's code. A hand-crafted stand-in (mean+std of 64 log-mel bands and their
  deltas, standardised; no torch) is there for profiles that ask for it (`sound_embedder="logmel"`).
- Reference sounds: the 114 labelled sounds of the Scratch 1.4 sound library (Debian package
  `scratch`, `Media/Sounds/<Category>/<Name>.wav|mp3`). Labels are cleaned to words
  ("Animal/WolfHowl" -> "wolf howl") and embedded as "the sound of {label}".
- Bridge: cosine similarity to the bank (both sides centred by the bank mean, which matters
  because aisfx features are all non-negative), softmax over the top-k with a temperature,
  weighted sum of label vectors, L2-normalised.

How well: the bank's leave-one-out accuracy (own label among the distinct labels), re-measured by
CI, is in `tests/golden/sound-bank.json`; caption → sound retrieval on the unseen Tux Paint stamp
sounds is the tuxpaint-t2a row of `benchmarks/results/eval-default.json`;
`benchmarks/audio_bridge.py` breaks both down (bridge alone vs the full encoder). The bank is
small (animals, instruments, cartoon effects), so the bridge only knows those ~100 concepts: a
coarse "what kind of sound" signal, not a captioner.

The bank ships inside xmodal (`encode/assets/sound-bank/`, one `.npz` per sound embedder: clip
embeddings, labels, categories, source files, and the source package pin), so using it needs no
network and no apt; `xmodal data sound-bank` rebuilds those files reproducibly from the pinned
packages (`xmodal.data.sound_bank`). Label text vectors are computed at load time (cheap) so the
bank does not depend on the text model. An index records the bank by the hash of its content
(`SoundBank.content_hash`), never by a name that could hide a change.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from ..errors import ModelUnavailable
from .base import l2_normalize

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SHIPPED_BANKS = Path(__file__).parent / "assets" / "sound-bank"


class TextEmbedder(Protocol):
    """What the bridge needs from the text side: MiniLM's `embed_texts`."""

    def embed_texts(self, texts: list[str]) -> np.ndarray: ...


# --------------------------------------------------------------------------------------------
# audio embedders
# --------------------------------------------------------------------------------------------


class SoundEmbedder(Protocol):
    version: str
    dim: int

    def embed_blocks(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
        """(block features (n, dim), block centre times in seconds (n,)); n >= 1."""
        ...


def _resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    if sr_in == sr_out:
        return audio.astype(np.float32)
    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(audio, sr_out // g, sr_in // g).astype(np.float32)


@lru_cache(maxsize=4)
def _mel_filters(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, l1_norm: bool) -> np.ndarray:
    """Triangular mel filterbank, as librosa.filters.mel builds it (checked equal to librosa 0.9.2)."""

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        if htk:
            return 2595.0 * np.log10(1.0 + f / 700.0)
        # Slaney: linear below 1 kHz, log above
        f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
        mels = f / f_sp
        return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        if htk:
            return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
        f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
        min_log_mel = min_log_hz / f_sp
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    if l1_norm:
        weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    else:  # Slaney area normalisation
        weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def _power_spectrogram(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT|^2, frames x bins; centred frames with zero padding and a periodic Hann window
    (librosa>=0.9 defaults), so features match what aisfx was trained with."""
    from scipy.signal import get_window

    y = np.pad(y.astype(np.float32), n_fft // 2)
    if len(y) < n_fft:
        y = np.pad(y, (0, n_fft - len(y)))
    n_frames = 1 + (len(y) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(y, shape=(n_frames, n_fft), strides=(y.strides[0] * hop, y.strides[0]))
    win = get_window("hann", n_fft, fftbins=True).astype(np.float32)
    return np.abs(np.fft.rfft(frames * win, axis=1)) ** 2


def _aisfx_log_mel(y44: np.ndarray) -> np.ndarray:
    """aisfx's librosa input: peak-normalised audio, 96 HTK mel bands (L1-normed filters) of a
    2048/1024 STFT at 44.1 kHz, log10(1 + 1e4 * power). Returns frames x 96."""
    peak = float(np.max(np.abs(y44))) if y44.size else 0.0
    y = y44 / (peak if peak > 0 else 1.0)
    power = _power_spectrogram(y, 2048, 1024)
    mel = power @ _mel_filters(44100.0, 2048, 96, 0.0, 22050.0, True, True).T
    return np.log10(mel * 10000.0 + 1.0).astype(np.float32)


#: sha256 over the embedding network's arrays in aisfx 0.1.2's checkpoint (names, shapes, float32
#: bytes): the weights `AisfxEmbedder.version` names. Other weights are refused, not passed off.
AISFX_WEIGHTS_SHA256 = "561d5dd94a834d45e2b40ae1a09c264276bd16219e7596efdab88189e14fa4d2"
#: aisfx's pins (numpy==1.23, librosa==0.9.2) would break numpy 2, so it cannot be a declared dependency
AISFX_INSTALL = "pip install --no-deps aisfx==0.1.2"


def weights_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over named float32 arrays, independent of how the .npz was zipped."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k], dtype="<f4")
        h.update(k.encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def aisfx_checkpoint() -> Path | None:
    """The installed aisfx wheel's checkpoint, located without importing aisfx (its __init__ prints
    and pulls tqdm/argparse pins)."""
    import importlib.util

    spec = importlib.util.find_spec("aisfx")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "checkpoint.pth"
    return path if path.is_file() else None


def aisfx_embedding_arrays(checkpoint: Path) -> dict[str, np.ndarray]:
    """The embedding network's float32 arrays from aisfx's checkpoint (the nine classifier heads,
    which carry no class names, are left out)."""
    import torch

    # the checkpoint pickles a few numpy scalars/dtypes; allow exactly those, not weights_only=False
    allowed = [(np._core.multiarray.scalar, "numpy.core.multiarray.scalar"), np.dtype,
               np.dtypes.Int64DType, np.dtypes.Float64DType, np.dtypes.Float32DType, np.dtypes.Int32DType]
    with torch.serialization.safe_globals(allowed):
        state, _datasets = torch.load(checkpoint, map_location="cpu", weights_only=True)
    prefix = "embedding_net."
    return {k[len(prefix):]: v.numpy().astype(np.float32) for k, v in state.items()
            if k.startswith(prefix) and not k.endswith("num_batches_tracked")}


def _aisfx_forward(weights: dict, x):
    """aisfx's EmbeddingNet (the DCASE 2018 cross-task 9-layer CNN) in eval mode, written with
    torch.nn.functional on the checkpoint's arrays; bit-identical to `aisfx.models.cnn2d.EmbeddingNet`
    (tests/test_packaging.py checks it against the package's own code).
    Input (batch, 100 frames, 96 mel bands) -> (batch, 512)."""
    import torch.nn.functional as F

    x = x.unsqueeze(1)
    for block, pool in ((1, 2), (2, 2), (3, 2), (4, 1)):
        for conv in (1, 2):
            p = f"conv_block{block}."
            x = F.conv2d(x, weights[f"{p}conv{conv}.weight"], padding=1)
            bn = f"{p}bn{conv}."
            x = F.batch_norm(x, weights[bn + "running_mean"], weights[bn + "running_var"], weights[bn + "weight"],
                             weights[bn + "bias"], training=False, momentum=0.0, eps=1e-5)
            x = F.relu_(x)
        x = F.max_pool2d(x, kernel_size=(pool, pool))
    return x.mean(dim=3).max(dim=2).values  # mean over frequency, max over time


class AisfxEmbedder:
    """aisfx X-Sequential-CE embeddings (512-d) of ~2.3 s blocks (50 % overlap up to 30 s of audio).

    The weights of aisfx's embedding network (Ma & Lerch, ISMIR 2022; CC BY 4.0) are read from the
    installed `aisfx` wheel's checkpoint (`AISFX_INSTALL`); xmodal runs the network with torch."""

    dim = 512
    version = "aisfx-0.1.2-librosa-mean"
    _SR = 44100
    _BLOCK = 100  # spectrogram frames per block: 100 * 1024 / 44100 = 2.32 s
    _HOP = 50
    _SPEC_MAX = 9.457798957824707  # aisfx's "original" min-max normalisation constant

    def __init__(self, threads: int | None = None):
        self._weights: dict | None = None
        self._threads = threads

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return False, 'the aisfx sound embedder runs on torch: pip install "xmodal[default]"'
        if aisfx_checkpoint() is None:
            return False, f"the aisfx weights are not installed: {AISFX_INSTALL}"
        return True, ""

    def _load(self) -> dict:
        if self._weights is None:
            ok, how = self.availability()
            if not ok:
                raise ModelUnavailable(f"sound embedder aisfx is unavailable: {how}")
            import torch

            path = aisfx_checkpoint()
            try:
                arrays = aisfx_embedding_arrays(path)
            except Exception as exc:  # torch raises many kinds for a damaged pickle/zip
                raise ModelUnavailable(f"{path}: cannot read the aisfx checkpoint ({exc}); {AISFX_INSTALL}") from exc
            digest = weights_digest(arrays)
            if digest != AISFX_WEIGHTS_SHA256:
                raise ModelUnavailable(f"{path}: weights sha256 {digest[:16]} is not the aisfx 0.1.2 "
                                       f"embedding network ({AISFX_WEIGHTS_SHA256[:16]}); {AISFX_INSTALL}")
            self._weights = {k: torch.from_numpy(v) for k, v in arrays.items()}
            if self._threads:
                torch.set_num_threads(self._threads)
        return self._weights

    def embed_blocks(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
        import torch

        weights = self._load()
        spec = _aisfx_log_mel(_resample(np.asarray(audio, dtype=np.float32), sample_rate, self._SR)) / self._SPEC_MAX
        n = spec.shape[0]
        # 50 % overlap for short clips (every block counts there); none past 30 s, halving the
        # CNN cost (~70 -> ~35 ms per second of audio on 2 cores) where windows average many blocks
        hop = self._HOP if n * 1024 / self._SR <= 30.0 else self._BLOCK
        starts = list(range(0, max(n - self._BLOCK, 0) + 1, hop))
        if n > self._BLOCK and (n - self._BLOCK) % hop:
            starts.append(n - self._BLOCK)  # cover the tail instead of dropping it
        blocks = np.zeros((len(starts), self._BLOCK, spec.shape[1]), dtype=np.float32)
        for i, s in enumerate(starts):
            chunk = spec[s : s + self._BLOCK]
            blocks[i, : len(chunk)] = chunk  # short sounds: zero (silence) padding, as aisfx does
        with torch.inference_mode():
            feats = _aisfx_forward(weights, torch.from_numpy(blocks)).numpy().astype(np.float32)
        sec_per_frame = 1024 / self._SR
        centres = np.array([(s + min(self._BLOCK, n - s) / 2) * sec_per_frame for s in starts], dtype=np.float32)
        return feats, centres


class LogMelStatsEmbedder:
    """Hand-crafted fallback: mean and std of 64 log-mel bands and their deltas (256-d) per ~2 s
    block. Standardisation happens in the bank (by its mean/std), not here."""

    dim = 256
    version = "logmel64-stats-v1"
    _N_FFT, _HOP, _BLOCK_S = 512, 160, 2.0

    def embed_blocks(self, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
        y = _resample(np.asarray(audio, dtype=np.float32), sample_rate, SAMPLE_RATE)
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        y = y / (peak if peak > 0 else 1.0)
        power = _power_spectrogram(y, self._N_FFT, self._HOP)
        logmel = np.log(power @ _mel_filters(float(SAMPLE_RATE), self._N_FFT, 64, 0.0, 8000.0, False, False).T + 1e-6)
        delta = np.diff(logmel, axis=0, prepend=logmel[:1])
        fps = SAMPLE_RATE / self._HOP
        per = int(self._BLOCK_S * fps)
        n = logmel.shape[0]
        starts = list(range(0, max(n - per, 0) + 1, per // 2))
        feats, centres = [], []
        for s in starts:
            a, d = logmel[s : s + per], delta[s : s + per]
            feats.append(np.concatenate([a.mean(0), a.std(0), d.mean(0), d.std(0)]))
            centres.append((s + min(per, n - s) / 2) / fps)
        return np.asarray(feats, dtype=np.float32), np.asarray(centres, dtype=np.float32)


SOUND_EMBEDDERS = {"aisfx": AisfxEmbedder, "logmel": LogMelStatsEmbedder}


def make_sound_embedder(name: str = "aisfx") -> SoundEmbedder:
    """A sound embedder by name: "aisfx" (the default profile's) or "logmel" (the hand-crafted
    stand-in, weaker, needs no torch). Chosen explicitly, never swapped in silently: the index
    records which one built it (`sound_embedder` in the audio encoder's config)."""
    try:
        return SOUND_EMBEDDERS[name]()
    except KeyError:
        raise ValueError(f"sound_embedder={name!r}: choose one of {', '.join(SOUND_EMBEDDERS)}") from None


def default_sound_embedder() -> SoundEmbedder:
    """The default profile's sound embedder, aisfx (weights from the aisfx wheel; it needs torch)."""
    return make_sound_embedder("aisfx")


# --------------------------------------------------------------------------------------------
# labels and the bank
# --------------------------------------------------------------------------------------------


def label_text(label: str) -> str:
    return f"the sound of {label}"


@dataclass
class SoundBank:
    """Reference sounds: clip embeddings (n, d) with their labels, plus label vectors in text space."""

    embeddings: np.ndarray
    labels: list[str]
    categories: list[str]
    files: list[str]
    embedder_version: str
    source: str = ""  # where the reference sounds came from (package and version)
    label_vectors: np.ndarray | None = None  # (n, text_dim), filled by attach_text
    mean: np.ndarray = field(init=False)
    std: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.embeddings = np.asarray(self.embeddings, dtype=np.float32)
        self.mean = self.embeddings.mean(axis=0)
        self.std = self.embeddings.std(axis=0) + 1e-6
        self._keys = l2_normalize(self._standardise(self.embeddings))

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        # Centring is what makes cosine informative for non-negative (ReLU/max-pooled) features;
        # dividing by the std evens out the hand-crafted features' very different scales.
        return (x - self.mean) / self.std

    def __len__(self) -> int:
        return len(self.labels)

    def attach_text(self, text_encoder: TextEmbedder) -> "SoundBank":
        self.label_vectors = l2_normalize(text_encoder.embed_texts([label_text(lab) for lab in self.labels]))
        return self

    def similarities(self, clip_embeddings: np.ndarray) -> np.ndarray:
        q = l2_normalize(self._standardise(np.atleast_2d(np.asarray(clip_embeddings, dtype=np.float32))))
        return q @ self._keys.T

    def bridge(self, clip_embeddings: np.ndarray, top_k: int = 5, temperature: float = 0.05,
               exclude: Sequence[int | Sequence[int] | None] | None = None) -> tuple[np.ndarray, list[list[tuple[str, float]]]]:
        """Text-space vectors (m, text_dim) for m clip embeddings, and each one's top labels with weights.

        Duplicate labels among the top-k (Dog1, Dog2) are merged, their weights summed.
        `exclude` (per query: a bank row, a list of rows, or None / -1) leaves references out:
        for leave-one-out (or leave-its-label-out) tests.
        """
        if self.label_vectors is None:
            raise RuntimeError("SoundBank.attach_text(text_encoder) must be called before bridge()")
        sims = self.similarities(clip_embeddings)
        if exclude is not None:
            for i, rows in enumerate(exclude):
                rows = [rows] if rows is None or isinstance(rows, (int, np.integer)) else rows
                for j in rows:
                    if j is not None and j >= 0:
                        sims[i, j] = -np.inf
        k = max(1, min(top_k, sims.shape[1]))
        top = np.argsort(-sims, axis=1)[:, :k]
        out = np.zeros((sims.shape[0], self.label_vectors.shape[1]), dtype=np.float32)
        tags: list[list[tuple[str, float]]] = []
        for i in range(sims.shape[0]):
            s = sims[i, top[i]]
            w = np.exp((s - s.max()) / temperature)
            w /= w.sum()
            out[i] = w @ self.label_vectors[top[i]]
            merged: dict[str, float] = {}
            for j, wj in zip(top[i], w):
                merged[self.labels[j]] = merged.get(self.labels[j], 0.0) + float(wj)
            tags.append(sorted(merged.items(), key=lambda t: -t[1]))
        return l2_normalize(out), tags

    def content_hash(self) -> str:
        """sha256 over what decides the bridge's output: embeddings (float32), labels, embedder."""
        h = hashlib.sha256()
        h.update(self.embedder_version.encode())
        h.update(np.ascontiguousarray(self.embeddings, dtype="<f4").tobytes())
        h.update("\x1f".join(self.labels).encode())
        return h.hexdigest()

    # ---- persistence --------------------------------------------------------------------
    def save(self, path: Path) -> Path:
        """One .npz (no pickles): written to a temporary name, then renamed into place."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, embeddings=self.embeddings.astype(np.float32), labels=np.array(self.labels),
                            categories=np.array(self.categories), files=np.array(self.files),
                            embedder_version=np.array(self.embedder_version), source=np.array(self.source))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> "SoundBank":
        with np.load(path, allow_pickle=False) as z:
            emb, labels = z["embeddings"], [str(x) for x in z["labels"]]
            if emb.shape[0] != len(labels):
                raise ValueError(f"{path}: embeddings and labels disagree ({emb.shape[0]} vs {len(labels)})")
            return cls(emb, labels, [str(x) for x in z["categories"]], [str(x) for x in z["files"]],
                       str(z["embedder_version"]), str(z["source"]))


def shipped_bank_path(embedder_version: str) -> Path:
    return SHIPPED_BANKS / (re.sub(r"[^A-Za-z0-9._-]+", "_", embedder_version) + ".npz")


def shipped_bank(embedder_version: str) -> SoundBank:
    """The reference bank xmodal ships for this sound embedder (no network, no apt)."""
    path = shipped_bank_path(embedder_version)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SHIPPED_BANKS.glob("*.npz"))) or "none"
        raise ModelUnavailable(f"xmodal ships no sound bank for embedder {embedder_version!r} (shipped: {known}); "
                               "build one with `xmodal data sound-bank` and pass it as sound_bank=")
    return SoundBank.load(path)


def clip_embedding(blocks: np.ndarray) -> np.ndarray:
    """One vector per clip: the mean of its block embeddings."""
    return np.asarray(blocks, dtype=np.float32).mean(axis=0)
