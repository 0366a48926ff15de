"""The shared space: which encoder embeds each modality (a *profile*), wired and fingerprinted.

A profile maps each modality to `{"encoder": registry name, "args": {...}}`. Modalities whose
entries are equal share one encoder instance (CLIP embeds both text and images). Composite
encoders (video, documents) are handed the space so they can reuse its image/audio/text encoders.
A trained binding (`xmodal.bind`) maps encoders' own features into the space on top of their
training-free bridges; it sits between the encoders and everything downstream. A profile may name
the binding it uses unless told otherwise (`"binding"`): the offline default uses the one xmodal
ships, trained for exactly its encoders; `binding="none"` turns it off.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .blas_threads import one_blas_thread
from .encode import ENCODERS
from .encode.base import Encoder, l2_normalize
from .errors import MediaError, XModalError
from .types import Embedding, Media, Modality

log = logging.getLogger(__name__)

PROFILES: dict[str, dict[str, Any]] = {
    # offline: every weight ships inside a registry package
    "default": {
        "text": {"encoder": "minilm-int8"},
        "image": {"encoder": "conse-effnet"},
        "audio": {"encoder": "speech-sound"},
        "video": {"encoder": "frames-audio"},
        "document": {"encoder": "pages"},
        # the learned image head shipped in xmodal/bind/default (see its README for how it was trained)
        "binding": "default",
    },
    # experimental, offline, slower images: EfficientNet-Lite0 and Lite2 class probabilities averaged
    # (`pip install xmodal[quality]`); no binding yet, the shipped one is trained for Lite0 alone,
    # and without one it is below `default` on held-out sources (benchmarks/results/quality-2a.md)
    "effnet-ensemble": {
        "text": {"encoder": "minilm-int8"},
        "image": {"encoder": "conse-effnet", "args": {"variant": "lite0+lite2"}},
        "audio": {"encoder": "speech-sound"},
        "video": {"encoder": "frames-audio"},
        "document": {"encoder": "pages"},
    },
    # hub models: weights must be fetched (hf-hub:) or given (local-dir:) by the user
    "clip": {
        "text": {"encoder": "hf-clip"},
        "image": {"encoder": "hf-clip"},
        "video": {"encoder": "frames-audio"},
        "document": {"encoder": "pages"},
    },
    "siglip": {
        "text": {"encoder": "hf-siglip"},
        "image": {"encoder": "hf-siglip"},
        "video": {"encoder": "frames-audio"},
        "document": {"encoder": "pages"},
    },
    "clap": {"text": {"encoder": "hf-clap"}, "audio": {"encoder": "hf-clap"}},
}


def load_profile(profile: str | dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A built-in name, a path to a JSON profile file, or a dict → (name, spec).

    The spec maps modalities to encoder entries and may hold "binding" (a binding folder or
    "default")."""
    if isinstance(profile, dict):
        return profile.get("name", "custom"), {k: v for k, v in profile.items() if k != "name"}
    if profile in PROFILES:
        return profile, dict(PROFILES[profile])
    path = Path(profile)
    if path.suffix == ".json" and path.exists():
        spec = json.loads(path.read_text())
        return spec.pop("name", path.stem), spec
    raise XModalError(f"unknown profile {profile!r}: use one of {', '.join(PROFILES)} or a .json profile file")


