"""Build the reference sound bank that `xmodal.encode.sound_bank` ships, from pinned packages.

    xmodal data sound-bank            # rebuilds src/xmodal/encode/assets/sound-bank/*.npz

Reference sounds: the labelled sounds of the Scratch 1.4 sound library (Debian package `scratch`,
`Media/Sounds/<Category>/<Name>.wav|mp3`). Labels are cleaned to words ("Animal/WolfHowl" -> "wolf
howl"). Sounds are decoded by xmodal's own audio decoder (`xmodal.media`), so the bank sees
exactly what indexing sees.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from xmodal.config import cache_dir
from xmodal.encode.sound_bank import (
    SAMPLE_RATE,
    AisfxEmbedder,
    LogMelStatsEmbedder,
    SoundBank,
    SoundEmbedder,
    clip_embedding,
    shipped_bank_path,
)
from xmodal.errors import MediaError, ModelUnavailable
from xmodal.media import Limits, load

from .debian import DebianFetchError, fetch_deb
from .sources import pin

log = logging.getLogger(__name__)

SCRATCH_DEB = "scratch"
SCRATCH_SOUNDS_REL = Path("usr/share/scratch/Media/Sounds")
AUDIO_EXTS = (".wav", ".mp3", ".ogg", ".flac", ".aif", ".aiff")

# Spellings in the Scratch names that MiniLM would not know, mapped to ordinary words.
_WORD_FIXES = {"xylo": "xylophone", "dijjeridoo": "didgeridoo", "whir": "whirr", "fairydust": "fairy dust",
               "beatbox": "beat box", "hiphop": "hip hop", "doy": "doy"}


def clean_label(rel_path: str | Path) -> tuple[str, str]:
    """'Animal/WolfHowl.wav' -> ('wolf howl', 'animal'); 'Human/Laugh-male2.wav' -> ('laugh male', 'human')."""
    p = Path(rel_path)
    category = p.parent.name.lower().strip() if p.parent.name else ""
    stem = p.stem
    stem = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem)  # CamelCase -> words
    stem = re.sub(r"[-_]+", " ", stem)
    stem = re.sub(r"\d+", " ", stem)  # Dog1/Dog2 are the same label
    words = [_WORD_FIXES.get(w, w) for w in stem.lower().split()]
    return " ".join(words).strip(), category


def list_reference_sounds(source_dir: str | Path) -> list[Path]:
    root = Path(source_dir)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTS)


def decode_mono(path: str | Path) -> np.ndarray:
    """A sound file as xmodal indexes it: mono float32 at 16 kHz."""
    media = load(Path(path), Limits())
    if media.audio is None:
        raise MediaError(str(path), f"{media.modality} file, not audio")
    return media.audio


def build_sound_bank(source_dir: str | Path, embedder: SoundEmbedder, source: str = "") -> SoundBank:
    """Embed every labelled sound under `source_dir` (`<Category>/<Name>.<ext>`)."""
    root = Path(source_dir)
    files = list_reference_sounds(root)
    if not files:
        raise ModelUnavailable(f"{root}: no reference sounds ({', '.join(AUDIO_EXTS)}) found")
    embs, labels, cats, rels = [], [], [], []
    for f in files:
        rel = f.relative_to(root)
        try:
            audio = decode_mono(f)
        except MediaError as exc:
            log.warning("skipping reference sound %s", exc)
            continue
        blocks, _ = embedder.embed_blocks(audio, SAMPLE_RATE)
        label, cat = clean_label(rel)
        embs.append(clip_embedding(blocks))
        labels.append(label)
        cats.append(cat)
        rels.append(rel.as_posix())
    return SoundBank(np.stack(embs), labels, cats, rels, embedder.version, source)


def locate_scratch_sounds(fetch: bool = True) -> Path:
    """Folder of the Scratch sound library: an installed `scratch` package, or (fetch=True) the
    pinned Debian package fetched into xmodal's cache."""
    installed = Path("/usr/share/scratch/Media/Sounds")
    if installed.is_dir() and list_reference_sounds(installed):
        return installed
    how = f"fetching needs apt: apt-get update && apt-get download {SCRATCH_DEB}={pin(SCRATCH_DEB)}"
    if not fetch:
        cached = cache_dir("debs", "x", SCRATCH_DEB) / SCRATCH_SOUNDS_REL
        if cached.is_dir() and list_reference_sounds(cached):
            return cached
        raise ModelUnavailable(f"Scratch sound library not found in {installed} or {cached}; {how}")
    try:
        found = fetch_deb(SCRATCH_DEB) / SCRATCH_SOUNDS_REL
    except (DebianFetchError, OSError) as exc:
        raise ModelUnavailable(f"could not fetch the Scratch sound library ({exc}); {how}") from exc
    if not (found.is_dir() and list_reference_sounds(found)):
        raise ModelUnavailable(f"{found}: the extracted Scratch package holds no sounds; {how}")
    return found


def build_shipped_banks(out_dir: Path | None = None) -> list[Path]:
    """Rebuild the bank files xmodal ships: one per sound embedder (aisfx, the default, and the
    log-mel stand-in that profiles choose with `sound_embedder="logmel"`)."""
    src = locate_scratch_sounds(fetch=True)
    source = f"debian:{SCRATCH_DEB}={pin(SCRATCH_DEB)}"
    written = []
    for embedder in (AisfxEmbedder(), LogMelStatsEmbedder()):
        bank = build_sound_bank(src, embedder, source)
        path = shipped_bank_path(embedder.version)
        if out_dir is not None:
            path = Path(out_dir) / path.name
        written.append(bank.save(path))
    return written
