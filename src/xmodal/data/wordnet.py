"""WordNet 3.0 from Debian (wordnet-base + wordnet-sense-index), for tooling.

- `wordnet_lemmas()`: every lemma as a lower-case word set, read straight from the index files
  (no NLTK needed): used to keep file-name labels made of real words.
- `nltk_data_dir()`: an NLTK_DATA folder with `corpora/wordnet/` that NLTK's reader accepts:
  the dictionary files are *copied* (NLTK 3.10 rejects links that leave its data root) and the
  `lexnames` file Debian omits is written from the lexnames(5WN) man page the package ships.
  Then `NLTK_DATA=<dir>` and `nltk.corpus.wordnet.synset_from_pos_and_offset('n', 2085620)`
  gives Chihuahua (ImageNet's class ids are exactly these offsets).
"""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

from xmodal.config import cache_dir

WORDNET_DIR = "usr/share/wordnet"
LEXNAMES_MAN = "usr/share/man/man5/lexnames.5WN.gz"
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def _roots(base: Path | None, sense: Path | None) -> tuple[Path, Path]:
    from xmodal.data.debian import fetch_deb

    return base or fetch_deb("wordnet-base"), sense or fetch_deb("wordnet-sense-index")


def wordnet_lemmas(base_root: Path | None = None) -> set[str]:
    """All single words that appear in WordNet lemmas (multi-word lemmas split at '_')."""
    from xmodal.data.debian import fetch_deb

    folder = (base_root or fetch_deb("wordnet-base")) / WORDNET_DIR
    words: set[str] = set()
    for pos in ("noun", "verb", "adj", "adv"):
        with open(folder / f"index.{pos}", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(" "):  # licence header
                    continue
                words.update(line.split(" ", 1)[0].lower().split("_"))
    return words


def lexnames_from_man(man_text: str) -> str:
    """The `lexnames` file (NN<TAB>name<TAB>pos number) from the lexnames(5WN) man page text."""
    rows = []
    for line in man_text.splitlines():
        m = re.match(r"^(\d\d)\s+((noun|verb|adj|adv)\.\w+)\s", line)
        if m:
            rows.append(f"{m.group(1)}\t{m.group(2)}\t{_POS_NUMBER[m.group(3)]}")
    return "\n".join(rows) + "\n"


def nltk_data_dir(base_root: Path | None = None, sense_root: Path | None = None,
                  out: Path | None = None) -> Path:
    """An NLTK_DATA folder holding corpora/wordnet built from the Debian packages (idempotent)."""
    base, sense = _roots(base_root, sense_root)
    data = out or cache_dir("nltk_data")
    target = data / "corpora" / "wordnet"
    if (target / "lexnames").is_file() and (target / "data.noun").is_file():
        return data
    target.mkdir(parents=True, exist_ok=True)
    for src in [*(base / WORDNET_DIR).iterdir(), *(sense / WORDNET_DIR).iterdir()]:
        if src.is_file():
            shutil.copyfile(src, target / src.name)
    man = gzip.decompress((base / LEXNAMES_MAN).read_bytes()).decode("utf-8", errors="replace")
    lex = lexnames_from_man(man)
    if lex.count("\n") < 45:
        raise ValueError(f"{base / LEXNAMES_MAN}: expected the 45 lexicographer files, found {lex.count(chr(10))}")
    (target / "lexnames").write_text(lex)
    return data
