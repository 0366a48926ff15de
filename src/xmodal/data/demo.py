"""The small mixed-media sample folder the README's main example indexes and searches.

Every file is real media from the pinned Debian packages (or made from it: clips, a PDF, notes),
and `.manifest.json` (hidden, so indexing the folder skips the answers) records what each one shows or says — the ground truth for the demo's
printed checks and for tests. Files are named after their object for people browsing the
folder; the search engine must not rely on names, and the demo's checks should not either.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

from xmodal.data.tuxpaint import Stamp, normalise_caption

DEMO_VERSION = 1
# Languages written into the PDF: fpdf2's core fonts cover Latin-1 only.
_PDF_LANGS = {"es": "Spanish", "fr": "French", "de": "German", "it": "Italian", "pt": "Portuguese"}

MANIFEST = ".manifest.json"  # hidden: `xmodal index` skips it, so the answers never enter the index


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower().replace("_", "-")).strip("-")
    return s or "item"


def _stride(items: list, n: int) -> list:
    """N items spread evenly over ITEMS (deterministic)."""
    if n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def _distinct(stamps: list[Stamp]) -> list[Stamp]:
    """First stamp of each caption group, in order: the demo shows each object once."""
    seen: set[str] = set()
    out = []
    for s in stamps:
        k = normalise_caption(s.caption)
        if k not in seen:
            seen.add(k)
            out.append(s)
    return out


class _Names:
    """Unique file names inside the demo folder."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, stem: str, ext: str) -> str:
        name, k = f"{stem}{ext}", 2
        while name in self.used:
            name, k = f"{stem}-{k}{ext}", k + 1
        self.used.add(name)
        return name


def _lower_first(text: str) -> str:
    # "A Christmas light" -> "a Christmas light": only a leading article loses its capital
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first in ("A", "An", "Some", "The", "Our") else text


def _paragraph(s: Stamp) -> str:
    parts = []
    for lang, label in _PDF_LANGS.items():
        t = s.translations.get(lang)
        if t and t.encode("latin-1", "ignore").decode("latin-1") == t:
            parts.append(f"in {label} \"{t.rstrip('.')}\"")
    what = _lower_first(s.caption.rstrip(".!"))
    where = s.id.rsplit("/", 1)[0].replace("/", ", ").replace("_", " ")
    text = f"This page shows {what}, a picture from the Tux Paint stamp collection ({where})."
    if parts:
        text += " Other languages name it " + ", ".join(parts) + "."
    return text


def _make_pdf(path: Path, stamps: list[Stamp]) -> list[dict[str, Any]]:
    try:
        from fpdf import FPDF
    except ImportError as e:  # fpdf2 is the `data` extra
        raise ImportError("building the demo PDF needs fpdf2: pip install 'xmodal[data]'") from e
    from xmodal.data.render import flatten, load_rgba

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pages = []
    for i, s in enumerate(stamps, 1):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 22)
        pdf.cell(0, 14, s.caption, new_x="LMARGIN", new_y="NEXT")
        img = flatten(load_rgba(s.image, max_side=600), (255, 255, 255))
        w = 120
        h = w * img.height / img.width
        if h > 150:
            w, h = w * 150 / h, 150
        pdf.image(img, x=(210 - w) / 2, y=35, w=w, h=h)
        pdf.set_xy(20, 35 + h + 10)
        pdf.set_font("Helvetica", "", 12)
        para = _paragraph(s)
        pdf.multi_cell(170, 7, para)
        pages.append({"page": i, "caption": s.caption, "text": para, "stamp": s.id})
    pdf.output(str(path))
    return pages


