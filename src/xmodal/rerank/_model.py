"""The cross-modal attention matcher (torch): query rows attend over candidate rows; ITM head.

    candidate rows ──proj+kind──► keys; + self-attention (frames/regions/windows see each other: clip context) ► values
    query rows     ──proj+kind──► cross-attention over the candidate rows (× n_cross) ──► pooled
    match logit = linear(scalar features) + MLP([pooled query ⊙ attended, |pooled − attended|, scalars])

The linear path starts as the normalised first-stage score and the MLP's last layer starts at
zero, so an untrained model ranks exactly like the first stage and training can only add.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class MatcherConfig:
    dim_in: int = 384
    d: int = 64
    heads: int = 4
    n_cross: int = 1
    n_kinds: int = 12
    n_scalar: int = 22
    dropout: float = 0.1
    max_q: int = 32
    max_c: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


class _CrossBlock(nn.Module):
    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        self.ln_q = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ln_f = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, c_pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, w = self.attn(self.ln_q(q), k, v, key_padding_mask=c_pad, need_weights=True, average_attn_weights=True)
        q = q + a
        q = q + self.ffn(self.ln_f(q))
        return q, a, w


class Matcher(nn.Module):
    def __init__(self, cfg: MatcherConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d
        self.proj = nn.Linear(cfg.dim_in, d)
        self.kind = nn.Embedding(cfg.n_kinds, d)
        self.ln_c = nn.LayerNorm(d)
        self.ln_q = nn.LayerNorm(d)
        self.c_self = nn.TransformerEncoderLayer(d, cfg.heads, 2 * d, cfg.dropout, batch_first=True, norm_first=True)
        self.cross = nn.ModuleList(_CrossBlock(d, cfg.heads, cfg.dropout) for _ in range(cfg.n_cross))
        self.head = nn.Sequential(nn.Linear(2 * d + cfg.n_scalar, 64), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(64, 1))
        self.linear = nn.Linear(cfg.n_scalar, 1)
        # scalar features arrive on their own scales; training sets these from its data
        self.register_buffer("scal_mean", torch.zeros(cfg.n_scalar))
        self.register_buffer("scal_std", torch.ones(cfg.n_scalar))
        with torch.no_grad():  # start as the first stage (feature 2: normalised first-stage score)
            self.linear.weight.zero_()
            self.linear.bias.zero_()
            self.linear.weight[0, 2] = 1.0
            self.head[-1].weight.zero_()
            self.head[-1].bias.zero_()

    def forward(
        self,
        q_tok: torch.Tensor,  # (B, Lq, dim_in)
        q_kind: torch.Tensor,  # (B, Lq)
        q_mask: torch.Tensor,  # (B, Lq) bool, True = real row
        c_tok: torch.Tensor,  # (B, Lc, dim_in)
        c_kind: torch.Tensor,
        c_mask: torch.Tensor,
        scalars: torch.Tensor,  # (B, n_scalar)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B,), attention evidence per candidate row (B, Lc): weight × similarity, over heads and query rows)."""
        scalars = (scalars - self.scal_mean) / self.scal_std
        keys = self.ln_c(self.proj(c_tok) + self.kind(c_kind))
        # keys keep each row's own identity (so attention says *which* region/frame/window
        # matched); values carry the row in its item's context (frames -> clip, regions -> image)
        c = self.c_self(keys, src_key_padding_mask=~c_mask)
        q = self.ln_q(self.proj(q_tok) + self.kind(q_kind))
        qm = q_mask.unsqueeze(-1).float()
        q0 = (q * qm).sum(1) / qm.sum(1).clamp(min=1.0)
        mass = torch.zeros(c_tok.shape[:2], device=c_tok.device)
        sim = torch.einsum("bqd,bcd->bqc", q_tok, c_tok)
        a = q
        for block in self.cross:
            q, a, w = block(q, keys, c, ~c_mask)
            # evidence of each candidate row: attention weight × how much the attending query
            # row resembles it (raw unit rows) — attention alone can spread over look-alike
            # rows; the product points at the row that both drew attention and matches
            ev = w * sim.clamp(min=0.0) * qm
            mass = mass + ev.sum(1) / qm.sum(1).clamp(min=1.0)
        attended = (a * qm).sum(1) / qm.sum(1).clamp(min=1.0)
        h = torch.cat([q0 * attended, (q0 - attended).abs(), scalars], -1)
        logit = self.linear(scalars).squeeze(-1) + self.head(h).squeeze(-1)
        return logit, mass / len(self.cross)


class one_thread:
    """Run torch on one thread inside the block: these batches are small, and two OpenMP
    threads on a busy 2-core machine spin against each other (measured: ~10x slower)."""

    def __enter__(self) -> None:
        self.prev = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.prev)


def pad_batch(
    q_rows: list, q_kinds: list, c_rows: list, c_kinds: list, scalars
) -> tuple[torch.Tensor, ...]:
    """Pad per-pair arrays into tensors: (q_tok, q_kind, q_mask, c_tok, c_kind, c_mask, scalars)."""
    import numpy as np

    def pad(rows: list, kinds: list) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, dim, L = len(rows), rows[0].shape[1], max(len(r) for r in rows)
        tok = np.zeros((n, L, dim), np.float32)
        kind = np.zeros((n, L), np.int64)
        mask = np.zeros((n, L), bool)
        for i, (r, k) in enumerate(zip(rows, kinds)):
            tok[i, : len(r)] = r
            kind[i, : len(k)] = k
            mask[i, : len(r)] = True
        return torch.from_numpy(tok), torch.from_numpy(kind), torch.from_numpy(mask)

    qt, qk, qm = pad(q_rows, q_kinds)
    ct, ck, cm = pad(c_rows, c_kinds)
    return qt, qk, qm, ct, ck, cm, torch.as_tensor(np.asarray(scalars, np.float32))
