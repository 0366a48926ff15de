"""Training pairs and their cached frozen features.

A *pair source* gives (text, media item) pairs; its features are computed once with the frozen
encoders (the bridge vector, the native pooled features, token features, and the text vectors of
its texts) and cached under ``cache_dir("bind", ...)``, keyed by the encoder config and the
source's own fingerprint, so training a head takes seconds and a changed encoder or set never
reuses stale features.

Sources (``parse_source``):
- ``SET_DIR[:split]`` — a BEIR-layout set (``xmodal.data.beir.load_set``): each judged query's text
  with each relevant corpus item of the trained modality (split defaults to ``train``).
- ``pairs.jsonl`` — lines ``{"text": ..., "path": ...}`` (paths relative to the file).
- ``openclipart[:N]`` — N (default 2000) drawings of Debian ``openclipart-svg`` with their
  ``dc:title`` + keywords, chosen deterministically, rendered through xmodal's SVG decoder,
  minus near-duplicates of any Tux Paint stamp (``drop_tuxpaint_duplicates``).
- ``tuxpaint-stamps`` — every Tux Paint stamp with its English caption (ALL of them: this is
  the test corpus of the tuxpaint sets, so it is for the duplicate filter and experiments only).
- ``scratch-images`` — Scratch 1.4's ~600 sprites and backgrounds captioned by file name + folder.
- ``sound-bank`` — every labelled sound of the audio encoder's bank (the shipped one: Scratch,
  game and OpenSFX sounds), each bridged *leaving out its own label* (otherwise its bridge vector
  would be its own label); ``scratch-sounds`` is its former name (the bank held Scratch alone).
- ``NAME[:N]`` for a training source of `xmodal.data.named.NAMED_SOURCES` (``emojione``,
  ``noto-emoji``, ``icon-themes``, ``flags``, ``wesnoth``, ``opensfx``, ``game-sfx``) — its
  records with captions cleaned for training, at most N (default 3) items per caption group.
  Held-out sources are refused: they are evaluation data.

Every source is checked against the evaluation sets (`drop_eval_duplicates`, applied by the
trainer): items that are an evaluation item (same file, or pooled-feature cosine >= 0.95) and
pairs whose caption names an evaluation test caption are dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from xmodal.config import cache_dir
from xmodal.errors import MediaError, XModalError
from xmodal.types import Media, Modality
from xmodal.bind.artifact import MODALITY_FEATURES, config_digest, gate_of

if TYPE_CHECKING:
    from xmodal.space import Space

log = logging.getLogger(__name__)

FEATURE_VERSION = "1"
MAX_TOKENS_CACHED = 64  # sound blocks beyond this are averaged into 64 (long clips)


@dataclass
class PairSource:
    """Pairs before features: texts, media items (paths or in-memory specials), and links."""

    name: str
    fingerprint: str
    texts: list[str]
    items: list[str]  # paths (or ids of special items)
    pairs: list[tuple[int, int]]  # (text index, item index)
    loader: Callable[["Space", str, list[str]], "Features"] | None = None  # for special sources
    items_fingerprint: str | None = None  # set: media features are cached by the items alone
    # applied to the source's features after the cache (drops items without re-rendering them)
    post_filter: Callable[["Space", "PairData", str], "PairData"] | None = None
    set_dir: Path | None = None  # the evaluation set the pairs come from (its own corpus is no duplicate)
    dedup: dict[str, int] = field(default_factory=dict)  # what drop_eval_duplicates removed


@dataclass
class Features:
    """Cached frozen features of one source's items and texts."""

    bridge: np.ndarray  # (N, dim) the encoder's own vector
    pooled: np.ndarray  # (N, d)
    tokens: np.ndarray  # (N, T, d) float16, zero-padded
    n_tokens: np.ndarray  # (N,)
    gate: np.ndarray  # (N,)
    ok: np.ndarray  # (N,) bool: the item decoded and has the native features
    text_vecs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (Q, dim)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, bridge=self.bridge, pooled=self.pooled, tokens=self.tokens, n_tokens=self.n_tokens,
                 gate=self.gate, ok=self.ok, text_vecs=self.text_vecs)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "Features":
        with np.load(path) as z:
            return cls(**{k: z[k] for k in z.files})


