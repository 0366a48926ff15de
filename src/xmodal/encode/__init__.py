"""Encoders: per-modality models that map decoded Media into the shared vector space.

`ENCODERS` maps a name to an Encoder class (LanceDB-embeddings-style registry); the built-ins
below are imported only when used.
"""

from __future__ import annotations

from ..registry import Registry
from .base import Encoder, l2_normalize

ENCODERS: Registry[Encoder] = Registry("encoder", Encoder)

# offline default profile, built from packaged weights
ENCODERS.register("minilm-int8", "xmodal.encode.text_minilm:MiniLMTextEncoder")
ENCODERS.register("conse-effnet", "xmodal.encode.image_conse:ConSEImageEncoder")
ENCODERS.register("speech-sound", "xmodal.encode.audio:SpeechSoundAudioEncoder")
ENCODERS.register("frames-audio", "xmodal.encode.video:FramesAudioVideoEncoder")
ENCODERS.register("pages", "xmodal.encode.document:PageDocumentEncoder")
# hub models: real loaders, weights fetched by the user (hf-hub:...) or given locally (local-dir:...)
ENCODERS.register("hf-clip", "xmodal.encode.hub.hf_clip:HFCLIPEncoder")
ENCODERS.register("hf-siglip", "xmodal.encode.hub.hf_clip:HFSigLIPEncoder")
ENCODERS.register("hf-clap", "xmodal.encode.hub.hf_clap:HFCLAPEncoder")
ENCODERS.register("open-clip", "xmodal.encode.hub.open_clip:OpenCLIPEncoder")

__all__ = ["ENCODERS", "Encoder", "l2_normalize"]
