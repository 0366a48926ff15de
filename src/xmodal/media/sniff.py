"""Content sniffing (what a file really is), folder expansion and content hashing."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from xmodal.errors import MediaError, UnsupportedMedia
from xmodal.types import Modality

HEAD_BYTES = 8192  # enough for magic numbers and for judging whether bytes are text
PROLOGUE_BYTES = 1 << 20  # how far to read past XML declarations, comments and a DTD to the root
MAX_TEXT_CHAOS = 10.0  # charset_normalizer's "mess" (%) above which bytes are not text

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
    if controls > 0.01 * len(head):
        return False
    # few controls is not enough: random bytes above 0x1f would pass and decode as "text" in some
    # legacy code page (cp949 garbage that matches queries); a charset detector must find a
    # code page in which these bytes read as language
    return _legacy_encoding(head) is not None


def _legacy_encoding(data: bytes) -> str | None:
    """The legacy code page these (non-UTF-8) bytes read well in, or None when none does."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # optional dependency: without it only ASCII-dominated bytes count as text
        high = sum(1 for b in data if b >= 0x80)
        return "latin-1" if high <= 0.3 * len(data) else None
    best = from_bytes(data).best()
    if best is None or best.percent_chaos > MAX_TEXT_CHAOS:
        return None
    return best.encoding


def _decode_head(head: bytes) -> str:
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom) :].decode(enc, errors="ignore")
    return head.decode("utf-8", errors="ignore") or head.decode("latin-1")


def skip_xml_prologue(text: str) -> int | None:
    """Index of the root element's '<' after any XML declaration, processing instructions,
    comments and DOCTYPE (with an internal subset): a linear scan, so a long prologue (an
    Illustrator export's entity declarations) costs no regex backtracking. None when the
    prologue does not end within `text`."""
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if text.startswith("<?", i):
            j = text.find("?>", i + 2)
            if j < 0:
                return None
            i = j + 2
        elif text.startswith("<!--", i):
            j = text.find("-->", i + 4)
            if j < 0:
                return None
            i = j + 3
        elif text[i : i + 9].upper() == "<!DOCTYPE":
            j, quote, depth = i + 9, "", 0
            while j < n:  # the DOCTYPE ends at the first '>' outside quotes and the [...] subset
                c = text[j]
                if quote:
                    quote = "" if c == quote else quote
                elif c in "\"'":
                    quote = c
                elif c == "[":
                    depth += 1
                elif c == "]":
                    depth -= 1
                elif c == ">" and depth <= 0:
                    break
                j += 1
            if j >= n:
                return None
            i = j + 1
        else:
            return i if i < n else None


_SVG_ROOT = re.compile(r"<(?:[\w.-]+:)?svg[\s>/]", re.IGNORECASE)


def _is_svg(path: Path, start: str) -> bool:
    """Whether the document's root element is <svg>, reading further when a prologue (XML
    declaration, comments, DTD) runs past the head."""
    root = skip_xml_prologue(start)
    if root is None and len(start) >= 1024:
        try:
            with open(path, "rb") as f:
                more = f.read(PROLOGUE_BYTES)
        except OSError:
            return False
        start = _decode_head(more)
        root = skip_xml_prologue(start)
    return root is not None and _SVG_ROOT.match(start, root) is not None


def _text_kind(path: Path, head: bytes) -> tuple[Modality, str]:
    start = _decode_head(head)
    if _is_svg(path, start):
        return Modality.IMAGE, "svg"
    start = start[:4096]
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
        modality, fmt = _text_kind(path, head)
        if claimed is not None and claimed != modality and claimed != Modality.TEXT:
            # "hello world" named .mp4 is a mistake or a disguise, not a text item to index
            raise UnsupportedMedia(
                str(path), f"file claims to be .{ext} but its content is not {_NOUN[claimed]} (it is {fmt} text)"
            )
        return modality, fmt

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


def _special_kind(mode: int) -> str:
    import stat

    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _link_problem(link: Path, root: str) -> tuple[str, str | None]:
    """(kind, reason) of a symbolic link met inside folder `root` (a real path): kind is "file"
    or "folder" when it may be followed (reason None), else the reason it is not."""
    import errno

    target = os.readlink(link)
    try:
        st = link.stat()  # follows the whole chain
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "loop", f"symbolic link loop (→ {target}); not followed"
        return "dangling", f"dangling symbolic link (→ {target}: {e.strerror or e}); not followed"
    real = os.path.realpath(link)
    if os.path.commonpath([root, real]) != root:
        return "outside", f"symbolic link to outside the indexed folder (→ {real}); not followed"
    import stat

    if stat.S_ISDIR(st.st_mode):
        return "folder", f"symbolic link to a folder (→ {real}); not followed, its files are indexed under their own paths"
    if not stat.S_ISREG(st.st_mode):
        return "special", f"symbolic link to {_special_kind(st.st_mode)} (→ {real}); not indexed"
    return "file", None


def iter_files(
    paths: Iterable[str | Path],
    recursive: bool = True,
    skipped: Callable[[Path, str], None] | None = None,
    exclude: Iterable[str | Path] = (),
) -> Iterator[Path]:
    """Expand files and folders into files: sorted, hidden entries skipped, no extension filter.

    A path named explicitly is yielded even if hidden or a symbolic link (the user chose it);
    only folder expansion skips dot-entries. Inside a folder, symbolic links are followed only
    to regular files inside that same folder: links out of it, dangling links, loops, linked
    folders, FIFOs, sockets and devices are passed to `skipped(path, reason)` instead (a folder
    of strangers' files must not pull in /etc/passwd or block on a pipe). Folders in `exclude`
    (the index's own folder) are not walked. Each file is yielded once. A path that does not
    exist raises MediaError.
    """
    import stat

    seen: set[str] = set()
    excluded = {os.path.realpath(e) for e in exclude}

    def emit(p: Path) -> Iterator[Path]:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            yield p

    def skip(p: Path, reason: str) -> None:
        if skipped is not None:
            skipped(p, reason)

    for raw in paths:
        p = Path(raw)
        if not p.exists():
            if p.is_symlink():
                raise MediaError(str(p), f"dangling symbolic link (→ {os.readlink(p)})")
            raise MediaError(str(p), "no such file or folder")
        if not p.is_dir():
            yield from emit(p)
            continue
        root = os.path.realpath(p)
        if root in excluded:
            continue
        found: list[Path] = []
        for here, dirs, files in os.walk(p):
            keep = []
            for d in sorted(dirs):
                sub = Path(here) / d
                if d.startswith("."):  # hidden trees (.git, .venv) are never walked
                    continue
                if os.path.islink(sub):
                    skip(sub, _link_problem(sub, root)[1] or "symbolic link to a folder; not followed")
                elif os.path.realpath(sub) not in excluded:
                    keep.append(d)
            dirs[:] = keep if recursive else []  # prune in place: os.walk descends only into these
            for name in files:
                if name.startswith("."):
                    continue
                f = Path(here) / name
                try:
                    st = f.lstat()
                except OSError as e:  # vanished while walking
                    skip(f, f"cannot read: {e.strerror or e}")
                    continue
                if stat.S_ISLNK(st.st_mode):
                    kind, reason = _link_problem(f, root)
                    if reason:
                        skip(f, reason)
                        continue
                elif not stat.S_ISREG(st.st_mode):
                    skip(f, f"{_special_kind(st.st_mode)}, not a regular file; not indexed")
                    continue
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
