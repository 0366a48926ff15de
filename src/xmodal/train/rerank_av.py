"""Fit the attention reranker's audio-visual branch (`xmodal.rerank._av`) on text → video lists.

    xmodal train rerank-av --pairs tuxpaint-av:train --artifact DIR     # writes DIR/av.json

The lists come from xmodal's own first stage, exactly as the reranker later sees them (the same
capture as `train/rerank.py`). Loss: listwise softmax cross-entropy over each list (target
spread over its positives) + a small L2 on the intent weights; a hash-chosen share of the
queries is held out to pick the epoch and the fusion weight (grid over [0, 1] with the engine's
`fuse_scores`), both averaged over the sets the lists come from (`train/rerank.py`). Seeded and
deterministic on CPU; about a minute for a few hundred lists.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from xmodal.errors import XModalError
from xmodal.rerank._av import AVInputs, AVScorer, av_inputs
from xmodal.rerank._features import words
from xmodal.rerank.base import Candidate, RerankQuery
from xmodal.train.rerank import choose_weight, macro_key, split_val
from xmodal.train.split import caption_key

log = logging.getLogger(__name__)


@dataclass
class AVList:
    qid: str
    group: str
    q: np.ndarray  # (dim,) query vector
    inputs: list[AVInputs]
    labels: np.ndarray  # (N,)
    first: np.ndarray  # (N,) first-stage scores
    captions: tuple[str, ...] = ()  # the validation split's grouping key (`train/split.py`)


@dataclass
class AVData:
    lists: list[AVList] = field(default_factory=list)

    def add(self, qid: str, group: str, query: RerankQuery, cands: Sequence[Candidate], relevant: dict[str, int]) -> None:
        q = np.asarray(query.vector, np.float32)
        first = np.array([c.first_stage_score for c in cands], np.float32)
        span = float(first.max() - first.min()) if len(first) else 0.0
        norm = (first - first.min()) / span if span > 0 else np.zeros_like(first)
        qw = words(query.text or "")
        self.lists.append(AVList(qid, group, q, [av_inputs(q, qw, c, float(n)) for c, n in zip(cands, norm)],
                                 np.array([1.0 if relevant.get(c.id, 0) >= 1 else 0.0 for c in cands], np.float32), first,
                                 (caption_key(query.text),) if query.text else ()))


@dataclass
class AVFitConfig:
    epochs: int = 60
    lr: float = 0.02
    l2_intent: float = 1e-3
    tau: float = 0.05
    val_frac: float = 0.25  # queries held out to pick the epoch and the fusion weight
    seed: int = 0


def _tensors(lst: AVList):
    import torch

    k = max((i.senses.shape[1] for i in lst.inputs), default=0)
    k = max(k, 1)
    senses = np.zeros((len(lst.inputs), 3, k), np.float32)
    mask = np.zeros((len(lst.inputs), k), bool)
    for j, i in enumerate(lst.inputs):
        senses[j, :, : i.senses.shape[1]] = i.senses
        mask[j, : i.senses.shape[1]] = True
    scal = np.stack([i.scalars for i in lst.inputs])
    return (torch.from_numpy(lst.q), torch.from_numpy(senses), torch.from_numpy(mask), torch.from_numpy(scal),
            torch.from_numpy(lst.labels))


def _forward(params: dict[str, Any], q, senses, mask, scal, tau: float):
    """The scorer's formula in torch (rerank/_av.py: AVScorer._score_one), for all of one list."""
    import torch

    pi = torch.softmax(params["U"] @ q + params["b"], 0)
    m = (pi[None, :, None] * params["w"][None, :, None] * senses).sum(1)  # (N, K)
    m = m.masked_fill(~mask, -1e4)
    av = tau * torch.logsumexp(m / tau, 1)
    av = torch.where(mask.any(1), av, torch.zeros_like(av))
    return av + scal @ params["c"]


