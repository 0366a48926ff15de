"""Build the reference sound bank that `xmodal.encode.sound_bank` ships, from pinned packages.

    xmodal data sound-bank            # rebuilds src/xmodal/encode/assets/sound-bank/*.npz (Scratch)
    xmodal data sound-bank --sources scratch,game-sfx,opensfx --out DIR   # the 526-sound bank (not shipped)

Reference sounds (`BANK_SOURCES`, in this order):
- ``scratch``: the labelled sounds of the Scratch 1.4 sound library (Debian package `scratch`,
  `Media/Sounds/<Category>/<Name>.wav|mp3`), labels cleaned to words ("Animal/WolfHowl" ->
  "wolf howl");
- ``game-sfx`` and ``opensfx``: the named training sound sources of `xmodal.data.named` (game,
  LMMS and sound-theme files named by what they are; OpenTTD's recorded effects with their
  titles), with their training captions (`NamedSource.training_records`: game events and UI
  alerts dropped, creature voices read as cries) as labels, at most `BANK_MAX_PER_LABEL`
  sounds per label.

Sounds that duplicate an evaluation item (the same file, or aisfx clip-embedding cosine >= 0.95
with a sound of `xmodal.data.dedup.EVAL_SETS["audio"]`) are left out of both banks. Names are not
tested: the labels are the bridge's vocabulary, as ImageNet's class names are the image bridge's.
Sounds are decoded by xmodal's own audio decoder (`xmodal.media`), so the bank sees exactly what
indexing sees. One bank per sound embedder (aisfx, and the log-mel stand-in that profiles choose
with `sound_embedder="logmel"`), with the same sounds in the same order.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

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


@dataclass(frozen=True)
class ReferenceSound:
    path: Path
    label: str  # what the bridge says for it: "wolf howl"
    category: str  # the source's own grouping: "animal", "game-sfx"
    # where it came from, relative: "Animal/WolfHowl.wav" (Scratch, as the shipped bank has always
    # named its sounds), "opensfx:osfx_26.wav" (a named source: its name first)
    file: str


def scratch_reference_sounds(source_dir: str | Path) -> list[ReferenceSound]:
    root = Path(source_dir)
    files = list_reference_sounds(root)
    if not files:
        raise ModelUnavailable(f"{root}: no reference sounds ({', '.join(AUDIO_EXTS)}) found")
    out = []
    for f in files:
        label, cat = clean_label(f.relative_to(root))
        out.append(ReferenceSound(f, label, cat, f.relative_to(root).as_posix()))
    return out


def named_reference_sounds(name: str, max_per_label: int = 3) -> list[ReferenceSound]:
    """A named training sound source's records as reference sounds (training captions as labels)."""
    from xmodal.data.named import NAMED_SOURCES

    src = NAMED_SOURCES[name]
    out = []
    for it in src.training_records(max_per_group=max_per_label):
        label = " ".join(re.sub(r"[^\w\s'+-]", " ", it.caption.lower()).split())
        out.append(ReferenceSound(it.path, label, name, f"{name}:{it.path.parent.name}/{it.path.name}"))
    return out


#: the sources a bank can hold, in order (see the module doc)
BANK_SOURCES = ("scratch", "game-sfx", "opensfx")
#: the sources of the bank xmodal ships. The 526-sound bank of all three was measured for issue #16
#: (benchmarks/results/bind-sources-audio.md, "Quality 2b" in benchmarks/README.md) and not shipped:
#: name -> sound gained, description -> clip R@1 lost
SHIPPED_BANK_SOURCES = ("scratch",)
BANK_MAX_PER_LABEL = 3


def reference_sounds(sources: Sequence[str] = BANK_SOURCES, max_per_label: int = BANK_MAX_PER_LABEL) -> list[ReferenceSound]:
    """Every reference sound of `sources` (fetching their pinned packages)."""
    out: list[ReferenceSound] = []
    for name in sources:
        out += (scratch_reference_sounds(locate_scratch_sounds(fetch=True)) if name == "scratch"
                else named_reference_sounds(name, max_per_label))
    return out


