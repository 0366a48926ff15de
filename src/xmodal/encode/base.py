"""The encoder interface: Media in, vectors in the shared space plus token/segment features out."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol, Sequence

import numpy as np

from ..types import Embedding, Media, Modality


class Encoder(ABC):
    """Embeds Media of some modalities into one shared space of `dim` dimensions.

    Subclasses set `modalities`, `dim`, and implement `encode`. `config()` returns everything
    that changes the vectors (model name, weights, sizes); the index stores it, so an index can
    never be queried with a different encoder than the one that built it.
    """

    modalities: ClassVar[frozenset[Modality]] = frozenset()
    dim: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # One call of `encode` at a time per instance: the engine is called from several threads
        # (a server's queries beside its uploads), and encoders load lazily and keep per-call
        # state; the lock is re-entrant (a subclass calling super().encode), and a composite
        # encoder takes its own lock, then its component's, never the reverse
        super().__init_subclass__(**kwargs)
        encode = cls.__dict__.get("encode")
        if encode is not None and not getattr(encode, "__isabstractmethod__", False):
            cls.encode = _one_call_at_a_time(encode)  # type: ignore[method-assign]

    @abstractmethod
    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        """One Embedding per input, in order. Raise MediaError for an input it cannot embed."""

    def config(self) -> dict[str, Any]:
        return {"encoder": type(self).__name__, "dim": self.dim}

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """(installed here?, how to get it if not). Must not load weights."""
        return True, ""

    def warm(self) -> None:
        """Load weights now rather than on first use (may be called from another thread)."""


def _one_call_at_a_time(encode: Any) -> Any:
    import functools
    import threading

    @functools.wraps(encode)
    def serialised(self: "Encoder", media: Sequence[Media]) -> list[Embedding]:
        lock = self.__dict__.get("_encode_lock")
        if lock is None:  # setdefault is atomic: two first callers get the same lock
            lock = self.__dict__.setdefault("_encode_lock", threading.RLock())
        with lock:
            return encode(self, media)

    return serialised


class EncoderSet(Protocol):
    """What a composite encoder (video, documents) is handed: the encoders of the space it belongs
    to, so frames go through the space's image encoder and pages through its text encoder."""

    @property
    def modalities(self) -> list[Modality]: ...

    def encoder(self, modality: Modality) -> Encoder: ...


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(n, 1e-12)


@functools.lru_cache(maxsize=None)
def package_version(dist: str) -> str:
    """Installed version of a distribution, or "missing": part of every encoder's config().

    Read from the METADATA header's `Version:` line (what `importlib.metadata.version` returns,
    without parsing the whole file as e-mail: ~14 lookups happen when an index opens), once per
    process."""
    from importlib import metadata

    try:
        d = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return "missing"
    for line in (d.read_text("METADATA") or d.read_text("PKG-INFO") or "").splitlines():
        if line.startswith("Version:"):
            return line[len("Version:"):].strip()
        if not line.strip():  # end of the header
            break
    return d.version
