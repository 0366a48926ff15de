"""CLIP and SigLIP through transformers: text and images in one space, with token and patch features.

Weights come from `hf-hub:org/name[@rev]` (cache first, download only when online) or
`local-dir:/path` (a folder written by `save_pretrained`, processor files included).

Token features, so later stages can attend over parts of an item:
- text: each token's last hidden state sent through the same head as the pooled token
  (CLIP: `text_projection`; SigLIP: the text `head`), so words live in the joint space;
- images: each patch sent through the same head as the pooled image token (CLIP: vision
  `post_layernorm` + `visual_projection`; SigLIP: the attention-pooling head applied to the patch
  alone, i.e. the pooled embedding the image would get if it were only that patch). These are
  the usual training-free dense features (MaskCLIP-style), rougher than the pooled vector.
Each patch row carries its box in the original image, the processor's resize and centre crop
accounted for.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from ...errors import MediaError
from ...types import Embedding, Media, Modality, Segment
from ..base import l2_normalize
from ._grid import Box, crop_window, grid_boxes
from ._hf import HFEncoder


class _HFImageTextEncoder(HFEncoder):
    modalities: ClassVar[frozenset[Modality]] = frozenset({Modality.TEXT, Modality.IMAGE})

    def _handlers(self) -> dict[Modality, Callable[[list[Media]], list[Embedding]]]:
        return {Modality.TEXT: self._encode_texts, Modality.IMAGE: self._encode_images}

    def _image_forward(self, pixel_values: Any) -> tuple[Any, Any]:
        """→ (pooled (B, dim), patch features (B, gh*gw, dim) in row-major grid order), unnormalised."""
        raise NotImplementedError

    def _encode_images(self, media: list[Media]) -> list[Embedding]:
        import torch

        images = []
        for m in media:
            if not m.images:
                raise MediaError(m.path, "no decoded picture to embed (Media.images is empty)")
            images.append(m.images[0].convert("RGB"))
        ip = self.processor.image_processor
        patch = int(self.model.config.vision_config.patch_size)
        out: list[Embedding] = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            pixels = ip(images=chunk, return_tensors="pt")["pixel_values"]
            with torch.inference_mode():
                pooled, patches = self._image_forward(pixels.to(self.device, self.dtype))
            pooled = l2_normalize(pooled.float().cpu().numpy())
            patches = l2_normalize(patches.float().cpu().numpy())
            gh, gw = pixels.shape[-2] // patch, pixels.shape[-1] // patch
            if patches.shape[1] != gh * gw:  # a model with extra register tokens etc.: no boxes to give
                raise RuntimeError(f"{self.source.spec}: {patches.shape[1]} patch tokens for a {gh}x{gw} grid")
            for b, img in enumerate(chunk):
                boxes = grid_boxes(processed_window(img.width, img.height, ip), gh, gw)
                segs = [Segment(kind="region", index=i, box=box) for i, box in enumerate(boxes)]
                out.append(Embedding(vector=pooled[b], tokens=patches[b], segments=segs))
        return out


class HFCLIPEncoder(_HFImageTextEncoder):
    """OpenAI-style CLIP (`CLIPModel` + its processor). dim = projection_dim."""

    default_model: ClassVar[str] = "hf-hub:openai/clip-vit-base-patch32"
    model_types: ClassVar[frozenset[str]] = frozenset({"clip"})
    model_class: ClassVar[str] = "CLIPModel"

    def _text_forward(self, inputs: dict[str, Any]) -> tuple[Any, Any]:
        out = self.model.text_model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"))
        proj = self.model.text_projection
        return proj(out.pooler_output), proj(out.last_hidden_state)

    def _image_forward(self, pixel_values: Any) -> tuple[Any, Any]:
        vm = self.model.vision_model
        out = vm(pixel_values=pixel_values)
        proj = self.model.visual_projection
        # pooler_output is the CLS token after post_layernorm; patches get the same treatment
        return proj(out.pooler_output), proj(vm.post_layernorm(out.last_hidden_state[:, 1:]))


class HFSigLIPEncoder(_HFImageTextEncoder):
    """SigLIP (`SiglipModel` + its processor).

    Text is padded to the model's full length and the attention mask is not passed, as in
    training: SigLIP pools the last position, which is usually padding. The SigLIP tokenizer is
    SentencePiece-based, so hub checkpoints also need `pip install sentencepiece`.
    """

    default_model: ClassVar[str] = "hf-hub:google/siglip-base-patch16-224"
    model_types: ClassVar[frozenset[str]] = frozenset({"siglip"})
    model_class: ClassVar[str] = "SiglipModel"

    def _dim(self) -> int:
        text_dim = int(self.model.text_model.head.out_features)
        vision_dim = int(self.model.config.vision_config.hidden_size)
        if text_dim != vision_dim:
            raise ValueError(f"{self.source.spec}: text head gives {text_dim} dims but images {vision_dim}")
        return text_dim

    def _tokenize(self, texts: list[str]) -> dict[str, Any]:
        return self.tokenizer(
            texts, padding="max_length", truncation=True, max_length=self._text_max_length(), return_tensors="pt"
        )

    def _text_forward(self, inputs: dict[str, Any]) -> tuple[Any, Any]:
        tm = self.model.text_model
        out = tm(input_ids=inputs["input_ids"])  # no attention mask: see the class docstring
        return out.pooler_output, tm.head(out.last_hidden_state)

    def _image_forward(self, pixel_values: Any) -> tuple[Any, Any]:
        vm = self.model.vision_model
        out = vm(pixel_values=pixel_values)
        h = out.last_hidden_state  # post_layernorm already applied; SigLIP has no CLS token
        if not getattr(vm, "use_head", False) or out.pooler_output is None:
            return h.mean(dim=1), h
        b, n, d = h.shape
        # the pooling head over a one-token sequence: its attention can only pick that token
        patches = vm.head(h.reshape(b * n, 1, d)).reshape(b, n, -1)
        return out.pooler_output, patches


def processed_window(width: int, height: int, image_processor: Any) -> Box:
    """The part of the original image (x0, y0, x1, y1 in [0, 1] units) the model sees after resize + centre crop.

    CLIP resizes the short side and crops the centre square, so the patch grid covers only the
    middle of a wide picture; SigLIP squashes the whole picture to a square, so it covers all.
    """
    rw, rh = float(width), float(height)
    size = getattr(image_processor, "size", None)
    if getattr(image_processor, "do_resize", False) and size:
        h, w = _size_get(size, "height"), _size_get(size, "width")
        short, longest = _size_get(size, "shortest_edge"), _size_get(size, "longest_edge")
        if h and w:
            rw, rh = float(w), float(h)
        elif short:
            scale = short / min(width, height)
            rw, rh = width * scale, height * scale
        elif longest:
            scale = longest / max(width, height)
            rw, rh = width * scale, height * scale
    crop = getattr(image_processor, "crop_size", None)
    if getattr(image_processor, "do_center_crop", False) and crop:
        return crop_window(rw, rh, _size_get(crop, "width"), _size_get(crop, "height"))
    return (0.0, 0.0, 1.0, 1.0)


def _size_get(size: Any, key: str) -> Any:
    # transformers 5 uses SizeDict (attributes and .get), 4.x plain dicts
    return size.get(key) if hasattr(size, "get") else getattr(size, key, None)


__all__ = ["HFCLIPEncoder", "HFSigLIPEncoder", "processed_window"]
