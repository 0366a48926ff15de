"""Where an image model's patch grid lies in the original picture (boxes for region tokens)."""

from __future__ import annotations

Box = tuple[float, float, float, float]


def crop_window(resized_w: float, resized_h: float, crop_w: float | None, crop_h: float | None) -> Box:
    """The centre crop of a resized picture, in [0, 1] units of the picture (unclamped).

    A crop larger than the picture (padding, e.g. open_clip's "longest" mode) gives a window that
    extends past [0, 1]; `grid_boxes` clamps each cell.
    """
    if not crop_w or not crop_h:
        return (0.0, 0.0, 1.0, 1.0)
    left, top = (resized_w - crop_w) / 2, (resized_h - crop_h) / 2
    return (left / resized_w, top / resized_h, (left + crop_w) / resized_w, (top + crop_h) / resized_h)


def grid_boxes(window: Box, gh: int, gw: int) -> list[Box]:
    """Boxes of a gh x gw patch grid spread over `window`, row-major, each clamped to [0, 1]."""
    x0, y0, x1, y1 = window
    sx, sy = (x1 - x0) / gw, (y1 - y0) / gh
    return [
        (_c(x0 + c * sx), _c(y0 + r * sy), _c(x0 + (c + 1) * sx), _c(y0 + (r + 1) * sy))
        for r in range(gh)
        for c in range(gw)
    ]


def _c(x: float) -> float:
    return float(min(1.0, max(0.0, x)))