class Space:
    """Embeds Media of every modality the profile covers into one space of `dim` dimensions."""

    def __init__(self, profile: str | dict[str, Any] = "default", binding: Any = None):
        """binding: a binding folder, a loaded Binding, "default" (the shipped one), "none" (no
        binding), or None for the profile's own choice."""
        self.name, spec = load_profile(profile)
        profile_binding = spec.pop("binding", None)
        self.spec = {Modality(m): dict(entry) for m, entry in spec.items()}
        self._instances: dict[str, Encoder] = {}
        self._creating = threading.RLock()  # encoders are created once, even when threads race for them
        # a learned binding (xmodal.bind): its heads wrap the encoders of their modalities
        if binding is None:
            binding = profile_binding
        if isinstance(binding, str) and binding.lower() == "none":
            binding = None
        if binding is not None:
            from .bind import load_binding

            binding = load_binding(binding)
        self.binding = binding
        self._bound: dict[Modality, Encoder] = {}

    @property
    def modalities(self) -> list[Modality]:
        return list(self.spec)

    def encoder(self, modality: Modality) -> Encoder:
        try:
            entry = self.spec[modality]
        except KeyError:
            raise XModalError(f"profile {self.name!r} has no encoder for {modality} items") from None
        key = json.dumps(entry, sort_keys=True)
        with self._creating:
            if key not in self._instances:
                cls = ENCODERS.resolve(entry["encoder"])
                args = dict(entry.get("args", {}))
                if getattr(cls, "composite", False):
                    args["space"] = self
                self._instances[key] = cls(**args)
            if self.binding is not None and self.binding.has_head(modality):
                if modality not in self._bound:  # refuses an encoder the binding was not trained for
                    self._bound[modality] = self.binding.bind(modality, self._instances[key])
                return self._bound[modality]
            return self._instances[key]

    def warm_in_background(self, modality: Modality) -> threading.Thread | None:
        """Load the weights of `modality`'s encoder on a thread and return it (None when the
        profile has no such encoder). Model loading in ONNX Runtime releases the GIL, so it
        overlaps whatever the caller does next (opening the store imports lancedb); a failure is
        left for the first real use to report. Not a daemon: the interpreter waits for it at exit
        rather than tearing it down inside ONNX Runtime."""
        if modality not in self.spec:
            return None
        enc = self.encoder(modality)

        def warm() -> None:
            try:
                enc.warm()
            except Exception as exc:  # noqa: BLE001 - the first real use raises it with context
                log.debug("warming the %s encoder failed: %s", modality, exc)

        thread = threading.Thread(target=warm, name=f"xmodal-warm-{modality}")
        thread.start()
        return thread

    @property
    def dim(self) -> int:
        dims = {self.encoder(m).dim for m in self.spec}
        if len(dims) != 1:
            raise XModalError(f"profile {self.name!r} mixes vector sizes {sorted(dims)}: one space needs one size")
        return dims.pop()

    def fingerprint(self) -> dict[str, Any]:
        """Everything that decides the vectors; stored in the index and compared on open."""
        fp = {
            "profile": self.name,
            "dim": self.dim,
            "encoders": {str(m): self.encoder(m).config() for m in self.spec},
        }
        if self.binding is not None:
            fp["binding"] = self.binding.fingerprint()
        return fp

    def embed(self, media: Sequence[Media]) -> list[Embedding]:
        """Embed a mixed batch; items are grouped by modality so each encoder sees one batch."""
        out: list[Embedding | None] = [None] * len(media)
        groups: dict[Modality, list[int]] = defaultdict(list)
        for i, m in enumerate(media):
            groups[m.modality].append(i)
        with one_blas_thread():  # encoders' numpy products run beside ONNX Runtime's own threads
            for modality, idx in groups.items():
                embs = self.encoder(modality).encode([media[i] for i in idx])
                for i, e in zip(idx, embs):
                    out[i] = e
        return out  # type: ignore[return-value]

    def embed_query(self, parts: Sequence[Media], weights: Sequence[float] | None = None) -> np.ndarray:
        """One query vector from one or more parts (text + image …): weighted sum, renormalised."""
        if not parts:
            raise XModalError("empty query: give text, a file, or both")
        return combine(self.embed(parts), weights)


def space_differences(trained: dict[str, Any], used: dict[str, Any]) -> list[str]:
    """What a model trained in the space `trained` (a `Space.fingerprint()`) would get wrong in
    the space `used`: its size, the binding, and each of `used`'s encoders whose settings differ
    (named down to the setting: 'audio.sound_bank'). The profile's name does not count."""

    def plain(x: Any) -> Any:  # as stored in JSON: tuples are lists, odd values strings
        return json.loads(json.dumps(x, sort_keys=True, default=str))

    trained, used = plain(trained), plain(used)
    diffs = []
    if trained.get("dim") != used.get("dim"):
        diffs.append(f"dim ({trained.get('dim')} vs {used.get('dim')})")
    for m, cfg in sorted(used.get("encoders", {}).items()):
        had = trained.get("encoders", {}).get(m)
        if had is None:
            diffs.append(f"{m} (no {m} encoder)")
        elif had != cfg:
            keys = sorted(k for k in set(had) | set(cfg) if had.get(k) != cfg.get(k))
            diffs += [f"{m}.{k}" for k in keys]
    if trained.get("binding") != used.get("binding"):
        names = [(fp or {}).get("name") or "none" for fp in (trained.get("binding"), used.get("binding"))]
        diffs.append("binding" + (f" ({names[0]} vs {names[1]})" if names[0] != names[1] else " (other weights)"))
    return diffs


def combine(embs: Sequence[Embedding], weights: Sequence[float] | None = None) -> np.ndarray:
    """The vector of a multi-part query: weighted sum of the parts' vectors, renormalised."""
    w = np.asarray(weights if weights is not None else [1.0] * len(embs), dtype=np.float32)
    return l2_normalize(np.sum([wi * e.vector for wi, e in zip(w, embs)], axis=0))


def check_supported(space: Space, media: Media) -> None:
    if media.modality not in space.spec:
        raise MediaError(media.path, f"profile {space.name!r} cannot embed {media.modality} items")
