"""Content sniffing (what a file really is), folder expansion and content hashing."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from xmodal.errors import MediaError, UnsupportedMedia
from xmodal.types import Modality

HEAD_BYTES = 8192  # enough for magic numbers and for judging whether bytes are text

# filetype extension -> our format name, for kinds we decode
_IMAGE_FORMATS = {
    "png": "png", "apng": "png", "jpg": "jpeg", "webp": "webp", "gif": "gif", "bmp": "bmp",
    "tif": "tiff", "ico": "ico", "psd": "psd", "jpx": "jpeg2000", "avif": "avif",
}
_AUDIO_FORMATS = {
    "mp3": "mp3", "wav": "wav", "ogg": "ogg", "flac": "flac", "m4a": "m4a", "aac": "aac",
    "aiff": "aiff", "amr": "amr",
}
_VIDEO_FORMATS = {
    "mp4": "mp4", "m4v": "m4v", "mkv": "mkv", "webm": "webm", "mov": "mov", "avi": "avi",
    "3gp": "3gp", "wmv": "wmv", "mpg": "mpeg", "flv": "flv",
}
# human names for foreign content people commonly mistake for media
_DESCRIPTIONS = {
    "elf": "ELF executable", "exe": "Windows executable", "zip": "zip archive",
    "tar": "tar archive", "gz": "gzip archive", "bz2": "bzip2 archive", "xz": "xz archive",
    "7z": "7-zip archive", "rar": "RAR archive", "zst": "zstd archive", "sqlite": "SQLite database",
    "docx": "Word document", "xlsx": "Excel spreadsheet", "pptx": "PowerPoint presentation",
    "doc": "Word document", "xls": "Excel spreadsheet", "ppt": "PowerPoint presentation",
    "epub": "EPUB book", "midi": "MIDI (notes, no audio samples)", "heic": "HEIC image",
    "wasm": "WebAssembly module", "deb": "Debian package", "rpm": "RPM package",
    "ttf": "font", "otf": "font", "woff": "font", "woff2": "font", "ps": "PostScript",
    "rtf": "RTF document",
}
_NOUN = {
    Modality.IMAGE: "an image",
    Modality.AUDIO: "audio",
    Modality.VIDEO: "video",
    Modality.TEXT: "text",
    Modality.DOCUMENT: "a PDF document",
}

# XML declaration / processing instructions, comments, and a DOCTYPE that may carry an internal
# subset in [...] (Illustrator exports declare entities there)
_XML_PROLOGUE = r"(?:\s*(?:<\?xml[^>]*\?>|<!--.*?-->|<!doctype[^>\[]*(?:\[.*?\])?\s*>))*\s*"
_SVG_RE = re.compile(_XML_PROLOGUE + r"<svg[\s>]", re.DOTALL | re.IGNORECASE)
_HTML_RE = re.compile(
    r"(?:\s*(?:<\?xml[^>]*\?>|<!--.*?-->))*\s*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])",
    re.DOTALL | re.IGNORECASE,
)
_TEXT_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")  # UTF-8, UTF-16 LE/BE (UTF-32 starts alike)


def _claimed(path: Path) -> tuple[str, Modality | None]:
    """The extension and the modality it claims (per SUPPORTED), if any."""
    from xmodal.media import SUPPORTED

    ext = path.suffix.lower().lstrip(".")
    for modality, exts in SUPPORTED.items():
        if ext in exts:
            return ext, modality
    return ext, None


def _stat_regular(path: Path) -> int:
    """Size of a readable regular file; MediaError otherwise."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MediaError(str(path), "no such file") from None
    except OSError as e:
        raise MediaError(str(path), f"cannot read file: {e.strerror or e}") from None
    if path.is_dir():
        raise MediaError(str(path), "is a folder, not a file")
    if not path.is_file():
        raise MediaError(str(path), "not a regular file (device, pipe or socket)")
    if st.st_size == 0:
        raise MediaError(str(path), "empty file (0 bytes)")
    return st.st_size


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)
    except OSError as e:
        raise MediaError(str(path), f"cannot read file: {e.strerror or e}") from None


def looks_like_text(head: bytes) -> bool:
    """True if these leading bytes read as text: a text BOM, or no NULs and UTF-8 (or few controls)."""
    if head.startswith(_TEXT_BOMS):
        return True
    if b"\x00" in head:
        return False
    import codecs

    try:
        # incremental, not final: the head may end in the middle of a multi-byte character
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return True
    except UnicodeDecodeError:
        pass
    # legacy 8-bit text (latin-1, cp1252...) has almost no C0 control bytes; binary data has ~10%
    controls = sum(1 for b in head if b < 0x20 and b not in b"\t\n\r\f\v\x1b")
    return controls <= 0.01 * len(head)


def _decode_head(head: bytes) -> str:
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom) :].decode(enc, errors="ignore")
    return head.decode("utf-8", errors="ignore") or head.decode("latin-1")