@dataclass
class PairData:
    """A source with its features, ready for training."""

    source: PairSource
    feats: Features


# ------------------------------------------------------------------------------------ sources
def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def parse_source(spec: str, modality: str, default_split: str = "train") -> PairSource:
    """A `--pairs` value → PairSource (see the module docstring for the forms)."""
    name, _, arg = spec.partition(":")
    if not Path(spec).exists() and _named_source(name) is not None:
        return named_pairs_source(name, modality, int(arg) if arg else NAMED_MAX_PER_GROUP)
    if name == "sound-bank" and not Path(spec).exists():
        return sound_bank_source()
    if name == "openclipart" and not Path(spec).exists():
        return openclipart_source(int(arg) if arg else 2000)
    if name == "scratch-sounds" and not Path(spec).exists():
        return scratch_sounds_source()
    if name == "scratch-images" and not Path(spec).exists():
        return scratch_images_source()
    if name == "tuxpaint-stamps" and not Path(spec).exists():
        return tuxpaint_stamps_source()
    path = Path(spec)
    split = default_split
    if not path.exists() and ":" in spec:
        p, _, s = spec.rpartition(":")
        path, split = Path(p), s
    path = path.expanduser()
    if path.is_file() and path.suffix == ".jsonl":
        return pairs_file_source(path)
    if path.is_dir():
        return beir_source(path, split, modality)
    raise XModalError(f"--pairs {spec!r}: not a set folder, a pairs .jsonl file, 'openclipart[:N]', 'scratch-images', "
                      f"'scratch-sounds', 'sound-bank', 'tuxpaint-stamps' or a named training source ({', '.join(_train_sources())})")


def beir_source(set_dir: Path, split: str, modality: str) -> PairSource:
    from xmodal.data.beir import load_set

    es = load_set(set_dir, split)
    texts, items, pairs = [], [], []
    item_idx: dict[str, int] = {}
    for qid, q in sorted(es.queries.items()):
        if q.path is not None or not q.text:
            continue  # only text ↔ media pairs bind a modality to the text anchor
        rel = [c for c, s in es.qrels[qid].items() if s >= 1 and es.corpus[c].modality == modality]
        if not rel:
            continue
        ti = len(texts)
        texts.append(q.text)
        for c in sorted(rel):
            if c not in item_idx:
                item_idx[c] = len(items)
                items.append(str(es.corpus[c].path))
            pairs.append((ti, item_idx[c]))
    if not pairs:
        raise XModalError(f"{set_dir} ({split}): no text query has a relevant {modality} item to pair with")
    files = [set_dir / "corpus.jsonl", set_dir / "queries.jsonl", set_dir / "qrels" / f"{split}.tsv"]
    fp = _digest(*[f.read_bytes() for f in files], modality)
    return PairSource(f"{set_dir.name}:{split}", fp, texts, items, pairs, set_dir=set_dir.resolve())


def eval_corpus_source(set_dir: Path, modality: str, split: str = "test") -> PairSource:
    """A set's WHOLE corpus of `modality` (judged or not: the distractors count) with its
    `split`'s text queries as texts: the features an evaluation on cached features needs, and
    the reference items of the duplicate filter. Media features are cached by the corpus alone."""
    from xmodal.data.beir import load_set

    es = load_set(set_dir, split)
    ids = sorted(c for c, item in es.corpus.items() if item.modality == modality and item.path is not None)
    index = {c: i for i, c in enumerate(ids)}
    texts, pairs = [], []
    for qid, q in sorted(es.queries.items()):
        rel = [index[c] for c, sc in es.qrels[qid].items() if sc >= 1 and c in index]
        if q.path is None and q.text and rel:
            texts.append(q.text)
            pairs += [(len(texts) - 1, i) for i in sorted(rel)]
    items = [str(es.corpus[c].path) for c in ids]
    corpus_fp = _digest((set_dir / "corpus.jsonl").read_bytes(), modality)
    return PairSource(f"{set_dir.name}:{split}-corpus", _digest(corpus_fp, *texts, str(pairs)), texts, items, pairs,
                      items_fingerprint=corpus_fp, set_dir=Path(set_dir).resolve())


