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
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

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


def _write_wav(path: str | os.PathLike, pcm: np.ndarray, sr: int) -> Path:
    """Mono 16-bit PCM samples as a WAV file (stdlib `wave`)."""
    p = _prep(path)
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.astype("<i2").tobytes())
    return p


def make_wav(path: str | os.PathLike, seconds: float = 1.0, freq: float = 440.0, sr: int = 16000) -> Path:
    """A mono 16-bit PCM sine tone."""
    return _write_wav(path, _sine(seconds, freq, sr) * 32767, sr)


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


# ---------------------------------------------------------------- hostile files
# Small on disk, expensive or dangerous to decode: the corpus tests/test_hostile.py and
# benchmarks/hostile.py feed to the decoders. Sizes are parameters so tests can pair a small
# bomb with a lowered limit while the benchmark uses the real thing.


def write_pdf(path: str | os.PathLike, objects: Sequence[bytes]) -> Path:
    """A PDF from raw object bodies (object i+1 = objects[i]; object 1 must be the catalog),
    with a correct cross-reference table."""
    p = _prep(path)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    p.write_bytes(bytes(out))
    return p


def _pdf_page(content: bytes, filters: bytes = b"", extra: Sequence[bytes] = ()) -> list[bytes]:
    stream = b"<< /Length %d %s >>\nstream\n" % (len(content), filters) + content + b"\nendstream"
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>",
        stream,
        *extra,
    ]


def make_pdf_stream_bomb(path: str | os.PathLike, inflated: int = 1 << 30) -> Path:
    """A one-page PDF whose content stream is `inflated` bytes of spaces, deflated (~1000:1)."""
    z = zlib.compressobj(9)
    block = b" " * (1 << 20)
    parts = [z.compress(block) for _ in range(inflated // len(block))]
    parts.append(z.compress(b" " * (inflated % len(block)) + b"BT /F1 12 Tf 10 10 Td (bomb) Tj ET"))
    parts.append(z.flush())
    return write_pdf(path, _pdf_page(b"".join(parts), b"/Filter /FlateDecode"))


def make_pdf_page_bomb(path: str | os.PathLike, pages: int = 100_000) -> Path:
    """A PDF whose page tree claims `pages` pages, all the same page object."""
    kids = b" ".join(b"3 0 R" for _ in range(pages))
    objs = _pdf_page(b"BT /F1 12 Tf 10 10 Td (page) Tj ET")
    objs[1] = b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages
    return write_pdf(path, objs)


def make_pdf_with_action(path: str | os.PathLike, secret: str | os.PathLike) -> Path:
    """A PDF that asks, on opening, to launch a program, run JavaScript and fetch a remote
    file: a decoder must do none of it (and must not read `secret`)."""
    objs = _pdf_page(b"BT /F1 12 Tf 10 10 Td (actions) Tj ET")
    objs[0] = (b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R "
               b"/Names << /JavaScript << /Names [(x) 6 0 R] >> >> >>")
    objs += [
        b"<< /S /Launch /F (" + os.fsencode(secret) + b") /Next << /S /URI /URI (http://127.0.0.1:9/leak) >> >>",
        b"<< /S /JavaScript /JS (app.launchURL('http://127.0.0.1:9/js');) >>",
    ]
    return write_pdf(path, objs)


def make_svg_entity_bomb(path: str | os.PathLike, refs: int = 300_000, value_len: int = 1000) -> Path:
    """An SVG declaring one plain entity `value_len` bytes long and referencing it `refs` times:
    ~10 bytes on disk per reference, value_len bytes each once expanded (3 MB → 300 MB default)."""
    p = _prep(path)
    body = b"&e;" * refs
    p.write_bytes(
        b'<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY e "' + b"x" * value_len + b'">]>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>' + body + b"</text></svg>\n"
    )
    return p


def make_svg_billion_laughs(path: str | os.PathLike) -> Path:
    """The classic nested-entity bomb (10 levels of 10 references)."""
    p = _prep(path)
    ents = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    p.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE svg [' + "".join(ents) + "]>\n"
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&lol9;</text></svg>\n'
    )
    return p


def make_svg_external(path: str | os.PathLike, secret: str | os.PathLike, port: int = 9) -> Path:
    """An SVG that tries to pull `secret` in through an external entity (XXE), an <image> and a
    CSS import, and to fetch from 127.0.0.1:`port`."""
    p = _prep(path)
    uri = Path(secret).resolve().as_uri()
    p.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY xxe SYSTEM "{uri}">]>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64">'
        f'<style>@import url("{uri}"); @import url("http://127.0.0.1:{port}/css");</style>'
        f'<image href="{uri}" width="64" height="64"/>'
        f'<image xlink:href="http://127.0.0.1:{port}/img.png" width="64" height="64"/>'
        '<text x="0" y="20">&xxe;</text><rect width="64" height="64" fill="#dc1414"/></svg>\n'
    )
    return p


