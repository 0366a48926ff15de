"""Turn a RerankQuery and its Candidates into the arrays the attention matcher reads (numpy only).

Shared by training and inference so both see exactly the same inputs:

- query tokens: the query vector first, then every part's token rows (text token states, image
  regions, audio windows ...), at most `max_q` rows, kept by similarity to the query vector;
- candidate tokens: the candidate vector first, then its token rows, at most `max_c`, kept by
  similarity to the query vector (so a long document keeps its relevant pages);
- a kind id per row (which kind of segment it describes), so the model can weigh regions,
  frames, shots and windows differently — the shot rows are pooled frames, which with the
  candidate-side self-attention gives the frames → clip hierarchy;
- scalar features: the first-stage scores, simple lexical overlap and colour agreement (colour
  words on the text side against the picture's colour shares from `Media.meta["colours"]`), fed
  straight to the matching head so the model starts from the first stage and can only add to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..media.colour import BASIC_COLOURS
from ..types import Modality, Segment
from .base import Candidate, RerankQuery

KINDS = ["pad", "query", "item", "token", "chunk", "region", "tags", "window", "frame", "shot", "page", "other"]
KIND_ID = {k: i for i, k in enumerate(KINDS)}
MODALITIES = [m.value for m in Modality]
#: segment kinds that can explain a match (a place inside the item); token/tags rows cannot
EXPLAINING = {"region", "window", "frame", "shot", "page", "chunk"}

SCALARS = [
    "cosine",  # query vector · candidate vector
    "first_stage",  # the first stage's (hybrid) score as given
    "first_stage_norm",  # min-max normalised within the list
    "inv_sqrt_rank",
    "lex_coverage",  # share of the query's content words found in the candidate's text
    "lex_jaccard",
    "lex_exact",  # the same content words on both sides (a typed prompt and its transcript)
    "maxsim_mean",  # mean over query rows of the best candidate row (late interaction)
    "maxsim_max",
    "has_text",
    "colour_named",  # one side's text names a colour and the other side is a picture with colours
    "colour_match",  # that picture's share of the named colours
    *(f"cand_{m}" for m in MODALITIES),
    *(f"query_{m}" for m in MODALITIES),
]

_N_PAIR = SCALARS.index(f"cand_{MODALITIES[0]}")  # where the modality one-hots start

_WORD = re.compile(r"\w+", re.UNICODE)
# a short English stop list: the sets' captions are "A castle in ruins." style phrases
_STOP = frozenset(
    "a an the of in on at to and or with for from by is are was be it its this that some two three "
    "sound sounds photo picture image someone something".split()
)


# Colour words → basic colour, in the languages of the sets' captions (en, de, fr, es, it, pt) with
# their inflected forms. Words that are mostly something else in one language are left out
# ("rose", "lime", "olive"); "orange" stays, as the fruit is orange too.
_COLOUR_FORMS = {
    "black": "black schwarz schwarze schwarzer schwarzes schwarzen noir noire noirs noires negro negra negros negras "
    "nero nera neri nere preto preta pretos pretas",
    "white": "white weiß weiss weiße weisse weißer weißes weißen blanc blanche blancs blanches blanco blanca blancos "
    "blancas bianco bianca bianchi bianche branco branca brancos brancas",
    "gray": "gray grey silver grau graue grauer graues grauen silbern gris grise grises grigio grigia grigi grigie "
    "cinza cinzento cinzenta argenté argentée plateado plateada argento argentato prateado prateada",
    "red": "red rot rote roter rotes roten rouge rouges rojo roja rojos rojas rosso rossa rossi rosse vermelho "
    "vermelha vermelhos vermelhas scarlet crimson",
    "orange": "orange orangefarben orangen naranja naranjas arancione arancioni laranja",
    "yellow": "yellow golden gelb gelbe gelber gelbes gelben jaune jaunes amarillo amarilla amarillos amarillas "
    "giallo gialla gialli gialle amarelo amarela amarelos amarelas",
    "green": "green grün grüne grüner grünes grünen vert verte verts vertes verde verdes verdi",
    "blue": "blue navy turquoise blau blaue blauer blaues blauen bleu bleue bleus bleues azul azules azuis blu "
    "azzurro azzurra azzurri azzurre",
    "purple": "purple violet lila violett violette violetter violettes pourpre morado morada morados moradas "
    "púrpura viola porpora roxo roxa roxos roxas",
    "pink": "pink rosa rosafarben rosado rosada rosados rosadas",
    "brown": "brown braun braune brauner braunes braunen brun brune bruns brunes marron marrón marrones marrone "
    "marroni marrom castanho castanha",
}
COLOUR_WORDS = {w: c for c, forms in _COLOUR_FORMS.items() for w in forms.split()}
assert set(_COLOUR_FORMS) == set(BASIC_COLOURS)


def colour_words(text: str) -> set[str]:
    """The basic colours a text names ("Un autobus vert." → {"green"})."""
    return {COLOUR_WORDS[w] for w in _WORD.findall(text.lower()) if w in COLOUR_WORDS}


def colour_agreement(named: set[str], shares: dict[str, float] | None) -> tuple[float, float]:
    """(named, match): whether colours are named and a picture's colours are known, and the
    picture's share of the named colours (0..1)."""
    if not named or not shares:
        return 0.0, 0.0
    return 1.0, min(1.0, sum(float(shares.get(c, 0.0)) for c in named))