def pairs_file_source(path: Path) -> PairSource:
    texts, items, pairs = [], [], []
    t_idx: dict[str, int] = {}
    i_idx: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, media = str(row["text"]), str(row["path"])
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise XModalError(f"{path}:{n}: expected {{\"text\": ..., \"path\": ...}} ({e})") from None
        media_path = str((path.parent / media).resolve())
        ti = t_idx.setdefault(text, len(t_idx))
        if ti == len(texts):
            texts.append(text)
        ii = i_idx.setdefault(media_path, len(i_idx))
        if ii == len(items):
            items.append(media_path)
        pairs.append((ti, ii))
    if not pairs:
        raise XModalError(f"{path}: no pairs")
    return PairSource(path.stem, _digest(path.read_bytes()), texts, items, pairs)


_TITLE = re.compile(r"<cc:Work[^>]*>.*?<dc:title>([^<]*)</dc:title>", re.S)
_SUBJECT = re.compile(r"<dc:subject>(.*?)</dc:subject>", re.S)
_LI = re.compile(r"<rdf:li>([^<]*)</rdf:li>")
# keywords that say nothing about what is drawn (collection tags, formats, site jargon)
_SKIP_WORDS = {"unsorted", "clip art", "clipart", "cliparts", "image", "media", "public domain", "svg", "png",
               "externalsource", "hash", "icon", "icons", "mapsym", "simple", "remix", "openclipart", "colour",
               "color", "black and white", "line art", "lineart", "outline", "cartoon", "drawing"}
# boilerplate inside titles: an author's pack name, "clipart", ids
_TITLE_NOISE = re.compile(r"clip\s*art\s+by\s+\w+\s+\w+|\bclip\s*arts?\b|\bsvg\b|\bpng\b|\bvarious\b|\bpack\b", re.I)
# titles of whole packs (one title, many unrelated drawings)
_GENERIC_TITLES = {"aiga symbol signs", "road signs", "homes", "people", "symbols", "signs", "icons", "set", "collection"}


def clean_label(text: str) -> str:
    """A file name or title as words: CamelCase and snake_case split, ids and numbers dropped."""
    import html

    text = html.unescape(html.unescape(text))
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    text = re.sub(r"[_\-./()\[\]]+", " ", text)
    text = re.sub(r"\d+", " ", text)
    words = [w for w in text.split() if len(w) > 1 or w.lower() in ("a",)]
    return " ".join(words).strip(" ,;:()")


def _openclipart_text(svg: str) -> str | None:
    """'title, kw1, kw2' from the drawing's own metadata, or None when it has no usable title."""
    m = _TITLE.search(svg[:20000])
    if not m:
        return None
    title = clean_label(_TITLE_NOISE.sub(" ", clean_label(m.group(1))))
    title = re.sub(r"\s+", " ", title).strip()
    low = title.lower()
    if sum(ch.isalpha() for ch in title) < 3 or low.startswith(("untitled", "layer")) or low in _GENERIC_TITLES:
        return None
    kws: list[str] = []
    s = _SUBJECT.search(svg[:20000])
    if s:
        for kw in _LI.findall(s.group(1)):
            kw = clean_label(kw).lower()
            if "hash" in kw:  # site-internal tags ('hash(a caac...')
                continue
            if len(kw) > 2 and kw not in _SKIP_WORDS and kw not in low and kw not in kws and len(kws) < 3:
                kws.append(kw)
    return ", ".join([title, *kws])


def _grouped_source(name: str, fingerprint_parts: list[str], labelled: list[tuple[str, str]],
                    max_per_text: int) -> PairSource:
    """(text, item) → a source where identical texts are ONE text with several positive items
    (card decks, flag series), at most `max_per_text` of them, so near-identical captions are
    never each other's negatives and one series cannot dominate the batch."""
    texts: list[str] = []
    items: list[str] = []
    pairs: list[tuple[int, int]] = []
    t_idx: dict[str, int] = {}
    count: dict[int, int] = {}
    for text, item in labelled:
        ti = t_idx.setdefault(text.lower(), len(texts))
        if ti == len(texts):
            texts.append(text)
        if count.get(ti, 0) >= max_per_text:
            continue
        count[ti] = count.get(ti, 0) + 1
        pairs.append((ti, len(items)))
        items.append(item)
    # the media features depend on the items only: a changed caption cleaner keeps the cache
    return PairSource(name, _digest(*fingerprint_parts, *texts), texts, items, pairs,
                      items_fingerprint=_digest(name.split(":")[0], *items))


