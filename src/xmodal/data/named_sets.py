"""Caption → picture and name → sound evaluation sets from the held-out named sources (`xmodal.data.named`).

Each set is one whole source that no training data comes from (role "heldout" in
`NAMED_SOURCES`): symbols, icons, photos and drawings, flags, emoji line art; a sound set pools
the held-out sound sources (GCompris' animal, instrument and everyday sounds and the OVOS farm
animals: ten sounds alone would make R@10 trivially 1). Its corpus is a seeded sample of caption
groups (at most `max_per_group` items of each); each sampled group gives one query, its caption,
and every item of the group is relevant. All queries are in the test split: the source as a
whole is unseen, so there is nothing to train on.

The sets are registered in `xmodal.data.sets.SETS` (so `xmodal data list`, `xmodal data fetch`
and `xmodal eval NAME` know them) and written by its set writer: opaque ids and file names, the
source file of every item kept apart in provenance.jsonl.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xmodal.data.named import NAMED_SOURCES, NamedItem, named_records

if TYPE_CHECKING:
    from xmodal.data.sets import _SetWriter

#: set name -> held-out named source
NAMED_T2I_SETS = {
    "open-symbols-t2i": "open-symbols",
    "bootstrap-icons-t2i": "bootstrap-icons",
    "tango-icons-t2i": "tango-icons",
    "gcompris-t2i": "gcompris",
    "kgeography-flags-t2i": "kgeography-flags",
    "openmoji-t2i": "openmoji",
}
#: set name -> held-out named sound sources pooled into one name -> sound set
NAMED_T2A_SETS = {
    "named-sounds-t2a": ("gcompris-sounds", "ovos-animals"),
}
MAX_GROUPS = 300
MAX_PER_GROUP = 2
SAMPLE_SEED = "xmodal-heldout-v1"


def sample_groups(records: list[NamedItem], max_groups: int | None = MAX_GROUPS,
                  max_per_group: int = MAX_PER_GROUP, seed: str = SAMPLE_SEED,
                  modality: str = "image") -> dict[str, list[NamedItem]]:
    """{group: its first `max_per_group` `modality` items (by path)} for a seeded sample of groups.

    The sample orders groups by SHA-1 of (seed, group), so it is stable, does not depend on the
    order the source lists its items in, and a larger `max_groups` only adds groups."""
    groups: dict[str, list[NamedItem]] = defaultdict(list)
    for it in records:
        if it.modality == modality and it.group:
            groups[it.group].append(it)
    order = sorted(groups, key=lambda g: hashlib.sha1(f"{seed}\0{g}".encode()).hexdigest())
    if max_groups is not None:
        order = order[:max_groups]
    return {g: sorted(groups[g], key=lambda it: str(it.path))[:max_per_group] for g in sorted(order)}


def write_caption_set(w: "_SetWriter", records: list[NamedItem], source: str, *, max_groups: int | None = MAX_GROUPS,
                      max_per_group: int = MAX_PER_GROUP, seed: str = SAMPLE_SEED,
                      modality: str = "image") -> dict[str, Any]:
    """Fill the set writer `w` with a caption → `modality` set from `records` (see the module doc)."""
    from xmodal.data.sets import _oid

    groups = sample_groups(records, max_groups, max_per_group, seed, modality)
    n_groups = len({it.group for it in records if it.modality == modality and it.group})
    prefix = "i" if modality == "image" else "a"
    for key, members in groups.items():
        ids = []
        for it in members:
            cid = _oid(prefix, f"{it.source}:{it.path.name}:{key}")
            w.add_corpus_media(cid, it.path, modality, it.source, caption=it.caption, file=str(it.path), detail=it.detail)
            ids.append(cid)
        w.add_query(_oid("q", f"{source}:{key}"), "test", ids, text=members[0].caption, source=source, group=key)
    src = NAMED_SOURCES.get(source)
    return {"task": f"text -> {modality}", "query_modality": "text", "corpus_modality": modality,
            "relevance": f"every sampled {'picture' if modality == 'image' else 'sound'} of the query caption's group",
            "held_out_source": source, "domain": src.domain if src else "", "license": src.license if src else "",
            "sample": {"groups": len(groups), "of_groups": n_groups, "max_per_group": max_per_group, "seed": seed},
            "split": "all queries in test: the whole source is held out of training"}


def build_named_t2i(w: "_SetWriter", source_root: Path | None, *, source: str, max_groups: int | None = MAX_GROUPS,
                    max_per_group: int = MAX_PER_GROUP) -> dict[str, Any]:
    """Set builder (`xmodal.data.sets` signature): the source's records from its pinned
    package, or from `source_root` (a small extracted tree, as tests give)."""
    records = named_records(source, root=source_root) if source_root is not None else named_records(source)
    return write_caption_set(w, records, source, max_groups=max_groups, max_per_group=max_per_group)


def build_named_t2a(w: "_SetWriter", source_root: Path | None, *, sources: tuple[str, ...],
                    max_groups: int | None = MAX_GROUPS, max_per_group: int = MAX_PER_GROUP) -> dict[str, Any]:
    """Set builder: name → sound over the pooled records of the held-out sound `sources` (a
    group named alike in two sources, 'duck', is one query with the sounds of both)."""
    if source_root is not None:
        raise ValueError("named sound sets read their pinned packages; tests call write_caption_set directly")
    records = [r for s in sources for r in named_records(s)]
    info = write_caption_set(w, records, "+".join(sources), max_groups=max_groups, max_per_group=max_per_group,
                             modality="audio")
    info["held_out_source"] = list(sources)
    info["license"] = "; ".join(f"{s}: {NAMED_SOURCES[s].license}" for s in sources)
    return info


#: set name -> (held-out picture source, held-out sound source) whose caption groups meet in clips
NAMED_T2V_SETS = {
    "gcompris-t2v": ("gcompris", "gcompris-sounds"),
}


def build_named_clips(w: "_SetWriter", source_root: Path | None, *, sources: tuple[str, str], n_multi: int = 30,
                      seconds: float = 2.0, size: tuple[int, int] = (224, 168), fps: int = 12) -> dict[str, Any]:
    """Set builder: description → clip from held-out sources whose caption groups have both a
    picture and a sound (GCompris' farm animals and instruments: the horse's photo with its
    neigh, the violin's drawing with its sound). Every such group gets a single-shot clip (its
    first picture by path, its first sound); `n_multi` more clips join 2 or 3 groups (seeded), as
    tuxpaint-video does. One query per group, its caption; relevant: every clip with a shot of it.
    All queries are test queries."""
    import random

    from xmodal.data.sets import _oid
    from xmodal.data.video import make_stamp_clip

    if source_root is not None:
        raise ValueError("named clip sets read their pinned packages")
    pic_src, snd_src = sources
    pics = sample_groups(named_records(pic_src), None, 1, modality="image")
    snds = sample_groups(named_records(snd_src), None, 1, modality="audio")
    groups = sorted(set(pics) & set(snds))
    rng = random.Random(20240602)
    plans = [[g] for g in groups]
    seen: set[tuple[str, ...]] = set()
    for _ in range(20 * n_multi):
        if len(plans) - len(groups) >= n_multi or len(groups) < 3:
            break
        shots = tuple(rng.sample(groups, 2 + (len(plans) % 2)))
        if shots not in seen:
            seen.add(shots)
            plans.append(list(shots))
    tmp = w.folder / "media" / "corpus"
    tmp.mkdir(parents=True, exist_ok=True)
    clip_of: dict[str, set[str]] = defaultdict(set)
    for plan in plans:
        cid = _oid("v", "|".join(plan))
        path = tmp / f"{cid}.mp4"
        spans = make_stamp_clip(path, [(pics[g][0].path, snds[g][0].path, seconds, pics[g][0].caption) for g in plan],
                                size=size, fps=fps)
        w.corpus[cid] = {"_id": cid, "path": path.relative_to(w.folder).as_posix(), "modality": "video"}
        w.provenance.append({"_id": cid, "role": "corpus", "source": "+".join(sources),
                             "shots": [{k: sp[k] for k in ("start", "end", "caption")}
                                       | {"image": str(pics[g][0].path), "sound": str(snds[g][0].path)}
                                       for sp, g in zip(spans, plan)]})
        for g in plan:
            clip_of[g].add(cid)
    for g in groups:
        w.add_query(_oid("q", f"{pic_src}:{g}"), "test", clip_of[g], text=pics[g][0].caption, source="+".join(sources),
                    group=g)
    return {"task": "text -> video (shot captions)", "query_modality": "text", "corpus_modality": "video",
            "relevance": "every clip with a shot of the query caption's group (its picture and its sound)",
            "held_out_source": list(sources),
            "license": "; ".join(f"{s}: {NAMED_SOURCES[s].license}" for s in sources),
            "clips": {"single_shot": len(groups), "multi_shot": len(plans) - len(groups), "seconds_per_shot": seconds,
                      "size": list(size), "fps": fps, "codecs": "H.264 yuv420p + AAC 16 kHz mono"},
            "split": "all queries in test: the whole source is held out of training"}


def set_specs() -> dict[str, tuple[str, Any, tuple[str, ...], dict[str, Any]]]:
    """{set name: (description, builder, packages, builder kwargs)} for `xmodal.data.sets.SETS`."""
    out = {}
    for name, source in NAMED_T2I_SETS.items():
        src = NAMED_SOURCES[source]
        desc = f"caption -> {src.domain} of the held-out source {source} (≤{MAX_GROUPS} captions)"
        out[name] = (desc, build_named_t2i, src.packages, {"source": source})
    for name, sources in NAMED_T2A_SETS.items():
        packages = tuple(dict.fromkeys(p for s in sources for p in NAMED_SOURCES[s].packages))
        desc = f"sound name -> sound of the held-out sources {', '.join(sources)}"
        out[name] = (desc, build_named_t2a, packages, {"sources": sources})
    for name, sources in NAMED_T2V_SETS.items():
        packages = tuple(dict.fromkeys(p for s in sources for p in NAMED_SOURCES[s].packages))
        desc = f"caption -> clips of a held-out picture with its sound ({', '.join(sources)})"
        out[name] = (desc, build_named_clips, packages, {"sources": sources})
    return out