def _notes(out: Path, names: _Names, stamps: list[Stamp]) -> list[dict[str, Any]]:
    """Three short notes (txt, md, html) that mention a few stamps' captions."""
    files = []
    a, b, c = stamps[0:3], stamps[3:6], stamps[6:9]

    txt = "Things to draw this week:\n" + "".join(
        f"- {_lower_first(s.caption.rstrip('.!'))}\n" for s in a)
    name = names("drawing-list", ".txt")
    (out / name).write_text(txt, encoding="utf-8")
    files.append({"file": name, "modality": "text", "text": txt, "mentions": [s.caption for s in a],
                  "source": [s.id for s in a]})

    md = "# Picture ideas\n\n" + "".join(
        f"## {s.caption.rstrip('.!')}\n\n{s.caption} In French: {s.translations.get('fr', '-')}\n\n"
        for s in b)
    name = names("picture-ideas", ".md")
    (out / name).write_text(md, encoding="utf-8")
    files.append({"file": name, "modality": "text", "text": md, "mentions": [s.caption for s in b],
                  "source": [s.id for s in b]})

    items = "".join(f"<li>{html.escape(s.caption)} <i>({html.escape(s.translations.get('de', ''))})</i></li>"
                    for s in c)
    page = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>Stamp notes</title></head>"
            f"<body><h1>Stamp notes</h1><p>Three stamps we liked:</p><ul>{items}</ul></body></html>\n")
    name = names("stamp-notes", ".html")
    (out / name).write_text(page, encoding="utf-8")
    files.append({"file": name, "modality": "text", "text": " ".join(s.caption for s in c),
                  "mentions": [s.caption for s in c], "source": [s.id for s in c]})
    return files


