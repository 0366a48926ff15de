"""Train the attention reranker on hard negatives from xmodal's own first stage.

    from xmodal.train.rerank import train_from_sets
    report = train_from_sets(["~/.cache/xmodal/sets/tuxpaint-t2i:train"], out="my-reranker")

Recipe (as BLIP/ALBEF mine image-text-matching negatives from the contrastive top-k): index each
set's corpus with the profile (indexes cached under xmodal's cache and reused), run every
training query through the engine's own first stage (`Index.search(..., rerank=<capture>)`, so
the reranker later sees exactly these inputs), and keep its top-`depth` list with qrels labels.
Each step takes a group of lists, keeps their positives plus the hardest negatives and a few
random ones, and minimises listwise softmax cross-entropy + binary match (ITM) loss. A share of
the training lists is held out by caption group across all sets (`xmodal.train.split`: a
caption trained on as a text query never returns as the answer of an image query's validation
list): it picks the epoch and the fusion weight (grid over [0, 1] with the engine's
`fuse_scores`). Seeds are fixed. The artifact records the space (encoders, settings, binding)
the lists came from, and refuses to rerank an index of another space.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from xmodal.errors import XModalError
from xmodal.eval.metrics import reciprocal_rank, success_at
from xmodal.rerank._features import _keep, candidate_features, query_features, scalar_features
from xmodal.rerank.base import Candidate, Reranker, RerankQuery, RerankScore, fuse_scores
from xmodal.train.split import caption_key, split_by_caption

log = logging.getLogger(__name__)


@dataclass
class TrainList:
    """One query's first-stage list, featurised; candidate rows are shared via `items`."""

    qid: str
    group: str  # which set it came from
    q_tokens: np.ndarray
    q_kinds: np.ndarray
    keys: list[str]  # item keys into the shared table
    sel: list[np.ndarray]  # rows of each item kept for this query
    scalars: np.ndarray  # (N, F)
    first: np.ndarray  # (N,) first-stage scores
    labels: np.ndarray  # (N,) 1 = relevant
    n_relevant: int  # relevant items in the whole corpus (for recall)
    captions: tuple[str, ...] = ()  # caption keys of the query and its relevant text items


@dataclass
class ListSet:
    lists: list[TrainList] = field(default_factory=list)
    items: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # key -> (rows f16, kinds)

    def add(self, qid: str, group: str, query: RerankQuery, cands: Sequence[Candidate], relevant: dict[str, int],
            max_q: int = 32, max_c: int = 64, captions: Iterable[str] = ()) -> None:
        """Featurise one query's list; `captions` are the texts it involves (the query's own
        text, the text items judged relevant), which decide its side of the validation split."""
        qf = query_features(query, max_q)
        sel, keys, full = [], [], []
        for c in cands:
            key = f"{group}\0{c.id}"
            if key not in self.items:
                f = candidate_features(c, qf.vector, 10**9)
                self.items[key] = (f.tokens.astype(np.float16), f.kinds)
            rows = self.items[key][0].astype(np.float32)
            sel.append(np.concatenate([[0], 1 + _keep(rows[1:], qf.vector, max_c - 1)]))
            keys.append(key)
            full.append(candidate_features(c, qf.vector, max_c))
        scal = scalar_features(qf, cands, full)
        labels = np.array([1.0 if relevant.get(c.id, 0) >= 1 else 0.0 for c in cands], np.float32)
        self.lists.append(TrainList(qid, group, qf.tokens, qf.kinds, keys, sel, scal,
                                    np.array([c.first_stage_score for c in cands], np.float32), labels,
                                    sum(1 for s in relevant.values() if s >= 1),
                                    tuple(sorted({caption_key(c) for c in captions if c and c.strip()}))))

    def pairs(self, lst: TrainList, idx: Sequence[int]):
        rows = [self.items[lst.keys[i]][0][lst.sel[i]].astype(np.float32) for i in idx]
        kinds = [self.items[lst.keys[i]][1][lst.sel[i]] for i in idx]
        return rows, kinds


