"""Generate small test media on the fly (nothing binary is committed).

Every function writes one file at `path` (parents are created) and returns it as a Path.
Formats follow the suffix unless `fmt` says otherwise, so a test can write a JPEG named
`.png`. Videos show one solid colour per second (`PALETTE`, or `colors=`) with a small black
square moving across, so frame sampling and shot detection can be checked against
`color_at(t)`.
"""

from __future__ import annotations

import io
import math
import os
import struct
import wave
import zipfile
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

RGB = tuple[int, int, int]

# strongly distinct colours: survive yuv420 / lossy coding with a wide margin
PALETTE: list[RGB] = [
    (220, 20, 20),  # red
    (20, 200, 20),  # green
    (20, 20, 220),  # blue
    (230, 230, 20),  # yellow
    (220, 20, 220),  # magenta
    (20, 220, 220),  # cyan
    (240, 140, 0),  # orange
    (120, 40, 160),  # purple
]


def _prep(path: str | os.PathLike) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def color_at(t: float, colors: Sequence[RGB] | None = None) -> RGB:
    """The background colour a `make_video` video shows at time t (seconds)."""
    colors = list(colors or PALETTE)
    return colors[int(math.floor(t + 1e-9)) % len(colors)]


# ---------------------------------------------------------------- images


_PIL_FORMATS = {
    "png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF",
    "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF",
}


def make_image(
    path: str | os.PathLike,
    size: tuple[int, int] = (64, 48),
    color: tuple[int, ...] = (200, 30, 30),
    fmt: str | None = None,
    frames: Sequence[tuple[int, ...]] | None = None,
    exif_orientation: int | None = None,
) -> Path:
    """A solid-colour image. A 4-tuple colour makes RGBA (transparency where the format allows).

    frames: colours of an animated GIF/WebP (the first is `frames[0]`, `color` is ignored).
    exif_orientation: write this EXIF Orientation tag (JPEG/WebP/PNG/TIFF).
    """
    from PIL import Image

    p = _prep(path)
    fmt = (fmt or _PIL_FORMATS[p.suffix.lower().lstrip(".")]).upper()

    def solid(c: tuple[int, ...]) -> Image.Image:
        return Image.new("RGBA" if len(c) == 4 else "RGB", size, tuple(c))

    kwargs: dict = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif
    if frames:
        imgs = [solid(c) for c in frames]
        if fmt == "GIF":
            imgs = [im.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE) for im in imgs]
        imgs[0].save(p, format=fmt, save_all=True, append_images=imgs[1:], duration=100, loop=0, **kwargs)
        return p
    im = solid(color)
    if fmt in ("JPEG", "BMP") and im.mode == "RGBA":
        im = im.convert("RGB")  # these formats have no alpha
    if fmt == "GIF" and im.mode == "RGBA":
        # GIF transparency is a palette index: make fully transparent pixels that index
        alpha = im.getchannel("A")
        pim = im.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
        pim.paste(255, mask=alpha.point(lambda a: 255 if a < 128 else 0))
        pim.save(p, format=fmt, transparency=255)
        return p
    im.save(p, format=fmt, **kwargs)
    return p


def make_svg(path: str | os.PathLike, size: tuple[int, int] = (200, 100), color: str = "#dc1414") -> Path:
    """An SVG with a solid rectangle filling its viewport."""
    w, h = size
    p = _prep(path)
    p.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">\n'
        f'  <rect x="0" y="0" width="{w}" height="{h}" fill="{color}"/>\n'
        "</svg>\n",
        encoding="utf-8",
    )
    return p