def _text_kind(path: Path, head: bytes) -> tuple[Modality, str]:
    start = _decode_head(head)[:4096]
    if _SVG_RE.match(start):
        return Modality.IMAGE, "svg"
    ext = path.suffix.lower().lstrip(".")
    if _HTML_RE.match(start) or (ext in ("html", "htm", "xhtml") and "<" in start):
        return Modality.TEXT, "html"
    if ext in ("md", "markdown"):
        return Modality.TEXT, "md"
    return Modality.TEXT, "txt"


def av_streams(path: Path) -> tuple[bool, bool, str]:
    """(has a real video stream, has an audio stream, container name) via PyAV headers only.

    Cover art in mp3/m4a shows up as a video stream flagged attached_pic: that is not a video.
    """
    import av

    with av.open(str(path), metadata_errors="ignore") as c:
        attached = int(av.stream.Disposition.attached_pic)
        video = any(
            s.type == "video" and not (int(s.disposition) & attached) for s in c.streams
        )
        audio = any(s.type == "audio" for s in c.streams)
        return video, audio, c.format.name


def _av_kind(path: Path, fmt: str) -> tuple[Modality, str]:
    try:
        video, audio, _ = av_streams(path)
    except Exception as e:  # PyAV raises FFmpegError subclasses, OSError, ValueError...
        raise MediaError(str(path), f"corrupt or unreadable {fmt} file: {e}") from None
    if video:
        return Modality.VIDEO, fmt
    if audio:
        # an mp4/mov/3gp with only sound is what people call m4a
        return Modality.AUDIO, "m4a" if fmt in ("mp4", "m4v", "mov", "3gp") else fmt
    raise UnsupportedMedia(str(path), f"{fmt} container holds no audio or video stream")


def probe(path: str | Path) -> tuple[Modality, str]:
    """(modality, format) of a file judged from its content, never its extension."""
    import filetype

    path = Path(path)
    _stat_regular(path)
    head = _read_head(path)
    ext, claimed = _claimed(path)

    kind = filetype.guess(head)
    if kind is not None:
        k = kind.extension
        if k in _IMAGE_FORMATS:
            return Modality.IMAGE, _IMAGE_FORMATS[k]
        if k in _AUDIO_FORMATS or k in _VIDEO_FORMATS:
            # containers such as mp4/webm/mkv/ogg may be sound only, and mp3/m4a may carry
            # cover art: only the streams inside tell audio from video
            return _av_kind(path, _AUDIO_FORMATS.get(k) or _VIDEO_FORMATS[k])
        if k == "pdf":
            return Modality.DOCUMENT, "pdf"
        desc = _DESCRIPTIONS.get(k, kind.mime)
        if claimed is not None and ext != k:
            raise UnsupportedMedia(
                str(path), f"file claims to be .{ext} but its content is not {_NOUN[claimed]} ({desc})"
            )
        raise UnsupportedMedia(str(path), f"unsupported content ({desc})")

    if looks_like_text(head):
        return _text_kind(path, head)

    # magic numbers are not exhaustive for audio/video (e.g. mp3 without an ID3 tag that
    # starts with junk); let FFmpeg's own probing have a say when the name claims so
    if claimed in (Modality.AUDIO, Modality.VIDEO):
        try:
            video, audio, _ = av_streams(path)
        except Exception:
            video = audio = False
        if video and claimed == Modality.VIDEO:
            return Modality.VIDEO, ext
        if audio and not video:
            return Modality.AUDIO, ext
    if claimed is not None:
        raise UnsupportedMedia(
            str(path), f"file claims to be .{ext} but its content is not {_NOUN[claimed]} (unrecognised bytes)"
        )
    raise UnsupportedMedia(str(path), "unsupported content (unrecognised binary data)")


def iter_files(paths: Iterable[str | Path], recursive: bool = True) -> Iterator[Path]:
    """Expand files and folders into files: sorted, hidden entries skipped, no extension filter.

    A path named explicitly is yielded even if hidden; only folder expansion skips dot-entries.
    Each file is yielded once. A path that does not exist raises MediaError.
    """
    seen: set[str] = set()

    def emit(p: Path) -> Iterator[Path]:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            yield p

    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise MediaError(str(p), "no such file or folder")
        if not p.is_dir():
            yield from emit(p)
            continue
        found: list[Path] = []
        for root, dirs, files in os.walk(p):
            # prune in place so hidden trees (.git, .venv) are never walked
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
            for name in files:
                f = Path(root) / name
                if not name.startswith(".") and f.is_file():  # skips sockets, pipes, broken links
                    found.append(f)
        for f in sorted(found):
            yield from emit(f)


def content_hash(path: str | Path) -> str:
    """blake2b of the file's bytes (streamed in 1 MiB chunks), 32 hex characters."""
    h = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except FileNotFoundError:
        raise MediaError(str(path), "no such file") from None
    except OSError as e:
        raise MediaError(str(path), f"cannot read file: {e.strerror or e}") from None
    return h.hexdigest()