def fit_av(data: AVData, cfg: AVFitConfig | None = None) -> tuple[AVScorer, dict[str, Any]]:
    import torch

    cfg = cfg or AVFitConfig()
    if not data.lists:
        raise XModalError("no text → video lists to learn from")
    torch.manual_seed(cfg.seed)
    dim = len(data.lists[0].q)
    tr, va = split_val(data.lists, cfg.val_frac, cfg.seed)
    if not tr or not va:
        tr = va = list(range(len(data.lists)))
    usable = [i for i in tr if 0 < data.lists[i].labels.sum() < len(data.lists[i].labels)]
    if not usable:
        raise XModalError("no training list has both a relevant and an irrelevant video")
    cache = {i: _tensors(data.lists[i]) for i in set(usable) | set(va)}
    params = {"U": torch.zeros(3, dim, requires_grad=True), "b": torch.zeros(3, requires_grad=True),
              "w": torch.ones(3, requires_grad=True),
              "c": torch.tensor([1.0, 0.0, 0.0], requires_grad=True)}  # starts as the first stage plus equal senses
    opt = torch.optim.Adam(params.values(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    base = macro_key(data, va, [data.lists[i].first for i in va], 1.0)
    best: dict[str, Any] = {"key": -1.0}
    history = []
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        losses = []
        for i in rng.permutation(usable):
            q, senses, mask, scal, y = cache[i]
            logits = _forward(params, q, senses, mask, scal, cfg.tau)
            loss = -(torch.log_softmax(logits, 0) * (y / y.sum())).sum() + cfg.l2_intent * (params["U"] ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        with torch.no_grad():
            vs = [_forward(params, *cache[i][:4], cfg.tau).numpy() for i in va]
        weight, _ = choose_weight(data, va, vs)
        key = macro_key(data, va, vs, weight)
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), "weight": weight, "val_R1+MRR": round(float(key), 4)})
        if key > best["key"] + 1e-9:
            best = {"key": key, "weight": weight, "epoch": epoch + 1,
                    "params": {k: v.detach().numpy().copy() for k, v in params.items()}}
    p = best["params"]
    scorer = AVScorer(U=p["U"], b=p["b"], w=p["w"], c=p["c"], tau=cfg.tau, fusion_weight=best["weight"])
    metrics = {"n_train_lists": len(usable), "n_val_lists": len(va), "best_epoch": best["epoch"],
               "val_first_stage_R1+MRR": round(float(base), 4), "val_reranked_R1+MRR": round(float(best["key"]), 4),
               "history": history, "train_seconds": round(time.perf_counter() - t0, 1),
               "fit": {k: v for k, v in vars(cfg).items()}}
    return scorer, metrics


def collect_av(set_dir: str | Path, split: str, profile: str = "default", depth: int = 50,
               index_dir: str | Path | None = None, into: AVData | None = None) -> tuple[AVData, dict[str, Any]]:
    """Index the set (cached, shared with `xmodal eval`) and keep its text queries' first-stage
    lists of videos."""
    import xmodal
    from xmodal.config import cache_dir
    from xmodal.data.beir import load_set
    from xmodal.eval import evaluate
    from xmodal.train.rerank import _Capture, _data_fingerprint

    set_dir = Path(set_dir).expanduser().resolve()
    index_dir = Path(index_dir) if index_dir else cache_dir("sets", ".indexes", Path(profile).stem) / set_dir.name
    evaluate(set_dir, split=split, profile=profile, index_dir=index_dir, progress=False)
    idx = xmodal.open(index_dir)
    es = load_set(set_dir, split)
    out = into or AVData()
    cap = _Capture()
    for qid, q in es.queries.items():
        if not q.text or q.path:
            continue
        cap.last = None
        idx.search(text=q.text, k=depth, modalities=["video"], rerank=cap, rerank_depth=depth)
        if cap.last is not None:
            out.add(qid, es.name, *cap.last, es.qrels[qid])
    info = {"set": es.name, "split": split, "queries": len(es.queries),
            "fingerprint": _data_fingerprint(set_dir, split, json.dumps(idx.space.fingerprint(), sort_keys=True, default=str))}
    return out, info


def train_av(pairs: Iterable[str], artifact: str | Path, profile: str = "default", depth: int = 50,
             cfg: AVFitConfig | None = None) -> dict[str, Any]:
    """Collect each 'SET_DIR:split', fit, write ARTIFACT/av.json; returns what it wrote."""
    from xmodal.train.rerank import collect_sets

    data = AVData()
    sources, fp = collect_sets(pairs, collect_av, data, profile, depth)
    scorer, metrics = fit_av(data, cfg)
    scorer.meta = {"training": {"sources": sources, "fingerprint": fp, "profile": profile, "depth": depth},
                   "metrics": metrics}
    path = scorer.save(artifact)
    return {"out": str(path), "fusion_weight": scorer.fusion_weight, **scorer.meta}
