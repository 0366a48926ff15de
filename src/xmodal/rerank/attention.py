"""The cross-modal attention reranker: a small trained transformer over query and item tokens.

The query's rows (text token states, or an image's regions / a sound's windows) attend over
each candidate's rows (image regions, audio windows, video frames and shots, document pages);
an image-text-matching head turns the result, plus the first-stage score and lexical overlap,
into a match logit. The candidate row with the most attention is returned as the explanation.
A text query against videos goes through the audio-visual branch instead (`_av.py`, `av.json`
in the artifact folder, when there is one): it attends over the video's aligned sound and
picture moments and explains with the time span and the sense that carried the match.

Artifact (a folder): `reranker.json` (format, version, config, fusion weight, the space it was
trained in — `Space.fingerprint()`: encoders, their settings, the binding —, training-data
fingerprint, metrics) and `weights.npz` (the state dict as numpy arrays). Its weights read
vectors and token features of that space only: an index of another space is refused, as the
binding and the index manifest refuse one. The shipped default
lives in `xmodal/rerank/default/`; `$XMODAL_RERANK_ATTENTION` or `AttentionReranker(path)`
points elsewhere. Train one with `xmodal train rerank --pairs SET_DIR:train --out DIR`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import IndexMismatchError, ModelUnavailable
from ..space import space_differences
from ._av import AVScorer
from ..store import TOKEN_FEATURES
from ._features import EXPLAINING, KINDS, SCALARS, candidate_features, clamp_segment, query_features, scalar_features
from ..types import Modality
from .base import Candidate, Reranker, RerankQuery, RerankScore

if TYPE_CHECKING:
    from ._model import Matcher

FORMAT = "xmodal-rerank-attention"
VERSION = 1
DEFAULT_DIR = Path(__file__).parent / "default"
META_FILE = "reranker.json"
WEIGHTS_FILE = "weights.npz"


def save_artifact(model: "Matcher", out: str | Path, fusion_weight: float, info: dict[str, Any],
                  space: dict[str, Any] | None = None) -> Path:
    """Write `reranker.json` + `weights.npz` into `out` (created); returns the folder.

    space: the `Space.fingerprint()` of the space the training lists came from; an artifact
    without one is refused by every index (`AttentionReranker.check_space`)."""
    import xmodal

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    np.savez_compressed(out / WEIGHTS_FILE, **state)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "xmodal_version": xmodal.__version__,
        "config": model.cfg.to_dict(),
        "scalars": SCALARS,
        "kinds": KINDS,
        "fusion_weight": float(fusion_weight),
        "space": space,
        **info,
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return out


def load_artifact(path: str | Path) -> tuple["Matcher", dict[str, Any]]:
    """(model in eval mode, metadata) from an artifact folder; ModelUnavailable names what is wrong."""
    import torch

    from ._model import Matcher, MatcherConfig

    path = Path(path)
    meta_file, weights_file = path / META_FILE, path / WEIGHTS_FILE
    if not meta_file.is_file() or not weights_file.is_file():
        raise ModelUnavailable(
            f"{path}: not an attention-reranker artifact (needs {META_FILE} and {WEIGHTS_FILE}); "
            "train one with `xmodal train rerank --pairs SET_DIR:train --out DIR`"
        )
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelUnavailable(f"{meta_file}: unreadable reranker metadata: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise ModelUnavailable(f"{meta_file}: format {meta.get('format')!r} is not {FORMAT!r}")
    if int(meta.get("version", -1)) > VERSION:
        raise ModelUnavailable(f"{meta_file}: artifact version {meta.get('version')} is newer than this xmodal reads ({VERSION}); upgrade xmodal")
    if meta.get("scalars") != SCALARS or meta.get("kinds") != KINDS:
        raise ModelUnavailable(f"{meta_file}: trained with other input features than this xmodal computes; retrain it")
    try:
        cfg = MatcherConfig(**meta["config"])
        model = Matcher(cfg)
        with np.load(weights_file) as z:
            state = {k: torch.from_numpy(np.array(z[k], np.float32)) for k in z.files}
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # truncated zip, missing or misshapen tensors, bad config
        raise ModelUnavailable(f"{weights_file}: corrupt or incompatible reranker weights: {type(exc).__name__}: {exc}") from exc
    model.eval()
    return model, meta


def featurize(query: RerankQuery, candidates: Sequence[Candidate], max_q: int, max_c: int):
    """The model's inputs for one query's list (numpy): what training and inference share."""
    qf = query_features(query, max_q)
    cfs = [candidate_features(c, qf.vector, max_c) for c in candidates]
    return qf, cfs, scalar_features(qf, candidates, cfs)


class AttentionReranker(Reranker):
    """Reranks with a trained cross-modal attention matcher; explains with its attention."""

    requires = frozenset({TOKEN_FEATURES})  # it attends over the items' stored token rows

    def __init__(self, path: str | Path | None = None):
        path = path or os.environ.get("XMODAL_RERANK_ATTENTION") or DEFAULT_DIR
        self.path = Path(path)
        self.model, self.meta = load_artifact(self.path)
        self.fusion_weight = float(self.meta.get("fusion_weight", 1.0))
        # weights chosen per modality pair on validation; pairs not validated use fusion_weight
        self.pair_weights = {p: float(v["weight"]) for p, v in self.meta.get("metrics", {}).get("pair_weights", {}).items()}
        self.dim = int(self.meta["config"]["dim_in"])
        self.av = AVScorer.load(self.path)  # the audio-visual branch, if the artifact has one

    def weight_for(self, query: Modality, candidate: Modality) -> float:
        if self.av is not None and Modality(query) == Modality.TEXT and Modality(candidate) == Modality.VIDEO:
            return self.av.fusion_weight
        return self.pair_weights.get(f"{Modality(query).value}->{Modality(candidate).value}", self.fusion_weight)

    def check_space(self, fingerprint: dict[str, Any]) -> None:
        trained = self.meta.get("space")
        if not trained:
            raise IndexMismatchError(
                f"{self.path}: this attention reranker records no space it was trained in, so it cannot tell "
                "whether it fits this index; retrain it with `xmodal train rerank`"
            )
        diffs = space_differences(trained, fingerprint)
        if diffs:
            raise IndexMismatchError(
                f"{self.path}: this attention reranker was trained in another space than this index's "
                f"(profile {trained.get('profile')!r}; differs in {', '.join(diffs)}), so it would misread its "
                "vectors; rerank an index built with that profile, or train one for this index with "
                "`xmodal train rerank --profile ...`"
            )

    def config(self) -> dict[str, Any]:
        return {**super().config(), "pair_weights": self.pair_weights, "path": str(self.path), "version": self.meta.get("version"),
                "fingerprint": self.meta.get("training", {}).get("fingerprint"),
                "av": self.av.meta.get("training", {}).get("fingerprint") if self.av else None}

    def rerank(self, query: RerankQuery, candidates: Sequence[Candidate]) -> list[RerankScore]:
        import torch

        from ._model import one_thread, pad_batch

        if not candidates:
            return []
        qdim = int(np.size(query.vector))
        if qdim != self.dim:
            raise ModelUnavailable(
                f"{self.path}: this reranker reads {self.dim}-d vectors but the index's space is {qdim}-d; "
                "train one for this profile with `xmodal train rerank`"
            )
        cfg = self.model.cfg
        qf, cfs, scal = featurize(query, candidates, cfg.max_q, cfg.max_c)
        batch = pad_batch([qf.tokens] * len(cfs), [qf.kinds] * len(cfs), [f.tokens for f in cfs], [f.kinds for f in cfs], scal)
        with torch.inference_mode(), one_thread():
            logits, mass = self.model(*batch)
        logits, mass = logits.numpy(), mass.numpy()
        out = []
        for c, f, lg, m in zip(candidates, cfs, logits, mass):
            out.append(RerankScore(score=float(lg), **self._explain(c, f, m[: len(f.tokens)])))
        if self.av is not None:
            self._rerank_av(query, candidates, scal[:, SCALARS.index("first_stage_norm")], logits, out)
        return out

    def _rerank_av(self, query: RerankQuery, candidates: Sequence[Candidate], first_norm: np.ndarray,
                   logits: np.ndarray, out: list[RerankScore]) -> None:
        """Text → video candidates: the audio-visual branch scores and explains them, in place."""
        idx = [i for i, c in enumerate(candidates) if self.av.applies(query, c)]
        if not idx:
            return
        scored = self.av.score(query, [candidates[i] for i in idx], first_norm[idx])
        av = np.array([s for s, _ in scored], np.float64)
        if len(idx) < len(candidates):
            # a list of several modalities: the videos keep the matcher's range (its scores are
            # on another scale), their order among themselves is the audio-visual branch's
            lo, hi, span = float(logits[idx].min()), float(logits[idx].max()), float(av.max() - av.min())
            av = lo + (av - av.min()) / span * (hi - lo) if span > 0 else np.full_like(av, float(logits[idx].mean()))
        for i, score, (_, seg) in zip(idx, av, scored):
            seg = clamp_segment(seg, candidates[i].segments) if seg is not None else None
            out[i] = RerankScore(float(score), segment=seg, reason=f"audio-visual match on {seg.describe()}" if seg else "")

    @staticmethod
    def _explain(cand: Candidate, feats: Any, mass: np.ndarray) -> dict[str, Any]:
        """The explaining segment with the most attention mass, kept inside the item."""
        best, best_mass = None, -1.0
        for row, seg_i in enumerate(feats.seg_index):
            if seg_i < 0 or cand.segments[seg_i].kind not in EXPLAINING:
                continue
            if mass[row] > best_mass:
                best, best_mass = cand.segments[seg_i], float(mass[row])
        if best is None:
            return {}
        seg = clamp_segment(best, cand.segments)
        return {"segment": seg, "reason": f"attention {best_mass:.2f} on {seg.describe()}"}