def build_demo(out_dir: Path | str, n_images: int = 40, n_sounds: int = 12, n_spoken: int = 8,
               n_prompts: int = 6, *, tux_root: Path | None = None, asterisk_root: Path | None = None,
               force: bool = False) -> Path:
    """Build the demo sample folder at OUT_DIR and return it.

    Contents (deterministic): N_IMAGES stamp pictures (PNG and SVG, outside symbols/, one per
    caption, including the pictures of the sounds), N_SOUNDS stamp sounds (`sound-X.ogg`),
    N_SPOKEN spoken captions (`spoken-X.ogg`), N_PROMPTS Asterisk prompts (`prompt-X.wav`),
    three MP4 clips (two one-shot with sound, one three-shot), a three-page PDF and three notes
    (.txt, .md, .html). `.manifest.json` (hidden, so indexing the folder skips the answers) lists each file with its caption or transcript.
    An existing demo of the same version is reused unless FORCE.
    TUX_ROOT / ASTERISK_ROOT override the package extraction roots (tests use small trees).
    """
    from xmodal.data.asterisk import asterisk_prompts
    from xmodal.data.debian import fetch_deb
    from xmodal.data.tuxpaint import tuxpaint_stamps
    from xmodal.data.video import make_stamp_clip

    out = Path(out_dir)
    manifest_path = out / MANIFEST
    if not force and manifest_path.is_file():
        try:
            if json.loads(manifest_path.read_text()).get("version") == DEMO_VERSION:
                return out
        except json.JSONDecodeError:
            pass
    if out.exists() and any(out.iterdir()) and not manifest_path.is_file():
        raise FileExistsError(f"{out}: folder is not empty and holds no demo manifest; pick another")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.perf_counter()

    # Short captions only: a few stamps carry whole game rules ("Nun stands for nisht...").
    stamps = _distinct([s for s in tuxpaint_stamps(tux_root or fetch_deb("tuxpaint-stamps-default"))
                        if s.category != "symbols" and len(s.caption.split()) <= 6])
    prompts = asterisk_prompts(asterisk_root or fetch_deb("asterisk-core-sounds-en-wav"))
    names = _Names()
    files: list[dict[str, Any]] = []

    def entry(name: str, modality: str, s: Stamp, **kw: Any) -> dict[str, Any]:
        return {"file": name, "modality": modality, "caption": s.caption, "source": s.id, **kw}

    # Sounds first: their pictures go into the image set so a sound can find its picture.
    with_sound = [s for s in stamps if s.sound]
    sounds = _stride(with_sound, n_sounds)
    svgs = [s for s in stamps if s.image.suffix == ".svg" and s not in sounds]
    pngs = [s for s in stamps if s.image.suffix == ".png" and s not in sounds]
    rest = max(n_images - len(sounds), 0)
    n_svg = min(len(svgs), round(rest * 0.3))
    images = sorted(sounds + _stride(svgs, n_svg) + _stride(pngs, rest - n_svg), key=lambda s: s.id)
    for s in images:
        name = names(_slug(s.name), s.image.suffix.lower())
        shutil.copyfile(s.image, out / name)
        files.append(entry(name, "image", s))
    for s in sounds:
        name = names(f"sound-{_slug(s.name)}", ".ogg")
        shutil.copyfile(s.sound, out / name)
        files.append(entry(name, "audio", s, kind="sound of the object"))
    spoken = _stride([s for s in stamps if s.spoken], n_spoken)
    for s in spoken:
        name = names(f"spoken-{_slug(s.name)}", ".ogg")
        shutil.copyfile(s.spoken, out / name)
        files.append(entry(name, "audio", s, kind="speech", transcript=s.caption))
    # Whole sentences of a few words: not digits, fragments ("Press 1 for") or menu monologues.
    sentences = [p for p in prompts if 4 <= len(p.transcript.split()) <= 12
                 and p.transcript[:1].isupper() and p.transcript.endswith((".", "?", "!"))]
    for p in _stride(sentences, n_prompts):
        name = names(f"prompt-{_slug(p.key)}", ".wav")
        shutil.copyfile(p.wav, out / name)
        files.append({"file": name, "modality": "audio", "kind": "speech", "transcript": p.transcript,
                      "source": f"asterisk:{p.key}"})

    # Clips: two one-shot clips and one three-shot clip, from stamps with sounds.
    clip_stamps = _stride([s for s in with_sound if s not in sounds] or with_sound, 5)
    plans = [clip_stamps[:1], clip_stamps[1:2], clip_stamps[2:5]]
    for plan in plans:
        if not plan:
            continue
        stem = f"clip-{_slug(plan[0].name)}" if len(plan) == 1 else "clip-three-shots"
        name = names(stem, ".mp4")
        spans = make_stamp_clip(out / name, [(s.image, s.sound, 3.0, s.caption) for s in plan])
        files.append({"file": name, "modality": "video", "caption": " ".join(s.caption for s in plan),
                      "shots": [{"start": sp["start"], "end": sp["end"], "caption": sp["caption"],
                                 "source": s.id} for sp, s in zip(spans, plan)],
                      "source": [s.id for s in plan]})

    # A three-page PDF and three notes, about stamps not already pictured above.
    others = [s for s in stamps if s not in images]
    pdf_stamps = _stride(others, 3)
    name = names("stamp-album", ".pdf")
    pages = _make_pdf(out / name, pdf_stamps)
    files.append({"file": name, "modality": "document", "pages": pages,
                  "caption": " ".join(p["caption"] for p in pages), "source": [s.id for s in pdf_stamps]})
    note_pool = _stride([s for s in others if s not in pdf_stamps], 9)
    files += _notes(out, names, note_pool)

    manifest = {
        "version": DEMO_VERSION,
        "about": "xmodal demo sample: real media from Debian packages; captions and transcripts "
                 "are the ground truth for checks. Names are for people: do not search by them.",
        "sources": _sources_info(),
        "build_seconds": round(time.perf_counter() - t0, 2),
        "files": files,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def _sources_info() -> list[dict[str, str]]:
    from xmodal.data.sources import DEBS

    return [{"package": p, "version": DEBS[p].version, "license": DEBS[p].license}
            for p in ("tuxpaint-stamps-default", "asterisk-core-sounds-en-wav", "asterisk-core-sounds-en")]


def load_manifest(folder: Path | str) -> dict[str, Any]:
    """The demo folder's manifest."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no demo manifest; run build_demo first")
    return json.loads(path.read_text(encoding="utf-8"))