def make_svg_embedded_png(path: str | os.PathLike, width: int = 20_000, height: int = 20_000) -> Path:
    """An SVG whose <image> is a data: URI holding a real greyscale PNG of width x height
    (deflate makes a 20000x20000 one ~0.6 MB; cairo would decode it to 1.6 GB)."""
    import base64

    row = b"\x00" * (1 + width)  # filter byte + one grey byte per pixel
    z = zlib.compressobj(6)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    b64 = base64.b64encode(png).decode()
    wrapped = "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    p = _prep(path)
    p.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        f'<image width="100" height="100" href="data:image/png;base64,{wrapped}"/></svg>\n'
    )
    return p


def make_svg_long_prologue(path: str | os.PathLike, prologue_bytes: int = 6000) -> Path:
    """A valid SVG whose XML prologue (comments and entity declarations) runs past the first
    4 KB, as Illustrator exports do."""
    p = _prep(path)
    comment = "<!-- " + "generated by a very chatty exporter " * (prologue_bytes // 38 + 1) + "-->\n"
    p.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n' + comment
        + '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" ['
        + '<!ENTITY ns_svg "http://www.w3.org/2000/svg">]>\n'
        + '<svg xmlns="&ns_svg;" width="200" height="100"><rect width="200" height="100" fill="#1414dc"/></svg>\n'
    )
    return p


def make_html_external(path: str | os.PathLike, secret: str | os.PathLike, port: int = 9) -> Path:
    """An HTML page that references `secret` and a local URL through every usual channel."""
    uri = Path(secret).resolve().as_uri()
    return make_html(
        path,
        title="external references",
        body=(f'<p>Visible text.</p><img src="{uri}"><iframe src="{uri}"></iframe>'
              f'<link rel="stylesheet" href="http://127.0.0.1:{port}/s.css"><object data="{uri}"></object>'
              f'<script src="http://127.0.0.1:{port}/x.js"></script>'),
    )


def make_deep_html(path: str | os.PathLike, depth: int = 100_000) -> Path:
    """HTML nested `depth` elements deep (recursive parsers blow their stack)."""
    p = _prep(path)
    p.write_text("<html><body>" + "<div>" * depth + "deep text" + "</div>" * depth + "</body></html>")
    return p


def make_long_text(path: str | os.PathLike, chars: int = 800_000, seed: int = 0) -> Path:
    """Prose-like text of about `chars` characters (words from a small vocabulary)."""
    rng = np.random.default_rng(seed)
    words = np.array("the a violin bread river sound picture window music quiet storm of and in to".split())
    n = chars // 6
    text = " ".join(words[rng.integers(0, len(words), n)])
    return make_text(path, ". ".join(text[i : i + 80] for i in range(0, len(text), 80)))


