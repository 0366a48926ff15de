"""Run a set's queries through an xmodal index and measure them.

Per-pair convention ("text->image"): a pair's queries are those of that query modality that
have at least one relevant item of that corpus modality; their qrels are restricted to corpus
items of that modality. When the corpus holds a single modality the pair's ranking is the
ordinary one. When it holds several, each pair's ranking comes from a search restricted to
that corpus modality (``idx.search(..., modalities=[m])``) — what a user who asks for images
gets — rather than from the mixed ranking filtered afterwards, which would leave fewer than K
candidates of the modality whenever others crowd the top of the list.

Timing: ``index_s`` is the wall time of adding the corpus (0 when an index is reused);
query latencies are per ``idx.search`` call of the overall ranking (pair searches are not
timed), after one untimed warm-up search per query modality so that loading an encoder is not
counted as a query.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.errors import XModalError
from xmodal.data.beir import EvalSet, Query, corpus_fingerprint, load_set
from xmodal.eval.metrics import evaluate_run, recall_curve
from xmodal.types import Modality

SIDECAR = "xmodal-eval.json"  # written into index_dir: which set/profile built this index
MAX_FAILED_LISTED = 20

RankedList = list[tuple[str, float]]  # (corpus id, score), best first


class EvalResult(dict):
    """The JSON-ready result, plus in-memory details for reports (not serialised).

    Attributes: `runs[stage][query_id]` -> [(corpus_id, score), ...] as retrieved;
    `explanations[stage][query_id][corpus_id]` -> where that top result matched (the region,
    time span or page, with the reranker's reason); `per_query[stage][metric][query_id]`;
    `eval_set` (the loaded EvalSet).
    """

    runs: dict[str, dict[str, RankedList]]
    explanations: dict[str, dict[str, dict[str, str]]]
    per_query: dict[str, dict[str, dict[str, float]]]
    eval_set: EvalSet | None


def _default_opener(index_dir: Path, profile: str) -> Any:
    import xmodal

    return xmodal.open(index_dir, profile=profile)


def _count_in_stats(stats: dict[str, Any]) -> int | None:
    for key in ("items", "n_items", "count", "rows"):
        value = stats.get(key)
        if isinstance(value, int):
            return value
    return None


def _space_key(profile: str, binding: Any) -> str:
    """What decides the vectors: the profile's full encoder fingerprint (not just its name)."""
    from xmodal.errors import XModalError
    from xmodal.space import Space

    try:
        return json.dumps(Space(profile, binding=binding).fingerprint(), sort_keys=True, default=str)
    except (XModalError, KeyError):  # a profile only a custom opener understands
        if binding is None or isinstance(binding, str):
            return profile if binding is None else f"{profile}+binding:{binding}"
        return f"{profile}+binding:{binding.weights_sha256()[:16]}"


def _prepare_index_dir(index_dir: Path, fingerprint: str) -> bool:
    """True when index_dir already holds an index of this corpus and profile (reuse it)."""
    sidecar = index_dir / SIDECAR
    if sidecar.is_file():
        try:
            info = json.loads(sidecar.read_text())
        except (OSError, json.JSONDecodeError):
            info = {}
        if info.get("fingerprint") == fingerprint:
            # complete: reuse. Interrupted: add again; the engine skips what it already holds.
            return bool(info.get("complete"))
        # Built by an earlier eval from another corpus or profile: ours to rebuild.
        shutil.rmtree(index_dir)
    elif index_dir.exists() and any(index_dir.iterdir()):
        raise XModalError(
            f"{index_dir}: holds files that xmodal eval did not write (no {SIDECAR}); "
            "give an empty or new folder as index_dir so nothing of yours is overwritten"
        )
    index_dir.mkdir(parents=True, exist_ok=True)
    return False


class _AddProgress:
    """Adapts the engine's add-progress protocol (start/item) to a Rich progress bar."""

    def __init__(self, label: str) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.label = label
        self.task: Any = None

    def start(self, total: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task(self.label, total=total)

    def item(self, path: str, status: str, reason: str = "") -> None:
        if self.task is not None:
            self.bar.advance(self.task)

    def stop(self) -> None:
        self.bar.stop()


def _build_index(idx: Any, es: EvalSet, progress: bool = False) -> list[dict[str, str]]:
    """Add the corpus: media by path with ids = corpus _id, text via add_texts. Returns failures."""
    media = [item for item in es.corpus.values() if item.path is not None]
    texts = [(item.id, item.index_text()) for item in es.corpus.values() if item.path is None]
    by_path = {str(item.path): item.id for item in media}
    failed: list[dict[str, str]] = []
    if media:
        bar = _AddProgress(f"indexing {es.name}") if progress else None
        try:
            kwargs = {"progress": bar} if bar is not None else {}
            report = idx.add([item.path for item in media], ids=[item.id for item in media], **kwargs)
        finally:
            if bar is not None:
                bar.stop()
        for path, reason in getattr(report, "failed", None) or []:
            cid = by_path.get(str(path)) or by_path.get(str(Path(path).resolve()), "")
            failed.append({"id": cid, "path": str(path), "reason": str(reason)})
    if texts:
        report = idx.add_texts(texts)
        for ident, reason in getattr(report, "failed", None) or []:
            failed.append({"id": str(ident), "path": "", "reason": str(reason)})
    return failed


#: results per query whose "where it matched" the runner keeps for reports
EXPLAINED_TOP = 5


def _search(
    idx: Any, query: Query, k: int, modalities: Sequence[Modality] | None, rerank: str | None,
    why: dict[str, str] | None = None,
) -> RankedList:
    """Ranked (id, score) pairs; fills `why` with where each of the top results matched."""
    kwargs: dict[str, Any] = {"text": query.text, "file": query.path, "k": k}
    if modalities is not None:
        kwargs["modalities"] = list(modalities)
    if rerank is not None:
        kwargs["rerank"] = rerank
    results = idx.search(**kwargs)
    ranked: RankedList = []
    seen: set[str] = set()
    for r in results:  # an item can come back once per matching segment: keep its best (first)
        if r.id not in seen:
            seen.add(r.id)
            ranked.append((str(r.id), float(r.score)))
            if why is not None and len(ranked) <= EXPLAINED_TOP and (r.segment or r.meta.get("reason")):
                why[str(r.id)] = str(r.meta.get("reason") or r.segment.describe())
    return ranked


def _ids(run: dict[str, RankedList]) -> dict[str, list[str]]:
    return {qid: [doc for doc, _ in ranked] for qid, ranked in run.items()}


def _round(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 6) for k, v in metrics.items()}


def _progress(enabled: bool, total: int, label: str) -> tuple[Any, Callable[[], None]]:
    if not enabled:
        return None, lambda: None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    bar.start()
    task = bar.add_task(label, total=total)
    return bar, lambda: bar.advance(task)


def evaluate(
    set_dir: str | Path,
    split: str = "test",
    profile: str = "default",
    index_dir: str | Path | None = None,
    ks: Iterable[int] = (1, 5, 10, 100),
    rerank: str | None = None,
    k_retrieve: int = 100,
    progress: bool = True,
    include_runs: bool = False,
    opener: Callable[[Path, str], Any] | None = None,
    binding: Any = None,
) -> EvalResult:
    """Index a set's corpus, run its queries, and measure retrieval (see the module docstring).

    - index_dir: keep the index there and reuse it on a later call when it was built from the
      same corpus.jsonl and profile (a sidecar file records the fingerprint); None builds a
      throwaway index in a temporary folder.
    - k_retrieve: depth of the retrieved ranking (at least max(ks)); mAP is over that depth.
    - rerank: a reranker name passed to ``idx.search(..., rerank=NAME)``; the result then has
      a "retrieve" and a "rerank" stage.
    - opener: ``(index_dir, profile) -> index``; defaults to ``xmodal.open``.
    - binding: a learned binding (folder or ``xmodal.bind.Binding``) passed to ``xmodal.open``;
      None keeps the profile's own, "none" evaluates the bare training-free bridge.
    """
    ks = tuple(sorted(set(int(k) for k in ks)))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive cut-offs, got {ks}")
    depth = max(ks[-1], int(k_retrieve))
    es = load_set(set_dir, split)
    if binding is not None:  # a folder, a Binding, "default" or "none" (the bare bridge)
        import xmodal
        from xmodal.bind import load_binding

        if not (isinstance(binding, str) and binding.lower() == "none"):
            binding = load_binding(binding)
        opener = opener or (lambda p, prof: xmodal.open(p, profile=prof, binding=binding))
    opener = opener or _default_opener
    # a reused index must have been built by the same encoders, settings and binding
    fp_key = _space_key(profile, binding)
    fingerprint = corpus_fingerprint(es.root, fp_key)

    tmp: str | None = None
    if index_dir is None:
        tmp = tempfile.mkdtemp(prefix="xmodal-eval-")
        idx_path, reuse = Path(tmp) / "index", False
    else:
        idx_path = Path(index_dir).expanduser().resolve()
        reuse = _prepare_index_dir(idx_path, fingerprint)
    try:
        idx = opener(idx_path, profile)
        if reuse:
            info = json.loads((idx_path / SIDECAR).read_text())
            failed = info.get("failed_items", [])
            count = _count_in_stats(idx.stats() or {})
            if count == 0:  # sidecar survived but the table did not: rebuild rather than score nothing
                reuse = False
        index_s = 0.0
        if not reuse:
            def sidecar(complete: bool, failed: list[dict[str, str]]) -> None:
                # written before indexing too, so an interrupted build is recognised as ours
                info = {"fingerprint": fingerprint, "set": es.name, "profile": profile,
                        "n_corpus": len(es.corpus), "complete": complete, "failed_items": failed}
                (idx_path / SIDECAR).write_text(json.dumps(info))

            if tmp is None:
                sidecar(False, [])
            t0 = time.perf_counter()
            failed = _build_index(idx, es, progress)
            index_s = time.perf_counter() - t0
            if tmp is None:
                sidecar(True, failed)

        stages = ["retrieve"] + (["rerank"] if rerank is not None else [])
        runs: dict[str, dict[str, RankedList]] = {s: {} for s in stages}
        explanations: dict[str, dict[str, dict[str, str]]] = {s: {} for s in stages}
        latency: dict[str, list[float]] = {s: [] for s in stages}
        corpus_mods = es.corpus_modalities
        multi = len(corpus_mods) > 1
        # pair -> stage -> query id -> ranking restricted to the pair's corpus modality
        pair_runs: dict[str, dict[str, dict[str, RankedList]]] = {}
        pair_qrels: dict[str, dict[str, dict[str, int]]] = {}
        for qid, query in es.queries.items():
            for cm in corpus_mods:
                judged = {d: s for d, s in es.qrels[qid].items() if es.corpus[d].modality == cm}
                if any(s >= 1 for s in judged.values()):
                    pair_qrels.setdefault(f"{query.modality}->{cm}", {})[qid] = judged

        # Load each query modality's encoders before timing, so model loading is not a "query".
        warmed: set[str] = set()
        for query in es.queries.values():
            if query.modality not in warmed:
                warmed.add(query.modality)
                for stage in stages:
                    _search(idx, query, depth, None, rerank if stage == "rerank" else None)

        n_pairs = sum(len(judged) for judged in pair_qrels.values()) if multi else 0
        n_searches = (len(es.queries) + n_pairs) * len(stages)
        bar, tick = _progress(progress, n_searches, f"searching {es.name}")
        try:
            for qid, query in es.queries.items():
                for stage in stages:
                    rr = rerank if stage == "rerank" else None
                    t0 = time.perf_counter()
                    runs[stage][qid] = _search(idx, query, depth, None, rr, explanations[stage].setdefault(qid, {}))
                    latency[stage].append((time.perf_counter() - t0) * 1000.0)
                    tick()
                    for cm in corpus_mods:
                        pair = f"{query.modality}->{cm}"
                        if qid not in pair_qrels.get(pair, {}):
                            continue
                        if multi:
                            ranked = _search(idx, query, depth, [Modality(cm)], rr)
                            # keep only that modality even if a backend ignores the filter
                            ranked = [(d, s) for d, s in ranked if d in es.corpus and es.corpus[d].modality == cm]
                            tick()
                        else:
                            ranked = runs[stage][qid]
                        pair_runs.setdefault(pair, {}).setdefault(stage, {})[qid] = ranked
        finally:
            if bar is not None:
                bar.stop()
        close = getattr(idx, "close", None)
        if callable(close):
            close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    result = EvalResult()
    corpus_counts, query_counts = es.modality_counts()
    result.update(
        {
            "set": es.name,
            "split": split,
            "profile": profile,
            "n_queries": len(es.queries),
            "n_corpus": len(es.corpus),
            "ks": list(ks),
            "corpus_modalities": corpus_counts,
            "query_modalities": query_counts,
            "stages": {},
            "by_pair": {},
            "recall_curve": {},
        }
    )
    per_query: dict[str, dict[str, dict[str, float]]] = {}
    for stage in stages:
        means, pq = evaluate_run(es.qrels, _ids(runs[stage]), ks)
        result["stages"][stage] = _round(means)
        result["recall_curve"][stage] = [round(x, 6) for x in recall_curve(es.qrels, _ids(runs[stage]), depth)]
        per_query[stage] = pq
    for pair in sorted(pair_qrels):
        entry: dict[str, Any] = {"n_queries": len(pair_qrels[pair])}
        for stage in stages:
            means, _ = evaluate_run(pair_qrels[pair], _ids(pair_runs[pair][stage]), ks)
            if stage == "retrieve":
                entry.update(_round(means))  # the retrieve stage's metrics sit at the top level
            else:
                entry[stage] = _round(means)
        result["by_pair"][pair] = entry

    timing: dict[str, Any] = {"index_s": round(index_s, 3), "index_reused": bool(reuse)}
    for stage in stages:
        prefix = "query" if stage == "retrieve" else f"{stage}_query"
        lat = np.array(latency[stage]) if latency[stage] else np.zeros(1)
        timing[f"{prefix}_p50_ms"] = round(float(np.percentile(lat, 50)), 3)
        timing[f"{prefix}_p95_ms"] = round(float(np.percentile(lat, 95)), 3)
        timing[f"{prefix}_mean_ms"] = round(float(lat.mean()), 3)
    result["timing"] = timing
    result["n_failed_items"] = len(failed)
    result["failed_items"] = failed[:MAX_FAILED_LISTED]
    result["warnings"] = list(es.warnings)
    result["index_dir"] = str(idx_path) if tmp is None else None
    if include_runs:
        result["runs"] = {s: {q: [[d, round(sc, 6)] for d, sc in r] for q, r in run.items()} for s, run in runs.items()}
        result["explanations"] = {s: {q: w for q, w in e.items() if w} for s, e in explanations.items()}
    result.runs = runs
    result.explanations = explanations
    result.per_query = per_query
    result.eval_set = es
    return result
