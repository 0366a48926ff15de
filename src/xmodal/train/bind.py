"""Training a binding head on cached frozen features (torch; only this module needs it).

The text tower is the anchor and stays frozen (LiT / ImageBind style); a head maps the other
modality's native features into the text space and is added to the training-free bridge:
``v = normalise(bridge + alpha * gate * head(features))``. What the literature suggests for
little data is all here, each switchable in `TrainConfig`:

- symmetric InfoNCE with a learned temperature (CLIP), with several positives per text or item
  when the pairs say so (two pictures of one caption are not negatives of each other);
- hard negatives from the current model's own retrieval: each epoch, every training text is
  searched against its source's items and the top non-relevant ones are put in the same batch;
- latent mixup (FuseMix, Vouitsis et al., CVPR 2024): pairs are mixed with one Beta-drawn weight
  on both sides, in the frozen encoders' latent spaces, as extra positives;
- the residual with the bridge (alpha learned, then re-chosen on the validation split from a grid
  where 0 — the bridge itself — is always a candidate, and no alpha whose validation R@1 falls
  below the bridge's is allowed, so training can only add);
- a low-rank head (``rank``) and feature dropout against overfitting a few hundred pairs;
- early stopping and alpha chosen on validation nDCG@10 (a rank metric that stays stable with a
  few dozen texts, unlike R@10), on about a quarter of the caption groups (`xmodal.train.split`:
  a caption is on one side in every source), fixed seeds.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from xmodal.errors import XModalError
from xmodal.bind.artifact import MODALITY_FEATURES, Binding, load_binding
from xmodal.bind.heads import HEAD_KINDS
from xmodal.eval.metrics import ndcg_at, recall_at, reciprocal_rank, success_at
from xmodal.train.pairs import PairData, PairSource, drop_eval_duplicates, features_for, parse_source
from xmodal.train.split import caption_key, split_by_caption

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    head: str = "linear"  # "linear" (pooled features), "mlp" (+ a residual MLP) or "attn" (+ attention pooling over tokens)
    hidden: int = 1024  # the "mlp" head's hidden width
    epochs: int = 60
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.5  # strong: a few hundred to a few thousand pairs for a 1280x384 map
    dropout: float = 0.5
    alpha_init: float = 0.5
    temperature_init: float = 0.05
    hard_negatives: int = 3  # per anchor text, 0 = off
    hard_warmup: int = 1  # epochs of random batches before mining
    mixup: float = 0.5  # weight of the FuseMix loss, 0 = off
    mixup_beta: float = 1.0
    val_fraction: float = 0.25
    patience: int = 10
    rank: int = 0  # > 0: the linear map is factored through this many dimensions (exported as one W)
    select_metric: str = "nDCG@10"  # validation metric for early stopping and alpha: nDCG@10, MRR or R@10
    r1_tolerance: float = 0.01  # an alpha may lower validation R@1 (macro) below the bridge's by at most this
    seed: int = 0
    d_model: int = 256
    n_queries: int = 4
    n_heads: int = 4
    # absolute alphas tried on validation after training (with the learned one); the head output
    # and the bridge are unit vectors, so alpha 1 weighs them equally
    alpha_candidates: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5)
    device: str | None = None  # None: cuda when available, else cpu


# ------------------------------------------------------------------------------ data assembly
@dataclass
class _Data:
    text_vecs: np.ndarray  # (Q, dim)
    bridge: np.ndarray  # (N, dim)
    pooled: np.ndarray  # (N, d)
    tokens: np.ndarray  # (N, T, d) float16
    mask: np.ndarray  # (N, T) bool
    gate: np.ndarray  # (N,)
    item_source: np.ndarray  # (N,)
    text_source: np.ndarray  # (Q,)
    pairs: np.ndarray  # (P, 2) text, item
    sources: list[str]
    texts: list[str]  # (Q,) the captions, for the caption-group split
    rel: dict[int, set[int]] = field(default_factory=dict)  # text -> items


def _assemble(data: Sequence[PairData], need_tokens: bool) -> _Data:
    tv, br, po, tk, ga, isrc, tsrc, pairs, names, texts = [], [], [], [], [], [], [], [], [], []
    T = max(d.feats.tokens.shape[1] for d in data) if need_tokens else 1
    q0 = n0 = 0
    for s, d in enumerate(data):
        f = d.feats
        keep = np.flatnonzero(f.ok)
        new_index = {int(i): n0 + j for j, i in enumerate(keep)}
        tv.append(f.text_vecs)
        tsrc.append(np.full(len(f.text_vecs), s))
        br.append(f.bridge[keep])
        po.append(f.pooled[keep])
        ga.append(f.gate[keep])
        isrc.append(np.full(len(keep), s))
        if need_tokens:
            t = np.zeros((len(keep), T, f.tokens.shape[2]), np.float16)
            t[:, : f.tokens.shape[1]] = f.tokens[keep]
            tk.append((t, f.n_tokens[keep]))
        for ti, ii in d.source.pairs:
            if ii in new_index:
                pairs.append((q0 + ti, new_index[ii]))
        q0 += len(f.text_vecs)
        n0 += len(keep)
        names.append(d.source.name)
        texts += list(d.source.texts)
    if need_tokens:
        tokens = np.concatenate([t for t, _ in tk])
        lens = np.concatenate([n for _, n in tk])
        mask = np.arange(T)[None, :] < np.maximum(lens, 1)[:, None]
    else:
        tokens = np.zeros((n0, 1, 1), np.float16)
        mask = np.ones((n0, 1), bool)
    out = _Data(np.concatenate(tv).astype(np.float32), np.concatenate(br), np.concatenate(po).astype(np.float32),
                tokens, mask, np.concatenate(ga).astype(np.float32), np.concatenate(isrc), np.concatenate(tsrc),
                np.asarray(pairs, dtype=np.int64).reshape(-1, 2), names, texts)
    for t, i in out.pairs:
        out.rel.setdefault(int(t), set()).add(int(i))
    if len(out.pairs) == 0:
        raise XModalError("no usable training pairs (every item failed to decode or lacked features)")
    return out


def _split_texts(d: _Data, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train texts, val texts) of the paired texts, by caption group across all sources."""
    paired = sorted({int(t) for t in d.pairs[:, 0]})
    tr, va = split_by_caption([[caption_key(d.texts[t])] for t in paired], fraction, seed)
    return np.array([paired[i] for i in tr], np.int64), np.array([paired[i] for i in va], np.int64)


