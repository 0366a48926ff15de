"""What the golden regression tests measure, shared by tests/test_golden.py and record.py.

Fixtures are real media from pinned Debian packages (fetched once into xmodal's cache by
`xmodal.data.debian.fetch_deb`), chosen deterministically (every n-th item by sorted id):
- sound bank: every 3rd of the bank's Scratch sounds (the fixture package; the bank's game and
  OpenSFX sounds are not re-decoded here), re-decoded and re-embedded now, checked against the
  shipped bank rows and bridged leave-one-out against the whole bank;
- binding and reranker: 40 Tux Paint stamp pictures (PNG) and 24 stamp sounds, one per caption
  group, spread evenly over the sorted stamps, indexed with the offline default profile (shipped
  binding included); queries are their English captions. Many are in the artifacts' training
  splits: this is a regression check, not a quality measurement (that is benchmarks/).
Each measurement returns metrics plus per-query ranks of the relevant item, so that a change
that moves a few queries shows even when the averages barely move.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.data.sources import pin
from xmodal.data.demo import _distinct, _stride
from xmodal.data.tuxpaint import tuxpaint_stamps

STAMPS_DEB = "tuxpaint-stamps-default"
SCRATCH_DEB = "scratch"
N_PICTURES, N_SOUNDS, BANK_STRIDE = 40, 24, 3
KS = (1, 5, 10)


def fixture_packages() -> dict[str, str]:
    return {STAMPS_DEB: pin(STAMPS_DEB), SCRATCH_DEB: pin(SCRATCH_DEB)}


def _metrics(ranks: list[int]) -> dict[str, float]:
    r = np.asarray(ranks)
    out = {f"R@{k}": round(float(np.mean(r < k)), 4) for k in KS}
    out["MRR"] = round(float(np.mean(1.0 / (r + 1))), 4)
    return out


# ------------------------------------------------------------------------------ sound bank
def sound_bank(scratch_root: Path) -> dict[str, Any]:
    """Per shipped bank: how closely today's decoding + embedder reproduce its rows (min cosine)
    and leave-one-out accuracy of the re-embedded subset (own label among the distinct labels)."""
    from xmodal.data.sound_bank import SCRATCH_SOUNDS_REL, decode_mono
    from xmodal.encode.sound_bank import SAMPLE_RATE, clip_embedding, label_text, make_sound_embedder, shipped_bank
    from xmodal.encode.text_minilm import MiniLMTextEncoder

    text = MiniLMTextEncoder()
    src = Path(scratch_root) / SCRATCH_SOUNDS_REL
    out: dict[str, Any] = {}
    for name in ("aisfx", "logmel"):
        embedder = make_sound_embedder(name)
        bank = shipped_bank(embedder.version).attach_text(text)
        # Scratch rows are named by their path in the library, a named source's as "SOURCE:path";
        # the Scratch rows re-decode from the fixture package
        rows = [i for i, f in enumerate(bank.files) if ":" not in f][::BANK_STRIDE]
        clips = np.stack([clip_embedding(embedder.embed_blocks(decode_mono(src / bank.files[i]), SAMPLE_RATE)[0])
                          for i in rows])
        ref = bank.embeddings[rows]
        cos = np.sum(clips * ref, 1) / (np.linalg.norm(clips, axis=1) * np.linalg.norm(ref, axis=1) + 1e-12)
        labels = sorted(set(bank.labels))
        label_vecs = text.embed_texts([label_text(x) for x in labels])
        bridged, _ = bank.bridge(clips, exclude=rows)
        sim = bridged @ label_vecs.T
        own = np.array([labels.index(bank.labels[i]) for i in rows])
        ranks = (sim > sim[np.arange(len(rows)), own][:, None]).sum(1).tolist()
        out[embedder.version] = {
            "sounds": len(rows),
            "distinct_labels": len(labels),
            "min_cosine_to_shipped_rows": round(float(cos.min()), 6),
            "metrics": {"top1": round(float(np.mean(np.asarray(ranks) == 0)), 4),
                        "top5": round(float(np.mean(np.asarray(ranks) < 5)), 4)},
            "ranks": ranks,
        }
    return out


# ------------------------------------------------------------------------------ stamps index
def stamp_fixture(stamps_root: Path) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """(picture, caption) and (sound, caption) pairs, one per distinct caption, fixed choice."""
    # the demo's own choice: the first stamp of each caption group, then n spread evenly
    unique = _distinct(tuxpaint_stamps(stamps_root))
    pictures = [(s.image, s.caption) for s in _stride([s for s in unique if s.image.suffix == ".png"], N_PICTURES)]
    sounds = [(s.sound, s.caption) for s in _stride([s for s in unique if s.sound is not None], N_SOUNDS)]
    return pictures, sounds


def build_stamp_index(stamps_root: Path, folder: Path) -> tuple[Any, list, list]:
    import xmodal

    pictures, sounds = stamp_fixture(stamps_root)
    idx = xmodal.open(folder)  # the offline default profile with its shipped binding
    report = idx.add([p for p, _ in pictures + sounds])
    if report.failed:
        raise RuntimeError(f"golden fixture files failed to index: {report.failed[:3]}")
    return idx, pictures, sounds


def retrieval(idx: Any, pairs: list[tuple[Path, str]], modality: str, rerank: str | None = None) -> dict[str, Any]:
    """Caption → its own item among the fixture's items of `modality`: R@K, MRR and each query's rank."""
    n = len(pairs)
    ranks = []
    for path, caption in pairs:
        hits = idx.search(caption, k=n, modalities=[modality], rerank=rerank)
        paths = [Path(h.path).resolve() for h in hits]
        ranks.append(paths.index(Path(path).resolve()) if Path(path).resolve() in paths else n)
    return {"queries": n, "metrics": _metrics(ranks), "ranks": ranks}


def stamps_measurements(stamps_root: Path) -> dict[str, Any]:
    """Binding (first stage of the default profile) and reranker measurements on one index."""
    with tempfile.TemporaryDirectory(prefix="xmodal-golden-") as tmp:
        idx, pictures, sounds = build_stamp_index(stamps_root, Path(tmp) / "index")
        return {
            "binding": {"t2i": retrieval(idx, pictures, "image"), "t2a": retrieval(idx, sounds, "audio")},
            "reranker": {"t2i": retrieval(idx, pictures, "image", rerank="attention"),
                         "t2a": retrieval(idx, sounds, "audio", rerank="attention")},
        }