def openclipart_source(n: int = 2000, max_per_text: int = 3) -> PairSource:
    """Up to `n` drawings of Debian openclipart-svg with a usable title (see `_openclipart_text`)."""
    from xmodal.data.debian import fetch_deb

    root = fetch_deb("openclipart-svg") / "usr/share/openclipart/svg"
    files = sorted(root.rglob("*.svg"))
    # a fixed pseudo-random subset (by hash of the relative path), so N picks the same files anywhere
    files.sort(key=lambda p: hashlib.blake2b(str(p.relative_to(root)).encode(), digest_size=8).hexdigest())
    labelled: list[tuple[str, str]] = []
    per_text: dict[str, int] = {}
    for f in files:
        if len(labelled) >= n:
            break
        top = f.relative_to(root).parts[0]
        if top in ("computer", "shapes"):  # DATA.md: mostly abstract
            continue
        try:
            text = _openclipart_text(f.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        if text and per_text.get(text.lower(), 0) < max_per_text:
            per_text[text.lower()] = per_text.get(text.lower(), 0) + 1
            labelled.append((text, str(f)))
    src = _grouped_source(f"openclipart:{n}", ["openclipart", str(n), DEDUP_VERSION], labelled, max_per_text)
    # Tux Paint ships many openclipart drawings as stamps, and the stamps are the tuxpaint sets'
    # test corpus: training on them would leak test images (see drop_tuxpaint_duplicates)
    src.post_filter = drop_tuxpaint_duplicates
    return src


def tuxpaint_stamps_source() -> PairSource:
    """Every Tux Paint stamp image with its English caption (the tuxpaint sets' whole corpus)."""
    from xmodal.data.debian import fetch_deb
    from xmodal.data.tuxpaint import tuxpaint_stamps

    stamps = tuxpaint_stamps(fetch_deb("tuxpaint-stamps-default"))
    if not stamps:
        raise XModalError("tuxpaint-stamps-default: no stamps with a caption and an image")
    texts = [s.caption for s in stamps]
    items = [str(s.image) for s in stamps]
    return PairSource("tuxpaint-stamps", _digest("tuxpaint-stamps", *texts, *items), texts, items,
                      [(i, i) for i in range(len(stamps))], items_fingerprint=_digest("tuxpaint-stamps", *items))


DEDUP_VERSION = "minus-tuxpaint-dups-1"


def _svg_work_title(path: Path) -> str | None:
    """An SVG's own cc:Work title as lower-case words (None: no usable title)."""
    try:
        m = _TITLE.search(path.read_text(encoding="utf-8", errors="replace")[:20000])
    except OSError:
        return None
    if not m:
        return None
    title = re.sub(r"\s+", " ", clean_label(_TITLE_NOISE.sub(" ", clean_label(m.group(1))))).strip().lower()
    return title if sum(ch.isalpha() for ch in title) >= 3 else None


def tuxpaint_duplicates(space: "Space", items: list[str], pooled: np.ndarray, ok: np.ndarray,
                        modality: str = "image") -> dict[str, np.ndarray]:
    """Which of `items` (image files with their pooled features) duplicate a Tux Paint stamp.

    Three tests, each a boolean mask over items: ``same_file`` (byte-identical to a stamp's SVG
    or image), ``cosine`` (pooled-feature cosine >= DUP_COSINE with any stamp) and ``same_title``
    (the SVG's cc:Work title equals a stamp SVG's: the same openclipart work, re-drawn or
    re-coloured for Tux Paint). ``any`` is their union; ``max_cosine`` the nearest stamp's cosine.
    """
    from xmodal.data.dedup import duplicate_masks, file_digest

    stamps = tuxpaint_stamps_source()
    sf = _cached_features(space, stamps, modality, refresh=False, progress=None).feats
    stamp_files = [Path(p) for p in stamps.items]
    stamp_svgs = [p.with_suffix(".svg") for p in stamp_files if p.with_suffix(".svg").is_file()]
    hashes = {file_digest(p) for p in {*stamp_files, *stamp_svgs}}
    titles = {t for t in map(_svg_work_title, stamp_svgs) if t}
    # the file and cosine tests are the evaluation-duplicate ones (raw cosine, no name test)
    masks = duplicate_masks(pooled, ok, items, [None] * len(items), sf.pooled[sf.ok], hashes, set())
    same_title = np.array([Path(p).suffix.lower() == ".svg" and _svg_work_title(Path(p)) in titles for p in items])
    return {"same_file": masks["same_file"], "cosine": masks["cosine"], "same_title": same_title,
            "any": masks["same_file"] | masks["cosine"] | same_title, "max_cosine": masks["max_cosine"]}


def drop_tuxpaint_duplicates(space: "Space", data: "PairData", modality: str) -> "PairData":
    """`data` without the items that duplicate a Tux Paint stamp (`tuxpaint_duplicates`).

    Why: Tux Paint's stamps include openclipart drawings, and the stamps are the test corpus of
    every tuxpaint set; a training pair on such a drawing would be a test image seen in training.
    Items are masked (``ok=False``) and their pairs dropped, so the cached features stay valid.
    """
    if modality != "image":
        return data
    f, src = data.feats, data.source
    dup = tuxpaint_duplicates(space, src.items, f.pooled, f.ok, modality)["any"]
    if not dup.any():
        return data
    log.info("%s: dropped %d of %d items that duplicate Tux Paint stamps", src.name, int(dup.sum()), len(dup))
    keep_pairs = [(t, i) for t, i in src.pairs if not dup[i]]
    feats = Features(f.bridge, f.pooled, f.tokens, f.n_tokens, f.gate, f.ok & ~dup, f.text_vecs)
    return PairData(replace(src, pairs=keep_pairs), feats)


SCRATCH_IMAGE_DIRS = ("Costumes", "Backgrounds")
_SCRATCH_SKIP = {"Letters"}  # glyphs: a letter's name is not a picture's description


def scratch_images_source(max_per_text: int = 3) -> PairSource:
    """Scratch 1.4's sprites and backgrounds, captioned by file name and folder
    ('tug boat, transportation'; 'beach malibu, outdoors background')."""
    from xmodal.data.debian import fetch_deb

    media = fetch_deb("scratch") / "usr/share/scratch/Media"
    labelled: list[tuple[str, str]] = []
    for sub in SCRATCH_IMAGE_DIRS:
        for f in sorted((media / sub).rglob("*")):
            if f.suffix.lower() not in (".png", ".gif", ".jpg", ".jpeg") or not f.is_file():
                continue
            parts = f.relative_to(media / sub).parts
            if parts[0] in _SCRATCH_SKIP or f.stem.lower() in ("xy grid", "xy-grid"):
                continue
            label = clean_label(re.sub(r"(?<=\w)-[a-z]$", "", f.stem))  # 'dog1-b' → 'dog' (pose variants)
            if sum(ch.isalpha() for ch in label) < 3:
                continue
            where = parts[0].lower() + (" background" if sub == "Backgrounds" else "")
            labelled.append((f"{label}, {where}", str(f)))
    if not labelled:
        raise XModalError(f"{media}: no Scratch costume or background images found")
    return _grouped_source("scratch-images", ["scratch-images"], labelled, max_per_text)


def scratch_sounds_source() -> PairSource:
    """The former name of `sound_bank_source`, from when the bank held Scratch's sounds alone."""
    return sound_bank_source()


NAMED_MAX_PER_GROUP = 3


def _named_source(name: str):
    from xmodal.data.named import NAMED_SOURCES

    return NAMED_SOURCES.get(name)


def _train_sources() -> list[str]:
    from xmodal.data.named import NAMED_SOURCES

    return [n for n, s in NAMED_SOURCES.items() if s.role == "train"]


def named_pairs_source(name: str, modality: str, max_per_group: int = NAMED_MAX_PER_GROUP) -> PairSource:
    """A named training source (`xmodal.data.named`) as pairs: one text per cleaned caption group,
    at most `max_per_group` items each. Features are cached over all the cleaned records, so a
    change of the per-group limit costs no re-encoding (unchosen items are masked out after the
    cache)."""
    from xmodal.data.named import limit_per_group

    src = _named_source(name)
    if src is None:
        raise XModalError(f"{name}: not a named source")
    if src.role != "train":
        raise XModalError(f"{name}: a held-out source, kept for evaluation only; training sources: {', '.join(_train_sources())}")
    if src.modality != modality:
        raise XModalError(f"{name}: a source of {src.modality} items, not {modality}")
    # every cleaned record is an item (features cached once); the per-group limit picks the pairs
    records = src.training_records([r for r in src.records() if r.modality == modality], None)
    chosen = limit_per_group(records, max_per_group)
    items = [str(r.path) for r in records]
    index = {p: i for i, p in enumerate(items)}
    texts: list[str] = []
    t_of: dict[str, int] = {}
    pairs = []
    for r in chosen:
        t = t_of.setdefault(r.group, len(texts))
        if t == len(texts):
            texts.append(r.caption)
        pairs.append((t, index[str(r.path)]))
    if not pairs:
        raise XModalError(f"{name}: no records left after caption cleaning")
    label = f"{name}:{max_per_group}"
    return PairSource(label, _digest("named", label, *texts, str(pairs)), texts, items, pairs,
                      items_fingerprint=_digest("named", name, *items), post_filter=_only_paired)


def _only_paired(space: "Space", data: "PairData", modality: str) -> "PairData":
    """Items of the source that no pair uses (records the cleaning dropped) are not training items."""
    paired = np.zeros(len(data.source.items), bool)
    paired[[i for _, i in data.source.pairs]] = True
    f = data.feats
    return PairData(data.source, replace(f, ok=f.ok & paired))


def sound_bank_source(bank=None) -> PairSource:
    """Every labelled sound of the shipped sound bank (default embedder) as pairs: the bank's
    label texts with its own clip embeddings. Each sound's bridge vector leaves out every bank
    sound of its own label, as a new recording would not find its own siblings in the bank."""
    from xmodal.data.dedup import caption_key
    from xmodal.encode.sound_bank import default_sound_embedder, shipped_bank

    try:
        bank = bank or shipped_bank(default_sound_embedder().version)
    except Exception as e:  # noqa: BLE001 - no bank for this embedder means no such source here
        raise XModalError(f"sound-bank: cannot load the shipped sound bank: {e}") from e
    labels = list(bank.labels)
    groups = [caption_key(lab) for lab in labels]

    def load(space: "Space", key: str, texts: list[str]) -> Features:
        enc = space.encoder(Modality.AUDIO)
        own = getattr(enc, "bank", None)
        if own is None or own.content_hash() != bank.content_hash():
            raise XModalError("sound-bank pairs need the audio encoder to use the shipped sound bank")
        emb = own.embeddings
        # leave out the sound's whole label (Dog1 and Dog2 are one dog), not just itself
        family = [[j for j, g in enumerate(groups) if g == groups[i]] for i in range(len(emb))]
        bridge, _ = own.bridge(emb, top_k=enc.top_k, temperature=enc.temperature, exclude=family)
        n = len(emb)
        return Features(bridge=bridge.astype(np.float32), pooled=emb.astype(np.float32),
                        tokens=emb[:, None, :].astype(np.float16), n_tokens=np.ones(n, np.int32),
                        gate=np.ones(n, np.float32), ok=np.ones(n, bool))

    # one text per label: two recordings of one label are both positives, never each other's negatives
    t_of: dict[str, int] = {}
    texts: list[str] = []
    pairs = []
    for i, (lab, g) in enumerate(zip(labels, groups)):
        t = t_of.setdefault(g, len(texts))
        if t == len(texts):
            texts.append(f"{lab}.")
        pairs.append((t, i))
    return PairSource("sound-bank", _digest("sound-bank", bank.content_hash(), *labels), texts,
                      [f"bank:{i}" for i in range(len(labels))], pairs, load)


# ------------------------------------------------------------------------------------ duplicates of evaluation items
@dataclass
class EvalReference:
    """The evaluation items training data of one modality must not duplicate."""

    sets: list[Path]  # set folders
    pooled: list[np.ndarray]  # per set: pooled features of its corpus items (decoded ones)
    digests: list[set[bytes]]  # per set: sha256 of its corpus files
    names: dict[str, str]  # caption key of a test query → the set naming it


_REFERENCES: dict[tuple[str, str], EvalReference] = {}


def eval_reference(space: "Space", modality: str) -> EvalReference:
    """The `xmodal.data.dedup.EVAL_SETS` of `modality`: built, their corpus features cached."""
    from xmodal.data.dedup import EVAL_SETS, eval_caption_keys, file_digest
    from xmodal.data.sets import build_set

    key = (encoder_key(space, modality), modality)
    if key not in _REFERENCES:
        sets, pooled, digests = [], [], []
        for name in EVAL_SETS[modality]:
            set_dir = build_set(name)
            data = _cached_features(space, eval_corpus_source(set_dir, modality), modality, refresh=False, progress=None)
            sets.append(set_dir.resolve())
            pooled.append(data.feats.pooled[data.feats.ok])
            digests.append({d for d in map(file_digest, data.source.items) if d is not None})
        _REFERENCES[key] = EvalReference(sets, pooled, digests, eval_caption_keys(modality))
    return _REFERENCES[key]


def drop_eval_duplicates(space: "Space", data: "PairData", modality: str, names: bool = True) -> "PairData":
    """`data` without what duplicates an evaluation set (`xmodal.data.dedup`): items that are an
    evaluation item of another set (same file, pooled cosine >= DUP_COSINE) are masked, pairs
    whose text names an evaluation test caption (`names`) are dropped, and items left without a
    pair are masked. The counts go to ``source.dedup``; the cached features stay valid."""
    from xmodal.data.dedup import CENTRED, caption_key, duplicate_masks

    ref = eval_reference(space, modality)
    src, f = data.source, data.feats
    own = src.set_dir.resolve() if src.set_dir is not None else None
    others = [i for i, d in enumerate(ref.sets) if d != own]
    ref_pooled = np.concatenate([ref.pooled[i] for i in others]) if others else np.zeros((0, f.pooled.shape[1]), np.float32)
    digests = set().union(*(ref.digests[i] for i in others)) if others else set()
    files = [p if Path(p).is_file() else None for p in src.items]
    masks = duplicate_masks(f.pooled, f.ok, files, [None] * len(files), ref_pooled, digests, {},
                            centre=CENTRED[modality])
    dup_item = masks["any"] & f.ok
    named = {t for t, text in enumerate(src.texts) if names and caption_key(text) in ref.names}
    keep = [(t, i) for t, i in src.pairs if not dup_item[i] and t not in named]
    paired = np.zeros(len(src.items), bool)
    paired[[i for _, i in keep]] = True
    ok = f.ok & ~dup_item & paired
    stats = {"items": int(f.ok.sum()), "same_file": int((masks["same_file"] & f.ok).sum()),
             "same_picture_or_sound": int((masks["cosine"] & f.ok).sum()), "texts_named_in_eval": len(named),
             "pairs_before": len(src.pairs), "pairs_after": len(keep), "items_after": int(ok.sum())}
    if stats["pairs_after"] < stats["pairs_before"]:
        log.info("%s: %d of %d pairs dropped as evaluation duplicates (%s)", src.name,
                 stats["pairs_before"] - stats["pairs_after"], stats["pairs_before"], stats)
    return PairData(replace(src, pairs=keep, dedup=stats), replace(f, ok=ok))


# ------------------------------------------------------------------------------------ features
def _media_features(space: "Space", modality: str, paths: list[str], batch: int = 16,
                    progress: Callable[[int, int], None] | None = None) -> Features:
    from xmodal.media import Limits, load

    spec = MODALITY_FEATURES[modality]
    enc = space.encoder(Modality(modality))
    limits = Limits()
    n = len(paths)
    bridge = pooled = None
    toks: list[np.ndarray] = [np.zeros((0, 1), np.float32)] * n
    gate = np.ones(n, np.float32)
    ok = np.zeros(n, bool)
    for start in range(0, n, batch):
        chunk = list(range(start, min(n, start + batch)))
        media: list[tuple[int, Media]] = []
        for i in chunk:
            try:
                media.append((i, load(Path(paths[i]), limits)))
            except MediaError as e:
                log.warning("skipping pair item %s", e)
        if media:
            try:
                embs = enc.encode([m for _, m in media])
            except MediaError:  # find the bad one rather than lose the batch
                embs = []
                for _, m in media:
                    try:
                        embs.extend(enc.encode([m]))
                    except MediaError as e:
                        log.warning("skipping pair item %s", e)
                        embs.append(None)  # type: ignore[arg-type]
            for (i, _), e in zip(media, embs):
                if e is None or spec["pooled"] not in e.native:
                    continue
                if bridge is None:
                    bridge = np.zeros((n, len(e.vector)), np.float32)
                    pooled = np.zeros((n, len(e.native[spec["pooled"]])), np.float32)
                bridge[i] = e.vector
                pooled[i] = e.native[spec["pooled"]]
                t = e.native.get(spec["tokens"], e.native[spec["pooled"]][None])
                if len(t) > MAX_TOKENS_CACHED:
                    t = np.stack([c.mean(0) for c in np.array_split(t, MAX_TOKENS_CACHED)])
                toks[i] = t
                gate[i] = gate_of(spec["gate"], e.native)
                ok[i] = True
        if progress:
            progress(min(n, start + batch), n)
    if bridge is None:
        raise XModalError(f"none of the {n} pair items gave {modality} features (is the encoder the default one?)")
    d = pooled.shape[1]  # type: ignore[union-attr]
    T = max(len(t) for t in toks if len(t)) if ok.any() else 1
    tokens = np.zeros((n, T, d), np.float16)
    n_tok = np.zeros(n, np.int32)
    for i, t in enumerate(toks):
        if ok[i]:
            tokens[i, : len(t)] = t
            n_tok[i] = len(t)
    return Features(bridge, pooled, tokens, n_tok, gate, ok)  # type: ignore[arg-type]


def text_vectors(space: "Space", texts: list[str]) -> np.ndarray:
    enc = space.encoder(Modality.TEXT)
    out = []
    for s in range(0, len(texts), 256):
        out.extend(e.vector for e in enc.encode([Media(Modality.TEXT, text=t) for t in texts[s : s + 256]]))
    return np.stack(out).astype(np.float32)


def encoder_key(space: "Space", modality: str) -> str:
    return config_digest({"image_or_audio": space.encoder(Modality(modality)).config(),
                          "text": space.encoder(Modality.TEXT).config(), "v": FEATURE_VERSION})


def features_for(space: "Space", source: PairSource, modality: str, *, refresh: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> PairData:
    """The source's features from the cache, computing (and caching) them on first use, then the
    source's `post_filter` (e.g. openclipart's Tux Paint duplicate filter)."""
    data = _cached_features(space, source, modality, refresh=refresh, progress=progress)
    if source.post_filter is not None:
        data = source.post_filter(space, data, modality)
    return data


def _cached_features(space: "Space", source: PairSource, modality: str, *, refresh: bool,
                     progress: Callable[[int, int], None] | None) -> PairData:
    key = encoder_key(space, modality)
    folder = cache_dir("bind", "features", modality, key)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", source.name)
    if source.items_fingerprint is not None:
        # media features by the items, text vectors by the texts: re-captioning costs seconds
        media_path = folder / f"media-{safe}-{source.items_fingerprint}.npz"
        text_path = folder / f"text-{_digest(*source.texts)}.npy"
        feats = _load(media_path) if not refresh else None
        if feats is None:
            feats = _media_features(space, modality, source.items, progress=progress)
            feats.text_vecs = np.zeros((0, 0), np.float32)
            feats.save(media_path)
        try:
            feats.text_vecs = np.load(text_path) if text_path.is_file() and not refresh else None  # type: ignore[assignment]
        except (OSError, ValueError):
            feats.text_vecs = None  # type: ignore[assignment]
        if feats.text_vecs is None:
            feats.text_vecs = text_vectors(space, source.texts)
            np.save(text_path, feats.text_vecs)
        return PairData(source, feats)
    path = folder / f"{safe}-{source.fingerprint}.npz"
    if path.is_file() and not refresh:
        feats = _load(path)
        if feats is not None:
            return PairData(source, feats)
    if source.loader is not None:
        feats = source.loader(space, key, source.texts)
    else:
        feats = _media_features(space, modality, source.items, progress=progress)
    feats.text_vecs = text_vectors(space, source.texts)
    feats.save(path)
    return PairData(source, feats)


def _load(path: Path) -> Features | None:
    if not path.is_file():
        return None
    try:
        return Features.load(path)
    except (OSError, ValueError, KeyError):
        return None  # a torn file: recompute
