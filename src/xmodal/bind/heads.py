"""Numpy inference of binding heads (no torch at index or query time).

A head maps an encoder's native features (``Embedding.native``) to a direction in the shared
space; the binding adds it to the training-free bridge vector (see `combine_residual`).

Kinds (weights are a flat dict of arrays; names below are the keys without the head prefix):

- ``linear``: ``y = ((x - mu) / sd) @ W + b`` on a pooled feature ``x`` (d,).
- ``mlp``: the linear path PLUS a one-hidden-layer ReLU MLP on the same standardised feature,
  ``relu(x @ W1 + b1) @ W2 + b2`` (hidden width from the weights): a wider, non-linear head for
  when there are more pairs; it starts as the linear head (W2 = 0 at initialisation).
- ``attn``: the linear path on the pooled feature PLUS multi-head attention pooling over the
  item's tokens (regions, sound blocks): learned queries ``Q`` (q, D) attend over keys/values
  ``((t - mu) / sd) @ Wk`` and ``@ Wv`` (D split over ``heads``); the q outputs are averaged and
  projected by ``Wo``, ``bo``. The attention path adds to the plain pooling, it does not replace it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ..registry import Registry


def _norm(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def _standardise(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    return (x - w["mu"]) / w["sd"]


def linear_forward(pooled: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """(n, d) pooled features → (n, dim) head outputs (not normalised)."""
    return _standardise(pooled, w) @ w["W"] + w["b"]


def mlp_forward(pooled: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """(n, d) pooled features → (n, dim): the linear path plus the residual MLP (not normalised)."""
    x = _standardise(pooled, w)
    hidden = np.maximum(x @ w["W1"] + w["b1"], 0.0)
    return x @ w["W"] + w["b"] + hidden @ w["W2"] + w["b2"]


def attn_pool_forward(tokens: np.ndarray, mask: np.ndarray | None, w: dict[str, np.ndarray], heads: int) -> np.ndarray:
    """(n, T, d) tokens, (n, T) bool mask of real tokens → (n, dim) attention-pooled outputs."""
    t = _standardise(tokens, w)
    k = t @ w["Wk"]  # (n, T, D)
    v = t @ w["Wv"]
    q = w["Q"]  # (q, D)
    n, T, D = k.shape
    dh = D // heads
    kh = k.reshape(n, T, heads, dh).transpose(0, 2, 1, 3)  # (n, H, T, dh)
    vh = v.reshape(n, T, heads, dh).transpose(0, 2, 1, 3)
    qh = q.reshape(q.shape[0], heads, dh).transpose(1, 0, 2)  # (H, q, dh)
    scores = np.einsum("hqd,nhtd->nhqt", qh, kh) / np.sqrt(dh)
    if mask is not None:
        scores = np.where(mask[:, None, None, :], scores, -1e9)
    scores = scores - scores.max(axis=-1, keepdims=True)
    a = np.exp(scores)
    a = a / a.sum(axis=-1, keepdims=True)
    out = np.einsum("nhqt,nhtd->nhqd", a, vh)  # (n, H, q, dh)
    out = out.transpose(0, 2, 1, 3).reshape(n, q.shape[0], D).mean(axis=1)
    return out @ w["Wo"] + w["bo"]


class Head(ABC):
    """One kind of head: its forward pass over a flat dict of weights `w` and its config."""

    @abstractmethod
    def forward(self, w: dict[str, np.ndarray], cfg: dict[str, Any], pooled: np.ndarray,
                tokens: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        """(n, d) pooled features (and (n, T, d) tokens) → (n, dim) output directions, unnormalised."""

    def pooled_forward(self, w: dict[str, np.ndarray], cfg: dict[str, Any], pooled: np.ndarray) -> np.ndarray:
        """The output for features with no tokens to attend over (one image region): `forward`
        for a head over pooled features."""
        return self.forward(w, cfg, pooled)


class LinearHead(Head):
    def forward(self, w, cfg, pooled, tokens=None, mask=None):
        return linear_forward(pooled, w)


class MLPHead(Head):
    def forward(self, w, cfg, pooled, tokens=None, mask=None):
        return mlp_forward(pooled, w)


class AttentionPoolHead(Head):
    def forward(self, w, cfg, pooled, tokens=None, mask=None):
        if tokens is None:
            raise ValueError("an attention-pooling head needs token features")
        return linear_forward(pooled, w) + attn_pool_forward(tokens, mask, w, int(cfg.get("heads", 4)))

    def pooled_forward(self, w, cfg, pooled):  # nothing to attend over: the linear path alone
        return linear_forward(pooled, w)


HEADS: Registry[Head] = Registry("binding head", Head)
HEADS.register("linear", LinearHead)
HEADS.register("attn", AttentionPoolHead)
HEADS.register("mlp", MLPHead)
HEAD_KINDS = tuple(HEADS.names())


def head_forward(kind: str, w: dict[str, np.ndarray], cfg: dict[str, Any], pooled: np.ndarray,
                 tokens: np.ndarray | None = None, mask: np.ndarray | None = None,
                 pooled_only: bool = False) -> np.ndarray:
    """The head's (n, dim) output direction (L2-normalised); pooled_only: for features with no
    tokens (`Head.pooled_forward`)."""
    try:
        head = HEADS.create(kind)
    except KeyError:
        raise ValueError(f"unknown head kind {kind!r}: expected one of {HEAD_KINDS}") from None
    out = head.pooled_forward(w, cfg, pooled) if pooled_only else head.forward(w, cfg, pooled, tokens, mask)
    return _norm(out.astype(np.float32))


def combine_residual(bridge: np.ndarray, head: np.ndarray, alpha: float, gate: np.ndarray | float = 1.0) -> np.ndarray:
    """normalise(bridge + alpha * gate * head): with alpha = 0 this is the bridge itself."""
    g = np.asarray(gate, dtype=np.float32)
    if g.ndim == 1:
        g = g[:, None]
    return _norm((bridge + alpha * g * head).astype(np.float32))