def make_pixel_bomb_png(path: str | os.PathLike, width: int = 100_000, height: int = 100_000) -> Path:
    """A tiny PNG whose IHDR claims width x height pixels (CRC fixed, so it parses)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (0, 0, 0)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    # layout: 8-byte signature, then IHDR chunk: length(4) 'IHDR'(4) data(13) crc(4)
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    p = _prep(path)
    p.write_bytes(bytes(data))
    return p


# ---------------------------------------------------------------- audio


def _sine(seconds: float, freq: float, sr: int) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    env = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms fades: no clicks, no codec overshoot
    return (0.5 * env * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def make_wav(path: str | os.PathLike, seconds: float = 1.0, freq: float = 440.0, sr: int = 16000) -> Path:
    """A mono 16-bit PCM sine tone (stdlib `wave`)."""
    p = _prep(path)
    pcm = (_sine(seconds, freq, sr) * 32767).astype("<i2")
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return p


# suffix -> (container format, codec, sample rate, sample format, channel layout)
_AUDIO = {
    "wav": ("wav", "pcm_s16le", 16000, "s16", "mono"),
    "ogg": ("ogg", "vorbis", 44100, "fltp", "stereo"),
    "oga": ("ogg", "vorbis", 44100, "fltp", "stereo"),
    "opus": ("ogg", "libopus", 48000, "s16", "mono"),
    "mp3": ("mp3", "libmp3lame", 44100, "fltp", "mono"),
    "flac": ("flac", "flac", 44100, "s16", "mono"),
    "m4a": ("ipod", "aac", 44100, "fltp", "mono"),
}


def _encode_audio_stream(container, stream, seconds: float, freq: float) -> None:
    """Encode a sine into an open PyAV audio stream in 1024-sample frames, then flush."""
    import av

    sr = stream.codec_context.sample_rate
    layout = stream.codec_context.layout.name
    fmt = stream.codec_context.format.name
    nch = stream.codec_context.layout.nb_channels
    wave_ = _sine(seconds, freq, sr)
    step = stream.codec_context.frame_size or 1024
    for i in range(0, len(wave_), step):
        chunk = wave_[i : i + step]
        if len(chunk) < step and stream.codec_context.frame_size:
            chunk = np.pad(chunk, (0, step - len(chunk)))
        if fmt.startswith("s16"):
            arr = (chunk * 32767).astype(np.int16)
        else:
            arr = chunk
        planar = fmt.endswith("p")
        data = np.tile(arr, (nch, 1)) if planar else np.repeat(arr, nch)[None, :]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
        frame.sample_rate = sr
        frame.pts = i
        frame.time_base = Fraction(1, sr)
        for pkt in stream.encode(frame):
            container.mux(pkt)
    for pkt in stream.encode(None):
        container.mux(pkt)


def make_audio(
    path: str | os.PathLike,
    fmt: str | None = None,
    seconds: float = 1.0,
    freq: float = 440.0,
) -> Path:
    """A sine tone encoded with PyAV: fmt (or the suffix) in wav ogg oga opus mp3 flac m4a."""
    import av

    p = _prep(path)
    key = (fmt or p.suffix.lstrip(".")).lower()
    cfmt, codec, sr, sfmt, layout = _AUDIO[key]
    with av.open(str(p), "w", format=cfmt) as c:
        s = c.add_stream(codec, rate=sr)
        s.codec_context.format = sfmt
        s.codec_context.layout = layout
        if codec == "vorbis":
            s.codec_context.options = {"strict": "experimental"}
        _encode_audio_stream(c, s, seconds, freq)
    return p


# ---------------------------------------------------------------- video

# suffix -> (container, default video codec, audio codec, audio rate, audio sample format)
_VIDEO = {
    "mp4": ("mp4", "libx264", "aac", 44100, "fltp"),
    "m4v": ("mp4", "libx264", "aac", 44100, "fltp"),
    "mov": ("mov", "libx264", "aac", 44100, "fltp"),
    "mkv": ("matroska", "libx264", "libopus", 48000, "s16"),
    "webm": ("webm", "libvpx", "libopus", 48000, "s16"),
    "avi": ("avi", "mpeg4", "pcm_s16le", 44100, "s16"),
}
_CODEC_ALIASES = {"h264": "libx264", "vp8": "libvpx", "vp9": "libvpx-vp9"}


def video_frame(t: float, size: tuple[int, int], colors: Sequence[RGB] | None = None) -> np.ndarray:
    """The RGB frame `make_video` draws at time t: solid colour plus a moving 8x8 black square."""
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = color_at(t, colors)
    x = int((t * 10) % max(w - 8, 1))
    img[2:10, x : x + 8] = 0
    return img


def make_video(
    path: str | os.PathLike,
    seconds: float = 4.0,
    fps: int = 10,
    with_audio: bool = False,
    codec: str | None = None,
    colors: Sequence[RGB] | None = None,
    size: tuple[int, int] = (64, 48),
    freq: float = 440.0,
) -> Path:
    """A video (mp4/m4v/mov: h264, webm: vp8 or codec='vp9', avi: mpeg4, mkv: h264).

    Second k shows colour `colors[k % len(colors)]` (default `PALETTE`); with_audio adds a
    sine track of the same length.
    """
    import av

    p = _prep(path)
    cfmt, vcodec, acodec, arate, afmt = _VIDEO[p.suffix.lstrip(".").lower()]
    vcodec = _CODEC_ALIASES.get(codec or "", codec or vcodec)
    with av.open(str(p), "w", format=cfmt) as c:
        vs = c.add_stream(vcodec, rate=fps)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.time_base = Fraction(1, fps)  # else a packet muxed before the header can be mistimed
        if vcodec in ("libvpx", "libvpx-vp9"):
            vs.options = {"deadline": "realtime", "cpu-used": "8", "b": "200k"}
        elif vcodec == "libx264":
            vs.options = {"preset": "ultrafast"}
        a_s = None
        if with_audio:
            a_s = c.add_stream(acodec, rate=arate)
            a_s.codec_context.format = afmt
            a_s.codec_context.layout = "mono"
        c.start_encoding()  # header first: otherwise the first packet's timing can be lost (avi)
        for i in range(int(round(seconds * fps))):
            frame = av.VideoFrame.from_ndarray(video_frame(i / fps, size, colors), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for pkt in vs.encode(frame):
                c.mux(pkt)
        for pkt in vs.encode(None):
            c.mux(pkt)
        if a_s is not None:
            _encode_audio_stream(c, a_s, seconds, freq)
    return p


# ---------------------------------------------------------------- text and documents


def make_text(path: str | os.PathLike, text: str = "Hello world.\n", encoding: str = "utf-8") -> Path:
    p = _prep(path)
    p.write_bytes(text.encode(encoding))
    return p


def make_html(
    path: str | os.PathLike,
    title: str = "A test page",
    body: str = "<h1>Heading</h1><p>Visible paragraph.</p>",
) -> Path:
    """An HTML page with a <title>, the given body, and a script and style that must not show."""
    p = _prep(path)
    p.write_text(
        "<!DOCTYPE html>\n<html><head>"
        f"<title>{title}</title>"
        "<style>body { color: red } .hidden-style-rule {}</style>"
        "<script>var hiddenScriptText = 1;</script>"
        f"</head><body>{body}</body></html>\n",
        encoding="utf-8",
    )
    return p


def make_pdf(path: str | os.PathLike, pages_text: Sequence[str]) -> Path:
    """A PDF with one page per string (fpdf2, core Helvetica font, so ASCII/latin-1 text)."""
    from fpdf import FPDF

    p = _prep(path)
    pdf = FPDF(format="A4")
    pdf.set_font("Helvetica", size=16)
    for text in pages_text:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    pdf.output(str(p))
    return p


# ---------------------------------------------------------------- broken and foreign files


def make_random(path: str | os.PathLike, n: int = 4096, seed: int = 0) -> Path:
    """n random bytes (deterministic for a seed)."""
    p = _prep(path)
    p.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())
    return p


def truncate(path: str | os.PathLike, keep: float = 0.5, out: str | os.PathLike | None = None) -> Path:
    """Keep the first `keep` fraction of a file's bytes (in place, or into `out`)."""
    src = Path(path)
    data = src.read_bytes()
    dst = _prep(out) if out else src
    dst.write_bytes(data[: max(1, int(len(data) * keep))])
    return dst


def make_elf(path: str | os.PathLike) -> Path:
    """Bytes that start like a 64-bit little-endian ELF executable."""
    p = _prep(path)
    p.write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00\x3e\x00" + b"\x00" * 100)
    return p


def make_zip(path: str | os.PathLike) -> Path:
    """A zip archive holding one small text file."""
    p = _prep(path)
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("readme.txt", "inside a zip\n")
    return p