# ------------------------------------------------------------------------------ the model
def _torch_model(kind: str, d_in: int, dim: int, mu: np.ndarray, sd: np.ndarray, cfg: TrainConfig):
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mu", torch.from_numpy(mu))
            self.register_buffer("sd", torch.from_numpy(sd))
            self.drop = nn.Dropout(cfg.dropout)
            # low rank: x -> down (r) -> lin (dim); exported as the product, so inference is unchanged
            self.down = nn.Linear(d_in, cfg.rank, bias=False) if cfg.rank > 0 else None
            self.lin = nn.Linear(cfg.rank if cfg.rank > 0 else d_in, dim)
            if kind == "mlp":
                self.fc1 = nn.Linear(d_in, cfg.hidden)
                self.fc2 = nn.Linear(cfg.hidden, dim)
                # zero: the MLP starts silent, so the head starts as the linear one
                nn.init.zeros_(self.fc2.weight)
                nn.init.zeros_(self.fc2.bias)
            if kind == "attn":
                D = cfg.d_model
                self.Wk = nn.Linear(d_in, D, bias=False)
                self.Wv = nn.Linear(d_in, D, bias=False)
                self.Q = nn.Parameter(torch.randn(cfg.n_queries, D) * D**-0.5)
                self.out = nn.Linear(D, dim)
                # zero: the attention path starts silent, so the head starts as plain pooling
                nn.init.zeros_(self.out.weight)
                nn.init.zeros_(self.out.bias)
            self.log_alpha = nn.Parameter(torch.tensor(math.log(cfg.alpha_init)))
            self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.temperature_init)))

        def head(self, pooled, tokens=None, mask=None):
            x = self.drop((pooled - self.mu) / self.sd)
            y = self.lin(self.down(x) if self.down is not None else x)
            if kind == "mlp":
                y = y + self.fc2(torch.relu(self.fc1(x)))
            if kind == "attn":
                t = self.drop((tokens - self.mu) / self.sd)
                k, v = self.Wk(t), self.Wv(t)
                n, T, D = k.shape
                H = cfg.n_heads
                dh = D // H
                kh = k.view(n, T, H, dh).transpose(1, 2)
                vh = v.view(n, T, H, dh).transpose(1, 2)
                qh = self.Q.view(-1, H, dh).transpose(0, 1)  # (H, q, dh)
                scores = torch.einsum("hqd,nhtd->nhqt", qh, kh) / math.sqrt(dh)
                scores = scores.masked_fill(~mask[:, None, None, :], -1e9)
                a = scores.softmax(-1)
                o = torch.einsum("nhqt,nhtd->nhqd", a, vh).transpose(1, 2).reshape(n, -1, D).mean(1)
                y = y + self.out(o)
            return F.normalize(y.float(), dim=-1)

        def forward(self, bridge, gate, pooled, tokens=None, mask=None):
            h = self.head(pooled, tokens, mask)
            return F.normalize(bridge + self.log_alpha.exp() * gate[:, None] * h, dim=-1)

        @property
        def scale(self):
            return self.log_scale.exp().clamp(max=100.0)

        def full_weight(self):
            """(dim, d_in) effective linear map."""
            return self.lin.weight @ self.down.weight if self.down is not None else self.lin.weight

    return Head()


