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
- the residual with the bridge (alpha learned, then checked on the validation split, where 0 —
  the bridge itself — is always one of the candidates, so training can only add);
- early stopping on validation R@10 (texts carved from the training pairs), fixed seeds.
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

from ..errors import XModalError
from .artifact import MODALITY_FEATURES, Binding, load_binding
from .features import PairData, PairSource, features_for, parse_source

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    head: str = "linear"  # "linear" (pooled features) or "attn" (+ attention pooling over tokens)
    epochs: int = 60
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.05
    dropout: float = 0.2
    alpha_init: float = 0.5
    temperature_init: float = 0.05
    hard_negatives: int = 3  # per anchor text, 0 = off
    hard_warmup: int = 1  # epochs of random batches before mining
    mixup: float = 0.5  # weight of the FuseMix loss, 0 = off
    mixup_beta: float = 1.0
    val_fraction: float = 0.15
    patience: int = 10
    seed: int = 0
    d_model: int = 256
    n_queries: int = 4
    n_heads: int = 4
    alpha_candidates: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # x learned alpha
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
    rel: dict[int, set[int]] = field(default_factory=dict)  # text -> items


def _assemble(data: Sequence[PairData], need_tokens: bool) -> _Data:
    tv, br, po, tk, ga, isrc, tsrc, pairs, names = [], [], [], [], [], [], [], [], []
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
    if need_tokens:
        tokens = np.concatenate([t for t, _ in tk])
        lens = np.concatenate([n for _, n in tk])
        mask = np.arange(T)[None, :] < np.maximum(lens, 1)[:, None]
    else:
        tokens = np.zeros((n0, 1, 1), np.float16)
        mask = np.ones((n0, 1), bool)
    out = _Data(np.concatenate(tv).astype(np.float32), np.concatenate(br), np.concatenate(po).astype(np.float32),
                tokens, mask, np.concatenate(ga).astype(np.float32), np.concatenate(isrc), np.concatenate(tsrc),
                np.asarray(pairs, dtype=np.int64).reshape(-1, 2), names)
    for t, i in out.pairs:
        out.rel.setdefault(int(t), set()).add(int(i))
    if len(out.pairs) == 0:
        raise XModalError("no usable training pairs (every item failed to decode or lacked features)")
    return out


def _split_texts(d: _Data, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train texts, val texts): `fraction` of each source's paired texts, at random (seeded)."""
    rng = np.random.default_rng(seed + 1)
    tr, va = [], []
    for s in range(len(d.sources)):
        texts = np.array(sorted({int(t) for t in d.pairs[:, 0] if d.text_source[t] == s}))
        perm = rng.permutation(texts)
        n_val = int(round(fraction * len(texts))) if len(texts) >= 10 else 0
        va.extend(perm[:n_val])
        tr.extend(perm[n_val:])
    return np.array(sorted(tr)), np.array(sorted(va))


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
            self.lin = nn.Linear(d_in, dim)
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
            y = self.lin(self.drop((pooled - self.mu) / self.sd))
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


