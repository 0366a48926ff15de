"""Shared machinery of the transformers-based hub encoders (CLIP, SigLIP, CLAP).

Imported only when one of them is created, so torch and transformers load on demand.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from ...errors import MediaError, ModelUnavailable
from ...types import Embedding, Media, Modality, Segment
from ..base import Encoder, l2_normalize
from .source import LOCAL_DIR, ResolvedSource, resolve_source, weights_fingerprint

HUB_HINT = "pip install xmodal[hub]  (torch + transformers)"
# what a transformers checkpoint needs; skips TF/Flax/ONNX copies that many hub repos also hold
HF_ALLOW = ["*.json", "*.txt", "*.model", "*.spm", "*.tiktoken", "*.safetensors"]
HF_ALLOW_BIN = ["*.json", "*.txt", "*.model", "*.spm", "*.tiktoken", "*.bin"]


def pick_device(device: str) -> tuple[Any, Any]:
    """("auto" | "cpu" | "cuda" | "cuda:1" | "mps") → (torch.device, dtype); fp16 on CUDA."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    return dev, (torch.float16 if dev.type == "cuda" else torch.float32)


def hf_availability() -> tuple[bool, str]:
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        return False, f"{' and '.join(missing)} not installed: {HUB_HINT}"
    return True, ""


def resolve_hf(spec: str) -> ResolvedSource:
    """Resolve a transformers checkpoint; prefers safetensors, falls back to .bin weights."""
    weights = ["*.safetensors", "*.bin"]
    try:
        src = resolve_source(spec, allow_patterns=HF_ALLOW, required=weights)
    except ModelUnavailable:
        src = None  # online, the repo may hold .bin weights only: the second try fetches those
    if src is None or (src.kind != LOCAL_DIR and not any(any(src.path.glob(w)) for w in weights)):
        src = resolve_source(spec, allow_patterns=HF_ALLOW_BIN, required=weights)
    return src


