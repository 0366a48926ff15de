"""OpenCLIP models (LAION, DataComp, MetaCLIP, ...) through the `open_clip` library.

Sources:
- `hf-hub:org/name[@rev]` or a bare `org/name`: an OpenCLIP hub repo (open_clip_config.json +
  open_clip_model.safetensors / open_clip_pytorch_model.bin); local cache first, download only
  when online. Only the OpenCLIP files are fetched, not the transformers copies many repos hold.
- `local-dir:/path`: such a folder, copied from a connected machine.
- an architecture name (`"ViT-B-32"`) with `pretrained=` a tag (`"laion2b_s34b_b79k"`, fetched
  through open_clip's own download) or a checkpoint file path.

Token features follow hf_clip: text tokens and image patches go through the same final norm and
projection as the pooled token (ViT towers with CLS/avg pooling and standard text towers; other
towers give vectors only, with zero token rows).

open_clip needs torchvision built for the installed torch; it is imported only when an encoder is
created, and its absence raises ModelUnavailable with the install hint.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from ...config import cache_dir
from ...errors import MediaError, ModelUnavailable
from ...types import Embedding, Media, Modality, Segment
from ..base import Encoder, l2_normalize
from ._grid import crop_window, grid_boxes
from .source import LOCAL_DIR, ResolvedSource, resolve_source, weights_fingerprint

OPENCLIP_HINT = "open-clip needs `pip install xmodal[openclip]` (open_clip_torch + torchvision matching your torch)"
# open_clip's own preference order for a checkpoint inside a model folder
WEIGHT_FILES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
)
_TOKENIZER_FILES = ["tokenizer*", "special_tokens_map.json", "vocab*", "merges.txt", "*.model", "*.spm"]


def _import_open_clip() -> Any:
    try:
        import open_clip
    except ImportError as e:  # open_clip itself, or torchvision / ftfy / regex under it
        raise ModelUnavailable(f"{OPENCLIP_HINT}; importing it failed: {e}") from e
    return open_clip


class OpenCLIPEncoder(Encoder):
    """Text and images through an OpenCLIP model. dim = the model's embed_dim."""

    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.TEXT, Modality.IMAGE})
    default_model: ClassVar[str] = "hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K"

    def __init__(
        self,
        model: str | None = None,
        pretrained: str | None = None,
        device: str = "auto",
        batch_size: int = 32,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        oc = _import_open_clip()
        import torch

        from ._hf import pick_device

        self.batch_size = batch_size
        self.device, self.dtype = pick_device(device)
        precision = "fp16" if self.dtype == torch.float16 else "fp32"
        model = model or self.default_model
        self.source: ResolvedSource | None = None
        self.pretrained = pretrained
        self._fingerprint: str | None = None
        if _is_architecture_name(model):
            self.spec = model
            net, preprocess, tokenizer = self._load_builtin(oc, model, pretrained, precision)
        else:
            self.source = _resolve_openclip(model)
            self.spec = self.source.spec
            net, preprocess, tokenizer = self._load_dir(oc, self.source.path, precision)
            if self.source.kind == LOCAL_DIR:
                self._fingerprint = weights_fingerprint(self.source.path)
        self.model = net.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self._oc = oc
        self._special = _special_ids(tokenizer)
        self._eot = getattr(tokenizer, "eot_token_id", None)
        self._text_ln, self._text_proj = _text_token_head(oc, self.model)
        self._vis_ln, self._vis_proj = _vision_token_head(self.model)
        with torch.inference_mode():
            probe = self.model.encode_text(self.tokenizer(["a"]).to(self.device))
        self.dim = int(probe.shape[-1])

    # --- loading -------------------------------------------------------------------------------
    def _load_dir(self, oc: Any, path: Path, precision: str) -> tuple[Any, Any, Any]:
        cfg_file = path / "open_clip_config.json"
        if not cfg_file.is_file():
            raise ModelUnavailable(
                f"{self.spec}: {cfg_file} is missing; an OpenCLIP model folder holds open_clip_config.json "
                f"and one of {', '.join(WEIGHT_FILES)}"
            )
        weights = next((path / f for f in WEIGHT_FILES if (path / f).is_file()), None)
        if weights is None:  # open_clip would only warn and go on with random weights
            raise ModelUnavailable(f"{self.spec}: no OpenCLIP weights in {path} (expected one of {', '.join(WEIGHT_FILES)})")
        try:
            if hasattr(oc.factory, "parse_model_name"):  # open_clip >= 3 reads local-dir: itself
                name = f"local-dir:{path}"
                net, preprocess = oc.create_model_from_pretrained(name, device=self.device, precision=precision)
                return net, preprocess, oc.get_tokenizer(name)
            return self._load_dir_legacy(oc, cfg_file, weights, precision)
        except ModelUnavailable:
            raise
        except Exception as e:
            raise ModelUnavailable(f"{self.spec}: open_clip could not load {path}: {type(e).__name__}: {e}") from e

    def _load_dir_legacy(self, oc: Any, cfg_file: Path, weights: Path, precision: str) -> tuple[Any, Any, Any]:
        """open_clip 2.x: register the folder's config under a private name, then load its weights."""
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
        name = f"xmodal-{weights_fingerprint(cfg_file.parent)}"
        reg = cache_dir("open_clip", "configs") / f"{name}.json"
        reg.write_text(json.dumps(cfg.get("model_cfg", cfg)), encoding="utf-8")
        oc.add_model_config(reg)
        pp = cfg.get("preprocess_cfg", {})
        net, preprocess = oc.create_model_from_pretrained(
            name, pretrained=str(weights), device=self.device, precision=precision,
            image_mean=pp.get("mean"), image_std=pp.get("std"),
        )
        return net, preprocess, oc.get_tokenizer(name)

    def _load_builtin(self, oc: Any, arch: str, pretrained: str | None, precision: str) -> tuple[Any, Any, Any]:
        if not pretrained:
            raise ModelUnavailable(
                f"open-clip model {arch!r} needs pretrained= a tag (see open_clip.list_pretrained()) or a "
                "checkpoint file; without one its weights would be random"
            )
        p = Path(pretrained).expanduser()
        if p.suffix in {".bin", ".pt", ".pth", ".safetensors"} or "/" in pretrained:
            if not p.is_file():
                raise ModelUnavailable(f"open-clip checkpoint {p} does not exist")
            pretrained = str(p)
            self._fingerprint = f"{p.name}:{p.stat().st_size}"
        try:
            net, preprocess = oc.create_model_from_pretrained(
                arch, pretrained=pretrained, device=self.device, precision=precision, cache_dir=str(cache_dir("open_clip"))
            )
        except Exception as e:
            raise ModelUnavailable(
                f"open-clip {arch!r} with pretrained={pretrained!r} could not be loaded ({type(e).__name__}: "
                f"{str(e).strip()[:300]}). Weights for a tag are downloaded on first use: run it once on a "
                "connected machine and copy the cache, or pass model='local-dir:/path' to an OpenCLIP folder"
            ) from e
        return net, preprocess, oc.get_tokenizer(arch)

    # --- interface -----------------------------------------------------------------------------
    @classmethod
    def availability(cls) -> tuple[bool, str]:
        missing = [m for m in ("torch", "torchvision", "open_clip") if importlib.util.find_spec(m) is None]
        if missing:
            return False, f"{', '.join(missing)} not installed: {OPENCLIP_HINT}"
        return True, ""

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"encoder": type(self).__name__, "model": self.spec, "dim": self.dim}
        if self.pretrained and self.source is None:
            cfg["pretrained"] = Path(self.pretrained).name if "/" in self.pretrained else self.pretrained
        if self.source is not None and self.source.commit:
            cfg["commit"] = self.source.commit
        if self._fingerprint:
            cfg["weights"] = self._fingerprint
        return cfg

    def encode(self, media: Sequence[Media]) -> list[Embedding]:
        out: list[Embedding | None] = [None] * len(media)
        texts = [i for i, m in enumerate(media) if m.modality == Modality.TEXT]
        images = [i for i, m in enumerate(media) if m.modality == Modality.IMAGE]
        for i, m in enumerate(media):
            if m.modality not in self.modalities:
                raise MediaError(m.path, f"OpenCLIPEncoder embeds text and image, not {m.modality}")
            if m.modality == Modality.IMAGE and not m.images:
                raise MediaError(m.path, "no decoded picture to embed (Media.images is empty)")
        for j, emb in zip(texts, self._encode_texts([media[i] for i in texts])):
            out[j] = emb
        for j, emb in zip(images, self._encode_images([media[i] for i in images])):
            out[j] = emb
        return out  # type: ignore[return-value]  # every slot was filled above

    # --- text ----------------------------------------------------------------------------------
    def _encode_texts(self, media: list[Media]) -> list[Embedding]:
        import torch

        out: list[Embedding] = []
        for start in range(0, len(media), self.batch_size):
            chunk = media[start : start + self.batch_size]
            ids = self.tokenizer([m.text or "" for m in chunk])
            captured: dict[str, Any] = {}
            hook = _capture(self._text_ln, captured)
            try:
                with torch.inference_mode():
                    pooled = self.model.encode_text(ids.to(self.device))
                    tokens = _project(captured["h"], self._text_proj) if "h" in captured else None
            finally:
                if hook is not None:
                    hook.remove()
            pooled = l2_normalize(pooled.float().cpu().numpy())
            tok_np = tokens.float().cpu().numpy() if tokens is not None else None
            for b, m in enumerate(chunk):
                keep = self._word_positions(ids[b].tolist()) if tok_np is not None else []
                segs = [Segment(kind="token", index=k, text=self._token_text(int(ids[b, p]))) for k, p in enumerate(keep)]
                rows = l2_normalize(tok_np[b, keep]) if keep else np.zeros((0, self.dim), np.float32)
                out.append(Embedding(vector=pooled[b], tokens=rows, segments=segs, text=m.text or ""))
        return out

    def _word_positions(self, ids: list[int]) -> list[int]:
        end = ids.index(self._eot) if self._eot is not None and self._eot in ids else len(ids)
        return [p for p in range(end) if ids[p] not in self._special]

    def _token_text(self, token_id: int) -> str:
        dec = getattr(self.tokenizer, "decode", None)
        if dec is None and hasattr(self.tokenizer, "tokenizer"):
            dec = self.tokenizer.tokenizer.decode
        try:
            return dec([token_id]).strip() if dec else str(token_id)
        except Exception:  # a tokenizer without single-id decoding: show the id
            return str(token_id)

    # --- images --------------------------------------------------------------------------------
    def _encode_images(self, media: list[Media]) -> list[Embedding]:
        import torch

        out: list[Embedding] = []
        for start in range(0, len(media), self.batch_size):
            chunk = [m.images[0].convert("RGB") for m in media[start : start + self.batch_size]]
            pixels = torch.stack([self.preprocess(img) for img in chunk]).to(self.device, self.dtype)
            captured: dict[str, Any] = {}
            hook = _capture(self._vis_ln, captured)
            try:
                with torch.inference_mode():
                    pooled = self.model.encode_image(pixels)
                    patches = _project(captured["h"][:, 1:], self._vis_proj) if "h" in captured else None
            finally:
                if hook is not None:
                    hook.remove()
            pooled = l2_normalize(pooled.float().cpu().numpy())
            grid = tuple(getattr(self.model.visual, "grid_size", (0, 0)))
            if patches is not None and patches.shape[1] != grid[0] * grid[1]:
                patches = None  # an unexpected token layout: no boxes to give, so no region rows
            patch_np = l2_normalize(patches.float().cpu().numpy()) if patches is not None else None
            for b, img in enumerate(chunk):
                if patch_np is None:
                    out.append(Embedding(vector=pooled[b], tokens=np.zeros((0, self.dim), np.float32), segments=[]))
                    continue
                boxes = grid_boxes(self._window(img.width, img.height), grid[0], grid[1])
                segs = [Segment(kind="region", index=i, box=box) for i, box in enumerate(boxes)]
                out.append(Embedding(vector=pooled[b], tokens=patch_np[b], segments=segs))
        return out

    def _window(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Part of the picture the patch grid covers, per open_clip's resize mode."""
        cfg: dict[str, Any] = {}
        getter = getattr(self._oc, "get_model_preprocess_cfg", None)
        if getter is not None:
            try:
                cfg = dict(getter(self.model))
            except Exception:  # older open_clip: fall back to its long-standing default
                cfg = {}
        size = cfg.get("size", getattr(self.model.visual, "image_size", 224))
        th, tw = (size, size) if isinstance(size, int) else tuple(size)
        mode = cfg.get("resize_mode", "shortest")
        if mode == "squash":
            return (0.0, 0.0, 1.0, 1.0)
        scale = min(tw / width, th / height) if mode == "longest" else max(tw / width, th / height)
        return crop_window(width * scale, height * scale, tw, th)


def _is_architecture_name(model: str) -> bool:
    """'ViT-B-32' (an open_clip config name) rather than a hub id or a folder."""
    return ":" not in model and "/" not in model and not model.startswith(("~", "."))


def _resolve_openclip(spec: str) -> ResolvedSource:
    base = ["open_clip_config.json", *_TOKENIZER_FILES]
    try:
        src = resolve_source(spec, allow_patterns=[*base, "open_clip_model.safetensors"], required=WEIGHT_FILES)
    except ModelUnavailable:
        src = None  # online, the repo may hold the .bin checkpoint only: the second try fetches it
    if src is None or (src.kind != LOCAL_DIR and not any((src.path / f).is_file() for f in WEIGHT_FILES)):
        src = resolve_source(spec, allow_patterns=[*base, "open_clip_pytorch_model.bin"], required=WEIGHT_FILES)
    return src


def _special_ids(tokenizer: Any) -> set[int]:
    ids = getattr(tokenizer, "all_special_ids", None)
    if ids is None and hasattr(tokenizer, "tokenizer"):
        ids = getattr(tokenizer.tokenizer, "all_special_ids", None)
    return set(ids or [])


def _text_token_head(oc: Any, model: Any) -> tuple[Any, Any]:
    """(norm module whose output holds every token, projection) when tokens map like the pooled one."""
    if isinstance(model, oc.CLIP) and hasattr(model, "ln_final") and getattr(model, "text_pool_type", "argmax") in {
        "argmax", "eos", "first", "last",
    }:
        return model.ln_final, model.text_projection
    return None, None


def _vision_token_head(model: Any) -> tuple[Any, Any]:
    vis = model.visual
    standard = (
        hasattr(vis, "ln_post")
        and getattr(vis, "attn_pool", None) is None
        and not getattr(vis, "final_ln_after_pool", False)
        and getattr(vis, "pool_type", "tok") in {"tok", "avg"}
    )
    return (vis.ln_post, getattr(vis, "proj", None)) if standard else (None, None)


def _capture(module: Any, into: dict[str, Any]) -> Any:
    if module is None:
        return None
    return module.register_forward_hook(lambda _m, _i, o: into.__setitem__("h", o))


def _project(h: Any, proj: Any) -> Any:
    if proj is None:
        return h
    if hasattr(proj, "weight"):  # nn.Linear in some configs, a bare matrix in OpenAI-style ones
        return proj(h)
    return h @ proj


__all__ = ["OpenCLIPEncoder"]
