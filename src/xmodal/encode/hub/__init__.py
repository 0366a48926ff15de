"""Loaders for hub models: CLIP, SigLIP, CLAP (transformers) and OpenCLIP.

Weights are never shipped or fetched behind the user's back: a model is named by its source,
`hf-hub:org/name[@revision]` (local Hugging Face cache first, download only when online) or
`local-dir:/path` (a folder saved beforehand). Modules here import torch/transformers/open_clip
only when an encoder is created; use them through `xmodal.encode.ENCODERS`
("hf-clip", "hf-siglip", "hf-clap", "open-clip").
"""

from .source import ResolvedSource, parse_source, resolve_source

__all__ = ["ResolvedSource", "parse_source", "resolve_source"]
