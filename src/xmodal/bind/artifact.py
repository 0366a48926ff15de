"""The binding artifact: a folder with ``binding.json`` (config, expected encoders, training data
fingerprint, metrics) and ``weights.npz`` (the heads' arrays). Inference is numpy only.

    b = load_binding("my-binding")            # refuses a folder of another format version
    space = Space("default", binding=b)        # image/audio vectors now go through the heads
    # an index built this way records b.fingerprint(); opening it with another binding fails

What a head does to an Embedding of its modality (`Binding.apply`):
``vector = normalise(bridge + alpha * gate * head(native))`` where ``bridge`` is the encoder's own
training-free vector, ``gate`` is 1 for images and the bridge's sound share (1 - speechiness)
for audio (speech is already in text space through its transcript), and ``alpha`` was learned and
then checked on a validation split (0 if the head did not help there). Image region tokens get
the same treatment from the pooled head applied per region; the final "tags" row is the vector.
Video and documents have no heads of their own: their encoders embed frames and page renders
through the space's image (and audio) encoder, which is the bound one.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..encode.base import Encoder
from ..errors import IndexMismatchError, XModalError
from ..types import Embedding, Media, Modality
from .heads import combine_residual, head_forward

FORMAT = "xmodal-binding"
FORMAT_VERSION = 1
CONFIG_FILE = "binding.json"
WEIGHTS_FILE = "weights.npz"

#: Which native features each modality's head reads, and its gate. Encoders fill these keys
#: (see `Embedding.native`); an item without the pooled key (silent audio, no sound bank) keeps
#: its bridge vector unchanged.
MODALITY_FEATURES: dict[str, dict[str, Any]] = {
    "image": {"pooled": "effnet", "tokens": "effnet_regions", "gate": None},
    "audio": {"pooled": "aisfx", "tokens": "aisfx_blocks", "gate": "sound_share"},
}


class BindingError(XModalError):
    """A binding folder is missing, malformed, or was made for other encoders."""


def config_digest(config: dict[str, Any]) -> str:
    """Stable short hash of an encoder config (what a binding was trained against)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Binding:
    """Heads per modality plus everything needed to check they fit the encoders in use."""

    name: str
    heads: dict[str, dict[str, Any]]  # modality -> {"kind", "alpha", "pooled", "tokens", "gate", ...}
    weights: dict[str, np.ndarray]  # "image.W", ...
    encoders: dict[str, dict[str, Any]]  # modality -> the encoder config it was trained on
    version: str = "1"
    created: float = field(default_factory=time.time)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    # ------------------------------------------------------------------ identity
    def weights_sha256(self) -> str:
        h = hashlib.sha256()
        for k in sorted(self.weights):
            a = np.ascontiguousarray(self.weights[k], dtype=np.float32)
            h.update(k.encode() + str(a.shape).encode() + a.tobytes())
        h.update(json.dumps(self.heads, sort_keys=True).encode())  # alpha, kind, gate decide outputs too
        return h.hexdigest()

    def fingerprint(self) -> dict[str, Any]:
        """What decides the bound vectors; stored in an index's manifest and compared on open."""
        return {
            "name": self.name,
            "version": self.version,
            "format_version": FORMAT_VERSION,
            "weights_sha256": self.weights_sha256()[:32],
            "heads": {m: h["kind"] for m, h in sorted(self.heads.items())},
            "encoders": {m: config_digest(c) for m, c in sorted(self.encoders.items())},
        }

    def has_head(self, modality: Modality | str) -> bool:
        return str(modality) in self.heads

    def head_weights(self, modality: str) -> dict[str, np.ndarray]:
        prefix = f"{modality}."
        return {k[len(prefix):]: v for k, v in self.weights.items() if k.startswith(prefix)}

    # ------------------------------------------------------------------ checks
    def check_encoder(self, modality: Modality | str, encoder: Encoder) -> None:
        """Refuse an encoder whose config differs from the one the head was trained on."""
        m = str(modality)
        want = self.encoders.get(m)
        have = encoder.config()
        if want is not None and config_digest(want) != config_digest(have):
            diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
            where = f" ({self.path})" if self.path else ""
            raise IndexMismatchError(
                f"binding {self.name!r}{where} was trained for a {m} encoder with another config "
                f"(differs in: {', '.join(diff) or 'nested settings'}); its head would map foreign "
                f"features. Use the profile it was trained with, or train a binding for this encoder."
            )

    def bind(self, modality: Modality | str, encoder: Encoder) -> "BoundEncoder":
        self.check_encoder(modality, encoder)
        return BoundEncoder(encoder, self, Modality(str(modality)))

    # ------------------------------------------------------------------ inference
    def head_outputs(self, modality: str, pooled: np.ndarray, tokens: np.ndarray | None = None,
                     mask: np.ndarray | None = None) -> np.ndarray:
        h = self.heads[modality]
        return head_forward(h["kind"], self.head_weights(modality), h, pooled, tokens, mask)

    def apply(self, modality: Modality | str, embs: Sequence[Embedding], alpha: float | None = None) -> list[Embedding]:
        """Replace the vectors (and image region tokens) of `embs` by the bound ones, in place."""
        m = str(modality)
        h = self.heads[m]
        a = float(h["alpha"] if alpha is None else alpha)
        todo = [e for e in embs if h["pooled"] in e.native]
        if not todo or a == 0.0:
            return list(embs)
        pooled = np.stack([e.native[h["pooled"]] for e in todo]).astype(np.float32)
        tokens = mask = None
        if h["kind"] == "attn":
            tokens, mask = pad_tokens([e.native.get(h["tokens"], e.native[h["pooled"]][None]) for e in todo])
        out = self.head_outputs(m, pooled, tokens, mask)
        gate = np.array([gate_of(h.get("gate"), e.native) for e in todo], dtype=np.float32)
        bridge = np.stack([e.vector for e in todo]).astype(np.float32)
        vecs = combine_residual(bridge, out, a, gate)
        for e, v in zip(todo, vecs):
            e.vector = v
        if m == "image":
            self._bind_region_tokens(m, todo, a)
        return list(embs)

    def _bind_region_tokens(self, m: str, embs: Sequence[Embedding], alpha: float) -> None:
        """Image region rows go through the pooled head per region; the "tags" row is the vector.

        The regions of the whole batch go through the head as one matrix: one product instead of
        one small product per image (row-wise the same computation)."""
        todo, rows_of, feats = [], [], []
        for e in embs:
            if "region_cells" not in e.native or "effnet_regions" not in e.native or len(e.tokens) == 0:
                continue
            rows = [i for i, s in enumerate(e.segments) if s.kind == "region"]
            cells = e.native["region_cells"]
            e.tokens = e.tokens.copy()
            if len(rows) == len(cells) and rows:
                todo.append(e)
                rows_of.append(rows)
                feats.append(e.native["effnet_regions"][cells])
            for i, s in enumerate(e.segments):
                if s.kind == "tags":
                    e.tokens[i] = e.vector
        if not todo:
            return
        # a region is one token: nothing to attend over (Head.pooled_forward)
        out = head_forward(self.heads[m]["kind"], self.head_weights(m), self.heads[m],
                           np.concatenate(feats).astype(np.float32), pooled_only=True)
        start = 0
        for e, rows in zip(todo, rows_of):
            e.tokens[rows] = combine_residual(e.tokens[rows], out[start : start + len(rows)], alpha)
            start += len(rows)

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "heads": self.heads,
            "encoders": self.encoders,
            "training": self.training,
            "metrics": self.metrics,
            "weights_sha256": self.weights_sha256(),
        }

    def save(self, folder: str | Path, dtype: str = "float32") -> Path:
        """Write the folder (weights as float32, or float16 to halve a shipped artifact)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if dtype == "float16":  # store what inference will see, so the sha matches after load
            self.weights = {k: v.astype(np.float16).astype(np.float32) for k, v in self.weights.items()}
        buf = io.BytesIO()
        np.savez_compressed(buf, **{k: v.astype(dtype) for k, v in self.weights.items()})
        (folder / WEIGHTS_FILE).write_bytes(buf.getvalue())
        tmp = folder / (CONFIG_FILE + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, default=_json_default))
        tmp.replace(folder / CONFIG_FILE)  # binding.json last: its presence marks a complete artifact
        self.path = folder
        return folder


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def gate_of(kind: str | None, native: dict[str, np.ndarray]) -> float:
    if kind is None:
        return 1.0
    if kind == "sound_share":
        return float(1.0 - float(native.get("speechiness", np.zeros(1))[0]))
    raise BindingError(f"unknown head gate {kind!r}")


def pad_tokens(seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack variable-length (T_i, d) token sets into (n, T, d) with a (n, T) mask."""
    n, d = len(seqs), seqs[0].shape[-1]
    T = max(max(len(s) for s in seqs), 1)
    out = np.zeros((n, T, d), dtype=np.float32)
    mask = np.zeros((n, T), dtype=bool)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
        mask[i, : len(s)] = True
    return out, mask


