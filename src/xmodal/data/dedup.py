"""Which training items duplicate what the evaluation sets test.

Training data must never hold an evaluation item, or a figure measured "on unseen data" would be
measured on seen data. Three tests, each a boolean mask over the candidate items:

- ``same_file``: byte-identical to an evaluation item (packages copy files from one another);
- ``cosine``: the same picture or sound re-encoded, resized or recoloured — the cosine of the
  frozen encoder's pooled features (EfficientNet for pictures, aisfx for sounds) with some
  evaluation item is at least `DUP_COSINE`. Sound features are first centred on the evaluation
  items' mean (`CENTRED`): aisfx features are non-negative (max-pooled ReLUs), so raw cosines of
  unrelated sounds sit at 0.8–0.96 (a Scratch music loop and GCompris' "music of Mexico": 0.96),
  while centred the nearest unrelated pair of Scratch and the evaluation sounds is 0.89.
  EfficientNet's pooled features are signed: unrelated pictures sit near 0.3 raw (99th
  percentile 0.57 between the emoji training sources and the evaluation pictures), so the raw
  cosine is kept there, as the openclipart filter has always used it;
- ``same_name``: the item's caption names what an evaluation *test* query names (same
  `caption_key`), so a held-out figure also measures names no head was trained on. Callers
  decide where the name test applies: training pairs of the binding heads, yes; the sound
  bank's labels (the bridge's vocabulary, like ConSE's ImageNet class names), no.

`EVAL_SETS` lists, per modality, the evaluation sets whose corpus media and test captions count.
A training source built from one of them (``tuxpaint-t2i:train``) is compared with the others
only: its own set's corpus holds its training half by design.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from xmodal.data.named_sets import NAMED_T2A_SETS, NAMED_T2I_SETS
from xmodal.data.tuxpaint import normalise_caption

DUP_COSINE = 0.95  # pooled features: the same drawing re-rendered / recoloured / resized, the same recording re-encoded
#: modality → whether its pooled features are centred on the evaluation items' mean before the cosine
CENTRED = {"image": False, "audio": True}

#: modality → evaluation sets training data of that modality must not duplicate. The Tux Paint
#: picture sets share one corpus (tuxpaint-t2i's); tuxpaint-t2a's corpus holds every stamp sound
#: (tuxpaint-a2i's queries and the clips' tracks are those sounds).
EVAL_SETS: dict[str, tuple[str, ...]] = {
    "image": ("tuxpaint-t2i", *NAMED_T2I_SETS),
    "audio": ("tuxpaint-t2a", *NAMED_T2A_SETS),
}


# the caption-group key the sets and the trainers' split use: case-folded, punctuation and a
# leading article removed
caption_key = normalise_caption


def test_caption_keys(set_dir: Path) -> set[str]:
    """Caption keys of a set's test split: its text queries and the text items they judge relevant."""
    from xmodal.data.beir import load_set

    es = load_set(set_dir, "test")
    keys = {caption_key(q.text) for q in es.queries.values() if q.text}
    for judged in es.qrels.values():
        keys |= {caption_key(es.corpus[c].text) for c, s in judged.items() if s >= 1 and es.corpus[c].modality == "text"}
    return {k for k in keys if k}


def eval_caption_keys(modality: str, sets: Iterable[str] | None = None) -> dict[str, str]:
    """{caption key: the first evaluation set whose test split names it} over `EVAL_SETS[modality]`."""
    from xmodal.data.sets import build_set

    out: dict[str, str] = {}
    for name in sets if sets is not None else EVAL_SETS[modality]:
        for key in sorted(test_caption_keys(build_set(name))):
            out.setdefault(key, name)
    return out


def file_digest(path: str | Path) -> bytes | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).digest()
    except OSError:
        return None


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def duplicate_masks(pooled: np.ndarray, ok: np.ndarray, files: Sequence[str | Path | None],
                    captions: Sequence[str | None], ref_pooled: np.ndarray, ref_digests: set[bytes],
                    ref_names: dict[str, str] | set[str], cosine: float = DUP_COSINE,
                    centre: bool = False) -> dict[str, np.ndarray]:
    """Masks over candidate items (see the module doc): ``same_file``, ``cosine``, ``same_name``,
    ``any`` (their union) and ``max_cosine`` (the nearest evaluation item's cosine, 0 without features).

    pooled/ok: the candidates' pooled features and which of them have features; files: their
    files (None for an item that is no file); captions: their captions (None: no name test);
    ref_pooled: the evaluation items' pooled features; ref_digests: their files' sha256 digests;
    ref_names: the evaluation test captions' keys; centre: subtract the evaluation items' mean
    from both sides first (see `CENTRED`)."""
    n = len(files)
    ok = np.asarray(ok, bool)
    if len(ref_pooled) and n:
        mean = np.asarray(ref_pooled, np.float32).mean(0) if centre else 0.0
        sims = _unit(pooled - mean) @ _unit(ref_pooled - mean).T
        max_cos = np.where(ok, sims.max(axis=1), 0.0)
    else:
        max_cos = np.zeros(n, np.float32)
    same_file = np.array([f is not None and file_digest(f) in ref_digests for f in files], bool)
    same_name = np.array([c is not None and caption_key(c) in ref_names for c in captions], bool)
    near = max_cos >= cosine
    return {"same_file": same_file, "cosine": near, "same_name": same_name,
            "any": same_file | near | same_name, "max_cosine": max_cos}