# English number words → the digits a speech recogniser writes ("eighteenth" ↔ "18th"), so a
# typed query and a transcript agree on numbers
_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_ORDINALS = ("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
             "fifteenth sixteenth seventeenth eighteenth nineteenth").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_BIG = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
NUMBER_WORDS: dict[str, str] = (
    {w: str(i) for i, w in enumerate(_UNITS)}
    | {w: str(n) for w, n in (_TENS | _BIG).items()}
    | {w: f"{i}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(i, 'th') }" for i, w in enumerate(_ORDINALS, 1)}
    | {w[:-1] + "ieth": f"{n}th" for w, n in _TENS.items()}
    | {w + "th": f"{n}th" for w, n in _BIG.items()}
)

def words(text: str) -> set[str]:
    """Lower-cased content words: stop words dropped, number words as digits, a plural 's' folded."""
    out = set()
    for w in _WORD.findall(text.lower()):
        w = NUMBER_WORDS.get(w, w)
        if w in _STOP or (len(w) < 2 and not w.isdigit()):
            continue
        out.add(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") and not w[0].isdigit() else w)
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if x.ndim == 1:
        n = float(np.linalg.norm(x))
        return x / n if n > 0 else x
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def _keep(rows: np.ndarray, ref: np.ndarray, cap: int) -> np.ndarray:
    """Indices of at most `cap` rows, the most similar to `ref`, in their original order."""
    if len(rows) <= cap:
        return np.arange(len(rows))
    top = np.argpartition(-(rows @ ref), cap - 1)[:cap]
    return np.sort(top)


@dataclass
class QueryFeats:
    tokens: np.ndarray  # (Lq, dim) unit rows, row 0 = query vector
    kinds: np.ndarray  # (Lq,) int
    vector: np.ndarray  # (dim,)
    words: set[str]
    modality: str
    colours_named: set[str]  # basic colours the query's text names
    colours: dict[str, float]  # colour shares of the query's picture(s), if it has any


@dataclass
class CandFeats:
    tokens: np.ndarray  # (Lc, dim), row 0 = candidate vector
    kinds: np.ndarray  # (Lc,)
    seg_index: np.ndarray  # (Lc,) index into candidate.segments, -1 for the vector row


def query_features(query: RerankQuery, max_q: int = 32) -> QueryFeats:
    vec = _unit(query.vector)
    rows, kinds = [], []
    texts = [query.text or ""]
    modality = Modality.TEXT.value
    colours: dict[str, float] = {}
    for part, emb in zip(query.parts, query.embeddings):
        if part.modality != Modality.TEXT:
            modality = part.modality.value
        colours = colours or dict(part.meta.get("colours") or {})
        texts.append(emb.text or "")
        toks = np.asarray(emb.tokens, np.float32).reshape(-1, len(vec)) if emb.tokens is not None else np.zeros((0, len(vec)), np.float32)
        for i, seg in enumerate(emb.segments[: len(toks)]):
            rows.append(toks[i])
            kinds.append(KIND_ID.get(seg.kind, KIND_ID["other"]))
    tok = _unit(np.stack(rows)) if rows else np.zeros((0, len(vec)), np.float32)
    keep = _keep(tok, vec, max_q - 1)
    tokens = np.concatenate([vec[None], tok[keep]], 0).astype(np.float32)
    kind_arr = np.array([KIND_ID["query"]] + [kinds[i] for i in keep], np.int64)
    joined = " ".join(texts)
    return QueryFeats(tokens, kind_arr, vec, words(joined), modality, colour_words(joined), colours)


def candidate_features(cand: Candidate, qvec: np.ndarray, max_c: int = 64) -> CandFeats:
    dim = len(qvec)
    vec = _unit(cand.vector) if cand.vector is not None and np.size(cand.vector) == dim else np.zeros(dim, np.float32)
    tok = np.asarray(cand.tokens, np.float32).reshape(-1, dim) if cand.tokens is not None else np.zeros((0, dim), np.float32)
    n = min(len(tok), len(cand.segments))
    tok = _unit(tok[:n])
    keep = _keep(tok, qvec, max_c - 1)
    tokens = np.concatenate([vec[None], tok[keep]], 0).astype(np.float32)
    kinds = np.array([KIND_ID["item"]] + [KIND_ID.get(cand.segments[i].kind, KIND_ID["other"]) for i in keep], np.int64)
    return CandFeats(tokens, kinds, np.concatenate([[-1], keep]).astype(np.int64))


def candidate_words(cand: Candidate) -> set[str]:
    return words(" ".join([cand.text or ""] + [s.text for s in cand.segments if s.text and s.kind != "token"]))


def scalar_features(q: QueryFeats, cands: Sequence[Candidate], feats: Sequence[CandFeats]) -> np.ndarray:
    """(N, len(SCALARS)) float32 features of each (query, candidate) pair."""
    first = np.array([c.first_stage_score for c in cands], np.float64)
    span = first.max() - first.min() if len(first) else 0.0
    norm = (first - first.min()) / span if span > 0 else np.zeros_like(first)
    out = np.zeros((len(cands), len(SCALARS)), np.float32)
    qrows = q.tokens[1:] if len(q.tokens) > 1 else q.tokens
    for i, (c, f) in enumerate(zip(cands, feats)):
        cw = candidate_words(c)
        inter = len(q.words & cw)
        sims = qrows @ f.tokens.T  # (Lq', Lc)
        best = sims.max(axis=1) if sims.size else np.zeros(1)
        out[i, :_N_PAIR] = [
            float(q.vector @ f.tokens[0]),
            first[i],
            norm[i],
            1.0 / np.sqrt(max(c.first_stage_rank, i + 1)),
            inter / len(q.words) if q.words else 0.0,
            inter / len(q.words | cw) if (q.words or cw) else 0.0,
            1.0 if q.words and q.words == cw else 0.0,
            float(best.mean()),
            float(best.max()),
            1.0 if (c.text or "").strip() else 0.0,
            # either direction: the query's words vs the candidate's picture, the candidate's
            # text vs the query's picture (image → caption); ImageNet tags are not colour words
            *max(colour_agreement(q.colours_named, c.meta.get("colours")),
                 colour_agreement(colour_words(c.text or ""), q.colours)),
        ]
        mod = c.modality.value if isinstance(c.modality, Modality) else str(c.modality)
        if mod in MODALITIES:
            out[i, _N_PAIR + MODALITIES.index(mod)] = 1.0
        out[i, _N_PAIR + len(MODALITIES) + MODALITIES.index(q.modality)] = 1.0
    return out


def clamp_segment(seg: Segment, segments: Sequence[Segment]) -> Segment:
    """A copy of `seg` guaranteed inside the item: box within [0, 1], times within [0, end]."""
    ends = [s.end for s in segments if s.end is not None] + [s.start for s in segments if s.start is not None]
    limit = max(ends) if ends else None
    box = seg.box
    if box is not None:
        x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in box)
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    start, end = seg.start, seg.end
    if start is not None:
        start = max(0.0, float(start)) if limit is None else min(max(0.0, float(start)), limit)
    if end is not None:
        end = max(0.0, float(end)) if limit is None else min(max(start or 0.0, float(end)), limit)
    return Segment(kind=seg.kind, index=seg.index, start=start, end=end, page=seg.page, box=box, text=seg.text,
                   evidence=seg.evidence)