def _info_nce(logits, pos):
    """Symmetric multi-positive InfoNCE: rows are texts, columns items; pos marks positives."""
    import torch

    neg_inf = torch.finfo(logits.dtype).min
    t2i = torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~pos, neg_inf), 1)
    i2t = torch.logsumexp(logits, 0) - torch.logsumexp(logits.masked_fill(~pos, neg_inf), 0)
    return 0.5 * (t2i.mean() + i2t.mean())


def pick_device(name: str | None = None) -> str:
    import torch

    if name:
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


# ------------------------------------------------------------------------------ metrics
def _item_vectors(model, d: _Data, device: str, kind: str, alpha_mult: float = 1.0, batch: int = 512) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(d.bridge), batch):
            sl = slice(s, s + batch)
            args = _tensors(d, np.arange(len(d.bridge))[sl], device, kind)
            h = model.head(args["pooled"], args.get("tokens"), args.get("mask"))
            a = model.log_alpha.exp() * alpha_mult
            v = torch.nn.functional.normalize(args["bridge"] + a * args["gate"][:, None] * h, dim=-1)
            out.append(v.float().cpu().numpy())
    return np.concatenate(out)


def _tensors(d: _Data, idx: np.ndarray, device: str, kind: str) -> dict[str, Any]:
    import torch

    out = {
        "bridge": torch.from_numpy(d.bridge[idx]).to(device),
        "gate": torch.from_numpy(d.gate[idx]).to(device),
        "pooled": torch.from_numpy(d.pooled[idx]).to(device),
    }
    if kind == "attn":
        out["tokens"] = torch.from_numpy(d.tokens[idx].astype(np.float32)).to(device)
        out["mask"] = torch.from_numpy(d.mask[idx]).to(device)
    return out


