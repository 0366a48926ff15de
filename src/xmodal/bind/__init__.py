"""Learned bindings: heads that map a modality's encoder features into the shared text space.

    from xmodal.train.bind import train_binding      # tooling: needs torch
    b = train_binding(["~/.cache/xmodal/sets/tuxpaint-t2i:train", "openclipart:2000"],
                      modality="image", out="my-binding")
    idx = xmodal.open("my-index", binding="my-binding")   # runtime: numpy only

This package is the runtime side (the artifact format, how a head combines with the bridge);
training lives in `xmodal.train.bind` (the objective) and `xmodal.train.pairs` (pair sources and
the feature cache).
"""

from __future__ import annotations

from pathlib import Path

from .artifact import Binding, BindingError, BoundEncoder, load_binding

__all__ = ["Binding", "BindingError", "BoundEncoder", "default_binding_path", "load_binding"]

DEFAULT_DIR = Path(__file__).parent / "default"


def default_binding_path() -> Path:
    """The binding shipped with xmodal for the offline default profile (see default/README)."""
    return DEFAULT_DIR

