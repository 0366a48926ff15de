"""Asterisk core sound prompts: studio-recorded English speech with exact transcripts."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from xmodal.data.sources import ASTERISK_SOUNDS, ASTERISK_TRANSCRIPTS


@dataclass
class Prompt:
    key: str  # "conf-getpin", or with a subfolder: "digits/1"
    wav: Path
    transcript: str


def parse_transcripts(text: str) -> dict[str, str]:
    """{key: transcript} from the lines of core-sounds-en.txt.

    Lines are `KEY: text`. Comments (`;`), blank lines and lines without a colon are skipped, as
    are entries whose text starts with `[` or `(` — those describe tones and silence, not speech.
    A repeated key keeps its first line.
    """
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith((";", "#")) or ":" not in line:
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), " ".join(value.split())
        if not key or " " in key or not value or value.startswith(("[", "(")):
            continue
        out.setdefault(key, value)
    return out


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def asterisk_prompts(root: Path, transcripts: Path | None = None) -> list[Prompt]:
    """Prompts that have both a WAV and a spoken transcript, sorted by key.

    ROOT is the extraction root of asterisk-core-sounds-en-wav (or the sounds folder itself).
    TRANSCRIPTS is core-sounds-en.txt(.gz); by default it is looked for under ROOT and then in
    the extraction of asterisk-core-sounds-en (fetched if needed).
    """
    root = Path(root)
    sounds = root / ASTERISK_SOUNDS if (root / ASTERISK_SOUNDS).is_dir() else root
    if not sounds.is_dir():
        raise FileNotFoundError(f"{sounds}: no Asterisk sounds folder here")
    if transcripts is None:
        transcripts = root / ASTERISK_TRANSCRIPTS
        if not transcripts.is_file():
            from xmodal.data.debian import fetch_deb

            transcripts = fetch_deb("asterisk-core-sounds-en") / ASTERISK_TRANSCRIPTS
    if not Path(transcripts).is_file():
        raise FileNotFoundError(f"{transcripts}: Asterisk transcript file not found")
    table = parse_transcripts(_read_text(Path(transcripts)))
    out = []
    for key in sorted(table):
        wav = sounds / f"{key}.wav"
        if wav.is_file():
            out.append(Prompt(key=key, wav=wav, transcript=table[key]))
    return out