def _head_outputs(model, d: _Data, device: str, kind: str, batch: int = 512) -> np.ndarray:
    """(N, dim) unit head outputs (eval mode), to combine with the bridge at any alpha in numpy."""
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(d.bridge), batch):
            args = _tensors(d, np.arange(len(d.bridge))[s : s + batch], device, kind)
            out.append(model.head(args["pooled"], args.get("tokens"), args.get("mask")).float().cpu().numpy())
    return np.concatenate(out)


def _combine(d: _Data, h: np.ndarray, alpha: float) -> np.ndarray:
    v = d.bridge + alpha * d.gate[:, None] * h
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def rank_metrics(d: _Data, vecs: np.ndarray, texts: np.ndarray, k: int = 10) -> dict[str, dict[str, float]]:
    """Per source: mean nDCG@10, MRR (no cut-off), R@1 (a hit at rank 1) and R@10 (BEIR recall:
    the share of the text's items in the top 10) of texts → items of their own source, with
    `xmodal.eval.metrics`' formulas."""
    per: dict[str, dict[str, list[float]]] = {}
    for s in range(len(d.sources)):
        ts = [int(t) for t in texts if d.text_source[t] == s]
        if not ts:
            continue
        items = np.flatnonzero(d.item_source == s)
        order = np.argsort(-(d.text_vecs[ts] @ vecs[items].T), axis=1)
        m = per.setdefault(d.sources[s], {"nDCG@10": [], "MRR": [], "R@1": [], "R@10": []})
        for row, t in enumerate(ts):
            rel = d.rel[t]
            gains = np.isin(items[order[row]], list(rel)).astype(np.float64)
            m["MRR"].append(reciprocal_rank(gains))
            m["R@1"].append(success_at(gains, 1))
            m["R@10"].append(recall_at(gains, len(rel), k))
            m["nDCG@10"].append(ndcg_at(gains, [1.0] * len(rel), k))
    return {src: {name: float(np.mean(v)) for name, v in m.items()} for src, m in per.items()}


def _macro_metric(r: dict[str, dict[str, float]], name: str) -> float:
    return float(np.mean([m[name] for m in r.values()])) if r else 0.0


def _macro(r: dict[str, float]) -> float:
    return float(np.mean(list(r.values()))) if r else 0.0


def _hard_negatives(d: _Data, vecs: np.ndarray, texts: np.ndarray, m: int) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for s in range(len(d.sources)):
        items = np.flatnonzero(d.item_source == s)
        ts = [t for t in texts if d.text_source[t] == s]
        if not ts:
            continue
        sims = d.text_vecs[ts] @ vecs[items].T
        for row, t in enumerate(ts):
            order = items[np.argsort(-sims[row])[: m + len(d.rel[int(t)])]]
            out[int(t)] = [int(i) for i in order if int(i) not in d.rel[int(t)]][:m]
    return out


def _batches(pairs: np.ndarray, bs: int, rng: np.random.Generator, hard: dict[int, list[int]] | None) -> list[np.ndarray]:
    """Pair-index batches; with `hard`, each anchor's hard-negative items join its batch."""
    order = rng.permutation(len(pairs))
    if not hard:
        return [order[s : s + bs] for s in range(0, len(order), bs)]
    by_item: dict[int, list[int]] = {}
    for p, (_, i) in enumerate(pairs):
        by_item.setdefault(int(i), []).append(p)
    used = np.zeros(len(pairs), bool)
    seq: list[int] = []
    for p in order:
        if used[p]:
            continue
        used[p] = True
        seq.append(int(p))
        for j in hard.get(int(pairs[p, 0]), []):
            cands = [q for q in by_item.get(j, []) if not used[q]]
            if cands:
                q = cands[int(rng.integers(len(cands)))]
                used[q] = True
                seq.append(q)
    arr = np.array(seq)
    return [arr[s : s + bs] for s in range(0, len(arr), bs)]