def make_multichannel_audio(path: str | os.PathLike, channels: int = 8, seconds: float = 1.0, sr: int = 16000) -> Path:
    """A sine on every channel: .wav (pcm_s16le), .flac, or .mkv (a video with a FLAC track of
    that many channels). Packed samples only: PyAV 18 cannot build planar frames of 8+ channels."""
    import av

    p = _prep(path)
    layouts = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1", 16: "hexadecagonal"}
    suffix = p.suffix.lstrip(".").lower()
    with av.open(str(p), "w", format="matroska" if suffix == "mkv" else None) as c:
        if suffix == "mkv":
            vs = c.add_stream("libx264", rate=10)
            vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
            vs.time_base = Fraction(1, 10)
            vs.options = {"preset": "ultrafast"}
        s = c.add_stream("pcm_s16le" if suffix == "wav" else "flac", rate=sr)
        s.codec_context.layout = layouts.get(channels, f"{channels}c")
        s.codec_context.format = "s16"
        if suffix == "mkv":
            c.start_encoding()
            for i in range(int(seconds * 10)):
                frame = av.VideoFrame.from_ndarray(video_frame(i / 10, (64, 48)), format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, 10)
                for pkt in vs.encode(frame):
                    c.mux(pkt)
            for pkt in vs.encode(None):
                c.mux(pkt)
        _encode_audio_stream(c, s, seconds, 440.0)
    return p


def make_wav_header(path: str | os.PathLike, seconds: float = 36_000.0, sr: int = 48_000, channels: int = 2) -> Path:
    """A WAV whose header claims `seconds` of audio but holds one second."""
    p = _prep(path)
    data = int(seconds * sr * channels * 2)
    pcm = (_sine(1.0, 440.0, sr) * 32767).astype("<i2").repeat(channels).tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, sr, sr * channels * 2, channels * 2, 16)
    p.write_bytes(b"RIFF" + struct.pack("<I", min(36 + data, 0xFFFFFFFF)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
                  + b"data" + struct.pack("<I", min(data, 0xFFFFFFFF)) + pcm)
    return p


def make_raster_bomb(path: str | os.PathLike, fmt: str, side: int = 30_000) -> Path:
    """A small file that declares side x side pixels, for each raster format: PNG (patched IHDR),
    GIF (logical screen + frame), BMP (header), TIFF (tags), WebP (VP8L header), JPEG (SOF)."""
    p = _prep(path)
    fmt = fmt.lower()
    if fmt == "png":
        return make_pixel_bomb_png(p, side, side)
    if fmt == "gif":
        s = min(side, 65535)
        p.write_bytes(b"GIF89a" + struct.pack("<HH", s, s) + b"\x80\x00\x00" + b"\x00" * 6
                      + b"\x2c" + struct.pack("<HHHH", 0, 0, s, s) + b"\x00\x02\x02\x44\x01\x00\x3b")
        return p
    if fmt == "bmp":
        p.write_bytes(b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, side, side, 1, 24, 0, 0, 0, 0, 0, 0) + b"\x00" * 16)
        return p
    if fmt == "tiff":
        from PIL import Image

        buf = io.BytesIO()
        Image.new("L", (1, 1)).save(buf, format="TIFF")
        data = bytearray(buf.getvalue())
        # rewrite ImageWidth (256) and ImageLength (257) in the first IFD
        ifd = struct.unpack("<I", data[4:8])[0]
        for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
            e = ifd + 2 + 12 * i
            tag, typ = struct.unpack("<HH", data[e : e + 4])
            if tag in (256, 257):
                data[e + 2 : e + 12] = struct.pack("<HII", 4, 1, side)
        p.write_bytes(bytes(data))
        return p
    if fmt == "webp":
        s = min(side, 16384)
        bits = (s - 1) | ((s - 1) << 14)
        vp8l = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 8
        p.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(vp8l)) + b"WEBPVP8L" + struct.pack("<I", len(vp8l)) + vp8l)
        return p
    if fmt in ("jpg", "jpeg"):
        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, format="JPEG")
        data = bytearray(buf.getvalue())
        i = data.index(b"\xff\xc0")
        s = min(side, 65535)
        data[i + 5 : i + 9] = struct.pack(">HH", s, s)
        p.write_bytes(bytes(data))
        return p
    raise ValueError(fmt)


def make_decompression_bomb_png(path: str | os.PathLike, side: int = 8000) -> Path:
    """A real, valid PNG of side x side black pixels (~side²/1000 bytes): under a pixel limit it
    decodes to side²x3 bytes."""
    from PIL import Image

    p = _prep(path)
    Image.new("L", (side, side)).save(p, format="PNG", optimize=False)
    return p


