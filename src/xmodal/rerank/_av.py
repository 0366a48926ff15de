"""The audio-visual branch of the attention reranker: a text query against a video's aligned
sound and picture (numpy inference; `xmodal.train.rerank_av` fits it).

The query attends over the video's moments (`encode/av.py: moments`): every audio window with
the frames it covers through the alignment, and every shot with what is heard within it. What
the query asks for — a sound, a sight or both — is read from the query vector itself:

    π        = softmax(U q + b)                          intent: sound, picture, both
    m_k      = π_s w_s snd_k + π_p w_p pic_k + π_b w_b min(snd_k, pic_k)
    AV       = τ · log Σ_k exp(m_k / τ)                   soft attention over the moments
    score    = AV + c · [first-stage (min-max within the list), cosine, lexical coverage]

(snd/pic: the query's cosine with what is heard / seen in the moment. A window's picture side is
the frames it covers; a shot is what is seen, its snd is 0 — a sound is credited to the window
where it is heard, so a sound-named query points at that second rather than at its shot.)
The moment with the largest m_k is the explanation; its sound and picture terms (each with half
of the "both" term) name the sense that carried the match: "both" when the smaller is at least
`both_ratio` of the larger, else the larger. Only text queries against videos take this branch
(a silent video's moments are its shots); everything else goes through the attention matcher
unchanged.

Artifact: `av.json` beside the matcher's files (format, intent and weights, fusion weight,
training data fingerprint, metrics); the shipped reranker carries one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..encode.av import Moment, moments
from ..errors import ModelUnavailable
from ..types import Modality, Segment
from .base import Candidate, RerankQuery
from ._features import candidate_words, words

FORMAT = "xmodal-rerank-av"
VERSION = 1
FILE = "av.json"
SENSES = ("sound", "picture", "both")
SCALARS = ("first_stage_norm", "cosine", "lex_coverage")
_FIELDS = ("format", "version", "senses", "scalars", "U", "b", "w", "c", "tau", "fusion_weight", "both_ratio")


@dataclass
class AVScorer:
    U: np.ndarray  # (3, dim) intent from the query vector
    b: np.ndarray  # (3,)
    w: np.ndarray  # (3,) weight of each sense's similarity
    c: np.ndarray  # (len(SCALARS),)
    tau: float = 0.05
    fusion_weight: float = 1.0
    both_ratio: float = 0.2  # chosen on tuxpaint-av:train (evidence of the relevant top hits)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.U.shape[1])

    # ---------------------------------------------------------------- persistence
    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "senses": list(SENSES), "scalars": list(SCALARS),
                "U": np.round(self.U, 6).tolist(), "b": self.b.tolist(), "w": self.w.tolist(),
                "c": self.c.tolist(), "tau": self.tau, "fusion_weight": self.fusion_weight,
                "both_ratio": self.both_ratio, **{k: v for k, v in self.meta.items() if k not in _FIELDS}}

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(FILE + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, default=str))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "AVScorer | None":
        """The scorer in FOLDER, None when the folder has none; ModelUnavailable if damaged."""
        path = Path(folder) / FILE
        if not path.is_file():
            return None
        try:
            d = json.loads(path.read_text())
            if d.get("format") != FORMAT or int(d.get("version", -1)) > VERSION:
                raise ValueError(f"format {d.get('format')!r} v{d.get('version')}, this xmodal reads {FORMAT} v{VERSION}")
            if tuple(d["senses"]) != SENSES or tuple(d["scalars"]) != SCALARS:
                raise ValueError("trained with other features than this xmodal computes; retrain it")
            arr = {k: np.asarray(d[k], np.float32) for k in ("U", "b", "w", "c")}
            if arr["U"].shape[0] != 3 or arr["b"].shape != (3,) or arr["w"].shape != (3,) or arr["c"].shape != (len(SCALARS),):
                raise ValueError("weights of the wrong shape")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailable(f"{path}: unreadable audio-visual reranker: {exc}") from exc
        return cls(tau=float(d.get("tau", 0.05)), fusion_weight=float(d.get("fusion_weight", 1.0)),
                   both_ratio=float(d.get("both_ratio", 0.2)), meta={k: v for k, v in d.items() if k not in _FIELDS}, **arr)

    # ---------------------------------------------------------------- inference
    def intent(self, q: np.ndarray) -> np.ndarray:
        z = self.U @ np.asarray(q, np.float32) + self.b
        e = np.exp(z - z.max())
        return e / e.sum()

    def applies(self, query: RerankQuery, cand: Candidate) -> bool:
        """Text queries against videos (silent ones too: their moments are their shots)."""
        return query.modality == Modality.TEXT and cand.modality == Modality.VIDEO and np.size(query.vector) == self.dim

    def score(self, query: RerankQuery, cands: Sequence[Candidate], first_norm: Sequence[float]) -> list[tuple[float, Segment | None]]:
        """(score, explaining segment with its evidence) per candidate; every one must `apply`."""
        q = np.asarray(query.vector, np.float32)
        pi = self.intent(q)
        qwords = words(query.text or "")
        out = []
        for cand, fn in zip(cands, first_norm):
            feats = av_inputs(q, qwords, cand, fn)
            s, seg = self._score_one(pi, feats)
            out.append((s, seg))
        return out

    def _score_one(self, pi: np.ndarray, f: "AVInputs") -> tuple[float, Segment | None]:
        base = float(self.c @ f.scalars)
        if not f.moments:
            return base, None
        terms = pi[:, None] * self.w[:, None] * f.senses  # (3, K)
        m = terms.sum(0)
        top = float(m.max())
        av = top + self.tau * float(np.log(np.exp((m - top) / self.tau).sum()))
        k = int(np.argmax(m))
        heard, seen = terms[0, k] + terms[2, k] / 2, terms[1, k] + terms[2, k] / 2
        if not f.moments[k].heard:
            carried = "picture"
        elif min(heard, seen) >= self.both_ratio * max(heard, seen):
            carried = "both"
        else:
            carried = "sound" if heard > seen else "picture"
        return av + base, replace(f.moments[k].segment, evidence=carried)


@dataclass
class AVInputs:
    moments: list[Moment]
    senses: np.ndarray  # (3, K): sound, picture, min of the two per moment (0 where a sense is absent)
    scalars: np.ndarray  # (len(SCALARS),)


def av_inputs(q: np.ndarray, qwords: set[str], cand: Candidate, first_norm: float) -> AVInputs:
    """What the AV scorer reads of one (query, video) pair; training computes the same."""
    ms = moments(q, cand.segments, np.asarray(cand.tokens, np.float32).reshape(-1, len(q)))
    snd = np.array([m.sound if m.heard and np.isfinite(m.sound) else 0.0 for m in ms], np.float32)
    pic = np.array([m.picture if np.isfinite(m.picture) else 0.0 for m in ms], np.float32)
    senses = np.stack([snd, pic, np.minimum(snd, pic)]) if ms else np.zeros((3, 0), np.float32)
    vec = np.asarray(cand.vector, np.float32)
    cos = float(vec @ q) if vec.shape == q.shape else 0.0
    cw = candidate_words(cand)
    lex = len(qwords & cw) / len(qwords) if qwords else 0.0
    return AVInputs(ms, senses, np.array([first_norm, cos, lex], np.float32))