# ------------------------------------------------------------------------------ training
def fit_head(
    data: Sequence[PairData],
    modality: str,
    cfg: TrainConfig | None = None,
    *,
    encoder_config: dict[str, Any] | None = None,
    name: str = "binding",
    log_fn: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[Binding, dict[str, Any]]:
    """Train one modality's head on cached features → (Binding with that head, training log)."""
    import torch

    cfg = cfg or TrainConfig()
    if cfg.head not in HEAD_KINDS:
        raise XModalError(f"head={cfg.head!r}: use one of {', '.join(HEAD_KINDS)}")
    if modality not in MODALITY_FEATURES:
        raise XModalError(f"no binding head for {modality!r} items: heads exist for {', '.join(MODALITY_FEATURES)} "
                          "(video and documents reuse the image and audio heads)")
    t_start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = pick_device(cfg.device)
    amp = device.startswith("cuda")  # bfloat16 autocast only on a GPU; CPU stays float32
    d = _assemble(data, need_tokens=cfg.head == "attn")
    train_texts, val_texts = _split_texts(d, cfg.val_fraction, cfg.seed)
    tr_set = set(train_texts.tolist())
    train_pairs = np.array([p for p in d.pairs if int(p[0]) in tr_set]).reshape(-1, 2)
    mu = d.pooled[np.unique(train_pairs[:, 1])].mean(0).astype(np.float32)
    sd = (d.pooled[np.unique(train_pairs[:, 1])].std(0) + 1e-3).astype(np.float32)
    dim = d.bridge.shape[1]
    model = _torch_model(cfg.head, d.pooled.shape[1], dim, mu, sd, cfg).to(device)
    # decay the maps only: decaying log_alpha / log_scale would pull alpha and temperature to 1
    scalars = [model.log_alpha, model.log_scale]
    maps = [p for p in model.parameters() if all(p is not q for q in scalars)]
    opt = torch.optim.AdamW([{"params": maps}, {"params": scalars, "weight_decay": 0.0}],
                            lr=cfg.lr, weight_decay=cfg.weight_decay)
    text_t = torch.from_numpy(d.text_vecs).to(device)

    if cfg.select_metric not in ("nDCG@10", "MRR", "R@10"):
        raise XModalError(f"select_metric={cfg.select_metric!r}: use nDCG@10, MRR or R@10")
    bridge_val = rank_metrics(d, d.bridge, val_texts) if len(val_texts) else {}
    bridge_r1 = _macro_metric(bridge_val, "R@1")

    def alpha_scan(h: np.ndarray, learned: float) -> dict[float, dict[str, dict[str, float]]]:
        """Validation metrics per candidate alpha (the grid plus the learned one)."""
        cands = sorted({*cfg.alpha_candidates, 0.0, round(learned, 4)})
        return {a: rank_metrics(d, _combine(d, h, a), val_texts) for a in cands}

    def choose(scan: dict[float, dict[str, dict[str, float]]]) -> float:
        """Best alpha on the selection metric among those that keep R@1 at the bridge's (0 always may)."""
        # macro over sources: per source, R@1 of a few dozen texts moves by 1/n on one text
        ok = [a for a, r in scan.items() if a == 0.0 or _macro_metric(r, "R@1") >= bridge_r1 - cfg.r1_tolerance - 1e-9]
        return max(ok, key=lambda a: (round(_macro_metric(scan[a], cfg.select_metric), 6), -a))

    history: list[dict[str, Any]] = []
    best = (-1.0, 0, None)
    hard = None
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        if cfg.hard_negatives and epoch > cfg.hard_warmup:
            hard = _hard_negatives(d, _item_vectors(model, d, device, cfg.head), train_texts, cfg.hard_negatives)
        losses = []
        for b in _batches(train_pairs, cfg.batch_size, rng, hard):
            if len(b) < 2:
                continue
            tx, it = train_pairs[b, 0], train_pairs[b, 1]
            pos = torch.from_numpy(np.array([[int(j) in d.rel[int(t)] for j in it] for t in tx])).to(device)
            args = _tensors(d, it, device, cfg.head)
            T = text_t[tx]
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                V = model(**args)
                loss = _info_nce(model.scale * T @ V.T.float(), pos)
                if cfg.mixup > 0:
                    perm = torch.randperm(len(b), device=device)
                    lam = torch.distributions.Beta(cfg.mixup_beta, cfg.mixup_beta).sample((len(b), 1)).to(device)
                    mixed = {k: (lam.view(-1, *[1] * (v.dim() - 1)) * v + (1 - lam.view(-1, *[1] * (v.dim() - 1))) * v[perm])
                             for k, v in args.items() if k != "mask"}
                    if "mask" in args:
                        mixed["mask"] = args["mask"] | args["mask"][perm]
                    mixed["gate"] = mixed["gate"].view(-1)
                    Tm = torch.nn.functional.normalize(lam * T + (1 - lam) * T[perm], dim=-1)
                    Vm = model(**mixed)
                    eye = torch.eye(len(b), dtype=torch.bool, device=device)
                    loss = loss + cfg.mixup * _info_nce(model.scale * Tm @ Vm.T.float(), eye)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        learned_now = float(model.log_alpha.detach().exp())
        row = {"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"),
               "alpha": learned_now, "temperature": float(1.0 / model.scale.detach())}
        if len(val_texts):
            scan = alpha_scan(_head_outputs(model, d, device, cfg.head), learned_now)
            a = choose(scan)
            row.update({"val_alpha": a, "val": scan[a], "val_R@10_macro": _macro_metric(scan[a], "R@10"),
                        "val_nDCG@10_macro": _macro_metric(scan[a], "nDCG@10"),
                        "val_R@1_macro": _macro_metric(scan[a], "R@1")})
        else:
            row["val_R@10_macro"] = 0.0
        history.append(row)
        if log_fn:
            log_fn(row)
        score = _macro_metric(row["val"], cfg.select_metric) if len(val_texts) else -row["loss"]
        if score > best[0] + 1e-6:
            best = (score, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
        elif epoch - best[1] >= cfg.patience:
            break
    model.load_state_dict(best[2])
    # alpha on validation: the bridge itself (0) is always a candidate, so training only adds
    learned = float(model.log_alpha.detach().exp())
    if len(val_texts):
        scan = alpha_scan(_head_outputs(model, d, device, cfg.head), learned)
        alpha = choose(scan)
    else:
        scan, alpha = {}, learned
    binding = _export(model, cfg, modality, alpha, encoder_config or {}, name, mu, sd)
    chosen = scan.get(alpha, {})
    run = {
        "modality": modality, "head": cfg.head, "device": device, "amp": amp, "config": asdict(cfg),
        "sources": d.sources, "n_pairs": int(len(d.pairs)), "n_items": int(len(d.bridge)),
        "n_train_texts": int(len(train_texts)), "n_val_texts": int(len(val_texts)),
        "best_epoch": best[1], "learned_alpha": learned, "alpha": alpha,
        "select_metric": cfg.select_metric,
        "alpha_scan": {str(a): {m: _macro_metric(r, m) for m in ("nDCG@10", "MRR", "R@1", "R@10")} for a, r in scan.items()},
        "val_bridge": bridge_val, "val_binding": chosen,
        "val_R@10_bridge_macro": _macro_metric(bridge_val, "R@10"),
        "val_R@10_binding_macro": _macro_metric(chosen, "R@10") if chosen else 0.0,
        "val_nDCG@10_bridge_macro": _macro_metric(bridge_val, "nDCG@10"),
        "val_nDCG@10_binding_macro": _macro_metric(chosen, "nDCG@10") if chosen else 0.0,
        "val_R@1_bridge_macro": bridge_r1, "val_R@1_binding_macro": _macro_metric(chosen, "R@1") if chosen else 0.0,
        "seconds": round(time.perf_counter() - t_start, 1), "history": history,
    }
    binding.metrics = {modality: {k: run[k] for k in ("val_nDCG@10_bridge_macro", "val_nDCG@10_binding_macro",
                                                      "val_R@1_bridge_macro", "val_R@1_binding_macro",
                                                      "val_R@10_bridge_macro", "val_R@10_binding_macro",
                                                      "best_epoch", "alpha", "n_pairs", "n_val_texts", "seconds")}}
    return binding, run


def _export(model, cfg: TrainConfig, modality: str, alpha: float, enc_cfg: dict[str, Any], name: str,
            mu: np.ndarray, sd: np.ndarray) -> Binding:
    def arr(t) -> np.ndarray:
        return t.detach().float().cpu().numpy()

    w = {"mu": mu, "sd": sd, "W": arr(model.full_weight()).T, "b": arr(model.lin.bias)}
    if cfg.head == "mlp":
        w.update({"W1": arr(model.fc1.weight).T, "b1": arr(model.fc1.bias), "W2": arr(model.fc2.weight).T,
                  "b2": arr(model.fc2.bias)})
    if cfg.head == "attn":
        w.update({"Wk": arr(model.Wk.weight).T, "Wv": arr(model.Wv.weight).T, "Q": arr(model.Q),
                  "Wo": arr(model.out.weight).T, "bo": arr(model.out.bias)})
    spec = MODALITY_FEATURES[modality]
    head = {"kind": cfg.head, "alpha": float(alpha), "pooled": spec["pooled"], "tokens": spec["tokens"],
            "gate": spec["gate"], "d_in": int(mu.shape[0])}
    if cfg.head == "attn":
        head.update({"heads": cfg.n_heads, "queries": cfg.n_queries, "d_model": cfg.d_model})
    if cfg.head == "mlp":
        head["hidden"] = cfg.hidden
    return Binding(name=name, heads={modality: head},
                   weights={f"{modality}.{k}": np.ascontiguousarray(v, dtype=np.float32) for k, v in w.items()},
                   encoders={modality: enc_cfg} if enc_cfg else {})


def merge(base: Binding, new: Binding) -> Binding:
    """`base` with `new`'s heads added (a head of the same modality is replaced)."""
    weights = {k: v for k, v in base.weights.items() if k.split(".", 1)[0] not in new.heads}
    weights.update(new.weights)
    metrics = {**base.metrics, **new.metrics}
    training = dict(base.training)
    training.update(new.training)
    return Binding(name=new.name, heads={**base.heads, **new.heads}, weights=weights,
                   encoders={**base.encoders, **new.encoders}, training=training, metrics=metrics)


def write_log(run: dict[str, Any], folder: Path, modality: str) -> list[Path]:
    """training-<modality>.json and, when matplotlib is installed, training-<modality>.png."""
    folder.mkdir(parents=True, exist_ok=True)
    out = [folder / f"training-{modality}.json"]
    out[0].write_text(json.dumps(run, indent=1, default=str))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib not installed: no training plot (the JSON log has the same numbers)")
        return out
    h = run["history"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["epoch"] for r in h], [r["loss"] for r in h], color="tab:blue", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot([r["epoch"] for r in h], [r.get("val_nDCG@10_macro", 0.0) for r in h], color="tab:orange", label="val nDCG@10")
    ax2.axhline(run["val_nDCG@10_bridge_macro"], color="tab:gray", ls="--", label="bridge val nDCG@10")
    ax2.set_ylabel("val nDCG@10 (best allowed alpha)", color="tab:orange")
    ax.set_title(f"{modality} head ({run['head']}), best epoch {run['best_epoch']}")
    fig.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out.append(folder / f"training-{modality}.png")
    fig.savefig(out[-1], dpi=100)
    plt.close(fig)
    return out


def train_binding(
    pairs: Sequence[str | PairSource],
    modality: str = "image",
    out: str | Path | None = None,
    *,
    profile: str | dict[str, Any] = "default",
    head: str = "linear",
    name: str | None = None,
    add_to: str | Path | None = None,
    config: TrainConfig | None = None,
    progress: Callable[[str], None] | None = None,
    dedup: bool = True,
    dedup_names: bool = True,
    **overrides: Any,
) -> Binding:
    """Train a `modality` head from pair sources and save the binding to `out` (if given).

    pairs: `SET_DIR[:split]` (BEIR layout, split defaults to train), `pairs.jsonl`,
    `openclipart[:N]`, `scratch-sounds`, or PairSource objects. Features are cached per encoder
    config and source. add_to: an existing binding folder whose other heads are kept.
    overrides: any TrainConfig field (epochs=..., mixup=0, ...).
    dedup: drop what duplicates an evaluation set (`xmodal.train.pairs.drop_eval_duplicates`:
    the same file or picture/sound; with `dedup_names`, also pairs whose caption names an
    evaluation test caption). Off only for experiments: figures on those sets then mean little.
    """
    from xmodal.space import Space
    from xmodal.types import Modality

    cfg = config or TrainConfig(head=head)
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise XModalError(f"unknown training option {k!r}")
        setattr(cfg, k, v)
    cfg.head = head if config is None else cfg.head
    say = progress or (lambda s: log.info(s))
    space = Space(profile, binding="none")  # heads learn on the bare bridge, whatever the profile binds
    sources = [p if isinstance(p, PairSource) else parse_source(p, modality) for p in pairs]
    data = []
    for s in sources:
        say(f"features: {s.name} ({len(s.items)} items, {len(s.texts)} texts)")
        d = features_for(space, s, modality,
                         progress=lambda i, n, s=s: say(f"  {s.name}: {i}/{n}") if i % 128 < 16 or i == n else None)
        if dedup:
            d = drop_eval_duplicates(space, d, modality, names=dedup_names)
            say(f"  {s.name}: evaluation duplicates dropped: {d.source.dedup}")
        data.append(d)
    enc_cfg = space.encoder(Modality(modality)).config()
    binding, run = fit_head(data, modality, cfg, encoder_config=enc_cfg, name=name or f"{modality}-{cfg.head}",
                            log_fn=lambda r: say(f"epoch {r['epoch']:3d} loss {r['loss']:.4f} val nDCG@10 "
                                                 f"{r.get('val_nDCG@10_macro', 0.0):.3f} R@1 {r.get('val_R@1_macro', 0.0):.3f} "
                                                 f"R@10 {r['val_R@10_macro']:.3f} at alpha {r.get('val_alpha', r['alpha']):.2f} "
                                                 f"(learned {r['alpha']:.2f}) T {r['temperature']:.3f}"))
    # the sources after their post filters (openclipart minus Tux Paint duplicates): what was trained on
    used = [d.source for d in data]
    binding.training = {modality: {"sources": [{"name": s.name, "fingerprint": s.fingerprint, "pairs": len(s.pairs),
                                               **({"eval_duplicates": s.dedup} if s.dedup else {})}
                                              for s in used],
                                   "dedup": {"on": dedup, "names": dedup_names},
                                   "data_fingerprint": _data_fp(used), "text_encoder": space.encoder(Modality.TEXT).config(),
                                   "config": asdict(cfg), "device": run["device"]}}
    if add_to is not None and (Path(add_to) / "binding.json").is_file():
        binding = merge(load_binding(add_to), binding)
        binding.name = name or binding.name
    if out is not None:
        binding.save(out)
        write_log(run, Path(out), modality)
    binding.run = run  # type: ignore[attr-defined]  # the last run's full log, for callers
    return binding


def _data_fp(sources: Sequence[PairSource]) -> str:
    import hashlib

    return hashlib.sha256("|".join(f"{s.name}={s.fingerprint}/{len(s.pairs)}" for s in sources).encode()).hexdigest()[:24]
