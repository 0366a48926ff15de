"""Retrieval evaluation sets in the BEIR layout, built from the pinned Debian packages.

A set folder holds `corpus.jsonl`, `queries.jsonl`, `qrels/train.tsv`, `qrels/test.tsv`
(header `query-id\\tcorpus-id\\tscore`), `SET_INFO.json` and `provenance.jsonl`. Text items
carry `"text"` (and an empty `"title"`, so BEIR tools read text-only sets); media items carry
`"path"` (relative to the set folder, under `media/`) and `"modality"`.

Media files are copied under opaque names (`media/corpus/i3f2a9c01be.png`) and ids are opaque
hashes: neither the file name nor the id may give away the answer. Where each item came from is
kept apart in `provenance.jsonl`, for debugging only.

Split: by caption group (normalised English caption, or normalised transcript for Asterisk)
→ SHA-1 → 70 % train / 30 % test. The rule is the same in every Tux Paint set, so a caption is
on the same side everywhere and never on both. The corpus holds all items; the split is on
queries (standard BEIR).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from xmodal.config import cache_dir
from xmodal.data.named_sets import set_specs as named_set_specs

BUILDER_VERSION = 1
TRAIN_FRACTION = 0.7
SPLIT_RULE = (
    "query caption group = normalise_caption(English caption) (Asterisk: of the transcript); "
    "int(sha1(group).hexdigest()[:8], 16) % 100 < 70 -> train, else test. Same rule in every "
    "set, so no caption group is on both sides; corpus holds all items, the split is on queries."
)
MULTILINGUAL_LANGS = ("es", "fr", "de", "it", "pt_BR")


def split_of(group: str, train_fraction: float = TRAIN_FRACTION) -> str:
    """'train' or 'test' for a caption group key (already normalised); fixed and deterministic."""
    h = int(hashlib.sha1(group.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if h < round(train_fraction * 100) else "test"


def _oid(prefix: str, key: str) -> str:
    """An opaque, stable id: PREFIX + 10 hex digits of SHA-1(KEY)."""
    return prefix + hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]


# ---------------------------------------------------------------------------------------------
# Writing


class _SetWriter:
    """Collects corpus items, queries and qrels, copying media into the set folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.corpus: dict[str, dict[str, Any]] = {}
        self.queries: dict[str, dict[str, Any]] = {}
        self.qrels: dict[str, dict[str, dict[str, int]]] = {"train": {}, "test": {}}
        self.provenance: list[dict[str, Any]] = []

    def _copy(self, src: Path, kind: str, item_id: str) -> str:
        rel = Path("media") / kind / f"{item_id}{Path(src).suffix.lower()}"
        dst = self.folder / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        return rel.as_posix()

    def add_corpus_media(self, item_id: str, src: Path, modality: str, source: str, **prov: Any) -> None:
        if item_id in self.corpus:
            return
        self.corpus[item_id] = {"_id": item_id, "path": self._copy(src, "corpus", item_id),
                                "modality": modality}
        self.provenance.append({"_id": item_id, "role": "corpus", "source": source, **prov})

    def add_corpus_text(self, item_id: str, text: str, source: str, **prov: Any) -> None:
        if item_id in self.corpus:
            return
        self.corpus[item_id] = {"_id": item_id, "title": "", "text": text, "modality": "text"}
        self.provenance.append({"_id": item_id, "role": "corpus", "source": source, **prov})

    def add_query(self, qid: str, split: str, relevant: Iterable[str], *, text: str | None = None,
                  src: Path | None = None, modality: str = "text", source: str = "",
                  extra: dict[str, Any] | None = None, **prov: Any) -> None:
        rel = sorted(set(relevant))
        if not rel:
            return
        if src is not None:
            q = {"_id": qid, "path": self._copy(src, "queries", qid), "modality": modality}
        else:
            q = {"_id": qid, "text": text or "", "modality": "text"}
        q.update(extra or {})
        self.queries[qid] = q
        self.qrels[split][qid] = {cid: 1 for cid in rel}
        self.provenance.append({"_id": qid, "role": "query", "split": split, "source": source, **prov})

    def finish(self, info: dict[str, Any]) -> dict[str, Any]:
        def dump(name: str, rows: Iterable[dict[str, Any]]) -> None:
            with open(self.folder / name, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")

        dump("corpus.jsonl", (self.corpus[k] for k in sorted(self.corpus)))
        dump("queries.jsonl", (self.queries[k] for k in sorted(self.queries)))
        dump("provenance.jsonl", sorted(self.provenance, key=lambda r: (r["role"], r["_id"])))
        (self.folder / "qrels").mkdir(exist_ok=True)
        for split, table in self.qrels.items():
            with open(self.folder / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as f:
                f.write("query-id\tcorpus-id\tscore\n")
                for qid in sorted(table):
                    for cid in sorted(table[qid]):
                        f.write(f"{qid}\t{cid}\t{table[qid][cid]}\n")
        counts = {
            "corpus": len(self.corpus),
            "corpus_by_modality": _count(c["modality"] for c in self.corpus.values()),
            "queries": {s: len(t) for s, t in self.qrels.items()},
            "qrels": {s: sum(len(v) for v in t.values()) for s, t in self.qrels.items()},
        }
        info = {**info, "counts": counts, "split_rule": SPLIT_RULE, "builder_version": BUILDER_VERSION,
                "layout": "BEIR (corpus.jsonl, queries.jsonl, qrels/{train,test}.tsv) + path/modality"}
        (self.folder / "SET_INFO.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
        return info


def _count(xs: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for x in xs:
        out[x] += 1
    return dict(sorted(out.items()))


def _sources(*packages: str) -> list[dict[str, str]]:
    from xmodal.data.sources import DEBS, WHEELS

    pins = [WHEELS[p[5:]] if p.startswith("pypi:") else DEBS[p] for p in packages]
    return [{"package": p, "version": s.version, "license": s.license} for p, s in zip(packages, pins)]


# ---------------------------------------------------------------------------------------------
# Tux Paint sets


def _stamps(root: Path | None = None, include_symbols: bool = False) -> list:
    from xmodal.data.debian import fetch_deb
    from xmodal.data.tuxpaint import tuxpaint_stamps

    stamps = tuxpaint_stamps(root or fetch_deb("tuxpaint-stamps-default"))
    # symbols/ holds alphabets, money and maths: captions like "The letter B." are not scenes
    return stamps if include_symbols else [s for s in stamps if s.category != "symbols"]


def _groups(stamps: list) -> dict[str, list]:
    from xmodal.data.tuxpaint import normalise_caption

    g: dict[str, list] = defaultdict(list)
    for s in stamps:
        g[normalise_caption(s.caption)].append(s)
    return dict(sorted(g.items()))


def _add_images(w: _SetWriter, stamps: list) -> None:
    for s in stamps:
        w.add_corpus_media(_oid("i", s.id), s.image, "image", s.id, caption=s.caption)


def _build_t2i(w: _SetWriter, root: Path | None) -> dict[str, Any]:
    stamps = _stamps(root)
    _add_images(w, stamps)
    for key, members in _groups(stamps).items():
        w.add_query(_oid("q", key), split_of(key), (_oid("i", s.id) for s in members),
                    text=members[0].caption, source=members[0].id, group=key)
    return {"task": "text -> image", "query_modality": "text", "corpus_modality": "image",
            "relevance": "all stamp images whose normalised English caption equals the query's"}


def _build_i2t(w: _SetWriter, root: Path | None) -> dict[str, Any]:
    stamps = _stamps(root)
    groups = _groups(stamps)
    for key, members in groups.items():
        w.add_corpus_text(_oid("t", key), members[0].caption, members[0].id, group=key)
    for key, members in groups.items():
        for s in members:
            w.add_query(_oid("q", s.id), split_of(key), [_oid("t", key)], src=s.image,
                        modality="image", source=s.id, group=key)
    return {"task": "image -> text", "query_modality": "image", "corpus_modality": "text",
            "relevance": "the one distinct caption (text item) of the query image's caption group"}


def _build_t2a(w: _SetWriter, root: Path | None) -> dict[str, Any]:
    stamps = [s for s in _stamps(root, include_symbols=True) if s.sound]
    for s in stamps:
        w.add_corpus_media(_oid("a", s.id), s.sound, "audio", s.id, caption=s.caption)
    for key, members in _groups(stamps).items():
        w.add_query(_oid("q", key), split_of(key), (_oid("a", s.id) for s in members),
                    text=members[0].caption, source=members[0].id, group=key)
    return {"task": "text -> audio", "query_modality": "text", "corpus_modality": "audio",
            "relevance": "every stamp sound (X.ogg) of the query's caption group; all stamp sounds, "
                         "symbols/ included, are in the corpus"}


def _build_a2i(w: _SetWriter, root: Path | None) -> dict[str, Any]:
    stamps = _stamps(root)
    _add_images(w, stamps)
    groups = _groups(stamps)
    for key, members in groups.items():
        for s in members:
            if s.sound:
                w.add_query(_oid("q", s.id), split_of(key), (_oid("i", m.id) for m in members),
                            src=s.sound, modality="audio", source=s.id, group=key)
    return {"task": "audio (the object's sound) -> image", "query_modality": "audio",
            "corpus_modality": "image",
            "relevance": "all images of the caption group of the stamp whose sound is the query"}


def _build_speech2i(w: _SetWriter, root: Path | None) -> dict[str, Any]:
    stamps = _stamps(root)
    _add_images(w, stamps)
    for key, members in _groups(stamps).items():
        for s in members:
            if s.spoken:
                w.add_query(_oid("q", s.id), split_of(key), (_oid("i", m.id) for m in members),
                            src=s.spoken, modality="audio", source=s.id, group=key,
                            transcript=s.caption)
    return {"task": "speech (spoken English caption) -> image", "query_modality": "audio",
            "corpus_modality": "image",
            "relevance": "all images of the caption group of the stamp whose X_desc.ogg is the query"}


def _build_multilingual(w: _SetWriter, root: Path | None) -> dict[str, Any]:
    from xmodal.data.tuxpaint import normalise_caption

    stamps = _stamps(root)
    _add_images(w, stamps)
    groups = _groups(stamps)
    dropped = {"untranslated": 0, "mixed_split": 0}
    for lang in MULTILINGUAL_LANGS:
        # One query per distinct translation: two English captions ("duck", "drake") may share
        # one translation ("un pato"), and then the images of both are relevant.
        by_text: dict[str, list] = defaultdict(list)
        for s in stamps:
            t = s.translations.get(lang)
            if not t:
                continue
            if normalise_caption(t) == normalise_caption(s.caption):
                dropped["untranslated"] += 1  # English left in place: not a cross-lingual query
                continue
            by_text[normalise_caption(t)].append(s)
        for key, members in sorted(by_text.items()):
            sides = {split_of(normalise_caption(s.caption)) for s in members}
            if len(sides) > 1:
                dropped["mixed_split"] += 1  # would put an English caption on both sides
                continue
            english = {normalise_caption(s.caption) for s in members}
            relevant = (_oid("i", m.id) for g in english for m in groups[g])
            w.add_query(_oid("q", f"{lang}:{key}"), sides.pop(), relevant,
                        text=members[0].translations[lang], source=members[0].id,
                        extra={"lang": lang}, lang=lang, english=members[0].caption)
    return {"task": "text (non-English) -> image", "query_modality": "text", "corpus_modality": "image",
            "languages": list(MULTILINGUAL_LANGS),
            "relevance": "all images of every English caption group that has a stamp whose "
                         "translation in the query's language normalises to the query text; "
                         "split by those English caption groups",
            "dropped_queries": dropped}


def _build_video(w: _SetWriter, root: Path | None, n_single: int = 30, n_multi: int = 30,
                 seconds: float = 2.0, size: tuple[int, int] = (224, 168), fps: int = 12) -> dict[str, Any]:
    from xmodal.data.tuxpaint import normalise_caption
    from xmodal.data.video import make_stamp_clip

    stamps = [s for s in _stamps(root) if s.sound]
    by_split: dict[str, list] = {"train": [], "test": []}
    for s in stamps:
        by_split[split_of(normalise_caption(s.caption))].append(s)
    rng = random.Random(20240601)
    plans: list[list] = []
    # Single-shot clips spread over both sides in proportion.
    singles = rng.sample(stamps, min(n_single, len(stamps)))
    plans += [[s] for s in sorted(singles, key=lambda s: s.id)]
    # Multi-shot clips join stamps from ONE side only, so a clip never mixes train and test
    # captions; alternate 2 and 3 shots.
    n_test = round(n_multi * (1 - TRAIN_FRACTION))
    for split, n in (("train", n_multi - n_test), ("test", n_test)):
        pool = sorted(by_split[split], key=lambda s: s.id)
        made, seen = 0, set()
        for _ in range(20 * n):  # bounded: a tiny pool may not allow N distinct clips
            if made == n or len(pool) < 3:
                break
            shots = rng.sample(pool, 2 + (made % 2))
            key = tuple(s.id for s in shots)
            # distinct captions within a clip, and no clip twice
            if len({normalise_caption(s.caption) for s in shots}) == len(shots) and key not in seen:
                seen.add(key)
                plans.append(shots)
                made += 1
    tmp = w.folder / "media" / "corpus"
    tmp.mkdir(parents=True, exist_ok=True)
    clip_of: dict[str, set[str]] = defaultdict(set)  # caption group -> clip ids
    for plan in plans:
        cid = _oid("v", "|".join(s.id for s in plan))
        path = tmp / f"{cid}.mp4"
        spans = make_stamp_clip(path, [(s.image, s.sound, seconds, s.caption) for s in plan],
                                size=size, fps=fps)
        w.corpus[cid] = {"_id": cid, "path": path.relative_to(w.folder).as_posix(), "modality": "video"}
        w.provenance.append({"_id": cid, "role": "corpus", "source": [s.id for s in plan],
                             "shots": [{k: sp[k] for k in ("start", "end", "caption")} | {"stamp": s.id}
                                       for sp, s in zip(spans, plan)]})
        for s in plan:
            clip_of[normalise_caption(s.caption)].add(cid)
    groups = _groups(stamps)
    for key in sorted(clip_of):
        w.add_query(_oid("q", key), split_of(key), clip_of[key], text=groups[key][0].caption,
                    source=groups[key][0].id, group=key)
    return {"task": "text -> video (shot captions)", "query_modality": "text", "corpus_modality": "video",
            "relevance": "every clip with a shot of a stamp from the query's caption group",
            "clips": {"single_shot": sum(len(p) == 1 for p in plans),
                      "multi_shot": sum(len(p) > 1 for p in plans),
                      "seconds_per_shot": seconds, "size": list(size), "fps": fps,
                      "codecs": "H.264 yuv420p + AAC 16 kHz mono"}}


# ---------------------------------------------------------------------------------------------
# Asterisk


def _build_asterisk_t2a(w: _SetWriter, root: Path | None) -> dict[str, Any]:
    from xmodal.data.asterisk import asterisk_prompts
    from xmodal.data.debian import fetch_deb
    from xmodal.data.tuxpaint import normalise_caption

    prompts = asterisk_prompts(root or fetch_deb("asterisk-core-sounds-en-wav"))
    groups: dict[str, list] = defaultdict(list)
    for p in prompts:
        w.add_corpus_media(_oid("a", p.key), p.wav, "audio", p.key, transcript=p.transcript)
        groups[normalise_caption(p.transcript)].append(p)
    for key, members in sorted(groups.items()):
        w.add_query(_oid("q", key), split_of(key), (_oid("a", p.key) for p in members),
                    text=members[0].transcript, source=members[0].key, group=key)
    return {"task": "text (transcript) -> speech audio", "query_modality": "text",
            "corpus_modality": "audio",
            "relevance": "every prompt whose normalised transcript equals the query's",
            "note": "no paraphrase split: honest paraphrases need a person or an LLM; none made"}


# ---------------------------------------------------------------------------------------------
# Registry and public API


def _build_av(w: _SetWriter, root: Path | None, **options: Any) -> dict[str, Any]:
    from xmodal.data.av_sets import build_av  # its own module; it imports this one

    return build_av(w, root, **options)


@dataclass(frozen=True)
class _SetSpec:
    description: str
    builder: Callable[[_SetWriter, Path | None], dict[str, Any]]
    packages: tuple[str, ...] = ("tuxpaint-stamps-default",)
    kwargs: dict[str, Any] = field(default_factory=dict)


SETS: dict[str, _SetSpec] = {
    "tuxpaint-t2i": _SetSpec("English stamp caption -> stamp images (outside symbols/)", _build_t2i),
    "tuxpaint-i2t": _SetSpec("stamp image -> its caption among all distinct captions", _build_i2t),
    "tuxpaint-t2a": _SetSpec("stamp caption -> the object's recorded sound (.ogg)", _build_t2a),
    "tuxpaint-a2i": _SetSpec("a stamp's recorded sound -> its picture", _build_a2i),
    "tuxpaint-speech2i": _SetSpec("spoken English caption (X_desc.ogg) -> stamp images", _build_speech2i),
    "tuxpaint-multilingual-t2i": _SetSpec(
        f"caption in {', '.join(MULTILINGUAL_LANGS)} -> stamp images", _build_multilingual),
    "tuxpaint-video": _SetSpec("shot caption -> generated stamp clips (1-3 shots, with sound)",
                               _build_video),
    "tuxpaint-av": _SetSpec("sound, speech, picture or both -> clips where picture and sound disagree "
                            "(ground-truth time spans)", _build_av),
    "asterisk-t2a": _SetSpec("transcript text -> studio-recorded speech prompt (WAV)",
                             _build_asterisk_t2a,
                             ("asterisk-core-sounds-en-wav", "asterisk-core-sounds-en")),
}
# caption -> picture and name -> sound sets of whole held-out sources (icons, symbols, photos, flags, emoji, sounds)
SETS.update({name: _SetSpec(desc, builder, packages, kwargs)
             for name, (desc, builder, packages, kwargs) in named_set_specs().items()})


def list_sets() -> dict[str, str]:
    """{set name: one-line description} of every set build_set can make."""
    return {name: spec.description for name, spec in SETS.items()}


def build_set(name: str, out_root: Path | None = None, *, source_root: Path | None = None,
              force: bool = False, **options: Any) -> Path:
    """Build (or reuse) the evaluation set NAME under OUT_ROOT (default cache_dir("sets")).

    SOURCE_ROOT overrides the package's extraction root (tests pass a small synthetic tree).
    OPTIONS go to the set's builder (tuxpaint-video: n_single, n_multi, seconds, size, fps).
    A finished set is reused unless FORCE, or its builder version or options changed; a set is
    written to a temporary folder and renamed into place, so a broken build never looks finished.
    """
    if name not in SETS:
        raise KeyError(f"{name}: unknown evaluation set; known: {', '.join(SETS)}")
    spec = SETS[name]
    out_root = Path(out_root) if out_root is not None else cache_dir("sets")
    final = out_root / name
    info_path = final / "SET_INFO.json"
    if not force and info_path.is_file():
        try:
            old = json.loads(info_path.read_text())
            if old.get("builder_version") == BUILDER_VERSION and old.get("options", {}) == json.loads(json.dumps(options)):
                return final
        except json.JSONDecodeError:
            pass
    tmp = out_root / f".{name}.building"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    w = _SetWriter(tmp)
    info = spec.builder(w, source_root, **{**spec.kwargs, **options})
    info = {"name": name, "description": spec.description, "options": options,
            "sources": _sources(*spec.packages) if source_root is None else
            [{"package": "custom", "root": str(source_root)}], **info}
    info["build_seconds"] = round(time.perf_counter() - t0, 2)
    w.finish(info)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final
