"""Colour composition of a picture: the share of its foreground in each of 11 basic colours.

ImageNet classifiers (and so the ConSE bridge) are built to ignore colour, yet queries name it
("a green bus", "un drapeau vert"). The decoders store this small descriptor in `Media.meta
["colours"]`, so it reaches the index without a model; the reranker matches it against colour
words. The 11 categories are Berlin & Kay's basic colour terms, assigned per pixel in HSV.

Foreground: opaque pixels when the picture has transparency; otherwise, when the border is one
flat colour (clip art on white, a studio backdrop), the pixels far from that colour; otherwise all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL.Image import Image

BASIC_COLOURS = ("black", "white", "gray", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")
#: shares below this are dropped from the stored descriptor (anti-aliasing, stray pixels)
MIN_SHARE = 0.02
_SIDE = 64  # thumbnail side: colour shares need no detail, and this keeps it well under 1 ms


def _foreground(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Boolean mask of the pixels that belong to the subject (see the module doc)."""
    if alpha is not None and (alpha < 128).mean() > 0.01:
        return alpha >= 128
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.int16)
    ref = np.median(border, axis=0)
    flat = (np.abs(border - ref).max(axis=1) <= 24).mean()
    if flat < 0.8:
        return np.ones(rgb.shape[:2], bool)
    mask = np.abs(rgb.astype(np.int16) - ref).max(axis=2) > 24
    return mask if mask.mean() > 0.02 else np.ones(rgb.shape[:2], bool)


def classify_pixels(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB → (...) index into BASIC_COLOURS."""
    x = rgb.astype(np.float32) / 255.0
    mx, mn = x.max(-1), x.min(-1)
    v, c = mx, mx - mn
    s = np.where(mx > 0, c / np.maximum(mx, 1e-6), 0.0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    safe = np.maximum(c, 1e-6)
    h = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) * 60.0
    idx = BASIC_COLOURS.index
    out = np.full(h.shape, idx("gray"), np.int64)
    chroma = (s >= 0.2) & (c >= 0.08)
    out = np.where(chroma & ((h < 15) | (h >= 345)), idx("red"), out)
    out = np.where(chroma & (h >= 15) & (h < 40), idx("orange"), out)
    out = np.where(chroma & (h >= 40) & (h < 70), idx("yellow"), out)
    out = np.where(chroma & (h >= 70) & (h < 170), idx("green"), out)
    out = np.where(chroma & (h >= 170) & (h < 260), idx("blue"), out)
    out = np.where(chroma & (h >= 260) & (h < 300), idx("purple"), out)
    out = np.where(chroma & (h >= 300) & (h < 345), idx("pink"), out)
    # light, soft reds are pink; dark oranges and reds are brown
    out = np.where(chroma & ((h < 15) | (h >= 330)) & (s < 0.5) & (v > 0.75), idx("pink"), out)
    out = np.where(chroma & (h >= 10) & (h < 45) & (v < 0.6), idx("brown"), out)
    out = np.where(~chroma & (v > 0.85), idx("white"), out)
    out = np.where(v < 0.2, idx("black"), out)
    return out


def colour_shares(im: "Image") -> dict[str, float]:
    """{basic colour: share of the foreground}, shares ≥ MIN_SHARE, largest first, 3 decimals."""
    from PIL import Image

    scale = _SIDE / max(im.size)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale))) if scale < 1 else im.size
    if im.mode not in ("RGB", "RGBA", "L", "LA"):
        im = im.convert("RGBA")
    small = im.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if "A" in small.getbands():
        rgba = np.asarray(small.convert("RGBA"))
        rgb, alpha = rgba[..., :3], rgba[..., 3]
    else:
        rgb, alpha = np.asarray(small.convert("RGB")), None
    mask = _foreground(rgb, alpha)
    counts = np.bincount(classify_pixels(rgb[mask]), minlength=len(BASIC_COLOURS)).astype(np.float64)
    total = counts.sum()
    if total == 0:
        return {}
    return {BASIC_COLOURS[i]: round(float(counts[i] / total), 3) for i in np.argsort(-counts) if counts[i] / total >= MIN_SHARE}


def mean_shares(images: list["Image"]) -> dict[str, float]:
    """Colour shares averaged over several pictures (a video's sampled frames)."""
    if not images:
        return {}
    total: dict[str, float] = {}
    for im in images:
        for k, v in colour_shares(im).items():
            total[k] = total.get(k, 0.0) + v / len(images)
    return {k: round(v, 3) for k, v in sorted(total.items(), key=lambda kv: -kv[1]) if v >= MIN_SHARE}
