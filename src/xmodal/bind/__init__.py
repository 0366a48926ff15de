"""Learned bindings: heads that map a modality's encoder features into the shared text space.

    from xmodal.bind import train_binding, load_binding
    b = train_binding(["~/.cache/xmodal/sets/tuxpaint-t2i:train", "openclipart:2000"],
                      modality="image", out="my-binding")
    idx = xmodal.open("my-index", binding="my-binding")

Training needs torch (CPU is enough, a GPU is used when present); using a binding needs numpy
only. See `artifact` for the folder format and how a head combines with the bridge, `train`
for the objective, `features` for the pair sources and the feature cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .artifact import Binding, BindingError, BoundEncoder, load_binding

__all__ = ["Binding", "BindingError", "BoundEncoder", "default_binding_path", "load_binding", "train_binding"]

DEFAULT_DIR = Path(__file__).parent / "default"


def default_binding_path() -> Path:
    """The binding shipped with xmodal for the offline default profile (see default/README)."""
    return DEFAULT_DIR


def train_binding(*args: Any, **kwargs: Any) -> Binding:
    """See `xmodal.bind.train.train_binding` (imported lazily: it needs torch)."""
    from .train import train_binding as _train

    return _train(*args, **kwargs)
