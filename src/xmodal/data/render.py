"""Load stamp pictures (PNG or SVG) as RGBA and flatten them onto a plain background."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

# Plain, light backgrounds: dark outlines of the drawings stay visible on all of them.
BACKGROUNDS: tuple[tuple[int, int, int], ...] = (
    (236, 240, 241), (250, 235, 215), (214, 234, 248), (232, 246, 224), (253, 237, 236),
    (245, 238, 248), (255, 250, 205), (224, 224, 224), (204, 229, 255), (255, 228, 196),
)


def load_rgba(path: Path, max_side: int = 480) -> "Image":
    """The picture at PATH as RGBA, SVGs rendered with cairosvg so the longer side is MAX_SIDE."""
    from PIL import Image

    path = Path(path)
    try:
        if path.suffix.lower() == ".svg":
            import io

            import cairosvg

            png = cairosvg.svg2png(url=str(path), output_width=None, output_height=None)
            img = Image.open(io.BytesIO(png))
            # Render again at the target size: the SVG's own size may be tiny or huge.
            w, h = img.size
            scale = max_side / max(w, h)
            png = cairosvg.svg2png(url=str(path), output_width=max(1, round(w * scale)),
                                   output_height=max(1, round(h * scale)))
            img = Image.open(io.BytesIO(png))
        else:
            img = Image.open(path)
        img.load()
    except Exception as e:  # PIL and cairosvg raise many kinds; name the file either way
        from xmodal.errors import MediaError

        raise MediaError(str(path), f"cannot render image: {e}") from e
    return img.convert("RGBA")


def flatten(img: "Image", background: tuple[int, int, int]) -> "Image":
    """RGBA → RGB with transparency composited onto BACKGROUND."""
    from PIL import Image

    base = Image.new("RGBA", img.size, background + (255,))
    base.alpha_composite(img.convert("RGBA"))
    return base.convert("RGB")


def on_canvas(img: "Image", size: tuple[int, int], background: tuple[int, int, int],
              fill: float = 0.85) -> "Image":
    """IMG scaled to take FILL of a SIZE canvas of plain BACKGROUND, centred, as RGB."""
    from PIL import Image

    cw, ch = size
    scale = min(cw * fill / img.width, ch * fill / img.height)
    w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    canvas = Image.new("RGBA", size, background + (255,))
    canvas.alpha_composite(img.convert("RGBA").resize((w, h), Image.LANCZOS),
                           ((cw - w) // 2, (ch - h) // 2))
    return canvas.convert("RGB")