def make_lying_container(path: str | os.PathLike, real: str = "wav") -> Path:
    """Audio of kind `real` under whatever name `path` has (e.g. a WAV named clip.mp4)."""
    src = make_audio(Path(str(path) + f".src.{real}"))
    p = _prep(path)
    p.write_bytes(src.read_bytes())
    src.unlink()
    return p


def make_random_text_bytes(path: str | os.PathLike, n: int = 8192, seed: int = 0) -> Path:
    """n random bytes from 0x20..0xFF: no NULs or control bytes, so they pass a naive text test."""
    p = _prep(path)
    p.write_bytes(np.random.default_rng(seed).integers(0x20, 256, n, dtype=np.uint8).tobytes())
    return p


def make_odd_rate_audio(path: str | os.PathLike, sr: int = 7, seconds: float = 1.0) -> Path:
    """A WAV with an odd sample rate (1 Hz .. 384 kHz)."""
    return _write_wav(path, np.sin(np.arange(max(1, int(sr * seconds))) * 0.3) * 12000, sr)


# ---------------------------------------------------------------- the hostile corpus

SUPPORTED_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif", "svg", "bmp", "tiff", "wav", "ogg", "oga", "opus",
                        "mp3", "flac", "m4a", "mp4", "m4v", "webm", "avi", "mov", "mkv", "txt", "md", "html", "htm", "pdf")


@dataclass
class HostileCase:
    """One file of the corpus: `expect` is "ok:<modality>" (decodes to that) or "error:<words>"
    (fails with a reason containing them; "error:" alone accepts any clear reason)."""

    path: Path
    kind: str
    expect: str


