"""Image decoding: Pillow for raster formats, cairosvg for SVG. Output is one RGB PIL image."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from xmodal.errors import MediaError
from xmodal.media.colour import colour_shares
from xmodal.types import Media, Modality

if TYPE_CHECKING:
    from PIL.Image import Image

    from xmodal.media import Limits

SVG_RENDER_PX = 512  # longer side an SVG is rasterised to
_DOCTYPE_SUBSET = re.compile(rb"<!DOCTYPE[^>\[]*\[(.*?)\]\s*>", re.DOTALL | re.IGNORECASE)
_PLAIN_ENTITY = re.compile(rb"""<!ENTITY\s+([\w.:-]+)\s+(?:"([^"&%<]*)"|'([^'&%<]*)')\s*>""")
_ENTITY_REF = re.compile(rb"&([\w.:-]+);")
_XML_BUILTIN = {b"lt", b"gt", b"amp", b"apos", b"quot"}


def _inline_entities(data: bytes, max_bytes: int = 20_000_000) -> bytes:
    """Expand plain internal entities (as Illustrator declares for namespaces) and drop the DTD.

    The safe XML parser cairosvg uses refuses every entity declaration, which would reject
    many real SVGs. Values holding '&' or '%' are not expanded, so nothing nests (no
    billion laughs), and the expanded size is computed from the references before anything
    is expanded: a 3 MB file of references to a 1 KB entity is refused, not built.
    """
    m = _DOCTYPE_SUBSET.search(data)
    if not m:
        return data
    ents = {name: a or b for name, a, b in _PLAIN_ENTITY.findall(m.group(1))}
    body = data[: m.start()] + data[m.end() :]
    size = len(body)
    for r in _ENTITY_REF.finditer(body):
        value = ents.get(r.group(1))
        if value is not None and r.group(1) not in _XML_BUILTIN:
            size += len(value) - len(r.group(0))
    cap = max(max_bytes, 2 * len(data))
    if size > cap:
        raise ValueError(f"entities would expand it to {size / 1e6:.0f} MB, over the {cap / 1e6:.0f} MB limit (Limits.max_svg_bytes)")
    return _ENTITY_REF.sub(
        lambda r: r.group(0) if r.group(1) in _XML_BUILTIN else ents.get(r.group(1), r.group(0)), body
    )


# images embedded as data: URIs (href or xlink:href); cairosvg decodes PNGs with cairo itself,
# past Pillow's and our pixel guards, so each one is measured from its header first
_DATA_URI = re.compile(rb"""data:([\w.+/-]*)((?:;[\w.+=-]*)*?)(;base64)?,([^"'<>)]*)""", re.IGNORECASE)
MAX_SVG_NESTING = 4  # SVG images inside SVG images inside ...


def _check_embedded(path: Path, data: bytes, limits: "Limits", depth: int = 0) -> None:
    """Raise MediaError if an image embedded in this SVG (a data: URI) is over the pixel limit,
    or SVGs nest deeper than MAX_SVG_NESTING. Their pixels count together: one render holds
    them all."""
    import base64
    import binascii
    from urllib.parse import unquote_to_bytes

    from PIL import Image

    total = 0
    for m in _DATA_URI.finditer(data):
        mime, b64, payload = m.group(1).lower(), m.group(3), m.group(4)
        try:
            if b64:  # base64 in SVG files is often wrapped over lines
                payload = re.sub(rb"\s+", b"", payload)
                raw = base64.b64decode(payload + b"=" * (-len(payload) % 4))
            else:
                raw = unquote_to_bytes(payload)
        except (binascii.Error, ValueError):
            continue  # cairosvg cannot decode it either
        if b"svg" in mime:
            if depth >= MAX_SVG_NESTING:
                raise MediaError(str(path), f"SVG images nested more than {MAX_SVG_NESTING} deep; not rendered")
            _check_embedded(path, _inline_entities(raw, limits.max_svg_bytes), limits, depth + 1)
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(io.BytesIO(raw)) as im:  # header only
                    w, h = im.size
        except Image.DecompressionBombError:  # Pillow's own guard: far over any sane limit
            raise MediaError(str(path), f"an embedded image is over Pillow's pixel limit and ours ({_mp(limits.max_pixels)}, Limits.max_pixels); not rendered") from None
        except Exception:
            continue  # not an image Pillow knows: cairosvg skips it too
        total += w * h
        if total > limits.max_pixels:
            raise MediaError(
                str(path),
                f"embedded image is {w}x{h} = {_mp(w * h)}; the SVG's images come to {_mp(total)}, over the "
                f"{_mp(limits.max_pixels)} limit (Limits.max_pixels); not rendered",
            )


def _mp(n: float) -> str:
    return f"{n / 1e6:.1f} MP"


def to_rgb(im: "Image") -> "Image":
    """RGB copy of any Pillow image; transparency is flattened onto white (not black)."""
    from PIL import Image

    if im.mode in ("P", "PA") or (im.mode in ("L", "RGB", "I;16", "I") and "transparency" in im.info):
        im = im.convert("RGBA")
    if "A" in im.getbands():
        im = im.convert("RGBA")
        bg = Image.new("RGB", im.size, (255, 255, 255))
        bg.paste(im, mask=im.getchannel("A"))
        return bg
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: Pillow's convert would clip at 255; scale to 8 bits instead
        import numpy as np

        a = np.asarray(im, dtype=np.float32)
        if a.max() > 255:  # true 16-bit data
            a = a / 257.0
        im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return im.convert("RGB")