class _Capture(Reranker):
    """Records what the engine hands a reranker; keeps the first-stage order (weight 0)."""

    fusion_weight = 0.0

    def __init__(self) -> None:
        self.last: tuple[RerankQuery, list[Candidate]] | None = None

    def rerank(self, query: RerankQuery, candidates: Sequence[Candidate]) -> list[RerankScore]:
        self.last = (query, list(candidates))
        return [RerankScore(score=c.first_stage_score) for c in candidates]


def parse_pair(spec: str) -> tuple[Path, str]:
    """'SET_DIR:split' (or a set name from `xmodal data list`) → (set folder, split)."""
    where, _, split = spec.rpartition(":") if ":" in spec else (spec, "", "train")
    split = split or "train"
    path = Path(where).expanduser()
    if not path.exists():
        from xmodal.data import build_set, list_sets

        if where in list_sets():
            path = Path(build_set(where))
        else:
            raise XModalError(f"--pairs {spec!r}: {where} is neither a set folder nor a set name")
    if split == "test":
        log.warning("training the reranker on a test split: its test numbers will be meaningless")
    return path, split


def collect(set_dir: str | Path, split: str = "train", profile: str = "default", depth: int = 50,
            index_dir: str | Path | None = None, into: ListSet | None = None) -> tuple[ListSet, dict[str, Any]]:
    """Index the set (cached), run its `split` queries through the first stage, keep the lists."""
    import xmodal
    from xmodal.config import cache_dir
    from xmodal.data.beir import load_set
    from xmodal.eval import evaluate

    set_dir = Path(set_dir).expanduser().resolve()
    index_dir = Path(index_dir) if index_dir else cache_dir("sets", ".indexes", Path(profile).stem) / set_dir.name
    base = evaluate(set_dir, split=split, profile=profile, index_dir=index_dir, progress=False, ks=(1, 5, 10, 50))
    idx = xmodal.open(index_dir)
    es = load_set(set_dir, split)
    out = into or ListSet()
    cap = _Capture()
    for qid, q in es.queries.items():
        cap.last = None
        idx.search(text=q.text, file=q.path, k=depth, rerank=cap, rerank_depth=depth)
        if cap.last is None:
            continue
        query, cands = cap.last
        captions = [q.text or ""] + [es.corpus[c].index_text() for c, s in es.qrels[qid].items()
                                     if s >= 1 and es.corpus[c].path is None]
        out.add(qid, es.name, query, cands, es.qrels[qid], captions=captions)
    space = idx.space.fingerprint()
    info = {"set": es.name, "split": split, "queries": len(es.queries), "first_stage": base["stages"]["retrieve"],
            "fingerprint": _data_fingerprint(set_dir, split, json.dumps(space, sort_keys=True, default=str)),
            "space": space}
    return out, info


def _data_fingerprint(set_dir: Path, split: str, space_key: str) -> str:
    """The set's corpus, queries and judgements, and the space that embedded them (encoders,
    settings, binding): the first-stage lists a reranker learns from depend on all of them."""
    from xmodal.data.beir import corpus_fingerprint

    h = hashlib.sha256(corpus_fingerprint(set_dir, space_key).encode())
    h.update((set_dir / "queries.jsonl").read_bytes())
    h.update((set_dir / "qrels" / f"{split}.tsv").read_bytes())
    return h.hexdigest()[:16]


# -- fitting ---------------------------------------------------------------------------------
@dataclass
class FitConfig:
    epochs: int = 12
    group: int = 16  # lists per step
    hard: int = 8  # hardest negatives per list (top of the first stage)
    random_neg: int = 4  # plus random negatives from the rest of the list
    lr: float = 1e-3
    weight_decay: float = 0.01
    val_frac: float = 0.2
    seed: int = 0
    max_minutes: float = 20.0
    listwise: float = 1.0  # weight of the listwise softmax loss next to the ITM (BCE) loss