def hostile_corpus(root: str | os.PathLike, secret_text: str, port: int, full: bool = False) -> list[HostileCase]:
    """Write the hostile corpus under `root`. Secret files (`secret.txt` holding `secret_text`,
    `secret.png` in pure green) sit beside it, outside `root/files`, and are what external
    references aim at; `port` is where a network request would land. full=False keeps every
    file small (bombs scaled to the lowered limits of `hostile_limits()`); full=True writes the
    real sizes, for benchmarks/hostile.py."""
    root = Path(root)
    files = root / "files"
    secret = _prep(root / "secret.txt")
    secret.write_text(secret_text)
    secret_png = make_image(root / "secret.png", size=(64, 64), color=(0, 255, 0))
    cases: list[HostileCase] = []

    def add(path: Path, kind: str, expect: str) -> None:
        cases.append(HostileCase(Path(path), kind, expect))

    for fmt in ("png", "gif", "bmp", "tiff", "webp", "jpg"):
        add(make_raster_bomb(files / f"bomb.{fmt}", fmt), "image pixel bomb (header)", "error:Limits.max_pixels")
    add(make_decompression_bomb_png(files / "real-bomb.png", 7200 if full else 1100), "image pixel bomb (real pixels)", "error:Limits.max_pixels")
    add(make_svg_entity_bomb(files / "entities.svg", refs=1_000_000 if full else 30_000, value_len=3000 if full else 1000),
        "SVG entity expansion", "error:Limits.max_svg_bytes")
    add(make_svg_billion_laughs(files / "laughs.svg"), "SVG billion laughs", "error:SVG")
    add(make_svg_external(files / "xxe.svg", secret, port), "SVG XXE / external references", "error:SVG")
    p = _prep(files / "external-image.svg")
    p.write_text('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64">'
                 f'<image href="{secret_png.resolve().as_uri()}" width="64" height="64"/>'
                 f'<image xlink:href="../secret.png" width="64" height="64"/>'
                 f'<image href="http://127.0.0.1:{port}/x.png" width="64" height="64"/>'
                 '<rect x="0" y="0" width="8" height="8" fill="#dc1414"/></svg>\n')
    add(p, "SVG external references", "ok:image")
    add(make_svg_embedded_png(files / "data-uri.svg", *((20_000, 20_000) if full else (1_200, 1_000))),
        "SVG data: URI image bomb", "error:Limits.max_pixels")
    inner = make_svg_embedded_png(root / "inner.svg", *((20_000, 20_000) if full else (1_200, 1_000))).read_bytes()
    import base64

    p = _prep(files / "nested-data-uri.svg")
    p.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><image width="64" height="64" '
                 f'href="data:image/svg+xml;base64,{base64.b64encode(inner).decode()}"/></svg>')
    add(p, "SVG data: URI image bomb", "error:Limits.max_pixels")
    add(make_svg_long_prologue(files / "long-prologue.svg"), "SVG long prologue", "ok:image")
    add(make_html_external(files / "external.html", secret, port), "HTML external references", "ok:text")
    add(make_deep_html(files / "deep.html", 100_000 if full else 20_000), "HTML pathological", "ok:text")
    # full size: 8 MB of visible text, over Limits.max_text_chars (5 M characters), refused in one line
    add(make_html(files / "long.html", body="<p>" + "word " * (1_600_000 if full else 100_000) + "</p>"), "HTML pathological",
        "error:Limits.max_text_chars" if full else "ok:text")
    add(make_long_text(files / "prose.txt", 800_000 if full else 100_000), "long text", "ok:text")
    add(make_pdf_stream_bomb(files / "stream-bomb.pdf", (1 << 30) if full else (48 << 20)), "PDF stream bomb", "error:Limits.max_pdf_stream_bytes")
    add(make_pdf_page_bomb(files / "page-bomb.pdf", 100_000 if full else 5_000), "PDF page bomb", "error:Limits.max_pages")
    add(make_pdf_with_action(files / "actions.pdf", secret), "PDF actions / external references", "ok:document")
    add(truncate(make_pdf(root / "whole.pdf", ["Some page text."]), 0.5, files / "truncated.pdf"), "truncated / corrupt", "error:")
    for ch, ext in ((8, "wav"), (8, "flac"), (16, "wav"), (6, "flac")):
        add(make_multichannel_audio(files / f"ch{ch}.{ext}", ch), "multichannel audio", "ok:audio")
    add(make_multichannel_audio(files / "ch8-track.mkv", 8), "multichannel audio", "ok:video")
    for rate, expect in ((1, "error:no audio"), (7, "error:no audio"), (8000, "ok:audio"), (384_000, "ok:audio")):
        add(make_odd_rate_audio(files / f"rate{rate}.wav", rate), "odd-rate audio", expect)
    add(make_wav_header(files / "ten-hours.wav"), "lying header (10 h WAV)", "ok:audio")
    add(truncate(make_audio(root / "whole.mp3", seconds=2.0), 0.4, files / "truncated.mp3"), "truncated / corrupt", "ok:audio")
    add(make_lying_container(files / "sound.mp4"), "lying container", "ok:audio")
    add(make_image(files / "photo.jpg", fmt="PNG"), "lying container", "ok:image")
    add(make_text(files / "hello.mp4", "hello world"), "lying container", "error:claims to be .mp4")
    add(make_text(files / "notes.png", "a note, not a picture"), "lying container", "error:claims to be .png")
    for i, ext in enumerate(SUPPORTED_EXTENSIONS):
        add(make_random(files / f"random-{ext}.{ext}", 8192, seed=i), "random bytes", "error:")
        add(make_random_text_bytes(files / f"random-high-{ext}.{ext}", 8192, seed=i), "random bytes", "error:")
    p = _prep(files / "empty.wav")
    p.write_bytes(b"")
    add(p, "empty / tiny", "error:empty file")
    p = _prep(files / "one-byte.png")
    p.write_bytes(b"\x89")
    add(p, "empty / tiny", "error:")
    return cases


def hostile_limits(full: bool = False) -> "Any":
    """The Limits the corpus is decoded under: the defaults, with the test-size bombs paired
    with proportionally lower limits (full=False)."""
    from xmodal.media import Limits

    if full:
        return Limits()
    return Limits(max_pixels=1_000_000, max_svg_bytes=2_000_000, max_pdf_stream_bytes=16 << 20, max_pages=2_000)
