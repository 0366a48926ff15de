"""`xmodal info --check` / `--repair`: verify an index against its manifest and its files, and
fix what can be fixed without losing anything.

Checked: the manifest (present, its vector size = the table's), every row (unique id, one item
per file path, modality known, vector finite with unit norm, token rows = segments = n_tokens),
the files the rows came from (gone, or changed since indexed), the store's upkeep (full-text
index, ANN index past its threshold, old table versions) and whether a writer holds the lock.

Repaired, under the write lock: duplicate rows of one id (one row kept, the newest), several
items for one path (the one matching the file kept), vectors off unit norm (renormalised),
broken or non-finite vectors and token/segment mismatches (re-embedded from the file when it is
still there), missing indices and old versions (rebuilt / cleaned). Never deleted: items whose
file is gone (`xmodal index --prune` does that, on purpose) or that cannot be re-embedded.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal.media.names import fs_path
from xmodal.types import Modality

if TYPE_CHECKING:
    from . import Index

NORM_TOLERANCE = 1e-3
SHOWN = 5  # examples kept per problem
MANY_VERSIONS = 100  # old table versions worth a clean-up


@dataclass
class Problem:
    kind: str  # stable key: duplicate_ids, duplicate_paths, bad_vectors, ...
    count: int
    detail: str  # what it means and what --repair does about it
    examples: list[str] = field(default_factory=list)
    fixable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "detail": self.detail, "examples": self.examples, "fixable": self.fixable}


@dataclass
class CheckReport:
    items: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def get(self, kind: str) -> Problem | None:
        return next((p for p in self.problems if p.kind == kind), None)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "items": self.items, "problems": [p.to_dict() for p in self.problems],
                "repaired": self.repaired, "notes": self.notes}


@dataclass
class _Scan:
    rows_by_id: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    ids_by_path: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    renormalise: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # non-finite or zero vectors, token/segment mismatches
    bad_modality: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    n: int = 0


def _regular(path: str) -> os.stat_result | None:
    try:
        st = fs_path(path).stat()
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _scan(index: "Index") -> _Scan:
    store, dim = index.store, index.store.dim
    modalities = {m.value for m in Modality}
    s = _Scan()
    columns = ["id", "path", "modality", "content_hash", "mtime", "size", "segments", "tokens", "n_tokens", "vector"]
    for rows in store.iter_rows(columns, batch=2000):
        for r in rows:
            s.n += 1
            rid = r["id"]
            s.rows_by_id[rid].append({"_rowid": r["_rowid"], "mtime": r["mtime"], "path": r["path"]})
            if r["path"]:
                s.ids_by_path[r["path"]].add(rid)
            if r["modality"] not in modalities:
                s.bad_modality.append(rid)
            v = np.asarray(r["vector"], dtype=np.float64)
            norm = float(np.linalg.norm(v)) if v.shape == (dim,) else math.nan
            try:
                n_segments = len(json.loads(r["segments"] or "[]"))
            except ValueError:
                n_segments = -1
            n_tok = int(r["n_tokens"] or 0)
            tokens_ok = len(r["tokens"] or b"") == n_tok * dim * 2 and n_segments == n_tok
            if not math.isfinite(norm) or norm < 1e-6 or not tokens_ok:
                s.broken.append(rid)
            elif abs(norm - 1.0) > NORM_TOLERANCE:
                s.renormalise.append(rid)
            if r["path"]:
                st = _regular(r["path"])
                if st is None:
                    s.gone.append(r["path"])
                elif st.st_size != r["size"] or st.st_mtime != r["mtime"]:
                    s.changed.append(r["path"])
    return s


def check(index: "Index") -> CheckReport:
    """What is wrong with an index (nothing is changed)."""
    report = CheckReport()
    store = index.store
    manifest = store.read_manifest()
    if manifest is None:
        report.problems.append(Problem("manifest_missing", 1, "no manifest: the encoders that built the index are unknown", fixable=False))
    else:
        fp_dim = (manifest.get("fingerprint") or {}).get("dim")
        if fp_dim != store.dim:
            report.problems.append(Problem("manifest_dim", 1, f"the manifest says {fp_dim}-d vectors, the table holds {store.dim}-d", fixable=False))
    s = _scan(index)
    report.items = s.n

    def add(kind: str, found: list[str], detail: str, fixable: bool = True) -> None:
        if found:
            report.problems.append(Problem(kind, len(found), detail, sorted(found)[:SHOWN], fixable))

    dup_ids = [i for i, rows in s.rows_by_id.items() if len(rows) > 1]
    add("duplicate_ids", dup_ids, "ids held by more than one row (repair keeps the newest row of each)")
    dup_paths = [p for p, ids in s.ids_by_path.items() if len(ids) > 1]
    add("duplicate_paths", dup_paths, "files indexed as more than one item (repair keeps the item that matches the file)")
    add("unnormalised_vectors", s.renormalise, "vectors off unit length (repair renormalises them)")
    broken_fixable = [i for i in s.broken if any(_regular(r["path"]) for r in s.rows_by_id[i] if r["path"])]
    add("broken_items", broken_fixable, "non-finite or zero vectors, or token features that do not match their segments (repair re-embeds them from their files)")
    add("broken_items_without_file", sorted(set(s.broken) - set(broken_fixable)),
        "broken items whose file is gone: cannot be re-embedded (`xmodal delete ID` removes them)", fixable=False)
    add("unknown_modality", s.bad_modality, "rows with a modality xmodal does not know", fixable=False)
    add("files_gone", s.gone, "items whose file is gone or no longer a regular file (`xmodal index --prune` removes them)", fixable=False)
    if s.changed:
        report.notes.append(f"{len(s.changed)} files changed since they were indexed: run `xmodal index` again to update them")
    missing = store.missing_indices()
    if "full_text" in missing:
        report.problems.append(Problem("fts_index_missing", 1, "no full-text index (repair builds it)"))
    if "ann" in missing:
        report.problems.append(Problem("ann_index_missing", 1, f"{s.n} items and no ANN index (repair builds it)"))
    counter = getattr(store, "version_count", None)
    if counter is not None:
        versions = counter()
        if versions > MANY_VERSIONS:
            report.notes.append(f"{versions} table versions kept; those older than 10 minutes are removed by --repair or the next write")
    owner = store.write_lock().owner() if hasattr(store.write_lock(), "owner") else None
    if owner is not None:
        report.notes.append(f"last writer: {owner.describe()}")
    return report


def repair(index: "Index") -> CheckReport:
    """Fix what `check` finds, without losing an item; returns the check made after repairing,
    with `repaired` counting what was done."""
    store, indexer = index.store, index.indexer
    done: dict[str, int] = defaultdict(int)
    reembed: dict[str, str] = {}  # id -> file to embed again
    with indexer.writing("repairing the index"):
        s = _scan(index)
        # 1. one row per id: keep the newest (highest mtime, then the last written)
        extra = []
        for rows in s.rows_by_id.values():
            if len(rows) > 1:
                keep = max(rows, key=lambda r: (r["mtime"] or 0.0, r["_rowid"]))
                extra += [r["_rowid"] for r in rows if r is not keep]
        if extra:
            done["duplicate_rows_removed"] += store.delete_rows(extra)
        # 2. one item per path: keep the one whose hash matches the file (else the newest)
        drop = []
        for path, ids in s.ids_by_path.items():
            if len(ids) < 2:
                continue
            rows = store.get(sorted(ids))
            digest = None
            if _regular(path) is not None:
                from xmodal.media import content_hash

                try:
                    digest = content_hash(fs_path(path))
                except Exception:
                    digest = None
            keep = max(rows, key=lambda r: (r["content_hash"] == digest, r["mtime"] or 0.0, r["id"]))
            drop += [r["id"] for r in rows if r["id"] != keep["id"]]
        if drop:
            done["duplicate_items_removed"] += store.delete(drop)
        # 3. vectors off unit norm: renormalised in one commit
        if s.renormalise:
            rows = store.get(s.renormalise, with_tokens=True)
            for r in rows:
                v = np.asarray(r["vector"], dtype=np.float32)
                r["vector"] = v / np.linalg.norm(v)
            store.upsert(rows)
            done["vectors_renormalised"] += len(rows)
        # 4. broken rows whose file is there: embedded again below, under their own id
        for rid in s.broken:
            for r in s.rows_by_id[rid]:
                if r["path"] and _regular(r["path"]) is not None:
                    reembed[rid] = r["path"]
    if reembed:
        rep = indexer.add([str(fs_path(p)) for p in reembed.values()], ids=list(reembed), force=True)
        done["items_reembedded"] += len(rep.updated) + len(rep.added)
        done["reembed_failed"] += len(rep.failed)
    indexer.finalize()  # rebuilds missing full-text / ANN indices, removes old versions
    done["indices_refreshed"] = 1
    after = check(index)
    after.repaired = {k: v for k, v in done.items() if v}
    return after