def load_binding(folder: "str | Path | Binding") -> Binding:
    """Read a binding folder; clear BindingError for a missing, foreign or damaged one."""
    if isinstance(folder, Binding):
        return folder
    if str(folder) == "default":  # the binding shipped with xmodal (bind/default/)
        folder = Path(__file__).parent / "default"
    folder = Path(folder).expanduser()
    cfg_path, w_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not cfg_path.is_file():
        raise BindingError(f"{folder}: not a binding (no {CONFIG_FILE}); make one with `xmodal train bind`")
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise BindingError(f"{cfg_path}: not valid JSON ({e.msg})") from None
    if cfg.get("format") != FORMAT or cfg.get("format_version") != FORMAT_VERSION:
        raise BindingError(f"{cfg_path}: format {cfg.get('format')!r} v{cfg.get('format_version')}; "
                           f"this xmodal reads {FORMAT} v{FORMAT_VERSION}")
    if not w_path.is_file():
        raise BindingError(f"{w_path}: weights file missing")
    try:
        with np.load(w_path) as z:
            weights = {k: z[k].astype(np.float32) for k in z.files}
    except (OSError, ValueError) as e:
        raise BindingError(f"{w_path}: cannot read weights: {e}") from None
    b = Binding(name=cfg["name"], heads=cfg["heads"], weights=weights, encoders=cfg["encoders"],
                version=str(cfg.get("version", "1")), created=cfg.get("created", 0.0),
                training=cfg.get("training", {}), metrics=cfg.get("metrics", {}), path=folder)
    if cfg.get("weights_sha256") and cfg["weights_sha256"] != b.weights_sha256():
        raise BindingError(f"{w_path}: weights do not match {CONFIG_FILE} (sha256 differs); the folder is damaged")
    return b


class BoundEncoder(Encoder):
    """An encoder whose outputs go through a binding's head; config and dim are the inner ones
    (the space's fingerprint records the binding separately)."""

    def __init__(self, inner: Encoder, binding: Binding, modality: Modality):
        self.inner = inner
        self.binding = binding
        self.modality = modality
        self.modalities = inner.modalities  # type: ignore[misc]

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.inner.dim

    def config(self) -> dict[str, Any]:
        return self.inner.config()

    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        embs = self.inner.encode(media)
        return self.binding.apply(self.modality, embs)

    def warm(self) -> None:  # Encoder defines it, so __getattr__ would never reach the inner one
        self.inner.warm()

    def encode_windows(self, track: Embedding, spans: Sequence[tuple[float, float]]) -> list[Embedding]:
        """Time spans of an encoded track through the head too ([] if the encoder cannot)."""
        inner = getattr(self.inner, "encode_windows", None)
        return self.binding.apply(self.modality, inner(track, spans)) if inner else []

    def __getattr__(self, name: str) -> Any:  # embed_texts, transcribe, ... of the inner encoder
        return getattr(self.inner, name)