def split_val(lists: Sequence[TrainList], frac: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, validation) list indices, by caption group across every set of the run; a list
    with no caption (a media query with media answers) is a group of its own."""
    keys = [lst.captions or (f"\0{lst.group}\0{lst.qid}",) for lst in lists]
    return split_by_caption(keys, frac, seed)


def score_lists(model: Any, data: ListSet, which: Sequence[int], chunk: int = 400) -> list[np.ndarray]:
    """Model logits for every candidate of the chosen lists."""
    import torch

    from xmodal.rerank._model import pad_batch

    model.eval()
    out = []
    with torch.inference_mode():
        for i in which:
            lst = data.lists[i]
            n = len(lst.keys)
            rows, kinds = data.pairs(lst, range(n))
            logits = []
            for s in range(0, n, chunk):
                b = pad_batch([lst.q_tokens] * len(rows[s:s + chunk]), [lst.q_kinds] * len(rows[s:s + chunk]),
                              rows[s:s + chunk], kinds[s:s + chunk], lst.scalars[s:s + chunk])
                logits.append(model(*b)[0].numpy())
            out.append(np.concatenate(logits) if logits else np.zeros(0, np.float32))
    return out


def list_metrics(data: ListSet, which: Sequence[int], scores: Sequence[np.ndarray] | None, weight: float = 1.0) -> dict[str, float]:
    """R@1/5/10 and MRR@10 (`xmodal.eval.metrics`: a relevant item in the top k; 1 / rank of the
    first one within 10) of the lists reordered by fuse(first, scores, weight) (None: the first
    stage); a list without candidates scores 0."""
    total = {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0, "MRR@10": 0.0}
    for j, i in enumerate(which):
        lst = data.lists[i]
        if len(lst.first) == 0:
            continue
        s = lst.first if scores is None else fuse_scores(lst.first, scores[j], weight)
        gains = lst.labels[np.argsort(-np.asarray(s), kind="stable")]
        for k in (1, 5, 10):
            total[f"R@{k}"] += success_at(gains, k)
        total["MRR@10"] += reciprocal_rank(gains, 10)
    n = max(len(which), 1)
    return {name: v / n for name, v in total.items()}


def choose_weight(data: ListSet, which: Sequence[int], scores: Sequence[np.ndarray]) -> tuple[float, dict[str, float]]:
    """The fusion weight in {0, .05, ..., 1} with the best R@1 + MRR@10 on these lists, averaged
    over their sets (tasks) rather than pooled, so a large set cannot buy a gain with a loss on a
    small one; returns it with the pooled metrics at that weight."""
    best = (-1.0, 0.0)
    for w in np.round(np.linspace(0, 1, 21), 2):
        key = macro_key(data, which, scores, float(w))
        if key > best[0] + 1e-9:
            best = (key, float(w))
    return best[1], list_metrics(data, which, scores, best[1])


#: a modality pair needs this many validation lists before the reranker is trusted on it;
#: below, its fusion weight is 0 (the first stage decides): a handful of queries cannot tell a
#: real gain from noise, and a reranker that hurts a task is worse than none
MIN_PAIR_VAL_LISTS = 30


def list_pair(lst: TrainList) -> str:
    """'query modality->candidate modality' of a list (its candidates' majority modality)."""
    from xmodal.rerank._features import MODALITIES, SCALARS

    q_cols = [SCALARS.index(f"query_{m}") for m in MODALITIES]
    c_cols = [SCALARS.index(f"cand_{m}") for m in MODALITIES]
    q = MODALITIES[int(np.argmax(lst.scalars[0, q_cols]))]
    c = MODALITIES[int(np.argmax(lst.scalars[:, c_cols].sum(0)))]
    return f"{q}->{c}"


def choose_pair_weights(data: ListSet, which: Sequence[int], scores: Sequence[np.ndarray]) -> dict[str, dict[str, Any]]:
    """Per modality pair: the fusion weight chosen on its own validation lists (0 with too few)."""
    by_pair: dict[str, list[int]] = {}
    for j, i in enumerate(which):
        by_pair.setdefault(list_pair(data.lists[i]), []).append(j)
    out = {}
    for pair, js in sorted(by_pair.items()):
        sub, sub_scores = [which[j] for j in js], [scores[j] for j in js]
        if len(js) < MIN_PAIR_VAL_LISTS:
            out[pair] = {"weight": 0.0, "val_lists": len(js), "why": f"fewer than {MIN_PAIR_VAL_LISTS} validation lists"}
            continue
        w, m = choose_weight(data, sub, sub_scores)
        base = list_metrics(data, sub, None)
        out[pair] = {"weight": w, "val_lists": len(js), "val_R@1": [round(base["R@1"], 4), round(m["R@1"], 4)]}
    return out


def macro_key(data: ListSet, which: Sequence[int], scores: Sequence[np.ndarray], weight: float) -> float:
    """R@1 + MRR@10 of the fused lists, averaged over the sets they come from."""
    groups: dict[str, list[int]] = {}
    for j, i in enumerate(which):
        groups.setdefault(data.lists[i].group, []).append(j)
    key = 0.0
    for js in groups.values():
        m = list_metrics(data, [which[j] for j in js], [scores[j] for j in js], weight)
        key += (m["R@1"] + m["MRR@10"]) / len(groups)
    return key


def fit(data: ListSet, cfg: FitConfig | None = None, model_cfg: dict[str, Any] | None = None) -> tuple[Any, float, dict[str, Any]]:
    """Train a Matcher on the lists; returns (model, fusion weight, metrics)."""
    from xmodal.rerank._model import one_thread

    with one_thread():
        return _fit(data, cfg, model_cfg)


def _fit(data: ListSet, cfg: FitConfig | None, model_cfg: dict[str, Any] | None) -> tuple[Any, float, dict[str, Any]]:
    import torch

    from xmodal.rerank._features import SCALARS
    from xmodal.rerank._model import Matcher, MatcherConfig, pad_batch

    cfg = cfg or FitConfig()
    if not data.lists:
        raise XModalError("no training lists: the pairs gave no queries with first-stage results")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    dim = data.lists[0].q_tokens.shape[1]
    mcfg = MatcherConfig(dim_in=dim, n_scalar=len(SCALARS), **(model_cfg or {}))
    model = Matcher(mcfg)
    allscal = np.concatenate([lst.scalars for lst in data.lists])
    with torch.no_grad():
        model.scal_mean.copy_(torch.from_numpy(allscal.mean(0)))
        model.scal_std.copy_(torch.from_numpy(np.maximum(allscal.std(0), 1e-3)))
        # the linear path reads normalised features: keep it equal to the first stage at start
        model.linear.weight[0, 2] = 4.0 * float(model.scal_std[2])
    train_i, val_i = split_val(data.lists, cfg.val_frac, cfg.seed)
    if not val_i or not train_i:  # tiny data: validate on the training lists themselves
        train_i = val_i = list(range(len(data.lists)))
    usable = [i for i in train_i if data.lists[i].labels.sum() > 0 and data.lists[i].labels.sum() < len(data.lists[i].labels)]
    if not usable:
        raise XModalError("no training query has a relevant item in its first-stage list: nothing to learn from")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(usable) / cfg.group)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.1)
    base_val = list_metrics(data, val_i, None)
    log.info("%d training lists, %d validation lists; validation first stage: %s", len(usable), len(val_i),
             {k: round(float(v), 4) for k, v in base_val.items()})
    best: dict[str, Any] = {"key": -1.0}
    history = []
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(usable)
        losses = []
        for s in range(0, len(order), cfg.group):
            rows, kinds, qrows, qkinds, scal, labels, seg = [], [], [], [], [], [], []
            for i in order[s:s + cfg.group]:
                lst = data.lists[i]
                pos = np.nonzero(lst.labels > 0)[0]
                neg = np.nonzero(lst.labels == 0)[0]  # already in first-stage order
                hard = neg[: cfg.hard]
                rest = neg[cfg.hard:]
                rand = rng.choice(rest, size=min(cfg.random_neg, len(rest)), replace=False) if len(rest) else rest
                pick = np.concatenate([pos, hard, rand]).astype(int)
                r, k = data.pairs(lst, pick)
                rows += r
                kinds += k
                qrows += [lst.q_tokens] * len(pick)
                qkinds += [lst.q_kinds] * len(pick)
                scal.append(lst.scalars[pick])
                labels.append(lst.labels[pick])
                seg.append(len(pick))
            b = pad_batch(qrows, qkinds, rows, kinds, np.concatenate(scal))
            y = torch.from_numpy(np.concatenate(labels))
            logits, _ = model(*b)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
            if cfg.listwise > 0:  # softmax over each list, target spread over its positives
                lw, off = 0.0, 0
                for n in seg:
                    lg, t = logits[off:off + n], y[off:off + n]
                    lw = lw - (torch.log_softmax(lg, 0) * (t / t.sum())).sum()
                    off += n
                loss = loss + cfg.listwise * lw / len(seg)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        val_scores = score_lists(model, data, val_i)
        w, m = choose_weight(data, val_i, val_scores)
        key = macro_key(data, val_i, val_scores, w)
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "weight": w, **{k: round(float(v), 4) for k, v in m.items()}})
        log.info("epoch %d: %s", epoch + 1, history[-1])
        if key > best["key"]:
            best = {"key": key, "state": {k: v.clone() for k, v in model.state_dict().items()}, "weight": w, "metrics": m, "epoch": epoch + 1}
        if time.perf_counter() - t0 > cfg.max_minutes * 60:
            log.warning("stopping after epoch %d: over the %.0f-minute budget", epoch + 1, cfg.max_minutes)
            break
    model.load_state_dict(best["state"])
    model.eval()
    pair_weights = choose_pair_weights(data, val_i, score_lists(model, data, val_i))
    log.info("fusion weight per modality pair: %s", {p: v["weight"] for p, v in pair_weights.items()})
    metrics = {
        "pair_weights": pair_weights,
        "n_train_lists": len(usable), "n_val_lists": len(val_i), "best_epoch": best["epoch"],
        "val_first_stage": {k: round(float(v), 4) for k, v in base_val.items()},
        "val_reranked": {k: round(float(v), 4) for k, v in best["metrics"].items()},
        "history": history, "train_seconds": round(time.perf_counter() - t0, 1),
    }
    return model, best["weight"], metrics


