"""The one reader of retrieval sets in the BEIR layout, extended with media items.

A set folder holds:

- ``corpus.jsonl``: ``{"_id", "modality", ...}`` — text items carry ``"text"`` (and optionally
  ``"title"``), media items a ``"path"`` relative to the folder.
- ``queries.jsonl``: ``{"_id", "modality", "text"}`` or with ``"path"``; a mixed query may carry
  both (its modality then reads e.g. ``"text+image"``; if absent it is inferred that way).
- ``qrels/<split>.tsv``: ``query-id<TAB>corpus-id<TAB>score`` with a header line, graded scores.
  (A 4-column TREC qrels line ``qid 0 docid score`` is read as well.)

A plain BEIR set has no ``modality`` keys: items default to text and title + text are joined
with a space, as BEIR's dense retrievers do.

Media paths stay inside the set: a path that is absolute, climbs out with ``..``, holds a NUL
byte, or is a symbolic link (or passes through one) leading outside the set folder is an error,
so a hostile ``corpus.jsonl`` can neither index nor show (in a report) a file elsewhere.

Modality: a media file's modality is what the media stage's content sniffing says
(`xmodal.media.probe`), the one place that decides it. An item without ``"modality"`` gets the
sniffed one; a declared modality that the content contradicts is an error (the engine would
index the file as what it is, and every per-modality metric would be wrong). A file that cannot
be sniffed (corrupt, unsupported), or whose bytes merely read as plain text under a declared
media modality (far more often a broken media file than a mislabelled text), keeps its declared
modality: indexing reports it.

Validation policy: structural faults are errors (`SetError`, naming file, line and reason):
missing files, bad JSON, duplicate ids, unknown modalities, a media path that does not exist or
leaves the folder. Qrels lines whose query or corpus id is unknown are *dropped with a warning*
(the way BEIR restricts itself to the qrels' queries, and because public qrels often mention a
few ids removed from a corpus); ``strict=True`` turns that into an error. Queries of the split
with no relevant judgement (all scores <= 0) are dropped with a warning too: no metric is
defined for them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from xmodal.errors import MediaError, XModalError
from xmodal.types import Modality


class SetError(XModalError, ValueError):
    """An evaluation set is malformed; the message names the file, line and reason."""


_MODALITIES = {m.value for m in Modality}


@dataclass
class CorpusItem:
    """One corpus entry. Media items have `path` (absolute, inside the set); text items `text`/`title`."""

    id: str
    modality: str
    text: str = ""
    title: str = ""
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def index_text(self) -> str:
        """The text indexed for a text item: BEIR's `title + " " + text`, stripped."""
        return (f"{self.title} {self.text}" if self.title else self.text).strip()


@dataclass
class Query:
    """One query: text, a media file, or both (mixed)."""

    id: str
    modality: str  # "text", "image", ... or "text+image" for a mixed query
    text: str | None = None
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalSet:
    """A set read for one split: the whole corpus, the queries judged in the split, their qrels."""

    name: str
    root: Path
    split: str
    corpus: dict[str, CorpusItem]
    queries: dict[str, Query]  # only the queries judged in this split
    qrels: dict[str, dict[str, int]]  # qrels[query_id][corpus_id] = graded score
    warnings: list[str] = field(default_factory=list)

    @property
    def corpus_modalities(self) -> list[str]:
        return sorted({item.modality for item in self.corpus.values()})

    def modality_counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """(corpus modality -> count, query modality -> count)."""
        return (
            dict(sorted(Counter(i.modality for i in self.corpus.values()).items())),
            dict(sorted(Counter(q.modality for q in self.queries.values()).items())),
        )