class HFEncoder(Encoder):
    """Base for transformers dual encoders: loads model + processor from a source, batches, dispatches.

    Subclasses set `default_model`, `model_types` (accepted `config.model_type`s), `model_class`
    (transformers class name) and implement the per-modality forwards.
    """

    default_model: ClassVar[str] = ""
    model_types: ClassVar[frozenset[str]] = frozenset()
    model_class: ClassVar[str] = ""
    registry_name: ClassVar[str] = ""

    def __init__(self, model: str | None = None, device: str = "auto", batch_size: int = 32):
        ok, hint = self.availability()
        if not ok:
            raise ModelUnavailable(f"{type(self).__name__}: {hint}")
        import torch  # noqa: F401  (fail early, before any download)
        import transformers

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.source = resolve_hf(model or self.default_model)
        path = str(self.source.path)
        try:
            hf_config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        except Exception as e:
            raise ModelUnavailable(
                f"{self.source.spec}: no readable transformers config.json in {path} ({_brief(e)})"
            ) from e
        if hf_config.model_type not in self.model_types:
            raise ModelUnavailable(
                f"{self.source.spec} is a {hf_config.model_type!r} model, but {type(self).__name__} "
                f"loads {', '.join(sorted(self.model_types))} models; pick the matching encoder"
            )
        self.device, self.dtype = pick_device(device)
        try:
            cls = getattr(transformers, self.model_class)
            net = cls.from_pretrained(path, local_files_only=True)
            self.processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
        except Exception as e:
            hint = ""
            if "sentencepiece" in str(e).lower():  # SigLIP/T5-style tokenizers
                hint = "; this tokenizer needs `pip install sentencepiece`"
            raise ModelUnavailable(f"{self.source.spec}: could not load the model from {path}: {_brief(e)}{hint}") from e
        self.model = net.to(device=self.device, dtype=self.dtype).eval()
        self.tokenizer = self.processor.tokenizer
        self._special_ids = set(getattr(self.tokenizer, "all_special_ids", []) or [])
        self.dim = int(self._dim())
        self._fingerprint = weights_fingerprint(self.source.path) if self.source.kind == LOCAL_DIR else None

    # --- to implement -----------------------------------------------------------------------
    def _dim(self) -> int:
        return int(self.model.config.projection_dim)

    def _text_max_length(self) -> int:
        return int(self.model.config.text_config.max_position_embeddings)

    def _tokenize(self, texts: list[str]) -> dict[str, Any]:
        """Tokenizer call as the model was trained (padding, truncation); returns model inputs."""
        return self.tokenizer(
            texts, padding=True, truncation=True, max_length=self._text_max_length(), return_tensors="pt"
        )

    def _text_forward(self, inputs: dict[str, Any]) -> tuple[Any, Any]:
        """→ (pooled (B, dim), per-token features (B, L, dim)), both in the joint space, unnormalised."""
        raise NotImplementedError

    # --- shared -------------------------------------------------------------------------------
    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return hf_availability()

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "encoder": type(self).__name__,
            "model": self.source.spec,
            "dim": self.dim,
        }
        if self.source.revision:
            cfg["revision"] = self.source.revision
        if self.source.commit:
            cfg["commit"] = self.source.commit
        if self._fingerprint:
            cfg["weights"] = self._fingerprint
        return cfg

    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        handlers: dict[Modality, Callable[[list[Media]], list[Embedding]]] = self._handlers()
        by_modality: dict[Modality, list[int]] = {}
        for i, m in enumerate(media):
            if m.modality not in handlers:
                raise MediaError(
                    m.path,
                    f"{type(self).__name__} embeds {', '.join(sorted(str(x) for x in handlers))}, not {m.modality}",
                )
            by_modality.setdefault(m.modality, []).append(i)
        out: list[Embedding | None] = [None] * len(media)
        for modality, idx in by_modality.items():
            for j, emb in zip(idx, handlers[modality]([media[i] for i in idx])):
                out[j] = emb
        return out  # type: ignore[return-value]  # every slot was filled above

    def _handlers(self) -> dict[Modality, Callable[[list[Media]], list[Embedding]]]:
        return {Modality.TEXT: self._encode_texts}

    def _encode_texts(self, media: list[Media]) -> list[Embedding]:
        import torch

        out: list[Embedding] = []
        for start in range(0, len(media), self.batch_size):
            chunk = media[start : start + self.batch_size]
            texts = [m.text or "" for m in chunk]
            inputs = self._tokenize(texts)
            ids = inputs["input_ids"]
            with torch.inference_mode():
                pooled, tokens = self._text_forward({k: v.to(self.device) for k, v in inputs.items()})
            pooled = l2_normalize(pooled.float().cpu().numpy())
            tokens = tokens.float().cpu().numpy()
            for b, m in enumerate(chunk):
                keep = self._word_positions(ids[b], inputs.get("attention_mask"), b)
                segs = [
                    Segment(kind="token", index=k, text=self._token_text(int(ids[b, p])))
                    for k, p in enumerate(keep)
                ]
                tok = l2_normalize(tokens[b, keep]) if keep else np.zeros((0, self.dim), np.float32)
                out.append(Embedding(vector=pooled[b], tokens=tok, segments=segs, text=m.text or ""))
        return out

    def _word_positions(self, ids: Any, mask: Any, b: int) -> list[int]:
        """Positions of real tokens: not padding, not BOS/EOS/CLS/SEP (those carry no word to show)."""
        valid = mask[b].tolist() if mask is not None else [1] * len(ids)
        return [p for p, (t, v) in enumerate(zip(ids.tolist(), valid)) if v and t not in self._special_ids]

    def _token_text(self, token_id: int) -> str:
        text = self.tokenizer.decode([token_id]).strip()
        return text or str(self.tokenizer.convert_ids_to_tokens(token_id))


def _brief(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:300]}" if lines else type(e).__name__