def embed_sounds(paths: Sequence[Path], embedder: SoundEmbedder) -> tuple[np.ndarray, np.ndarray]:
    """(clip embeddings (n, dim), decoded mask (n,)) of sound files; an undecodable file gets a zero row."""
    embs = np.zeros((len(paths), embedder.dim), np.float32)
    ok = np.zeros(len(paths), bool)
    for i, f in enumerate(paths):
        try:
            audio = decode_mono(f)
        except MediaError as exc:
            log.warning("skipping reference sound %s", exc)
            continue
        blocks, _ = embedder.embed_blocks(audio, SAMPLE_RATE)
        embs[i] = clip_embedding(blocks)
        ok[i] = True
    return embs, ok


def build_bank(refs: Sequence[ReferenceSound], embedder: SoundEmbedder, source: str = "",
               embeddings: tuple[np.ndarray, np.ndarray] | None = None) -> SoundBank:
    """A bank of `refs` (undecodable ones skipped); `embeddings` = `embed_sounds` output if already made."""
    embs, ok = embeddings if embeddings is not None else embed_sounds([r.path for r in refs], embedder)
    keep = [i for i in range(len(refs)) if ok[i]]
    if not keep:
        raise ModelUnavailable("no reference sound could be decoded")
    return SoundBank(embs[keep], [refs[i].label for i in keep], [refs[i].category for i in keep],
                     [refs[i].file for i in keep], embedder.version, source)


def eval_duplicate_sounds(refs: Sequence[ReferenceSound], embs: np.ndarray, ok: np.ndarray,
                          embedder: SoundEmbedder, sets: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """`xmodal.data.dedup.duplicate_masks` of reference sounds against the corpus sounds of the
    audio evaluation sets (embedded with `embedder`), without the name test."""
    from xmodal.data.beir import load_set
    from xmodal.data.dedup import CENTRED, EVAL_SETS, duplicate_masks, file_digest
    from xmodal.data.sets import build_set

    eval_paths: list[Path] = []
    for name in sets if sets is not None else EVAL_SETS["audio"]:
        es = load_set(build_set(name), "test")
        eval_paths += [c.path for c in es.corpus.values() if c.modality == "audio" and c.path is not None]
    ref_embs, ref_ok = embed_sounds(eval_paths, embedder)
    digests = {d for d in map(file_digest, eval_paths) if d is not None}
    return duplicate_masks(embs, ok, [r.path for r in refs], [None] * len(refs), ref_embs[ref_ok], digests, set(),
                           centre=CENTRED["audio"])


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


def bank_source_pins(sources: Sequence[str] = BANK_SOURCES) -> str:
    """The packages (with versions) a bank of `sources` reads, as one string."""
    from xmodal.data.named import NAMED_SOURCES

    packages = [p for name in sources for p in ((SCRATCH_DEB,) if name == "scratch" else NAMED_SOURCES[name].packages)]
    return ", ".join(f"debian:{p}={pin(p)}" for p in dict.fromkeys(packages))


def build_shipped_banks(out_dir: Path | None = None, sources: Sequence[str] = SHIPPED_BANK_SOURCES,
                        max_per_label: int = BANK_MAX_PER_LABEL) -> list[Path]:
    """Rebuild the bank files xmodal ships: one per sound embedder (aisfx, the default, and the
    log-mel stand-in), holding the same sounds (evaluation duplicates left out, judged by aisfx)."""
    refs = reference_sounds(sources, max_per_label)
    primary = AisfxEmbedder()
    embs, ok = embed_sounds([r.path for r in refs], primary)
    dup = eval_duplicate_sounds(refs, embs, ok, primary)["any"]
    if dup.any():
        log.info("sound bank: %d of %d reference sounds duplicate an evaluation sound and are left out: %s",
                 int(dup.sum()), len(refs), ", ".join(r.file for r, d in zip(refs, dup) if d))
    keep = [i for i in range(len(refs)) if not dup[i]]
    refs = [refs[i] for i in keep]
    source = bank_source_pins(sources)
    written = []
    for embedder in (primary, LogMelStatsEmbedder()):  # the stand-in embeds the kept sounds itself
        pre = (embs[keep], ok[keep]) if embedder is primary else None
        bank = build_bank(refs, embedder, source, pre)
        path = shipped_bank_path(embedder.version)
        if out_dir is not None:
            path = Path(out_dir) / path.name
        written.append(bank.save(path))
    return written
