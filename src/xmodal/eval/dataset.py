"""Read a retrieval set in the BEIR layout, extended with media items.

A set folder holds:

- ``corpus.jsonl``: ``{"_id", "modality", ...}`` — text items carry ``"text"`` (and optionally
  ``"title"``), media items a ``"path"`` relative to the folder.
- ``queries.jsonl``: ``{"_id", "modality", "text"}`` or with ``"path"``; a mixed query may carry
  both (its modality then reads e.g. ``"text+image"``; if absent it is inferred that way).
- ``qrels/<split>.tsv``: ``query-id<TAB>corpus-id<TAB>score`` with a header line, graded scores.
  (A 4-column TREC qrels line ``qid 0 docid score`` is read as well.)

A plain BEIR set has no ``modality`` keys: items default to text and title + text are joined
with a space, as BEIR's dense retrievers do.

Validation policy: structural faults are errors (`SetError`, naming file, line and reason):
missing files, bad JSON, duplicate ids, unknown modalities, a media path that does not exist.
Qrels lines whose query or corpus id is unknown are *dropped with a warning* (the way BEIR
restricts itself to the qrels' queries, and because public qrels often mention a few ids
removed from a corpus); ``strict=True`` turns that into an error. Queries of the split with no
relevant judgement (all scores <= 0) are dropped with a warning too: no metric is defined for
them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xmodal.errors import XModalError
from xmodal.types import Modality


class SetError(XModalError, ValueError):
    """An evaluation set is malformed; the message names the file, line and reason."""


_EXTENSIONS: dict[str, str] = {}
for _mod, _exts in {
    "image": ".png .jpg .jpeg .gif .bmp .webp .svg .tif .tiff",
    "audio": ".wav .ogg .oga .mp3 .flac .m4a .opus .aac",
    "video": ".mp4 .webm .mkv .mov .avi .m4v .ogv",
    "document": ".pdf .docx .odt .pptx .html .htm",
    "text": ".txt .md",
}.items():
    for _e in _exts.split():
        _EXTENSIONS[_e] = _mod

_MODALITIES = {m.value for m in Modality}


@dataclass
class CorpusItem:
    """One corpus entry. Media items have `path` (absolute); text items have `text`/`title`."""

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


def guess_modality(path: str | Path) -> str | None:
    """Modality implied by a file extension, or None when the extension says nothing."""
    return _EXTENSIONS.get(Path(path).suffix.lower())


def corpus_fingerprint(set_dir: str | Path, profile: str) -> str:
    """Hash of corpus.jsonl and the profile: an index built from both can be reused."""
    h = hashlib.sha256()
    h.update(profile.encode())
    h.update(b"\0")
    with open(Path(set_dir) / "corpus.jsonl", "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:32]


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
    if not isinstance(rel, str) or not rel:
        raise SetError(f"{where}: \"path\" must be a non-empty string")
    path = (root / rel).resolve()
    if not path.is_file():
        raise SetError(f"{where}: media file {rel!r} not found (looked for {path})")
    return path


def _load_corpus(root: Path) -> dict[str, CorpusItem]:
    path = root / "corpus.jsonl"
    corpus: dict[str, CorpusItem] = {}
    for lineno, row in _read_jsonl(path):
        where = f"{path}:{lineno}"
        cid = str(row["_id"])
        if cid in corpus:
            raise SetError(f"{where}: duplicate corpus _id {cid!r}")
        rel = row.get("path")
        media = _resolve_media(root, rel, f"{where} (item {cid!r})") if rel is not None else None
        modality = row.get("modality")
        if modality is None:
            modality = (guess_modality(media) if media else "text") or None
            if modality is None:
                raise SetError(f"{where}: cannot tell the modality of {rel!r} from its extension; add \"modality\"")
        modality = _check_modality(modality, where, allow_mixed=False)
        text, title = row.get("text") or "", row.get("title") or ""
        if media is None:
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
    for lineno, row in _read_jsonl(path):
        where = f"{path}:{lineno}"
        qid = str(row["_id"])
        if qid in queries:
            raise SetError(f"{where}: duplicate query _id {qid!r}")
        text = row.get("text")
        text = str(text) if text is not None and str(text).strip() else None
        rel = row.get("path")
        media = _resolve_media(root, rel, f"{where} (query {qid!r})") if rel is not None else None
        if text is None and media is None:
            raise SetError(f"{where}: query {qid!r} has neither \"text\" nor \"path\"")
        modality = row.get("modality")
        if modality is None:
            if media is None:
                modality = "text"
            else:
                guessed = guess_modality(media)
                if guessed is None:
                    raise SetError(f"{where}: cannot tell the modality of {rel!r} from its extension; add \"modality\"")
                modality = f"text+{guessed}" if text is not None and guessed != "text" else guessed
        modality = _check_modality(modality, where, allow_mixed=True)
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


def load_set(path: str | Path, split: str = "test", strict: bool = False) -> EvalSet:
    """Load and validate a set folder; queries are restricted to those judged in `split`.

    Raises SetError on structural faults. Qrels naming unknown ids are dropped with a
    warning (recorded in `EvalSet.warnings` and issued through `warnings.warn`), or raise
    when `strict`.
    """
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise SetError(f"{root}: not a folder (expected a set folder with corpus.jsonl)")
    corpus = _load_corpus(root)
    all_queries = _load_queries(root)
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
        notes.append(f"{qrels_path}: {len(unjudged)} quer(ies) have no relevant item (score >= 1), e.g. {', '.join(unjudged[:5])}; dropped")
        for qid in unjudged:
            del qrels[qid]
    if not qrels:
        raise SetError(f"{qrels_path}: no query of the split has a relevant item in the corpus")
    for note in notes:
        warnings.warn(note, stacklevel=2)
    queries = {qid: all_queries[qid] for qid in qrels}
    return EvalSet(root.name, root, split, corpus, queries, qrels, notes)