def collect_sets(pairs: Iterable[str], collect_one: Any, into: Any, profile: str, depth: int) -> tuple[list[dict[str, Any]], str]:
    """Run `collect_one(set_dir, split, profile, depth, into=into)` for each 'SET_DIR:split';
    returns each set's info and one fingerprint of them all (the artifact's data record)."""
    sources = []
    for spec in pairs:
        set_dir, split = parse_pair(spec)
        _, info = collect_one(set_dir, split, profile, depth, into=into)
        sources.append(info)
        log.info("collected %s:%s (%d queries)", info["set"], split, info["queries"])
    return sources, hashlib.sha256("".join(s["fingerprint"] for s in sources).encode()).hexdigest()[:16]


def train_from_sets(pairs: Iterable[str], out: str | Path, profile: str = "default", depth: int = 50,
                    cfg: FitConfig | None = None, model_cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """Collect lists from each 'SET_DIR:split', fit, save the artifact in `out`; returns its metadata."""
    from xmodal.rerank.attention import save_artifact

    cfg = cfg or FitConfig()
    data = ListSet()
    sources, fp = collect_sets(pairs, collect, data, profile, depth)
    model, weight, metrics = fit(data, cfg, model_cfg)
    space = [s.pop("space") for s in sources][0]  # one profile: every set was embedded alike
    info = {"training": {"sources": sources, "fingerprint": fp, "profile": profile, "depth": depth,
                         "fit": {k: v for k, v in vars(cfg).items()}}, "metrics": metrics}
    save_artifact(model, out, weight, info, space=space)
    return {"out": str(out), "fusion_weight": weight, "space": space, **info}