def corpus_fingerprint(set_dir: str | Path, profile: str) -> str:
    """Hash of corpus.jsonl and the profile: an index built from both can be reused."""
    h = hashlib.sha256()
    h.update(profile.encode())
    h.update(b"\0")
    with open(Path(set_dir) / "corpus.jsonl", "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:32]


def inside(root: Path, path: str | Path) -> bool:
    """Whether `path`, with every symbolic link followed, lies inside the folder `root`."""
    try:
        return Path(path).resolve().is_relative_to(Path(root).resolve())
    except (OSError, ValueError):  # a NUL byte, a link loop
        return False


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise SetError(f"{path}: missing (an evaluation set needs corpus.jsonl, queries.jsonl and qrels/<split>.tsv)")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SetError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise SetError(f"{path}:{lineno}: each line must be a JSON object with an \"_id\"")
            rows.append((lineno, row))
    return rows


def _check_modality(value: Any, where: str, allow_mixed: bool) -> str:
    parts = str(value).split("+")
    if not all(p in _MODALITIES for p in parts) or (len(parts) > 1 and not allow_mixed):
        raise SetError(f"{where}: unknown modality {value!r} (expected one of {sorted(_MODALITIES)})")
    return str(value)


def _resolve_media(root: Path, rel: Any, where: str) -> Path:
    """The real path of a media file named relative to the set folder `root` (already resolved);
    anything that would reach a file outside the folder is refused with the reason."""
    if not isinstance(rel, str) or not rel:
        raise SetError(f"{where}: \"path\" must be a non-empty string")
    if "\0" in rel:
        raise SetError(f"{where}: media path {rel!r} contains a NUL byte")
    if os.path.isabs(rel) or rel.startswith(("/", "\\")):
        raise SetError(f"{where}: media path {rel!r} is absolute; paths must be relative to the set folder {root}")
    if not PurePath(os.path.normpath(os.path.join(root, rel))).is_relative_to(root):
        raise SetError(f"{where}: media path {rel!r} climbs out of the set folder {root} ('..')")
    try:
        path = (root / rel).resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise SetError(f"{where}: media path {rel!r} cannot be resolved ({e})") from None
    if not path.is_relative_to(root):
        raise SetError(f"{where}: media path {rel!r} is a symbolic link to {path}, outside the set folder {root}")
    if not path.exists():
        raise SetError(f"{where}: media file {rel!r} not found (looked for {path})")
    if not path.is_file():
        raise SetError(f"{where}: media path {rel!r} is not a regular file")
    return path


def _sniffed(path: Path) -> str | None:
    """The modality the media stage finds in the file's content, or None when it cannot tell."""
    from xmodal.media import probe

    try:
        return probe(path)[0].value
    except MediaError:
        return None


def _media_modality(declared: Any, path: Path, rel: str, where: str, allow_mixed: bool,
                    with_text: bool) -> str:
    """The item's modality: the declared one checked against the content, else the sniffed one."""
    sniffed = _sniffed(path)
    if declared is None:
        if sniffed is None:
            raise SetError(f"{where}: cannot tell the modality of {rel!r} from its content; add \"modality\"")
        return f"text+{sniffed}" if with_text and sniffed != "text" else sniffed
    declared = _check_modality(declared, where, allow_mixed)
    media_part = declared.split("+")[-1]
    if sniffed is not None and sniffed != media_part and sniffed != "text":
        raise SetError(f"{where}: {rel!r} is declared {media_part!r} but its content is {sniffed}")
    return declared


def _rows(path: Path, kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, id, row) for each line of a jsonl file; a repeated id is an error."""
    seen: set[str] = set()
    for lineno, row in _read_jsonl(path):
        where, ident = f"{path}:{lineno}", str(row["_id"])
        if ident in seen:
            raise SetError(f"{where}: duplicate {kind} _id {ident!r}")
        seen.add(ident)
        yield where, ident, row


def _load_corpus(root: Path) -> dict[str, CorpusItem]:
    path = root / "corpus.jsonl"
    corpus: dict[str, CorpusItem] = {}
    for where, cid, row in _rows(path, "corpus"):
        rel = row.get("path")
        text, title = row.get("text") or "", row.get("title") or ""
        if rel is not None:
            media = _resolve_media(root, rel, f"{where} (item {cid!r})")
            modality = _media_modality(row.get("modality"), media, rel, where, allow_mixed=False, with_text=False)
        else:
            media = None
            modality = _check_modality(row.get("modality", "text"), where, allow_mixed=False)
            if modality != "text":
                raise SetError(f"{where}: {modality} item {cid!r} has no \"path\"")
            if not (text or title).strip():
                raise SetError(f"{where}: text item {cid!r} has no \"text\"")
        meta = {k: v for k, v in row.items() if k not in {"_id", "modality", "text", "title", "path"}}
        corpus[cid] = CorpusItem(cid, modality, str(text), str(title), media, meta)
    if not corpus:
        raise SetError(f"{path}: no corpus items")
    return corpus


def _load_queries(root: Path) -> dict[str, Query]:
    path = root / "queries.jsonl"
    queries: dict[str, Query] = {}
    for where, qid, row in _rows(path, "query"):
        text = row.get("text")
        text = str(text) if text is not None and str(text).strip() else None
        rel = row.get("path")
        if rel is not None:
            media = _resolve_media(root, rel, f"{where} (query {qid!r})")
            modality = _media_modality(row.get("modality"), media, rel, where, allow_mixed=True,
                                       with_text=text is not None)
        elif text is None:
            raise SetError(f"{where}: query {qid!r} has neither \"text\" nor \"path\"")
        else:
            media = None
            modality = _check_modality(row.get("modality", "text"), where, allow_mixed=True)
        meta = {k: v for k, v in row.items() if k not in {"_id", "modality", "text", "path"}}
        queries[qid] = Query(qid, modality, text, media, meta)
    return queries


def _load_qrels(path: Path) -> list[tuple[int, str, str, int]]:
    if not path.is_file():
        splits = sorted(p.stem for p in path.parent.glob("*.tsv")) if path.parent.is_dir() else []
        raise SetError(f"{path}: missing (splits present: {', '.join(splits) or 'none'})")
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, cols in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not cols or not "".join(cols).strip():
                continue
            if len(cols) == 1:  # space-separated TREC qrels
                cols = cols[0].split()
            if len(cols) == 4:  # TREC: qid iteration docid score
                cols = [cols[0], cols[2], cols[3]]
            if len(cols) != 3:
                raise SetError(f"{path}:{lineno}: expected query-id, corpus-id, score; got {len(cols)} columns")
            try:
                score = int(float(cols[2]))
            except ValueError:
                if lineno == 1:  # the BEIR header "query-id corpus-id score"
                    continue
                raise SetError(f"{path}:{lineno}: score {cols[2]!r} is not a number") from None
            rows.append((lineno, cols[0].strip(), cols[1].strip(), score))
    return rows


def _judged(root: Path, split: str, corpus: dict[str, CorpusItem], all_queries: dict[str, Query],
            strict: bool, allow_empty: bool) -> EvalSet:
    """The split's view of a read set: its qrels (unknown ids and unjudged queries dropped)."""
    qrels_path = root / "qrels" / f"{split}.tsv"
    notes: list[str] = []
    qrels: dict[str, dict[str, int]] = {}
    unknown_q: list[str] = []
    unknown_c: list[str] = []
    for lineno, qid, cid, score in _load_qrels(qrels_path):
        if qid not in all_queries:
            unknown_q.append(f"{qid} (line {lineno})")
            continue
        if cid not in corpus:
            unknown_c.append(f"{cid} (line {lineno})")
            continue
        qrels.setdefault(qid, {})[cid] = score
    for kind, bad in (("query", unknown_q), ("corpus", unknown_c)):
        if bad:
            msg = f"{qrels_path}: {len(bad)} judgement(s) name a {kind} id not in the set, e.g. {', '.join(bad[:5])}"
            if strict:
                raise SetError(msg)
            notes.append(msg + "; dropped")
    unjudged = [qid for qid, judged in qrels.items() if not any(s >= 1 for s in judged.values())]
    if unjudged:
        notes.append(f"{qrels_path}: {len(unjudged)} quer(ies) have no relevant item (score >= 1), "
                     f"e.g. {', '.join(unjudged[:5])}; dropped")
        for qid in unjudged:
            del qrels[qid]
    if not qrels and not allow_empty:
        raise SetError(f"{qrels_path}: no query of the split has a relevant item in the corpus")
    queries = {qid: all_queries[qid] for qid in qrels}
    return EvalSet(root.name, root, split, corpus, queries, qrels, notes)


def _root(path: str | Path) -> Path:
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise SetError(f"{root}: not a folder (expected a set folder with corpus.jsonl)")
    return root


def load_splits(path: str | Path, splits: list[str] | None = None, strict: bool = False) -> dict[str, EvalSet]:
    """Read a set folder once and view it per split (default: every `qrels/*.tsv`, where a
    split may be empty; a split asked for by name must have a judged query).

    Raises SetError on structural faults. Qrels naming unknown ids are dropped with a warning
    (recorded in `EvalSet.warnings` and issued through `warnings.warn`), or raise when `strict`.
    """
    root = _root(path)
    corpus = _load_corpus(root)
    all_queries = _load_queries(root)
    allow_empty = splits is None
    if splits is None:
        splits = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
        if not splits:
            raise SetError(f"{root / 'qrels'}: no <split>.tsv judgements")
    out = {split: _judged(root, split, corpus, all_queries, strict, allow_empty) for split in splits}
    for es in out.values():
        for note in es.warnings:
            warnings.warn(note, stacklevel=3)
    return out


def load_set(path: str | Path, split: str = "test", strict: bool = False) -> EvalSet:
    """Read and validate a set folder; queries are restricted to those judged in `split`."""
    return load_splits(path, [split], strict)[split]


def validate_set(path: str | Path) -> dict[str, EvalSet]:
    """Read every split strictly (no judgement of an unknown id) and check that no query
    is judged in two splits; returns the splits. Raises SetError naming the first fault."""
    sets = load_splits(path, strict=True)
    seen: dict[str, str] = {}
    for split, es in sets.items():
        for qid in es.qrels:
            if qid in seen:
                raise SetError(f"{es.root}: query {qid!r} is judged in both qrels/{seen[qid]}.tsv and qrels/{split}.tsv")
            seen[qid] = split
    return sets