def recall_at(d: _Data, vecs: np.ndarray, texts: np.ndarray, k: int = 10) -> dict[str, float]:
    """Mean recall@k of texts → items of their own source (per source name)."""
    per: dict[str, list[float]] = {}
    for t in texts:
        s = d.text_source[t]
        items = np.flatnonzero(d.item_source == s)
        sims = vecs[items] @ d.text_vecs[t]
        top = items[np.argsort(-sims)[:k]]
        rel = d.rel[int(t)]
        per.setdefault(d.sources[s], []).append(len(rel & set(top.tolist())) / len(rel))
    return {s: float(np.mean(v)) for s, v in per.items()}


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
    if cfg.head not in ("linear", "attn"):
        raise XModalError(f"head={cfg.head!r}: use 'linear' or 'attn'")
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
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    text_t = torch.from_numpy(d.text_vecs).to(device)

    def val_recall(alpha_mult: float = 1.0) -> dict[str, float]:
        if len(val_texts) == 0:
            return {}
        return recall_at(d, _item_vectors(model, d, device, cfg.head, alpha_mult), val_texts)

    bridge_val = recall_at(d, d.bridge, val_texts) if len(val_texts) else {}
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
        val = val_recall()
        row = {"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"),
               "val_R@10": val, "val_R@10_macro": _macro(val),
               "alpha": float(model.log_alpha.detach().exp()), "temperature": float(1.0 / model.scale.detach())}
        history.append(row)
        if log_fn:
            log_fn(row)
        score = _macro(val) if val else -row["loss"]
        if score > best[0] + 1e-6:
            best = (score, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
        elif epoch - best[1] >= cfg.patience:
            break
    model.load_state_dict(best[2])
    # alpha on validation: the bridge itself (x0) is always a candidate, so training only adds
    learned = float(model.log_alpha.detach().exp())
    alpha_scan = {m: _macro(val_recall(m)) for m in cfg.alpha_candidates} if len(val_texts) else {1.0: 0.0}
    best_mult = max(alpha_scan, key=lambda m: (round(alpha_scan[m], 6), -abs(m - 1.0)))
    alpha = learned * best_mult
    binding = _export(model, cfg, modality, alpha, encoder_config or {}, name, mu, sd)
    run = {
        "modality": modality, "head": cfg.head, "device": device, "amp": amp, "config": asdict(cfg),
        "sources": d.sources, "n_pairs": int(len(d.pairs)), "n_items": int(len(d.bridge)),
        "n_train_texts": int(len(train_texts)), "n_val_texts": int(len(val_texts)),
        "best_epoch": best[1], "learned_alpha": learned, "alpha": alpha,
        "alpha_scan": {str(k): v for k, v in alpha_scan.items()},
        "val_R@10_bridge": bridge_val, "val_R@10_bridge_macro": _macro(bridge_val),
        "val_R@10_binding_macro": alpha_scan.get(best_mult, 0.0),
        "seconds": round(time.perf_counter() - t_start, 1), "history": history,
    }
    binding.metrics = {modality: {k: run[k] for k in ("val_R@10_bridge_macro", "val_R@10_binding_macro",
                                                      "best_epoch", "alpha", "n_pairs", "seconds")}}
    return binding, run


def _export(model, cfg: TrainConfig, modality: str, alpha: float, enc_cfg: dict[str, Any], name: str,
            mu: np.ndarray, sd: np.ndarray) -> Binding:
    def arr(t) -> np.ndarray:
        return t.detach().float().cpu().numpy()

    w = {"mu": mu, "sd": sd, "W": arr(model.lin.weight).T, "b": arr(model.lin.bias)}
    if cfg.head == "attn":
        w.update({"Wk": arr(model.Wk.weight).T, "Wv": arr(model.Wv.weight).T, "Q": arr(model.Q),
                  "Wo": arr(model.out.weight).T, "bo": arr(model.out.bias)})
    spec = MODALITY_FEATURES[modality]
    head = {"kind": cfg.head, "alpha": float(alpha), "pooled": spec["pooled"], "tokens": spec["tokens"],
            "gate": spec["gate"], "d_in": int(mu.shape[0])}
    if cfg.head == "attn":
        head.update({"heads": cfg.n_heads, "queries": cfg.n_queries, "d_model": cfg.d_model})
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
    ax2.plot([r["epoch"] for r in h], [r["val_R@10_macro"] for r in h], color="tab:orange", label="val R@10")
    ax2.axhline(run["val_R@10_bridge_macro"], color="tab:gray", ls="--", label="bridge val R@10")
    ax2.set_ylabel("val R@10", color="tab:orange")
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
    **overrides: Any,
) -> Binding:
    """Train a `modality` head from pair sources and save the binding to `out` (if given).

    pairs: `SET_DIR[:split]` (BEIR layout, split defaults to train), `pairs.jsonl`,
    `openclipart[:N]`, `scratch-sounds`, or PairSource objects. Features are cached per encoder
    config and source. add_to: an existing binding folder whose other heads are kept.
    overrides: any TrainConfig field (epochs=..., mixup=0, ...).
    """
    from ..encode.space import Space
    from ..types import Modality

    cfg = config or TrainConfig(head=head)
    for k, v in overrides.items():
        if not hasattr(cfg, k):
            raise XModalError(f"unknown training option {k!r}")
        setattr(cfg, k, v)
    cfg.head = head if config is None else cfg.head
    say = progress or (lambda s: log.info(s))
    space = Space(profile)
    sources = [p if isinstance(p, PairSource) else parse_source(p, modality) for p in pairs]
    data = []
    for s in sources:
        say(f"features: {s.name} ({len(s.items)} items, {len(s.texts)} texts)")
        data.append(features_for(space, s, modality,
                                 progress=lambda i, n, s=s: say(f"  {s.name}: {i}/{n}") if i % 128 < 16 or i == n else None))
    enc_cfg = space.encoder(Modality(modality)).config()
    binding, run = fit_head(data, modality, cfg, encoder_config=enc_cfg, name=name or f"{modality}-{cfg.head}",
                            log_fn=lambda r: say(f"epoch {r['epoch']:3d} loss {r['loss']:.4f} val R@10 {r['val_R@10_macro']:.3f} "
                                                 f"alpha {r['alpha']:.2f} T {r['temperature']:.3f}"))
    binding.training = {modality: {"sources": [{"name": s.name, "fingerprint": s.fingerprint, "pairs": len(s.pairs)}
                                              for s in sources],
                                   "data_fingerprint": _data_fp(sources), "text_encoder": space.encoder(Modality.TEXT).config(),
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

    return hashlib.sha256("|".join(f"{s.name}={s.fingerprint}" for s in sources).encode()).hexdigest()[:24]