def downscale(im: "Image", max_side: int) -> "Image":
    """Shrink (never enlarge) so the longer side is at most max_side, keeping aspect."""
    if max(im.size) > max_side:
        from PIL import Image

        im = im.copy()
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return im


def _over_limit(path: Path, w: int, h: int, limits: "Limits") -> MediaError:
    return MediaError(
        str(path),
        f"image is {w}x{h} = {_mp(w * h)}, over the {_mp(limits.max_pixels)} limit "
        "(Limits.max_pixels); not decoded",
    )


def load_raster(path: Path, fmt: str, limits: "Limits") -> Media:
    from PIL import Image, ImageOps

    # Pillow's own bomb guard is a process-wide setting; only ever raise it so that our
    # (per-call) Limits.max_pixels is the one that decides
    if Image.MAX_IMAGE_PIXELS is not None and limits.max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = limits.max_pixels
    label = fmt.upper()
    w = h = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:  # reads the header only
                w, h = im.size
                if w * h > limits.max_pixels:
                    raise _over_limit(path, w, h, limits)
                n_frames = getattr(im, "n_frames", 1)
                im.seek(0)  # animated: first frame
                if im.format == "JPEG":
                    # let libjpeg decode at 1/2..1/8 scale straight away for big photos
                    im.draft("RGB", (limits.image_max_side, limits.image_max_side))
                im.load()
                # orientation before downscaling, so the longer side is the displayed one
                out = ImageOps.exif_transpose(im)
                colours = colour_shares(out)  # before flattening: transparency marks the subject
                out = downscale(to_rgb(out), limits.image_max_side)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        m = re.search(r"\((\d+) pixels\)", str(e))
        size = _mp(int(m.group(1))) if m else "too many pixels"
        raise MediaError(
            str(path),
            f"image is {size}, over the {_mp(limits.max_pixels)} limit (Limits.max_pixels); not decoded",
        ) from None
    except Image.UnidentifiedImageError as e:
        raise MediaError(str(path), f"corrupt image data ({label}): Pillow cannot identify it") from e
    except MemoryError:
        raise MediaError(str(path), f"out of memory decoding a {w}x{h} image") from None
    except Exception as e:  # OSError (truncated), SyntaxError (bad chunks), ValueError, zlib...
        raise MediaError(str(path), f"truncated or corrupt image data ({label}): {e}") from None
    return Media(
        modality=Modality.IMAGE,
        path=str(path),
        images=[out],
        meta={"format": fmt, "width": w, "height": h, "frames": n_frames, "colours": colours},
    )


def _svg_size_at_width(data: bytes, width: int) -> tuple[int, int]:
    """(w, h) in pixels of the SVG rendered `width` pixels wide, without drawing it.

    This is how the aspect ratio is learnt: the declared size could be huge in a hostile SVG,
    and cairo refuses sides over 32767 px, so a 64-px-wide surface stays a few KB. Only the
    surface is set up (cairosvg draws in its constructor, hence the no-op `draw`): drawing the
    probe cost about a third of an SVG's whole decode (benchmarks/bench_images.py)."""
    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface

    class _Probe(PNGSurface):
        def draw(self, node: object) -> None:
            pass

    probe = _Probe(Tree(bytestring=data, unsafe=False), None, 96, output_width=width)
    probe.cairo.finish()
    return probe.width, probe.height


def load_svg(path: Path, fmt: str, limits: "Limits") -> Media:
    import cairosvg
    from PIL import Image

    try:
        data = _inline_entities(path.read_bytes(), limits.max_svg_bytes)
    except ValueError as e:
        raise MediaError(str(path), f"unsupported SVG: {e}") from None
    _check_embedded(path, data, limits)
    target = min(SVG_RENDER_PX, limits.image_max_side)
    try:
        aw, ah = _svg_size_at_width(data, 64)
        if aw >= ah:
            kw = {"output_width": target, "output_height": max(1, round(target * ah / aw))}
        else:
            kw = {"output_height": target, "output_width": max(1, round(target * aw / ah))}
        png = cairosvg.svg2png(bytestring=data, unsafe=False, **kw)
        with Image.open(io.BytesIO(png)) as im:
            im.load()
            colours = colour_shares(im)
            out = to_rgb(im)
    except Exception as e:  # cairosvg raises XML, parse and value errors of many kinds
        raise MediaError(str(path), f"corrupt or unsupported SVG: {type(e).__name__}: {e}") from None
    return Media(
        modality=Modality.IMAGE,
        path=str(path),
        images=[out],
        meta={"format": fmt, "width": out.width, "height": out.height, "frames": 1, "colours": colours},
    )


def load(path: Path, fmt: str, limits: "Limits") -> Media:
    if fmt == "svg":
        return load_svg(path, fmt, limits)
    return load_raster(path, fmt, limits)
